/**
 * Generators shared by the fuzz properties: values a guest can produce (any u32, and for
 * JavaScript callers any number at all), register offsets biased towards real registers, and
 * "interesting" register values that reach deep states (enable, ExtINT, level, TSC-deadline...).
 *
 * @module
 */
import fc from 'fast-check';

/** Any u32. */
export const u32 = fc.integer({ min: 0, max: 0xffff_ffff });

/** Any u64 as a bigint. */
export const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });

/** Any vector, legal or not. */
export const vector = fc.integer({ min: 0, max: 255 });

/** Mostly legal vectors, sometimes 0-15. */
export const someVector = fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 16, max: 255 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 15 }) });

/**
 * A guest data value as an emulator might pass it: mostly u32, sometimes a value a 32-bit store
 * would truncate (negative, fractional, NaN, infinities, > 2^32). Guest input never throws.
 */
export const guestNumber = fc.oneof(
  { weight: 8, arbitrary: u32 },
  { weight: 1, arbitrary: fc.integer({ min: -0x8000_0000, max: -1 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 0.5, 1.5, 2 ** 32, 2 ** 40 + 3, 2 ** 53, -(2 ** 53), 1e300),
  },
  { weight: 1, arbitrary: fc.double() },
);

/** Bits that are interesting in any 32-bit APIC register, ORed into random values. */
const lapicValue = fc.oneof(
  { weight: 4, arbitrary: u32 },
  { weight: 3, arbitrary: fc.constantFrom(0x1ff, 0x11ff, 0x3ff, 0xff, 0, 0x100, 0x10000) }, // SVR-ish, masks
  { weight: 3, arbitrary: fc.tuple(fc.integer({ min: 0, max: 7 }), vector, fc.integer({ min: 0, max: 0x3f })).map(([mode, v, hi]) => (hi << 11) | (mode << 8) | v) },
  { weight: 2, arbitrary: fc.tuple(fc.integer({ min: 0, max: 3 }), vector, fc.boolean()).map(([tm, v, m]) => (tm << 17) | (m ? 0x10000 : 0) | v) }, // timer LVT
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 2000 }) }, // small timer counts
);

/** A guest data value for a local APIC register. */
export const lapicGuestValue = fc.oneof({ weight: 6, arbitrary: lapicValue }, { weight: 1, arbitrary: guestNumber });

/** Every offset of the xAPIC page, biased to the starts of register slots. */
export const lapicOffset = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 0x3f }).map((i) => i << 4) },
  { weight: 2, arbitrary: fc.constantFrom(0x80, 0xb0, 0xf0, 0x280, 0x300, 0x310, 0x320, 0x350, 0x360, 0x370, 0x380, 0x3e0) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xfff }) },
);

/** An x2APIC / APIC MSR number: the x2APIC range, IA32_APIC_BASE, TSC_DEADLINE, or anything. */
export const msrNumber = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0x800, max: 0x8ff }) },
  { weight: 3, arbitrary: fc.constantFrom(0x1b, 0x6e0, 0x802, 0x808, 0x80b, 0x80f, 0x828, 0x830, 0x832, 0x835, 0x836, 0x837, 0x838, 0x83e, 0x83f) },
  { weight: 1, arbitrary: u32 },
);

/** IA32_APIC_BASE values: every EN/EXTD/BSP combination at the default base, plus junk. */
export const apicBaseValue = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 7 }).map((bits) => 0xfee0_0000n | (BigInt(bits & 1) << 8n) | (BigInt((bits >> 1) & 1) << 10n) | (BigInt((bits >> 2) & 1) << 11n)) },
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: 0xf_ffff_ffffn }).map((b) => b | 0x800n) },
  { weight: 1, arbitrary: u64 },
);

/** A 64-bit MSR value: small (no reserved upper half), structured, or any u64. */
export const msrValue = fc.oneof(
  { weight: 5, arbitrary: lapicValue.map((v) => BigInt(v >>> 0)) },
  { weight: 2, arbitrary: fc.tuple(lapicValue, u32).map(([lo, hi]) => (BigInt(hi) << 32n) | BigInt(lo >>> 0)) },
  { weight: 1, arbitrary: fc.constantFrom(0n, 1n, 0xffn, 0x100n, 0xffff_ffffn, 1n << 32n, (1n << 64n) - 1n) },
  { weight: 1, arbitrary: u64 },
);

/** Small time steps in virtual ns, including 0 and steps around the 200 µs minimum period. */
export const timeStep = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 2000 }) },
  { weight: 2, arbitrary: fc.constantFrom(0, 1, 199_999, 200_000, 200_001, 10_000_000) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 50_000_000 }) },
);

/**
 * A sequence of operations of up to `maxLength` steps. fast-check's default size keeps arrays
 * short (about 5 items on average), which is too short to reach deep device states, so the
 * length is drawn from the whole range; shrinking still goes to the shortest failing sequence.
 */
export function sequence<T>(op: fc.Arbitrary<T>, maxLength: number): fc.Arbitrary<T[]> {
  return fc.array(op, { maxLength, size: 'max' });
}

/** The type of the values an arbitrary generates. */
export type ValueOf<A> = A extends fc.Arbitrary<infer T> ? T : never;
