/**
 * Surface: the xAPIC MMIO page (readRegister / writeRegister), interleaved with what the fabric
 * and the CPU do to a local APIC (fixed arrivals, INTA, EOI, LINT pins, virtual time).
 */
import fc from 'fast-check';
import { describe, expect } from 'vitest';
import { Platform } from '../../src/platform/platform.js';
import { MAX_TIME_NS } from '../../src/time/scheduler.js';
import { lapicGuestValue, lapicOffset, someVector, timeStep, sequence, type ValueOf } from './arbitraries.js';
import { fuzz } from './config.js';
import { checkIoApic, checkLapic, checkPicPair, vectorsIn } from './invariants.js';
import { observePlatform } from './observe.js';

type Op =
  | { k: 'write'; cpu: number; off: number; v: number }
  | { k: 'read'; cpu: number; off: number }
  | { k: 'accept'; cpu: number; v: number; level: boolean }
  | { k: 'ack'; cpu: number }
  | { k: 'eoi'; cpu: number }
  | { k: 'lint'; cpu: number; pin: 0 | 1; level: boolean }
  | { k: 'time'; dt: number };

const cpu = fc.integer({ min: 0, max: 1 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ k: fc.constant('write' as const), cpu, off: lapicOffset, v: lapicGuestValue }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('read' as const), cpu, off: fc.integer({ min: 0, max: 0xfff }) }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('accept' as const), cpu, v: someVector, level: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('ack' as const), cpu }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('eoi' as const), cpu }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('lint' as const), cpu, pin: fc.constantFrom(0 as const, 1 as const), level: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('time' as const), dt: timeStep }) },
);

/** Software-enables both APICs first about half the time, so the fuzz reaches enabled states. */
const setupArb = fc.record({
  enable: fc.boolean(),
  tpr: fc.constantFrom(0, 0x20, 0x50),
  // Sometimes start 1 ms before the end of virtual time.
  startNs: fc.constantFrom(0, 0, 0, MAX_TIME_NS - 1_000_000),
});

function run(setup: ValueOf<typeof setupArb>, ops: readonly Op[], check: boolean): Platform {
  const pc = new Platform({ cpus: 2 });
  const clock = pc.scheduler!;
  clock.runUntil(setup.startNs);
  if (setup.enable) {
    for (const a of pc.lapics) {
      a.writeRegister(0xf0, 0x1ff);
      a.writeRegister(0x80, setup.tpr);
    }
  }
  for (const op of ops) {
    const apic = op.k === 'time' ? undefined : pc.lapics[op.cpu]!;
    switch (op.k) {
      case 'write':
        apic!.writeRegister(op.off, op.v);
        break;
      case 'read': {
        const value = apic!.readRegister(op.off);
        if (check) {
          expect(Number.isInteger(value) && value >= 0 && value <= 0xffff_ffff, `read ${op.off} = ${value}`).toBe(true);
          if (apic!.mode !== 'xapic') expect(value).toBe(0xffff_ffff);
        }
        break;
      }
      case 'accept':
        apic!.acceptInterrupt(op.v, op.level);
        break;
      case 'ack': {
        const pending = apic!.pendingVector();
        const ppr = apic!.processorPriority;
        const page = check && pending < 0 ? Array.from(apic!.page) : undefined;
        const got = apic!.acknowledge();
        if (!check) break;
        if (pending >= 0) {
          // The delivered vector is the pending one and its class beat PPR.
          expect(got).toBe(pending);
          expect(got & 0xf0).toBeGreaterThan(ppr & 0xf0);
          expect(vectorsIn(apic!.page, 0x100)).toContain(got);
        } else {
          // Nothing deliverable: the spurious vector, and nothing changes.
          expect(got).toBe(apic!.page[0xf0 >> 2]! & 0xff);
          expect(Array.from(apic!.page)).toEqual(page);
        }
        break;
      }
      case 'eoi': {
        const empty = vectorsIn(apic!.page, 0x100).length === 0;
        const before = check && empty ? observePlatform(pc) : undefined;
        apic!.eoi();
        // EOI with an empty ISR changes nothing, anywhere.
        if (before) expect(observePlatform(pc)).toEqual(before);
        break;
      }
      case 'lint':
        apic!.setLint(op.pin, op.level);
        break;
      case 'time':
        clock.runUntil(Math.min(clock.now() + op.dt, MAX_TIME_NS));
        break;
    }
    if (check) {
      for (const a of pc.lapics) checkLapic(a);
      checkIoApic(pc.ioapic, clock.pending());
      checkPicPair(pc.pic);
      // Each LAPIC timer and the I/O APIC storm guard own at most one event each.
      expect(clock.pending()).toBeLessThanOrEqual(pc.lapics.length + 1);
    }
  }
  return pc;
}

describe('fuzz: LAPIC xAPIC MMIO', () => {
  fuzz('lapic mmio random sequences never throw and keep every invariant', () =>
    fc.property(setupArb, sequence(opArb, 80), (setup, ops) => {
      run(setup, ops, true);
    }),
  );

  fuzz('lapic mmio the same sequence gives the same state', () =>
    fc.property(setupArb, sequence(opArb, 60), (setup, ops) => {
      const a = observePlatform(run(setup, ops, false));
      const b = observePlatform(run(setup, ops, false));
      expect(a).toEqual(b);
    }),
    { scale: 0.5 },
  );
});
