import { describe, expect, it } from 'vitest';
import { IcrCheck, checkIcr } from '../../src/apic/icr.js';
import { LocalApic } from '../../src/apic/local-apic.js';
import { Scheduler } from '../../src/time/scheduler.js';
import { ICR_HI, ICR_LO, IRR0, enableApic, pageVectors, rig } from './helpers.js';

// ICR low word fields, spelled out from the SDM figure "Interrupt Command Register".
const FIXED = 0 << 8;
const LOWPRI = 1 << 8;
const SMI = 2 << 8;
const RESERVED3 = 3 << 8;
const NMI = 4 << 8;
const INIT = 5 << 8;
const STARTUP = 6 << 8;
const EXTINT = 7 << 8;
const LOGICAL = 1 << 11;
const ASSERT = 1 << 14;
const LEVEL = 1 << 15;
const NO_SHORTHAND = 0 << 18;
const SELF = 1 << 18;
const ALL_INCL = 2 << 18;
const ALL_EXCL = 3 << 18;

describe('ICR valid combinations (SDM table "Valid Combinations for the ... Local xAPIC ICR")', () => {
  const shorthands = { none: NO_SHORTHAND, self: SELF, allIncl: ALL_INCL, allExcl: ALL_EXCL };

  it('fixed edge is valid with every shorthand', () => {
    for (const s of Object.values(shorthands)) expect(checkIcr(FIXED | s | 0x40)).toBe(IcrCheck.Send);
  });

  it('fixed level-assert is sent (as edge); fixed level-deassert is invalid', () => {
    expect(checkIcr(FIXED | LEVEL | ASSERT | 0x40)).toBe(IcrCheck.Send);
    expect(checkIcr(FIXED | LEVEL | 0x40)).toBe(IcrCheck.Invalid);
  });

  it('lowest priority, SMI, NMI and INIT are valid only with no shorthand or all-excluding-self', () => {
    for (const mode of [LOWPRI, SMI, NMI, INIT]) {
      expect(checkIcr(mode | NO_SHORTHAND | 0x40), `mode ${mode}`).toBe(IcrCheck.Send);
      expect(checkIcr(mode | ALL_EXCL | 0x40), `mode ${mode}`).toBe(IcrCheck.Send);
      expect(checkIcr(mode | SELF | 0x40), `mode ${mode}`).toBe(IcrCheck.Invalid);
      expect(checkIcr(mode | ALL_INCL | 0x40), `mode ${mode}`).toBe(IcrCheck.Invalid);
    }
  });

  it('INIT to all-including-self is invalid, so INIT cannot reset its own sender by shorthand', () => {
    expect(checkIcr(INIT | ALL_INCL)).toBe(IcrCheck.Invalid);
  });

  it('INIT level de-assert is recognised and does nothing', () => {
    expect(checkIcr(INIT | LEVEL)).toBe(IcrCheck.InitDeassert);
    expect(checkIcr(INIT | LEVEL | ALL_EXCL)).toBe(IcrCheck.InitDeassert);
    expect(checkIcr(INIT | LEVEL | ASSERT)).toBe(IcrCheck.Send);
  });

  it('start-up is valid only with no shorthand or all-excluding-self', () => {
    expect(checkIcr(STARTUP | NO_SHORTHAND | 0x9a)).toBe(IcrCheck.Send);
    expect(checkIcr(STARTUP | ALL_EXCL | 0x9a)).toBe(IcrCheck.Send);
    expect(checkIcr(STARTUP | SELF | 0x9a)).toBe(IcrCheck.Invalid);
    expect(checkIcr(STARTUP | ALL_INCL | 0x9a)).toBe(IcrCheck.Invalid);
  });

  it('delivery modes 011 (reserved) and 111 (ExtINT) are invalid in the ICR', () => {
    for (const s of Object.values(shorthands)) {
      expect(checkIcr(RESERVED3 | s | 0x40)).toBe(IcrCheck.Invalid);
      expect(checkIcr(EXTINT | s | 0x40)).toBe(IcrCheck.Invalid);
    }
  });
});

