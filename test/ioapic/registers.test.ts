import { describe, expect, it } from 'vitest';
import * as R from '../../src/ioapic/registers.js';

describe('I/O APIC register layout (82093AA §3)', () => {
  it('places IOREGSEL at 0x00, IOWIN at 0x10 and the EOI register at 0x40', () => {
    expect([R.IOREGSEL, R.IOWIN, R.IOEOI]).toEqual([0x00, 0x10, 0x40]);
  });

  it('numbers the indirect registers ID 0x00, VER 0x01, ARB 0x02, redirection table from 0x10', () => {
    expect([R.IOAPICID, R.IOAPICVER, R.IOAPICARB, R.IOREDTBL_BASE]).toEqual([0x00, 0x01, 0x02, 0x10]);
  });

  it('indexes pin n at 0x10 + 2n (low half) and 0x11 + 2n (high half)', () => {
    expect(R.redirectionIndex(0, false)).toBe(0x10);
    expect(R.redirectionIndex(0, true)).toBe(0x11);
    expect(R.redirectionIndex(23, false)).toBe(0x3e);
    expect(R.redirectionIndex(23, true)).toBe(0x3f);
    expect(R.redirectionIndex(119, true)).toBe(0xff);
  });

  it('maps a redirection index back to its pin and half', () => {
    expect(R.pinOfRedirectionIndex(0x10)).toBe(0);
    expect(R.pinOfRedirectionIndex(0x11)).toBe(0);
    expect(R.pinOfRedirectionIndex(0x3f)).toBe(23);
    expect(R.isHighHalf(0x3f)).toBe(true);
    expect(R.isHighHalf(0x3e)).toBe(false);
  });

  it('limits pins to 1..120 (0x10 + 2*119 + 1 = 0xFF fits IOREGSEL) with 24 by default', () => {
    expect([R.MIN_PINS, R.MAX_PINS, R.DEFAULT_PINS]).toEqual([1, 120, 24]);
  });

  it('encodes the ID in bits 27:24', () => {
    expect(R.ID_MASK << R.ID_SHIFT).toBe(0x0f00_0000);
    expect(R.MAX_ID).toBe(15);
  });

  it('builds IOAPICVER from the version (7:0) and the maximum redirection entry (23:16)', () => {
    expect(R.versionRegister(0x11, 24)).toBe(0x0017_0011);
    expect(R.versionRegister(0x20, 24)).toBe(0x0017_0020);
    expect(R.versionRegister(0x20, 120)).toBe(0x0077_0020);
    expect(R.versionRegister(0x11, 1)).toBe(0x0000_0011);
  });

  it('places every redirection entry bit field where §3.2.4 says', () => {
    expect(R.RTE_VECTOR_MASK).toBe(0xff);
    expect(R.RTE_DELIVERY_MODE_MASK << R.RTE_DELIVERY_MODE_SHIFT).toBe(0x700);
    expect(R.RTE_DEST_MODE_LOGICAL).toBe(0x800);
    expect(R.RTE_DELIVERY_STATUS).toBe(0x1000);
    expect(R.RTE_POLARITY_LOW).toBe(0x2000);
    expect(R.RTE_REMOTE_IRR).toBe(0x4000);
    expect(R.RTE_TRIGGER_LEVEL).toBe(0x8000);
    expect(R.RTE_MASKED).toBe(0x1_0000);
    expect(R.RTE_LOW_RESERVED).toBe(0xfffe_0000);
    expect(R.RTE_LOW_READ_ONLY).toBe(0x5000);
    expect((R.RTE_DEST_MASK << R.RTE_DEST_SHIFT) >>> 0).toBe(0xff00_0000);
    expect(R.RTE_HIGH_RESERVED).toBe(0x00ff_ffff);
  });

  it('resets an entry to masked with every other bit 0', () => {
    expect(R.RTE_RESET_LOW).toBe(0x0001_0000);
    expect(R.RTE_RESET_HIGH).toBe(0);
  });

  it('extracts vector, delivery mode and destination fields', () => {
    expect(R.vectorOf(0xffff_a7fe)).toBe(0xfe);
    expect(R.deliveryModeOf(0x0000_0530)).toBe(5);
    expect(R.destinationOf(0xab12_3456)).toBe(0xab);
  });
});
