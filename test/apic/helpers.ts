import { LocalApic, type ApicBusPort, type LapicEvent, type LocalApicOptions } from '../../src/apic/local-apic.js';
import { Scheduler } from '../../src/time/scheduler.js';

/** Offsets used by many tests, spelled out from the SDM register map (not from src/). */
export const ID = 0x20;
export const VERSION = 0x30;
export const TPR = 0x80;
export const APR = 0x90;
export const PPR = 0xa0;
export const EOI = 0xb0;
export const LDR = 0xd0;
export const DFR = 0xe0;
export const SVR = 0xf0;
export const ISR0 = 0x100;
export const TMR0 = 0x180;
export const IRR0 = 0x200;
export const ESR = 0x280;
export const LVT_CMCI = 0x2f0;
export const ICR_LO = 0x300;
export const ICR_HI = 0x310;
export const LVT_TIMER = 0x320;
export const LVT_THERMAL = 0x330;
export const LVT_PERF = 0x340;
export const LVT_LINT0 = 0x350;
export const LVT_LINT1 = 0x360;
export const LVT_ERROR = 0x370;
export const TIMER_ICR = 0x380;
export const TIMER_CCR = 0x390;
export const TIMER_DCR = 0x3e0;

export const MASKED = 1 << 16;

export interface SentIpi {
  icrLow: number;
  destination: number;
}

/** A bus that records what the APIC hands it. */
export class RecordingBus implements ApicBusPort {
  readonly attached: LocalApic[] = [];
  readonly ipis: SentIpi[] = [];
  readonly eois: number[] = [];
  routingChanges = 0;
  attach(apic: LocalApic): void {
    this.attached.push(apic);
  }
  sendIpi(_source: LocalApic, icrLow: number, destination: number): void {
    this.ipis.push({ icrLow, destination });
  }
  broadcastEoi(_source: LocalApic, vector: number): void {
    this.eois.push(vector);
  }
  routingChanged(): void {
    this.routingChanges++;
  }
}

export interface Rig {
  apic: LocalApic;
  clock: Scheduler;
  bus: RecordingBus;
  events: Array<[LapicEvent, number]>;
}

/** A LocalApic on a fresh scheduler with a recording bus; software-enabled unless told not to. */
export function rig(opts: Partial<LocalApicOptions> & { enable?: boolean } = {}): Rig {
  const clock = new Scheduler();
  const bus = new RecordingBus();
  const events: Array<[LapicEvent, number]> = [];
  const { enable = true, ...rest } = opts;
  const apic = new LocalApic({
    id: 0,
    clock,
    bus,
    onEvent: (e, v) => events.push([e, v]),
    ...rest,
  });
  if (enable) enableApic(apic);
  return { apic, clock, bus, events };
}

/** Software-enables the APIC (SVR bit 8) with spurious vector 0xFF, in either mode. */
export function enableApic(apic: LocalApic, svr = 0x1ff): void {
  if (apic.mode === 'x2apic') apic.writeMsr(0x80f, BigInt(svr));
  else apic.writeRegister(SVR, svr);
}

/** Reads bit `v` of a 256-bit register at byte offset `base` straight from the page. */
export function pageBit(apic: LocalApic, base: number, v: number): boolean {
  return ((apic.page[(base >> 2) + (v >> 5) * 4]! >>> (v & 31)) & 1) === 1;
}

/** All vectors set in a 256-bit register, ascending. */
export function pageVectors(apic: LocalApic, base: number): number[] {
  const out: number[] = [];
  for (let v = 0; v < 256; v++) if (pageBit(apic, base, v)) out.push(v);
  return out;
}

/** Reads ESR the way the SDM says software must: write (any value) then read. */
export function readEsr(apic: LocalApic): number {
  if (apic.mode === 'x2apic') {
    apic.writeMsr(0x828, 0n);
    return Number(apic.readMsr(0x828));
  }
  apic.writeRegister(ESR, 0);
  return apic.readRegister(ESR);
}
