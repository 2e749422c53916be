import { describe, expect, it } from 'vitest';
import { BACKEND_NAMES, Machine, type BackendName } from '../../src/index.js';
import type { GuestProgram, Instr } from '../../src/guest/program.js';

const GP = 13;
const PF = 14;
const DF = 8;
const DB = 1;
const SVR_ON: Instr = { op: 'mmio-write', offset: 0xf0, value: 0x1ff };
/** LVT LINT1: NMI delivery mode, unmasked (the NMI line of `at(..., { kind: 'nmi' })`). */
const LINT1_NMI: Instr = { op: 'mmio-write', offset: 0x360, value: 0x400 };
/** LVT LINT0: ExtINT, unmasked (virtual wire to the 8259A). */
const LINT0_EXTINT: Instr = { op: 'mmio-write', offset: 0x350, value: 0x700 };
const out = (port: number, value: number): Instr => ({ op: 'out', port, value });
/** The master 8259A at base 0x20, only IR0 unmasked. */
const PIC_INIT: Instr[] = [out(0x20, 0x11), out(0x21, 0x20), out(0x21, 0x04), out(0x21, 0x01), out(0x21, 0xfe)];
/** x2APIC ICR (MSR 0x830) is write-only: RDMSR of it is answered with #GP (SDM "x2APIC Register Availability"). */
const BAD_RDMSR: Instr = { op: 'rdmsr', msr: 0x830 };
const X2APIC_ON: Instr = { op: 'wrmsr', msr: 0x1b, lo: 0xfee0_0c00 };

/** Entries into handlers, in trace order, as short labels. */
function handlerEntries(m: Machine, fromNs = 0): string[] {
  return m.trace
    .events()
    .filter((e) => e.timeNs >= fromNs && (e.kind === 'deliver' || e.kind === 'exception' || e.kind === 'nmi'))
    .map((e) => (e.kind === 'nmi' ? 'nmi' : e.kind === 'exception' ? `exception ${e.a}` : `${e.b === 1 ? 'extint' : 'lapic'} 0x${e.a.toString(16)}`));
}

describe('injection order at one VM entry: re-injection, then the queued exception, then NMI, then ExtINT, then the local APIC', () => {
  const program: GuestProgram = {
    main: [SVR_ON, LINT1_NMI, ...PIC_INIT, LINT0_EXTINT, { op: 'unmap-idt' }, { op: 'sti' }, { op: 'work', ns: 300_000 }, { op: 'done' }],
    handlers: {
      0x20: [out(0x20, 0x20), { op: 'iret' }],
      0x41: [{ op: 'eoi' }, { op: 'iret' }],
      0x42: [{ op: 'eoi' }, { op: 'iret' }],
    },
    nmi: [{ op: 'iret' }],
    exceptions: { [GP]: [{ op: 'inc', var: 'gp' }, { op: 'iret' }] },
  };
  function machine(backend: BackendName): Machine {
    const m = new Machine({ cpus: 1, backend, hypervisorExceptions: true });
    m.load(0, program);
    m.at(50_000, { kind: 'msi', address: 0xfee0_0000, data: 0x41 }); // its delivery exits on the unmapped IDT
    return m;
  }

  for (const backend of BACKEND_NAMES) {
    it(`${backend}: handlers are entered as re-injected 0x41, #GP, NMI, ExtINT 0x20, LAPIC 0x42`, () => {
      const probe = machine(backend);
      probe.run(400_000);
      const t = probe.trace.filter('vectoring', 0)[0]!.timeNs;
      const m = machine(backend);
      // Between the exit that cut 0x41 short and the next entry (1 us later) everything else arrives.
      m.at(t + 1, { kind: 'nmi', level: true });
      m.at(t + 1, { kind: 'irq', gsi: 0, level: true });
      m.at(t + 1, { kind: 'msi', address: 0xfee0_0000, data: 0x42 });
      m.run(t + 2);
      expect(m.trace.filter('entry', 0).filter((e) => e.timeNs > t).length).toBe(0); // still exited
      m.backend.queueException(0, GP, 0); // what the hypervisor's emulation queued
      m.run(400_000);
      expect(handlerEntries(m, t)).toEqual(['lapic 0x41', `exception ${GP}`, 'nmi', 'extint 0x20', 'lapic 0x42']);
      expect(m.memory.get('gp')).toBe(1);
      const s = m.stats().cpus[0]!;
      expect([s.lost, s.doubled]).toEqual([0, 0]);
    });
  }
});

