/**
 * Surface: LAPIC timer programming — LVT timer mode/mask/vector, initial count, divide
 * configuration, IA32_TSC_DEADLINE — at several timer and TSC frequencies and minimum periods,
 * while virtual time runs, the CPU acknowledges and EOIs, and INIT or a mode switch intervenes.
 *
 * Oracle: an independent model of the SDM timer written with BigInt arithmetic (not the
 * library's ratio code). While a timer stays as the guest last armed it, the model predicts the
 * exact number of expiries (one-shot: 1 at ceil(N * div * 1e9 / timerHz) ns; periodic: floor of
 * elapsed / period, with the period raised to the minimum; TSC-deadline: 1 when the TSC reaches
 * the deadline, then the MSR reads 0) and the exact current count of a one-shot. Every
 * programming step the model does not follow resets it to "unknown", where only the bounds hold:
 * current count <= initial count, at most one clock event per timer.
 */
import fc from 'fast-check';
import { describe, expect } from 'vitest';
import { LocalApic } from '../../src/apic/local-apic.js';
import { MAX_TIME_NS, Scheduler } from '../../src/time/scheduler.js';
import { sequence, u32, type ValueOf } from './arbitraries.js';
import { fuzz } from './config.js';
import { checkLapic } from './invariants.js';

const NS = 1_000_000_000n;

type Op =
  | { k: 'lvt'; cpu: number; mode: number; masked: boolean; v: number }
  | { k: 'count'; cpu: number; n: number }
  | { k: 'arm'; cpu: number; mode: number; n: number }
  | { k: 'divide'; cpu: number; dcr: number }
  | { k: 'deadline'; cpu: number; rel: bigint | 'zero' | 'max' }
  | { k: 'run'; periods: number; extra: number }
  | { k: 'step' }
  | { k: 'ack'; cpu: number }
  | { k: 'eoi'; cpu: number }
  | { k: 'init'; cpu: number }
  | { k: 'x2'; cpu: number };

const cpu = fc.integer({ min: 0, max: 1 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ k: fc.constant('lvt' as const), cpu, mode: fc.integer({ min: 0, max: 3 }), masked: fc.boolean(), v: fc.constantFrom(0x30, 0xef, 0x05) }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('count' as const), cpu, n: fc.oneof(fc.constantFrom(0, 1, 2, 3, 7, 1000, 100_000, 0xffff_ffff), fc.integer({ min: 0, max: 5_000_000 }), u32) }) },
  // LVT and count together, biased to short periods, so periodic expiries happen often.
  { weight: 3, arbitrary: fc.record({ k: fc.constant('arm' as const), cpu, mode: fc.constantFrom(0, 1, 1), n: fc.integer({ min: 1, max: 400_000 }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('divide' as const), cpu, dcr: fc.oneof(fc.integer({ min: 0, max: 15 }), u32) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant('deadline' as const),
      cpu,
      rel: fc.oneof(fc.bigInt({ min: -5n, max: 5n }), fc.bigInt({ min: 0n, max: 10_000_000n }), fc.constantFrom('zero' as const, 'max' as const)),
    }),
  },
  // Time advances in multiples of the minimum period (so a 1 ns floor cannot make a run huge).
  { weight: 6, arbitrary: fc.record({ k: fc.constant('run' as const), periods: fc.integer({ min: 0, max: 40 }), extra: fc.integer({ min: 0, max: 3 }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('step' as const) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('ack' as const), cpu }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('eoi' as const), cpu }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('init' as const), cpu }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('x2' as const), cpu }) },
);

const setupArb = fc.record({
  timerHz: fc.constantFrom(1_000_000_000, 24_000_000, 100_000_000, 3_000_000_000, 7),
  tscHz: fc.constantFrom(1_000_000_000, 2_400_000_000, 3, 1_000_000),
  minPeriod: fc.constantFrom(1, 1000, 200_000),
  // Sometimes start just before the end of virtual time: expiries past it must never throw.
  startNs: fc.constantFrom(0, 0, 0, MAX_TIME_NS - 3_000_000),
});

