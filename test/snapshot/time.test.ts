/**
 * Snapshots record their virtual time; restore rebases every armed timer onto the target clock
 * (default) or, with `time: 'strict'`, refuses a clock at another time (docs/snapshots.md,
 * "Time"). Fixtures made by the code of f9f75c5 (before snapshots had a time) still restore.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LocalApic } from '../../src/apic/local-apic.js';
import { encodeSnapshot, inspectSnapshot, snapshotTime } from '../../src/codec/container.js';
import { SnapshotError } from '../../src/errors.js';
import { IoApic } from '../../src/ioapic/ioapic.js';
import { Machine } from '../../src/machine/machine.js';
import { PicPair } from '../../src/pic/pic-pair.js';
import { Platform } from '../../src/platform/platform.js';
import { Scheduler } from '../../src/time/scheduler.js';
import fixture from './fixtures/f9f75c5.json' with { type: 'json' };

const CCR = 0x390;
const fromHex = (hex: string): Uint8Array => Uint8Array.from(hex.match(/../g)!.map((b) => parseInt(b, 16)));

/** The brief's example: a one-shot timer of 1,000,000 ticks at divide 1 (1 GHz), saved at 400 us. */
function oneShotAt400us(): { clock: Scheduler; apic: LocalApic } {
  const clock = new Scheduler();
  const apic = new LocalApic({ id: 1, clock });
  apic.writeRegister(0xf0, 0x1ff);
  apic.writeRegister(0x3e0, 0xb); // divide by 1
  apic.writeRegister(0x320, 0x30);
  apic.writeRegister(0x380, 1_000_000);
  clock.runUntil(400_000);
  return { clock, apic };
}

