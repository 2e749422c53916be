/**
 * Memory per vCPU of a whole Machine: a 1,024-vCPU x2APIC `Machine` (Platform, vCPUs, backend,
 * checker, scheduler), measured as the growth of the V8 heap plus ArrayBuffer backing stores (the
 * 4 KiB APIC pages live outside the V8 heap) after full GCs, divided by the vCPU count.
 *
 * Two points per backend: right after construction, and after the BSP booted every AP with
 * INIT/SIPI and each vCPU loaded and ran a small program (so vCPU frames, programs, backend
 * per-vCPU state and the scheduler's pool are populated). The trace is off for these, since it
 * grows with run length; its cost is measured separately as bytes per event, and bounded with
 * `traceLimit` (ring mode).
 *
 * Usage: node bench/build.mjs && node --expose-gc bench/.out/machine-memory.mjs   (prints one JSON line)
 */
import type { Instr } from '../src/guest/program.js';
import type { BackendName } from '../src/inject/backend.js';
import { Machine } from '../src/machine/machine.js';

const BACKENDS: BackendName[] = ['svm-event', 'svm-vintr', 'vmx-event', 'vmx-vid', 'vmx-posted'];

export interface MachineMemoryResult {
  cpus: number;
  /** Bytes per vCPU (heap + array buffers) by backend: constructed, and booted and run. */
  perBackend: Record<string, { constructed: number; booted: number; heapBooted: number; buffersBooted: number }>;
  /** Bytes per trace event (a booted 1,024-vCPU run with the trace on). */
  traceBytesPerEvent: number;
}

function usage(gc: () => void): { heap: number; buffers: number } {
  gc();
  gc();
  const u = process.memoryUsage();
  return { heap: u.heapUsed, buffers: u.arrayBuffers };
}

/** The boot of test/machine/scale.test.ts: INIT/SIPI to all APs, which count in and halt. */
function boot(m: Machine, cpus: number): void {
  const enable: Instr = { op: 'wrmsr', msr: 0x80f, lo: 0x1ff };
  m.load(0, {
    main: [
      enable,
      { op: 'ipi', dest: 0, vector: 0, mode: 'init', shorthand: 'others' },
      { op: 'ipi', dest: 0, vector: 0x10, mode: 'sipi', shorthand: 'others' },
      { op: 'wait', var: 'up', cmp: 'eq', value: cpus - 1 },
      { op: 'sti' },
      { op: 'ipi', dest: 0xffff_ffff, vector: 0x50 },
      { op: 'hlt' },
      { op: 'jump', to: 6 },
    ],
  });
  const ap = { main: [enable, { op: 'inc', var: 'up' }, { op: 'sti' }, { op: 'hlt' }, { op: 'jump', to: 3 }] as Instr[], waitForSipi: true };
  for (let cpu = 1; cpu < cpus; cpu++) m.load(cpu, ap);
  m.run(10_000_000);
  if (m.memory.get('up') !== cpus - 1 || m.stats().total.delivered !== cpus) throw new Error('boot failed');
}

export function measureMachineMemory(cpus = 1024, gcFn?: () => void): MachineMemoryResult {
  const gc = gcFn ?? (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with node --expose-gc');
  const perBackend: MachineMemoryResult['perBackend'] = {};
  // Every machine stays referenced until the end, so no measurement sees an earlier one freed.
  const keep: Machine[] = [];
  for (const backend of BACKENDS) {
    // Warm up the code paths once so compiled code and shared caches are not counted.
    boot(new Machine({ cpus: 16, backend, x2apic: true, trace: false }), 16);
    const before = usage(gc);
    const m = new Machine({ cpus, backend, x2apic: true, trace: false });
    keep.push(m);
    const constructed = usage(gc);
    boot(m, cpus);
    const booted = usage(gc);
    if (m.vcpus.length !== cpus) throw new Error('setup failed');
    perBackend[backend] = {
      constructed: (constructed.heap + constructed.buffers - before.heap - before.buffers) / cpus,
      booted: (booted.heap + booted.buffers - before.heap - before.buffers) / cpus,
      heapBooted: (booted.heap - before.heap) / cpus,
      buffersBooted: (booted.buffers - before.buffers) / cpus,
    };
  }
  // The trace: the same boot with and without it; the difference per recorded event.
  const b0 = usage(gc);
  const untraced = new Machine({ cpus, backend: 'vmx-posted', x2apic: true, trace: false });
  boot(untraced, cpus);
  keep.push(untraced);
  const b1 = usage(gc);
  const traced = new Machine({ cpus, backend: 'vmx-posted', x2apic: true });
  boot(traced, cpus);
  keep.push(traced);
  const b2 = usage(gc);
  const total = (u: { heap: number; buffers: number }): number => u.heap + u.buffers;
  const traceBytesPerEvent = (total(b2) - total(b1) - (total(b1) - total(b0))) / traced.trace.length;
  if (keep.length !== BACKENDS.length + 2) throw new Error('setup failed');
  return { cpus, perBackend, traceBytesPerEvent };
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  process.stdout.write(JSON.stringify(measureMachineMemory()) + '\n');
}
