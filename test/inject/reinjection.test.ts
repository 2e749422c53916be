import { describe, expect, it } from 'vitest';
import { BACKEND_NAMES, Machine, type BackendName } from '../../src/index.js';
import type { GuestProgram } from '../../src/guest/program.js';

const SVR_ON = { op: 'mmio-write', offset: 0xf0, value: 0x1ff } as const;
/** LVT LINT1: NMI delivery mode, unmasked (the NMI line of `at(..., { kind: 'nmi' })`). */
const LINT1_NMI = { op: 'mmio-write', offset: 0x360, value: 0x400 } as const;
/** An MSI to APIC 0 with vector 0x41 at 50 us, while vCPU 0 works with IF = 1. */
const PROGRAM: GuestProgram = {
  main: [SVR_ON, { op: 'unmap-idt' }, { op: 'sti' }, { op: 'work', ns: 200_000 }, { op: 'done' }],
  handlers: { 0x41: [{ op: 'inc', var: 'irqs' }, { op: 'eoi' }, { op: 'iret' }] },
};

function device(backend: BackendName, dropReinjection = false, program = PROGRAM): Machine {
  const m = new Machine({ cpus: 1, backend, dropReinjection });
  m.load(0, program);
  m.at(50_000, { kind: 'msi', address: 0xfee0_0000, data: 0x41 });
  return m;
}

const exitOf = (b: BackendName): 'npf' | 'ept-violation' => (b.startsWith('svm') ? 'npf' : 'ept-violation');

