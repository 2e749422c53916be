/**
 * VMX APIC-write emulation with APIC-register virtualization and virtual-interrupt delivery
 * (Intel SDM vol. 3, "APIC Virtualization and Virtual Interrupts": "Virtualizing Writes to the
 * APIC-Access Page", "APIC-Write Emulation", "Self-IPI Virtualization"), per backend. Each
 * guest program enables its APIC first (an SVR write: one APIC-write exit under APICv, one
 * APIC-access exit elsewhere), so the counts below include it.
 */
import { describe, expect, it } from 'vitest';
import type { Instr } from '../../src/guest/program.js';
import type { BackendName } from '../../src/inject/backend.js';
import { VICR_SELF_IPI_ZERO_BITS, isVirtualizedSelfIpi } from '../../src/inject/vmx-vid.js';
import { Machine } from '../../src/machine/machine.js';

const APICV: BackendName[] = ['vmx-vid', 'vmx-posted'];
const OTHERS: BackendName[] = ['svm-event', 'svm-vintr', 'vmx-event'];
const ENABLE: Instr = { op: 'mmio-write', offset: 0xf0, value: 0x1ff };
const ICR_LOW = 0x300;
const ICR_HIGH = 0x310;
const ESR = 0x280;
const ESR_SEND_ILLEGAL_VECTOR = 1 << 5;
const VECTOR = 0x41;

/** Runs `main` (after ENABLE) on vCPU 0 of a 2-vCPU machine; vCPU 1 idles with IF = 1. */
function run(backend: BackendName, main: Instr[], x2apic = false): Machine {
  const m = new Machine({ cpus: 2, backend, x2apic });
  const handlers = { [VECTOR]: [{ op: 'inc', var: 'got' } as Instr, { op: 'eoi' } as Instr, { op: 'iret' } as Instr] };
  m.load(0, { main: [...(x2apic ? [] : [ENABLE]), { op: 'sti' }, ...main, { op: 'nop' }, { op: 'done' }], handlers });
  m.load(1, { main: [ENABLE, { op: 'sti' }, { op: 'hlt' }, { op: 'jump', to: 2 }], handlers });
  m.run(1_000_000);
  return m;
}

const exits = (m: Machine, cpu = 0) => m.stats().cpus[cpu]!.exits;

describe('VMX APIC-write emulation: ICR high (310H)', () => {
  it.each(APICV)('%s: a write to ICR high is virtualized without an exit and VICR_HI keeps only bits 31:24', (backend) => {
    const m = run(backend, [
      { op: 'mmio-write', offset: ICR_HIGH, value: 0x0123_4567 },
      { op: 'mmio-read', offset: ICR_HIGH, into: 'icrHigh' },
    ]);
    expect(m.memory.get('icrHigh')).toBe(0x0100_0000);
    expect(exits(m, 0)['apic-write']).toBe(1); // ENABLE only
    expect(m.stats().cpus[0]!.exitCount).toBe(1);
  });

  it.each(OTHERS)('%s: a write to ICR high still exits as an APIC access', (backend) => {
    const m = run(backend, [{ op: 'mmio-write', offset: ICR_HIGH, value: 0x0100_0000 }]);
    expect(exits(m, 0)['apic-access']).toBe(2); // ENABLE and the ICR-high write
  });

  it.each(APICV)('%s: an xAPIC IPI costs one exit, and the ICR-low write that exits sends to the destination in VICR_HI', (backend) => {
    const m = run(backend, [{ op: 'ipi', dest: 1, vector: VECTOR }]);
    expect(m.memory.get('got')).toBe(1);
    expect(m.stats().cpus[1]!.handlerEntries).toBe(1);
    expect(exits(m, 0)['apic-write']).toBe(2); // ENABLE and the ICR-low write
    expect(m.stats().cpus[0]!.ipisSent).toBe(1);
  });
});

