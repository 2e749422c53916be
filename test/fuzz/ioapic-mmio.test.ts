/**
 * Surface: I/O APIC MMIO (IOREGSEL, IOWIN, EOI register, and any other offset or junk value),
 * wire levels and EOIs, with two local APICs taking, acknowledging and EOIing what it sends, a
 * small storm threshold so the back-off is reached, and virtual time moving.
 *
 * Besides the shared invariants: reads are u32; delivery status and remote IRR are never set
 * by a guest write; pin levels are exactly what the host set; statistics only grow.
 */
import fc from 'fast-check';
import { describe, expect } from 'vitest';
import { LocalApic } from '../../src/apic/local-apic.js';
import { ApicBus } from '../../src/bus/apic-bus.js';
import { IoApic } from '../../src/ioapic/ioapic.js';
import { MAX_TIME_NS, Scheduler } from '../../src/time/scheduler.js';
import { guestNumber, timeStep, u32, sequence, type ValueOf } from './arbitraries.js';
import { fuzz } from './config.js';
import { checkIoApic, checkLapic } from './invariants.js';
import { observeIoApic, observeLapic } from './observe.js';

const PINS = 8;

type Op =
  | { k: 'write'; off: number; v: number; size: 1 | 2 | 4 }
  | { k: 'entry'; pin: number; high: boolean; v: number; dest?: number }
  | { k: 'read'; off: number; size: 1 | 2 | 4 }
  | { k: 'pin'; pin: number; level: boolean }
  | { k: 'hosteoi'; v: number }
  | { k: 'ack'; cpu: number }
  | { k: 'eoi'; cpu: number }
  | { k: 'service'; cpu: number; times: number }
  | { k: 'svr'; cpu: number; v: number }
  | { k: 'time'; dt: number };

const pin = fc.integer({ min: 0, max: PINS - 1 });
const vec = fc.constantFrom(0x30, 0x31, 0x40, 0x41, 0x05, 0xff);

/** Redirection-entry low halves that exercise every field. */
const entryLow = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .record({ v: vec, mode: fc.integer({ min: 0, max: 7 }), logical: fc.boolean(), ds: fc.boolean(), pol: fc.boolean(), rirr: fc.boolean(), level: fc.boolean(), mask: fc.boolean() })
      .map((r) => (r.v | (r.mode << 8) | (r.logical ? 1 << 11 : 0) | (r.ds ? 1 << 12 : 0) | (r.pol ? 1 << 13 : 0) | (r.rirr ? 1 << 14 : 0) | (r.level ? 1 << 15 : 0) | (r.mask ? 1 << 16 : 0)) >>> 0),
  },
  { weight: 1, arbitrary: u32 },
);
const entryHigh = fc.oneof(fc.constantFrom(0, 1 << 24, 3 << 24, 0xff << 24, 0x01000000 | 0xabcd), u32);

