/**
 * The command's argument handling, in-process (cli.test.ts spawns the built command for the
 * end-to-end cases).
 */
import { describe, expect, it } from 'vitest';
import { parseTime } from '../../src/cli/main.js';
import { run } from './run-in-process.js';

describe('help', () => {
  it.each([
    [['--help'], 'usage: irqchip <list'],
    [['-h'], 'commands:'],
    [['help'], 'commands:'],
    [['list', '--help'], 'usage: irqchip list'],
    [['scenario', '--help'], '--explain CPU:VEC'],
    [['scenario', '-h'], 'scenarios: lost-ipi, ipi-pingpong, timer-periodic, level-storm, pic-legacy, linux-boot-irq-setup,\n  nested-ack-on-exit'],
    [['scenario', 'lost-ipi', '--help'], 'defaults: --backend svm-event --cpus 2 (2..64)'],
    [['scenario', 'pic-legacy', '-h'], 'wait-for-SIPI'],
    [['compare', '-h'], 'usage: irqchip compare <name>'],
    [['compare', 'level-storm', '--help'], 'usage: irqchip compare <name>'],
    [['help', 'compare'], 'under every backend'],
    [['help', 'scenario'], '--trace FILE'],
    [['help', 'list'], 'one-line description'],
  ])('%j prints help and exits 0', (args, text) => {
    const r = run(args);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(text);
    expect(r.stderr).toBe('');
  });

  it('every help line fits 100 columns (scenario descriptions aside)', () => {
    const helps = [['--help'], ['scenario', '--help'], ['compare', '--help'], ['list', '--help'], ...['lost-ipi', 'pic-legacy'].map((n) => ['scenario', n, '--help'])];
    for (const args of helps) {
      for (const line of run(args).stdout.split('\n')) {
        if (!line.startsWith('  ') || line.startsWith('  --')) expect(line.length, line).toBeLessThanOrEqual(100);
      }
    }
  });
});

describe('bad arguments: one line of error, the usage, status 2', () => {
  it.each([
    [[], 'irqchip: missing command'],
    [['frobnicate'], 'irqchip: unknown command "frobnicate"'],
    [['help', 'me'], 'irqchip: no help for "me"'],
    [['scenario'], 'irqchip: missing scenario name (one of lost-ipi,'],
    [['scenario', 'nope'], 'irqchip: unknown scenario "nope"'],
    [['scenario', 'lost-ipi', 'extra'], 'irqchip: unexpected argument "extra"'],
    [['scenario', 'lost-ipi', '--backend', 'kvm'], 'irqchip: --backend must be one of svm-event, svm-vintr, vmx-event, vmx-vid, vmx-posted; got "kvm"'],
    [['scenario', 'lost-ipi', '--cpus', 'two'], 'irqchip: --cpus must be an integer in 2..64 for lost-ipi, got "two"'],
    [['scenario', 'lost-ipi', '--cpus', '1'], 'irqchip: --cpus must be an integer in 2..64 for lost-ipi, got "1"'],
    [['scenario', 'pic-legacy', '--cpus', '0'], 'irqchip: --cpus must be an integer in 1..64 for pic-legacy, got "0"'],
    [['scenario', 'lost-ipi', '--seed', '-3'], 'irqchip: --seed must be an integer in 0..4294967295, got "-3"'],
    [['scenario', 'lost-ipi', '--seed', '4294967296'], 'irqchip: --seed must be an integer in 0..4294967295'],
    [['scenario', 'lost-ipi', '--until', '10 parsecs'], 'irqchip: --until must be a positive whole number of ns'],
    [['scenario', 'lost-ipi', '--until', '0'], 'irqchip: --until must be a positive whole number of ns'],
    [['scenario', 'lost-ipi', '--explain', '1'], 'irqchip: --explain must be CPU:VECTOR or CPU:VECTOR@TIME, e.g. 1:0x40'],
    [['scenario', 'lost-ipi', '--explain', '1:0x100'], 'irqchip: --explain vector must be 0..255'],
    [['scenario', 'lost-ipi', '--explain', '5:0x40'], 'irqchip: --explain vCPU must be 0..1, got 5'],
    [['scenario', 'lost-ipi', '--trace', ''], 'irqchip: --trace needs a file name'],
    [['scenario', 'lost-ipi', '--frob'], 'irqchip: unknown option --frob'],
    [['scenario', 'lost-ipi', '--seed'], "irqchip: Option '--seed <value>' argument missing"],
    [['scenario', 'lost-ipi', '--check=yes'], "irqchip: Option '--check' does not take an argument"],
    [['compare'], 'irqchip: missing scenario name'],
    [['compare', 'lost-ipi', '--backend', 'svm-event'], 'irqchip: unknown option --backend'],
    [['compare', 'lost-ipi', '--cpus', '99'], 'irqchip: --cpus must be an integer in 2..64 for lost-ipi, got "99"'],
    [['list', 'extra'], 'irqchip: unexpected argument "extra"'],
  ])('%j', (args, message) => {
    const r = run(args);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines.length).toBe(2);
    expect(lines[0]!.startsWith(message), lines[0]).toBe(true);
    expect(lines[1]).toMatch(/^usage: irqchip /);
  });
});

describe('values', () => {
  it('parses times with units and underscores', () => {
    expect(['1000', '1_000_000', '500us', '500µs', '20ms', '1s', '1.5ms', '250ns'].map(parseTime)).toEqual([
      1000, 1_000_000, 500_000, 500_000, 20_000_000, 1_000_000_000, 1_500_000, 250,
    ]);
    expect(['', 'ms', '-1', '1.5', '1e6', '0', '3h'].map(parseTime)).toEqual([undefined, undefined, undefined, undefined, undefined, undefined, undefined]);
  });

  it('--until, --seed and --cpus reach the run; --trace and --svg write files', () => {
    const r = run(['scenario', 'timer-periodic', '--cpus', '2', '--seed', '0x10', '--until', '1ms', '--trace', 't.json', '--svg', 't.svg']);
    expect(r.status).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe('timer-periodic on svm-event: 2 vCPUs, seed 16, until 1 ms');
    expect(JSON.parse(r.files.get('t.json')!).otherData).toMatchObject({ scenario: 'timer-periodic', seed: 16, cpus: 2, endNs: 1_000_000 });
    expect(r.files.get('t.svg')).toMatch(/^<svg /);
  });
});