describe('VMX APIC-access page: which writes are virtualized', () => {
  it.each(APICV)('%s: a write to a register APIC-register virtualization does not list (PPR, LVT CMCI) is an APIC-access exit', (backend) => {
    const m = run(backend, [
      { op: 'mmio-write', offset: 0x0a0, value: 0xff },
      { op: 'mmio-write', offset: 0x2f0, value: 0x1_0000 },
    ]);
    expect(exits(m, 0)['apic-access']).toBe(2);
    expect(exits(m, 0)['apic-write']).toBe(1); // ENABLE
  });

  it.each(APICV)('%s: writes to the listed registers (LVT, initial count, divide, LDR) are APIC-write exits', (backend) => {
    const m = run(backend, [
      { op: 'mmio-write', offset: 0x350, value: 0x1_0000 },
      { op: 'mmio-write', offset: 0x3e0, value: 0xb },
      { op: 'mmio-write', offset: 0x380, value: 0 },
      { op: 'mmio-write', offset: 0x0d0, value: 0x0100_0000 },
    ]);
    expect(exits(m, 0)['apic-write']).toBe(5);
    expect(exits(m, 0)['apic-access']).toBe(0);
  });
});

describe('VMX APIC-write emulation: self-IPI through ICR low (300H)', () => {
  it('the bits that must be 0 are reserved 31:20, 17:16, 13, delivery status 12, trigger 15 and delivery mode 10:8', () => {
    expect(VICR_SELF_IPI_ZERO_BITS).toBe(0xfff3_b700);
  });

  it.each([
    ['fixed, edge, shorthand self', 0x0004_0041, true],
    ['level bit 14 and destination mode bit 11 are not looked at', 0x0004_4841, true],
    ['vector 0xFF', 0x0004_00ff, true],
    ['vector bits 7:4 zero (vector 0x0F)', 0x0004_000f, false],
    ['shorthand none', 0x0000_0041, false],
    ['shorthand all including self', 0x0008_0041, false],
    ['level trigger (bit 15)', 0x0004_c041, false],
    ['delivery mode NMI', 0x0004_0441, false],
    ['delivery mode lowest priority', 0x0004_0141, false],
    ['delivery-status bit 12', 0x0004_1041, false],
    ['reserved bit 13', 0x0004_2041, false],
    ['reserved bit 16', 0x0005_0041, false],
    ['reserved bit 20', 0x0014_0041, false],
    ['reserved bit 31', 0x8004_0041, false],
  ] as const)('%s: virtualized = %s', (_name, icrLow, virtualized) => {
    expect(isVirtualizedSelfIpi(icrLow)).toBe(virtualized);
  });

  it.each(APICV)('%s: an xAPIC self-IPI (fixed, edge, shorthand self) is virtualized without an exit and delivered', (backend) => {
    const m = run(backend, [{ op: 'self-ipi', vector: VECTOR }]);
    expect(m.memory.get('got')).toBe(1);
    const s = m.stats().cpus[0]!;
    expect(s.exitCount).toBe(1); // ENABLE only; the EOI is virtualized too
    expect(s.virtualDeliveries).toBe(1);
    expect(s.delivered).toBe(1);
    expect(m.stats().cpus[1]!.handlerEntries).toBe(0);
  });

  it.each(APICV)('%s: self-IPI virtualization is delivered at the next boundary, before the next instruction', (backend) => {
    // IF = 1: the vIRR bit and RVI are set by the write and the evaluation delivers at once, so
    // the handler's `inc` runs before `record`.
    const m = run(backend, [{ op: 'self-ipi', vector: VECTOR }, { op: 'record', label: 'after', var: 'got' }]);
    expect(m.trace.filter('record', 0).map((e) => e.a)).toEqual([1]);
  });

  it.each(APICV)('%s: an ICR-low write with the self shorthand and level trigger is not virtualized: it exits', (backend) => {
    const m = run(backend, [{ op: 'mmio-write', offset: ICR_LOW, value: 0x0004_c000 | VECTOR }]);
    expect(exits(m, 0)['apic-write']).toBe(2);
  });

  it.each(APICV)('%s: a self-IPI of vector 0-15 through ICR low exits, and the hypervisor reports the illegal vector', (backend) => {
    const m = run(backend, [
      { op: 'mmio-write', offset: ICR_LOW, value: 0x0004_000f },
      { op: 'mmio-write', offset: ESR, value: 0 },
      { op: 'mmio-read', offset: ESR, into: 'esr' },
    ]);
    expect(exits(m, 0)['apic-write']).toBe(3); // ENABLE, the ICR write, the ESR write
    expect((m.memory.get('esr')! & ESR_SEND_ILLEGAL_VECTOR) !== 0).toBe(true);
  });

  it.each(OTHERS)('%s: an xAPIC self-IPI still exits as an APIC access', (backend) => {
    const m = run(backend, [{ op: 'self-ipi', vector: VECTOR }]);
    expect(m.memory.get('got')).toBe(1);
    expect(exits(m, 0)['apic-access']).toBeGreaterThanOrEqual(2); // ENABLE and the ICR write (+ the EOI)
  });
});

