/**
 * `npm run bench:compare`: irqchip against its two baselines, in the same run.
 *
 * 1. The native C model of the local APIC hot path (../shared/perf/apic_model.c), compiled at run
 *    time with the machine's C compiler into a temporary directory (never committed), against
 *    `lapic-cycle` and `lapic-burst16`. Both sides draw the same xorshift32 vector sequence and run
 *    the same loops; a checksum run proves it. Runs alternate C / TS; medians are compared.
 * 2. v86's 8259A pair (npm devDependency `v86`, its wasm instantiated standalone) against
 *    `pic-cycle`, and the raise/lower pair without INTA.
 *
 * Ratios are TS time / baseline time: below 1.0 means irqchip is faster.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Bench, formatResult, machineInfo, measure, median } from './common.js';
import { cModelChecksum, enabledApic, lapicBenches } from './lapic.js';
import { picBenches, picRaiseLowerRun, picSetup } from './pic.js';
import { type V86Pic, loadV86Pic, v86IntEntry, v86PicCycle, v86PicRaiseLower } from './v86-pic.js';

const ROUNDS = 5;
const C_CYCLES = 20_000_000;

function line(name: string, ts: number, base: number, baseName: string, unit: string): void {
  console.log(
    `${name.padEnd(20)} TS ${ts.toFixed(2).padStart(7)} ns/${unit}   ${baseName} ${base.toFixed(2).padStart(7)} ns/${unit}   ratio TS/${baseName} ${(ts / base).toFixed(2)}`,
  );
}

// ---- 1. native C model --------------------------------------------------------------------------

function perfDir(): string {
  return process.env.IRQCHIP_PERF_DIR ?? fileURLToPath(new URL('../../shared/perf/', import.meta.url));
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
  const source = join(perfDir(), 'apic_model.c');
  if (!existsSync(source)) {
    console.log(`C model: skipped, ${source} not found (set IRQCHIP_PERF_DIR)`);
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
    const c: CRun[] = [];
    const tsCycle: number[] = [];
    const tsBurst: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      c.push(runC(binary, C_CYCLES));
      tsCycle.push(measure(cycleBench, { runs: 3 }).nsPerOp);
      tsBurst.push(measure(burstBench, { runs: 3 }).nsPerOp);
    }
    const cCycle = median(c.map((x) => x.cycle));
    const cBurst = median(c.map((x) => x.burst));
    const tCycle = median(tsCycle);
    const tBurst = median(tsBurst);
    line('lapic-cycle', tCycle, cCycle, 'C', 'cycle');
    line('lapic-burst16', tBurst, cBurst, 'C', 'vector');
    return {
      compiler: version,
      rounds: ROUNDS,
      'lapic-cycle': { tsNs: tCycle, cNs: cCycle, ratio: tCycle / cCycle, tsRuns: tsCycle, cRuns: c.map((x) => x.cycle) },
      'lapic-burst16': { tsNs: tBurst, cNs: cBurst, ratio: tBurst / cBurst, tsRuns: tsBurst, cRuns: c.map((x) => x.burst) },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- 2. v86 PIC ---------------------------------------------------------------------------------

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
  const n = 3_000_000;
  const ts: number[] = [];
  const v86: number[] = [];
  const tsRl: number[] = [];
  const v86Rl: number[] = [];
  const entry: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    ts.push(measure(picBenches[0]!, { runs: 3 }).nsPerOp);
    v86.push(timeV86(v, v86PicCycle, n));
    tsRl.push(measure(raiseLower, { runs: 3 }).nsPerOp);
    v86Rl.push(timeV86(v, v86PicRaiseLower, n));
    entry.push(timeV86(v, v86IntEntry, n));
  }
  const t = median(ts);
  const b = median(v86);
  const e = median(entry);
  line('pic-cycle', t, b, 'v86', 'cycle');
  console.log(
    `${''.padEnd(20)} v86's side includes its real-mode interrupt entry (${e.toFixed(2)} ns, measured alone as INT 0x0C); without it v86 ${(b - e).toFixed(2)} ns, ratio ${(t / (b - e)).toFixed(2)}`,
  );
  line('pic-raise-lower', median(tsRl), median(v86Rl), 'v86', 'pair');
  return {
    v86: v.version,
    rounds: ROUNDS,
    'pic-cycle': { tsNs: t, v86Ns: b, ratio: t / b, v86IntEntryNs: e, ratioWithoutEntry: t / (b - e), tsRuns: ts, v86Runs: v86 },
    'pic-raise-lower': { tsNs: median(tsRl), v86Ns: median(v86Rl), ratio: median(tsRl) / median(v86Rl) },
  };
}

const info = machineInfo();
console.log(`node ${info.node} (V8 ${info.v8}), ${info.cpu}, ${info.cores} cores, ${info.date}`);
console.log(`operations per side:`);
for (const b of [...lapicBenches, picBenches[0]!]) console.log(`  TS ${b.name}: ${b.does}`);
console.log(`  C lapic-cycle / lapic-burst16: the same loops over accept/pending/ack/eoi in apic_model.c`);
console.log(`  v86 pic-cycle: update_eflags(IF); device_raise_irq(irq) (INTA + real-mode interrupt entry inside); OUT 0xA0,0x20 for slave IRQs; OUT 0x20,0x20; device_lower_irq(irq)`);
console.log(`  pic-raise-lower: TS setIrq(irq, true) + setIrq(irq, false); v86 device_raise_irq + device_lower_irq with IF clear (no INTA)`);
const c = compareC();
const v = compareV86();
void formatResult;
console.log(JSON.stringify({ ...info, c, v86: v }));
