import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mulAddDivFloor, mulDivCeil, mulDivFloor, mulMod } from '../../src/time/ratio.js';
import { propertyRuns } from '../fuzz/config.js';

const RUNS = propertyRuns(100);
const MAX = Number.MAX_SAFE_INTEGER;

/** Reference results with BigInt, independent of the code under test. */
function refFloor(a: number, b: number, c: number): bigint {
  return (BigInt(a) * BigInt(b)) / BigInt(c);
}
function refCeil(a: number, b: number, c: number): bigint {
  const p = BigInt(a) * BigInt(b);
  const q = p / BigInt(c);
  return q * BigInt(c) === p ? q : q + 1n;
}

describe('mulDivFloor / mulDivCeil: hand-checked values', () => {
  it('small exact quotients agree for floor and ceil', () => {
    expect(mulDivFloor(6, 4, 3)).toBe(8);
    expect(mulDivCeil(6, 4, 3)).toBe(8);
    expect(mulDivFloor(0, 12345, 7)).toBe(0);
    expect(mulDivCeil(0, 12345, 7)).toBe(0);
    expect(mulDivFloor(5, 0, 7)).toBe(0);
    expect(mulDivCeil(5, 0, 7)).toBe(0);
  });

  it('small inexact quotients round down and up', () => {
    // 7 * 3 / 4 = 5.25
    expect(mulDivFloor(7, 3, 4)).toBe(5);
    expect(mulDivCeil(7, 3, 4)).toBe(6);
    // 1 * 1000 / 3 = 333.33 (a 3 MHz tick in ns)
    expect(mulDivFloor(1, 1000, 3)).toBe(333);
    expect(mulDivCeil(1, 1000, 3)).toBe(334);
    // 1 * 1 / 1e9
    expect(mulDivFloor(1, 1, 1e9)).toBe(0);
    expect(mulDivCeil(1, 1, 1e9)).toBe(1);
  });

  it('products exactly at 2^53 - 1 stay exact', () => {
    // 2^53 - 1 = 6361 * 69431 * 20394401
    expect(6361 * 69431 * 20394401).toBe(MAX);
    expect(mulDivFloor(6361 * 69431, 20394401, 1)).toBe(MAX);
    expect(mulDivFloor(6361 * 69431, 20394401, 6361)).toBe(69431 * 20394401);
    expect(mulDivCeil(6361 * 69431, 20394401, 2)).toBe(2 ** 52); // (2^53 - 1) / 2 = 2^52 - 0.5
    expect(mulDivFloor(6361 * 69431, 20394401, 2)).toBe(2 ** 52 - 1);
  });

  it('products above 2^53 are exact where doubles would round', () => {
    // (2^53 - 1) * 3 / 3 must come back exactly; a double product would lose the low bit.
    expect(mulDivFloor(MAX, 3, 3)).toBe(MAX);
    expect(mulDivCeil(MAX, 3, 3)).toBe(MAX);
    // (2^53 - 1) * 2 / 4 = 2^52 - 0.5
    expect(mulDivFloor(MAX, 2, 4)).toBe(2 ** 52 - 1);
    expect(mulDivCeil(MAX, 2, 4)).toBe(2 ** 52);
    expect(mulDivFloor(MAX, 1_000_000_000, 1_000_000_000)).toBe(MAX);
    expect(mulDivCeil(MAX, 1_000_000_000, 1_000_000_000)).toBe(MAX);
    // (2^53 - 1) * 1e9 / (1e9 + 1) = 2^53 - 1 - (2^53 - 1) / (1e9 + 1) = 9007199245733791.9966...
    expect(mulDivFloor(MAX, 1_000_000_000, 1_000_000_001)).toBe(9_007_199_245_733_791);
    expect(mulDivCeil(MAX, 1_000_000_000, 1_000_000_001)).toBe(9_007_199_245_733_792);
    // 2^40 ticks * 1e9 ns / 24e6 Hz: 45812984490666.67 ns
    expect(mulDivFloor(2 ** 40, 1_000_000_000, 24_000_000)).toBe(45_812_984_490_666);
    expect(mulDivCeil(2 ** 40, 1_000_000_000, 24_000_000)).toBe(45_812_984_490_667);
  });

  it('ceil is floor + 1 exactly when the division is inexact', () => {
    expect(mulDivCeil(10, 10, 7) - mulDivFloor(10, 10, 7)).toBe(1);
    expect(mulDivCeil(10, 14, 7) - mulDivFloor(10, 14, 7)).toBe(0);
  });
});

