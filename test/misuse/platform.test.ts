/**
 * Host misuse of Platform: GSIs, CPU indexes, vectors, levels, listeners and options. Every
 * throwing call leaves every device (LAPICs, I/O APIC, PIC, bus, scheduler) exactly as it was.
 */
import { describe, expect, it } from 'vitest';
import { Platform, type CpuEvent, type PlatformOptions } from '../../src/platform/platform.js';
import { Scheduler } from '../../src/time/scheduler.js';
import { observeScheduler } from '../fuzz/observe.js';
import { BAD_INTEGERS, NOT_BOOLEANS, NOT_NUMBERS, busyPlatform, c, expectRejected, type Case } from './helpers.js';

const CPU = /^cpu must be an integer in 0\.\.1,/;

const cases: Array<Case<Platform>> = [
  ...[24, -1, 2.5, ...BAD_INTEGERS.map(([, v]) => v)].map((gsi) => c<Platform>(`setIrq(${gsi}, true)`, (pc) => pc.setIrq(gsi, true), RangeError, /^gsi must be an integer in 0\.\.23/)),
  ...NOT_NUMBERS.map(([label, gsi]) => c<Platform>(`setIrq(${label}, true)`, (pc) => pc.setIrq(gsi as number, true), TypeError, /^gsi must be a number/)),
  ...NOT_BOOLEANS.map(([label, l]) => c<Platform>(`setIrq(4, ${label})`, (pc) => pc.setIrq(4, l as boolean), TypeError, /^level must be a boolean/)),
  ...NOT_BOOLEANS.map(([label, l]) => c<Platform>(`setNmiLine(${label})`, (pc) => pc.setNmiLine(l as boolean), TypeError, /^level must be a boolean/)),
  ...(['cpuHasInterrupt', 'cpuAcknowledge', 'takeNmi', 'takeSmi', 'lapic'] as const).flatMap((m) => [
    c<Platform>(`${m}(2)`, (pc) => pc[m](2), RangeError, CPU),
    c<Platform>(`${m}(-1)`, (pc) => pc[m](-1), RangeError, CPU),
    c<Platform>(`${m}(0.5)`, (pc) => pc[m](0.5), RangeError, CPU),
    c<Platform>(`${m}(NaN)`, (pc) => pc[m](Number.NaN), RangeError, CPU),
    c<Platform>(`${m}('0')`, (pc) => pc[m]('0' as unknown as number), TypeError, /^cpu must be a number/),
  ]),
  ...[256, -1, 48.5, Number.NaN].map((v) => c<Platform>(`explain(0, ${v})`, (pc) => pc.explain(0, v), RangeError, /^vector must be an integer in 0\.\.255/)),
  c('explain(0, a string)', (pc) => pc.explain(0, '48' as unknown as number), TypeError, /^vector must be a number/),
  c('explain(2, 0x41)', (pc) => pc.explain(2, 0x41), RangeError, CPU),
  // MSI data is guest data when it is a number, a host bug otherwise.
  ...NOT_NUMBERS.map(([label, a]) => c<Platform>(`sendMsi(${label}, 0x41)`, (pc) => pc.sendMsi(a as number, 0x41), TypeError, /^address must be a number/)),
  // Wiring, presets (docs/platform.md "Wiring options", docs/local-apic.md "Reset presets").
  ...[16, -1, 2.5, Number.NaN].map((irq) => c<Platform>(`setIsaIrq(${irq}, true)`, (pc) => pc.setIsaIrq(irq, true), RangeError, /^irq must be an integer in 0\.\.15/)),
  c('setIsaIrq(a string, true)', (pc) => pc.setIsaIrq('3' as unknown as number, true), TypeError, /^irq must be a number/),
  ...NOT_BOOLEANS.map(([label, l]) => c<Platform>(`setIsaIrq(4, ${label})`, (pc) => pc.setIsaIrq(4, l as boolean), TypeError, /^level must be a boolean/)),
  ...[16, -1].map((irq) => c<Platform>(`isaGsi(${irq})`, (pc) => pc.isaGsi(irq), RangeError, /^irq must be an integer in 0\.\.15/)),
  c("reset('bios')", (pc) => pc.reset('bios' as never), RangeError, /^preset must be one of power-on, seabios, kvm/),
  c('reset(1)', (pc) => pc.reset(1 as never), TypeError, /^preset must be one of/),
  ...[undefined, 42, {}].map((fn) => c<Platform>(`onCpuEvent(${String(fn)})`, (pc) => pc.onCpuEvent(fn as unknown as (e: CpuEvent) => void), TypeError, /^fn must be a function/)),
];