/** x2APIC Version (MSR 0x803) is read-only: WRMSR to it is answered with #GP (SDM "x2APIC Register Availability"). */
const BAD_WRMSR: Instr = { op: 'wrmsr', msr: 0x803, lo: 0 };
const FAULTING: GuestProgram = {
  main: [BAD_WRMSR, { op: 'work', ns: 20_000 }, { op: 'done' }],
  exceptions: { [GP]: [{ op: 'inc', var: 'gp' }, { op: 'iret' }] },
};

function faulting(backend: BackendName, hypervisorExceptions?: boolean): Machine {
  const m = new Machine({ cpus: 1, backend, x2apic: true, ...(hypervisorExceptions === undefined ? {} : { hypervisorExceptions }) });
  m.load(0, FAULTING);
  return m;
}

/** The time of the vCPU's first 'msr' exit. */
function msrExitAt(backend: BackendName): number {
  const probe = faulting(backend, true);
  probe.run(100_000);
  return probe.trace.filter('exit', 0).find((e) => e.label === 'msr')!.timeNs;
}

describe('a guest x2APIC MSR access the hypervisor emulates and the local APIC refuses queues #GP(0) for the next entry (hypervisorExceptions)', () => {
  for (const backend of BACKEND_NAMES) {
    it(`${backend}: the WRMSR to the read-only x2APIC Version register exits, and the entry after it injects #GP(0): program.exceptions[13] runs once`, () => {
      const m = faulting(backend, true);
      m.run(100_000);
      expect(m.memory.get('gp')).toBe(1);
      expect(m.trace.filter('exception', 0).map((e) => [e.a, e.b])).toEqual([[GP, 0]]);
      expect(m.trace.filter('inject', 0).map((e) => [e.a, e.b])).toEqual([[GP, 3]]);
      const s = m.stats().cpus[0]!;
      expect([s.exits.msr, s.faults, s.injections, s.handlerEntries]).toEqual([1, 1, 1, 1]);
      expect(m.backend.queuedExceptions(0)).toEqual([]);
    });

    it(`${backend}: without the option the #GP is only counted in faults (no handler, no injection)`, () => {
      for (const m of [faulting(backend), faulting(backend, false)]) {
        m.run(100_000);
        expect(m.memory.get('gp')).toBeUndefined();
        const s = m.stats().cpus[0]!;
        expect([s.exits.msr, s.faults, s.injections, s.handlerEntries]).toEqual([1, 1, 0, 0]);
      }
    });
  }

  it('a halted vCPU with a queued exception is woken for it (the exception is injected, then HLT resumes)', () => {
    const m = new Machine({ cpus: 1, backend: 'vmx-event', x2apic: true, hypervisorExceptions: true });
    m.load(0, { main: [{ op: 'cli' }, BAD_WRMSR, { op: 'hlt' }, { op: 'done' }], exceptions: { [GP]: [{ op: 'inc', var: 'gp' }, { op: 'iret' }] } });
    m.run(100_000);
    expect(m.memory.get('gp')).toBe(1);
  });
});