describe('mulDivFloor / mulDivCeil: properties against BigInt', () => {
  it('small operands (products below 2^53)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 26 }),
        fc.integer({ min: 0, max: 2 ** 26 }),
        fc.integer({ min: 1, max: 2 ** 30 }),
        (a, b, c) => {
          expect(BigInt(mulDivFloor(a, b, c))).toBe(refFloor(a, b, c));
          expect(BigInt(mulDivCeil(a, b, c))).toBe(refCeil(a, b, c));
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('huge products (up to 2^106) whose quotient is a safe integer', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: MAX }),
        fc.integer({ min: 0, max: MAX }),
        fc.integer({ min: 1, max: MAX }),
        (a, b, cRaw) => {
          // Pick c so that the exact quotient fits in 2^53 - 1: c >= ceil(a*b / MAX).
          const p = BigInt(a) * BigInt(b);
          const minC = (p + BigInt(MAX) - 1n) / BigInt(MAX);
          if (minC > BigInt(MAX)) return;
          const c = Math.max(cRaw, Number(minC));
          const f = mulDivFloor(a, b, c);
          const g = mulDivCeil(a, b, c);
          expect(Number.isSafeInteger(f)).toBe(true);
          expect(BigInt(f)).toBe(refFloor(a, b, c));
          if (refCeil(a, b, c) <= BigInt(MAX)) expect(BigInt(g)).toBe(refCeil(a, b, c));
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('products straddling 2^53', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2 ** 26, max: 2 ** 27 }),
        fc.integer({ min: 2 ** 26, max: 2 ** 27 }),
        // c >= 4 keeps the quotient (<= 2^52) a safe integer.
        fc.integer({ min: 4, max: 1000 }),
        (a, b, c) => {
          expect(BigInt(mulDivFloor(a, b, c))).toBe(refFloor(a, b, c));
          expect(BigInt(mulDivCeil(a, b, c))).toBe(refCeil(a, b, c));
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('floor(a*b/c) * c <= a*b < (floor + 1) * c, and ceil is its mirror', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 40 }),
        fc.integer({ min: 0, max: 2 ** 30 }),
        // c >= 2^18 keeps the quotient (<= 2^52) a safe integer.
        fc.integer({ min: 2 ** 18, max: 2 ** 40 }),
        (a, b, c) => {
          const p = BigInt(a) * BigInt(b);
          const f = BigInt(mulDivFloor(a, b, c));
          const g = BigInt(mulDivCeil(a, b, c));
          const C = BigInt(c);
          expect(f * C <= p && p < (f + 1n) * C).toBe(true);
          expect(g * C >= p && p > (g - 1n) * C).toBe(true);
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe('mulAddDivFloor / mulMod', () => {
  it('hand-checked values', () => {
    // (7 * 3 + 2) / 4 = 5.75
    expect(mulAddDivFloor(7, 3, 2, 4)).toBe(5);
    // (7 * 3 + 3) / 4 = 6
    expect(mulAddDivFloor(7, 3, 3, 4)).toBe(6);
    expect(mulAddDivFloor(0, 5, 0, 3)).toBe(0);
    // ((2^53 - 1) * 2 + 2) / 2 = 2^53: the sum is beyond 2^53 - 1 but the quotient is exact.
    expect(mulAddDivFloor(MAX, 2, 2, 4)).toBe(2 ** 52);
    expect(mulMod(7, 3, 4)).toBe(1);
    expect(mulMod(1000, 1, 3)).toBe(1);
    // (2^53 - 1) * 3 mod 10: 9007199254740991 * 3 = 27021597764222973 -> 3
    expect(mulMod(MAX, 3, 10)).toBe(3);
  });

  it('agree with BigInt for small and huge operands', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.integer({ min: 0, max: 2 ** 26 }), fc.integer({ min: 0, max: MAX })),
        fc.oneof(fc.integer({ min: 0, max: 2 ** 26 }), fc.integer({ min: 0, max: 2 ** 40 })),
        fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: MAX })),
        fc.integer({ min: 1, max: MAX }),
        (a, b, add, c) => {
          const p = BigInt(a) * BigInt(b);
          expect(BigInt(mulMod(a, b, c))).toBe(p % BigInt(c));
          const q = (p + BigInt(add)) / BigInt(c);
          if (q <= BigInt(MAX)) expect(BigInt(mulAddDivFloor(a, b, add, c))).toBe(q);
        },
      ),
      { numRuns: RUNS },
    );
  });
});
