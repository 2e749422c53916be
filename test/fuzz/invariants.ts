/**
 * The invariants every fuzz property checks after every step (DESIGN.md "Invariants" plus the
 * per-device rules of docs/*.md), computed from the raw registers with plain scans, so they do
 * not trust the caches they check (IRR/ISR summaries, PPR).
 *
 * Each check throws (via a plain Error with the numbers) so fast-check can shrink.
 *
 * @module
 */
import type { LocalApic } from '../../src/apic/local-apic.js';
import type { IoApic } from '../../src/ioapic/ioapic.js';
import type { Pic8259 } from '../../src/pic/pic8259.js';
import type { PicPair } from '../../src/pic/pic-pair.js';

// Offsets and bits spelled out from the SDM / data sheets, not imported from src/.
const TPR = 0x80;
const PPR = 0xa0;
const LDR = 0xd0;
const DFR = 0xe0;
const SVR = 0xf0;
const ISR = 0x100;
const TMR = 0x180;
const IRR = 0x200;
const ESR = 0x280;
const ICR_LO = 0x300;
const ICR_HI = 0x310;
const TIMER_INITIAL = 0x380;
const TIMER_DIVIDE = 0x3e0;
const ID = 0x20;
const VERSION = 0x30;

/** LVT offset -> bits the guest may set (docs/local-apic.md "LVT entries"). */
const LVT_WRITABLE: ReadonlyArray<readonly [number, number]> = [
  [0x2f0, 0x107ff], // CMCI
  [0x320, 0x700ff], // timer
  [0x330, 0x107ff], // thermal
  [0x340, 0x107ff], // perf
  [0x350, 0x1a7ff], // LINT0
  [0x360, 0x1a7ff], // LINT1
  [0x370, 0x100ff], // error
];
const LVT_MASKED = 1 << 16;
const LVT_REMOTE_IRR = 1 << 14;
const LVT_LEVEL = 1 << 15;

export class InvariantError extends Error {
  override readonly name = 'InvariantError';
}

function fail(msg: string): never {
  throw new InvariantError(msg);
}

function hex(v: number): string {
  return `0x${(v >>> 0).toString(16)}`;
}

/** Highest set vector of a 256-bit register by a plain scan of the page, or -1. */
export function scanHighest(page: Uint32Array, base: number): number {
  for (let w = 7; w >= 0; w--) {
    const x = page[(base >> 2) + w * 4]!;
    if (x !== 0) return w * 32 + 31 - Math.clz32(x);
  }
  return -1;
}

/** Every vector set in a 256-bit register, ascending. */
export function vectorsIn(page: Uint32Array, base: number): number[] {
  const out: number[] = [];
  for (let v = 0; v < 256; v++) if (((page[(base >> 2) + (v >> 5) * 4]! >>> (v & 31)) & 1) === 1) out.push(v);
  return out;
}

export function bitIn(page: Uint32Array, base: number, v: number): boolean {
  return ((page[(base >> 2) + (v >> 5) * 4]! >>> (v & 31)) & 1) === 1;
}

