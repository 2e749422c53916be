/**
 * FUZZ_RUNS is the one variable that lengthens property runs (README, docs/reliability.md): in
 * test/fuzz directly, elsewhere through propertyRuns(default), scaled by default / 100.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';

async function freshConfig(runs: string | undefined): Promise<typeof import('./config.js')> {
  vi.resetModules();
  if (runs === undefined) vi.stubEnv('FUZZ_RUNS', '');
  else vi.stubEnv('FUZZ_RUNS', runs);
  return import('./config.js');
}

afterEach(() => {
  vi.unstubAllEnvs();
  vi.resetModules();
});

describe('FUZZ_RUNS', () => {
  it('leaves each property test at its own default when unset', async () => {
    const { propertyRuns, FUZZ_RUNS } = await freshConfig(undefined);
    expect(FUZZ_RUNS).toBe(100);
    expect([propertyRuns(15), propertyRuns(200)]).toEqual([15, 200]);
  });

  it('scales property tests outside test/fuzz by their default / 100', async () => {
    const { propertyRuns, FUZZ_RUNS } = await freshConfig('1000');
    expect(FUZZ_RUNS).toBe(1000);
    expect([propertyRuns(15), propertyRuns(100), propertyRuns(200)]).toEqual([150, 1000, 2000]);
  });

  it('runs at least once however small the scale', async () => {
    const { propertyRuns } = await freshConfig('1');
    expect(propertyRuns(15)).toBe(1);
  });
});
