/**
 * The built `irqchip` command (dist/cli.js), spawned as users run it. `npm test` builds first.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKEND_NAMES } from '../../src/inject/backend.js';
import { SCENARIOS } from '../../src/cli/scenarios/index.js';

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
let dir = '';

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

function irqchip(args: string[], env: Record<string, string> = {}): Result {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    cwd: dir,
    env: { ...process.env, IRQCHIP_PROGRESS: '0', ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The per-vCPU table of a summary: row label -> column -> number. */
function table(stdout: string): Map<string, Record<string, number>> {
  const lines = stdout.split('\n');
  const start = lines.findIndex((l) => /^vCPU\s+handled\s+lost/.test(l));
  expect(start).toBeGreaterThanOrEqual(0);
  const head = lines[start]!.trim().split(/\s+/);
  const rows = new Map<string, Record<string, number>>();
  for (const line of lines.slice(start + 1)) {
    if (line.trim() === '') break;
    const cells = line.trim().split(/\s+/);
    const row: Record<string, number> = {};
    head.slice(1).forEach((h, i) => (row[h] = Number(cells[i + 1])));
    rows.set(cells[0]!, row);
  }
  return rows;
}

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run 'npm run build' first ('npm test' does)`);
  dir = mkdtempSync(join(tmpdir(), 'irqchip-cli-'));
});

afterAll(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

describe('irqchip list / help', () => {
  it('lists every scenario with a one-line description', () => {
    const r = irqchip(['list']);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.map((l) => l.split(/\s+/)[0])).toEqual(['scenario', ...SCENARIOS.map((s) => s.name)]);
    for (const s of SCENARIOS) expect(r.stdout).toContain(s.description);
  });

  it.each([
    [['--help'], 'usage: irqchip <list'],
    [['scenario', 'lost-ipi', '--help'], 'defaults: --backend svm-event --cpus 2 (2..64)'],
  ])('%j prints help and exits 0 (every variant: main.test.ts)', (args, text) => {
    const r = irqchip(args);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(text);
    expect(r.stderr).toBe('');
  });

  it('--version prints the package version', () => {
    const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')) as { version: string };
    expect(irqchip(['--version']).stdout).toBe(`${pkg.version}\n`);
  });
});

describe('bad arguments: a one-line error, the usage, exit 2 (every case: main.test.ts)', () => {
  it.each([
    [[], 'irqchip: missing command'],
    [['scenario', 'lost-ipi', '--backend', 'kvm'], 'irqchip: --backend must be one of svm-event, svm-vintr, vmx-event, vmx-vid, vmx-posted; got "kvm"'],
    [['scenario', 'lost-ipi', '--frob'], 'irqchip: unknown option --frob'],
  ])('%j', (args, message) => {
    const r = irqchip(args);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines.length).toBe(2);
    expect(lines[0]!.startsWith(message)).toBe(true);
    expect(lines[1]).toMatch(/^usage: irqchip /);
  });
});

describe('irqchip scenario', () => {
  it('lost-ipi under svm-vintr: the summary reports one lost IPI on vCPU 1', () => {
    const r = irqchip(['scenario', 'lost-ipi', '--backend', 'svm-vintr']);
    expect(r.status).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe('lost-ipi on svm-vintr: 2 vCPUs, seed 1, until 1 ms');
    const t = table(r.stdout);
    expect(t.get('1')).toMatchObject({ handled: 1, lost: 1 });
    expect(t.get('0')).toMatchObject({ handled: 0, lost: 0 });
    expect(t.get('all')).toMatchObject({ handled: 1, lost: 1, exits: t.get('0')!.exits! + t.get('1')!.exits! });
    expect(t.get('1')!['apic-access']).toBeGreaterThan(0);
    expect(r.stdout).toContain('LOST: vCPU 1 vector 0x40 at ');
    expect(r.stdout).toMatch(/trace events, hash [0-9a-f]{8}\n$/);
  });

  it('lost-ipi under svm-event: nothing lost', () => {
    const t = table(irqchip(['scenario', 'lost-ipi', '--backend', 'svm-event']).stdout);
    expect(t.get('1')).toMatchObject({ handled: 2, lost: 0 });
  });

  it('--check: exit 1 on a loss, 0 without', () => {
    const bad = irqchip(['scenario', 'lost-ipi', '--backend', 'svm-vintr', '--check']);
    expect(bad.status).toBe(1);
    expect(bad.stdout).toContain('check: FAILED (svm-vintr: 1 lost, 0 doubled)');
    const good = irqchip(['scenario', 'lost-ipi', '--backend', 'vmx-posted', '--check']);
    expect(good.status).toBe(0);
    expect(good.stdout).toContain('check: ok');
  });

  it.each([
    [['ipi-pingpong', '--cpus', '3'], { '0': 100, '1': 100, '2': 100 }, 'tokens seen per vCPU: 100 100 100 (of 100)'],
    [['timer-periodic', '--until', '5ms', '--backend', 'vmx-vid'], { '0': 19, '3': 19 }, 'timer ticks per vCPU: 19 19 19 19'],
    [['level-storm', '--until', '25_000_000'], { '0': 10_001 }, 'storm guard deferrals 1'],
    [['pic-legacy'], { '0': 24 }, 'timer IRQ0 handled 19 of 19 PIT ticks, keyboard IRQ1 handled 5 of 5 keys'],
    [['linux-boot-irq-setup', '--backend', 'vmx-posted'], { '0': 3 + 4 + 19, '1': 10 + 19 + 19 }, 'APs started: 1 of 1'],
  ])('%j: expected handled counts and notes', (args, handled, note) => {
    const r = irqchip(['scenario', ...args]);
    expect(r.status).toBe(0);
    const t = table(r.stdout);
    for (const [cpu, n] of Object.entries(handled)) expect(t.get(cpu)?.handled, `vCPU ${cpu}`).toBe(n);
    for (const row of t.values()) expect(row.lost).toBe(0);
    expect(r.stdout).toContain(note);
  });

  it('pic-legacy counts port I/O exits', () => {
    const t = table(irqchip(['scenario', 'pic-legacy']).stdout);
    expect(t.get('0')).toMatchObject({ io: 39, hlt: 25 });
  });

  it('the same arguments print the same bytes; another seed another hash', () => {
    const a = irqchip(['scenario', 'ipi-pingpong', '--seed', '7']);
    expect(irqchip(['scenario', 'ipi-pingpong', '--seed', '7']).stdout).toBe(a.stdout);
    const hash = (s: string): string => /hash ([0-9a-f]{8})/.exec(s)![1]!;
    expect(hash(irqchip(['scenario', 'ipi-pingpong', '--seed', '8']).stdout)).not.toBe(hash(a.stdout));
  });

  it('--explain prints the explanation at the end of the run', () => {
    const r = irqchip(['scenario', 'timer-periodic', '--cpus', '1', '--until', '1ms', '--explain', '0:0xec']);
    expect(r.status).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[lines.length - 2]).toMatch(/^explain vCPU 0 vector 0xec at the end \(1 ms\): (not )?deliverable \([a-z-]+\)$/);
    expect(lines[lines.length - 1]!.startsWith('  ')).toBe(true);
    const decimal = irqchip(['scenario', 'timer-periodic', '--cpus', '1', '--until', '1ms', '--explain', '0:236']);
    expect(decimal.stdout).toContain('explain vCPU 0 vector 0xec at the end (1 ms):');
  });

  it('--trace writes Chrome Trace Event JSON: tracks, spans, instants, counters', () => {
    const r = irqchip(['scenario', 'lost-ipi', '--backend', 'svm-vintr', '--trace', 'out.json']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('trace: wrote out.json');
    const json = JSON.parse(readFileSync(join(dir, 'out.json'), 'utf8')) as {
      traceEvents: Array<{ name: string; ph: string; tid: number; ts: number; dur?: number; cat?: string; args?: Record<string, unknown> }>;
      otherData: Record<string, unknown>;
    };
    const ev = json.traceEvents;
    expect(ev.filter((e) => e.ph === 'M' && e.name === 'thread_name').map((e) => e.args?.name)).toEqual(['vCPU 0', 'vCPU 1']);
    const handler = ev.find((e) => e.ph === 'X' && e.name === 'IRQ 0x40');
    expect(handler).toMatchObject({ tid: 2, cat: 'handler' });
    expect(handler!.dur).toBeGreaterThan(5); // the handler works 5 us
    const t = table(r.stdout);
    expect(ev.filter((e) => e.ph === 'i' && e.cat === 'exit').length).toBe(t.get('all')!.exits);
    expect(ev.filter((e) => e.ph === 'i' && e.name === 'LOST 0x40').length).toBe(1);
    const counters = ev.filter((e) => e.ph === 'C');
    expect(counters.some((e) => e.name === 'IRR/ISR vCPU 1' && e.args?.ISR === 1)).toBe(true);
    expect(json.otherData).toMatchObject({ scenario: 'lost-ipi', backend: 'svm-vintr', seed: 1 });
    expect(json.otherData.traceHash).toBe(/hash ([0-9a-f]{8})/.exec(r.stdout)![1]);
  });

  it('--svg writes an SVG timeline with a lane per vCPU', () => {
    const r = irqchip(['scenario', 'linux-boot-irq-setup', '--cpus', '3', '--until', '2ms', '--svg', 'boot.svg']);
    expect(r.status).toBe(0);
    const svg = readFileSync(join(dir, 'boot.svg'), 'utf8');
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect([...svg.matchAll(/<g class="lane" data-cpu="(\d+)"/g)].map((m) => m[1])).toEqual(['0', '1', '2']);
  });

  it('a --trace path in a missing folder: exit 2 before the run, naming the folder', () => {
    const missing = join(dir, 'no', 'such', 'dir');
    const r = irqchip(['scenario', 'lost-ipi', '--trace', join(missing, 'x.json')]);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n')[0]).toBe(`irqchip: --trace ${join(missing, 'x.json')}: no such directory ${missing}`);
    const folder = irqchip(['scenario', 'lost-ipi', '--svg', dir]);
    expect([folder.status, folder.stderr.split('\n')[0]]).toEqual([2, `irqchip: --svg ${dir}: is a directory`]);
  });

  it('level-storm --until 1s runs in a 64 MB heap: without --trace the trace is a ring, the hash still covers it all', () => {
    // Before the ring, this run held 4.8 million trace events (about 600 MB) and V8 aborted
    // (exit 134). Count and hash: the full trace of the same run, before the change.
    const r = spawnSync(process.execPath, ['--max-old-space-size=64', CLI, 'scenario', 'level-storm', '--until', '1s'], {
      encoding: 'utf8',
      cwd: dir,
      env: { ...process.env, IRQCHIP_PROGRESS: '0' },
    });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('stopped at 1 s (reached the end time); 4847817 trace events, hash 1a6e1252\n');
  });

  it('progress goes to stderr (forced here; a TTY turns it on) and changes nothing on stdout', () => {
    const quiet = irqchip(['scenario', 'timer-periodic', '--until', '3ms']);
    const loud = irqchip(['scenario', 'timer-periodic', '--until', '3ms'], { IRQCHIP_PROGRESS: '1' });
    expect(loud.status).toBe(0);
    expect(loud.stdout).toBe(quiet.stdout);
    expect(quiet.stderr).toBe('');
    const updates = loud.stderr.split('\r').filter((u) => u !== '');
    expect(updates[0]).toMatch(/^timer-periodic \[svm-event\]\s+1%\s+30 us of 3 ms/);
    expect(updates).toContain('timer-periodic [svm-event] 100%  3 ms of 3 ms\x1b[K');
    expect(updates[updates.length - 1]).toBe('\x1b[K'); // the line is cleared at the end
  });
});

describe('irqchip compare', () => {
  it('prints every backend side by side; lost-ipi loses under svm-vintr only', () => {
    const r = irqchip(['compare', 'lost-ipi']);
    expect(r.status).toBe(0);
    const lines = r.stdout.split('\n');
    const head = lines.find((l) => l.trim().startsWith('svm-event'))!;
    expect(head.trim().split(/\s+/)).toEqual([...BACKEND_NAMES]);
    const row = (label: string): string[] => lines.find((l) => l.startsWith(`${label}  `))!.slice(label.length).trim().split(/\s+/);
    expect(row('handled')).toEqual(['2', '1', '2', '2', '2']);
    expect(row('lost')).toEqual(['0', '1', '0', '0', '0']);
    expect(row('trace hash').every((h) => /^[0-9a-f]{8}$/.test(h))).toBe(true);
    expect(r.stdout).toContain('svm-vintr: LOST: vCPU 1 vector 0x40');
  });

  it('README.md shows its real output', () => {
    const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
    const m = /```sh\nnpx irqchip compare lost-ipi\n```\n\n```text\n([\s\S]*?)\n```/.exec(readme);
    expect(m, 'README.md: the `npx irqchip compare lost-ipi` block').not.toBeNull();
    const actual = irqchip(['compare', 'lost-ipi']).stdout.trimEnd();
    expect(m![1], 'README.md is stale: paste the output of `node dist/cli.js compare lost-ipi`').toBe(actual);
  });

  it('--check fails when any backend loses, passes when none does', () => {
    expect(irqchip(['compare', 'lost-ipi', '--check']).status).toBe(1);
    const ok = irqchip(['compare', 'timer-periodic', '--cpus', '2', '--until', '2ms', '--check']);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain('check: ok');
  });
});
