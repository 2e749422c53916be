/**
 * Shared fixtures for the I/O APIC tests: a recording router and guest-side programming helpers.
 *
 * Bit values are written out here from the 82093AA data sheet (§3.2.4) rather than imported
 * from src/ioapic/registers.ts, so a wrong constant in the model makes the tests fail.
 */
import type { InterruptRouter } from '../../src/apic/message.js';
import { IoApic } from '../../src/ioapic/ioapic.js';
import type { IoApicOptions } from '../../src/ioapic/ioapic.js';

// Redirection entry, low half (data sheet §3.2.4).
export const LOGICAL = 0x0000_0800; // bit 11
export const DELIVERY_STATUS = 0x0000_1000; // bit 12
export const ACTIVE_LOW = 0x0000_2000; // bit 13
export const REMOTE_IRR = 0x0000_4000; // bit 14
export const LEVEL = 0x0000_8000; // bit 15
export const MASKED = 0x0001_0000; // bit 16
/** Delivery mode field values, already shifted to bits 10:8. */
export const DM = {
  fixed: 0x000,
  lowest: 0x100,
  smi: 0x200,
  reserved3: 0x300,
  nmi: 0x400,
  init: 0x500,
  reserved6: 0x600,
  extint: 0x700,
} as const;

/** One message the I/O APIC handed to the router. */
export interface Message {
  destination: number;
  logical: boolean;
  deliveryMode: number;
  vector: number;
  level: boolean;
}

/** A router that records every message and reports `accept` acceptors. */
export class RecordingRouter implements InterruptRouter {
  readonly messages: Message[] = [];
  accept = 1;
  onMessage: ((m: Message) => void) | undefined;

  routeMessage(destination: number, logical: boolean, deliveryMode: number, vector: number, level: boolean): number {
    const m = { destination, logical, deliveryMode, vector, level };
    this.messages.push(m);
    this.onMessage?.(m);
    return this.accept;
  }

  /** The vectors delivered so far, in order. */
  vectors(): number[] {
    return this.messages.map((m) => m.vector);
  }
}

/** An I/O APIC with a fresh recording router. */
export function makeIoApic(opts: Partial<IoApicOptions> = {}): { io: IoApic; router: RecordingRouter } {
  const router = new RecordingRouter();
  const io = new IoApic({ bus: router, ...opts });
  return { io, router };
}

/** Reads indirect register `index` through IOREGSEL (0x00) and IOWIN (0x10). */
export function readIndex(io: IoApic, index: number): number {
  io.writeRegister(0x00, index);
  return io.readRegister(0x10);
}

/** Writes indirect register `index` through IOREGSEL and IOWIN. */
export function writeIndex(io: IoApic, index: number, value: number): void {
  io.writeRegister(0x00, index);
  io.writeRegister(0x10, value);
}

/** Programs `pin`'s entry the way Linux does: high half first, then low half. */
export function program(io: IoApic, pin: number, low: number, high = 0): void {
  writeIndex(io, 0x10 + 2 * pin + 1, high);
  writeIndex(io, 0x10 + 2 * pin, low);
}

/** Writes only the low half of `pin`'s entry. */
export function writeLow(io: IoApic, pin: number, low: number): void {
  writeIndex(io, 0x10 + 2 * pin, low);
}

/** Reads the low half of `pin`'s entry through MMIO. */
export function readLow(io: IoApic, pin: number): number {
  return readIndex(io, 0x10 + 2 * pin);
}

/** Reads the high half of `pin`'s entry through MMIO. */
export function readHigh(io: IoApic, pin: number): number {
  return readIndex(io, 0x10 + 2 * pin + 1);
}
