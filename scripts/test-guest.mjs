#!/usr/bin/env node
// npm run test:guest — real guests on irqchip: the guest test kernel and a Linux boot, each on
// irqchip (examples/v86 adapter) and on v86@0.4.0's own controllers, as one table.
// irqchip's column decides the exit code; v86's column is there for comparison.
// Prerequisites (scripts/guest-setup.sh installs them on Debian): gcc + gcc-multilib, the Linux
// images from scripts/build-linux-image.sh, `npm ci` (v86-legacy) and `npm run build` (dist/).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);

const KERNEL = '.guest/kernel/irqtest.elf';
const BZIMAGE = '.guest/linux/bzImage';
const INITRD = '.guest/linux/initramfs.cpio.gz';

function missing(what, how) {
  console.error(`test:guest: missing ${what}.\n  get it with: ${how}`);
  process.exit(2);
}

// ---- prerequisites ------------------------------------------------------------------------
if (!existsSync('dist/index.js')) missing('the built library (dist/index.js)', 'npm run build');
if (!existsSync('node_modules/v86-legacy/build/v86.wasm')) missing('v86@0.4.0 (devDependency v86-legacy)', 'npm ci');
try {
  execFileSync('bash', ['scripts/build-guest-kernel.sh'], { stdio: ['ignore', 'ignore', 'pipe'] });
} catch (e) {
  missing('a working 32-bit gcc for the guest test kernel', 'apt-get install -y gcc gcc-multilib (or scripts/guest-setup.sh)\n' + String(e.stderr ?? ''));
}
if (!existsSync(BZIMAGE) || !existsSync(INITRD)) {
  missing(`the Linux guest (${BZIMAGE}, ${INITRD})`, 'sudo scripts/build-linux-image.sh (Debian; or scripts/guest-setup.sh)');
}

const { runGuest } = await import('../examples/v86/run-guest.mjs');
const CONTROLLERS = ['irqchip', 'v86'];

// ---- the guest test kernel ----------------------------------------------------------------
/** Parses the kernel's `PASS name` / `FAIL name: why` / `SKIP name: why` lines. */
function parseKernel(serial) {
  const out = new Map();
  for (const line of serial.split('\n')) {
    const m = /^(PASS|FAIL|SKIP) ([\w.-]+)(?::\s*(.*))?$/.exec(line.trim());
    if (m) out.set(m[2], { status: m[1], detail: m[3] ?? '' });
  }
  return out;
}

// ---- Linux --------------------------------------------------------------------------------
/** /proc/interrupts as { name -> { count, chip, line, devices } }. */
function parseInterrupts(block) {
  const rows = new Map();
  for (const raw of block.split('\n')) {
    const m = /^\s*(\w+):\s+(\d+)\s*(.*)$/.exec(raw);
    if (!m) continue;
    rows.set(m[1], { count: Number(m[2]), rest: m[3] });
  }
  return rows;
}

function linuxChecks(console) {
  const serial = console.replace(/\r/g, ''); // the tty writes CR LF
  const checks = new Map();
  const put = (name, ok, detail = '') => checks.set(name, { status: ok ? 'PASS' : 'FAIL', detail });
  put('linux.marker', serial.includes('IRQCHIP-GUEST-MARKER'), 'no marker on the console');
  const parts = serial.split(/== \/proc\/interrupts \(\d\)\n/);
  if (parts.length < 3) {
    put('linux.proc-interrupts', false, 'the two /proc/interrupts dumps are missing');
    return checks;
  }
  const first = parseInterrupts(parts[1]);
  const second = parseInterrupts(parts[2].split('IRQCHIP-GUEST-DONE')[0]);
  const onIoApic = (irq, label) => {
    const row = second.get(String(irq));
    put(`linux.ioapic-carries-${label}`, !!row && /IO-APIC/.test(row.rest), row ? row.rest.trim() : `no IRQ ${irq} row`);
  };
  onIoApic(0, 'timer');
  onIoApic(1, 'keyboard');
  onIoApic(4, 'serial');
  onIoApic(9, 'acpi');
  const loc1 = first.get('LOC')?.count;
  const loc2 = second.get('LOC')?.count;
  const rise = loc2 !== undefined && loc1 !== undefined ? loc2 - loc1 : NaN;
  put('linux.local-timer-100-400-per-second', rise >= 100 && rise <= 400, `LOC rose by ${rise}`);
  const spu = second.get('SPU')?.count ?? 0;
  const err = second.get('ERR')?.count ?? 0;
  put('linux.no-spurious-or-error-interrupts', spu === 0 && err === 0, `SPU ${spu}, ERR ${err}`);
  return checks;
}

// ---- run ----------------------------------------------------------------------------------
// Every run drives v86's time from its instruction counter (InstructionClock): the checks then
// see the guest's time, not a loaded host's, and irqchip's runs are repeatable.
const CLOCK = 'instructions';
const results = {}; // controllers -> Map(check -> { status, detail })
const times = {};
const hashes = { kernel: [], linux: [] };
const bootKernel = (controllers) =>
  runGuest({ controllers, clock: CLOCK, multiboot: readFileSync(KERNEL), timeoutMs: 120_000 });
