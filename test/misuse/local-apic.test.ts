/**
 * Host misuse of LocalApic: every public method that takes a host argument, in xAPIC and x2APIC
 * mode, and again after the guest disabled the APIC (a globally disabled APIC still checks its
 * arguments first; valid fabric calls to it change nothing).
 */
import { describe, expect, it } from 'vitest';
import { LocalApic, type LocalApicOptions } from '../../src/apic/local-apic.js';
import { ApicBus } from '../../src/bus/apic-bus.js';
import { IoApic } from '../../src/ioapic/ioapic.js';
import { Scheduler } from '../../src/time/scheduler.js';
import { observeBus, observeLapic, observeScheduler } from '../fuzz/observe.js';
import { BAD_INTEGERS, NOT_BOOLEANS, NOT_NUMBERS, busyLapic, c, expectRejected, type Case, type LapicWorld } from './helpers.js';

const OFFSET = /^offset must be an integer in 0\.\.4095/;
const MSR = /^msr must be an integer in 0\.\.4294967295/;
const VECTOR = /^vector must be an integer in 0\.\.255/;

const cases: Array<Case<LocalApic>> = [
  // MMIO offsets: 0..0xFFF (a 4 KiB page); the value is guest data and never throws.
  ...[-1, 0x1000, 32.5, ...BAD_INTEGERS.map(([, v]) => v)].map((off) => c<LocalApic>(`readRegister(${off})`, (a) => a.readRegister(off), RangeError, OFFSET)),
  ...[-4, 0x1000, 2 ** 32].map((off) => c<LocalApic>(`writeRegister(${off}, 0)`, (a) => a.writeRegister(off, 0), RangeError, OFFSET)),
  ...NOT_NUMBERS.map(([label, off]) => c<LocalApic>(`readRegister(${label})`, (a) => a.readRegister(off as number), TypeError, /^offset must be a number/)),
  ...NOT_NUMBERS.map(([label, off]) => c<LocalApic>(`writeRegister(${label}, 0)`, (a) => a.writeRegister(off as number, 0), TypeError, /^offset must be a number/)),
  // MSR numbers are u32; values are u64 bigints.
  ...[-1, 2 ** 32, 27.5, Number.NaN].map((msr) => c<LocalApic>(`readMsr(${msr})`, (a) => a.readMsr(msr), RangeError, MSR)),
  ...[-1, 2 ** 32, Number.NaN].map((msr) => c<LocalApic>(`writeMsr(${msr}, 0n)`, (a) => a.writeMsr(msr, 0n), RangeError, MSR)),
  c('readMsr(a bigint)', (a) => a.readMsr(0x1bn as unknown as number), TypeError, /^msr must be a number/),
  c('writeMsr(0x80f, a number)', (a) => a.writeMsr(0x80f, 0x1ff as unknown as bigint), TypeError, /^value must be a bigint/),
  c('writeMsr(0x1b, -1n)', (a) => a.writeMsr(0x1b, -1n), RangeError, /^value must be a bigint in 0\.\.2\^64-1/),
  c('writeMsr(0x1b, 2n ** 64n)', (a) => a.writeMsr(0x1b, 2n ** 64n), RangeError, /^value must be a bigint in 0\.\.2\^64-1/),
  // Fabric arrivals: vector 0..255, level a boolean.
  ...[-1, 256, 48.5, ...BAD_INTEGERS.map(([, v]) => v)].map((v) => c<LocalApic>(`acceptInterrupt(${v}, false)`, (a) => a.acceptInterrupt(v, false), RangeError, VECTOR)),
  // A bigint too (it must not reach a bit operator and get the engine's "Cannot mix BigInt").
  ...NOT_NUMBERS.map(([label, v]) =>
    c<LocalApic>(`acceptInterrupt(${label}, false)`, (a) => a.acceptInterrupt(v as number, false), TypeError, /^vector must be a number/),
  ),
  // The MMIO value is guest data when it is a number (any number), a host bug otherwise.
  ...NOT_NUMBERS.map(([label, v]) =>
    c<LocalApic>(`writeRegister(0x80, ${label})`, (a) => a.writeRegister(0x80, v as number), TypeError, /^value must be a number/),
  ),
  c("writeRegister(0xf0, '0x1ff')", (a) => a.writeRegister(0xf0, '0x1ff' as unknown as number), TypeError, /^value must be a number/),
  // Vector queries: no wrapping (0x130 is not 0x30, -1 is not 0xFF, 1.5 is not 1).
  ...(['isRequested', 'isInService', 'isLevelTriggered', 'isFocusFor'] as const).flatMap((q) => [
    ...[0x130, 256, -1, 1.5, Number.NaN].map((v) => c<LocalApic>(`${q}(${v})`, (a) => a[q](v), RangeError, VECTOR)),
    ...NOT_NUMBERS.map(([label, v]) => c<LocalApic>(`${q}(${label})`, (a) => a[q](v as number), TypeError, /^vector must be a number/)),
  ]),
  // The outward half of a level EOI: the vector is checked before anything is counted.
  ...[300, 256, -1, 48.5, Number.NaN].map((v) => c<LocalApic>(`levelEoi(${v})`, (a) => a.levelEoi(v), RangeError, VECTOR)),
  ...NOT_NUMBERS.map(([label, v]) => c<LocalApic>(`levelEoi(${label})`, (a) => a.levelEoi(v as number), TypeError, /^vector must be a number/)),
  // Fabric messages: delivery mode 0..7, vector 0..255, level a boolean.
  ...[8, 9, -1, 1.5, Number.NaN].map((m) => c<LocalApic>(`acceptMessage(${m}, 0x30, false)`, (a) => a.acceptMessage(m, 0x30, false), RangeError, /^deliveryMode must be an integer in 0\.\.7/)),
  ...NOT_NUMBERS.map(([label, m]) => c<LocalApic>(`acceptMessage(${label}, 0x30, false)`, (a) => a.acceptMessage(m as number, 0x30, false), TypeError, /^deliveryMode must be a number/)),
  ...[0x130, -1, 48.5].flatMap((v) => [0, 1, 6].map((m) => c<LocalApic>(`acceptMessage(${m}, ${v}, false)`, (a) => a.acceptMessage(m, v, false), RangeError, VECTOR))),
  ...NOT_NUMBERS.map(([label, v]) => c<LocalApic>(`acceptMessage(0, ${label}, false)`, (a) => a.acceptMessage(0, v as number, false), TypeError, /^vector must be a number/)),
  ...NOT_BOOLEANS.map(([label, l]) => c<LocalApic>(`acceptMessage(0, 0x30, ${label})`, (a) => a.acceptMessage(0, 0x30, l as boolean), TypeError, /^level must be a boolean/)),
  // SIPI: the vector is checked before the SIPI is counted or ignored.
  ...[999, 256, -1, 0.5].map((v) => c<LocalApic>(`acceptSipi(${v})`, (a) => a.acceptSipi(v), RangeError, VECTOR)),
  ...NOT_NUMBERS.map(([label, v]) => c<LocalApic>(`acceptSipi(${label})`, (a) => a.acceptSipi(v as number), TypeError, /^vector must be a number/)),
  ...NOT_BOOLEANS.map(([label, l]) => c<LocalApic>(`acceptInterrupt(0x30, ${label})`, (a) => a.acceptInterrupt(0x30, l as boolean), TypeError, /^level must be a boolean/)),
  // LINT pins 0 and 1.
  ...[2, -1, 0.5].map((pin) => c<LocalApic>(`setLint(${pin}, true)`, (a) => a.setLint(pin as 0, true), RangeError, /^pin must be an integer in 0\.\.1/)),
  c('setLint(a string, true)', (a) => a.setLint('0' as unknown as 0, true), TypeError, /^pin must be a number/),
  ...NOT_BOOLEANS.map(([label, l]) => c<LocalApic>(`setLint(0, ${label})`, (a) => a.setLint(0, l as boolean), TypeError, /^level must be a boolean/)),
  // Host-side priority and INTA helpers.
  ...[256, -1, 0.5].map((t) => c<LocalApic>(`setTpr(${t})`, (a) => a.setTpr(t), RangeError, /^tpr must be an integer in 0\.\.255/)),
  ...[256, -1, 69.5].map((v) => c<LocalApic>(`acknowledgeVector(${v})`, (a) => a.acknowledgeVector(v), RangeError, VECTOR)),
  ...[256, -1].map((v) => c<LocalApic>(`startup(${v})`, (a) => a.startup(v), RangeError, VECTOR)),
  c("raiseLvt('timer')", (a) => a.raiseLvt('timer' as 'perf'), RangeError, /^source must be 'thermal', 'perf' or 'cmci'/),
  c('setEventHandler(42)', (a) => a.setEventHandler(42 as unknown as () => void), TypeError, /^fn must be a function/),
  c('setAccel({})', (a) => a.setAccel({} as never), TypeError, /^accel must have an acceptFixed/),
];

