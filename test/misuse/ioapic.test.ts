/**
 * Host misuse of IoApic. Any *number* at an MMIO offset or value is guest data (docs/ioapic.md:
 * unknown offsets read 0 and ignore writes, values are coerced like a 32-bit bus) and never
 * throws; a non-number there, a pin outside 0..pins-1, a vector outside 0..255, a non-boolean
 * level and bad constructor options are host bugs and throw without changing anything.
 */
import { describe, expect, it } from 'vitest';
import { LocalApic } from '../../src/apic/local-apic.js';
import { ApicBus } from '../../src/bus/apic-bus.js';
import { IoApic, type IoApicOptions } from '../../src/ioapic/ioapic.js';
import { Scheduler } from '../../src/time/scheduler.js';
import { observeBus, observeIoApic, observeLapic, observeScheduler } from '../fuzz/observe.js';
import { BAD_INTEGERS, NOT_BOOLEANS, NOT_NUMBERS, c, expectRejected, type Case } from './helpers.js';

const PINS = 24;

/** An I/O APIC with a level interrupt in flight, an edge entry, and IOREGSEL pointing somewhere. */
function busy(): { io: IoApic; observe: () => unknown } {
  const clock = new Scheduler();
  const bus = new ApicBus();
  const apic = new LocalApic({ id: 0, clock, bus, bsp: true });
  apic.writeRegister(0xf0, 0x1ff);
  const io = new IoApic({ bus, clock, stormThreshold: 0 });
  bus.addEoiListener(io);
  const entry = (pin: number, low: number): void => {
    io.writeRegister(0x00, 0x10 + 2 * pin);
    io.writeRegister(0x10, low);
  };
  entry(3, 0x8030); // level, vector 0x30
  entry(4, 0x0031); // edge, vector 0x31
  io.setPin(3, true);
  io.setPin(4, true);
  while (apic.pendingVector() >= 0) {
    apic.acknowledge();
    apic.eoi(); // threshold 0: the level re-delivery is deferred, a storm event is queued
  }
  io.writeRegister(0x00, 0x17);
  expect(clock.pending()).toBe(1); // the storm back-off of pin 3
  expect(io.stats.deliveries).toBe(2);
  return {
    io,
    observe: () => ({ io: observeIoApic(io), apic: observeLapic(apic), bus: observeBus(bus), clock: observeScheduler(clock) }),
  };
}

const PIN = /^pin must be an integer in 0\.\.23/;
const cases: Array<Case<IoApic>> = [
  ...[-1, PINS, 2.5, ...BAD_INTEGERS.map(([, v]) => v)].map((pin) => c<IoApic>(`setPin(${pin}, true)`, (io) => io.setPin(pin, true), RangeError, PIN)),
  ...NOT_NUMBERS.map(([label, pin]) => c<IoApic>(`setPin(${label}, true)`, (io) => io.setPin(pin as number, true), TypeError, /^pin must be a number/)),
  ...NOT_BOOLEANS.map(([label, l]) => c<IoApic>(`setPin(3, ${label})`, (io) => io.setPin(3, l as boolean), TypeError, /^level must be a boolean/)),
  ...[-1, 256, 48.5, Number.NaN].map((v) => c<IoApic>(`eoi(${v})`, (io) => io.eoi(v), RangeError, /^vector must be an integer in 0\.\.255/)),
  ...NOT_NUMBERS.map(([label, v]) => c<IoApic>(`eoi(${label})`, (io) => io.eoi(v as number), TypeError, /^vector must be a number/)),
  ...(['redirection', 'pinLevel', 'pinActive', 'remoteIrr'] as const).flatMap((m) => [
    c<IoApic>(`${m}(24)`, (io) => io[m](PINS), RangeError, PIN),
    c<IoApic>(`${m}(-1)`, (io) => io[m](-1), RangeError, PIN),
    c<IoApic>(`${m}('3')`, (io) => io[m]('3' as unknown as number), TypeError, /^pin must be a number/),
  ]),
  // MMIO: a non-number offset or value (a bigint from a 64-bit MMIO path, say) is a host bug.
  ...NOT_NUMBERS.map(([label, off]) => c<IoApic>(`readRegister(${label})`, (io) => io.readRegister(off as number), TypeError, /^offset must be a number/)),
  ...NOT_NUMBERS.map(([label, off]) => c<IoApic>(`writeRegister(${label}, 0)`, (io) => io.writeRegister(off as number, 0), TypeError, /^offset must be a number/)),
  ...NOT_NUMBERS.map(([label, v]) => c<IoApic>(`writeRegister(0x10, ${label})`, (io) => io.writeRegister(0x10, v as number), TypeError, /^value must be a number/)),
];