const offset = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(0x00, 0x10, 0x40) },
  // Sub-dword lanes of the registers, other offsets, the end of the window (docs/embedding.md, MMIO widths).
  { weight: 1, arbitrary: fc.constantFrom(0x01, 0x03, 0x04, 0x11, 0x12, 0x13, 0x20, 0x30, 0x41, 0x50, 0xf0, 0x100, 0xffd, 0xfff) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xfff }) },
);
const size = fc.constantFrom<1 | 2 | 4>(4, 4, 1, 2);
const ioregselValue = fc.oneof(fc.integer({ min: 0, max: 0x10 + 2 * PINS + 2 }), fc.integer({ min: 0, max: 0xff }), u32);

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ k: fc.constant('write' as const), off: offset, v: fc.oneof(ioregselValue, guestNumber), size }) },
  { weight: 6, arbitrary: fc.record({ k: fc.constant('entry' as const), pin, high: fc.boolean(), v: fc.integer() }).chain((r) => (r.high ? entryHigh : entryLow).map((v) => ({ ...r, v }))) },
  // A working level-triggered entry (fixed, unmasked, to CPU 0 or 1), so storms are reached.
  {
    weight: 2,
    arbitrary: fc
      .record({ pin, v: vec, lowPri: fc.boolean(), activeLow: fc.boolean(), cpu: fc.integer({ min: 0, max: 1 }) })
      .map((r) => ({ k: 'entry' as const, pin: r.pin, high: false, v: (0x8000 | (r.activeLow ? 0x2000 : 0) | (r.lowPri ? 0x100 : 0) | r.v) >>> 0, dest: r.cpu })),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('read' as const), off: offset, size }) },
  { weight: 6, arbitrary: fc.record({ k: fc.constant('pin' as const), pin, level: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('hosteoi' as const), v: vec }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('ack' as const), cpu: fc.integer({ min: 0, max: 1 }) }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('eoi' as const), cpu: fc.integer({ min: 0, max: 1 }) }) },
  // A guest that acknowledges and EOIs in a loop (the storm pattern when the line stays active).
  { weight: 3, arbitrary: fc.record({ k: fc.constant('service' as const), cpu: fc.integer({ min: 0, max: 1 }), times: fc.integer({ min: 1, max: 6 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('svr' as const), cpu: fc.integer({ min: 0, max: 1 }), v: fc.constantFrom(0x1ff, 0x11ff, 0xff) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('time' as const), dt: timeStep }) },
);

const setupArb = fc.record({
  version: fc.constantFrom(0x11 as const, 0x20 as const),
  stormThreshold: fc.integer({ min: 0, max: 3 }),
  stormDelayNs: fc.constantFrom(0, 1, 1000, 10_000_000),
  withClock: fc.boolean(),
  // Sometimes start 5 ms before the end of virtual time, where a back-off cannot be scheduled.
  startNs: fc.constantFrom(0, 0, MAX_TIME_NS - 5_000_000),
});

/** Advances the clock by dt, stopping at the last representable nanosecond. */
function advance(clock: Scheduler, dt: number): void {
  clock.runUntil(Math.min(clock.now() + dt, MAX_TIME_NS));
}

function run(setup: ValueOf<typeof setupArb>, ops: readonly Op[]): void {
  const clock = new Scheduler();
  clock.runUntil(setup.startNs);
  const bus = new ApicBus();
  const apics = [0, 1].map((id) => new LocalApic({ id, clock, bus, bsp: id === 0 }));
  for (const a of apics) a.writeRegister(0xf0, 0x1ff);
  const io = new IoApic({
    bus,
    pins: PINS,
    version: setup.version,
    stormThreshold: setup.stormThreshold,
    stormDelayNs: setup.stormDelayNs,
    clock: setup.withClock ? clock : undefined,
  });
  bus.addEoiListener(io);
  const levels = new Array<boolean>(PINS).fill(false);
  let stats = { ...io.stats };

  for (const op of ops) {
    switch (op.k) {
      case 'write':
        io.writeRegister(op.off, op.v, op.size);
        break;
      case 'entry': {
        if (op.dest !== undefined) {
          io.writeRegister(0x00, 0x11 + 2 * op.pin);
          io.writeRegister(0x10, op.dest << 24);
        }
        const before = io.redirection(op.pin);
        io.writeRegister(0x00, 0x10 + 2 * op.pin + (op.high ? 1 : 0));
        io.writeRegister(0x10, op.v);
        const after = io.redirection(op.pin);
        if (op.high) {
          expect(after >> 32n).toBe(BigInt(op.v >>> 0)); // all 32 bits stored
          // The low half keeps its guest bits; only a retried delivery may set remote IRR.
          expect(after & 0xffff_afffn).toBe(before & 0xffff_afffn);
        } else {
          // The guest never sets delivery status or remote IRR itself.
          const ro = 0x5000n;
          const low = after & 0xffff_ffffn;
          expect(low & ~ro).toBe(BigInt(op.v >>> 0) & ~ro);
          expect(after >> 32n).toBe(before >> 32n);
          if ((before & ro) === 0n) expect(low & ro).toBe(low & 0x4000n); // only a delivery may set RIRR
        }
        break;
      }
      case 'read': {
        const value = io.readRegister(op.off, op.size);
        expect(Number.isInteger(value) && value >= 0 && value < 2 ** (8 * op.size), `read ${op.off}/${op.size} = ${value}`).toBe(true);
        break;
      }
      case 'pin':
        io.setPin(op.pin, op.level);
        levels[op.pin] = op.level;
        break;
      case 'hosteoi':
        io.eoi(op.v);
        break;
      case 'ack':
        apics[op.cpu]!.acknowledge();
        break;
      case 'eoi':
        apics[op.cpu]!.eoi();
        break;
      case 'service':
        for (let i = 0; i < op.times; i++) {
          apics[op.cpu]!.acknowledge();
          apics[op.cpu]!.eoi();
        }
        break;
      case 'svr':
        apics[op.cpu]!.writeRegister(0xf0, op.v);
        break;
      case 'time':
        advance(clock, op.dt);
        break;
    }
    checkIoApic(io, clock.pending());
    for (const a of apics) checkLapic(a);
    for (let p = 0; p < PINS; p++) expect(io.pinLevel(p)).toBe(levels[p]);
    // Statistics only grow.
    for (const [k, v] of Object.entries(io.stats)) expect(v, k).toBeGreaterThanOrEqual(stats[k as keyof typeof stats]);
    stats = { ...io.stats };
    // Two LAPIC timers (idle here) and one storm event at most.
    expect(clock.pending()).toBeLessThanOrEqual(1);
  }
}

describe('fuzz: I/O APIC MMIO', () => {
  fuzz('ioapic mmio random sequences never throw and keep every invariant', () =>
    fc.property(setupArb, sequence(opArb, 80), (setup, ops) => {
      run(setup, ops);
    }),
  );

  fuzz('ioapic mmio the same sequence gives the same state', () =>
    fc.property(setupArb, sequence(opArb, 60), (setup, ops) => {
      const states: unknown[] = [];
      for (let i = 0; i < 2; i++) {
        const clock = new Scheduler();
        clock.runUntil(setup.startNs);
        const bus = new ApicBus();
        const apics = [0, 1].map((id) => new LocalApic({ id, clock, bus }));
        for (const a of apics) a.writeRegister(0xf0, 0x1ff);
        const io = new IoApic({ bus, pins: PINS, version: setup.version, stormThreshold: setup.stormThreshold, stormDelayNs: setup.stormDelayNs, clock });
        bus.addEoiListener(io);
        for (const op of ops) {
          if (op.k === 'write') io.writeRegister(op.off, op.v, op.size);
          else if (op.k === 'entry') {
            if (op.dest !== undefined) {
              io.writeRegister(0x00, 0x11 + 2 * op.pin);
              io.writeRegister(0x10, op.dest << 24);
            }
            io.writeRegister(0x00, 0x10 + 2 * op.pin + (op.high ? 1 : 0));
            io.writeRegister(0x10, op.v);
          } else if (op.k === 'pin') io.setPin(op.pin, op.level);
          else if (op.k === 'hosteoi') io.eoi(op.v);
          else if (op.k === 'ack') apics[op.cpu]!.acknowledge();
          else if (op.k === 'eoi') apics[op.cpu]!.eoi();
          else if (op.k === 'service') {
            for (let i = 0; i < op.times; i++) {
              apics[op.cpu]!.acknowledge();
              apics[op.cpu]!.eoi();
            }
          } else if (op.k === 'svr') apics[op.cpu]!.writeRegister(0xf0, op.v);
          else if (op.k === 'time') advance(clock, op.dt);
        }
        states.push({ io: observeIoApic(io), apics: apics.map(observeLapic), pending: clock.pending() });
      }
      expect(states[0]).toEqual(states[1]);
    }),
    { scale: 0.5 },
  );
});