function runCases(label: string, make: () => LapicWorld): void {
  describe(label, () => {
    for (const k of cases) {
      it(`${k.name} throws ${k.error.name} and changes nothing`, () => {
        const w = make();
        expectRejected(w.observe, () => k.call(w.apic), k.error, k.message);
      });
    }
  });
}

runCases('LocalApic misuse, xAPIC mode', () => busyLapic());
runCases('LocalApic misuse, x2APIC mode', () => busyLapic({ x2apic: true }));
runCases('LocalApic misuse after the guest disabled it (IA32_APIC_BASE.EN = 0)', () => {
  const w = busyLapic();
  expect(w.apic.writeMsr(0x1b, 0xfee0_0100n)).toBe(true);
  expect(w.apic.mode).toBe('disabled');
  return w;
});

describe('LocalApic: valid calls to a disabled APIC are not errors and change nothing', () => {
  it('globally disabled: fabric arrivals, INTA and EOI are ignored', () => {
    const w = busyLapic();
    w.apic.writeMsr(0x1b, 0xfee0_0100n);
    const before = w.observe();
    w.apic.acceptInterrupt(0x50, false);
    w.apic.acceptInterrupt(0x51, true);
    expect(w.apic.acceptMessage(0, 0x52, false)).toBe(false);
    w.apic.acceptNmi();
    w.apic.acceptInit();
    w.apic.acceptSipi(0x10);
    expect(w.apic.acknowledge()).toBe(0xff); // the spurious vector (SVR reset value)
    w.apic.eoi();
    const after = w.observe() as { apic: { stats: { spurious: number } } };
    // Only the spurious-acknowledge counter moves: that INTA did happen.
    (before as { apic: { stats: { spurious: number } } }).apic.stats.spurious += 1;
    expect(after).toEqual(before);
  });

  it('globally disabled: the xAPIC window reads all ones and ignores writes', () => {
    const w = busyLapic();
    w.apic.writeMsr(0x1b, 0xfee0_0100n);
    const before = w.observe();
    for (let off = 0; off < 0x400; off += 0x10) {
      expect(w.apic.readRegister(off)).toBe(0xffff_ffff);
      w.apic.writeRegister(off, 0xffff_ffff);
    }
    expect(w.observe()).toEqual(before);
  });

  it('software-disabled: fixed arrivals are dropped and counted, nothing else changes', () => {
    const w = busyLapic();
    w.apic.writeRegister(0xf0, 0xff);
    const before = observeLapic(w.apic);
    w.apic.acceptInterrupt(0x50, false);
    const after = observeLapic(w.apic) as { stats: { droppedDisabled: number } };
    expect(after.stats.droppedDisabled).toBe((before as typeof after).stats.droppedDisabled + 1);
    after.stats.droppedDisabled -= 1;
    expect(after).toEqual(before);
  });
});

