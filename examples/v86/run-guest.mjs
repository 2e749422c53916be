// Boots one guest in v86@0.4.0 under Node, on irqchip (the adapter) or on v86's own controllers,
// and collects its serial output. Used by boot.mjs, scripts/test-guest.mjs and the benchmark.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { IrqchipForV86, exposeV86Globals } from './irqchip-v86.mjs';

const require = createRequire(import.meta.url);
const V86_DIR = dirname(dirname(require.resolve('v86-legacy')));
const v86module = require('v86-legacy');
exposeV86Globals(v86module);

/** Port the multiboot test loader of v86@0.4.0 treats as "exit with this code". */
const EXIT_PORT = 0xf4;

let binaries;
function loadBinaries() {
  binaries ??= {
    wasm: readFileSync(join(V86_DIR, 'build', 'v86.wasm')),
    bios: readFileSync(join(V86_DIR, 'bios', 'seabios.bin')),
    vgaBios: readFileSync(join(V86_DIR, 'bios', 'vgabios.bin')),
  };
  return binaries;
}

/**
 * A clock for v86 made from its instruction counter: `instructionsPerMs` instructions are one ms,
 * and a halted CPU jumps ahead to the next timer instead of sleeping. v86@0.4.0 reads time through
 * one static function, `v86.microtick` (its devices call it; the wasm core gets it as an import
 * when the emulator is built), so replacing it before `new V86Starter` moves every device onto
 * this clock. The RTC reads Date.now(); runGuest points that at this clock too while it runs.
 */
export class InstructionClock {
  constructor(instructionsPerMs = 100_000) {
    this.instructionsPerMs = instructionsPerMs;
    this.cpu = undefined;
    this.lastCount = 0;
    this.wraps = 0;
    this.skippedMs = 0;
    this.now = () => this.ms();
  }

  ms() {
    if (!this.cpu) return 0;
    const count = this.cpu.instruction_counter[0] >>> 0;
    if (count < this.lastCount) this.wraps++;
    this.lastCount = count;
    return (this.wraps * 2 ** 32 + count) / this.instructionsPerMs + this.skippedMs;
  }

  /** v86 returns "sleep this many ms" from a halted CPU; skip that time instead of sleeping it. */
  attach(emulator) {
    const machine = emulator.v86;
    const cpu = machine.cpu;
    this.cpu = cpu;
    machine.yield = (ms, tick) => {
      if (ms > 0 && cpu.in_hlt[0]) this.skippedMs += ms;
      setImmediate(() => machine.yield_callback(tick));
    };
    this.deterministicJit(cpu);
  }

  /**
   * v86's JIT compiles a hot block to wasm and instantiates it with a promise: when the compiled
   * code takes over depends on the host, and with it where the instruction counter stands when
   * the CPU next looks for interrupts. Here a finished block is installed at the start of the
   * next slice instead (a slice ends at a fixed virtual time), compiled synchronously.
   */
  deterministicJit(cpu) {
    const ready = [];
    cpu.codegen_finalize = (index, startAddress, stateFlags, ptr, len) => {
      ready.push([index, startAddress, stateFlags, new Uint8Array(cpu.wasm_memory.buffer, ptr >>> 0, len >>> 0).slice()]);
    };
    const run = cpu.do_many_cycles;
    cpu.do_many_cycles = function () {
      while (ready.length > 0) {
        const [index, startAddress, stateFlags, code] = ready.shift();
        const instance = new WebAssembly.Instance(new WebAssembly.Module(code), { e: cpu.jit_imports });
        cpu.wm.wasm_table.set(index + WASM_TABLE_OFFSET, instance.exports.f);
        cpu.codegen_finalize_finished(index, startAddress, stateFlags);
      }
      run.call(cpu);
    };
  }
}

/** The date the guest's RTC starts at under the InstructionClock: 2024-01-01T00:00:00Z. */
const RTC_EPOCH_MS = Date.UTC(2024, 0, 1);

/** v86's JIT puts compiled block n at wasm table entry n + 1024 (its WASM_TABLE_OFFSET). */
const WASM_TABLE_OFFSET = 1024;

/** A seeded xorshift32 for v86's get_rand_int (RDRAND and the like), so runs repeat. */
function seededRandom(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x | 0;
  };
}

const buffer = (bytes) => ({ buffer: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) });