describe('Platform misuse', () => {
  for (const k of cases) {
    it(`${k.name} throws ${k.error.name} and changes nothing`, () => {
      const { pc, observe } = busyPlatform();
      expectRejected(observe, () => k.call(pc), k.error, k.message);
    });
  }

  it('a GSI that exists on a 48-pin I/O APIC is rejected on a 24-pin one, and accepted on the 48-pin one', () => {
    const small = busyPlatform();
    expectRejected(small.observe, () => small.pc.setIrq(47, true), RangeError, /^gsi must be an integer in 0\.\.23/);
    const big = new Platform({ cpus: 1, ioapicPins: 48 });
    expect(() => big.setIrq(47, true)).not.toThrow();
  });

  it('setIrq on a GSI >= 16 that an ISA override owns throws and changes nothing', () => {
    const pc = new Platform({ cpus: 1, isaOverrides: [{ isaIrq: 0, gsi: 2 }, { isaIrq: 11, gsi: 21 }] });
    const before = [pc.save(), pc.ioapic.pinLevel(21)];
    expect(() => pc.setIrq(21, true)).toThrow(/^gsi 21 is wired to ISA IRQ 11/);
    expect([pc.save(), pc.ioapic.pinLevel(21)]).toEqual(before);
  });

  it('an x2APIC platform of 300 CPUs checks CPU indexes against 0..299', () => {
    const pc = new Platform({ cpus: 300, x2apic: true });
    expect(() => pc.cpuAcknowledge(299)).not.toThrow();
    expect(() => pc.cpuAcknowledge(300)).toThrow(/^cpu must be an integer in 0\.\.299/);
  });
});

describe('new Platform(opts) misuse', () => {
  const ctor: Array<[string, unknown, typeof RangeError | typeof TypeError, RegExp]> = [
    ['no options', undefined, TypeError, /^opts must be an object/],
    ['cpus 0', { cpus: 0 }, RangeError, /^cpus must be an integer in 1\.\.255/],
    ['cpus 256 without x2apic', { cpus: 256 }, RangeError, /^cpus must be an integer in 1\.\.255/],
    ['cpus 4097 with x2apic', { cpus: 4097, x2apic: true }, RangeError, /^cpus must be an integer in 1\.\.4096/],
    ['cpus 1.5', { cpus: 1.5 }, RangeError, /^cpus must be an integer/],
    ["cpus '2'", { cpus: '2' }, TypeError, /^cpus must be a number/],
    ["x2apic 'yes'", { cpus: 1, x2apic: 'yes' }, TypeError, /^x2apic must be a boolean/],
    ['pciActiveLow 1', { cpus: 1, pciActiveLow: 1 }, TypeError, /^pciActiveLow must be a boolean/],
    ['timerHz 0', { cpus: 1, timerHz: 0 }, RangeError, /^timerHz must be an integer in 1\.\./],
    ['tscHz 0.5', { cpus: 1, tscHz: 0.5 }, RangeError, /^tscHz must be an integer/],
    ['autoInitSipi 1', { cpus: 1, autoInitSipi: 1 }, TypeError, /^autoInitSipi must be a boolean/],
    ['a clock without cancel', { cpus: 1, clock: { now: () => 0, schedule: () => 1 } }, TypeError, /^clock must implement Clock/],
    ["bus.lowestPriority 'random'", { cpus: 1, bus: { lowestPriority: 'random' } }, RangeError, /^lowestPriority must be one of/],
    // The Platform's own option names, not the I/O APIC's (pins, version): formerly KNOWN_BUGS 7.
    ['ioapicPins 121', { cpus: 1, ioapicPins: 121 }, RangeError, /^ioapicPins must be an integer in 1\.\.120/],
    ['ioapicPins 0', { cpus: 1, ioapicPins: 0 }, RangeError, /^ioapicPins must be an integer in 1\.\.120/],
    ["ioapicPins '24'", { cpus: 1, ioapicPins: '24' }, TypeError, /^ioapicPins must be a number/],
    ['ioapicVersion 0x12', { cpus: 1, ioapicVersion: 0x12 }, RangeError, /^ioapicVersion must be 0x11 or 0x20/],
    ["ioapicVersion '0x20'", { cpus: 1, ioapicVersion: '0x20' }, TypeError, /^ioapicVersion must be a number/],
    ["bus.extendedDestId 'yes'", { cpus: 1, bus: { extendedDestId: 'yes' } }, TypeError, /^extendedDestId must be a boolean/],
  ];
  for (const [label, opts, error, message] of ctor) {
    it(`${label}: throws ${error.name}, and schedules nothing on the host's clock`, () => {
      const clock = new Scheduler();
      clock.schedule(10, () => {});
      const withClock = opts !== null && typeof opts === 'object' && !('clock' in opts) ? { ...opts, clock } : opts;
      expectRejected(() => observeScheduler(clock), () => new Platform(withClock as PlatformOptions), error, message);
    });
  }
});