/** What the model knows about one timer since the guest last armed it. */
type Model =
  | { kind: 'unknown' }
  | { kind: 'idle' }
  | { kind: 'oneshot'; t0: number; n: bigint; div: bigint; fires0: number }
  | { kind: 'periodic'; t0: number; n: bigint; div: bigint; fires0: number }
  | { kind: 'deadline'; d: bigint; atNs: bigint; fires0: number };

function divisor(dcr: number): bigint {
  const code = ((dcr & 8) >> 1) | (dcr & 3);
  return code === 7 ? 1n : 2n << BigInt(code);
}

function ceilDiv(a: bigint, b: bigint): bigint {
  return (a + b - 1n) / b;
}

function readReg(a: LocalApic, off: number): number {
  return a.mode === 'x2apic' ? Number(a.readMsr(0x800 + (off >> 4))) : a.readRegister(off);
}

function writeReg(a: LocalApic, off: number, v: number): void {
  if (a.mode === 'x2apic') a.writeMsr(0x800 + (off >> 4), BigInt(v >>> 0));
  else a.writeRegister(off, v);
}

function run(setup: ValueOf<typeof setupArb>, ops: readonly Op[]): void {
  const clock = new Scheduler();
  clock.runUntil(setup.startNs);
  const apics = [0, 1].map(
    (id) => new LocalApic({ id, clock, bsp: id === 0, timerHz: setup.timerHz, tscHz: setup.tscHz, minTimerPeriodNs: setup.minPeriod }),
  );
  for (const a of apics) a.writeRegister(0xf0, 0x1ff);
  const models: Model[] = [{ kind: 'idle' }, { kind: 'idle' }];
  const hz = BigInt(setup.timerHz);
  const tscHz = BigInt(setup.tscHz);
  const minPeriod = BigInt(setup.minPeriod);

  /** Expected total expiries at time `now` for a model, or undefined when the model cannot tell. */
  const expectedFires = (m: Model, now: number): number | undefined => {
    switch (m.kind) {
      case 'oneshot': {
        const at = BigInt(m.t0) + ceilDiv(m.n * m.div * NS, hz);
        return m.fires0 + (BigInt(now) >= at ? 1 : 0);
      }
      case 'periodic': {
        const elapsed = BigInt(now - m.t0);
        // Period as the fraction n * div * 1e9 / hz ns; below the floor, exactly the floor.
        const num = m.n * m.div * NS;
        if (num < minPeriod * hz) return m.fires0 + Number(elapsed / minPeriod);
        return m.fires0 + Number((elapsed * hz) / num);
      }
      case 'deadline':
        return m.fires0 + (BigInt(now) >= m.atNs ? 1 : 0);
      default:
        return undefined;
    }
  };

  const verify = (): void => {
    for (let i = 0; i < 2; i++) {
      const a = apics[i]!;
      const m = models[i]!;
      checkLapic(a);
      const fires = expectedFires(m, clock.now());
      if (fires !== undefined) expect(a.stats.timerFires, `cpu ${i} ${m.kind}`).toBe(fires);
      if (m.kind === 'oneshot' && a.mode !== 'disabled') {
        const ticks = (BigInt(clock.now() - m.t0) * hz) / (NS * m.div);
        const cc = m.n > ticks ? m.n - ticks : 0n;
        expect(readReg(a, 0x390)).toBe(Number(cc));
      }
      if (m.kind === 'deadline') {
        const fired = BigInt(clock.now()) >= m.atNs;
        expect(a.readMsr(0x6e0)).toBe(fired ? 0n : m.d);
      }
      if (m.kind === 'idle') expect(a.stats.timerFires).toBe(a.stats.timerFires); // nothing to predict
    }
    // One clock event per timer at most: the queue cannot grow with guest activity.
    expect(clock.pending()).toBeLessThanOrEqual(2);
  };

  for (const op of ops) {
    switch (op.k) {
      case 'lvt': {
        const a = apics[op.cpu]!;
        if (a.mode === 'disabled') break;
        const oldMode = (a.page[0x320 >> 2]! >>> 17) & 3;
        writeReg(a, 0x320, (op.mode << 17) | (op.masked ? 0x10000 : 0) | op.v);
        const newMode = (a.page[0x320 >> 2]! >>> 17) & 3;
        // Same mode: the count runs on unchanged. Any mode change: the model stops following.
        if (newMode !== oldMode) models[op.cpu] = { kind: 'unknown' };
        break;
      }
      case 'arm':
      case 'count': {
        const a = apics[op.cpu]!;
        if (a.mode === 'disabled') break;
        if (op.k === 'arm') writeReg(a, 0x320, (op.mode << 17) | 0x30); // the count write re-arms
        writeReg(a, 0x380, op.n);
        const mode = (a.page[0x320 >> 2]! >>> 17) & 3;
        const div = divisor(a.page[0x3e0 >> 2]!);
        if (mode === 2) {
          expect(readReg(a, 0x380)).toBe(0); // ignored in TSC-deadline mode
        } else if (op.n === 0) {
          models[op.cpu] = { kind: 'idle' };
          expect(readReg(a, 0x390)).toBe(0);
        } else {
          const kind = mode === 1 ? 'periodic' : 'oneshot'; // 11b (reserved) counts as one-shot
          models[op.cpu] = { kind, t0: clock.now(), n: BigInt(op.n), div, fires0: a.stats.timerFires };
        }
        break;
      }
      case 'divide': {
        const a = apics[op.cpu]!;
        if (a.mode === 'disabled') break;
        const before = a.page[0x3e0 >> 2]!;
        writeReg(a, 0x3e0, op.dcr & 0xb);
        if (a.page[0x3e0 >> 2]! !== before) models[op.cpu] = { kind: 'unknown' };
        break;
      }
      case 'deadline': {
        const a = apics[op.cpu]!;
        const tsc = (BigInt(clock.now()) * tscHz) / NS;
        const d = op.rel === 'zero' ? 0n : op.rel === 'max' ? (1n << 64n) - 1n : tsc + op.rel < 0n ? 0n : tsc + op.rel;
        const fires = a.stats.timerFires;
        const mode = (a.page[0x320 >> 2]! >>> 17) & 3;
        expect(a.writeMsr(0x6e0, d)).toBe(true);
        if (a.mode === 'disabled') break;
        if (mode !== 2) {
          // Outside TSC-deadline mode the write is ignored and the MSR reads 0.
          expect(a.readMsr(0x6e0)).toBe(0n);
          expect(a.stats.timerFires).toBe(fires);
          break;
        }
        if (d === 0n) {
          models[op.cpu] = { kind: 'idle' };
          expect(a.stats.timerFires).toBe(fires);
          break;
        }
        // The first ns at which floor(ns * tscHz / 1e9) >= d.
        const atNs = ceilDiv(d * NS, tscHz);
        models[op.cpu] = { kind: 'deadline', d, atNs, fires0: fires };
        break;
      }
      case 'run':
        clock.runUntil(Math.min(clock.now() + op.periods * setup.minPeriod + op.extra, MAX_TIME_NS));
        break;
      case 'step':
        // One event, then whatever else is due at that same nanosecond.
        clock.step();
        clock.runUntil(clock.now());
        break;
      case 'ack':
        apics[op.cpu]!.acknowledge();
        break;
      case 'eoi':
        apics[op.cpu]!.eoi();
        break;
      case 'init':
        apics[op.cpu]!.init();
        models[op.cpu] = { kind: 'idle' };
        break;
      case 'x2': {
        // xAPIC -> x2APIC keeps the timer running; x2APIC -> disabled resets it.
        const a = apics[op.cpu]!;
        const bsp = a.isBsp ? 0x100n : 0n;
        if (a.mode === 'xapic') a.writeMsr(0x1b, 0xfee0_0c00n | bsp);
        else if (a.mode === 'x2apic') {
          a.writeMsr(0x1b, 0xfee0_0000n | bsp);
          models[op.cpu] = { kind: 'idle' };
        } else {
          a.writeMsr(0x1b, 0xfee0_0800n | bsp);
          a.writeRegister(0xf0, 0x1ff);
        }
        break;
      }
    }
    verify();
  }
}

describe('fuzz: LAPIC timer programming', () => {
  fuzz('timer random programming matches the SDM timer model and keeps the queue bounded', () =>
    fc.property(setupArb, sequence(opArb, 60), (setup, ops) => {
      run(setup, ops);
    }),
  );
});
