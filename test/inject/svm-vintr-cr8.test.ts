/**
 * svm-vintr and CR8 (AMD APM vol. 2, "Virtual Interrupt Control"): V_IRQ carries only a vector
 * that beats PPR, the hardware compares V_INTR_PRIO with V_TPR, CR8 writes do not exit (bhyve
 * before 2018), and option `cr8Intercept` intercepts CR8 writes while TPR holds back the highest
 * IRR vector (KVM's svm_update_cr8_intercept).
 */
import { describe, expect, it } from 'vitest';
import type { GuestProgram, Instr } from '../../src/guest/program.js';
import type { SvmVintrBackend } from '../../src/inject/svm-vintr.js';
import { Machine } from '../../src/machine/machine.js';

const ENABLE: Instr = { op: 'mmio-write', offset: 0xf0, value: 0x1ff };
const VECTOR = 0x41;
/** Time the guest computes after lowering CR8, before an unrelated exit (an APIC read). */
const WORK_NS = 20_000;
/** The default costs, spelled out because the latencies below are derived from them. */
const COSTS = { instructionNs: 1, vmExitNs: 1000, deliveryNs: 50, apicAccessNs: 20 };

/**
 * TPR = 0xF0, IF = 1, a self-IPI of 0x41 (held back by TPR), then CR8 = 0, WORK_NS of work and
 * an APIC read (it exits under svm-vintr: every APIC access does). The handler records its entry.
 */
const program: GuestProgram = {
  main: [
    ENABLE,
    { op: 'cr8-write', value: 15 },
    { op: 'sti' },
    { op: 'self-ipi', vector: VECTOR },
    { op: 'work', ns: 2000 },
    { op: 'record', label: 'lower' },
    { op: 'cr8-write', value: 0 },
    { op: 'work', ns: WORK_NS },
    { op: 'mmio-read', offset: 0x30 },
    { op: 'nop' },
    { op: 'done' },
  ],
  handlers: { [VECTOR]: [{ op: 'record', label: 'handler' }, { op: 'eoi' }, { op: 'iret' }] },
};

function machine(cr8Intercept: boolean | undefined, p: GuestProgram = program): Machine {
  const m = new Machine({ cpus: 1, backend: 'svm-vintr', costs: COSTS, svmVintr: cr8Intercept === undefined ? {} : { cr8Intercept } });
  m.load(0, p);
  return m;
}

/** ns from the CR8 write that lowers TPR (one instruction after the 'lower' record) to the handler's first instruction. */
function latency(m: Machine): number {
  const at = (label: string): number => m.trace.filter('record', 0).find((e) => e.label === label)!.timeNs;
  return at('handler') - (at('lower') + COSTS.instructionNs);
}

describe('svm-vintr: CR8 writes without intercept (bhyve, the default)', () => {
  it('a vector held back by TPR is never programmed into V_IRQ', () => {
    const m = machine(undefined);
    m.run(3_000); // past the self-IPI's exit and the re-entry at 2,004 ns: the guest is in its 2 us of work
    expect(m.lapic(0).isRequested(VECTOR)).toBe(true);
    expect((m.backend as SvmVintrBackend).vintr(0).irq).toBe(false);
    expect(m.trace.filter('vintr', 0)).toEqual([]);
  });

  it('lowering CR8 does not exit, and the vector waits for the next unrelated exit', () => {
    const m = machine(undefined);
    m.run(1_000_000);
    expect(m.stats().cpus[0]!.exits.cr8).toBe(0);
    // cr8-write (1) + work (20,000) + the APIC read (1) + its exit round trip (1,000) + delivery (50).
    expect(latency(m)).toBe(21_052);
    expect(m.trace.filter('vintr', 0).map((e) => e.a)).toEqual([VECTOR]);
  });

  it('the hardware holds a programmed V_IRQ back while V_INTR_PRIO <= V_TPR, and CR8 lowered without an exit releases it', () => {
    // IF = 0 at VMRUN: V_IRQ is programmed (0x41 beats PPR) but not taken; the guest raises CR8
    // (V_TPR only), enables interrupts, then lowers CR8: delivered with no exit in between.
    const m = machine(undefined, {
      main: [
        ENABLE,
        { op: 'self-ipi', vector: VECTOR },
        { op: 'cr8-write', value: 15 },
        { op: 'sti' },
        { op: 'nop' },
        { op: 'record', label: 'lower' },
        { op: 'cr8-write', value: 0 },
        { op: 'nop' },
        { op: 'done' },
      ],
      handlers: program.handlers,
    });
    m.run(1_000_000);
    expect(m.stats().cpus[0]!.exits.cr8).toBe(0);
    // cr8-write (1); V_IRQ is taken at the next boundary: delivery (50).
    expect(latency(m)).toBe(1 + 50);
  });
});

describe('svm-vintr option cr8Intercept (KVM svm_update_cr8_intercept)', () => {
  it('lowering CR8 below a held-back vector exits, and the re-entry delivers it through V_IRQ', () => {
    const m = machine(true);
    m.run(1_000_000);
    expect(m.stats().cpus[0]!.exits.cr8).toBe(1);
    // cr8-write (1) + its exit round trip (1,000) + delivery (50): 20,001 ns sooner than without.
    expect(latency(m)).toBe(1_051);
    expect(m.stats().cpus[0]!.virtualDeliveries).toBe(1);
    expect(m.stats().total.lost).toBe(0);
  });

  it('CR8 writes do not exit while TPR holds nothing back', () => {
    const m = machine(true, {
      main: [ENABLE, { op: 'cr8-write', value: 15 }, { op: 'cr8-write', value: 0 }, { op: 'sti' }, { op: 'self-ipi', vector: VECTOR }, { op: 'cr8-write', value: 2 }, { op: 'nop' }, { op: 'done' }],
      handlers: program.handlers,
    });
    m.run(1_000_000);
    expect(m.stats().cpus[0]!.exits.cr8).toBe(0);
    expect(m.trace.filter('record', 0).map((e) => e.label)).toEqual(['handler']);
  });

  it('a restored snapshot keeps the armed CR8 intercept and the option', () => {
    const a = machine(true);
    a.run(3_000); // the intercept is armed at the re-entry after the self-IPI
    const b = Machine.restore(a.snapshot());
    expect((b.backend as SvmVintrBackend).cr8Intercept).toBe(true);
    a.run(1_000_000);
    b.run(1_000_000);
    expect(b.trace.hash()).toBe(a.trace.hash());
    expect(b.stats().cpus[0]!.exits.cr8).toBe(1);
  });

  it('host misuse: a non-boolean cr8Intercept is a TypeError naming the option', () => {
    expect(() => new Machine({ cpus: 1, backend: 'svm-vintr', svmVintr: { cr8Intercept: 1 as never } })).toThrow(TypeError);
    expect(() => new Machine({ cpus: 1, backend: 'svm-vintr', svmVintr: { cr8Intercept: 'yes' as never } })).toThrow(/^svmVintr\.cr8Intercept must be a boolean/);
  });
});
