import { describe, expect, it } from 'vitest';
import { IRR0, ISR0, enableApic, pageVectors, readEsr, rig } from './helpers.js';

const ID = 0x802;
const VERSION = 0x803;
const TPR = 0x808;
const APR = 0x809;
const PPR = 0x80a;
const EOI = 0x80b;
const RRD = 0x80c;
const LDR = 0x80d;
const DFR = 0x80e;
const SVR = 0x80f;
const ISR0_MSR = 0x810;
const TMR0_MSR = 0x818;
const IRR0_MSR = 0x820;
const ESR = 0x828;
const CMCI = 0x82f;
const ICR = 0x830;
const ICR_HIGH = 0x831;
const LVT_TIMER = 0x832;
const LVT_LINT0 = 0x835;
const LVT_ERROR = 0x837;
const TIMER_ICR = 0x838;
const TIMER_CCR = 0x839;
const TIMER_DCR = 0x83e;
const SELF_IPI = 0x83f;

function x2(id = 0x25) {
  const r = rig({ id, x2apic: true, enable: false });
  enableApic(r.apic);
  return r;
}

describe('x2APIC MSR interface (SDM "x2APIC Register Address Space")', () => {
  it('x2APIC MSRs #GP in xAPIC mode', () => {
    const { apic } = rig();
    expect(apic.readMsr(ID)).toBeUndefined();
    expect(apic.writeMsr(TPR, 0n)).toBe(false);
  });

  it('ID MSR returns the full 32-bit x2APIC ID', () => {
    const { apic } = rig({ id: 0x12345, x2apic: true });
    expect(apic.readMsr(ID)).toBe(0x12345n);
  });

  it('LDR is derived from the ID: cluster ID[19:4] in 31:16, bit ID[3:0] in 15:0', () => {
    const { apic } = rig({ id: 0x12345, x2apic: true });
    expect(apic.readMsr(LDR)).toBe((0x1234n << 16n) | (1n << 5n));
  });

  it('version, TPR, PPR and SVR read through their MSRs', () => {
    const { apic } = x2();
    expect(apic.readMsr(VERSION)).toBe(0x01060014n);
    expect(apic.writeMsr(TPR, 0x40n)).toBe(true);
    expect(apic.readMsr(TPR)).toBe(0x40n);
    expect(apic.readMsr(PPR)).toBe(0x40n);
    expect(apic.readMsr(SVR)).toBe(0x1ffn);
  });

  it('IRR, ISR and TMR read through 0x820-0x827, 0x810-0x817, 0x818-0x81F', () => {
    const { apic } = x2();
    apic.acceptInterrupt(0x45, true);
    expect(apic.readMsr(IRR0_MSR + 2)).toBe(1n << 5n);
    expect(apic.readMsr(TMR0_MSR + 2)).toBe(1n << 5n);
    apic.acknowledge();
    expect(apic.readMsr(ISR0_MSR + 2)).toBe(1n << 5n);
  });

  it('reading write-only EOI and SELF IPI is #GP', () => {
    const { apic } = x2();
    expect(apic.readMsr(EOI)).toBeUndefined();
    expect(apic.readMsr(SELF_IPI)).toBeUndefined();
  });

  it('APR, RRD, DFR and ICR high do not exist in x2APIC mode (#GP both ways)', () => {
    const { apic } = x2();
    for (const msr of [APR, RRD, DFR, ICR_HIGH]) {
      expect(apic.readMsr(msr), msr.toString(16)).toBeUndefined();
      expect(apic.writeMsr(msr, 0n), msr.toString(16)).toBe(false);
    }
  });

  it('writing read-only registers is #GP', () => {
    const { apic } = x2();
    for (const msr of [ID, VERSION, PPR, LDR, ISR0_MSR, TMR0_MSR, IRR0_MSR, TIMER_CCR]) {
      expect(apic.writeMsr(msr, 0n), msr.toString(16)).toBe(false);
    }
    expect(apic.readMsr(ID)).toBe(0x25n);
  });

  it('unimplemented MSRs in 0x800-0x8FF are #GP', () => {
    const { apic } = x2();
    for (const msr of [0x800, 0x801, 0x804, 0x829, 0x840, 0x8ff]) {
      expect(apic.readMsr(msr), msr.toString(16)).toBeUndefined();
      expect(apic.writeMsr(msr, 0n), msr.toString(16)).toBe(false);
    }
  });

  it('reserved bits set in a write are #GP and change nothing', () => {
    const { apic } = x2();
    expect(apic.writeMsr(TPR, 0x100n)).toBe(false);
    expect(apic.writeMsr(TPR, 1n << 32n)).toBe(false);
    expect(apic.readMsr(TPR)).toBe(0n);
    expect(apic.writeMsr(SVR, 0x1ffn | (1n << 10n))).toBe(false);
    expect(apic.readMsr(SVR)).toBe(0x1ffn);
    expect(apic.writeMsr(LVT_TIMER, 1n << 19n)).toBe(false);
    expect(apic.writeMsr(LVT_LINT0, 1n << 14n)).toBe(false); // remote IRR is read-only
    expect(apic.writeMsr(LVT_ERROR, 0x400n)).toBe(false); // error LVT has no delivery mode
    expect(apic.writeMsr(CMCI, 1n << 13n)).toBe(false);
    expect(apic.writeMsr(TIMER_DCR, 0x4n)).toBe(false);
    expect(apic.writeMsr(TIMER_ICR, 1n << 32n)).toBe(false);
  });

  it('a non-zero EOI write is #GP; a zero write ends the interrupt', () => {
    const { apic } = x2();
    apic.acceptInterrupt(0x40, false);
    apic.acknowledge();
    expect(apic.writeMsr(EOI, 1n)).toBe(false);
    expect(pageVectors(apic, ISR0)).toEqual([0x40]);
    expect(apic.writeMsr(EOI, 0n)).toBe(true);
    expect(pageVectors(apic, ISR0)).toEqual([]);
  });

  it('ESR must be written with 0 (non-zero #GP), which latches the errors', () => {
    const { apic } = x2();
    apic.acceptInterrupt(1, false);
    expect(apic.writeMsr(ESR, 1n)).toBe(false);
    expect(apic.writeMsr(ESR, 0n)).toBe(true);
    expect(apic.readMsr(ESR)).toBe(0x40n);
  });

  it('SELF IPI delivers a fixed edge interrupt to this APIC', () => {
    const { apic, bus } = x2();
    expect(apic.writeMsr(SELF_IPI, 0x66n)).toBe(true);
    expect(pageVectors(apic, IRR0)).toEqual([0x66]);
    expect(bus.ipis).toEqual([]);
  });

  it('SELF IPI with reserved bits set is #GP; an illegal vector sets ESR send-illegal', () => {
    const { apic } = x2();
    expect(apic.writeMsr(SELF_IPI, 0x166n)).toBe(false);
    expect(apic.writeMsr(SELF_IPI, 0x5n)).toBe(true);
    expect(pageVectors(apic, IRR0)).toEqual([]);
    expect(readEsr(apic)).toBe(0x20);
  });

  it('ICR is one 64-bit MSR with the 32-bit destination in 63:32', () => {
    const { apic, bus } = x2();
    expect(apic.writeMsr(ICR, (0x1234_5678n << 32n) | 0x4831n)).toBe(true);
    expect(bus.ipis).toEqual([{ icrLow: 0x4831, destination: 0x12345678 }]);
    expect(apic.readMsr(ICR)).toBe((0x1234_5678n << 32n) | 0x4831n);
  });

  it('ICR reserved bits (12, 13, 16, 17, 20-31) are #GP', () => {
    const { apic, bus } = x2();
    for (const bit of [12n, 13n, 16n, 17n, 20n, 31n]) {
      expect(apic.writeMsr(ICR, 0x31n | (1n << bit)), String(bit)).toBe(false);
    }
    expect(bus.ipis).toEqual([]);
  });

  it('xAPIC MMIO is not decoded in x2APIC mode: reads all ones, writes ignored', () => {
    const { apic } = x2();
    expect(apic.readRegister(0x80)).toBe(0xffffffff);
    apic.writeRegister(0x80, 0x50);
    expect(apic.readMsr(TPR)).toBe(0n);
  });

  it('values outside u64 and non-bigints are host misuse', () => {
    const { apic } = x2();
    expect(() => apic.writeMsr(TPR, -1n)).toThrow(RangeError);
    expect(() => apic.writeMsr(TPR, 1n << 64n)).toThrow(/value/);
    expect(() => apic.writeMsr(TPR, 5 as unknown as bigint)).toThrow(TypeError);
    expect(() => apic.readMsr(-1)).toThrow(/msr/);
  });
});

