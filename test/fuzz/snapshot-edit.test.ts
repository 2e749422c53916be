/**
 * Surface: restore of hostile snapshots (issue 12.4). A Platform is driven into a random state
 * (LAPIC registers including the timer, IA32_TSC_DEADLINE and IA32_APIC_BASE, IRQ lines, I/O APIC entries, 8259A ports, INTA/EOI,
 * virtual time), saved, and 1-4 fields are edited (a random byte anywhere, or a value written
 * at one of the timer's fields), the CRC re-signed, and the bytes restored into a fresh Platform
 * on a clock at the snapshot's time or at another time (rebase).
 *
 * Oracle: restore either throws SnapshotError (and nothing else), or yields devices that satisfy
 * every DESIGN.md invariant (test/fuzz/invariants.ts) right away and after virtual time runs on,
 * with no timer due further than one full count (2^32 ticks x divide 128) from now and at most
 * one clock event per timer plus one for the I/O APIC.
 */
import fc from 'fast-check';
import { describe, expect } from 'vitest';
import { SnapshotError } from '../../src/errors.js';
import { Platform } from '../../src/platform/platform.js';
import { Scheduler } from '../../src/time/scheduler.js';
import { editSection, LAPIC, sectionPayload } from '../snapshot/edit.js';
import { lapicGuestValue, sequence, timeStep } from './arbitraries.js';
import { fuzz } from './config.js';
import { checkIoApic, checkLapic, checkPicPair } from './invariants.js';

const CPUS = 2;
/** One full count at 1 GHz: 2^32 ticks x divide 128, in ns. */
const LONGEST_COUNT_NS = 2 ** 32 * 128;

type Op =
  | { k: 'lapic'; cpu: number; off: number; v: number }
  | { k: 'irq'; gsi: number; level: boolean }
  | { k: 'entry'; pin: number; low: number }
  | { k: 'pic'; port: number; v: number }
  | { k: 'inta'; cpu: number }
  | { k: 'msr'; cpu: number; msr: number; v: bigint }
  | { k: 'time'; dt: number };

const cpu = fc.integer({ min: 0, max: CPUS - 1 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      k: fc.constant('lapic' as const),
      cpu,
      off: fc.constantFrom(0x80, 0xb0, 0xf0, 0x300, 0x320, 0x350, 0x380, 0x3e0),
      v: fc.oneof(lapicGuestValue, fc.constantFrom(0x1ff, 0x30, 0x20030, 0x40030, 1000, 250_000, 0xb)),
    }),
  },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('irq' as const), gsi: fc.integer({ min: 0, max: 23 }), level: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('entry' as const), pin: fc.integer({ min: 0, max: 23 }), low: fc.constantFrom(0x31, 0x8031, 0x18031, 0x41) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('pic' as const), port: fc.constantFrom(0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1), v: fc.integer({ min: 0, max: 0xff }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('inta' as const), cpu }) },
  // IA32_TSC_DEADLINE (near and far) and IA32_APIC_BASE (x2APIC on, or disable).
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('msr' as const),
      cpu,
      msr: fc.constantFrom(0x6e0, 0x6e0, 0x1b),
      v: fc.oneof(fc.bigInt({ min: 0n, max: 100_000_000n }), fc.constantFrom(0xfee00c00n, 0xfee00000n, 1n << 60n)),
    }),
  },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('time' as const), dt: timeStep }) },
);

type Edit =
  | { k: 'byte'; section: number; at: number; v: number }
  | { k: 'timer'; cpu: number; field: keyof typeof LAPIC; v: bigint };

