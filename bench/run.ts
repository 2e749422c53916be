/**
 * The bench suite: `npm run bench [name...]`. Each benchmark prints ops/s as the median of several
 * timed runs after a warm-up, and all results are written to bench/results/latest.json.
 * Timing lives here only, never in tests.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { LocalApic } from '../src/apic/local-apic.js';
import { Scheduler } from '../src/time/scheduler.js';

interface Result {
  name: string;
  unit: string;
  opsPerSecond: number;
  nsPerOp: number;
  runs: number[];
}

/** xorshift32: the same pseudo-random vectors as ../shared/perf/apic_model.c. */
function xorshift(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

function enabledApic(): LocalApic {
  const apic = new LocalApic({ id: 0, clock: new Scheduler() });
  apic.writeRegister(0xf0, 0x1ff);
  return apic;
}

/** One accept -> pending -> acknowledge -> EOI cycle per op (every 8th vector level-triggered). */
function lapicCycle(n: number): number {
  const apic = enabledApic();
  const rnd = xorshift(2463534242);
  let sink = 0;
  for (let i = 0; i < n; i++) {
    const v = 32 + (rnd() % 224);
    apic.acceptInterrupt(v, (v & 7) === 0);
    if (apic.pendingVector() >= 0) {
      sink += apic.acknowledge();
      apic.eoi();
    }
  }
  return sink;
}

/** 16 vectors raised, then acknowledged while they beat PPR (nesting), then all EOIed. Op = vector. */
function lapicBurst16(n: number): number {
  const apic = enabledApic();
  const rnd = xorshift(2463534242);
  let sink = 0;
  const bursts = Math.floor(n / 16);
  for (let i = 0; i < bursts; i++) {
    for (let k = 0; k < 16; k++) apic.acceptInterrupt(32 + (rnd() % 224), false);
    while (apic.pendingVector() >= 0) sink += apic.acknowledge();
    for (let k = 0; k < 16; k++) apic.eoi();
  }
  return sink;
}

const BENCHES: Record<string, { unit: string; ops: number; fn: (n: number) => number }> = {
  'lapic-cycle': { unit: 'cycle', ops: 5_000_000, fn: lapicCycle },
  'lapic-burst16': { unit: 'vector', ops: 5_000_000, fn: lapicBurst16 },
};

function measure(name: string, ops: number, fn: (n: number) => number, unit: string): Result {
  fn(Math.floor(ops / 5)); // warm-up
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = process.hrtime.bigint();
    fn(ops);
    const dt = Number(process.hrtime.bigint() - t0);
    runs.push(dt / ops);
  }
  const sorted = [...runs].sort((a, b) => a - b);
  const nsPerOp = sorted[Math.floor(sorted.length / 2)]!;
  return { name, unit, nsPerOp, opsPerSecond: 1e9 / nsPerOp, runs };
}

const wanted = process.argv.slice(2);
const results: Result[] = [];
for (const [name, b] of Object.entries(BENCHES)) {
  if (wanted.length > 0 && !wanted.includes(name)) continue;
  const r = measure(name, b.ops, b.fn, b.unit);
  results.push(r);
  console.log(`${name.padEnd(16)} ${r.nsPerOp.toFixed(2).padStart(8)} ns/${r.unit}  ${(r.opsPerSecond / 1e6).toFixed(2)} M ${r.unit}s/s`);
}
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(
  new URL('./results/latest.json', import.meta.url),
  JSON.stringify({ node: process.version, cpu: cpus()[0]?.model, results }, null, 2),
);
