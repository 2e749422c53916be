/**
 * Nested virtualization: bad programs fail at load with the place named; odd guest behaviour
 * (resuming nothing, STGI under VMX, reading exit information before any exit) never throws;
 * the read-only status the Machine exposes for `explain`.
 */
import { describe, expect, it } from 'vitest';
import type { GuestProgram, Instr } from '../../src/guest/program.js';
import { validateProgram } from '../../src/guest/program.js';
import { Machine } from '../../src/machine/machine.js';
import { toSvg } from '../../src/trace/svg.js';
import { ENABLE_APIC, exiting, l1Program, l2Program, mem, msi } from './helpers.js';

const l2: GuestProgram = { main: [{ op: 'work', ns: 1000 }, { op: 'done' }] };
const launch: Instr = { op: 'vmlaunch', controls: { extIntExiting: true } };

describe('host misuse: bad nested programs fail at load', () => {
  it.each<[string, GuestProgram, RegExp]>([
    ['vmlaunch without l2', { main: [launch], vmexit: [] }, /program\.main\[0\] enters L2, so program\.l2 must be a program/],
    ['vmlaunch without vmexit', { main: [launch], l2 }, /program\.main\[0\] enters L2, so program\.vmexit must be an array/],
    ['vmlaunch in a handler', { main: [], handlers: { 0x40: [launch] }, l2, vmexit: [] }, /program\.handlers\[64\]\[0\]: vmlaunch may only be in main or vmexit/],
    ['an L3', { main: [launch], vmexit: [], l2: { main: [launch], vmexit: [], l2 } }, /program\.l2\.main\[0\]: vmlaunch is an L1-hypervisor instruction/],
    ['stgi in L2', { main: [launch], vmexit: [], l2: { main: [{ op: 'stgi' }] } }, /program\.l2\.main\[0\]: stgi is an L1-hypervisor instruction/],
    ['an L2 waiting for SIPI', { main: [launch], vmexit: [], l2: { ...l2, waitForSipi: true } }, /program\.l2\.waitForSipi: an L2 program cannot have one/],
    ['an unknown control', { main: [{ op: 'vmlaunch', controls: { nmiExiting: true } as never }], vmexit: [], l2 }, /program\.main\[0\]\.controls\.nmiExiting is not a control/],
    ['a control that is not a boolean', { main: [{ op: 'vmlaunch', controls: { ackOnExit: 1 } as never }], vmexit: [], l2 }, /controls\.ackOnExit must be a boolean/],
    ['VMX and SVM controls mixed', { main: [{ op: 'vmlaunch', controls: { extIntExiting: true, interceptIntr: true } }], vmexit: [], l2 }, /mixes VMX .* and SVM .* controls/],
    ['an injected vector below 16', { main: [{ op: 'vmlaunch', inject: 8 }], vmexit: [], l2 }, /program\.main\[0\]\.inject must be an integer 16\.\.255, got 8/],
    ['a bad guestIf', { main: [{ op: 'vmlaunch', guestIf: 'yes' as never }], vmexit: [], l2 }, /guestIf must be a boolean/],
    ['an exit-info variable that is no name', { main: [{ op: 'exit-info', reason: '' }] }, /program\.main\[0\]\.reason must be a non-empty string/],
  ])('%s', (_what, program, message) => {
    expect(() => validateProgram(program)).toThrow(message);
    const m = new Machine({ cpus: 1, backend: 'vmx-event' });
    expect(() => m.load(0, program)).toThrow(message);
    expect(m.vcpus[0]!.state).toBe('idle'); // nothing changed
  });

  it('controls, V_IRQ and STGI / CLGI must match the backend\'s ISA', () => {
    const svm = new Machine({ cpus: 1, backend: 'svm-event' });
    const vmx = new Machine({ cpus: 1, backend: 'vmx-posted' });
    expect(() => svm.load(0, { main: [launch], vmexit: [], l2 })).toThrow(/program\.main\[0\]\.controls\.extIntExiting: the control extIntExiting is VMX; backend svm-event is SVM/);
    expect(() => vmx.load(0, { main: [{ op: 'vmlaunch', controls: { vIntrMasking: true } }], vmexit: [], l2 })).toThrow(/vIntrMasking is SVM; backend vmx-posted is VMX/);
    expect(() => vmx.load(0, { main: [{ op: 'vmlaunch', vIrq: 0x90 }], vmexit: [], l2 })).toThrow(/program\.main\[0\]\.vIrq: V_IRQ is SVM/);
    expect(() => vmx.load(0, { main: [{ op: 'nop' }], handlers: { 0x40: [{ op: 'clgi' }] } })).toThrow(/program\.handlers\[64\]\[0\]: clgi is SVM/);
  });
});

