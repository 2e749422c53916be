#!/usr/bin/env node
// Benchmark (not a test): Linux in v86@0.4.0 booted to its userspace marker on irqchip and on
// v86's own controllers, alternating the two, N pairs (default 5). Prints each boot's wall time,
// the median of the per-pair ratios irqchip / v86 (CPU time of this process, and wall time), and irqchip's share of the boot's CPU time.
//
//   node bench/v86-boot.mjs [pairs] [--host-clock]
//
// Needs the Linux guest (scripts/build-linux-image.sh) and `npm run build`. By default v86's time
// comes from its instruction counter (the same instructions for both boots, HLT skipped), so the
// ratio compares the work, not how long a loaded host took to wake a timer.
//
// irqchip's share: a second pass boots once more on irqchip under the V8 sampling profiler
// (node:inspector) and adds up the self time of functions in dist/ and in the adapter.
import { readFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { runGuest } from '../examples/v86/run-guest.mjs';

const pairs = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 5);
const clock = process.argv.includes('--host-clock') ? 'host' : 'instructions';
const bzimage = readFileSync('.guest/linux/bzImage');
const initrd = readFileSync('.guest/linux/initramfs.cpio.gz');
const MARKER = 'IRQCHIP-GUEST-MARKER';

const boot = (controllers) =>
  runGuest({
    controllers,
    clock,
    bzimage,
    initrd,
    cmdline: 'console=ttyS0',
    memoryMiB: 128,
    until: (text) => text.includes(MARKER),
    timeoutMs: 900_000,
  });

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

console.log(`v86 Linux boot to "${MARKER}", ${pairs} pairs, ${clock} clock, node ${process.version}`);
const ratios = []; // CPU time of this process: other processes on a shared host do not count
const wallRatios = [];
for (let i = 0; i < pairs; i++) {
  // Alternate which goes first so drift in the host's load hits both sides alike.
  const order = i % 2 === 0 ? ['irqchip', 'v86'] : ['v86', 'irqchip'];
  const ms = {};
  const cpu = {};
  const work = {}; // virtual time at the marker, in instructions (HLT time included)
  for (const c of order) {
    const before = process.cpuUsage();
    const r = await boot(c);
    const used = process.cpuUsage(before);
    if (r.timedOut) throw new Error(`${c} boot timed out`);
    ms[c] = r.ms;
    cpu[c] = (used.user + used.system) / 1000;
    work[c] = r.instructions;
  }
  ratios.push(cpu.irqchip / cpu.v86);
  wallRatios.push(ms.irqchip / ms.v86);
  const s = (x) => `${(x / 1000).toFixed(1)} s`;
  console.log(
    `pair ${i + 1}: CPU irqchip ${s(cpu.irqchip)}, v86 ${s(cpu.v86)}, ratio ${(cpu.irqchip / cpu.v86).toFixed(3)}` +
      ` | wall irqchip ${s(ms.irqchip)}, v86 ${s(ms.v86)}, ratio ${(ms.irqchip / ms.v86).toFixed(3)}` +
      (work.irqchip ? ` | guest time to the marker: irqchip ${(work.irqchip / 1e8).toFixed(2)} s, v86 ${(work.v86 / 1e8).toFixed(2)} s` : ''),
  );
}
console.log(`median ratio irqchip / v86: CPU time ${median(ratios).toFixed(3)}, wall time ${median(wallRatios).toFixed(3)}`);

// ---- irqchip's share of the CPU time, from a sampling profile --------------------------------
const session = new Session();
session.connect();
await session.post('Profiler.enable');
await session.post('Profiler.setSamplingInterval', { interval: 200 });
await session.post('Profiler.start');
await boot('irqchip');
const { profile } = await session.post('Profiler.stop');
session.disconnect();
const dt = new Map(); // node id -> sampled time, µs
for (let i = 0; i < profile.samples.length; i++) {
  dt.set(profile.samples[i], (dt.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0));
}
let total = 0;
let ours = 0;
let idle = 0;
for (const node of profile.nodes) {
  const t = dt.get(node.id) ?? 0;
  total += t;
  const url = node.callFrame.url;
  if (node.callFrame.functionName === '(idle)') idle += t;
  if (/\/dist\/index\.js$|\/examples\/v86\/irqchip-v86\.mjs$/.test(url)) ours += t;
}
const busy = total - idle;
console.log(`irqchip (dist/ + adapter) self time: ${(ours / 1000).toFixed(0)} ms of ${(busy / 1000).toFixed(0)} ms busy CPU = ${((100 * ours) / busy).toFixed(2)} %`);
