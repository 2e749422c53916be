/**
 * Shared fast-check settings for the fuzz suite (issue 8, "Hardening").
 *
 * - `npm test` runs every property with a modest number of runs ({@link DEFAULT_RUNS}) and a
 *   fixed seed per property (derived from its name), so the suite is reproducible and CI never
 *   flakes on a seed nobody can find again.
 * - `FUZZ_RUNS=n npm run fuzz` runs n cases per property (scaled down for the heavy ones) with a
 *   fresh seed each time, so more runs explore new inputs. `FUZZ_RUNS=n npm test` also lengthens
 *   the property tests outside test/fuzz in proportion ({@link propertyRuns}).
 * - `FUZZ_SEED=s` forces the seed (in both modes); `FUZZ_SEED=random` asks for a fresh one.
 * - `FUZZ_PATH=p` (with `FUZZ_SEED`) replays exactly one failing case. On failure the error
 *   message ends with a one-line command that does this for the failing property only.
 *
 * Nothing here reads a wall clock: runs are bounded by counts, never by time.
 *
 * @module
 */
import fc from 'fast-check';
import { it } from 'vitest';

/** Runs per property under plain `npm test`: the whole fuzz directory stays well under 20 s. */
export const DEFAULT_RUNS = 100;

function parseRuns(raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`FUZZ_RUNS must be a positive integer, got ${raw}`);
  return n;
}

function parseSeed(raw: string | undefined): number | 'random' | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (raw === 'random') return 'random';
  const n = Number(raw);
  if (!Number.isInteger(n)) throw new RangeError(`FUZZ_SEED must be an integer or "random", got ${raw}`);
  return n | 0;
}

const runsFromEnv = parseRuns(process.env.FUZZ_RUNS);
const seedFromEnv = parseSeed(process.env.FUZZ_SEED);
const pathFromEnv = process.env.FUZZ_PATH === '' ? undefined : process.env.FUZZ_PATH;
if (pathFromEnv !== undefined && (seedFromEnv === undefined || seedFromEnv === 'random')) {
  throw new RangeError('FUZZ_PATH replays one case and needs the FUZZ_SEED it was found with');
}

/** Runs per property for this process: FUZZ_RUNS, or the modest default. */
export const FUZZ_RUNS = runsFromEnv ?? DEFAULT_RUNS;

/**
 * Runs for a fast-check property outside test/fuzz whose own default is `defaultRuns` (chosen for
 * its cost): that default under plain `npm test`; with `FUZZ_RUNS=n`, n scaled by
 * `defaultRuns / DEFAULT_RUNS`, so one variable lengthens every property test in proportion.
 */
export function propertyRuns(defaultRuns: number): number {
  if (runsFromEnv === undefined) return defaultRuns;
  return Math.max(1, Math.round((runsFromEnv * defaultRuns) / DEFAULT_RUNS));
}

/** Whether the caller asked for a long run (then seeds are fresh unless FUZZ_SEED is given). */
const exploring = runsFromEnv !== undefined;

/** A per-test timeout: generous for long fuzz runs, vitest's usual bound otherwise. */
const TIMEOUT_MS = exploring ? 7 * 24 * 3600 * 1000 : 60_000;

/** FNV-1a of the property name: a stable, distinct default seed per property. */
function nameSeed(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h | 0;
}

export interface FuzzOptions {
  /**
   * Fraction of {@link FUZZ_RUNS} this property runs (heavy properties, e.g. 64 CPUs, use less).
   * At least one run always happens.
   */
  scale?: number;
}

/** The fast-check parameters a property runs with; exported for the config's own tests. */
export function fuzzParameters<Ts>(name: string, opts: FuzzOptions = {}): fc.Parameters<Ts> {
  const numRuns = Math.max(1, Math.round(FUZZ_RUNS * (opts.scale ?? 1)));
  const params: fc.Parameters<Ts> = { numRuns };
  if (typeof seedFromEnv === 'number') params.seed = seedFromEnv;
  else if (seedFromEnv === undefined && !exploring) params.seed = nameSeed(name);
  // seed left undefined: fast-check picks a fresh one and reports it on failure.
  if (pathFromEnv !== undefined) params.path = pathFromEnv;
  return params;
}

/** The one-line command that replays a failure of property `name`. */
export function replayCommand(name: string, seed: number, path: string | null): string {
  const pathPart = path === null ? '' : ` FUZZ_PATH="${path}"`;
  // A regex for vitest's -t, then quoted for a POSIX shell.
  const pattern = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/["$`\\]/g, '\\$&');
  return `FUZZ_SEED=${seed}${pathPart} npm run fuzz -- -t "${pattern}"`;
}

/**
 * Checks `property` with the suite's settings and throws a report that ends with the replay
 * command when it fails.
 */
export function checkProperty<Ts>(name: string, property: fc.IProperty<Ts>, opts: FuzzOptions = {}): void {
  const details = fc.check(property, fuzzParameters<Ts>(name, opts));
  if (!details.failed) return;
  const report = fc.defaultReportMessage(details) ?? 'property failed';
  const cause = details.errorInstance;
  const why = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
  throw new Error(
    `${report}\n\nFailure: ${why}\n\nReplay this failure with:\n  ${replayCommand(name, details.seed, details.counterexamplePath)}\n`,
    { cause },
  );
}

/**
 * Declares a vitest test that checks a fast-check property. The test name is what the replay
 * command filters on, so keep names unique within test/fuzz and free of regex metacharacters.
 */
export function fuzz<Ts>(name: string, makeProperty: () => fc.IProperty<Ts>, opts: FuzzOptions = {}): void {
  it(name, () => checkProperty(name, makeProperty(), opts), TIMEOUT_MS);
}
