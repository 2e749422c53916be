/**
 * Nested virtualization, one test per rule of docs/nested.md, for VMX and SVM.
 */
import { describe, expect, it } from 'vitest';
import type { BackendName } from '../../src/inject/backend.js';
import { Machine } from '../../src/machine/machine.js';
import {
  brief,
  CODES,
  counting,
  EVENT_BACKENDS,
  exiting,
  isaOf,
  l1Program,
  l2Program,
  mem,
  msi,
  passing,
  runOne,
  story,
  SVM_BACKENDS,
  VMX_BACKENDS,
  type Isa,
} from './helpers.js';

const ALL: readonly BackendName[] = [...VMX_BACKENDS, ...SVM_BACKENDS];
const V = 0x40;

/** The checker's verdict and where it delivered. */
function verdict(m: Machine) {
  const s = m.stats().cpus[0]!;
  return { delivered: s.delivered, toL2: s.deliveredToL2, lost: s.lost, doubled: s.doubled, wrongLevel: s.wrongLevel };
}

describe('rule 1: external-interrupt exiting / INTR intercept without acknowledge-on-exit', () => {
  it.each(ALL)('%s: L2 exits to L1 with no vector; L1 resumes with interrupts disabled and gets the interrupt once it enables them', (backend) => {
    const isa = isaOf(backend);
    const m = runOne(backend, l1Program({ isa, controls: exiting(isa), l2: l2Program(50_000) }), [[10_000, V]]);
    const s = m.stats().cpus[0]!;
    const events = story(m).map(brief);
    // The exit carries no vector; L1's exit handler runs (records) before the interrupt reaches L1.
    const exit = events.indexOf('nested-exit external-interrupt');
    expect(exit).toBeGreaterThan(0);
    expect(events.slice(exit + 1, exit + 3)).toEqual([`record exit ${CODES[isa].external}`, 'record vector -1']);
    const l1Delivery = events.indexOf(`deliver 0x40`);
    expect(l1Delivery).toBeGreaterThan(exit + 2);
    expect(s.nestedExits).toEqual({ 'external-interrupt': 1, 'interrupt-window': 0, shutdown: 1, 'entry-failure': 0 });
    expect(s.ackedOnExit).toBe(0);
    // The kick made L2 exit to L0 first.
    expect(s.exitsFromL2['external-interrupt']).toBe(1);
    if (EVENT_BACKENDS.includes(backend)) {
      // The extra interrupt-window exit: L0 injects into L1 when L1 sets IF (VMX) / GIF (SVM).
      expect(events.slice(l1Delivery - 3, l1Delivery + 1)).toEqual(['exit interrupt-window', 'entry', 'inject 0x40', 'deliver 0x40']);
      expect(s.exits['interrupt-window']).toBe(1);
    } else {
      // APIC virtualization / V_IRQ for L1: the processor delivers it when L1 enables interrupts.
      expect(s.exits['interrupt-window']).toBe(0);
      expect(s.virtualDeliveries).toBe(1);
    }
    expect([mem(m, 'l1_64'), mem(m, 'l2_64'), mem(m, 'exits')]).toEqual([1, 0, 2]);
    expect(verdict(m)).toEqual({ delivered: 1, toL2: 0, lost: 0, doubled: 0, wrongLevel: 0 });
  });
});