describe('guest input never throws', () => {
  it('vmresume with no L2 fails (a fault) and L1 goes on; exit-info before any exit reads reason 0', () => {
    const m = new Machine({ cpus: 1, backend: 'vmx-event' });
    m.load(0, {
      main: [{ op: 'exit-info', reason: 'r', vector: 'v', vIrq: 'q' }, { op: 'vmresume' }, { op: 'set', var: 'after', value: 1 }, { op: 'done' }],
      vmexit: [],
      l2,
    });
    expect(m.run(100_000).reason).toBe('all-done');
    expect([mem(m, 'r'), mem(m, 'v'), mem(m, 'q'), mem(m, 'after')]).toEqual([0, -1, -1, 1]);
    expect(m.trace.filter('fault', 0).map((e) => e.label)).toEqual(['vmresume failed: there is no L2 to resume']);
  });

  it('vmresume after L2 shut down fails; a new vmlaunch starts a fresh L2', () => {
    const m = new Machine({ cpus: 1, backend: 'svm-event' });
    m.load(0, {
      main: [{ op: 'vmlaunch' }, { op: 'vmresume' }, { op: 'vmlaunch' }, { op: 'done' }],
      vmexit: [], // returns at once: L1 goes on after the instruction that entered L2
      l2: { main: [{ op: 'inc', var: 'runs' }, { op: 'done' }] },
    });
    expect(m.run(100_000).reason).toBe('all-done');
    expect(mem(m, 'runs')).toBe(2);
    expect(m.stats().cpus[0]!.nestedExits.shutdown).toBe(2);
    expect(m.stats().cpus[0]!.faults).toBe(1);
  });

  it('STGI / CLGI are #UD without SVM (a program given to the vCPU directly)', async () => {
    const { Vcpu } = await import('../../src/guest/vcpu.js');
    const faults: string[] = [];
    const v = new Vcpu(0);
    v.load({ main: [{ op: 'stgi' }, { op: 'vmlaunch' }, { op: 'done' }], vmexit: [], l2 });
    const env = {
      instructionNs: 1,
      mmioRead: () => 0,
      mmioWrite: () => {},
      msrRead: () => undefined,
      msrWrite: () => false,
      cr8Read: () => 0,
      cr8Write: () => false,
      halt: () => {},
      spin: () => {},
      read: () => 0,
      write: () => {},
      record: () => {},
      finished: () => {},
      fault: (_cpu: number, what: string) => faults.push(what),
    };
    while (v.state === 'running') v.step(env);
    expect(faults).toEqual(['#UD on stgi', '#UD on vmlaunch']);
  });

  it('INIT in the middle of L2 leaves nested operation: the BSP restarts its L1 program, which launches a fresh L2', () => {
    const m = new Machine({ cpus: 2, backend: 'vmx-vid' });
    m.load(0, l1Program({ isa: 'vmx', controls: exiting('vmx'), l2: l2Program(200_000) }));
    m.load(1, { main: [ENABLE_APIC, { op: 'work', ns: 20_000 }, { op: 'ipi', dest: 0, vector: 0, mode: 'init' }, { op: 'done' }] });
    let t = 20_000;
    while (m.trace.filter('init', 0).length === 0 && t < 40_000) m.run((t += 100));
    expect(m.trace.filter('init', 0)).toHaveLength(1);
    expect(m.nestedStatus(0)).toMatchObject({ level: 1, hasL2: false, runPending: false });
    m.run(t + 10_000);
    expect(m.nestedStatus(0)).toMatchObject({ level: 2, hasL2: true });
    expect(m.stats().cpus[0]!.nestedEntries).toBe(2);
  });
});