describe('ICR writes (xAPIC)', () => {
  it('writing ICR low sends to the bus with the destination from ICR high bits 31:24', () => {
    const { apic, bus } = rig();
    apic.writeRegister(ICR_HI, 0x0300_0000);
    apic.writeRegister(ICR_LO, FIXED | LOGICAL | 0x41);
    expect(bus.ipis).toEqual([{ icrLow: FIXED | LOGICAL | 0x41, destination: 3 }]);
    expect(apic.stats.ipisSent).toBe(1);
  });

  it('writing ICR high alone sends nothing', () => {
    const { apic, bus } = rig();
    apic.writeRegister(ICR_HI, 0x0300_0000);
    expect(bus.ipis).toEqual([]);
  });

  it('an invalid combination is ignored and counted', () => {
    const { apic, bus } = rig();
    apic.writeRegister(ICR_LO, NMI | SELF);
    apic.writeRegister(ICR_LO, INIT | ALL_INCL);
    expect(bus.ipis).toEqual([]);
    expect(apic.takeNmi()).toBe(false);
    expect(apic.stats.ipisInvalid).toBe(2);
  });

  it('INIT level de-assert sends nothing and is not an error', () => {
    const { apic, bus } = rig();
    apic.writeRegister(ICR_LO, INIT | LEVEL);
    expect(bus.ipis).toEqual([]);
    expect(apic.stats.ipisInvalid).toBe(0);
  });

  it('self shorthand delivers locally without the bus', () => {
    const { apic, bus } = rig();
    apic.writeRegister(ICR_LO, FIXED | SELF | 0x52);
    expect(bus.ipis).toEqual([]);
    expect(pageVectors(apic, IRR0)).toEqual([0x52]);
  });

  it('a level-assert fixed IPI is accepted edge-triggered (TMR clear)', () => {
    const { apic } = rig();
    apic.writeRegister(ICR_LO, FIXED | SELF | LEVEL | ASSERT | 0x52);
    expect(pageVectors(apic, IRR0)).toEqual([0x52]);
    expect(pageVectors(apic, 0x180)).toEqual([]);
  });

  it('lowest-priority with an illegal vector sets ESR send-illegal and sends nothing', () => {
    const { apic, bus } = rig();
    apic.writeRegister(ICR_LO, LOWPRI | 0x3);
    expect(bus.ipis).toEqual([]);
    apic.writeRegister(0x280, 0);
    expect(apic.readRegister(0x280)).toBe(0x20);
  });

  it('NMI and SIPI are not checked for vector legality', () => {
    const { apic, bus } = rig();
    apic.writeRegister(ICR_LO, NMI | 0x0);
    apic.writeRegister(ICR_LO, STARTUP | 0x08);
    expect(bus.ipis.length).toBe(2);
  });

  it('without a bus, an IPI reaches this APIC when its destination matches it', () => {
    const clock = new Scheduler();
    const apic = new LocalApic({ id: 4, clock });
    enableApic(apic);
    apic.writeRegister(ICR_HI, 0x0400_0000);
    apic.writeRegister(ICR_LO, FIXED | 0x70);
    apic.writeRegister(ICR_HI, 0x0500_0000);
    apic.writeRegister(ICR_LO, FIXED | 0x71);
    apic.writeRegister(ICR_LO, FIXED | ALL_INCL | 0x72);
    apic.writeRegister(ICR_LO, FIXED | ALL_EXCL | 0x73);
    expect(pageVectors(apic, IRR0)).toEqual([0x70, 0x72]);
  });
});

describe('destination matching (SDM "Determining IPI Destination")', () => {
  it('xAPIC physical: the 8-bit ID or the broadcast 0xFF', () => {
    const { apic } = rig({ id: 9 });
    expect(apic.matchesDestination(9, false)).toBe(true);
    expect(apic.matchesDestination(8, false)).toBe(false);
    expect(apic.matchesDestination(0xff, false)).toBe(true);
  });

  it('xAPIC logical flat: any common bit of MDA and LDR[31:24]', () => {
    const { apic } = rig();
    apic.writeRegister(0xd0, 0x2400_0000);
    expect(apic.matchesDestination(0x04, true)).toBe(true);
    expect(apic.matchesDestination(0x20, true)).toBe(true);
    expect(apic.matchesDestination(0x42, true)).toBe(false);
  });

  it('xAPIC logical cluster: cluster in bits 7:4 must be equal, one common bit in 3:0', () => {
    const { apic } = rig();
    apic.writeRegister(0xe0, 0x0fff_ffff);
    apic.writeRegister(0xd0, 0x3200_0000);
    expect(apic.matchesDestination(0x32, true)).toBe(true);
    expect(apic.matchesDestination(0x3a, true)).toBe(true);
    expect(apic.matchesDestination(0x31, true)).toBe(false);
    expect(apic.matchesDestination(0x22, true)).toBe(false);
  });

  it('all-ones logical destination broadcasts in flat and cluster models', () => {
    const { apic } = rig();
    expect(apic.matchesDestination(0xff, true)).toBe(true);
    apic.writeRegister(0xe0, 0x0fff_ffff);
    expect(apic.matchesDestination(0xff, true)).toBe(true);
  });

  it('an undefined DFR model matches no logical destination', () => {
    const { apic } = rig();
    apic.writeRegister(0xe0, 0x5fff_ffff);
    apic.writeRegister(0xd0, 0x0100_0000);
    expect(apic.matchesDestination(0x01, true)).toBe(false);
  });

  it('x2APIC physical: the 32-bit ID or 0xFFFFFFFF', () => {
    const { apic } = rig({ id: 0x1234, x2apic: true });
    expect(apic.matchesDestination(0x1234, false)).toBe(true);
    expect(apic.matchesDestination(0x34, false)).toBe(false);
    expect(apic.matchesDestination(0xffffffff, false)).toBe(true);
  });

  it('x2APIC logical cluster: cluster in 31:16, member bits in 15:0', () => {
    const { apic } = rig({ id: 0x23, x2apic: true }); // cluster 2, bit 3
    expect(apic.matchesDestination((2 << 16) | 0x8, true)).toBe(true);
    expect(apic.matchesDestination((2 << 16) | 0x7, true)).toBe(false);
    expect(apic.matchesDestination((3 << 16) | 0x8, true)).toBe(false);
    expect(apic.matchesDestination(0xffffffff, true)).toBe(true);
  });

  it('a globally disabled APIC matches nothing', () => {
    const { apic } = rig();
    apic.writeMsr(0x1b, 0xfee00000n);
    expect(apic.matchesDestination(0xff, false)).toBe(false);
  });
});