const bootLinux = (controllers) =>
  runGuest({
    controllers,
    clock: CLOCK,
    bzimage: readFileSync(BZIMAGE),
    initrd: readFileSync(INITRD),
    cmdline: 'console=ttyS0',
    memoryMiB: 128,
    until: (text) => text.includes('IRQCHIP-GUEST-DONE'),
    timeoutMs: 600_000,
  });
for (const controllers of CONTROLLERS) {
  const all = new Map();
  const k = await bootKernel(controllers);
  console.log(`kernel on ${controllers}: ${(k.ms / 1000).toFixed(1)} s, exit code ${k.exitCode ?? '-'}`);
  const kernel = parseKernel(k.serial);
  if (k.timedOut || k.exitCode === undefined) kernel.set('kernel.exits', { status: 'FAIL', detail: 'no exit within the time limit' });
  for (const [name, r] of kernel) all.set(name, r);
  const l = await bootLinux(controllers);
  console.log(`linux on ${controllers}: ${l.timedOut ? 'timeout' : `${(l.ms / 1000).toFixed(1)} s`}`);
  for (const [name, r] of linuxChecks(l.serial)) all.set(name, r);
  results[controllers] = all;
  times[controllers] = { kernel: k.ms, linux: l.timedOut ? NaN : l.ms };
  if (controllers === 'irqchip') {
    hashes.kernel.push(k.traceHash);
    hashes.linux.push(l.traceHash);
  }
}
// Determinism: the same guest twice on irqchip gives the same interrupt trace (vector, virtual ns).
const k2 = await bootKernel('irqchip');
hashes.kernel.push(k2.traceHash);
const same = (h) => h.length === 2 && h[0] !== undefined && h[0] === h[1];
const hex = (h) => h.map((x) => (x === undefined ? '-' : x.toString(16).padStart(8, '0'))).join(' vs ');
results.irqchip.set('kernel.same-trace-twice', { status: same(hashes.kernel) ? 'PASS' : 'FAIL', detail: hex(hashes.kernel) });
// Save/restore: stop the kernel halfway, save v86's state (irqchip's snapshot rides in it), restore
// it into a new emulator and the rest of the checks still pass (timers re-armed, IRR/ISR kept).
{
  const halfway = 'PASS lapic.self-ipi';
  const a = await runGuest({ controllers: 'irqchip', clock: CLOCK, multiboot: readFileSync(KERNEL), saveState: true, until: (t) => t.includes(halfway) });
  const b = await runGuest({ controllers: 'irqchip', clock: CLOCK, multiboot: readFileSync(KERNEL), restoreState: a.state, timeoutMs: 120_000 });
  const rest = parseKernel(b.serial);
  const failed = [...rest].filter(([, r]) => r.status === 'FAIL').map(([n]) => n);
  const ok = b.exitCode === 0 && rest.has('lapic.timer-periodic-at-programmed-rate') && failed.length === 0;
  results.irqchip.set('kernel.save-restore-midway', { status: ok ? 'PASS' : 'FAIL', detail: `exit ${b.exitCode ?? '-'}, ${rest.size} checks after restore, failed: ${failed.join(' ') || 'none'}` });
}
if (!process.argv.includes('--quick')) {
  const l2 = await bootLinux('irqchip');
  hashes.linux.push(l2.traceHash);
  results.irqchip.set('linux.same-trace-twice', { status: same(hashes.linux) ? 'PASS' : 'FAIL', detail: hex(hashes.linux) });
}
console.log(`trace hashes: kernel ${hex(hashes.kernel)}, linux ${hex(hashes.linux)}`);

const names = [...new Set(CONTROLLERS.flatMap((c) => [...results[c].keys()]))];
const width = Math.max(...names.map((n) => n.length));
const cell = (c, n) => results[c].get(n)?.status ?? '-';
console.log(`${'check'.padEnd(width)}  ${CONTROLLERS.map((c) => c.padEnd(7)).join('  ')}`);
console.log(`${'-'.repeat(width)}  ${CONTROLLERS.map(() => '-------').join('  ')}`);
for (const n of names) console.log(`${n.padEnd(width)}  ${CONTROLLERS.map((c) => cell(c, n).padEnd(7)).join('  ')}`);
const ms = (x) => (Number.isNaN(x) ? 'timeout' : `${(x / 1000).toFixed(1)} s`);
console.log(`${'time: kernel / linux'.padEnd(width)}  ${CONTROLLERS.map((c) => `${ms(times[c].kernel)} / ${ms(times[c].linux)}`).join('  ')}`);

const failures = [...results.irqchip].filter(([, r]) => r.status === 'FAIL');
for (const [n, r] of failures) console.log(`irqchip FAIL ${n}: ${r.detail}`);
const v86Fails = [...results.v86].filter(([, r]) => r.status === 'FAIL');
for (const [n, r] of v86Fails) console.log(`(v86's own controllers) FAIL ${n}: ${r.detail}`);
console.log(failures.length === 0 ? 'test:guest OK (irqchip column)' : `test:guest FAILED: ${failures.length} irqchip check(s)`);
process.exit(failures.length === 0 ? 0 : 1);