describe('re-injection of an interrupt whose delivery exited on the IDT page (VMX IDT-vectoring information, SVM EXITINTINFO)', () => {
  for (const backend of BACKEND_NAMES) {
    it(`${backend}: the exit reports the vector and the next entry re-injects it; nothing lost or doubled`, () => {
      const m = device(backend);
      m.run(1_000_000);
      const s = m.stats().cpus[0]!;
      expect(s.exits[exitOf(backend)]).toBe(1);
      expect(m.trace.filter('vectoring', 0).map((e) => [e.a, e.b])).toEqual([[0x41, 0]]);
      expect(m.trace.filter('reinject', 0).map((e) => [e.a, e.label])).toEqual([[0x41, undefined]]);
      expect(m.memory.get('irqs')).toBe(1);
      expect([s.delivered, s.lost, s.doubled]).toEqual([1, 0, 0]);
      // The re-injection comes right after the exit's entry, before the handler runs.
      const kinds = m.trace.events().filter((e) => ['vectoring', 'exit', 'entry', 'reinject', 'deliver'].includes(e.kind)).map((e) => e.kind);
      const at = kinds.indexOf('vectoring');
      expect(kinds.slice(at, at + 5)).toEqual(['vectoring', 'exit', 'entry', 'reinject', 'deliver']);
    });

    it(`${backend}: with dropReinjection the interrupt is lost, the checker reports it and explain() names the reason`, () => {
      const m = device(backend, true);
      m.run(1_000_000);
      const s = m.stats().cpus[0]!;
      expect(m.trace.filter('reinject', 0).map((e) => [e.a, e.label])).toEqual([[0x41, 'dropped']]);
      expect(m.memory.get('irqs')).toBeUndefined();
      expect([s.delivered, s.lost]).toEqual([0, 1]);
      expect(m.trace.filter('lost', 0).map((e) => e.a)).toEqual([0x41]);
      expect(m.explain(0, 0x41).reason).toBe('reinjection-dropped');
    });

    it(`${backend}: between the exit and the next entry explain() says pending-reinjection`, () => {
      const probe = device(backend);
      probe.run(1_000_000);
      const t = probe.trace.filter('vectoring', 0)[0]!.timeNs;
      const m = device(backend);
      m.run(t + 1);
      expect(m.explain(0, 0x41).reason).toBe('pending-reinjection');
      m.run(1_000_000);
      expect(m.memory.get('irqs')).toBe(1);
    });
  }

  it('vmx-vid: the virtual interrupt had already moved from RVI to SVI (vIRR -> vISR) when the delivery exited; it is re-injected with vISR left set', () => {
    const probe = device('vmx-vid');
    probe.run(1_000_000);
    const t = probe.trace.filter('vectoring', 0)[0]!.timeNs;
    const m = device('vmx-vid');
    m.run(t + 1);
    const lapic = m.lapic(0);
    expect([lapic.isRequested(0x41), lapic.isInService(0x41)]).toEqual([false, true]);
    m.run(1_000_000);
    expect(m.stats().cpus[0]!.virtualDeliveries).toBe(1); // the hardware's attempt
    expect(m.trace.filter('reinject', 0).length).toBe(1); // the hypervisor's event injection
    expect(m.stats().cpus[0]!.lost).toBe(0);
  });

  it('vmx-posted: a posted interrupt processed in guest mode whose delivery exited is re-injected', () => {
    const m = device('vmx-posted');
    m.run(1_000_000);
    const s = m.stats().cpus[0]!;
    expect(s.posted).toBe(1);
    expect(s.notifications).toBe(1);
    expect([s.delivered, s.lost]).toEqual([1, 0]);
  });

  for (const backend of BACKEND_NAMES) {
    it(`${backend}: an exception whose delivery exited is re-injected with its error code`, () => {
      const m = new Machine({ cpus: 1, backend });
      m.load(0, {
        main: [{ op: 'unmap-idt' }, { op: 'exception', vector: 13, errorCode: 0x18 }, { op: 'done' }],
        exceptions: { 13: [{ op: 'inc', var: 'gp' }, { op: 'iret' }] },
      });
      m.run(1_000_000);
      expect(m.trace.filter('vectoring', 0).map((e) => [e.a, e.b])).toEqual([[13, 3]]);
      expect(m.trace.filter('exception', 0).map((e) => [e.a, e.b])).toEqual([[13, 0x18]]);
      expect(m.memory.get('gp')).toBe(1);
    });

    it(`${backend}: an NMI whose delivery exited is re-injected`, () => {
      const m = new Machine({ cpus: 1, backend });
      m.load(0, { main: [SVR_ON, LINT1_NMI, { op: 'unmap-idt' }, { op: 'work', ns: 100_000 }, { op: 'done' }], nmi: [{ op: 'inc', var: 'nmis' }, { op: 'iret' }] });
      m.at(20_000, { kind: 'nmi', level: true });
      m.run(1_000_000);
      expect(m.trace.filter('vectoring', 0).map((e) => [e.a, e.b])).toEqual([[2, 2]]);
      expect(m.memory.get('nmis')).toBe(1);
    });
  }

  it('injection order: the re-injected interrupt goes first; an NMI that arrived meanwhile waits for the NMI window', () => {
    const probe = device('vmx-event');
    probe.run(1_000_000);
    const t = probe.trace.filter('vectoring', 0)[0]!.timeNs;
    const m = device('vmx-event', false, {
      ...PROGRAM,
      main: [SVR_ON, LINT1_NMI, ...PROGRAM.main.slice(1)],
      nmi: [{ op: 'inc', var: 'nmis' }, { op: 'iret' }],
    });
    m.at(t + 1, { kind: 'nmi', level: true });
    m.run(1_000_000);
    const order = m.trace.events().filter((e) => e.kind === 'reinject' || e.kind === 'nmi' || e.kind === 'deliver').map((e) => e.kind);
    expect(order).toEqual(['reinject', 'deliver', 'nmi']);
    expect(m.stats().cpus[0]!.nmiWindows).toBe(1);
    expect([m.memory.get('irqs'), m.memory.get('nmis')]).toEqual([1, 1]);
  });

  it('unmap-idt with deliveries: 2 makes the re-injection exit too; the third attempt delivers', () => {
    const m = device('svm-event', false, { ...PROGRAM, main: [SVR_ON, { op: 'unmap-idt', deliveries: 2 }, ...PROGRAM.main.slice(2)] });
    m.run(1_000_000);
    expect(m.stats().cpus[0]!.exits.npf).toBe(2);
    expect(m.trace.filter('reinject', 0).length).toBe(2);
    expect(m.memory.get('irqs')).toBe(1);
  });

  it('a new request that arrives while a cut-short delivery of its vector waits, whose re-injection is cut short again, is still owed and delivered', () => {
    const twice = { ...PROGRAM, main: [SVR_ON, { op: 'unmap-idt', deliveries: 2 }, ...PROGRAM.main.slice(2)] } as GuestProgram;
    const probe = device('svm-event', false, twice);
    probe.run(1_000_000);
    const t = probe.trace.filter('vectoring', 0)[0]!.timeNs;
    const m = device('svm-event', false, twice);
    m.at(t + 1, { kind: 'msi', address: 0xfee0_0000, data: 0x41 });
    m.run(1_000_000);
    const s = m.stats().cpus[0]!;
    expect(m.trace.filter('vectoring', 0).length).toBe(2);
    expect([s.requests, s.delivered, s.lost, s.doubled]).toEqual([2, 2, 0, 0]);
    expect(m.memory.get('irqs')).toBe(2);
  });

  it('a halted vCPU whose injected interrupt exited is re-entered for the re-injection', () => {
    const m = device('vmx-event', false, { ...PROGRAM, main: [SVR_ON, { op: 'unmap-idt' }, { op: 'sti' }, { op: 'hlt' }, { op: 'done' }] });
    m.run(1_000_000);
    expect(m.memory.get('irqs')).toBe(1);
    expect(m.vcpus[0]!.state).toBe('done');
  });
});