/** DESIGN.md invariants and the register rules of docs/local-apic.md, for one local APIC. */
export function checkLapic(apic: LocalApic, who = `apic ${apic.id}`): void {
  const page = apic.page;
  const reg = (off: number): number => page[off >> 2]!;

  // IRR/ISR/TMR bits 0-15 stay clear.
  for (const [name, base] of [['IRR', IRR], ['ISR', ISR], ['TMR', TMR]] as const) {
    const low = page[base >> 2]! & 0xffff;
    if (low !== 0) fail(`${who}: ${name} has vectors 0-15 set (${hex(low)})`);
  }

  // PPR = TPR if TPR[7:4] >= ISRV[7:4] else ISRV & 0xF0, in the page and in the cache.
  const tpr = reg(TPR);
  if (tpr > 0xff) fail(`${who}: TPR ${hex(tpr)} has bits above 7`);
  const isrv = scanHighest(page, ISR);
  const isrClass = isrv < 0 ? 0 : isrv & 0xf0;
  const ppr = (tpr & 0xf0) >= isrClass ? tpr : isrClass;
  if (reg(PPR) !== ppr) fail(`${who}: PPR register ${hex(reg(PPR))}, expected ${hex(ppr)} (TPR ${hex(tpr)}, ISRV ${isrv})`);
  if (apic.processorPriority !== ppr) fail(`${who}: cached PPR ${hex(apic.processorPriority)}, expected ${hex(ppr)}`);

  // The in-service stack is strictly increasing in priority class: at most one ISR bit per class.
  const classes = vectorsIn(page, ISR).map((v) => v >> 4);
  if (new Set(classes).size !== classes.length) fail(`${who}: two in-service vectors share a class: ${classes.join(',')}`);

  // The cached searches agree with plain scans.
  const irrv = scanHighest(page, IRR);
  if (apic.highestRequested() !== irrv) fail(`${who}: highestRequested ${apic.highestRequested()}, scan ${irrv}`);
  if (apic.highestInService() !== isrv) fail(`${who}: highestInService ${apic.highestInService()}, scan ${isrv}`);
  // A vector is deliverable only if its class beats PPR.
  const expectedPending = apic.mode !== 'disabled' && irrv >= 0 && (irrv & 0xf0) > (ppr & 0xf0) ? irrv : -1;
  if (apic.pendingVector() !== expectedPending) fail(`${who}: pendingVector ${apic.pendingVector()}, expected ${expectedPending}`);

  // Mode <-> IA32_APIC_BASE EN (bit 11) / EXTD (bit 10); reserved bits 0-7 and 9 clear.
  const base = apic.apicBaseMsr;
  const en = (base >> 11n) & 1n;
  const extd = (base >> 10n) & 1n;
  const mode = en === 0n ? (extd === 0n ? 'disabled' : 'invalid') : extd === 0n ? 'xapic' : 'x2apic';
  if (mode !== apic.mode) fail(`${who}: mode ${apic.mode} but IA32_APIC_BASE ${base.toString(16)}`);
  if ((base & 0x2ffn) !== 0n || base >= 1n << 52n) fail(`${who}: IA32_APIC_BASE reserved bits set: ${base.toString(16)}`);

  if (apic.mode === 'disabled') {
    // A globally disabled APIC was reset: nothing requested, nothing in service.
    if (irrv >= 0 || isrv >= 0) fail(`${who}: disabled APIC holds IRR ${irrv} / ISR ${isrv}`);
    return;
  }

  // SVR: only vector, enable, focus-disable and EOI-broadcast suppression are writable.
  const svr = reg(SVR);
  if ((svr & ~0x13ff) !== 0) fail(`${who}: SVR reserved bits set: ${hex(svr)}`);
  if (apic.softwareEnabled !== ((svr & 0x100) !== 0)) fail(`${who}: softwareEnabled disagrees with SVR ${hex(svr)}`);

  // LVT entries: only writable bits (plus remote IRR on a level LINT), delivery status 0;
  // software-disabled means every entry is masked.
  for (const [off, writable] of LVT_WRITABLE) {
    const lvt = reg(off);
    const lint = off === 0x350 || off === 0x360;
    const allowed = writable | (lint && (lvt & LVT_LEVEL) !== 0 ? LVT_REMOTE_IRR : 0);
    if ((lvt & ~allowed) !== 0) fail(`${who}: LVT ${hex(off)} = ${hex(lvt)} has bits outside ${hex(allowed)}`);
    if (!apic.softwareEnabled && (lvt & LVT_MASKED) === 0) fail(`${who}: software-disabled but LVT ${hex(off)} unmasked`);
  }

  // ESR holds only the modelled bits 5-7.
  if ((reg(ESR) & ~0xe0) !== 0 || (apic.pendingErrors & ~0xe0) !== 0) {
    fail(`${who}: ESR ${hex(reg(ESR))} / latched ${hex(apic.pendingErrors)} outside bits 5-7`);
  }

  // Version register is constant.
  if ((reg(VERSION) & 0xff) !== 0x14 || ((reg(VERSION) >>> 16) & 0xff) !== 6) fail(`${who}: version ${hex(reg(VERSION))}`);

  // Timer: divide register bits 0, 1, 3 only; TSC-deadline mode shows initial count 0.
  if ((reg(TIMER_DIVIDE) & ~0xb) !== 0) fail(`${who}: divide ${hex(reg(TIMER_DIVIDE))}`);
  const timerMode = (reg(0x320) >>> 17) & 3;
  const initial = reg(TIMER_INITIAL);
  if (timerMode === 2 && initial !== 0) fail(`${who}: TSC-deadline mode with initial count ${initial}`);
  const current = apic.mode === 'x2apic' ? Number(apic.readMsr(0x839)) : apic.readRegister(0x390);
  if (!Number.isInteger(current) || current < 0 || current > initial) {
    fail(`${who}: current count ${current} outside 0..initial ${initial}`);
  }

  if (apic.mode === 'xapic') {
    // DFR bits 27:0 read as ones; ID and LDR keep only bits 31:24; ICR low keeps writable bits.
    if ((reg(DFR) & 0x0fffffff) !== 0x0fffffff) fail(`${who}: DFR ${hex(reg(DFR))}`);
    if ((reg(ID) & 0x00ffffff) !== 0) fail(`${who}: xAPIC ID ${hex(reg(ID))}`);
    if ((reg(LDR) & 0x00ffffff) !== 0) fail(`${who}: xAPIC LDR ${hex(reg(LDR))}`);
    if ((reg(ICR_LO) & ~0x000ccfff) !== 0) fail(`${who}: ICR low ${hex(reg(ICR_LO))}`);
    if ((reg(ICR_HI) & 0x00ffffff) !== 0) fail(`${who}: ICR high ${hex(reg(ICR_HI))}`);
  } else {
    // x2APIC: ID is the 32-bit x2APIC ID, LDR is derived from it (SDM "Logical Destination").
    if (reg(ID) !== apic.id) fail(`${who}: x2APIC ID register ${hex(reg(ID))}, expected ${hex(apic.id)}`);
    const ldr = (((apic.id >>> 4) << 16) | (1 << (apic.id & 0xf))) >>> 0;
    if (reg(LDR) !== ldr) fail(`${who}: x2APIC LDR ${hex(reg(LDR))}, expected ${hex(ldr)}`);
  }
}

