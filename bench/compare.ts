/**
 * `npm run bench:compare`: irqchip against its two baselines, in the same run.
 *
 * 1. The native C model of the local APIC hot path (bench/apic_model.c), compiled at run
 *    time with the machine's C compiler into a temporary directory (never committed), against
 *    `lapic-cycle` and `lapic-burst16`. Both sides draw the same xorshift32 vector sequence and run
 *    the same loops; a checksum run proves it.
 * 2. The flatness of `ipi-broadcast`: per-target cost at N = 1024 over N = 4.
 * 3. v86's 8259A pair (npm devDependency `v86`, its wasm instantiated standalone) against
 *    `pic-cycle`, and the raise/lower pair without INTA.
 *
 * Ratios are TS time / baseline time: below 1.0 means irqchip is faster. The machine this runs on
 * is usually shared, so the two sides are timed in short alternating rounds (TS, then the
 * baseline, over the same op count) and the reported ratio is the median of the per-round ratios:
 * a neighbour's burst of load then slows both sides of a round instead of one side of the run.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BENCH_DIR, type Bench, machineInfo, median } from './common.js';
import { cModelChecksum, enabledApic, lapicBenches } from './lapic.js';
import { picBenches, picRaiseLowerRun, picSetup } from './pic.js';
import { ipiBenches } from './ipi.js';
import { type V86Pic, loadV86Pic, v86IntEntry, v86PicCycle, v86PicRaiseLower } from './v86-pic.js';

/** Alternating rounds (odd, so the median is one round's ratio). */
const ROUNDS = Number(process.env.IRQCHIP_COMPARE_ROUNDS ?? 15);
/** Ops per side per round: the C binary's argument, the TS cycle ops and the TS burst vectors. */
const C_OPS = 8_000_000;
/** PIC ops per side per round. */
const PIC_OPS = 1_500_000;

interface Paired {
  ts: number;
  base: number;
  ratio: number;
  ratioMin: number;
  ratioMax: number;
  tsRuns: number[];
  baseRuns: number[];
  ratios: number[];
}

/** Per-side medians and the median of the per-round ratios. */
function paired(ts: number[], base: number[]): Paired {
  const ratios = ts.map((t, i) => t / base[i]!);
  const r = (x: number): number => Math.round(x * 1000) / 1000;
  return {
    ts: median(ts),
    base: median(base),
    ratio: median(ratios),
    ratioMin: Math.min(...ratios),
    ratioMax: Math.max(...ratios),
    tsRuns: ts.map(r),
    baseRuns: base.map(r),
    ratios: ratios.map(r),
  };
}

function report(name: string, p: Paired, baseName: string, unit: string): void {
  console.log(
    `${name.padEnd(20)} TS ${p.ts.toFixed(2).padStart(7)} ns/${unit}   ${baseName} ${p.base.toFixed(2).padStart(7)} ns/${unit}   ratio TS/${baseName} ${p.ratio.toFixed(2)} (median of ${p.ratios.length} rounds; ${p.ratioMin.toFixed(2)}-${p.ratioMax.toFixed(2)})`,
  );
}

/** One timed run of `n` ops on fresh state (the caller warms up first). */
function timeTs<S>(b: Bench<S>, n: number): number {
  const state = b.setup();
  const t0 = process.hrtime.bigint();
  const sink = b.run(state, n);
  const dt = Number(process.hrtime.bigint() - t0);
  if (Number.isNaN(sink)) throw new Error(`${b.name}: checksum is NaN`);
  return dt / n;
}

function warmUp<S>(b: Bench<S>, n: number): void {
  b.run(b.setup(), n);
  b.run(b.setup(), n);
}


// ---- 1. native C model --------------------------------------------------------------------------

/** The C model: bench/apic_model.c, or IRQCHIP_APIC_MODEL to time another file with the same output. */
function cModelSource(): string {
  return process.env.IRQCHIP_APIC_MODEL ?? join(BENCH_DIR, 'apic_model.c');
}

interface CRun {
  cycle: number;
  burst: number;
  sink: number;
}

function runC(binary: string, n: number): CRun {
  const out = execFileSync(binary, [String(n)], { encoding: 'utf8' });
  const cycle = /lapic-cycle ([\d.]+) ns/.exec(out);
  const burst = /lapic-burst16 ([\d.]+) ns/.exec(out);
  const sink = /sink (-?\d+)/.exec(out);
  if (!cycle || !burst || !sink) throw new Error(`unexpected output from apic_model: ${out}`);
  return { cycle: Number(cycle[1]), burst: Number(burst[1]), sink: Number(sink[1]) };
}

