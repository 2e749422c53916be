/**
 * Issue 12, items 5 and 6: the command keeps a bounded trace unless one is exported (and then says
 * how much it kept), and its rough edges: negative numbers, per-scenario ranges, default
 * backends, `--explain` at the moment of a loss, repeated options, output paths checked before
 * the run. In-process (cli.test.ts spawns the built command for the memory bound itself).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { CliIo } from '../../src/cli/main.js';
import { run } from './run-in-process.js';
import { formatSummary } from '../../src/cli/format.js';
import { getScenario, resolveScenarioOptions, runScenario, SCENARIOS } from '../../src/cli/scenarios/index.js';
import { MAX_SCHEDULED_TIMES, every } from '../../src/cli/scenarios/types.js';

/** A usage error: status 2, nothing on stdout, the message and the usage line on stderr. */
function usageError(args: string[], extra: Partial<CliIo> = {}): string {
  const r = run(args, extra);
  expect(r.status).toBe(2);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines.length).toBe(2);
  expect(lines[1]).toMatch(/^usage: irqchip /);
  return lines[0]!;
}

const summaryLine = (stdout: string): string => stdout.split('\n').find((l) => l.startsWith('stopped at '))!;

describe('the trace when nothing exports it', () => {
  it('a summary run prints the event count and hash of the whole trace though it keeps only a ring', () => {
    // level-storm for 50 ms records ~250,000 events; the summary keeps 1,024 of them.
    const full = runScenario('level-storm', { untilNs: 50_000_000 });
    expect(full.machine.trace.length).toBeGreaterThan(200_000);
    const r = run(['scenario', 'level-storm', '--until', '50ms']);
    expect(r.status).toBe(0);
    expect(summaryLine(r.stdout)).toBe(`stopped at 50 ms (reached the end time); ${full.machine.trace.length} trace events, hash ${full.hash}`);
  });

  it('a bounded summary lists the checker findings the ring dropped, as the full trace does', () => {
    // 64 vCPUs under svm-vintr lose 63 IPIs; the first findings are long gone from a 1,024-event ring.
    const full = runScenario('lost-ipi', { backend: 'svm-vintr', cpus: 64 });
    expect(full.machine.trace.length).toBeGreaterThan(1024);
    expect(full.lost).toBe(63);
    const r = run(['scenario', 'lost-ipi', '--backend', 'svm-vintr', '--cpus', '64']);
    expect(r.stdout).toBe(formatSummary(full));
    expect(r.stdout).toContain('LOST: vCPU 1 vector 0x40 at ');
    expect(r.stdout).toContain('... and 53 more');
  });

  it('compare keeps bounded traces too, with every backend\'s full hash', () => {
    const r = run(['compare', 'level-storm', '--until', '5ms']);
    const hashes = r.stdout.split('\n').find((l) => l.startsWith('trace hash'))!.trim().split(/\s+/).slice(2);
    expect(hashes).toEqual(['svm-event', 'svm-vintr', 'vmx-event', 'vmx-vid', 'vmx-posted'].map((backend) => runScenario('level-storm', { backend: backend as never, untilNs: 5_000_000 }).hash));
  });
});

