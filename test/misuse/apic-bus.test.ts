/**
 * Host misuse of ApicBus: options, attaching, EOI listeners, the per-CPU statistics. MSI writes
 * are guest data (any number; an address outside 0xFEExxxxx is dropped and counted).
 * Gaps that do not throw yet are listed in test/fuzz/KNOWN_BUGS.md.
 */
import { describe, expect, it } from 'vitest';
import { LocalApic } from '../../src/apic/local-apic.js';
import { ApicBus, type ApicBusOptions, type EoiListener } from '../../src/bus/apic-bus.js';
import { Scheduler } from '../../src/time/scheduler.js';
import { observeBus, observeLapic } from '../fuzz/observe.js';
import { BAD_INTEGERS, NOT_NUMBERS, expectRejected } from './helpers.js';

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