describe('snapshot time', () => {
  it('a device snapshot records its virtual time, readable without restoring', () => {
    const { apic } = oneShotAt400us();
    const bytes = apic.save();
    expect(snapshotTime(bytes)).toBe(400_000);
    const info = inspectSnapshot(bytes);
    expect(info.kind).toBe('local-apic');
    expect(info.timeNs).toBe(400_000);
    expect(info.formatMinor).toBe(1);
    expect(info.sections.map((s) => s.name)).toEqual(['time', 'local-apic']);
  });

  it('restore onto a clock at 0 keeps the current count and the remaining time (rebase)', () => {
    const { apic } = oneShotAt400us();
    expect(apic.readRegister(CCR)).toBe(600_000);
    const clock = new Scheduler();
    const b = new LocalApic({ id: 1, clock });
    b.restore(apic.save());
    expect(b.readRegister(CCR)).toBe(600_000);
    clock.runUntil(599_999);
    expect(b.stats.timerFires).toBe(0);
    expect(b.readRegister(CCR)).toBe(1);
    clock.runUntil(600_000);
    expect(b.stats.timerFires).toBe(1);
    expect(b.pendingVector()).toBe(0x30);
  });

  it('restore onto a clock ahead of the snapshot keeps the remaining time too', () => {
    const { apic } = oneShotAt400us();
    const clock = new Scheduler();
    clock.runUntil(7_000_000);
    const b = new LocalApic({ id: 1, clock });
    b.restore(apic.save(), { time: 'rebase' });
    expect(b.readRegister(CCR)).toBe(600_000);
    clock.runUntil(7_599_999);
    expect(b.stats.timerFires).toBe(0);
    clock.runUntil(7_600_000);
    expect(b.stats.timerFires).toBe(1);
  });

  it("a rebased timer's TSC continues from the snapshot's (a TSC-deadline keeps its remaining time)", () => {
    const clock = new Scheduler();
    const a = new LocalApic({ id: 0, clock, tscHz: 1_000_000_000 });
    a.writeRegister(0xf0, 0x1ff);
    a.writeRegister(0x320, 0x40000 | 0x31); // TSC-deadline
    clock.runUntil(1_000);
    a.writeMsr(0x6e0, 5_000n);
    const target = new Scheduler();
    const b = new LocalApic({ id: 0, clock: target, tscHz: 1_000_000_000 });
    b.restore(a.save());
    expect(b.readMsr(0x6e0)).toBe(5_000n);
    target.runUntil(3_999);
    expect(b.stats.timerFires).toBe(0);
    target.runUntil(4_000);
    expect(b.stats.timerFires).toBe(1);
    expect(b.readMsr(0x6e0)).toBe(0n);
  });

  it("strict restore onto a clock at another time throws SnapshotError naming both times and changes nothing", () => {
    const { apic } = oneShotAt400us();
    const b = new LocalApic({ id: 1, clock: new Scheduler() });
    const before = Array.from(b.page);
    expect(() => b.restore(apic.save(), { time: 'strict' })).toThrow(SnapshotError);
    expect(() => b.restore(apic.save(), { time: 'strict' })).toThrow(/400000 ns.*0 ns/);
    expect(Array.from(b.page)).toEqual(before);
    const same = new Scheduler();
    same.runUntil(400_000);
    const c = new LocalApic({ id: 1, clock: same });
    c.restore(apic.save(), { time: 'strict' });
    expect(c.readRegister(CCR)).toBe(600_000);
  });

  it('malformed restore options are host misuse: TypeError / RangeError, nothing changes', () => {
    const { apic } = oneShotAt400us();
    const b = new LocalApic({ id: 1, clock: new Scheduler() });
    expect(() => b.restore(apic.save(), { time: 'later' as never })).toThrow(RangeError);
    expect(() => b.restore(apic.save(), 5 as never)).toThrow(TypeError);
    expect(() => new PicPair().restore(new PicPair().save(), { time: 'x' as never })).toThrow(RangeError);
    expect(b.readRegister(0x380)).toBe(0);
  });

  it('I/O APIC: a deferred storm re-delivery keeps its remaining time after a rebase', () => {
    const sent: number[] = [];
    let src: Scheduler = new Scheduler();
    const bus = { routeMessage: (_d: number, _l: boolean, _m: number, v: number) => (sent.push(src.now()), 1) };
    const a = new IoApic({ bus, clock: src, stormThreshold: 1, stormDelayNs: 50_000 });
    a.writeRegister(0, 0x10 + 2 * 3);
    a.writeRegister(0x10, 0x8000 | 0x33);
    src.runUntil(1_000);
    a.setPin(3, true); // delivered
    a.eoi(0x33); // re-delivered at once (streak 1)
    a.eoi(0x33); // deferred until 51,000
    expect(sent).toEqual([1_000, 1_000]);
    const bytes = a.save();
    expect(snapshotTime(bytes)).toBe(1_000);
    src = new Scheduler();
    src.runUntil(100);
    const b = new IoApic({ bus, clock: src, stormThreshold: 1, stormDelayNs: 50_000 });
    b.restore(bytes);
    src.runUntil(50_099);
    expect(sent.length).toBe(2);
    src.runUntil(50_100);
    expect(sent).toEqual([1_000, 1_000, 50_100]);
  });

  it('Platform: timers due at the same time fire in their original order after a rebase', () => {
    const a = new Platform({ cpus: 3 });
    const order: number[] = [];
    // Armed in the order 2, 0, 1, all due at 300,000 ns (divide 1, 1 GHz).
    for (const cpu of [2, 0, 1]) {
      const apic = a.lapics[cpu]!;
      apic.writeRegister(0xf0, 0x1ff);
      apic.writeRegister(0x3e0, 0xb);
      apic.writeRegister(0x320, 0x50 + cpu);
    }
    for (const cpu of [2, 0, 1]) a.lapics[cpu]!.writeRegister(0x380, 300_000);
    a.scheduler!.runUntil(100_000);
    const bytes = a.save();
    expect(snapshotTime(bytes)).toBe(100_000);
    const clock = new Scheduler();
    clock.runUntil(5);
    const b = new Platform({ cpus: 3, clock });
    b.onCpuEvent((e) => {
      if (e.kind === 'interrupt') order.push(e.cpu);
    });
    b.restore(bytes);
    expect(b.lapics.map((l) => l.readRegister(CCR))).toEqual([200_000, 200_000, 200_000]);
    clock.runUntil(200_004);
    expect(order).toEqual([]);
    clock.runUntil(200_005);
    expect(order).toEqual([2, 0, 1]);
    expect(() => new Platform({ cpus: 3 }).restore(bytes, { time: 'strict' })).toThrow(/100000 ns.*0 ns/);
  });

  it('Machine snapshots record their time and restore at it', () => {
    const m = new Machine({ cpus: 1, backend: 'svm-event' });
    m.run(12_345);
    const bytes = m.snapshot();
    expect(snapshotTime(bytes)).toBe(m.scheduler.now());
    expect(Machine.restore(bytes).scheduler.now()).toBe(m.scheduler.now());
  });
});

