/**
 * The built-in scenarios, run through the library API (the CLI tests spawn the built command).
 */
import { describe, expect, it } from 'vitest';
import { runSliced } from '../../src/cli/run.js';
import { SCENARIOS, getScenario, prepareScenario, runScenario } from '../../src/cli/scenarios/index.js';
import * as lib from '../../src/index.js';
import * as entry from '../../src/scenarios.js';
import { BACKEND_NAMES } from '../../src/inject/backend.js';

const mem = (run: entry.ScenarioRun, name: string): number => run.machine.memory.get(name) ?? 0;

describe('scenario registry', () => {
  it('has the nine built-in scenarios with one-line descriptions, exported from irqchip/scenarios (not the main entry)', () => {
    expect(SCENARIOS.map((s) => s.name)).toEqual([
      'lost-ipi', 'ipi-pingpong', 'timer-periodic', 'level-storm', 'pic-legacy', 'linux-boot-irq-setup', 'nested-ack-on-exit', 'reinjection', 'reinjection-dropped',
    ]);
    for (const s of SCENARIOS) {
      expect(s.description).not.toContain('\n');
      expect(s.description.length).toBeLessThan(120);
      expect(s.cpus.min).toBeLessThanOrEqual(s.cpus.default);
      expect(s.cpus.default).toBeLessThanOrEqual(s.cpus.max);
    }
    expect(entry.SCENARIOS).toBe(SCENARIOS);
    expect(entry.runScenario).toBe(runScenario);
    expect('SCENARIOS' in lib).toBe(false);
    expect('runScenario' in lib).toBe(false);
  });

  it('rejects unknown names and bad options naming the option', () => {
    expect(() => getScenario('nope')).toThrow(/unknown scenario "nope"; known: lost-ipi, /);
    expect(() => runScenario('lost-ipi', { cpus: 1 })).toThrow(/cpus must be an integer in 2\.\.64 for lost-ipi, got 1/);
    expect(() => runScenario('lost-ipi', { backend: 'kvm' as never })).toThrow(/backend must be one of svm-event/);
    expect(() => runScenario('lost-ipi', { seed: -1 })).toThrow(RangeError);
    expect(() => runScenario('lost-ipi', { untilNs: 1.5 })).toThrow(/untilNs/);
  });
});

describe('lost-ipi', () => {
  it('svm-vintr loses the second IPI; every other backend handles both', () => {
    for (const backend of BACKEND_NAMES) {
      const run = runScenario('lost-ipi', { backend });
      const receiver = run.stats.cpus[1]!;
      if (backend === 'svm-vintr') {
        expect([receiver.handlerEntries, receiver.lost]).toEqual([1, 1]);
        expect(run.notes).toEqual(['IPIs handled: vCPU 1 1 of 2']);
      } else {
        expect([receiver.handlerEntries, receiver.lost], backend).toEqual([2, 0]);
      }
    }
  });

  it('the loss does not depend on the seed, and more vCPUs each lose one', () => {
    for (let seed = 1; seed <= 10; seed++) expect(runScenario('lost-ipi', { backend: 'svm-vintr', seed }).lost).toBe(1);
    const four = runScenario('lost-ipi', { backend: 'svm-vintr', cpus: 4 });
    expect(four.stats.cpus.map((c) => c.lost)).toEqual([0, 1, 1, 1]);
  });
});

