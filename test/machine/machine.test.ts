import { describe, expect, it } from 'vitest';
import type { GuestProgram, Instr } from '../../src/guest/program.js';
import type { BackendName } from '../../src/inject/backend.js';
import { Machine } from '../../src/machine/machine.js';

const ALL: BackendName[] = ['svm-event', 'svm-vintr', 'vmx-event', 'vmx-vid', 'vmx-posted'];
const ENABLE: Instr = { op: 'mmio-write', offset: 0xf0, value: 0x1ff };

/** An IPI ping-pong: each side answers the other's IPI, `rounds` times. */
function pingPong(backend: BackendName, rounds: number, seed = 1, jitter = 0): Machine {
  const m = new Machine({ cpus: 2, backend, seed, costs: { jitter } });
  const side = (me: number, other: number, starts: boolean): GuestProgram => ({
    main: [
      ENABLE,
      ...(starts ? [{ op: 'ipi', dest: other, vector: 0x50 } as Instr] : []),
      { op: 'sti' },
      { op: 'wait', var: `got${me}`, cmp: 'ge', value: rounds },
      { op: 'done' },
    ],
    handlers: {
      0x50: [
        { op: 'inc', var: `got${me}` },
        { op: 'eoi' },
        { op: 'branch', var: `got${me}`, cmp: 'ge', value: starts ? rounds : rounds + 1, to: 4 },
        { op: 'ipi', dest: other, vector: 0x50 },
        { op: 'iret' },
      ],
    },
  });
  m.load(0, side(0, 1, true));
  m.load(1, side(1, 0, false));
  return m;
}

describe('Machine: IPI ping-pong', () => {
  it.each(ALL.filter((b) => b !== 'svm-vintr'))('%s completes every round with nothing lost', (backend) => {
    const m = pingPong(backend, 20);
    const r = m.run(100_000_000);
    expect(r.reason).toBe('all-done');
    expect(m.memory.get('got0')).toBe(20);
    expect(m.memory.get('got1')).toBe(20);
    const t = m.stats().total;
    expect(t.lost).toBe(0);
    expect(t.doubled).toBe(0);
    expect(t.delivered).toBe(40);
  });

  it('posted interrupts cost fewer exits than event injection for the same ping-pong', () => {
    const posted = pingPong('vmx-posted', 20);
    posted.run(100_000_000);
    const event = pingPong('vmx-event', 20);
    event.run(100_000_000);
    const p = posted.stats().total;
    const e = event.stats().total;
    expect(p.exitCount).toBeLessThan(e.exitCount);
    expect(p.exits['external-interrupt']).toBe(0);
    expect(e.exits['external-interrupt'] + e.exits.hlt + e.exits['interrupt-window']).toBeGreaterThan(0);
    expect(p.virtualDeliveries).toBe(40);
    expect(e.injections).toBe(40);
  });
});

describe('Machine: determinism', () => {
  it('two runs with the same seed give the same trace hash', () => {
    const a = pingPong('vmx-vid', 10, 42, 0.5);
    a.run(100_000_000);
    const b = pingPong('vmx-vid', 10, 42, 0.5);
    b.run(100_000_000);
    expect(a.trace.hash()).toBe(b.trace.hash());
    expect(a.trace.length).toBeGreaterThan(50);
  });

  it('different seeds give different jittered timings', () => {
    const a = pingPong('vmx-vid', 10, 1, 0.5);
    a.run(100_000_000);
    const b = pingPong('vmx-vid', 10, 2, 0.5);
    b.run(100_000_000);
    expect(a.trace.hash()).not.toBe(b.trace.hash());
  });

  it('without jitter the seed does not matter', () => {
    const a = pingPong('svm-event', 5, 1);
    a.run(100_000_000);
    const b = pingPong('svm-event', 5, 99);
    b.run(100_000_000);
    expect(a.trace.hash()).toBe(b.trace.hash());
  });
});

