/**
 * Host misuse of the two free functions: explainVector (read-only: a bad argument throws, a good
 * one never changes anything) and decodeMsi (pure: any number is an MSI register value).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { LocalApic } from '../../src/apic/local-apic.js';
import { decodeMsi } from '../../src/bus/msi.js';
import type { IoApic } from '../../src/ioapic/ioapic.js';
import { explainVector } from '../../src/platform/explain.js';
import { BAD_INTEGERS, NOT_NUMBERS, busyPlatform, expectRejected } from './helpers.js';

describe('explainVector(apic, vector, ioapic?) misuse', () => {
  const world = (): ReturnType<typeof busyPlatform> & { apic: LocalApic } => {
    const w = busyPlatform();
    return { ...w, apic: w.pc.lapics[0]! };
  };

  for (const v of [256, -1, 300, 48.5, ...BAD_INTEGERS.map(([, x]) => x)]) {
    it(`vector ${v} throws a RangeError naming vector and 0..255`, () => {
      const { apic, pc, observe } = world();
      expectRejected(observe, () => explainVector(apic, v, pc.ioapic), RangeError, /^vector must be an integer in 0\.\.255/);
    });
  }
  for (const [label, v] of NOT_NUMBERS) {
    it(`vector as ${label} throws a TypeError naming vector`, () => {
      const { apic, observe } = world();
      expectRejected(observe, () => explainVector(apic, v as number), TypeError, /^vector must be a number/);
    });
  }
  for (const [label, apic] of [['undefined', undefined], ['null', null], ['an object', {}], ['the I/O APIC', 'io']] as const) {
    it(`apic as ${label} throws a TypeError naming apic`, () => {
      const { pc, observe } = world();
      const arg = apic === 'io' ? pc.ioapic : apic;
      expectRejected(observe, () => explainVector(arg as unknown as LocalApic, 0x41), TypeError, /^apic must be a LocalApic/);
    });
  }
  for (const [label, io] of [['null', null], ['an object', {}], ['a local APIC', 'lapic']] as const) {
    it(`ioapic as ${label} throws a TypeError naming ioapic`, () => {
      const { apic, pc, observe } = world();
      const arg = io === 'lapic' ? pc.lapics[1] : io;
      expectRejected(observe, () => explainVector(apic, 0x41, arg as unknown as IoApic), TypeError, /^ioapic must be an IoApic or undefined/);
    });
  }
  it('every valid vector gets an answer and nothing changes', () => {
    const { apic, pc, observe } = world();
    const before = observe();
    for (let v = 0; v < 256; v++) {
      const e = explainVector(apic, v, pc.ioapic);
      expect(typeof e.reason).toBe('string');
      expect(e.deliverable).toBe(e.reason === 'deliverable');
    }
    expect(observe()).toEqual(before);
  });
});

describe('decodeMsi(address, data, extendedDestId?)', () => {
  for (const [label, v] of NOT_NUMBERS) {
    it(`address or data as ${label} throws a TypeError naming it`, () => {
      expect(() => decodeMsi(v as number, 0)).toThrow(TypeError);
      expect(() => decodeMsi(v as number, 0)).toThrow(/^address must be a number/);
      expect(() => decodeMsi(0xfee0_0000, v as number)).toThrow(/^data must be a number/);
    });
  }
  for (const ext of ['no', 1, 0, null]) {
    it(`extendedDestId ${JSON.stringify(ext)} throws a TypeError naming extendedDestId`, () => {
      expect(() => decodeMsi(0xfee0_0000, 0, ext as never)).toThrow(TypeError);
      expect(() => decodeMsi(0xfee0_0000, 0, ext as never)).toThrow(/^extendedDestId must be a boolean/);
    });
  }

  it('any number is register data: decoding equals decoding its u32 value', () => {
    const anyNumber = fc.oneof(fc.integer({ min: 0, max: 0xffff_ffff }), fc.double(), fc.integer());
    fc.assert(
      fc.property(anyNumber, anyNumber, fc.boolean(), (a, d, ext) => {
        expect(decodeMsi(a, d, ext)).toEqual(decodeMsi(a >>> 0, d >>> 0, ext));
      }),
      { numRuns: 300, seed: 8 },
    );
  });
  it('fields are always in range', () => {
    for (const [a, d] of [[-1, -1], [Number.NaN, Number.NaN], [2 ** 53, 2 ** 53], [0xfeef_ffff, 0xffff_ffff]] as const) {
      for (const ext of [false, true]) {
        const m = decodeMsi(a, d, ext);
        expect(m.destination).toBeGreaterThanOrEqual(0);
        expect(m.destination).toBeLessThanOrEqual(ext ? 0x7fff : 0xff);
        expect(m.vector).toBeLessThanOrEqual(0xff);
        expect(m.deliveryMode).toBeLessThanOrEqual(7);
      }
    }
  });
});