const SECTIONS = ['lapic.0', 'lapic.1', 'ioapic', 'pic', 'bus', 'platform'];
const TIMER_FIELDS = ['initialCount', 'divide', 'counting', 'baseNs', 'baseLag', 'countAtBase', 'expiryLag', 'deadline', 'armed', 'eventAt', 'timeOffset', 'timerMode'] as const;
const editArb: fc.Arbitrary<Edit> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ k: fc.constant('byte' as const), section: fc.integer({ min: 0, max: SECTIONS.length - 1 }), at: fc.nat(), v: fc.integer({ min: 0, max: 0xff }) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant('timer' as const),
      cpu,
      field: fc.constantFrom(...TIMER_FIELDS),
      v: fc.oneof(fc.constantFrom(0n, 1n, 2n, 0xffn, 0xffff_ffffn, 0xfffe_ff9cn, 1n << 40n, (1n << 63n) - 1n), fc.bigInt({ min: 0n, max: 5_000_000n })),
    }),
  },
);

/** Writes `v` at a timer field with the field's width (u8 for flags and mode, u32, else u64). */
function writeField(view: DataView, field: keyof typeof LAPIC, v: bigint): void {
  const at = LAPIC[field];
  if (field === 'timerMode' || field === 'divide' || field === 'counting' || field === 'armed') view.setUint8(at, Number(v & 0xffn));
  else if (field === 'initialCount') view.setUint32(at, Number(v & 0xffff_ffffn), true);
  else view.setBigUint64(at, v, true);
}

function drive(pc: Platform, ops: Op[]): void {
  const clock = pc.scheduler!;
  for (const op of ops) {
    if (op.k === 'lapic') pc.lapics[op.cpu]!.writeRegister(op.off, op.v);
    else if (op.k === 'irq') pc.setIrq(op.gsi, op.level);
    else if (op.k === 'entry') (pc.ioapic.writeRegister(0, 0x10 + 2 * op.pin), pc.ioapic.writeRegister(0x10, op.low));
    else if (op.k === 'pic') pc.pic.ioWrite(op.port, op.v);
    else if (op.k === 'inta') pc.cpuHasInterrupt(op.cpu) && pc.cpuAcknowledge(op.cpu);
    else if (op.k === 'msr') pc.lapics[op.cpu]!.writeMsr(op.msr, op.v);
    else clock.runUntil(clock.now() + op.dt);
  }
}

function checkAll(pc: Platform, clock: Scheduler): void {
  for (const apic of pc.lapics) checkLapic(apic);
  checkIoApic(pc.ioapic, clock.pending());
  checkPicPair(pc.pic);
  expect(clock.pending()).toBeLessThanOrEqual(CPUS + 1);
}

describe('fuzz: hostile snapshots', () => {
  fuzz('edited and re-signed platform snapshots restore to a valid state or throw SnapshotError', () =>
    fc.property(sequence(opArb, 40), fc.array(editArb, { minLength: 1, maxLength: 4 }), fc.constantFrom(0, 0, 1, 12_345_678), (ops, edits, targetAt) => {
      const src = new Platform({ cpus: CPUS });
      drive(src, ops);
      const saved = src.scheduler!.now();
      let bytes = src.save();
      for (const e of edits) {
        if (e.k === 'byte') {
          const name = SECTIONS[e.section]!;
          const { length } = sectionPayload(bytes, name);
          bytes = editSection(bytes, name, (v) => v.setUint8(e.at % length, e.v));
        } else {
          bytes = editSection(bytes, `lapic.${e.cpu}`, (v) => writeField(v, e.field, e.v));
        }
      }
      const clock = new Scheduler();
      clock.runUntil(targetAt === 0 ? saved : targetAt);
      const dst = new Platform({ cpus: CPUS, clock });
      try {
        dst.restore(bytes);
      } catch (err) {
        if (err instanceof SnapshotError) return;
        throw err;
      }
      checkAll(dst, clock);
      const next = clock.nextEventTime();
      // A TSC deadline may lie anywhere; a counting timer never beyond one full count.
      const deadlineMode = dst.lapics.some((a) => ((a.page[0x320 >> 2]! >>> 17) & 3) === 2);
      if (next !== undefined && !deadlineMode) expect(next - clock.now()).toBeLessThanOrEqual(LONGEST_COUNT_NS);
      clock.runUntil(clock.now() + 3_000_000);
      checkAll(dst, clock);
    }),
  );
});