describe('the other scenarios', () => {
  it('ipi-pingpong passes the token 100 times around every vCPU', () => {
    for (const backend of ['svm-event', 'vmx-posted'] as const) {
      const run = runScenario('ipi-pingpong', { backend, cpus: 3 });
      expect(run.result.reason).toBe('all-done');
      expect([mem(run, 'got0'), mem(run, 'got1'), mem(run, 'got2')]).toEqual([100, 100, 100]);
      expect(run.lost).toBe(0);
    }
    // Posted interrupts deliver without exits for the IPIs themselves.
    const posted = runScenario('ipi-pingpong', { backend: 'vmx-posted' }).stats.total;
    const event = runScenario('ipi-pingpong', { backend: 'svm-event' }).stats.total;
    expect(posted.exits['external-interrupt']).toBe(0);
    expect(event.exits['external-interrupt']).toBe(200);
    expect(posted.exitCount).toBeLessThan(event.exitCount);
  });

  it('timer-periodic ticks every 250 us on every vCPU', () => {
    const run = runScenario('timer-periodic', { backend: 'vmx-vid', untilNs: 5_000_000 });
    expect(run.stats.cpus.map((c) => c.handlerEntries)).toEqual([19, 19, 19, 19]);
    expect(run.notes[0]).toBe('timer ticks per vCPU: 19 19 19 19 (period 250 us)');
    expect(run.lost).toBe(0);
  });

  it('level-storm: re-delivery at every EOI until the storm guard defers once', () => {
    const run = runScenario('level-storm', { backend: 'svm-event' });
    const io = run.machine.platform.ioapic.stats;
    expect(io.stormDeferrals).toBe(1);
    expect(run.stats.cpus[0]!.handlerEntries).toBe(10_001);
    expect(run.notes[1]).toContain('storm guard deferrals 1 (threshold 10000, back-off 10 ms)');
    // Short of the threshold the guard never engages.
    const short = runScenario('level-storm', { backend: 'vmx-vid', untilNs: 2_000_000 });
    expect(short.machine.platform.ioapic.stats.stormDeferrals).toBe(0);
    expect(short.stats.total.exits['eoi-induced']).toBe(short.stats.total.handlerEntries);
  });

  it('pic-legacy: every PIT tick and key through the 8259A, port I/O exits, under every backend alike', () => {
    const hashes = new Set<string>();
    for (const backend of BACKEND_NAMES) {
      const run = runScenario('pic-legacy', { backend });
      expect(run.notes, backend).toEqual(['8259A: timer IRQ0 handled 19 of 19 PIT ticks, keyboard IRQ1 handled 5 of 5 keys']);
      expect(run.stats.cpus[0]!.exits.io).toBe(10 + 19 + 2 * 5); // 10 setup OUTs, an OUT per tick, an IN and an OUT per key
      expect(run.machine.trace.filter('deliver').every((e) => e.b === 1)).toBe(true); // all ExtINT
      hashes.add(run.hash);
    }
    // ExtINTs go through event injection whatever the backend: the runs are identical.
    expect(hashes.size).toBe(1);
  });

  it('linux-boot-irq-setup: APs started, every device and timer interrupt handled', () => {
    for (const backend of ['svm-vintr', 'vmx-vid'] as const) {
      const run = runScenario('linux-boot-irq-setup', { backend, cpus: 3 });
      expect(run.notes, backend).toEqual([
        'APs started: 2 of 2; LAPIC timer ticks per vCPU: 19 19 19',
        'devices handled: PIT 3 of 3, keyboard 4 of 4, disk (level) 10 of 10, NIC MSI 19 of 19',
      ]);
      expect(run.stats.total.faults).toBe(0);
      expect(run.lost).toBe(0);
      expect(run.machine.platform.lapics.map((l) => l.mode)).toEqual(['xapic', 'xapic', 'xapic']);
    }
    const one = runScenario('linux-boot-irq-setup', { cpus: 1 });
    expect(one.notes[1]).toBe('devices handled: PIT 3 of 3, keyboard 4 of 4, disk (level) 10 of 10, NIC MSI 19 of 19');
  });
});

describe('determinism', () => {
  it.each(SCENARIOS.map((s) => s.name))('%s: same seed, same hash; running in slices changes nothing', (name) => {
    const untilNs = Math.min(getScenario(name).untilNs, 3_000_000);
    for (const backend of ['svm-vintr', 'vmx-posted'] as const) {
      const a = runScenario(name, { backend, untilNs });
      const b = runScenario(name, { backend, untilNs });
      expect(b.hash).toBe(a.hash);
      const sliced = runSliced(prepareScenario(name, { backend, untilNs }), 37);
      expect(sliced.hash, `${name} ${backend} sliced`).toBe(a.hash);
      expect(sliced.result).toEqual(a.result);
      expect(sliced.stats).toEqual(a.stats);
    }
  });

  it('the seed jitters the costs', () => {
    const a = runScenario('ipi-pingpong', { seed: 1 });
    const b = runScenario('ipi-pingpong', { seed: 2 });
    expect(a.hash).not.toBe(b.hash);
    expect(a.stats.total.handlerEntries).toBe(b.stats.total.handlerEntries);
  });
});