describe('--trace / --svg keep the last --trace-limit events and say so', () => {
  it('--trace-limit 50: the files show the last 50 events; the summary and metadata count all', () => {
    const full = runScenario('timer-periodic', { cpus: 1, untilNs: 1_000_000 });
    const total = full.machine.trace.length;
    expect(total).toBeGreaterThan(50);
    const r = run(['scenario', 'timer-periodic', '--cpus', '1', '--until', '1ms', '--trace', 't.json', '--svg', 't.svg', '--trace-limit', '50']);
    expect(r.status).toBe(0);
    expect(summaryLine(r.stdout)).toContain(`${total} trace events, hash ${full.hash}`);
    expect(r.stdout).toMatch(new RegExp(`^trace: wrote t\\.json \\(\\d+ Chrome trace events from the last 50 of ${total} trace events, --trace-limit; `, 'm'));
    expect(r.stdout).toContain(`svg: wrote t.svg (from the last 50 of ${total} trace events, --trace-limit)\n`);
    const json = JSON.parse(r.files.get('t.json')!) as { otherData: Record<string, unknown> };
    expect(json.otherData).toMatchObject({ events: 50, traceEvents: total, traceEventsDropped: total - 50, traceHash: full.hash });
  });

  it('a trace within the default limit is whole and says nothing more', () => {
    const r = run(['scenario', 'lost-ipi', '--trace', 't.json']);
    expect(r.stdout).toMatch(/^trace: wrote t\.json \(\d+ Chrome trace events; open it in /m);
    const json = JSON.parse(r.files.get('t.json')!) as { otherData: Record<string, unknown> };
    expect(json.otherData.traceEventsDropped).toBe(0);
  });

  it('--trace-limit is checked: a range, and only with a file to write', () => {
    expect(usageError(['scenario', 'lost-ipi', '--trace-limit', '10'])).toBe('irqchip: --trace-limit needs --trace or --svg');
    expect(usageError(['scenario', 'lost-ipi', '--trace', 't.json', '--trace-limit', '0'])).toBe('irqchip: --trace-limit must be an integer in 1..50000000, got "0"');
  });
});

describe('negative numbers name the allowed range', () => {
  it.each([
    [['--seed', '-1'], 'irqchip: --seed must be an integer in 0..4294967295, got "-1"'],
    [['--until', '-1'], 'irqchip: --until must be a positive whole number of ns, or a time like 500us, 20ms, 1s; got "-1"'],
    [['--cpus', '-2'], 'irqchip: --cpus must be an integer in 2..64 for lost-ipi, got "-2"'],
    [['--until', '-5ms'], 'irqchip: --until must be a positive whole number of ns, or a time like 500us, 20ms, 1s; got "-5ms"'],
  ])('lost-ipi %j', (opt, message) => {
    expect(usageError(['scenario', 'lost-ipi', ...opt])).toBe(message);
  });
});

describe('--cpus: one rule per scenario, said up front', () => {
  it('--cpus 99999 and --cpus 65 name the same range, the scenario\'s', () => {
    const rule = 'irqchip: --cpus must be an integer in 2..64 for lost-ipi, got';
    expect(usageError(['scenario', 'lost-ipi', '--cpus', '99999'])).toBe(`${rule} "99999"`);
    expect(usageError(['scenario', 'lost-ipi', '--cpus', '65'])).toBe(`${rule} "65"`);
    expect(usageError(['scenario', 'linux-boot-irq-setup', '--cpus', '9'])).toBe('irqchip: --cpus must be an integer in 1..8 for linux-boot-irq-setup, got "9"');
  });

  it('irqchip list shows each scenario\'s vCPU range and default, backend and run length', () => {
    const lines = run(['list']).stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^scenario\s+vCPUs \(default\)\s+backend\s+until \(max\)\s+what it shows$/);
    expect(lines.find((l) => l.startsWith('lost-ipi '))).toMatch(/^lost-ipi\s+2\.\.64 \(2\)\s+svm-event\s+1 ms\s+IPI, wait/);
    expect(lines.find((l) => l.startsWith('linux-boot-irq-setup '))).toMatch(/^linux-boot-irq-setup\s+1\.\.8 \(2\)\s+svm-event\s+20 ms \(100 s\)\s+Linux boot/);
    expect(lines.find((l) => l.startsWith('nested-ack-on-exit '))).toMatch(/^nested-ack-on-exit\s+2\.\.64 \(2\)\s+vmx-event\s+6 ms\s+/);
  });

  it('the help says each scenario has its own range and where to see it', () => {
    expect(run(['scenario', '--help']).stdout).toContain("--cpus N           number of vCPUs: each scenario has its own range and default\n                     ('irqchip list' shows them)");
  });
});

describe('default backends', () => {
  it('the help names nested-ack-on-exit\'s default, vmx-event, besides svm-event', () => {
    const help = run(['scenario', '--help']).stdout;
    expect(help).toContain('(default svm-event; nested-ack-on-exit: vmx-event)');
    expect(help).not.toMatch(/\(default svm-event\)/);
    const differ = SCENARIOS.filter((s) => s.backend !== undefined && s.backend !== 'svm-event').map((s) => s.name);
    expect(differ).toEqual(['nested-ack-on-exit']);
    expect(run(['scenario', 'nested-ack-on-exit']).stdout.split('\n')[0]).toMatch(/^nested-ack-on-exit on vmx-event: /);
  });
});