describe('rule 2: acknowledge interrupt on exit', () => {
  it.each(VMX_BACKENDS)('%s: the exit carries the vector, moved IRR -> ISR at that moment; L1 is not interrupted again for it', (backend) => {
    const program = l1Program({ isa: 'vmx', controls: exiting('vmx', true), l2: l2Program(50_000) });
    const m = runOne(backend, program, [[10_000, V]]);
    const s = m.stats().cpus[0]!;
    const events = story(m).map(brief);
    const exit = events.indexOf('nested-exit external-interrupt 0x40');
    expect(exit).toBeGreaterThan(0);
    expect(events.slice(exit + 1, exit + 3)).toEqual(['record exit 1', 'record vector 64']);
    expect(s.ackedOnExit).toBe(1);
    expect(s.exits['interrupt-window']).toBe(0); // no extra window exit
    expect(s.virtualDeliveries + s.injections).toBe(0); // never injected into L1 either
    expect([mem(m, 'l1_64'), mem(m, 'acked'), mem(m, 'l2_64')]).toEqual([0, 1, 0]);
    expect(verdict(m)).toEqual({ delivered: 1, toL2: 0, lost: 0, doubled: 0, wrongLevel: 0 });

    // At the exit the vector is in ISR and out of IRR.
    const at = m.trace.filter('nested-exit', 0).find((e) => e.label === 'external-interrupt')!.timeNs;
    const again = new Machine({ cpus: 1, backend });
    again.load(0, program);
    again.at(10_000, msi(0, V));
    again.run(at);
    expect([again.lapic(0).isInService(V), again.lapic(0).isRequested(V)]).toEqual([true, false]);
  });

  it.each(VMX_BACKENDS)('%s: the vector is the highest unmasked one from the virtual IRR (TPR masks the lower)', (backend) => {
    // L1 raises TPR to class 5: 0x40 is masked, 0x60 is not. Both arrive together.
    const program = l1Program({ isa: 'vmx', controls: exiting('vmx', true), l2: l2Program(50_000), prefix: [{ op: 'cr8-write', value: 5 }] });
    const m = runOne(backend, program, [[10_000, 0x40], [10_000, 0x60]]);
    expect(m.trace.filter('nested-exit', 0).map((e) => [e.label, e.a])).toEqual([['external-interrupt', 0x60], ['shutdown', -1]]);
    expect(m.lapic(0).isRequested(0x40)).toBe(true); // still owed, still held: not lost
    expect(verdict(m)).toEqual({ delivered: 1, toL2: 0, lost: 0, doubled: 0, wrongLevel: 0 });
  });

  it.each(VMX_BACKENDS)('%s: of two pending vectors the exit acknowledges the higher; L1 takes the other when it enables interrupts', (backend) => {
    const m = runOne(backend, l1Program({ isa: 'vmx', controls: exiting('vmx', true), l2: l2Program(50_000) }), [[10_000, 0x40], [10_000, 0x60]]);
    expect(m.trace.filter('nested-exit', 0).map((e) => e.a)).toEqual([0x60, -1]);
    expect([mem(m, 'acked'), mem(m, 'l1_96'), mem(m, 'l1_64')]).toEqual([1, 0, 1]);
    // A window exit only for the vector the exit did not carry (event injection), none for 0x60.
    expect(m.stats().cpus[0]!.exits['interrupt-window']).toBe(backend === 'vmx-event' ? 1 : 0);
    expect(verdict(m)).toEqual({ delivered: 2, toL2: 0, lost: 0, doubled: 0, wrongLevel: 0 });
  });

  it.each(SVM_BACKENDS)('%s: SVM has no acknowledge-on-exit: rejected at load, and #VMEXIT(INTR) never carries a vector', (backend) => {
    const m = new Machine({ cpus: 1, backend });
    const bad = l1Program({ isa: 'vmx', controls: { extIntExiting: true, ackOnExit: true }, l2: l2Program(1000) });
    expect(() => m.load(0, bad)).toThrow(/program\.main\[\d\]\.controls\.extIntExiting: the control extIntExiting is VMX; backend svm-\w+ is SVM/);
    const run = runOne(backend, l1Program({ isa: 'svm', controls: exiting('svm'), l2: l2Program(50_000) }), [[10_000, V]]);
    expect(run.trace.filter('nested-exit', 0).map((e) => [e.label, e.a])).toEqual([['external-interrupt', -1], ['shutdown', -1]]);
    expect(run.stats().cpus[0]!.ackedOnExit).toBe(0);
  });
});

