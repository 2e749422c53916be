import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { IoApic } from '../../src/ioapic/ioapic.js';
import { Scheduler } from '../../src/time/scheduler.js';
import {
  ACTIVE_LOW,
  DELIVERY_STATUS,
  LEVEL,
  MASKED,
  REMOTE_IRR,
  RecordingRouter,
  makeIoApic,
  writeLow,
} from './helpers.js';
import { propertyRuns } from '../fuzz/config.js';

const numRuns = propertyRuns(200);
const PINS = 6;

// ---- (1) arbitrary guest and host input ----------------------------------------------------

type GuestOp =
  | { kind: 'write'; offset: number; value: number }
  | { kind: 'read'; offset: number }
  | { kind: 'pin'; pin: number; level: boolean }
  | { kind: 'eoi'; vector: number }
  | { kind: 'time'; ns: number }
  | { kind: 'accept'; n: number };

const offsetArb = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(0x00, 0x10, 0x40) },
  // Every offset of the 4 KiB window (others are host misuse: test/misuse/ioapic.test.ts).
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 0xfff }) },
);
/** Entry-shaped values: any vector, any mode, random flag bits, plus raw 32-bit noise. */
const entryArb = fc
  .record({
    vector: fc.integer({ min: 0, max: 0xff }),
    mode: fc.integer({ min: 0, max: 7 }),
    flags: fc.integer({ min: 0, max: 0x3f }),
  })
  .map(({ vector, mode, flags }) => vector | (mode << 8) | (flags << 11));
const valueArb = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0x10, max: 0x10 + 2 * PINS + 1 }) },
  { weight: 4, arbitrary: entryArb },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 0xffff_ffff }) },
  { weight: 1, arbitrary: fc.integer({ min: -0x8000_0000, max: -1 }) },
  { weight: 1, arbitrary: fc.double() },
);
const guestOpArb: fc.Arbitrary<GuestOp> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('write' as const), offset: offsetArb, value: valueArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('read' as const), offset: offsetArb }) },
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('pin' as const), pin: fc.integer({ min: 0, max: PINS - 1 }), level: fc.boolean() }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('eoi' as const), vector: fc.integer({ min: 0, max: 0xff }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('time' as const), ns: fc.integer({ min: 0, max: 400 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('accept' as const), n: fc.integer({ min: 0, max: 2 }) }) },
);

interface Rig {
  io: IoApic;
  router: RecordingRouter;
  clock: Scheduler;
  reads: number[];
}

function rig(): Rig {
  const clock = new Scheduler();
  const { io, router } = makeIoApic({ pins: PINS, clock, stormThreshold: 2, stormDelayNs: 250 });
  return { io, router, clock, reads: [] };
}

/**
 * Runs one op. With `flipReadOnly`, a write to a redirection entry's low half has delivery
 * status (bit 12) and remote IRR (bit 14) inverted after coercion: the guest cannot tell.
 */
function apply(r: Rig, op: GuestOp, flipReadOnly: boolean): void {
  switch (op.kind) {
    case 'write': {
      const sel = r.io.readRegister(0x00);
      const lowHalf = op.offset === 0x10 && sel >= 0x10 && sel % 2 === 0;
      const value = flipReadOnly && lowHalf ? ((op.value >>> 0) ^ (DELIVERY_STATUS | REMOTE_IRR)) >>> 0 : op.value;
      r.io.writeRegister(op.offset, value);
      return;
    }
    case 'read':
      r.reads.push(r.io.readRegister(op.offset));
      return;
    case 'pin':
      r.io.setPin(op.pin, op.level);
      return;
    case 'eoi':
      r.io.eoi(op.vector);
      return;
    case 'time':
      r.clock.runUntil(r.clock.now() + op.ns);
      return;
    case 'accept':
      r.router.accept = op.n;
      return;
  }
}

/** Everything a guest or host can observe, IOREGSEL restored. */
function observe(r: Rig): unknown {
  const sel = r.io.readRegister(0x00);
  const regs: number[] = [];
  for (let i = 0; i <= 0xff; i++) {
    r.io.writeRegister(0x00, i);
    regs.push(r.io.readRegister(0x10));
  }
  r.io.writeRegister(0x00, sel);
  return { sel, regs, stats: { ...r.io.stats }, messages: r.router.messages, reads: r.reads, pending: r.clock.pending() };
}

