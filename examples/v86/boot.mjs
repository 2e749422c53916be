#!/usr/bin/env node
// Boots a guest in v86@0.4.0 with irqchip as its interrupt controllers and prints its serial console.
//   node examples/v86/boot.mjs kernel [--v86]      the guest test kernel (.guest/kernel/irqtest.elf)
//   node examples/v86/boot.mjs linux [--v86]       Linux (.guest/linux/bzImage + initramfs.cpio.gz)
// --v86 runs on v86's own controllers instead, for comparison. --instruction-clock drives v86's
// time from its instruction counter (100 M instructions per second, HLT skips ahead) instead of
// the host's clock.
import { readFileSync } from 'node:fs';
import { runGuest } from './run-guest.mjs';

const what = process.argv[2] ?? 'kernel';
const controllers = process.argv.includes('--v86') ? 'v86' : 'irqchip';
const clock = process.argv.includes('--instruction-clock') ? 'instructions' : 'host';
const onChar = (ch) => process.stdout.write(ch);
let result;
if (what === 'kernel') {
  result = await runGuest({ controllers, clock, multiboot: readFileSync('.guest/kernel/irqtest.elf'), onChar, timeoutMs: 60_000 });
} else if (what === 'linux') {
  result = await runGuest({
    controllers,
    clock,
    bzimage: readFileSync('.guest/linux/bzImage'),
    initrd: readFileSync('.guest/linux/initramfs.cpio.gz'),
    cmdline: 'console=ttyS0 tsc=reliable',
    memoryMiB: 128,
    onChar,
    until: (text) => text.includes('IRQCHIP-GUEST-DONE'),
    timeoutMs: 300_000,
  });
} else {
  console.error(`usage: boot.mjs kernel|linux [--v86]`);
  process.exit(2);
}
console.log(`\n[boot.mjs] ${what} on ${controllers} (${clock} clock): exit code ${result.exitCode ?? '-'}, ${result.ms.toFixed(0)} ms${result.timedOut ? ', TIMED OUT' : ''}`);
process.exit(result.timedOut ? 1 : (result.exitCode ?? 0));
