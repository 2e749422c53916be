/**
 * All surfaces at once on a Platform: ISA and PCI lines, MSIs, LAPIC registers, I/O APIC
 * entries, PIC ports, the CPU side (INTR, INTA, NMI) and explain(), with virtual time.
 *
 * Besides the shared invariants: explain() never throws for a valid CPU and vector, and its
 * answer agrees with the registers: "deliverable" exactly when the next INTA would return that
 * vector, and every reason is backed by the state it names.
 */
import fc from 'fast-check';
import { describe, expect } from 'vitest';
import type { ExplainReason } from '../../src/platform/explain.js';
import { Platform } from '../../src/platform/platform.js';
import { lapicGuestValue, sequence, timeStep, u32, vector } from './arbitraries.js';
import { fuzz } from './config.js';
import { bitIn, checkIoApic, checkLapic, checkPicPair } from './invariants.js';

const CPUS = 2;
const PINS = 24;

type Op =
  | { k: 'irq'; gsi: number; level: boolean }
  | { k: 'msi'; dest: number; data: number }
  | { k: 'lapic'; cpu: number; off: number; v: number }
  | { k: 'entry'; pin: number; low: number; high: number }
  | { k: 'pic'; port: number; v: number }
  | { k: 'inta'; cpu: number }
  | { k: 'eoi'; cpu: number }
  | { k: 'nmi'; level: boolean }
  | { k: 'takeNmi'; cpu: number }
  | { k: 'explain'; cpu: number; v: number }
  | { k: 'time'; dt: number };

const cpu = fc.integer({ min: 0, max: CPUS - 1 });
const vec = fc.oneof(fc.constantFrom(0x20, 0x21, 0x30, 0x31, 0x41, 0x51, 0xef, 0x08, 0x70), vector);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ k: fc.constant('irq' as const), gsi: fc.integer({ min: 0, max: PINS - 1 }), level: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('msi' as const), dest: fc.integer({ min: 0, max: 2 }), data: fc.oneof(vec, u32) }) },
  {
    weight: 4,
    arbitrary: fc.record({
      k: fc.constant('lapic' as const),
      cpu,
      off: fc.constantFrom(0x80, 0xb0, 0xf0, 0x300, 0x310, 0x320, 0x350, 0x360, 0x380, 0x3e0),
      v: fc.oneof(lapicGuestValue, fc.constantFrom(0x1ff, 0x11ff, 0x700, 0x400, 0x8700, 0x000c4000 | 0x30, 0x30)),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      k: fc.constant('entry' as const),
      pin: fc.integer({ min: 0, max: PINS - 1 }),
      low: fc.tuple(vec, fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 15 })).map(([v, mode, bits]) => (v | (mode << 8) | ((bits & 1) << 11) | ((bits >> 1) << 13)) >>> 0),
      high: fc.constantFrom(0, 1 << 24, 0xff << 24, 3 << 24),
    }),
  },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('pic' as const), port: fc.constantFrom(0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1), v: fc.integer({ min: 0, max: 0xff }) }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('inta' as const), cpu }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('eoi' as const), cpu }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('nmi' as const), level: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('takeNmi' as const), cpu }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('explain' as const), cpu, v: vector }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('time' as const), dt: timeStep }) },
);

const REASONS: readonly ExplainReason[] = [
  'deliverable',
  'illegal-vector',
  'apic-disabled',
  'extint-first',
  'in-service',
  'blocked-by-tpr',
  'blocked-by-isr',
  'higher-vector-first',
  'ioapic-masked',
  'ioapic-remote-irr',
  'ioapic-polarity-inactive',
  'pic-masked',
  'pic-in-service',
  'pic-cascade-blocked',
  'pic-lint0-masked',
  'pic-deliverable',
  'lvt-masked',
  'apic-software-disabled',
  'not-requested',
];

/** The 8259A holding `v` in its range and requesting it, with the IR, or undefined. */
function picFor(pc: Platform, v: number): { chip: Platform['pic']['master']; ir: number; slave: boolean } | undefined {
  for (const [chip, slave] of [[pc.pic.master, false], [pc.pic.slave, true]] as const) {
    if (chip.icw1 !== 0 && (v & ~7) === chip.vectorBase && (chip.irr & (1 << (v & 7))) !== 0) return { chip, ir: v & 7, slave };
  }
  return undefined;
}