describe('Machine.nestedStatus: which level an interrupt is waiting for', () => {
  it('reports the level that runs, the controls and the pending decision', () => {
    const m = new Machine({ cpus: 1, backend: 'vmx-event' });
    m.load(0, l1Program({ isa: 'vmx', controls: exiting('vmx', true), l2: l2Program(0, [0x40], [{ op: 'cli' }, { op: 'work', ns: 100_000 }, { op: 'done' }]) }));
    expect(m.nestedStatus(0)).toMatchObject({ level: 1, hasL2: false, waitingFor: null, reason: 'nothing-pending' });
    m.run(5_000);
    expect(m.nestedStatus(0)).toMatchObject({ level: 2, hasL2: true, controls: { exitOnIntr: true, ackOnExit: true }, action: 'none', reason: 'nothing-pending' });
    m.at(10_000, msi(0, 0x40));
    m.run(10_100); // the request is in; the kick has not landed yet
    expect(m.nestedStatus(0)).toMatchObject({ level: 2, action: 'exit', waitingFor: 'L1', reason: 'exit-to-l1' });
    expect(m.nestedStatus(0).message).toMatch(/external-interrupt exiting: L2 exits to L1 for it, the exit carrying the vector/);
    expect(() => m.nestedStatus(1)).toThrow(RangeError);
  });

  it('SVM: GIF = 0 in L1 and V_INTR_MASKING with L1\'s IF = 0 are named', () => {
    const held = new Machine({ cpus: 1, backend: 'svm-event' });
    held.load(0, l1Program({ isa: 'svm', controls: { interceptIntr: true, vIntrMasking: true }, hostIf: false, l2: l2Program(100_000) }));
    held.at(10_000, msi(0, 0x40));
    held.run(20_000);
    expect(held.nestedStatus(0)).toMatchObject({ level: 2, action: 'masked', waitingFor: 'L1', reason: 'l1-if-at-vmrun-clear' });
    const gif = new Machine({ cpus: 1, backend: 'svm-event' });
    gif.load(0, { main: [ENABLE_APIC, { op: 'clgi' }, { op: 'sti' }, { op: 'self-ipi', vector: 0x40 }, { op: 'work', ns: 10_000 }, { op: 'stgi' }, { op: 'done' }] });
    gif.run(3_000);
    expect(gif.nestedStatus(0)).toMatchObject({ level: 1, waitingFor: 'L1', reason: 'l1-gif-clear' });
    gif.run(100_000);
    expect(gif.stats().cpus[0]!.delivered).toBe(1);
  });
});

describe('trace export of a nested run', () => {
  it('Chrome trace and SVG show the exits to L1, L2\'s handlers and the acknowledged vector as delivered', async () => {
    const { irrIsrCounters, buildSpans } = await import('../../src/trace/spans.js');
    const m = new Machine({ cpus: 1, backend: 'vmx-event' });
    m.load(0, l1Program({ isa: 'vmx', controls: exiting('vmx', true), l2: l2Program(50_000) }));
    m.at(10_000, msi(0, 0x40));
    const passing = new Machine({ cpus: 1, backend: 'vmx-event' });
    passing.load(0, l1Program({ isa: 'vmx', controls: { extIntExiting: false }, l2: l2Program(50_000) }));
    passing.at(10_000, msi(0, 0x40));
    const end = m.run(1_000_000).timeNs;
    passing.run(1_000_000);
    const instants = m.trace.toChromeTrace({ endNs: end }).traceEvents.filter((e) => e.cat === 'nested').map((e) => e.name);
    expect(instants).toEqual(['vmlaunch -> L2', 'L2 -> L1 external-interrupt', 'vmresume -> L2', 'L2 -> L1 shutdown']);
    // The exit acknowledged 0x40: IRR -> ISR at the exit, ISR cleared by the EOI that follows.
    const samples = irrIsrCounters(m.trace.events()).map((c) => [c.irr, c.isr]);
    expect(samples).toEqual([[0, 0], [1, 0], [0, 1], [0, 0]]);
    expect(buildSpans(passing.trace.events()).filter((s) => s.kind === 'handler').map((s) => s.name)).toEqual(['L2 IRQ 0x40']);
    expect(toSvg(m.trace, { endNs: end })).toContain('<svg');
  });
});
