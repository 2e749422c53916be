/**
 * The bench suite: `npm run bench [--quick] [--in-process] [name...]`. Each benchmark prints ops/s
 * as the median of several timed runs after a warm-up, and all results are written to
 * bench/results/latest.json (gitignored) with the Node version, CPU model and date. Each benchmark
 * runs in a fresh Node process (bench/one.ts) unless --in-process is given. Timing lives here
 * only, never in tests.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_DIR, type Result, benchScript, formatResult, machineInfo, measure } from './common.js';
import { SUITE } from './suite.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const inProcess = args.includes('--in-process');
const wanted = args.filter((a) => !a.startsWith('--'));
const unknown = wanted.filter((w) => w !== 'memory' && !SUITE.some((b) => b.name === w));
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; known: ${SUITE.map((b) => b.name).join(', ')}`);
  process.exit(2);
}

/** Runs one benchmark in a child Node process with the same Node flags. */
export function runIsolated(name: string, extra: string[] = []): Result {
  const script = benchScript('one');
  const out = execFileSync(process.execPath, [...process.execArgv, script, ...extra, name], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  return (JSON.parse(out.trim().split('\n').pop()!) as Result[])[0]!;
}

const info = machineInfo();
console.log(`node ${info.node} (V8 ${info.v8}), ${info.cpu}, ${info.cores} cores, ${info.date}`);
const results: Result[] = [];
for (const b of SUITE) {
  if (wanted.length > 0 && !wanted.includes(b.name)) continue;
  const r = inProcess ? measure(b, quick ? { runs: 3, scale: 0.2 } : { runs: 7 }) : runIsolated(b.name, quick ? ['--quick'] : []);
  results.push(r);
  console.log(formatResult(r));
}
let memory: unknown;
if (wanted.length === 0 || wanted.includes('memory')) {
  const script = benchScript('memory');
  memory = JSON.parse(execFileSync(process.execPath, ['--expose-gc', ...process.execArgv, script], { encoding: 'utf8' }));
  const m = memory as { cpus: number; bytesPerVcpu: number; heapBytesPerVcpu: number; arrayBufferBytesPerVcpu: number };
  console.log(
    `${'memory'.padEnd(20)} ${(m.bytesPerVcpu / 1024).toFixed(2).padStart(9)} KiB/vCPU at ${m.cpus} vCPUs (heap ${m.heapBytesPerVcpu.toFixed(0)} B + page buffers ${m.arrayBufferBytesPerVcpu.toFixed(0)} B)`,
  );
}
mkdirSync(join(BENCH_DIR, 'results'), { recursive: true });
writeFileSync(
  join(BENCH_DIR, 'results', 'latest.json'),
  JSON.stringify({ ...info, isolated: !inProcess, results, memory }, null, 2) + '\n',
);
console.log('written: bench/results/latest.json');