describe('Machine: EOI-exit bitmap under VMX virtual-interrupt delivery', () => {
  function levelDevice(backend: BackendName): Machine {
    const m = new Machine({ cpus: 1, backend });
    // I/O APIC pin 20: level, active low, vector 0x61, CPU 0; the handler deasserts, EOIs.
    m.load(0, {
      main: [
        ENABLE,
        { op: 'set', var: 'x', value: 0 },
        { op: 'sti' },
        { op: 'hlt' },
        { op: 'jump', to: 3 },
      ],
      handlers: { 0x61: [{ op: 'inc', var: 'level' }, { op: 'eoi' }, { op: 'iret' }], 0x62: [{ op: 'inc', var: 'edge' }, { op: 'eoi' }, { op: 'iret' }] },
    });
    const io = m.platform.ioapic;
    io.writeRegister(0, 0x10 + 2 * 20);
    io.writeRegister(0x10, 0xa000 | 0x61);
    m.at(10_000, { kind: 'irq', gsi: 20, level: true });
    m.at(12_000, { kind: 'irq', gsi: 20, level: false });
    m.at(30_000, { kind: 'msi', address: 0xfee00000, data: 0x62 });
    return m;
  }

  it('a level-triggered vector from the I/O APIC exits on EOI; an edge vector does not', () => {
    const m = levelDevice('vmx-vid');
    m.run(100_000);
    const s = m.stats().cpus[0]!;
    expect(m.memory.get('level')).toBe(1);
    expect(m.memory.get('edge')).toBe(1);
    expect(s.exits['eoi-induced']).toBe(1);
    expect(m.platform.ioapic.remoteIrr(20)).toBe(false);
  });

  it('under event injection every EOI exits as an APIC access', () => {
    const m = levelDevice('vmx-event');
    m.run(100_000);
    expect(m.stats().cpus[0]!.exits['eoi-induced']).toBe(0);
    expect(m.platform.ioapic.remoteIrr(20)).toBe(false);
  });
});

describe('Machine: HLT', () => {
  it('HLT with IF = 0 is not ended by an interrupt, but by an NMI', () => {
    const m = new Machine({ cpus: 2, backend: 'vmx-event' });
    m.load(0, { main: [ENABLE, { op: 'hlt' }, { op: 'record', label: 'woke' }, { op: 'done' }], nmi: [{ op: 'iret' }] });
    m.lapic(0).writeRegister(0xf0, 0x1ff);
    m.lapic(1).writeRegister(0xf0, 0x1ff);
    m.run(5_000);
    m.lapic(1).writeRegister(0x310, 0);
    m.lapic(1).writeRegister(0x300, 0x41); // fixed 0x41 to CPU 0
    m.run(50_000);
    expect(m.trace.filter('record', 0)).toEqual([]);
    m.lapic(1).writeRegister(0x300, 0x400); // NMI
    const r = m.run(100_000);
    expect(m.trace.filter('record', 0).length).toBe(1);
    expect(r.reason).toBe('all-done');
  });

  it('a machine whose vCPUs all halted for good stops early as idle', () => {
    const m = new Machine({ cpus: 1, backend: 'svm-event' });
    m.load(0, { main: [{ op: 'hlt' }] });
    const r = m.run(1_000_000_000);
    expect(r.reason).toBe('idle');
    expect(r.timeNs).toBeLessThan(1_000_000);
  });
});