describe('snapshots carry the exception and re-injection state (vcpu layout 3, backend layout 2)', () => {
  const fromHex = (hex: string): Uint8Array => Uint8Array.from(hex.match(/../g)!.map((b) => parseInt(b, 16)));

  for (const backend of BACKEND_NAMES) {
    it(`${backend}: a snapshot between the exit and the re-injection restores and runs on exactly (same trace)`, () => {
      const probe = device(backend);
      probe.run(1_000_000);
      const t = probe.trace.filter('vectoring', 0)[0]!.timeNs;
      const m = device(backend);
      m.run(t + 1);
      const copy = Machine.restore(m.snapshot());
      expect(copy.explain(0, 0x41).reason).toBe('pending-reinjection');
      m.run(1_000_000);
      copy.run(1_000_000);
      expect(copy.trace.hash()).toBe(m.trace.hash());
      expect(copy.memory.get('irqs')).toBe(1);
    });
  }

  it('the deliveries unmap-idt still makes exit survive a snapshot', () => {
    const m = device('vmx-event');
    m.run(10_000); // unmap-idt executed, the MSI (50 us) not yet sent
    expect(m.vcpus[0]!.idtUnmapped).toBe(1);
    const copy = Machine.restore(m.snapshot());
    expect(copy.vcpus[0]!.idtUnmapped).toBe(1);
    copy.run(1_000_000);
    expect(copy.stats().cpus[0]!.exits['ept-violation']).toBe(1);
  });

  it('a shut-down vCPU stays shut down after restore', () => {
    const m = new Machine({ cpus: 1, backend: 'svm-event' });
    m.load(0, { main: [{ op: 'exception', vector: 14, errorCode: 2, deliveryFaults: [13, 14] }, { op: 'done' }] });
    m.run(100_000);
    expect(m.vcpus[0]!.state).toBe('shutdown');
    const copy = Machine.restore(m.snapshot());
    expect(copy.vcpus[0]!.state).toBe('shutdown');
    expect(copy.stats().cpus[0]!.exits.shutdown).toBe(1);
  });

  it('dropReinjection is part of the machine: a snapshot restores with it', () => {
    const m = device('vmx-vid', true);
    m.run(1_000);
    const copy = Machine.restore(m.snapshot());
    copy.run(1_000_000);
    expect(copy.stats().cpus[0]!.lost).toBe(1);
  });

  it('an older snapshot (f9f75c5: vcpu layout 1, backend layout 1, 13 exit reasons) still restores, with the new counters at 0', async () => {
    const fixture = (await import('../snapshot/fixtures/f9f75c5.json', { with: { type: 'json' } })).default as { machine: { bytes: string; hashAt1ms: string } };
    const m = Machine.restore(fromHex(fixture.machine.bytes));
    const s = m.stats().cpus[0]!;
    expect([s.exits['ept-violation'], s.exits.npf]).toEqual([0, 0]);
    expect(m.vcpus[0]!.idtUnmapped).toBe(0);
    m.run(1_000_000);
    expect(m.trace.hash()).toBe(fixture.machine.hashAt1ms);
  });
});
