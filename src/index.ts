/**
 * irqchip: a deterministic x86 interrupt-controller emulator.
 *
 * @packageDocumentation
 */
export { SnapshotError } from './errors.js';
export type { Clock } from './time/clock.js';
export { Scheduler, MAX_TIME_NS } from './time/scheduler.js';
export { DeliveryMode, DestMode, XAPIC_BROADCAST, X2APIC_BROADCAST } from './apic/message.js';
export type { InterruptRouter } from './apic/message.js';
export { LocalApic } from './apic/local-apic.js';
export type {
  ApicBusPort,
  ApicMode,
  CpuRunState,
  LapicEvent,
  LocalApicOptions,
  LocalApicStats,
} from './apic/local-apic.js';
export { ApicPage, highestVector } from './apic/page.js';
export { checkIcr, IcrCheck } from './apic/icr.js';
export { timerDivisor } from './apic/timer.js';
export * as registers from './apic/registers.js';