describe('nested-ack-on-exit', () => {
  it('vmx-event: acknowledge-on-exit saves exactly the interrupt-window exit of every tick', () => {
    const run = runScenario('nested-ack-on-exit');
    expect(run.result.reason).toBe('all-done');
    const [plain, ack] = run.stats.cpus as [lib.VcpuStats, lib.VcpuStats];
    expect([mem(run, 'ticks0'), mem(run, 'ticks1')]).toEqual([21, 21]);
    expect([plain.nestedExits['external-interrupt'], ack.nestedExits['external-interrupt']]).toEqual([20, 20]);
    expect([plain.ackedOnExit, ack.ackedOnExit]).toEqual([0, 20]);
    expect([plain.exits['interrupt-window'], ack.exits['interrupt-window']]).toEqual([20, 0]);
    expect(plain.exitCount - ack.exitCount).toBe(20);
    expect(run.lost + run.doubled + run.stats.total.wrongLevel).toBe(0);
    expect(run.notes).toEqual([
      'vCPU 0, L1 without ack-on-exit: 21 ticks, 20 exits L2 -> L1 (0 with the vector), 20 interrupt-window exits, 88 exits to L0',
      'vCPU 1, L1 with ack-on-exit:    21 ticks, 20 exits L2 -> L1 (20 with the vector), 0 interrupt-window exits, 68 exits to L0',
      'acknowledge-on-exit saves 20 exits to L0 on vCPU 1 (21 ticks)',
    ]);
  });

  it('with APIC virtualization L1 takes the tick without a window exit either way; SVM has no acknowledge-on-exit', () => {
    for (const backend of ['vmx-vid', 'vmx-posted'] as const) {
      const run = runScenario('nested-ack-on-exit', { backend });
      expect(run.stats.cpus.map((c) => c.exitCount), backend).toEqual([47, 47]);
      expect(run.stats.cpus.map((c) => c.ackedOnExit), backend).toEqual([0, 20]);
    }
    for (const backend of ['svm-event', 'svm-vintr'] as const) {
      const run = runScenario('nested-ack-on-exit', { backend });
      expect(run.stats.cpus.map((c) => c.ackedOnExit), backend).toEqual([0, 0]);
      expect(run.notes.at(-1)).toBe('SVM has no acknowledge-on-exit: both vCPUs run the INTR-intercept configuration');
      expect(run.lost).toBe(0);
    }
  });
});

describe('reinjection / reinjection-dropped', () => {
  for (const backend of BACKEND_NAMES) {
    it(`${backend}: the first MSI's delivery exits on the unmapped IDT page and is re-injected; both are handled`, () => {
      const run = runScenario('reinjection', { backend });
      expect(mem(run, 'irqs')).toBe(2);
      expect(run.lost).toBe(0);
      expect(run.stats.total.exits[backend.startsWith('svm') ? 'npf' : 'ept-violation']).toBe(1);
      expect(run.notes).toEqual(['device interrupts handled: 2 of 2; deliveries cut short by an exit: 1, re-injected: 1']);
    });

    it(`${backend}: with dropReinjection the first MSI is lost (checker) and its stuck ISR bit holds back the second`, () => {
      const run = runScenario('reinjection-dropped', { backend });
      expect(mem(run, 'irqs')).toBe(0);
      expect(run.lost).toBe(1);
      expect(run.machine.explain(0, 0x41).reason).toBe('reinjection-dropped');
      expect(run.notes).toEqual(['device interrupts handled: 0 of 2; deliveries cut short by an exit: 1, re-injected: 0']);
    });
  }
});