describe('new LocalApic(opts) misuse', () => {
  const clock = new Scheduler();
  const base: LocalApicOptions = { id: 1, clock };
  const ctor: Array<[string, unknown, ErrorConstructor, RegExp]> = [
    ['no options', undefined, TypeError, /^opts must be an object/],
    ['null options', null, TypeError, /^opts must be an object/],
    ['id -1', { ...base, id: -1 }, RangeError, /^id must be an integer in 0\.\.4294967294/],
    ['id 1.5', { ...base, id: 1.5 }, RangeError, /^id must be an integer/],
    ['id 2^32 - 1 (the x2APIC broadcast)', { ...base, id: 0xffff_ffff, x2apic: true }, RangeError, /^id must be an integer in 0\.\.4294967294/],
    ['id 256 in xAPIC mode', { ...base, id: 256 }, RangeError, /^id must be 0\.\.255 unless x2apic is true/],
    ['id as a string', { ...base, id: '1' }, TypeError, /^id must be a number/],
    ['no clock', { id: 1 }, TypeError, /^clock must implement Clock/],
    ['a clock without cancel', { id: 1, clock: { now: () => 0, schedule: () => 1 } }, TypeError, /^clock must implement Clock/],
    ['timerHz 0', { ...base, timerHz: 0 }, RangeError, /^timerHz must be an integer in 1\.\./],
    ['timerHz 1.5', { ...base, timerHz: 1.5 }, RangeError, /^timerHz must be an integer/],
    ['tscHz 1e13', { ...base, tscHz: 1e13 }, RangeError, /^tscHz must be an integer in 1\.\.1000000000000/],
    ['minTimerPeriodNs 0', { ...base, minTimerPeriodNs: 0 }, RangeError, /^minTimerPeriodNs must be an integer in 1\.\./],
    ['physAddrBits 31', { ...base, physAddrBits: 31 }, RangeError, /^physAddrBits must be an integer in 32\.\.52/],
    ['physAddrBits 53', { ...base, physAddrBits: 53 }, RangeError, /^physAddrBits must be an integer in 32\.\.52/],
    ['bsp 1', { ...base, bsp: 1 }, TypeError, /^bsp must be a boolean/],
    ["directedEoi 'yes'", { ...base, directedEoi: 'yes' }, TypeError, /^directedEoi must be a boolean/],
    ["x2apicSupported 'no'", { ...base, x2apicSupported: 'no' }, TypeError, /^x2apicSupported must be a boolean/],
    ['autoInitSipi 0', { ...base, autoInitSipi: 0 }, TypeError, /^autoInitSipi must be a boolean/],
    ['x2apic 1', { ...base, x2apic: 1 }, TypeError, /^x2apic must be a boolean/],
    ['x2apic without x2apicSupported', { ...base, x2apic: true, x2apicSupported: false }, RangeError, /^x2apic: true needs x2apicSupported/],
    ['onEvent 42', { ...base, onEvent: 42 }, TypeError, /^onEvent must be a function/],
  ];
  for (const [label, opts, error, message] of ctor) {
    it(`${label}: throws ${error.name}, schedules nothing and attaches nothing to the bus`, () => {
      const bus = new ApicBus();
      const withBus = opts !== null && typeof opts === 'object' ? { ...opts, bus } : opts;
      const observe = (): unknown => ({ bus: observeBus(bus), pending: clock.pending() });
      expectRejected(observe, () => new LocalApic(withBus as LocalApicOptions), error as typeof RangeError, message);
    });
  }
});

