/**
 * Shared pieces of the bench suite: the benchmark shape, the timing loop (median of several runs
 * after a warm-up) and the machine description written next to every result.
 *
 * Timing lives in bench/ only, never in tests.
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';

/**
 * The bench/ directory, and the extension of its runnable scripts. `npm run bench` runs the
 * bundles of bench/build.mjs from bench/.out/ (see there why); run straight from source with
 * `node --import tsx bench/run.ts`, the scripts are the .ts files themselves.
 */
const here = new URL('.', import.meta.url);
const bundled = here.pathname.endsWith('/.out/');
export const BENCH_DIR = fileURLToPath(bundled ? new URL('../', here) : here);

/** The path of the runnable form of bench script `name` (without extension). */
export function benchScript(name: string): string {
  return fileURLToPath(new URL(bundled ? `./${name}.mjs` : `./${name}.ts`, here));
}

/**
 * One named benchmark. `fn(n)` performs `n` operations (of kind `unit`) and returns a checksum so
 * the work cannot be optimised away. `setup` builds the state once per timed run; it is not timed.
 */
export interface Bench<S = unknown> {
  name: string;
  /** What one operation is ("cycle", "vector", "target", "event"...). */
  unit: string;
  /** Operations per timed run. */
  ops: number;
  /** Exactly which library calls one operation makes (printed in docs/performance.md). */
  does: string;
  setup: () => S;
  run: (state: S, n: number) => number;
}

export interface Result {
  name: string;
  unit: string;
  opsPerSecond: number;
  nsPerOp: number;
  /** ns/op of every timed run, in run order. */
  runs: number[];
  does: string;
}

/** Median of a list of numbers. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export interface MeasureOptions {
  /** Timed runs (default 5); the median is reported. */
  runs?: number;
  /** Scale the op count (the compare script and quick runs use < 1). */
  scale?: number;
}

/** Warm-up, then `runs` timed runs on fresh state; reports the median ns/op. */
export function measure<S>(b: Bench<S>, opts: MeasureOptions = {}): Result {
  const runs = opts.runs ?? 5;
  const ops = Math.max(16, Math.floor(b.ops * (opts.scale ?? 1)));
  // Warm-up: long enough for the optimising compiler to settle on the hot loop.
  b.run(b.setup(), Math.max(16, Math.floor(ops / 4)));
  b.run(b.setup(), Math.max(16, Math.floor(ops / 4)));
  const times: number[] = [];
  let sink = 0;
  for (let r = 0; r < runs; r++) {
    const state = b.setup();
    const t0 = process.hrtime.bigint();
    sink += b.run(state, ops);
    const dt = Number(process.hrtime.bigint() - t0);
    times.push(dt / ops);
  }
  if (Number.isNaN(sink)) throw new Error(`${b.name}: checksum is NaN`);
  const nsPerOp = median(times);
  return { name: b.name, unit: b.unit, nsPerOp, opsPerSecond: 1e9 / nsPerOp, runs: times, does: b.does };
}

/** The CPU model from /proc/cpuinfo (falls back to os.cpus()). */
export function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1]!.trim();
  } catch {
    // not Linux
  }
  return cpus()[0]?.model ?? 'unknown';
}

export function machineInfo(): { node: string; v8: string; cpu: string; cores: number; date: string } {
  return {
    node: process.version,
    v8: process.versions.v8,
    cpu: cpuModel(),
    cores: cpus().length,
    date: new Date().toISOString(),
  };
}

export function formatResult(r: Result): string {
  const rate = r.opsPerSecond >= 1e6 ? `${(r.opsPerSecond / 1e6).toFixed(2)} M` : `${(r.opsPerSecond / 1e3).toFixed(1)} k`;
  return `${r.name.padEnd(20)} ${r.nsPerOp.toFixed(2).padStart(9)} ns/${r.unit.padEnd(7)} ${rate} ${r.unit}s/s`;
}

/**
 * xorshift32 with the seed of bench/apic_model.c, so the TypeScript benchmarks draw the
 * same vector sequence as the native model. The state is kept as a signed 32-bit integer (so V8
 * keeps it unboxed) and {@link vectorFrom} reduces the unsigned value exactly like C's
 * `32 + (x % 224)`.
 */
export const XORSHIFT_SEED = 2463534242 | 0;

/** One xorshift32 step on a signed-int32 state. */
export function xorshiftStep(s: number): number {
  s ^= s << 13;
  s ^= s >>> 17;
  s ^= s << 5;
  return s | 0;
}

/**
 * `32 + (u32(s) % 224)`, C's `32 + xorshift() % 224`. V8 sees an unsigned 32-bit value modulo a
 * constant and compiles it to a multiply by the reciprocal, as the C compiler does (measured
 * faster than splitting the value into 16-bit halves to stay in signed range).
 */
export function vectorFrom(s: number): number {
  return 32 + ((s >>> 0) % 224);
}