describe('IoApic misuse', () => {
  for (const k of cases) {
    it(`${k.name} throws ${k.error.name} and changes nothing`, () => {
      const { io, observe } = busy();
      expectRejected(observe, () => k.call(io), k.error, k.message);
    });
  }
});

describe('IoApic: an offset outside the 4 KiB window, or a size other than 1/2/4, is host misuse (src/apic/mmio.ts)', () => {
  for (const off of [-1, 0.5, Number.NaN, Number.POSITIVE_INFINITY, 0x1000, 2 ** 53]) {
    it(`offset ${off} throws a RangeError on read and write and changes nothing`, () => {
      const { io, observe } = busy();
      expectRejected(observe, () => io.readRegister(off), RangeError, /^offset must be an integer in 0\.\.4095/);
      expectRejected(observe, () => io.writeRegister(off, 0xffff_ffff), RangeError, /^offset must be an integer in 0\.\.4095/);
    });
  }
  for (const size of [0, 3, 8, 4.5]) {
    it(`size ${size} throws a RangeError and changes nothing`, () => {
      const { io, observe } = busy();
      expectRejected(observe, () => io.writeRegister(0x00, 0x10, size as 4), RangeError, /^size must be 1, 2 or 4/);
      expectRejected(observe, () => io.readRegister(0x10, size as 4), RangeError, /^size must be 1, 2 or 4/);
    });
  }
  it('every in-window offset and size is guest input and never throws', () => {
    const { io } = busy();
    for (let off = 0; off < 0x1000; off += 7) for (const size of [1, 2, 4] as const) expect(() => io.readRegister(off, size)).not.toThrow();
  });
  it('NaN, infinities, negatives and fractions written to IOREGSEL are coerced, not rejected', () => {
    const { io } = busy();
    for (const [v, sel] of [[Number.NaN, 0], [Number.POSITIVE_INFINITY, 0], [-1, 0xff], [17.9, 0x11], [2 ** 32 + 0x12, 0x12]] as const) {
      io.writeRegister(0x00, v);
      expect(io.readRegister(0x00)).toBe(sel);
    }
  });
});

describe('new IoApic(opts) misuse', () => {
  const bus = new ApicBus();
  const cases2: Array<[string, unknown, typeof RangeError | typeof TypeError, RegExp]> = [
    ['no options', undefined, TypeError, /^opts must be an object/],
    ['no bus', {}, TypeError, /^bus must be an InterruptRouter/],
    ['a bus without routeMessage', { bus: {} }, TypeError, /^bus must be an InterruptRouter/],
    ['pins 0', { bus, pins: 0 }, RangeError, /^pins must be an integer in 1\.\.120/],
    ['pins 121', { bus, pins: 121 }, RangeError, /^pins must be an integer in 1\.\.120/],
    ['pins 2.5', { bus, pins: 2.5 }, RangeError, /^pins must be an integer in 1\.\.120/],
    ["pins '24'", { bus, pins: '24' }, TypeError, /^pins must be a number/],
    ['id 16', { bus, id: 16 }, RangeError, /^id must be an integer in 0\.\.15/],
    ['version 0x12', { bus, version: 0x12 }, RangeError, /^version must be 0x11 or 0x20/],
    ["version '0x20'", { bus, version: '0x20' }, TypeError, /^version must be a number/],
    ['a clock without schedule', { bus, clock: { now: () => 0 } }, TypeError, /^clock must be a Clock/],
    ['stormThreshold -1', { bus, stormThreshold: -1 }, RangeError, /^stormThreshold must be an integer in 0\.\.4294967295/],
    ['stormDelayNs 1.5', { bus, stormDelayNs: 1.5 }, RangeError, /^stormDelayNs must be an integer in 0\.\.9007199254740991/],
  ];
  for (const [label, opts, error, message] of cases2) {
    it(`${label}: throws ${error.name} naming the option`, () => {
      const clock = new Scheduler();
      expectRejected(() => observeScheduler(clock), () => new IoApic(opts as IoApicOptions), error, message);
    });
  }
});