describe('VMX self-IPI virtualization: x2APIC SELF IPI (MSR 83FH)', () => {
  const X2_ENABLE: Instr = { op: 'wrmsr', msr: 0x80f, lo: 0x1ff };

  it.each(APICV)('%s: a vector 16-255 is virtualized without an exit', (backend) => {
    const m = run(backend, [X2_ENABLE, { op: 'wrmsr', msr: 0x83f, lo: VECTOR }], true);
    expect(m.memory.get('got')).toBe(1);
    expect(exits(m, 0)['apic-write']).toBe(0);
    expect(exits(m, 0).msr).toBe(1); // the SVR write
  });

  it.each(APICV)('%s: a vector 0-15 is written and exits (APIC-write); the hypervisor reports the illegal vector', (backend) => {
    const m = run(backend, [X2_ENABLE, { op: 'wrmsr', msr: 0x83f, lo: 0x0f }, { op: 'wrmsr', msr: 0x828, lo: 0 }, { op: 'rdmsr', msr: 0x828, into: 'esr' }], true);
    expect(exits(m, 0)['apic-write']).toBe(1);
    expect((m.memory.get('esr')! & ESR_SEND_ILLEGAL_VECTOR) !== 0).toBe(true);
  });
});

describe('vmx-posted: self-IPI virtualization of a vector still posted in the PIR', () => {
  it('merges into the posted request and is delivered once, as a request for a pending vector', () => {
    // vCPU 1 flags `sent`, then IPIs vCPU 0 (posted; the notification lands 300 ns later);
    // vCPU 0 sees the flag and sends itself the same vector inside that window.
    const m = new Machine({ cpus: 2, backend: 'vmx-posted' });
    const handlers = { [VECTOR]: [{ op: 'inc', var: 'got' } as Instr, { op: 'eoi' } as Instr, { op: 'iret' } as Instr] };
    m.load(0, {
      main: [ENABLE, { op: 'sti' }, { op: 'wait', var: 'sent', cmp: 'eq', value: 1 }, { op: 'work', ns: 100 }, { op: 'self-ipi', vector: VECTOR }, { op: 'work', ns: 5000 }, { op: 'done' }],
      handlers,
    });
    m.load(1, { main: [ENABLE, { op: 'work', ns: 2000 }, { op: 'set', var: 'sent', value: 1 }, { op: 'ipi', dest: 0, vector: VECTOR }, { op: 'done' }] });
    m.run(1_000_000);
    const s = m.stats().cpus[0]!;
    expect(s.posted).toBe(1);
    expect(m.trace.filter('coalesced', 0).map((e) => e.a)).toEqual([VECTOR]); // the self-IPI
    expect(s.requests).toBe(1);
    expect(s.coalesced).toBe(1);
    expect(m.memory.get('got')).toBe(1);
    expect(s.doubled).toBe(0);
  });
});
