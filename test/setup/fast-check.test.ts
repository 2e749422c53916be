import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

// Not imported from ./fast-check.ts: importing it would apply the setting this test checks.
const SUITE_SEED = 0x1c_2026;

describe('fast-check seeds outside test/fuzz', () => {
  const plain = (process.env.FUZZ_RUNS ?? '') === '' && (process.env.FUZZ_SEED ?? '') === '';
  it('plain npm test fixes the seed of every property that does not choose its own', () => {
    if (!plain) return expect(fc.readConfigureGlobal().seed).not.toBe(SUITE_SEED);
    expect(fc.readConfigureGlobal().seed).toBe(SUITE_SEED);
    // Two runs of one property draw the same inputs.
    const draw = (): number[] => fc.sample(fc.integer(), { numRuns: 5 });
    expect(draw()).toEqual(draw());
  });
});