describe('rule 3: without exiting, L0 injects into L2 through the normal path', () => {
  it.each(ALL)('%s: L1\'s vector reaches L2\'s handler for it; no exit to L1', (backend) => {
    const isa = isaOf(backend);
    const m = runOne(backend, l1Program({ isa, controls: passing(isa), l2: l2Program(50_000) }), [[10_000, V]]);
    const s = m.stats().cpus[0]!;
    expect(story(m).map(brief)).toContain('deliver 0x40 L2');
    expect([mem(m, 'l2_64'), mem(m, 'l1_64')]).toEqual([1, 0]);
    expect(s.nestedExits['external-interrupt']).toBe(0);
    expect(s.l2HandlerEntries).toBe(1);
    expect(verdict(m)).toEqual({ delivered: 1, toL2: 1, lost: 0, doubled: 0, wrongLevel: 0 });
    expect(m.lapic(0).isInService(V)).toBe(false); // L2's EOI reached the (passed-through) APIC
  });

  it.each(ALL)('%s: while L2 runs with IF = 0, L0 waits in an interrupt window in L2', (backend) => {
    const isa = isaOf(backend);
    const l2 = l2Program(0, [V], [{ op: 'cli' }, { op: 'work', ns: 20_000 }, { op: 'sti' }, { op: 'work', ns: 20_000 }, { op: 'done' }]);
    const m = runOne(backend, l1Program({ isa, controls: passing(isa), l2 }), [[10_000, V]]);
    const s = m.stats().cpus[0]!;
    expect(s.exitsFromL2['interrupt-window']).toBe(1);
    const deliver = m.trace.filter('deliver', 0).find((e) => e.label === 'L2')!;
    expect(deliver.timeNs).toBeGreaterThan(20_000);
    expect(verdict(m)).toEqual({ delivered: 1, toL2: 1, lost: 0, doubled: 0, wrongLevel: 0 });
  });
});

describe('rule 4: a pending nested run: L0 enters L2 first and keeps the interrupt for the next exit', () => {
  /** L1 makes 0x40 pending for itself while it cannot take it, then launches L2 injecting 0x80. */
  function pendingAtLaunch(isa: Isa, exit: boolean) {
    return l1Program({
      isa,
      controls: exit ? exiting(isa) : passing(isa),
      // L1 runs with IF = 0 (and, on SVM, GIF = 0 from here): the self-IPI stays pending.
      prefix: isa === 'svm' ? [{ op: 'clgi' }, { op: 'self-ipi', vector: V }] : [{ op: 'self-ipi', vector: V }],
      launch: { inject: 0x80, guestIf: true },
      l2: { main: [{ op: 'work', ns: 5_000 }, { op: 'done' }], handlers: { 0x80: [{ op: 'inc', var: 'l2_128' }, { op: 'iret' }], [V]: counting('l2_64') } },
    });
  }

  it.each(ALL)('%s, exiting: the injected event enters L2, an immediate exit, then the exit to L1', (backend) => {
    const isa = isaOf(backend);
    const m = runOne(backend, pendingAtLaunch(isa, true), []);
    const events = story(m).map(brief);
    const launch = events.indexOf('vmlaunch inject 0x80');
    expect(events.slice(launch, launch + 6)).toEqual([
      'vmlaunch inject 0x80',
      'entry', // L0 enters L2 ...
      'inject 0x80',
      'deliver 0x80 L2 from-L1', // ... with what L1 injected,
      'exit L2 request', // exits at once,
      'entry',
    ]);
    expect(events[launch + 6]).toBe('nested-exit external-interrupt'); // and only then exits to L1
    const s = m.stats().cpus[0]!;
    expect(s.immediateExits).toBe(1);
    expect([mem(m, 'l1_64'), mem(m, 'l2_64'), mem(m, 'l2_128')]).toEqual([1, 0, 1]);
    expect(verdict(m)).toEqual({ delivered: 1, toL2: 0, lost: 0, doubled: 0, wrongLevel: 0 });
  });

  it.each(ALL)('%s, no exiting: the injected event first; L1\'s interrupt goes to L2 after the immediate exit', (backend) => {
    const isa = isaOf(backend);
    const m = runOne(backend, pendingAtLaunch(isa, false), []);
    const deliveries = story(m).filter((e) => e.kind === 'deliver').map(brief);
    expect(deliveries).toEqual(['deliver 0x80 L2 from-L1', 'deliver 0x40 L2']);
    expect(m.stats().cpus[0]!.immediateExits).toBe(1);
    expect(verdict(m)).toEqual({ delivered: 1, toL2: 1, lost: 0, doubled: 0, wrongLevel: 0 });
  });

  it('VMX checks the injected interrupt against L2\'s state: with RFLAGS.IF = 0 the VM entry fails', () => {
    const program = pendingAtLaunch('vmx', true);
    const launch = program.main.find((i) => i.op === 'vmlaunch')!;
    if (launch.op === 'vmlaunch') launch.guestIf = false;
    const m = runOne('vmx-event', program, []);
    expect(m.trace.filter('nested-exit', 0)[0]!.label).toBe('entry-failure');
    expect(m.trace.filter('record', 0)[0]!.a).toBe(CODES.vmx.entryFailure);
    expect(mem(m, 'l2_128')).toBe(0);
  });
});

