/**
 * Surface: MSI address/data pairs (bus.sendMsi and Platform.sendMsi) with any 32-bit address and
 * data, to local APICs in mixed modes (xAPIC, x2APIC, globally and software-disabled), with and
 * without extended destination IDs, and decodeMsi on the same inputs.
 *
 * Oracle: decodeMsi's fields are exactly the bit fields of the SDM figures (written out here);
 * a write outside 0xFEExxxxx is dropped and counted; a level de-assert does nothing; a fixed,
 * physical, non-broadcast message lands at the one enabled APIC with that ID, or nowhere.
 */
import fc from 'fast-check';
import { describe, expect } from 'vitest';
import { LocalApic } from '../../src/apic/local-apic.js';
import { ApicBus } from '../../src/bus/apic-bus.js';
import { decodeMsi } from '../../src/bus/msi.js';
import { Scheduler } from '../../src/time/scheduler.js';
import { guestNumber, sequence, u32, type ValueOf } from './arbitraries.js';
import { fuzz } from './config.js';
import { bitIn, checkLapic } from './invariants.js';

const N = 4;

const address = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.integer({ min: 0, max: 0xff }), fc.integer({ min: 0, max: 0xfff })).map(([dest, low]) => (0xfee0_0000 | (dest << 12) | low) >>> 0) },
  { weight: 3, arbitrary: fc.tuple(fc.integer({ min: 0, max: N }), fc.boolean(), fc.boolean()).map(([dest, rh, dm]) => (0xfee0_0000 | (dest << 12) | (rh ? 8 : 0) | (dm ? 4 : 0)) >>> 0) },
  { weight: 1, arbitrary: u32 },
);
const data = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 7 }), fc.boolean(), fc.boolean()).map(([v, mode, assert, level]) => (v | (mode << 8) | (assert ? 1 << 14 : 0) | (level ? 1 << 15 : 0)) >>> 0) },
  { weight: 1, arbitrary: u32 },
);

type Op =
  | { k: 'msi'; address: number; data: number }
  | { k: 'junk'; address: number; data: number }
  | { k: 'ack'; cpu: number }
  | { k: 'eoi'; cpu: number }
  | { k: 'svr'; cpu: number; on: boolean };

const cpu = fc.integer({ min: 0, max: N - 1 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ k: fc.constant('msi' as const), address, data }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('junk' as const), address: guestNumber, data: guestNumber }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('ack' as const), cpu }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('eoi' as const), cpu }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('svr' as const), cpu, on: fc.boolean() }) },
);

/** CPU i: x2APIC or xAPIC; the last one may start globally disabled. */
const setupArb = fc.record({
  x2: fc.array(fc.boolean(), { minLength: N, maxLength: N }),
  disableLast: fc.boolean(),
  extendedDestId: fc.boolean(),
  x2ids: fc.boolean(), // give x2APIC CPUs IDs above 255 (reachable only with extended IDs)
});

function checkDecode(a: number, d: number, ext: boolean): void {
  const m = decodeMsi(a, d, ext);
  const A = a >>> 0;
  const D = d >>> 0;
  expect(m.destination).toBe(((A >>> 12) & 0xff) | (ext ? ((A >>> 5) & 0x7f) << 8 : 0));
  expect(m.logical).toBe((A & 4) !== 0);
  expect(m.redirectionHint).toBe((A & 8) !== 0);
  expect(m.vector).toBe(D & 0xff);
  expect(m.deliveryMode).toBe((D >>> 8) & 7);
  expect(m.assert).toBe((D & 0x4000) !== 0);
  expect(m.levelTriggered).toBe((D & 0x8000) !== 0);
}

function run(setup: ValueOf<typeof setupArb>, ops: readonly Op[]): void {
  const clock = new Scheduler();
  const bus = new ApicBus({ extendedDestId: setup.extendedDestId });
  const apics = setup.x2.map((x2, i) => {
    const id = x2 && setup.x2ids ? 0x100 + i : i;
    const a = new LocalApic({ id, clock, bus, bsp: i === 0, x2apic: x2 });
    if (x2) a.writeMsr(0x80f, 0x1ffn);
    else a.writeRegister(0xf0, 0x1ff);
    return a;
  });
  if (setup.disableLast) apics[N - 1]!.writeMsr(0x1b, 0xfee0_0000n);

  for (const op of ops) {
    const a = op.k === 'msi' || op.k === 'junk' ? undefined : apics[op.cpu]!;
    switch (op.k) {
      case 'msi':
      case 'junk': {
        const A = op.address >>> 0;
        const D = op.data >>> 0;
        checkDecode(op.address, op.data, setup.extendedDestId);
        const invalid = bus.stats.invalidMsis;
        const msis = bus.stats.msis;
        const n = bus.sendMsi(op.address, op.data);
        expect(Number.isInteger(n) && n >= 0 && n <= N).toBe(true);
        const inWindow = (A & 0xfff0_0000) >>> 0 === 0xfee0_0000;
        expect(bus.stats.invalidMsis - invalid).toBe(inWindow ? 0 : 1);
        expect(bus.stats.msis - msis).toBe(inWindow ? 1 : 0);
        if (!inWindow) expect(n).toBe(0);
        // A level-triggered de-assert message does nothing.
        if ((D & 0x8000) !== 0 && (D & 0x4000) === 0) expect(n).toBe(0);
        // Fixed, physical, not broadcast: exactly the enabled APIC with that ID, or nobody.
        const m = decodeMsi(A, D, setup.extendedDestId);
        const deassert = m.levelTriggered && !m.assert;
        if (inWindow && !deassert && m.deliveryMode === 0 && !m.logical && m.destination !== 0xff) {
          const target = apics.find((x) => x.mode !== 'disabled' && (x.mode === 'x2apic' ? x.id : x.page[0x20 >> 2]! >>> 24) === m.destination);
          const accepts = target !== undefined && target.softwareEnabled && m.vector >= 16;
          expect(n).toBe(accepts ? 1 : 0);
          if (accepts) expect(bitIn(target!.page, 0x200, m.vector)).toBe(true);
        }
        break;
      }
      case 'ack':
        a!.acknowledge();
        break;
      case 'eoi':
        a!.eoi();
        break;
      case 'svr':
        if (a!.mode === 'x2apic') a!.writeMsr(0x80f, op.on ? 0x1ffn : 0xffn);
        else a!.writeRegister(0xf0, op.on ? 0x1ff : 0xff);
        break;
    }
    for (const x of apics) checkLapic(x);
  }
}

describe('fuzz: MSI address/data', () => {
  fuzz('msi random address data pairs never throw, decode exactly and land where addressed', () =>
    fc.property(setupArb, sequence(opArb, 60), (setup, ops) => {
      run(setup, ops);
    }),
  );

  fuzz('msi decodeMsi never throws for any number and matches the u32 bit fields', () =>
    fc.property(fc.oneof(u32, guestNumber), fc.oneof(u32, guestNumber), fc.boolean(), (a, d, ext) => {
      checkDecode(a, d, ext);
    }),
    { scale: 5 },
  );
});
