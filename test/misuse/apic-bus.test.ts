/**
 * Host misuse of ApicBus: options, attaching, EOI listeners, the per-CPU statistics. MSI writes
 * are guest data (any number; an address outside 0xFEExxxxx is dropped and counted); a value that
 * is not a number at all is a host bug. routeMessage and broadcastEoi are fabric entry points a
 * host's own device model may call: their fields are checked before anything is counted.
 */
import { describe, expect, it } from 'vitest';
import { LocalApic } from '../../src/apic/local-apic.js';
import { ApicBus, type ApicBusOptions, type EoiListener } from '../../src/bus/apic-bus.js';
import { IoApic } from '../../src/ioapic/ioapic.js';
import { Scheduler } from '../../src/time/scheduler.js';
import { observeBus, observeLapic } from '../fuzz/observe.js';
import { BAD_INTEGERS, NOT_BOOLEANS, NOT_NUMBERS, c, expectRejected, type Case } from './helpers.js';

function busy(): { bus: ApicBus; apics: LocalApic[]; observe: () => unknown } {
  const clock = new Scheduler();
  const bus = new ApicBus();
  const apics = [0, 1, 2].map((id) => new LocalApic({ id, clock, bus, bsp: id === 0 }));
  for (const a of apics) a.writeRegister(0xf0, 0x1ff);
  apics[0]!.writeRegister(0x310, 1 << 24);
  apics[0]!.writeRegister(0x300, 0x41); // an IPI 0 -> 1
  bus.sendMsi(0xfee0_2000, 0x42); // an MSI to 2
  return { bus, apics, observe: () => ({ bus: observeBus(bus), apics: apics.map(observeLapic) }) };
}

const VECTOR = /^vector must be an integer in 0\.\.255/;
const DEST = /^destination must be an integer in 0\.\.4294967295/;

const cases: Array<Case<ApicBus>> = [
  // attach: only a LocalApic (a bogus entry would make later guest broadcasts throw).
  ...[undefined, null, 42, {}, { acceptMessage() {} }].map((apic) =>
    c<ApicBus>(`attach(${JSON.stringify(apic) ?? 'undefined'})`, (bus) => bus.attach(apic as unknown as LocalApic), TypeError, /^apic must be a LocalApic/),
  ),
  // broadcastEoi(source, vector): the vector is checked before the broadcast is counted.
  ...[300, 256, -1, 0.5, ...BAD_INTEGERS.map(([, v]) => v)].map((v) =>
    c<ApicBus>(`broadcastEoi(apic, ${v})`, (bus) => bus.broadcastEoi(bus.apics[0]!, v), RangeError, VECTOR),
  ),
  ...NOT_NUMBERS.map(([label, v]) => c<ApicBus>(`broadcastEoi(apic, ${label})`, (bus) => bus.broadcastEoi(bus.apics[0]!, v as number), TypeError, /^vector must be a number/)),
  // routeMessage(destination, logical, deliveryMode, vector, level).
  ...[-1, 2 ** 32, 1.5, ...BAD_INTEGERS.map(([, v]) => v)].map((d) =>
    c<ApicBus>(`routeMessage(${d}, false, 0, 0x50, false)`, (bus) => bus.routeMessage(d, false, 0, 0x50, false), RangeError, DEST),
  ),
  ...NOT_NUMBERS.map(([label, d]) => c<ApicBus>(`routeMessage(${label}, ...)`, (bus) => bus.routeMessage(d as number, false, 0, 0x50, false), TypeError, /^destination must be a number/)),
  ...NOT_BOOLEANS.map(([label, l]) => c<ApicBus>(`routeMessage(1, ${label}, ...)`, (bus) => bus.routeMessage(1, l as boolean, 0, 0x50, false), TypeError, /^logical must be a boolean/)),
  ...[8, -1, 2.5].map((m) => c<ApicBus>(`routeMessage(1, false, ${m}, ...)`, (bus) => bus.routeMessage(1, false, m, 0x50, false), RangeError, /^deliveryMode must be an integer in 0\.\.7/)),
  c('routeMessage(1, false, a bigint, ...)', (bus) => bus.routeMessage(1, false, 0n as never, 0x50, false), TypeError, /^deliveryMode must be a number/),
  ...[0x130, -1, 80.5].map((v) => c<ApicBus>(`routeMessage(1, false, 0, ${v}, false)`, (bus) => bus.routeMessage(1, false, 0, v, false), RangeError, VECTOR)),
  c('routeMessage(1, false, 0, a bigint, false)', (bus) => bus.routeMessage(1, false, 0, 0x50n as never, false), TypeError, /^vector must be a number/),
  ...NOT_BOOLEANS.map(([label, l]) => c<ApicBus>(`routeMessage(1, false, 0, 0x50, ${label})`, (bus) => bus.routeMessage(1, false, 0, 0x50, l as boolean), TypeError, /^level must be a boolean/)),
  // sendMsi: any number is guest data; anything else is a host bug.
  ...NOT_NUMBERS.map(([label, a]) => c<ApicBus>(`sendMsi(${label}, 0x30)`, (bus) => bus.sendMsi(a as number, 0x30), TypeError, /^address must be a number/)),
  ...NOT_NUMBERS.map(([label, d]) => c<ApicBus>(`sendMsi(0xfee00000, ${label})`, (bus) => bus.sendMsi(0xfee0_0000, d as number), TypeError, /^data must be a number/)),
];