describe('--explain at the moment of the loss', () => {
  it('lost-ipi under svm-vintr: explained when the checker finds 0x40 lost (V_IRQ taken, not synced), then at the end', () => {
    const r = run(['scenario', 'lost-ipi', '--backend', 'svm-vintr', '--explain', '1:0x40']);
    expect(r.status).toBe(0);
    const lost = /^LOST: vCPU 1 vector 0x40 at (.+)$/m.exec(r.stdout)![1];
    const lines = r.stdout.trimEnd().split('\n').slice(-4);
    expect(lines[0]).toBe(`explain vCPU 1 vector 0x40 at ${lost}, when the checker found it lost: not deliverable (vintr-taken-unsynced)`);
    expect(lines[1]).toMatch(/^ {2}the guest took vector 0x40 through V_IRQ; /);
    expect(lines[2]).toMatch(/^explain vCPU 1 vector 0x40 at the end \(11\.17 us\): not deliverable \(not-requested\)$/);
  });

  it('the scenario help\'s hint says when it is explained', () => {
    expect(run(['scenario', 'lost-ipi', '--help']).stdout).toContain(
      'try: irqchip scenario lost-ipi --explain 1:0x40\n     (explained when the checker first finds it lost or doubled, and at the end; add @T for time T)\n',
    );
  });

  it('nothing lost (svm-event): only the end of the run is explained', () => {
    const r = run(['scenario', 'lost-ipi', '--explain', '1:0x40']);
    expect(r.stdout.match(/^explain /gm)).toEqual(['explain ']);
  });

  it('--explain CPU:VEC@T explains at virtual time T, then at the end', () => {
    const r = run(['scenario', 'lost-ipi', '--backend', 'svm-vintr', '--explain', '1:0x40@6us']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('explain vCPU 1 vector 0x40 at 6 us: not deliverable (vintr-taken-unsynced)\n');
    // Pausing the run does not change it.
    expect(summaryLine(r.stdout)).toBe(summaryLine(run(['scenario', 'lost-ipi', '--backend', 'svm-vintr']).stdout));
  });

  it('@T after the run stopped early says so; @T beyond the end time is a usage error', () => {
    const r = run(['scenario', 'lost-ipi', '--explain', '1:0x40@500us']);
    expect(r.stdout).toContain('explain: the run stopped at 19.29 us, before 500 us\n');
    expect(usageError(['scenario', 'lost-ipi', '--explain', '1:0x40@2ms'])).toBe('irqchip: --explain time must be at most the end time 1 ms, got 2 ms');
    expect(usageError(['scenario', 'lost-ipi', '--explain', '1:0x40@soon'])).toMatch(/^irqchip: --explain time \(after @\) must be a positive whole number of ns/);
  });
});

describe('an option given twice', () => {
  it.each([
    [['scenario', 'lost-ipi', '--seed', '1', '--seed', '2'], '--seed'],
    [['scenario', 'lost-ipi', '--backend=svm-event', '--backend', 'svm-vintr'], '--backend'],
    [['scenario', 'lost-ipi', '--check', '--check'], '--check'],
    [['scenario', 'lost-ipi', '--trace', 'a.json', '--trace', 'b.json'], '--trace'],
    [['compare', 'lost-ipi', '--until', '1ms', '--until', '2ms'], '--until'],
  ])('%j is rejected, not the last one taken', (args, opt) => {
    expect(usageError(args)).toBe(`irqchip: ${opt} given more than once; give each option once`);
  });
});

describe('output files are checked before the run', () => {
  it('a --trace or --svg path that cannot be written: exit 2 before the run, nothing written', () => {
    let ran = false;
    const cannotWrite = (path: string): string | undefined => (path.startsWith('/nope/') ? 'no such directory /nope' : undefined);
    const line = usageError(['scenario', 'lost-ipi', '--trace', '/nope/x.json'], { cannotWrite, writeFile: () => void (ran = true) });
    expect(line).toBe('irqchip: --trace /nope/x.json: no such directory /nope');
    expect(usageError(['scenario', 'lost-ipi', '--trace', 'ok.json', '--svg', '/nope/x.svg'], { cannotWrite })).toBe('irqchip: --svg /nope/x.svg: no such directory /nope');
    expect(ran).toBe(false);
  });

  it('a write that still fails after the run: exit 3 with a one-line error', () => {
    const r = run(['scenario', 'lost-ipi', '--trace', 'x.json'], {
      writeFile: () => {
        throw new Error('ENOSPC: no space left on device');
      },
    });
    expect(r.status).toBe(3);
    expect(r.stderr).toBe('irqchip: ENOSPC: no space left on device\n');
  });
});

describe('run length', () => {
  it('scenarios that schedule device events before the run have a longest --until: exit 2 naming it', () => {
    expect(usageError(['scenario', 'pic-legacy', '--until', '101s'])).toBe('irqchip: --until must be at most 100 s for pic-legacy (it schedules its device events before the run); got "101s"');
    expect(usageError(['compare', 'linux-boot-irq-setup', '--until', '200s'])).toMatch(/^irqchip: --until must be at most 100 s for linux-boot-irq-setup /);
    expect(() => resolveScenarioOptions(getScenario('pic-legacy'), { untilNs: 100_000_000_001 })).toThrow('untilNs must be an integer in 1..100000000000 for pic-legacy, got 100000000001');
  });

  it('every() refuses, before allocating, more than MAX_SCHEDULED_TIMES times', () => {
    expect(every(0, 1_000_000, MAX_SCHEDULED_TIMES * 1_000_000)).toHaveLength(MAX_SCHEDULED_TIMES);
    expect(() => every(0, 1_000_000, MAX_SCHEDULED_TIMES * 1_000_000 + 1)).toThrow(RangeError);
    expect(() => every(0, 1, Number.MAX_SAFE_INTEGER)).toThrow(/needs 9007199254740991 events scheduled before the run, more than 100000/);
  });
});

describe('docs/cli.md', () => {
  const doc = readFileSync(fileURLToPath(new URL('../../docs/cli.md', import.meta.url)), 'utf8');
  const blocks = [...doc.matchAll(/```text\n([\s\S]*?)```/g)].map((m) => m[1]!);

  it('shows the real output of linux-boot-irq-setup on vmx-posted and of --explain at the loss', () => {
    expect(blocks).toHaveLength(2);
    expect(run(['scenario', 'linux-boot-irq-setup', '--backend', 'vmx-posted']).stdout).toBe(blocks[0]);
    expect(run(['scenario', 'lost-ipi', '--backend', 'svm-vintr', '--explain', '1:0x40']).stdout.endsWith(blocks[1]!)).toBe(true);
  });
});