describe('snapshots made before snapshots had a time (f9f75c5) still restore', () => {
  it('LocalApic: no time recorded; restored on a clock at the saved time it continues', () => {
    const bytes = fromHex(fixture.lapic.bytes);
    expect(snapshotTime(bytes)).toBeUndefined();
    expect(inspectSnapshot(bytes).formatMinor).toBe(0);
    const clock = new Scheduler();
    clock.runUntil(fixture.lapic.atNs);
    const b = new LocalApic({ id: 1, clock });
    b.restore(bytes);
    expect(b.readRegister(CCR)).toBe(fixture.lapic.currentCount);
    expect(b.pendingVector()).toBe(0x51);
  });

  it('LocalApic periodic: the same expiries as the original run', () => {
    const clock = new Scheduler();
    clock.runUntil(fixture.lapicPeriodic.atNs);
    const b = new LocalApic({ id: 0, clock });
    b.restore(fromHex(fixture.lapicPeriodic.bytes));
    expect(b.readRegister(CCR)).toBe(fixture.lapicPeriodic.currentCount);
    expect(b.stats.timerFires).toBe(fixture.lapicPeriodic.firesBefore);
    clock.runUntil(2_000_000);
    expect(b.stats.timerFires).toBe(fixture.lapicPeriodic.firesBy2ms);
  });

  it('IoApic, PicPair and Platform snapshots restore', () => {
    const io = new IoApic({ bus: { routeMessage: () => 1 } });
    io.restore(fromHex(fixture.ioapic.bytes));
    expect(io.remoteIrr(5)).toBe(true);
    const pic = new PicPair();
    pic.restore(fromHex(fixture.pic.bytes));
    expect(pic.hasInterrupt()).toBe(fixture.pic.hasInterrupt);
    const clock = new Scheduler();
    clock.runUntil(fixture.platform.atNs);
    const p = new Platform({ cpus: 2, clock });
    p.restore(fromHex(fixture.platform.bytes));
    expect(p.lapics[1]!.readRegister(CCR)).toBe(fixture.platform.currentCount);
  });

  it('Machine: continues with the trace the original produced', () => {
    const m = Machine.restore(fromHex(fixture.machine.bytes));
    m.run(1_000_000);
    expect(m.trace.hash()).toBe(fixture.machine.hashAt1ms);
  });
});

describe('rebase property', () => {
  type Op = { k: 'lvt'; mode: number } | { k: 'count'; n: number } | { k: 'divide'; dcr: number } | { k: 'deadline'; rel: number } | { k: 'run'; ns: number };
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ k: fc.constant('lvt' as const), mode: fc.integer({ min: 0, max: 3 }) }),
    fc.record({ k: fc.constant('count' as const), n: fc.oneof(fc.integer({ min: 0, max: 3_000_000 }), fc.constantFrom(1, 7, 0xffff_ffff)) }),
    fc.record({ k: fc.constant('divide' as const), dcr: fc.integer({ min: 0, max: 15 }) }),
    fc.record({ k: fc.constant('deadline' as const), rel: fc.integer({ min: -10, max: 5_000_000 }) }),
    fc.record({ k: fc.constant('run' as const), ns: fc.integer({ min: 0, max: 2_000_000 }) }),
  );

  it('a timer restored onto a clock at any other time behaves exactly like the original, shifted', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(1_000_000_000, 24_000_000, 25_000_000),
        fc.array(opArb, { maxLength: 12 }),
        fc.integer({ min: 0, max: 50_000_000 }),
        fc.array(fc.integer({ min: 1, max: 1_500_000 }), { minLength: 1, maxLength: 8 }),
        (timerHz, ops, targetAt, steps) => {
          const opts = { id: 0, timerHz, tscHz: 2_500_000_000, minTimerPeriodNs: 50_000 };
          const srcClock = new Scheduler();
          const a = new LocalApic({ ...opts, clock: srcClock });
          a.writeRegister(0xf0, 0x1ff);
          for (const op of ops) {
            if (op.k === 'lvt') a.writeRegister(0x320, (op.mode << 17) | 0x40);
            else if (op.k === 'count') a.writeRegister(0x380, op.n);
            else if (op.k === 'divide') a.writeRegister(0x3e0, op.dcr);
            else if (op.k === 'deadline') a.writeMsr(0x6e0, BigInt(Math.max(0, Math.floor(srcClock.now() * 2.5) + op.rel)));
            else srcClock.runUntil(srcClock.now() + op.ns);
          }
          const savedAt = srcClock.now();
          const dstClock = new Scheduler();
          dstClock.runUntil(targetAt);
          const b = new LocalApic({ ...opts, clock: dstClock });
          b.restore(a.save());
          const fires0 = a.stats.timerFires;
          expect(b.stats.timerFires).toBe(fires0);
          let t = 0;
          for (const dt of steps) {
            t += dt;
            srcClock.runUntil(savedAt + t);
            dstClock.runUntil(targetAt + t);
            expect(b.readRegister(0x390)).toBe(a.readRegister(0x390));
            expect(b.stats.timerFires).toBe(a.stats.timerFires);
            expect(b.readMsr(0x6e0)).toBe(a.readMsr(0x6e0));
          }
        },
      ),
      { numRuns: 150, seed: 1305 },
    );
  });
});

describe('the time section', () => {
  it('a time section of a newer version is refused by name', () => {
    const bytes = encodeSnapshot('pic', [{ name: 'time', version: 2, optional: true, payload: new Uint8Array(8) }]);
    expect(() => snapshotTime(bytes)).toThrow(SnapshotError);
    expect(() => snapshotTime(bytes)).toThrow(/'time' has version 2/);
  });
});