describe('ApicBus misuse: fabric entry points', () => {
  for (const k of cases) {
    it(`${k.name} throws ${k.error.name} and changes nothing`, () => {
      const { bus, observe } = busy();
      expectRejected(observe, () => k.call(bus), k.error, k.message);
    });
  }

  it('attach rejects what is not a LocalApic, so later guest broadcasts never throw (formerly KNOWN_BUGS 1)', () => {
    const bus = new ApicBus();
    const apic = new LocalApic({ id: 0, clock: new Scheduler(), bus });
    apic.writeRegister(0xf0, 0x1ff);
    expect(() => bus.attach({} as LocalApic)).toThrow(TypeError);
    expect(() => bus.attach(null as unknown as LocalApic)).toThrow(/^apic/);
    expect(bus.apics).toHaveLength(1);
    expect(() => bus.sendMsi(0xfeef_f000, 0x30)).not.toThrow(); // MSI broadcast
    expect(() => apic.writeRegister(0x300, (3 << 18) | 0x31)).not.toThrow(); // IPI all-but-self
  });

  it('broadcastEoi counts nothing when an I/O APIC listens and the vector is bad (formerly KNOWN_BUGS 2)', () => {
    const bus = new ApicBus();
    const apic = new LocalApic({ id: 0, clock: new Scheduler(), bus });
    const io = new IoApic({ bus });
    bus.addEoiListener(io);
    expect(() => bus.broadcastEoi(apic, -1)).toThrow(VECTOR);
    expect(bus.stats.eoiBroadcasts).toBe(0);
    expect(io.stats.eois).toBe(0);
  });

  it('routeMessage does not wrap: no delivery of 0x130 as 0x30 or of NaN as APIC 0 (formerly KNOWN_BUGS 5)', () => {
    const bus = new ApicBus();
    const apic = new LocalApic({ id: 0, clock: new Scheduler(), bus });
    apic.writeRegister(0xf0, 0x1ff);
    const before = Array.from(apic.page);
    expect(() => bus.routeMessage(0, false, 0, 0x130, false)).toThrow(/^vector/);
    expect(() => bus.routeMessage(Number.NaN, false, 0, 0x50, false)).toThrow(/^destination/);
    expect(Array.from(apic.page)).toEqual(before);
    expect(bus.stats.messages).toBe(0);
    // A 32-bit x2APIC ID is a valid destination.
    expect(bus.routeMessage(0xffff_ffff, false, 0, 0x50, false)).toBe(0);
  });
});

describe('ApicBus misuse', () => {
  for (const method of ['ipisSent', 'ipisReceived'] as const) {
    for (const cpu of [3, -1, 0.5, ...BAD_INTEGERS.map(([, v]) => v)]) {
      it(`${method}(${cpu}) throws a RangeError naming cpu and 0..2`, () => {
        const { bus, observe } = busy();
        expectRejected(observe, () => bus[method](cpu), RangeError, /^cpu must be an integer in 0\.\.2/);
      });
    }
    for (const [label, cpu] of NOT_NUMBERS) {
      it(`${method}(${label}) throws a TypeError naming cpu`, () => {
        const { bus, observe } = busy();
        expectRejected(observe, () => bus[method](cpu as number), TypeError, /^cpu must be a number/);
      });
    }
  }

  it('attaching the same APIC twice throws a RangeError and keeps one attachment', () => {
    const { bus, apics, observe } = busy();
    expectRejected(observe, () => bus.attach(apics[1]!), RangeError, /^apic is already attached/);
    expect(bus.apics).toHaveLength(3);
  });

  for (const listener of [undefined, null, {}, { eoi: 42 }]) {
    it(`addEoiListener(${JSON.stringify(listener)}) throws a TypeError naming listener`, () => {
      const { bus, observe } = busy();
      expectRejected(observe, () => bus.addEoiListener(listener as unknown as EoiListener), TypeError, /^listener must have an eoi\(vector\) method/);
    });
  }

  it('new ApicBus(null) throws a TypeError naming opts', () => {
    expect(() => new ApicBus(null as unknown as ApicBusOptions)).toThrow(TypeError);
    expect(() => new ApicBus(null as unknown as ApicBusOptions)).toThrow(/^opts must be an object/);
  });

  for (const ext of ['yes', 1, 'true']) {
    it(`new ApicBus({ extendedDestId: ${JSON.stringify(ext)} }) throws a TypeError naming extendedDestId`, () => {
      const make = (): ApicBus => new ApicBus({ extendedDestId: ext } as unknown as ApicBusOptions);
      expect(make).toThrow(TypeError);
      expect(make).toThrow(/^extendedDestId must be a boolean/);
    });
  }

  for (const policy of ['random', '', 0]) {
    it(`new ApicBus({ lowestPriority: ${JSON.stringify(policy)} }) throws a RangeError listing the policies`, () => {
      const make = (): ApicBus => new ApicBus({ lowestPriority: policy as 'first' });
      expect(make).toThrow(RangeError);
      expect(make).toThrow(/^lowestPriority must be one of arbitration, lowest-ppr, vector-hash, first/);
    });
  }

  it('MSI writes are guest data: any number is coerced to u32, junk addresses are dropped and counted', () => {
    const { bus, observe } = busy();
    const before = observe() as { bus: { stats: { invalidMsis: number } } };
    for (const [a, d] of [[Number.NaN, 0x41], [-1, 0x41], [1.5, 0x41], [Number.POSITIVE_INFINITY, 0]] as const) {
      expect(bus.sendMsi(a, d)).toBe(0);
    }
    const after = observe() as typeof before;
    expect(after.bus.stats.invalidMsis).toBe(before.bus.stats.invalidMsis + 4);
    after.bus.stats.invalidMsis = before.bus.stats.invalidMsis;
    expect(after).toEqual(before);
  });
});