describe('IA32_APIC_BASE transitions (SDM "x2APIC State Transitions")', () => {
  const BASE = 0x1b;
  const XAPIC = 0xfee00800n;
  const X2APIC = 0xfee00c00n;
  const DISABLED = 0xfee00000n;

  it('xAPIC -> x2APIC is legal and derives ID and LDR', () => {
    const { apic } = rig({ id: 0x13 });
    expect(apic.writeMsr(BASE, X2APIC)).toBe(true);
    expect(apic.mode).toBe('x2apic');
    expect(apic.readMsr(0x802)).toBe(0x13n);
    expect(apic.readMsr(0x80d)).toBe((1n << 16n) | (1n << 3n));
  });

  it('x2APIC -> xAPIC is #GP', () => {
    const { apic } = rig({ x2apic: true });
    expect(apic.writeMsr(BASE, XAPIC)).toBe(false);
    expect(apic.mode).toBe('x2apic');
  });

  it('disabled -> x2APIC is #GP; disabled -> xAPIC -> x2APIC works', () => {
    const { apic } = rig();
    expect(apic.writeMsr(BASE, DISABLED)).toBe(true);
    expect(apic.mode).toBe('disabled');
    expect(apic.writeMsr(BASE, X2APIC)).toBe(false);
    expect(apic.writeMsr(BASE, XAPIC)).toBe(true);
    expect(apic.writeMsr(BASE, X2APIC)).toBe(true);
    expect(apic.mode).toBe('x2apic');
  });

  it('x2APIC -> disabled is legal', () => {
    const { apic } = rig({ x2apic: true });
    expect(apic.writeMsr(BASE, DISABLED)).toBe(true);
    expect(apic.mode).toBe('disabled');
  });

  it('EN=0 with EXTD=1 is an invalid state (#GP)', () => {
    const { apic } = rig();
    expect(apic.writeMsr(BASE, 0xfee00400n)).toBe(false);
    expect(apic.mode).toBe('xapic');
  });

  it('reserved bits (0-7, 9, above MAXPHYADDR) are #GP', () => {
    const { apic } = rig();
    expect(apic.writeMsr(BASE, XAPIC | 1n)).toBe(false);
    expect(apic.writeMsr(BASE, XAPIC | (1n << 9n))).toBe(false);
    expect(apic.writeMsr(BASE, XAPIC | (1n << 36n))).toBe(false);
    expect(apic.readMsr(BASE)).toBe(XAPIC);
  });

  it('EXTD is reserved when the CPU has no x2APIC', () => {
    const { apic } = rig({ x2apicSupported: false });
    expect(apic.writeMsr(BASE, X2APIC)).toBe(false);
  });

  it('the base address can be relocated within MAXPHYADDR', () => {
    const { apic } = rig();
    expect(apic.writeMsr(BASE, 0xfed00800n)).toBe(true);
    expect(apic.readMsr(BASE)).toBe(0xfed00800n);
  });

  it('disabling resets the APIC state; re-enabling comes back at power-up values', () => {
    const { apic } = rig({ id: 7 });
    apic.writeRegister(0x80, 0x30);
    apic.acceptInterrupt(0x40, false);
    apic.writeRegister(0x350, 0x700);
    apic.writeMsr(BASE, DISABLED);
    expect(apic.pendingVector()).toBe(-1);
    apic.writeMsr(BASE, XAPIC);
    expect(apic.readRegister(0x80)).toBe(0);
    expect(apic.readRegister(0x20)).toBe(0x07000000);
    expect(apic.readRegister(0x350)).toBe(0x10000);
    expect(apic.readRegister(0xf0)).toBe(0xff);
    expect(pageVectors(apic, IRR0)).toEqual([]);
  });

  it('a globally disabled APIC accepts no messages and MMIO reads all ones', () => {
    const { apic } = rig();
    apic.writeMsr(BASE, DISABLED);
    apic.acceptInterrupt(0x40, false);
    expect(apic.acceptMessage(4, 0, false)).toBe(false);
    expect(apic.takeNmi()).toBe(false);
    expect(apic.readRegister(0x30)).toBe(0xffffffff);
  });

  it('the BSP flag is read/write (as KVM)', () => {
    const { apic } = rig();
    expect(apic.writeMsr(BASE, XAPIC | (1n << 8n))).toBe(true);
    expect(apic.isBsp).toBe(true);
  });
});