describe('rule 5 (SVM): INTR intercept, V_INTR_MASKING, and L1\'s V_IRQ / VINTR for L2', () => {
  it.each(SVM_BACKENDS)('%s: V_INTR_MASKING with L1\'s IF = 0 at VMRUN: no exit while L2 runs, the interrupt waits for the next exit', (backend) => {
    const m = runOne(backend, l1Program({ isa: 'svm', controls: { interceptIntr: true, vIntrMasking: true }, hostIf: false, l2: l2Program(50_000) }), [[10_000, V]]);
    const s = m.stats().cpus[0]!;
    expect(m.trace.filter('nested-exit', 0).map((e) => e.label)).toEqual(['shutdown']);
    expect(s.exitsFromL2['external-interrupt']).toBe(1); // the kick still reached L0, which held it
    const shutdown = m.trace.filter('nested-exit', 0)[0]!.timeNs;
    const l1 = m.trace.filter('deliver', 0).find((e) => e.a === V)!;
    expect(l1.timeNs).toBeGreaterThan(shutdown);
    expect(l1.label).toBeUndefined();
    expect(verdict(m)).toEqual({ delivered: 1, toL2: 0, lost: 0, doubled: 0, wrongLevel: 0 });
  });

  it.each(SVM_BACKENDS)('%s: V_INTR_MASKING with L1\'s IF = 1: L2\'s IF = 0 does not hold L1\'s interrupt', (backend) => {
    const l2 = l2Program(0, [V], [{ op: 'cli' }, { op: 'work', ns: 50_000 }, { op: 'done' }]);
    const m = runOne(backend, l1Program({ isa: 'svm', controls: { interceptIntr: true, vIntrMasking: true }, l2 }), [[10_000, V]]);
    const exit = m.trace.filter('nested-exit', 0)[0]!;
    expect([exit.label, exit.timeNs < 12_000]).toEqual(['external-interrupt', true]);
    expect(m.stats().cpus[0]!.exitsFromL2['interrupt-window']).toBe(0);
  });

  it.each(SVM_BACKENDS)('%s: without V_INTR_MASKING, L2\'s IF holds it: L0\'s window (VINTR) in L2, then the exit to L1', (backend) => {
    const l2 = l2Program(0, [V], [{ op: 'cli' }, { op: 'work', ns: 20_000 }, { op: 'sti' }, { op: 'work', ns: 20_000 }, { op: 'done' }]);
    const m = runOne(backend, l1Program({ isa: 'svm', controls: { interceptIntr: true, vIntrMasking: false }, l2 }), [[10_000, V]]);
    const s = m.stats().cpus[0]!;
    expect(s.exitsFromL2['interrupt-window']).toBe(1);
    const exit = m.trace.filter('nested-exit', 0)[0]!;
    expect([exit.label, exit.timeNs > 20_000]).toEqual(['external-interrupt', true]);
    expect(verdict(m)).toEqual({ delivered: 1, toL2: 0, lost: 0, doubled: 0, wrongLevel: 0 });
  });

  it.each(SVM_BACKENDS)('%s: L1\'s V_IRQ reaches L2 when L2 enables interrupts, with no exit', (backend) => {
    const l2 = l2Program(0, [0x90], [{ op: 'work', ns: 5_000 }, { op: 'sti' }, { op: 'work', ns: 5_000 }, { op: 'done' }]);
    const m = runOne(backend, l1Program({ isa: 'svm', controls: { interceptIntr: true, vIntrMasking: true }, l2, launch: { vIrq: 0x90 } }), []);
    const d = m.trace.filter('deliver', 0);
    expect(d.map((e) => [e.a, e.b, e.label])).toEqual([[0x90, 3, 'L2']]);
    expect(d[0]!.timeNs).toBeGreaterThan(5_000);
    expect(m.stats().cpus[0]!.exitsFromL2['interrupt-window']).toBe(0);
    expect(mem(m, 'l2_144')).toBe(1);
  });

  it.each(SVM_BACKENDS)('%s: with the VINTR intercept L2 exits to L1 (0x64) instead, V_IRQ still pending', (backend) => {
    const l2 = l2Program(0, [0x90], [{ op: 'work', ns: 5_000 }, { op: 'sti' }, { op: 'work', ns: 5_000 }, { op: 'done' }]);
    const program = l1Program({ isa: 'svm', controls: { interceptIntr: true, vIntrMasking: true, interceptVintr: true }, l2, launch: { vIrq: 0x90 } });
    // L1 takes the V_IRQ back at the VINTR exit (VMRUN with vIrq cleared is not expressible: it
    // stops resuming instead, and checks what it read).
    program.vmexit!.splice(program.vmexit!.length - 1, 0, { op: 'branch', var: 'reason', cmp: 'eq', value: CODES.svm.vintr, to: program.vmexit!.length + 1 });
    const m = runOne(backend, program, []);
    expect(m.trace.filter('nested-exit', 0).map((e) => e.label)).toEqual(['interrupt-window']);
    expect([mem(m, 'reason'), mem(m, 'vIrq'), mem(m, 'l2_144')]).toEqual([CODES.svm.vintr, 0x90, 0]);
    expect(m.stats().cpus[0]!.exitsFromL2['interrupt-window']).toBe(1);
  });

  it.each(SVM_BACKENDS)('%s: L0\'s own interrupt window for L1 leaves L1\'s V_IRQ for L2 alone', (backend) => {
    // L2 runs with IF = 0; L1 posted V_IRQ 0x90 for it; L1's interrupt 0x40 arrives. L0 waits in
    // a VINTR window; when L2 sets IF, L0 exits and reflects INTR to L1, and V_IRQ is still there.
    const l2 = l2Program(0, [0x90], [{ op: 'cli' }, { op: 'work', ns: 20_000 }, { op: 'sti' }, { op: 'work', ns: 20_000 }, { op: 'done' }]);
    const m = runOne(backend, l1Program({ isa: 'svm', controls: { interceptIntr: true, vIntrMasking: false }, l2, launch: { vIrq: 0x90 } }), [[10_000, V]]);
    const s = m.stats().cpus[0]!;
    expect(m.trace.filter('nested-exit', 0).map((e) => e.label)).toEqual(['external-interrupt', 'shutdown']);
    expect(m.trace.filter('record', 0).find((e) => e.label === 'exit')!.a).toBe(CODES.svm.external);
    expect([mem(m, 'l1_64'), mem(m, 'l2_144')]).toEqual([1, 1]); // each level got its own, once
    const vIrq = m.trace.filter('deliver', 0).find((e) => e.a === 0x90)!;
    expect(vIrq.timeNs).toBeGreaterThan(m.trace.filter('nested-exit', 0)[0]!.timeNs);
    expect(s.exitsFromL2['interrupt-window']).toBe(1);
    expect(verdict(m)).toEqual({ delivered: 1, toL2: 0, lost: 0, doubled: 0, wrongLevel: 0 });
  });
});

describe('the delivery checker knows the levels', () => {
  it('an interrupt for L1 delivered to L2 while L1 asked to exit on it is reported at the wrong level', async () => {
    const { DeliveryChecker } = await import('../../src/machine/checker.js');
    const c = new DeliveryChecker(1);
    c.request(0, V, false);
    expect(c.delivered(0, V, 2, false)).toBe('wrong-level');
    expect(c.counts[0]).toMatchObject({ wrongLevel: 1, delivered: 0, deliveredToL2: 0 });
    c.request(0, V, false);
    expect(c.delivered(0, V, 2, true)).toBe('ok');
    expect(c.delivered(0, V, 1)).toBe('doubled'); // the same interrupt a second time, at L1
    expect(c.counts[0]).toMatchObject({ wrongLevel: 1, delivered: 1, deliveredToL2: 1, doubled: 1 });
  });
});
