/**
 * Memory per vCPU: 1,024 x2APIC LocalApics (each with its 4 KiB page and its timer, armed) on one
 * ApicBus and Scheduler, measured as the growth of the V8 heap plus ArrayBuffer backing stores
 * (the pages live outside the V8 heap) divided by the count. Run with --expose-gc.
 * Usage: node bench/build.mjs && node --expose-gc bench/.out/memory.mjs   (prints one JSON line)
 */
import { LocalApic } from '../src/apic/local-apic.js';
import { ApicBus } from '../src/bus/apic-bus.js';
import { Scheduler } from '../src/time/scheduler.js';

export interface MemoryResult {
  cpus: number;
  bytesPerVcpu: number;
  heapBytesPerVcpu: number;
  arrayBufferBytesPerVcpu: number;
}

export function measureMemory(cpus = 1024, gcFn?: () => void): MemoryResult {
  const gc = gcFn ?? (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with node --expose-gc');
  const clock = new Scheduler();
  const bus = new ApicBus();
  const keep: LocalApic[] = [];
  gc();
  gc();
  const before = process.memoryUsage();
  for (let i = 0; i < cpus; i++) {
    const apic = new LocalApic({ id: i, clock, bus, bsp: i === 0, x2apic: true });
    apic.writeMsr(0x80f, 0x1ffn); // software enable
    apic.writeMsr(0x832, 0x20040n); // LVT timer: periodic, vector 0x40
    apic.writeMsr(0x838, 100_000n); // initial count: armed
    keep.push(apic);
  }
  gc();
  gc();
  const after = process.memoryUsage();
  const heap = after.heapUsed - before.heapUsed;
  const buffers = after.arrayBuffers - before.arrayBuffers;
  if (keep.length !== cpus || clock.pending() !== cpus) throw new Error('setup failed');
  return {
    cpus,
    bytesPerVcpu: (heap + buffers) / cpus,
    heapBytesPerVcpu: heap / cpus,
    arrayBufferBytesPerVcpu: buffers / cpus,
  };
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  process.stdout.write(JSON.stringify(measureMemory()) + '\n');
}