describe('property: arbitrary guest MMIO and host calls', () => {
  it('never throw, read u32 values and keep the read-only bits under the model’s control', () => {
    fc.assert(
      fc.property(fc.array(guestOpArb, { maxLength: 120 }), (ops) => {
        const a = rig();
        const b = rig();
        for (const op of ops) {
          apply(a, op, false);
          apply(b, op, true);
          for (let pin = 0; pin < PINS; pin++) {
            const low = Number(a.io.redirection(pin) & 0xffff_ffffn); // leaves IOREGSEL alone
            // An edge-triggered entry never holds remote IRR or a deferred delivery.
            if ((low & LEVEL) === 0) expect(low & (REMOTE_IRR | DELIVERY_STATUS)).toBe(0);
            // A deferred (send pending) delivery means nothing is in flight.
            if ((low & DELIVERY_STATUS) !== 0) expect(low & REMOTE_IRR).toBe(0);
          }
        }
        for (const v of a.reads) expect(Number.isInteger(v) && v >= 0 && v <= 0xffff_ffff).toBe(true);
        expect(observe(b)).toEqual(observe(a));
      }),
      { numRuns },
    );
  });
});

// ---- (2) level interrupts are neither lost nor doubled -------------------------------------

type LevelOp =
  | { kind: 'line'; pin: number; active: boolean }
  | { kind: 'service'; pin: number }
  | { kind: 'eoi'; pin: number }
  | { kind: 'mask'; pin: number; masked: boolean };

const LEVEL_PINS = 3;
const pinArb = fc.integer({ min: 0, max: LEVEL_PINS - 1 });
/** Per pin: true = active low (the idle wire is high). */
const polarityArb = fc.array(fc.boolean(), { minLength: LEVEL_PINS, maxLength: LEVEL_PINS });
const levelOpArb: fc.Arbitrary<LevelOp> = fc.oneof(
  fc.record({ kind: fc.constant('line' as const), pin: pinArb, active: fc.boolean() }),
  fc.record({ kind: fc.constant('service' as const), pin: pinArb }),
  fc.record({ kind: fc.constant('eoi' as const), pin: pinArb }),
  fc.record({ kind: fc.constant('mask' as const), pin: pinArb, masked: fc.boolean() }),
);

/** One local APIC's IRR and ISR for the level vectors 0x40 + pin. */
class OneLapic extends RecordingRouter {
  readonly irr = [false, false, false];
  readonly isr = [false, false, false];
  readonly lineActive = [false, false, false];
  readonly violations: string[] = [];

  override routeMessage(destination: number, logical: boolean, mode: number, vector: number, level: boolean): number {
    const pin = vector - 0x40;
    if (!level) this.violations.push(`edge message for ${vector}`);
    if (this.irr[pin] || this.isr[pin]) this.violations.push(`doubled ${vector}`);
    if (!this.lineActive[pin]) this.violations.push(`delivered ${vector} with the line inactive`);
    this.irr[pin] = true;
    return super.routeMessage(destination, logical, mode, vector, level);
  }
}

describe('property: level interrupts are neither lost nor doubled', () => {
  it('remote IRR is set exactly while the LAPIC holds the vector in IRR or ISR', () => {
    fc.assert(
      fc.property(polarityArb, fc.array(levelOpArb, { maxLength: 150 }), (activeLow, ops) => {
        const lapic = new OneLapic();
        const { io } = makeIoApic({ bus: lapic, pins: LEVEL_PINS });
        const masked = [false, false, false];
        const entry = (pin: number): number =>
          (masked[pin] ? MASKED : 0) | (activeLow[pin] ? ACTIVE_LOW : 0) | LEVEL | (0x40 + pin);
        for (let pin = 0; pin < LEVEL_PINS; pin++) {
          io.setPin(pin, activeLow[pin]!); // idle level: inactive
          writeLow(io, pin, entry(pin));
        }
        for (const op of ops) {
          const p = op.pin;
          if (op.kind === 'line') {
            lapic.lineActive[p] = op.active;
            io.setPin(p, op.active !== activeLow[p]);
          } else if (op.kind === 'service') {
            if (lapic.irr[p]) [lapic.irr[p], lapic.isr[p]] = [false, true];
          } else if (op.kind === 'eoi') {
            if (lapic.isr[p]) {
              lapic.isr[p] = false;
              io.eoi(0x40 + p);
            }
          } else {
            masked[p] = op.masked;
            writeLow(io, p, entry(p));
          }
          for (let pin = 0; pin < LEVEL_PINS; pin++) {
            const held = lapic.irr[pin]! || lapic.isr[pin]!;
            expect(io.remoteIrr(pin)).toBe(held);
            if (lapic.lineActive[pin] && !masked[pin]) expect(held).toBe(true);
          }
          expect(lapic.violations).toEqual([]);
        }
      }),
      { numRuns },
    );
  });
});
