/**
 * Side-effect-free snapshots of everything a host can observe on each device, for "a throwing
 * call changes nothing" (test/misuse) and "the same inputs give the same state" (test/fuzz).
 *
 * Only getters and reads that have no effect are used: no MMIO read of an unmapped LAPIC offset
 * (that latches ESR bit 7), no IOREGSEL write, no PIC read while a poll is pending.
 *
 * @module
 */
import type { ApicBus } from '../../src/bus/apic-bus.js';
import type { IoApic } from '../../src/ioapic/ioapic.js';
import type { LocalApic } from '../../src/apic/local-apic.js';
import type { Pic8259 } from '../../src/pic/pic8259.js';
import type { PicPair } from '../../src/pic/pic-pair.js';
import type { Platform } from '../../src/platform/platform.js';
import type { Scheduler } from '../../src/time/scheduler.js';

export type Observation = Record<string, unknown>;

export function observeScheduler(s: Scheduler): Observation {
  return { now: s.now(), pending: s.pending(), next: s.nextEventTime() };
}

export function observeLapic(a: LocalApic): Observation {
  return {
    page: Array.from(a.page),
    mode: a.mode,
    apicBase: a.apicBaseMsr.toString(16),
    softwareEnabled: a.softwareEnabled,
    ppr: a.processorPriority,
    pending: a.pendingVector(),
    pendingErrors: a.pendingErrors,
    nmi: a.nmiLatched,
    extInt: a.extIntPending(),
    cpuState: a.cpuState,
    startupVector: a.startupVector,
    // Timer registers computed from virtual time (the page holds only the initial count).
    currentCount: a.mode === 'x2apic' ? a.readMsr(0x839)?.toString() : a.mode === 'xapic' ? a.readRegister(0x390) : 0,
    deadline: a.readMsr(0x6e0)?.toString(),
    stats: { ...a.stats },
  };
}

export function observeIoApic(io: IoApic): Observation {
  const entries: string[] = [];
  const levels: boolean[] = [];
  for (let pin = 0; pin < io.pins; pin++) {
    entries.push(io.redirection(pin).toString(16));
    levels.push(io.pinLevel(pin));
  }
  // IOREGSEL and IOWIN reads have no side effects on the I/O APIC.
  return { id: io.id, ioregsel: io.readRegister(0x00), iowin: io.readRegister(0x10), entries, levels, stats: { ...io.stats } };
}

export function observePic8259(p: Pic8259): Observation {
  return {
    irr: p.irr,
    isr: p.isr,
    imr: p.imr,
    lines: p.lines,
    elcr: p.elcr,
    icw: [p.icw1, p.icw2, p.icw3, p.icw4],
    lowest: p.lowestPriority,
    expectedIcw: p.expectedIcw,
    readsIsr: p.readsIsr,
    poll: p.pollPending,
    smm: p.specialMaskMode,
    rotateInAeoi: p.rotateInAeoi,
    output: p.output,
  };
}

export function observePicPair(p: PicPair): Observation {
  return {
    master: observePic8259(p.master),
    slave: observePic8259(p.slave),
    elcr: p.elcr,
    lines: p.lines,
    output: p.output,
    hasInterrupt: p.hasInterrupt(),
  };
}

export function observeBus(b: ApicBus): Observation {
  const sent: number[] = [];
  const received: number[] = [];
  for (let i = 0; i < b.apics.length; i++) {
    sent.push(b.ipisSent(i));
    received.push(b.ipisReceived(i));
  }
  return { apics: b.apics.length, stats: { ...b.stats }, sent, received };
}

export function observePlatform(pc: Platform): Observation {
  return {
    lapics: pc.lapics.map(observeLapic),
    ioapic: observeIoApic(pc.ioapic),
    pic: observePicPair(pc.pic),
    bus: observeBus(pc.bus),
    scheduler: pc.scheduler ? observeScheduler(pc.scheduler) : undefined,
  };
}
