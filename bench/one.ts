/**
 * Runs the named benchmarks of the suite in this process and prints their results as one JSON
 * line. run.ts and compare.ts start one such process per benchmark so that each one is compiled
 * by V8 with its own type feedback, as it would be in an emulator that uses only that device.
 * Usage: node bench/build.mjs && node bench/.out/one.mjs [--quick] [--runs=N] name...
 */
import { type Result, measure } from './common.js';
import { SUITE } from './suite.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const runsArg = args.find((a) => a.startsWith('--runs='));
const runs = runsArg ? Number(runsArg.slice('--runs='.length)) : quick ? 3 : 7;
const names = args.filter((a) => !a.startsWith('--'));
const results: Result[] = [];
for (const name of names) {
  const b = SUITE.find((x) => x.name === name);
  if (!b) throw new RangeError(`unknown benchmark ${name}`);
  results.push(measure(b, { runs, scale: quick ? 0.2 : 1 }));
}
process.stdout.write(JSON.stringify(results) + '\n');