/**
 * @param {object} o
 * @param {'irqchip' | 'v86'} o.controllers
 * @param {Uint8Array} [o.multiboot] a multiboot kernel
 * @param {Uint8Array} [o.bzimage] a Linux kernel, with [o.initrd] and [o.cmdline]
 * @param {number} [o.memoryMiB]
 * @param {(text: string) => boolean} [o.until] stop once this returns true for the output so far
 * @param {number} [o.timeoutMs] host time limit
 * @param {boolean} [o.saveState] return v86's saved state (with irqchip's snapshot in it) once stopped
 * @param {ArrayBuffer} [o.restoreState] a state from saveState to continue from
 * @param {'host' | 'instructions'} [o.clock] v86's time: the host's (default) or the InstructionClock
 * @returns {Promise<{ serial: string, exitCode: number | undefined, ms: number, timedOut: boolean,
 *   adapter?: IrqchipForV86, traceHash?: number, interrupts?: number,
 *   instructions?: number (guest instructions plus skipped halt time, in instructions, instruction clock only) }>}
 */
export async function runGuest(o) {
  const bin = loadBinaries();
  const options = {
    wasm_fn: async (env) => (await WebAssembly.instantiate(bin.wasm, env)).instance.exports,
    bios: buffer(bin.bios),
    vga_bios: buffer(bin.vgaBios),
    memory_size: (o.memoryMiB ?? 32) * 1024 * 1024,
    vga_memory_size: 2 * 1024 * 1024,
    acpi: true,
    autostart: false,
    disable_keyboard: true,
    disable_mouse: true,
    disable_speaker: true,
  };
  if (o.multiboot) options.multiboot = buffer(o.multiboot);
  if (o.bzimage) {
    options.bzimage = buffer(o.bzimage);
    if (o.initrd) options.initrd = buffer(o.initrd);
    options.cmdline = o.cmdline ?? 'console=ttyS0';
  }
  const hostMicrotick = v86module.v86.microtick;
  const hostDateNow = Date.now;
  const clock = o.clock === 'instructions' ? new InstructionClock(o.instructionsPerMs) : undefined;
  if (clock) v86module.v86.microtick = clock.now;
  // v86's RTC reads Date.now() for the date and for its update cycle (the UIP flag, alarms, the
  // periodic interrupt); Linux polls it at boot. Give it a fixed date moving in guest time.
  if (clock) Date.now = () => RTC_EPOCH_MS + Math.floor(clock.ms());
  let emulator;
  try {
    emulator = new v86module.V86Starter(options);
    await new Promise((resolve) => emulator.add_listener('emulator-loaded', resolve));
  } finally {
    v86module.v86.microtick = hostMicrotick; // the wasm core and the devices already hold theirs
  }
  const cpu = emulator.v86.cpu;
  const hostRandom = v86module.v86util.get_rand_int;
  if (clock) {
    clock.attach(emulator);
    v86module.v86.microtick = clock.now;
    v86module.v86util.get_rand_int = seededRandom(0x1badb002);
  }
  const adapter =
    o.controllers === 'irqchip'
      ? new IrqchipForV86(cpu, { now: clock ? clock.now : hostMicrotick, testPorts: true, platform: o.platform })
      : undefined;

  if (!adapter) {
    // The same test protocol for GSIs 16-23 on v86's own I/O APIC, for comparison runs.
    for (let gsi = 16; gsi <= 23; gsi++) {
      const write = (v) => (v ? cpu.devices.ioapic.set_irq(gsi) : cpu.devices.ioapic.clear_irq(gsi));
      cpu.io.register_write(0x2000 + gsi, cpu, write, write, write);
    }
  }

  let serial = '';
  let exitCode;
  let resolveDone;
  let atStop;
  const done = new Promise((resolve) => (resolveDone = resolve));
  // What the interrupt trace was when the guest reached its end (the emulator stops a little later).
  const finish = (why) => {
    atStop ??= {
      instructions: clock ? Math.round(clock.ms() * clock.instructionsPerMs) : undefined,
      ...(adapter ? { traceHash: adapter.traceHash, interrupts: adapter.stats.acks } : {}),
    };
    resolveDone(why);
  };
  cpu.io.register_write(EXIT_PORT, cpu, (code) => {
    exitCode = code;
    finish();
  });
  emulator.add_listener('serial0-output-char', (ch) => {
    serial += ch;
    if (o.onChar) o.onChar(ch);
    if (o.until && ch === '\n' && o.until(serial)) finish();
  });
  // A saved state restores after the adapter is in place: v86 hands the Platform snapshot to it.
  if (o.restoreState) await emulator.restore_state(o.restoreState);
  const start = performance.now();
  const timer = setTimeout(() => finish('timeout'), o.timeoutMs ?? 60_000);
  emulator.run();
  const why = await done;
  clearTimeout(timer);
  const ms = performance.now() - start;
  await emulator.stop();
  const state = o.saveState ? await emulator.save_state() : undefined;
  v86module.v86.microtick = hostMicrotick;
  v86module.v86util.get_rand_int = hostRandom;
  Date.now = hostDateNow;
  emulator.destroy?.().catch?.(() => {});
  return { serial, exitCode, ms, timedOut: why === 'timeout', adapter, state, ...atStop };
}
