import { LocalApic, type LapicEvent } from '../../src/apic/local-apic.js';
import { ApicBus, type ApicBusOptions } from '../../src/bus/apic-bus.js';
import { Scheduler } from '../../src/time/scheduler.js';

export interface Cpus {
  bus: ApicBus;
  clock: Scheduler;
  apics: LocalApic[];
  events: Array<Array<[LapicEvent, number]>>;
}

/** N software-enabled local APICs with IDs 0..N-1 (or the given IDs) on one bus. */
export function cpus(n: number, opts: { x2apic?: boolean; ids?: number[]; bus?: ApicBusOptions } = {}): Cpus {
  const clock = new Scheduler();
  const bus = new ApicBus(opts.bus);
  const apics: LocalApic[] = [];
  const events: Array<Array<[LapicEvent, number]>> = [];
  for (let i = 0; i < n; i++) {
    const log: Array<[LapicEvent, number]> = [];
    events.push(log);
    const apic = new LocalApic({
      id: opts.ids?.[i] ?? i,
      clock,
      bus,
      bsp: i === 0,
      x2apic: opts.x2apic ?? false,
      onEvent: (e, v) => log.push([e, v]),
    });
    if (apic.mode === 'x2apic') apic.writeMsr(0x80f, 0x1ffn);
    else apic.writeRegister(0xf0, 0x1ff);
    apics.push(apic);
  }
  return { bus, clock, apics, events };
}

/** Sends an IPI from `apic` in its own mode. */
export function sendIpi(apic: LocalApic, icrLow: number, dest: number): void {
  if (apic.mode === 'x2apic') apic.writeMsr(0x830, (BigInt(dest >>> 0) << 32n) | BigInt(icrLow));
  else {
    apic.writeRegister(0x310, (dest & 0xff) << 24);
    apic.writeRegister(0x300, icrLow);
  }
}

/** Vectors pending in each APIC's IRR (highest first, by repeated ack is too invasive: read the page). */
export function irrOf(apic: LocalApic): number[] {
  const out: number[] = [];
  for (let v = 0; v < 256; v++) if ((apic.page[(0x200 >> 2) + (v >> 5) * 4]! >>> (v & 31)) & 1) out.push(v);
  return out;
}