/** explain(cpu, v) must agree with the registers it reads. */
function checkExplain(pc: Platform, c: number, v: number): void {
  const apic = pc.lapics[c]!;
  const e = pc.explain(c, v);
  expect(REASONS).toContain(e.reason);
  expect(typeof e.message).toBe('string');
  expect(e.message.length).toBeGreaterThan(0);
  const inIrr = bitIn(apic.page, 0x200, v);
  const inIsr = bitIn(apic.page, 0x100, v);
  const next = !apic.extIntPending() && apic.mode !== 'disabled' ? apic.pendingVector() : -1;
  // Through the local APIC: deliverable exactly when the next INTA would return v.
  expect(e.reason === 'deliverable', `${e.reason}: ${e.message}`).toBe(v >= 16 && next === v);
  // Through the 8259A (ExtINT): 'pic-deliverable', checked below.
  expect(e.deliverable).toBe(e.reason === 'deliverable' || e.reason === 'pic-deliverable');
  const pic = picFor(pc, v);
  if (e.reason.startsWith('pic-')) expect(pic, e.reason).toBeDefined();
  switch (e.reason) {
    case 'illegal-vector':
      expect(v).toBeLessThan(16);
      break;
    case 'apic-disabled':
      expect(apic.mode).toBe('disabled');
      break;
    case 'extint-first':
      expect(apic.extIntPending() && inIrr).toBe(true);
      break;
    case 'blocked-by-tpr':
    case 'blocked-by-isr':
      expect(inIrr).toBe(true);
      expect(v & 0xf0).toBeLessThanOrEqual(apic.processorPriority & 0xf0);
      break;
    case 'higher-vector-first':
      expect(inIrr).toBe(true);
      expect(apic.pendingVector()).toBeGreaterThan(v);
      break;
    case 'in-service':
      expect(inIsr && !inIrr).toBe(true);
      break;
    case 'ioapic-masked':
    case 'ioapic-remote-irr': {
      expect(inIrr || inIsr).toBe(false);
      const pins = [...Array(pc.ioapic.pins).keys()].filter((p) => Number(pc.ioapic.redirection(p) & 0xffn) === v);
      const held = pins.some((p) =>
        e.reason === 'ioapic-masked' ? (pc.ioapic.redirection(p) & 0x10000n) !== 0n && pc.ioapic.pinActive(p) : pc.ioapic.remoteIrr(p),
      );
      expect(held).toBe(true);
      break;
    }
    case 'ioapic-polarity-inactive': {
      const pins = [...Array(pc.ioapic.pins).keys()].filter((p) => Number(pc.ioapic.redirection(p) & 0xffn) === v);
      expect(pins.some((p) => (pc.ioapic.redirection(p) & 0x2000n) !== 0n && pc.ioapic.pinLevel(p) && !pc.ioapic.pinActive(p))).toBe(true);
      break;
    }
    case 'pic-masked':
      expect(pic!.chip.imr & (1 << pic!.ir)).not.toBe(0);
      break;
    case 'pic-in-service':
      expect(pic!.chip.pendingIr()).not.toBe(pic!.ir);
      break;
    case 'pic-cascade-blocked':
      expect(pic!.slave).toBe(true);
      expect((pc.pic.master.imr & 4) !== 0 || pc.pic.master.pendingIr() !== 2).toBe(true);
      break;
    case 'pic-lint0-masked':
      expect(apic.mode !== 'disabled' && !apic.extIntPending()).toBe(true);
      break;
    case 'pic-deliverable': {
      // The chip's next IR is v, the cascade (for the slave) lets it through, and the CPU's INTR
      // is driven by the 8259A (LINT0 ExtINT, an ExtINT message, or a disabled local APIC).
      expect(pic!.chip.imr & (1 << pic!.ir)).toBe(0);
      expect(pic!.chip.pendingIr()).toBe(pic!.ir);
      if (pic!.slave) expect(pc.pic.master.pendingIr()).toBe(2);
      expect(apic.mode === 'disabled' || apic.extIntPending()).toBe(true);
      break;
    }
    case 'lvt-masked': {
      expect(inIrr || inIsr).toBe(false);
      const lvts = [0x320, 0x330, 0x340, 0x350, 0x360, 0x370, 0x2f0].map((off) => apic.page[off >> 2]!);
      expect(lvts.some((lvt) => (lvt & 0xff) === v && (lvt & 0x10000) !== 0)).toBe(true);
      break;
    }
    case 'apic-software-disabled':
      expect(apic.softwareEnabled || inIrr || inIsr).toBe(false);
      break;
    case 'not-requested':
      expect(inIrr || inIsr).toBe(false);
      break;
    case 'deliverable':
      break;
  }
}

describe('fuzz: the whole platform', () => {
  fuzz('platform mixed traffic keeps every invariant and explain agrees with the registers', () =>
    fc.property(fc.boolean(), sequence(opArb, 80), (enable, ops) => {
      const pc = new Platform({ cpus: CPUS });
      const clock = pc.scheduler!;
      if (enable) for (const a of pc.lapics) a.writeRegister(0xf0, 0x1ff);
      for (const op of ops) {
        switch (op.k) {
          case 'irq':
            pc.setIrq(op.gsi, op.level);
            break;
          case 'msi':
            pc.sendMsi((0xfee0_0000 | (op.dest << 12)) >>> 0, op.data);
            break;
          case 'lapic':
            pc.lapics[op.cpu]!.writeRegister(op.off, op.v);
            break;
          case 'entry':
            pc.ioapic.writeRegister(0x00, 0x11 + 2 * op.pin);
            pc.ioapic.writeRegister(0x10, op.high);
            pc.ioapic.writeRegister(0x00, 0x10 + 2 * op.pin);
            pc.ioapic.writeRegister(0x10, op.low);
            break;
          case 'pic':
            pc.pic.ioWrite(op.port, op.v);
            break;
          case 'inta': {
            const has = pc.cpuHasInterrupt(op.cpu);
            const apicVector = pc.lapics[op.cpu]!.extIntPending() ? -1 : pc.lapics[op.cpu]!.pendingVector();
            const v = pc.cpuAcknowledge(op.cpu);
            expect(Number.isInteger(v) && v >= 0 && v <= 0xff).toBe(true);
            if (has && apicVector >= 0) expect(v).toBe(apicVector);
            break;
          }
          case 'eoi':
            pc.lapics[op.cpu]!.eoi();
            break;
          case 'nmi':
            pc.setNmiLine(op.level);
            break;
          case 'takeNmi':
            pc.takeNmi(op.cpu);
            break;
          case 'explain':
            checkExplain(pc, op.cpu, op.v);
            break;
          case 'time':
            clock.runUntil(clock.now() + op.dt);
            break;
        }
        for (const a of pc.lapics) checkLapic(a);
        checkIoApic(pc.ioapic, clock.pending());
        checkPicPair(pc.pic);
        expect(pc.ioapic.pinLevel(0)).toBe(pc.pic.output);
        for (let c = 0; c < CPUS; c++) {
          const p = pc.lapics[c]!.pendingVector();
          if (p >= 0) checkExplain(pc, c, p);
        }
      }
    }),
  );
});
