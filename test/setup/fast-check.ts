/**
 * vitest setup (vitest.config.ts `setupFiles`): the seed of every fast-check property that does not
 * choose its own (the ones in test/fuzz do, through test/fuzz/config.ts).
 *
 * Under plain `npm test` the seed is fixed, so a CI run is reproducible and cannot fail on inputs
 * nobody can draw again. `FUZZ_RUNS=n` (a long run) or `FUZZ_SEED=random` gives fresh seeds to
 * explore new inputs; `FUZZ_SEED=s` fixes another seed. A failure prints its seed and path either
 * way (fast-check's report).
 */
import fc from 'fast-check';

/** The seed of plain `npm test` (any fixed integer would do; this one is the suite's). */
export const SUITE_SEED = 0x1c_2026;

const seed = process.env.FUZZ_SEED ?? '';
const exploring = (process.env.FUZZ_RUNS ?? '') !== '';
if (seed === '' && !exploring) fc.configureGlobal({ seed: SUITE_SEED });
else if (seed !== '' && seed !== 'random' && Number.isInteger(Number(seed))) fc.configureGlobal({ seed: Number(seed) | 0 });