/** Rules of docs/ioapic.md that hold after any sequence of guest and host calls. */
export function checkIoApic(io: IoApic, schedulerPending?: number): void {
  const sel = io.readRegister(0x00);
  if (!Number.isInteger(sel) || sel < 0 || sel > 0xff) fail(`ioapic: IOREGSEL ${sel}`);
  if (io.id < 0 || io.id > 15) fail(`ioapic: id ${io.id}`);
  let deferred = 0;
  for (let pin = 0; pin < io.pins; pin++) {
    const entry = io.redirection(pin);
    const low = Number(entry & 0xffffffffn);
    const level = (low & (1 << 15)) !== 0;
    const remoteIrr = (low & (1 << 14)) !== 0;
    const pending = (low & (1 << 12)) !== 0;
    // Remote IRR and delivery status exist only for level-triggered entries (an edge switch
    // clears both).
    if (remoteIrr && !level) fail(`ioapic: pin ${pin} edge entry ${entry.toString(16)} has remote IRR`);
    if (pending && !level) fail(`ioapic: pin ${pin} edge entry ${entry.toString(16)} has delivery status`);
    if (io.remoteIrr(pin) !== remoteIrr) fail(`ioapic: remoteIrr(${pin}) disagrees with the entry`);
    if (pending) deferred++;
  }
  // A pending storm back-off always has its clock event (one event covers all pins).
  if (deferred > 0 && schedulerPending !== undefined && schedulerPending < 1) {
    fail(`ioapic: ${deferred} pins wait for a storm back-off but the clock has no event`);
  }
  const s = io.stats;
  for (const [k, v] of Object.entries(s)) {
    if (!Number.isInteger(v) || v < 0) fail(`ioapic: stats.${k} = ${v}`);
  }
  if (s.unaccepted > s.deliveries) fail(`ioapic: ${s.unaccepted} unaccepted of ${s.deliveries} deliveries`);
}

/** One 8259A: bytes stay bytes, level-triggered IRR bits follow their wires, INT = resolver. */
export function checkPic8259(p: Pic8259, who: string): void {
  for (const [name, v] of [['irr', p.irr], ['isr', p.isr], ['imr', p.imr], ['lines', p.lines], ['elcr', p.elcr]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 0xff) fail(`${who}: ${name} = ${v}`);
  }
  const lvl = p.levelMask;
  if ((p.irr & lvl) !== (p.lines & lvl)) {
    fail(`${who}: level-triggered IRR ${hex(p.irr & lvl)} does not follow the wires ${hex(p.lines & lvl)}`);
  }
  const ir = p.pendingIr();
  if (ir < -1 || ir > 7) fail(`${who}: pendingIr ${ir}`);
  if (ir >= 0 && ((p.irr & ~p.imr) >>> ir & 1) !== 1) fail(`${who}: pendingIr ${ir} is not an unmasked request`);
  if (p.output !== (ir >= 0)) fail(`${who}: output ${p.output} but pendingIr ${ir}`);
  if (p.lowestPriority < 0 || p.lowestPriority > 7) fail(`${who}: lowest priority ${p.lowestPriority}`);
}

/** The pair: both chips, the ELCR's reserved bits, the cascade wire and the output. */
export function checkPicPair(pic: PicPair): void {
  checkPic8259(pic.master, 'master');
  checkPic8259(pic.slave, 'slave');
  // ELCR reserved bits (IRQ0, 1, 2, 8, 13) read 0.
  if ((pic.elcr & 0x2107) !== 0) fail(`pic: ELCR ${hex(pic.elcr)} has reserved bits`);
  // Master IR2 carries the slave's INT (ORed with the ISA IRQ2 wire).
  const ir2 = (pic.master.lines >>> 2) & 1;
  const expected = pic.slave.output || (pic.lines & 4) !== 0 ? 1 : 0;
  if (ir2 !== expected) fail(`pic: master IR2 wire ${ir2}, slave INT ${pic.slave.output}, IRQ2 ${(pic.lines >>> 2) & 1}`);
  if (pic.hasInterrupt() !== pic.master.output) fail('pic: hasInterrupt() disagrees with the master INT');
  if (pic.output !== pic.master.output) fail(`pic: reported output ${pic.output}, master INT ${pic.master.output}`);
}