function compareC(): Record<string, unknown> {
  const source = cModelSource();
  if (!existsSync(source)) {
    console.log(`C model: skipped, ${source} not found (IRQCHIP_APIC_MODEL)`);
    return { skipped: 'source not found' };
  }
  const cc = process.env.CC ?? 'cc';
  const dir = mkdtempSync(join(tmpdir(), 'irqchip-apic-model-'));
  const binary = join(dir, 'apic_model');
  try {
    try {
      execFileSync(cc, ['-O2', '-o', binary, source], { stdio: 'pipe' });
    } catch (e) {
      console.log(`C model: skipped, no working C compiler (${cc}: ${(e as Error).message.split('\n')[0]})`);
      return { skipped: 'no C compiler' };
    }
    const version = execFileSync(cc, ['--version'], { encoding: 'utf8' }).split('\n')[0];
    console.log(`C model: ${source}, ${version} -O2`);
    // Same work on both sides: apic_model.c's checksum equals the TS loops' for the same n.
    const checkN = 160_000;
    const cSink = runC(binary, checkN).sink;
    const tsSink = cModelChecksum(checkN);
    if (cSink !== tsSink) throw new Error(`checksum mismatch: C ${cSink}, TS ${tsSink}: the workloads differ`);
    console.log(`  same vector sequence and loops: checksum ${cSink} on both sides for n = ${checkN}`);
    const [cycleBench, burstBench] = lapicBenches as [Bench<ReturnType<typeof enabledApic>>, Bench<ReturnType<typeof enabledApic>>];
    // Warm-up: V8 settles on the hot loops; the binary's pages and the CPU's caches are warm.
    warmUp(cycleBench, C_OPS / 4);
    warmUp(burstBench, C_OPS / 4);
    runC(binary, C_OPS / 4);
    const c: CRun[] = [];
    const tsCycle: number[] = [];
    const tsBurst: number[] = [];
    // Each round: TS cycle, the C binary (its cycle loop, then its burst loop, over the same op
    // count), TS burst16. Each TS loop is timed next to the C loop it is compared with: the
    // host's speed changes in phases of about a second (docs/performance.md), and a C process
    // takes a third of one.
    for (let r = 0; r < ROUNDS; r++) {
      tsCycle.push(timeTs(cycleBench, C_OPS));
      c.push(runC(binary, C_OPS));
      tsBurst.push(timeTs(burstBench, C_OPS));
    }
    const cycle = paired(tsCycle, c.map((x) => x.cycle));
    const burst = paired(tsBurst, c.map((x) => x.burst));
    console.log(`  ${ROUNDS} alternating rounds of ${C_OPS} ops per side (TS cycle, C cycle + burst16, TS burst16)`);
    report('lapic-cycle', cycle, 'C', 'cycle');
    report('lapic-burst16', burst, 'C', 'vector');
    return { compiler: version, rounds: ROUNDS, opsPerRound: C_OPS, 'lapic-cycle': cycle, 'lapic-burst16': burst };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- 3. v86 PIC ---------------------------------------------------------------------------------

function timeV86(v: V86Pic, fn: (v: V86Pic, n: number) => number, n: number): number {
  fn(v, Math.floor(n / 4));
  const t0 = process.hrtime.bigint();
  fn(v, n);
  return Number(process.hrtime.bigint() - t0) / n;
}

function compareV86(): Record<string, unknown> {
  const v = loadV86Pic();
  if (typeof v === 'string') {
    console.log(`v86 PIC: skipped, ${v}`);
    return { skipped: v };
  }
  console.log(`v86 PIC: npm v86 ${v.version}, build/v86.wasm instantiated standalone, both chips programmed by OUT (ICW1-4, OCW1)`);
  const raiseLower: Bench<ReturnType<typeof picSetup>> = {
    name: 'pic-raise-lower',
    unit: 'pair',
    ops: 3_000_000,
    does: 'PicPair.setIrq(irq, true), setIrq(irq, false)',
    setup: picSetup,
    run: picRaiseLowerRun,
  };
  const n = PIC_OPS;
  const cycleBench = picBenches[0]!;
  warmUp(cycleBench, n / 4);
  warmUp(raiseLower, n / 4);
  const ts: number[] = [];
  const v86: number[] = [];
  const tsRl: number[] = [];
  const v86Rl: number[] = [];
  const entry: number[] = [];
  // Each round: TS then v86 over the same op count, for each pair; then v86's interrupt entry.
  for (let r = 0; r < ROUNDS; r++) {
    ts.push(timeTs(cycleBench, n));
    v86.push(timeV86(v, v86PicCycle, n));
    tsRl.push(timeTs(raiseLower, n));
    v86Rl.push(timeV86(v, v86PicRaiseLower, n));
    entry.push(timeV86(v, v86IntEntry, n));
  }
  const cycle = paired(ts, v86);
  const withoutEntry = paired(ts, v86.map((b, i) => b - entry[i]!));
  const rl = paired(tsRl, v86Rl);
  const e = median(entry);
  console.log(`  ${ROUNDS} alternating rounds of ${n} ops per side (TS then v86)`);
  report('pic-cycle', cycle, 'v86', 'cycle');
  console.log(
    `${''.padEnd(20)} v86's side includes its real-mode interrupt entry (${e.toFixed(2)} ns, measured alone as INT 0x0C); without it v86 ${withoutEntry.base.toFixed(2)} ns, ratio ${withoutEntry.ratio.toFixed(2)} (${withoutEntry.ratioMin.toFixed(2)}-${withoutEntry.ratioMax.toFixed(2)})`,
  );
  report('pic-raise-lower', rl, 'v86', 'pair');
  return {
    v86: v.version,
    rounds: ROUNDS,
    opsPerRound: n,
    'pic-cycle': { ...cycle, v86IntEntryNs: e, ratioWithoutEntry: withoutEntry.ratio },
    'pic-raise-lower': rl,
  };
}

// ---- 2. ipi-broadcast flatness -----------------------------------------------------------------

/** Broadcast targets per side per round. */
const IPI_OPS = 2_048_000;

/**
 * The per-target cost of an x2APIC broadcast at N = 1024 against N = 4, alternating in one
 * process like the comparisons above (separate processes on a shared machine differ by more
 * than the effect being measured). Runs before v86 is loaded: growing its wasm memory detaches
 * an ArrayBuffer, which makes V8 add detach checks to all typed-array code from then on.
 */
function compareBroadcast(): Record<string, unknown> {
  const small = ipiBenches.find((b) => b.name === 'ipi-broadcast-4')!;
  const large = ipiBenches.find((b) => b.name === 'ipi-broadcast-1024')!;
  warmUp(small, IPI_OPS / 4);
  warmUp(large, IPI_OPS / 4);
  const s: number[] = [];
  const l: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    l.push(timeTs(large, IPI_OPS));
    s.push(timeTs(small, IPI_OPS));
  }
  const p = paired(l, s);
  console.log(`ipi-broadcast: ${ROUNDS} alternating rounds of ${IPI_OPS} targets per side (N = 1024, then N = 4)`);
  console.log(
    `${'ipi-broadcast-1024'.padEnd(20)} ${p.ts.toFixed(2).padStart(7)} ns/target   N=4 ${p.base.toFixed(2).padStart(7)} ns/target   ratio 1024/4 ${p.ratio.toFixed(2)} (median of ${p.ratios.length} rounds; ${p.ratioMin.toFixed(2)}-${p.ratioMax.toFixed(2)})`,
  );
  return { rounds: ROUNDS, opsPerRound: IPI_OPS, 'ipi-broadcast-1024/4': p };
}

const info = machineInfo();
console.log(`node ${info.node} (V8 ${info.v8}), ${info.cpu}, ${info.cores} cores, ${info.date}`);
console.log(`operations per side:`);
for (const b of [...lapicBenches, picBenches[0]!]) console.log(`  TS ${b.name}: ${b.does}`);
console.log(`  C lapic-cycle / lapic-burst16: the same loops over accept/pending/ack/eoi in bench/apic_model.c`);
console.log(`  v86 pic-cycle: update_eflags(IF); device_raise_irq(irq) (INTA + real-mode interrupt entry inside); OUT 0xA0,0x20 for slave IRQs; OUT 0x20,0x20; device_lower_irq(irq)`);
console.log(`  pic-raise-lower: TS setIrq(irq, true) + setIrq(irq, false); v86 device_raise_irq + device_lower_irq with IF clear (no INTA)`);
const c = compareC();
const broadcast = compareBroadcast();
const v = compareV86();
console.log(JSON.stringify({ ...info, c, broadcast, v86: v }));