describe('Machine: timers, devices and boot', () => {
  it.each(ALL)('%s delivers periodic LAPIC timer interrupts to the guest', (backend) => {
    const m = new Machine({ cpus: 1, backend });
    m.load(0, {
      main: [
        ENABLE,
        { op: 'mmio-write', offset: 0x3e0, value: 0xb },
        { op: 'mmio-write', offset: 0x320, value: 0x20000 | 0xec },
        { op: 'mmio-write', offset: 0x380, value: 500_000 },
        { op: 'sti' },
        { op: 'wait', var: 'ticks', cmp: 'ge', value: 5 },
        { op: 'done' },
      ],
      handlers: { 0xec: [{ op: 'inc', var: 'ticks' }, { op: 'eoi' }, { op: 'iret' }] },
    });
    const r = m.run(10_000_000);
    expect(r.reason).toBe('all-done');
    expect(m.memory.get('ticks')).toBe(5);
    expect(m.stats().total.lost).toBe(0);
  });

  it('APs start with INIT-SIPI-SIPI from the BSP and run their programs', () => {
    const m = new Machine({ cpus: 3, backend: 'vmx-posted' });
    m.load(0, {
      main: [
        ENABLE,
        { op: 'ipi', dest: 0, vector: 0, mode: 'init', shorthand: 'others' },
        { op: 'ipi', dest: 0, vector: 0x10, mode: 'sipi', shorthand: 'others' },
        { op: 'ipi', dest: 0, vector: 0x10, mode: 'sipi', shorthand: 'others' },
        { op: 'wait', var: 'up', cmp: 'eq', value: 2 },
        { op: 'done' },
      ],
    });
    const ap: GuestProgram = { main: [{ op: 'inc', var: 'up' }, { op: 'done' }], waitForSipi: true };
    m.load(1, ap);
    m.load(2, ap);
    const r = m.run(10_000_000);
    expect(r.reason).toBe('all-done');
    expect(m.memory.get('up')).toBe(2);
    expect(m.trace.filter('sipi').map((e) => e.cpu)).toEqual([1, 2]);
  });

  it('x2APIC guests send IPIs and EOIs through MSRs', () => {
    const m = new Machine({ cpus: 2, backend: 'vmx-vid', x2apic: true });
    m.load(0, { main: [{ op: 'wrmsr', msr: 0x80f, lo: 0x1ff }, { op: 'ipi', dest: 1, vector: 0x70 }, { op: 'done' }] });
    m.load(1, {
      main: [{ op: 'wrmsr', msr: 0x80f, lo: 0x1ff }, { op: 'sti' }, { op: 'wait', var: 'h', cmp: 'eq', value: 1 }, { op: 'self-ipi', vector: 0x71 }, { op: 'wait', var: 'h', cmp: 'eq', value: 2 }, { op: 'done' }],
      handlers: { 0x70: [{ op: 'inc', var: 'h' }, { op: 'eoi' }, { op: 'iret' }], 0x71: [{ op: 'inc', var: 'h' }, { op: 'eoi' }, { op: 'iret' }] },
    });
    const r = m.run(1_000_000);
    expect(r.reason).toBe('all-done');
    const s = m.stats().cpus[1]!;
    expect(s.exits.msr).toBe(1); // only the SVR write; EOIs and the SELF IPI are virtualized
    expect(s.delivered).toBe(2);
  });
});

describe('Machine: explain and misuse', () => {
  it('explains a V_IRQ delivery the hypervisor has not seen yet', () => {
    const m = new Machine({ cpus: 1, backend: 'svm-vintr' });
    m.load(0, { main: [ENABLE, { op: 'sti' }, { op: 'work', ns: 100_000 }], handlers: { 0x45: [{ op: 'work', ns: 50_000 }, { op: 'eoi' }, { op: 'iret' }] } });
    m.run(5_000);
    m.platform.sendMsi(0xfee00000, 0x45);
    m.run(20_000);
    expect(m.explain(0, 0x45).reason).toBe('vintr-taken-unsynced');
  });

  it('explains a guest running with IF = 0', () => {
    const m = new Machine({ cpus: 1, backend: 'vmx-event' });
    m.load(0, { main: [ENABLE, { op: 'work', ns: 100_000 }] });
    m.run(5_000);
    m.lapic(0).acceptInterrupt(0x45, false);
    expect(m.explain(0, 0x45).reason).toBe('guest-if-clear');
  });

  it('rejects unknown backends, bad CPUs, bad programs and past times', () => {
    expect(() => new Machine({ cpus: 1, backend: 'svm-avic' as never })).toThrow(/backend/);
    expect(() => new Machine({ cpus: 1, backend: 'vmx-vid', costs: { vmExitNs: -1 } })).toThrow(/vmExitNs/);
    expect(() => new Machine({ cpus: 1, backend: 'vmx-vid', costs: { warp: 1 } as never })).toThrow(/warp/);
    const m = new Machine({ cpus: 1, backend: 'vmx-vid' });
    expect(() => m.load(1, { main: [] })).toThrow(/cpu/);
    m.load(0, { main: [{ op: 'work', ns: 1000 }] });
    expect(() => m.load(0, { main: [{ op: 'nope' } as never] })).toThrow(TypeError);
    m.run(100);
    expect(() => m.run(50)).toThrow(/untilNs/);
    expect(() => m.at(10, { kind: 'irq', gsi: 1, level: true })).toThrow(/atNs/);
  });
});