describe('new LocalApic({ bus }) misuse', () => {
  for (const [label, bus] of [['{}', {}], ['null', null], ['42', 42], ['an object without routingChanged', { attach() {}, sendIpi() {}, broadcastEoi() {} }]] as const) {
    it(`bus ${label}: throws a TypeError naming bus, and schedules nothing`, () => {
      const clock = new Scheduler();
      clock.schedule(10, () => {});
      expectRejected(
        () => observeScheduler(clock),
        () => new LocalApic({ id: 0, clock, bus: bus as never }),
        TypeError,
        /^bus must implement ApicBusPort/,
      );
    });
  }
});

describe('LocalApic fabric entry points check before they count (formerly KNOWN_BUGS 2, 3, 5, 6)', () => {
  it('levelEoi checks the vector before counting, with and without an EOI listener', () => {
    const bus = new ApicBus();
    const apic = new LocalApic({ id: 0, clock: new Scheduler(), bus });
    bus.addEoiListener(new IoApic({ bus }));
    expect(() => apic.levelEoi(300)).toThrow(/^vector must be an integer in 0\.\.255/);
    expect(apic.stats.eoiBroadcasts).toBe(0);
    expect(bus.stats.eoiBroadcasts).toBe(0);
    const lone = new LocalApic({ id: 0, clock: new Scheduler(), bus: new ApicBus() });
    expect(() => lone.levelEoi(256)).toThrow(RangeError);
    expect(lone.stats.eoiBroadcasts).toBe(0);
  });

  it('writeRegister with a non-number value leaves TPR and SVR alone', () => {
    const apic = new LocalApic({ id: 0, clock: new Scheduler() });
    apic.writeRegister(0xf0, 0x1ff);
    apic.writeRegister(0x80, 0x20);
    const before = Array.from(apic.page);
    expect(() => apic.writeRegister(0x80, 0x30n as unknown as number)).toThrow(/^value must be a number/);
    expect(() => apic.writeRegister(0xf0, '0x1ff' as unknown as number)).toThrow(TypeError);
    expect(Array.from(apic.page)).toEqual(before);
    expect(apic.softwareEnabled).toBe(true);
    // Any number is still guest data.
    expect(() => apic.writeRegister(0x80, Number.NaN)).not.toThrow();
    expect(apic.getTpr()).toBe(0);
  });

  it('acceptMessage rejects impossible messages even on a globally disabled APIC', () => {
    const apic = new LocalApic({ id: 0, clock: new Scheduler() });
    apic.writeMsr(0x1b, 0xfee0_0100n);
    expect(() => apic.acceptMessage(0, 0x130, false)).toThrow(/^vector must be an integer in 0\.\.255/);
    expect(apic.acceptMessage(0, 0x30, false)).toBe(false); // a valid message: dropped, no error
  });

  it('acceptSipi rejects vectors outside 0..255 before counting or reporting', () => {
    const events: number[] = [];
    const a = new LocalApic({ id: 1, clock: new Scheduler() });
    const b = new LocalApic({ id: 2, clock: new Scheduler(), autoInitSipi: false, onEvent: (_e, v) => events.push(v) });
    expect(() => a.acceptSipi(999)).toThrow(/^vector must be an integer in 0\.\.255/);
    expect(() => b.acceptSipi(-1)).toThrow(RangeError);
    expect(a.stats.sipisIgnored).toBe(0);
    expect(b.stats.sipis).toBe(0);
    expect(events).toEqual([]);
  });
});