describe('queued exceptions merge by the double-fault table (SDM "Conditions for Generating a Double Fault"; KVM kvm_multiple_exception)', () => {
  const queue = (...vectors: number[]): Array<{ vector: number; errorCode: number }> => {
    const m = new Machine({ cpus: 1, backend: 'svm-event', hypervisorExceptions: true });
    for (const v of vectors) m.backend.queueException(0, v, 7);
    return m.backend.queuedExceptions(0).map((e) => ({ ...e }));
  };
  it('contributory then contributory (#GP, #GP) -> #DF(0)', () => {
    expect(queue(GP, GP)).toEqual([{ vector: DF, errorCode: 0 }]);
  });
  it('page fault then contributory (#PF, #GP) -> #DF(0)', () => {
    expect(queue(PF, GP)).toEqual([{ vector: DF, errorCode: 0 }]);
  });
  it('page fault then page fault (#PF, #PF) -> #DF(0)', () => {
    expect(queue(PF, PF)).toEqual([{ vector: DF, errorCode: 0 }]);
  });
  it('contributory then page fault (#GP, #PF) -> serially: the #PF waits behind the #GP', () => {
    expect(queue(GP, PF)).toEqual([{ vector: GP, errorCode: 7 }, { vector: PF, errorCode: 7 }]);
  });
  it('benign first (#DB, #GP) -> serially: the new one waits', () => {
    expect(queue(DB, GP)).toEqual([{ vector: DB, errorCode: 7 }, { vector: GP, errorCode: 7 }]);
  });
  it('a benign one on a contributory one (#GP, #DB) -> serially', () => {
    expect(queue(GP, DB)).toEqual([{ vector: GP, errorCode: 7 }, { vector: DB, errorCode: 7 }]);
  });

  for (const backend of BACKEND_NAMES) {
    it(`${backend}: a contributory exception queued on a queued #DF is a triple fault: the next entry shuts the vCPU down`, () => {
      const t = msrExitAt(backend);
      const m = faulting(backend, true);
      m.run(t + 1); // the #GP of the WRMSR is queued; the entry is 1 us away
      expect(m.backend.queuedExceptions(0)).toEqual([{ vector: GP, errorCode: 0 }]);
      m.backend.queueException(0, GP, 0); // -> #DF
      m.backend.queueException(0, GP, 0); // on the #DF -> triple fault
      m.run(100_000);
      expect(m.vcpus[0]!.state).toBe('shutdown');
      expect(m.stats().cpus[0]!.exits.shutdown).toBe(1);
      expect(m.memory.get('gp')).toBeUndefined();
      expect(m.trace.filter('fault', 0).map((e) => e.label)).toContain('triple fault');
    });
  }

  it('two queued serial exceptions are injected at two entries, oldest first (the hypervisor forces an exit for the second)', () => {
    const t = msrExitAt('vmx-event');
    const m = faulting('vmx-event', true);
    m.load(0, { ...FAULTING, exceptions: { [GP]: [{ op: 'inc', var: 'gp' }, { op: 'iret' }], [DB]: [{ op: 'inc', var: 'db' }, { op: 'iret' }] } });
    m.run(t + 1);
    m.backend.queueException(0, DB, 0);
    m.run(100_000);
    expect(m.trace.filter('exception', 0).map((e) => e.a)).toEqual([GP, DB]);
    expect([m.memory.get('gp'), m.memory.get('db')]).toEqual([1, 1]);
  });
});

describe('hypervisorExceptions: validation and snapshots', () => {
  it('a non-boolean option is host misuse: TypeError naming it, no machine', () => {
    expect(() => new Machine({ cpus: 1, backend: 'vmx-event', hypervisorExceptions: 'yes' as unknown as boolean })).toThrow(/hypervisorExceptions/);
    expect(() => new Machine({ cpus: 1, backend: 'vmx-event', hypervisorExceptions: 1 as unknown as boolean })).toThrow(TypeError);
  });

  it('queueException with a vector that is not an exception, or a bad cpu / error code, throws RangeError and queues nothing', () => {
    const m = new Machine({ cpus: 1, backend: 'vmx-vid', hypervisorExceptions: true });
    expect(() => m.backend.queueException(0, 2, 0)).toThrow(RangeError); // NMI
    expect(() => m.backend.queueException(0, 32, 0)).toThrow(RangeError);
    expect(() => m.backend.queueException(0, 1.5, 0)).toThrow(RangeError);
    expect(() => m.backend.queueException(1, GP, 0)).toThrow(RangeError);
    expect(() => m.backend.queueException(0, GP, -1)).toThrow(RangeError);
    expect(m.backend.queuedExceptions(0)).toEqual([]);
  });

  for (const backend of BACKEND_NAMES) {
    it(`${backend}: a snapshot with a queued #GP restores with it and runs on exactly (same trace)`, () => {
      const t = msrExitAt(backend);
      const m = faulting(backend, true);
      m.run(t + 1);
      const copy = Machine.restore(m.snapshot());
      expect(copy.backend.queuedExceptions(0)).toEqual([{ vector: GP, errorCode: 0 }]);
      expect(copy.backend.hypervisorExceptions).toBe(true);
      m.run(100_000);
      copy.run(100_000);
      expect(copy.trace.hash()).toBe(m.trace.hash());
      expect(copy.memory.get('gp')).toBe(1);
    });
  }
});

describe('older snapshots restore (backend layout 2, before queued exceptions)', () => {
  it('a layout-2 snapshot with a pending re-injection restores with an empty queue and runs on exactly as it did', async () => {
    const fixture = (await import('../snapshot/fixtures/backend-layout2.json', { with: { type: 'json' } })).default as { bytes: string; hashAt1ms: string; irqs: number };
    const m = Machine.restore(Uint8Array.from(fixture.bytes.match(/../g)!.map((b) => parseInt(b, 16))));
    expect(m.backend.hypervisorExceptions).toBe(false);
    expect(m.backend.queuedExceptions(0)).toEqual([]);
    m.run(1_000_000);
    expect(m.trace.hash()).toBe(fixture.hashAt1ms);
    expect(m.memory.get('irqs')).toBe(fixture.irqs);
  });
});
