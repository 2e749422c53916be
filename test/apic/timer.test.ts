/**
 * The local APIC timer (SDM vol. 3 "APIC Timer") driven through LocalApic's register interface:
 * LVT timer 0x320, initial count 0x380, current count 0x390, divide configuration 0x3E0 and
 * IA32_TSC_DEADLINE (MSR 0x6E0). Expected values are worked out by hand from the SDM rules and
 * DESIGN.md; the comments show the arithmetic.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LocalApic } from '../../src/apic/local-apic.js';
import { timerDivisor } from '../../src/apic/timer.js';
import { Scheduler } from '../../src/time/scheduler.js';
import { propertyRuns } from '../fuzz/config.js';

const RUNS = propertyRuns(100);

// Register offsets and bits, spelled out from the SDM.
const SVR = 0xf0;
const IRR0 = 0x200;
const ESR = 0x280;
const LVT_TIMER = 0x320;
const LVT_ERROR = 0x370;
const TMICT = 0x380;
const TMCCT = 0x390;
const TDCR = 0x3e0;
const MSR_TSC_DEADLINE = 0x6e0;
const MASKED = 1 << 16;
const ONE_SHOT = 0 << 17;
const PERIODIC = 1 << 17;
const TSC_DEADLINE = 2 << 17;

const VEC = 0x40;

// Divide configuration encodings (bits 3, 1, 0) and their divisors, from the SDM figure.
const DIV_2 = 0b0000;
const DIV_4 = 0b0001;
const DIV_8 = 0b0010;
const DIV_16 = 0b0011;
const DIV_32 = 0b1000;
const DIV_64 = 0b1001;
const DIV_128 = 0b1010;
const DIV_1 = 0b1011;

interface Opts {
  timerHz?: number;
  tscHz?: number;
  minTimerPeriodNs?: number;
  x2apic?: boolean;
}

interface Rig {
  s: Scheduler;
  lapic: LocalApic;
  /** Virtual times at which a timer interrupt reached IRR. */
  irqs: number[];
  lvt(value: number): void;
  icr(count: number): void;
  dcr(value: number): void;
  ccr(): number;
  irr(vector: number): boolean;
  fires(): number;
}

/** A software-enabled LocalApic on a fresh scheduler (timer clock 1 GHz unless told). */
function rig(opts: Opts = {}): Rig {
  const s = new Scheduler();
  const irqs: number[] = [];
  const lapic = new LocalApic({
    id: 0,
    clock: s,
    timerHz: 1_000_000_000,
    ...opts,
    onEvent: (e) => {
      if (e === 'interrupt' || e === 'coalesced') irqs.push(s.now());
    },
  });
  if (opts.x2apic) expect(lapic.writeMsr(0x80f, 0x1ffn)).toBe(true);
  else lapic.writeRegister(SVR, 0x1ff);
  return {
    s,
    lapic,
    irqs,
    lvt: (v) => lapic.writeRegister(LVT_TIMER, v),
    icr: (c) => lapic.writeRegister(TMICT, c),
    dcr: (v) => lapic.writeRegister(TDCR, v),
    ccr: () => lapic.readRegister(TMCCT),
    irr: (v) => ((lapic.page[(IRR0 >> 2) + (v >> 5) * 4]! >>> (v & 31)) & 1) === 1,
    fires: () => lapic.stats.timerFires,
  };
}

/** Runs to `t` and returns the current count there. */
function ccrAt(r: Rig, t: number): number {
  r.s.runUntil(t);
  return r.ccr();
}

describe('timer: divide configuration', () => {
  const table: Array<[number, number]> = [
    [DIV_2, 2],
    [DIV_4, 4],
    [DIV_8, 8],
    [DIV_16, 16],
    [DIV_32, 32],
    [DIV_64, 64],
    [DIV_128, 128],
    [DIV_1, 1],
  ];

  it.each(table)('encoding %i divides by %i: one-shot of 1000 fires at 1000 * divide ns', (code, div) => {
    const r = rig();
    r.dcr(code);
    expect(r.lapic.readRegister(TDCR)).toBe(code);
    r.lvt(ONE_SHOT | VEC);
    r.icr(1000);
    expect(r.ccr()).toBe(1000);
    // 1 GHz: one input tick per ns, one count per `div` ns.
    expect(ccrAt(r, 250 * div)).toBe(750);
    expect(ccrAt(r, 1000 * div - 1)).toBe(1);
    expect(r.fires()).toBe(0);
    expect(r.irr(VEC)).toBe(false);
    r.s.runUntil(1000 * div);
    expect(r.fires()).toBe(1);
    expect(r.irr(VEC)).toBe(true);
    expect(r.irqs).toEqual([1000 * div]);
    expect(r.ccr()).toBe(0);
  });

  it.each(table)('timerDivisor(%i) is %i', (code, div) => {
    expect(timerDivisor(code)).toBe(div);
  });

  it('counts one per 2 ns after reset (divide configuration 0 = divide by 2)', () => {
    const r = rig();
    expect(r.lapic.readRegister(TDCR)).toBe(0);
    r.lvt(ONE_SHOT | VEC);
    r.icr(10);
    expect(ccrAt(r, 3)).toBe(9); // floor(3 / 2) = 1 count elapsed
    expect(ccrAt(r, 19)).toBe(1);
    r.s.runUntil(20);
    expect(r.irqs).toEqual([20]);
  });

  it('ignores bit 2 and bits 31:4 of the divide configuration', () => {
    const r = rig();
    r.dcr(0b0100); // only bit 2: still divide by 2
    expect(r.lapic.readRegister(TDCR)).toBe(0);
    r.dcr(0xffff_fff0 | DIV_8);
    expect(r.lapic.readRegister(TDCR)).toBe(DIV_8);
    r.dcr(0xffff_ffff); // bits 3,1,0 all set: divide by 1
    expect(r.lapic.readRegister(TDCR)).toBe(DIV_1);
    r.lvt(ONE_SHOT | VEC);
    r.icr(7);
    r.s.runUntil(6);
    expect(r.fires()).toBe(0);
    r.s.runUntil(7);
    expect(r.irqs).toEqual([7]);
  });

  it('a divide change mid-count keeps the current count and counts the rest at the new rate', () => {
    const r = rig();
    r.dcr(DIV_1);
    r.lvt(ONE_SHOT | VEC);
    r.icr(1000);
    expect(ccrAt(r, 400)).toBe(600);
    r.dcr(DIV_2);
    expect(r.ccr()).toBe(600);
    // 600 counts left at 2 ns each: expiry at 400 + 1200 = 1600.
    expect(ccrAt(r, 1000)).toBe(300);
    r.s.runUntil(1599);
    expect(r.fires()).toBe(0);
    expect(r.ccr()).toBe(1);
    r.s.runUntil(1600);
    expect(r.irqs).toEqual([1600]);
  });

  it('a divide change mid-count in periodic mode counts the rest at the new rate, then reloads at it', () => {
    const r = rig(); // default minimum period (200 µs) is far below this 1 ms period
    r.dcr(DIV_1);
    r.lvt(PERIODIC | VEC);
    r.icr(1_000_000);
    expect(ccrAt(r, 999_900)).toBe(100);
    r.dcr(DIV_4);
    expect(r.ccr()).toBe(100);
    // 100 counts at 4 ns: expiry at 999_900 + 400; then a full 1_000_000 * 4 ns period.
    r.s.runUntil(1_000_299);
    expect(r.irqs).toEqual([]);
    r.s.runUntil(1_000_300);
    expect(r.irqs).toEqual([1_000_300]);
    expect(r.ccr()).toBe(1_000_000);
    expect(ccrAt(r, 1_000_300 + 4 * 250_000)).toBe(750_000);
    r.s.runUntil(5_000_300);
    expect(r.irqs).toEqual([1_000_300, 5_000_300]);
  });

  it('rewriting the same divide value (or only its ignored bits) does not disturb the count', () => {
    const r = rig();
    r.dcr(DIV_1);
    r.lvt(ONE_SHOT | VEC);
    r.icr(100);
    r.s.runUntil(33);
    r.dcr(DIV_1);
    r.dcr(DIV_1 | 0b0100);
    expect(r.ccr()).toBe(67);
    r.s.runUntil(100);
    expect(r.irqs).toEqual([100]);
  });

  it('a divide change while the timer is stopped applies to the next start', () => {
    const r = rig();
    r.lvt(ONE_SHOT | VEC);
    r.dcr(DIV_16);
    r.icr(10);
    r.s.runUntil(159);
    expect(r.fires()).toBe(0);
    r.s.runUntil(160);
    expect(r.irqs).toEqual([160]);
    r.dcr(DIV_1); // count is 0: nothing to re-arm
    expect(r.s.pending()).toBe(0);
    r.icr(10);
    r.s.runUntil(170);
    expect(r.irqs).toEqual([160, 170]);
  });
});

describe('timer: one-shot', () => {
  it('the current count decreases by one per divided tick of virtual time', () => {
    const r = rig();
    r.dcr(DIV_1);
    r.lvt(ONE_SHOT | VEC);
    r.s.runUntil(1000); // start at a non-zero time
    r.icr(100);
    expect(r.ccr()).toBe(100);
    expect(ccrAt(r, 1001)).toBe(99);
    expect(ccrAt(r, 1037)).toBe(63);
    expect(ccrAt(r, 1099)).toBe(1);
    r.s.runUntil(1100);
    expect(r.ccr()).toBe(0);
    expect(r.irqs).toEqual([1100]);
  });

  it('fires exactly once, at initial * divide ticks, and its initial count stays readable', () => {
    const r = rig();
    r.dcr(DIV_1);
    r.lvt(ONE_SHOT | VEC);
    r.icr(500);
    r.s.runUntil(10_000_000);
    expect(r.irqs).toEqual([500]);
    expect(r.fires()).toBe(1);
    expect(r.ccr()).toBe(0);
    expect(r.lapic.readRegister(TMICT)).toBe(500);
    expect(r.s.pending()).toBe(0);
    expect(r.lapic.pendingVector()).toBe(VEC);
    expect(r.lapic.acknowledge()).toBe(VEC);
    r.lapic.eoi();
    expect(r.lapic.pendingVector()).toBe(-1);
  });

  it('expires at the ceiling in ns when the timer clock (3 MHz) does not divide 1 GHz', () => {
    // One 3 MHz tick is 1000/3 = 333.33 ns.
    const r = rig({ timerHz: 3_000_000 });
    r.lvt(ONE_SHOT | VEC);
    // Divide by 2, count 1: 2 ticks = 666.67 ns -> the first whole ns at or after it is 667.
    r.icr(1);
    r.s.runUntil(666);
    expect(r.fires()).toBe(0);
    expect(r.ccr()).toBe(1);
    r.s.runUntil(667);
    expect(r.irqs).toEqual([667]);
  });

  it('reads the current count as whole elapsed ticks at 3 MHz and fires at exactly 1000 ns for 3 ticks', () => {
    const r = rig({ timerHz: 3_000_000 });
    r.dcr(DIV_1);
    r.lvt(ONE_SHOT | VEC);
    r.icr(3); // 3 ticks = 1000 ns exactly
    // count = 3 - floor(t * 3 / 1000)
    expect(ccrAt(r, 333)).toBe(3);
    expect(ccrAt(r, 334)).toBe(2);
    expect(ccrAt(r, 666)).toBe(2);
    expect(ccrAt(r, 667)).toBe(1);
    expect(ccrAt(r, 999)).toBe(1);
    expect(r.fires()).toBe(0);
    r.s.runUntil(1000);
    expect(r.irqs).toEqual([1000]);
  });

  it('expires at the ceiling for a 24 MHz crystal clock', () => {
    // 24 MHz: one tick = 41.67 ns; divide by 1, count 5 -> 208.33 ns -> 209.
    const r = rig({ timerHz: 24_000_000 });
    r.dcr(DIV_1);
    r.lvt(ONE_SHOT | VEC);
    r.icr(5);
    r.s.runUntil(208);
    expect(r.fires()).toBe(0);
    r.s.runUntil(209);
    expect(r.irqs).toEqual([209]);
  });

  it('the largest count with divide 128 fires at 0xFFFFFFFF * 128 ns', () => {
    const r = rig();
    r.dcr(DIV_128);
    r.lvt(ONE_SHOT | VEC);
    r.icr(0xffff_ffff);
    expect(r.ccr()).toBe(0xffff_ffff);
    const expiry = 0xffff_ffff * 128; // 549_755_813_760
    expect(ccrAt(r, expiry - 1)).toBe(1);
    expect(r.fires()).toBe(0);
    r.s.runUntil(expiry);
    expect(r.irqs).toEqual([549_755_813_760]);
  });

  it('an initial count of 0 stops a running one-shot timer', () => {
    const r = rig();
    r.dcr(DIV_1);
    r.lvt(ONE_SHOT | VEC);
    r.icr(1000);
    r.s.runUntil(500);
    r.icr(0);
    expect(r.ccr()).toBe(0);
    expect(r.s.pending()).toBe(0);
    r.s.runUntil(1_000_000);
    expect(r.fires()).toBe(0);
  });

  it('rewriting the initial count restarts the count from the new value', () => {
    const r = rig();
    r.dcr(DIV_1);
    r.lvt(ONE_SHOT | VEC);
    r.icr(100);
    r.s.runUntil(60);
    expect(r.ccr()).toBe(40);
    r.icr(100);
    expect(r.ccr()).toBe(100);
    expect(ccrAt(r, 100)).toBe(60);
    expect(r.fires()).toBe(0);
    r.s.runUntil(1000);
    expect(r.irqs).toEqual([160]);
  });

  it('rewriting the initial count after expiry arms it again', () => {
    const r = rig();
    r.dcr(DIV_1);
    r.lvt(ONE_SHOT | VEC);
    r.icr(10);
    r.s.runUntil(50);
    r.icr(10);
    r.s.runUntil(100);
    expect(r.irqs).toEqual([10, 60]);
  });

  it('a count of 1 with divide 1 fires 1 ns later (no minimum period for one-shot)', () => {
    const r = rig({ minTimerPeriodNs: 200_000 });
    r.dcr(DIV_1);
    r.lvt(ONE_SHOT | VEC);
    r.icr(1);
    r.s.runUntil(1);
    expect(r.irqs).toEqual([1]);
  });

  it('writes to the current count register are ignored', () => {
    const r = rig();
    r.dcr(DIV_1);
    r.lvt(ONE_SHOT | VEC);
    r.icr(100);
    r.s.runUntil(10);
    r.lapic.writeRegister(TMCCT, 5);
    expect(r.ccr()).toBe(90);
    r.s.runUntil(100);
    expect(r.irqs).toEqual([100]);
  });

  it('an interrupt handler that re-arms the one-shot from inside the expiry wins', () => {
    const s = new Scheduler();
    const times: number[] = [];
    const lapic: LocalApic = new LocalApic({
      id: 0,
      clock: s,
      onEvent: (e) => {
        if (e !== 'interrupt' && e !== 'coalesced') return;
        times.push(s.now());
        if (times.length < 3) lapic.writeRegister(TMICT, 50);
      },
    });
    lapic.writeRegister(SVR, 0x1ff);
    lapic.writeRegister(TDCR, DIV_1);
    lapic.writeRegister(LVT_TIMER, ONE_SHOT | VEC);
    lapic.writeRegister(TMICT, 50);
    s.runUntil(1000);
    expect(times).toEqual([50, 100, 150]);
    expect(s.pending()).toBe(0);
  });
});

describe('timer: periodic', () => {
  it('reloads the initial count and fires every period', () => {
    const r = rig({ minTimerPeriodNs: 1 });
    r.dcr(DIV_1);
    r.lvt(PERIODIC | VEC);
    r.icr(100);
    expect(ccrAt(r, 150)).toBe(50);
    expect(ccrAt(r, 199)).toBe(1);
    expect(ccrAt(r, 200)).toBe(100); // reloaded at 0
    expect(ccrAt(r, 250)).toBe(50);
    r.s.runUntil(1000);
    expect(r.irqs).toEqual([100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]);
    expect(r.fires()).toBe(10);
    expect(r.s.pending()).toBe(1);
  });

  it('keeps exact periods at 3 MHz: the k-th expiry is at ceil(k * period), with no rounding drift', () => {
    // 1000 ticks at 3 MHz, divide 1: period = 1e6 / 3 ns = 333_333.33 ns.
    const r = rig({ timerHz: 3_000_000, minTimerPeriodNs: 1 });
    r.dcr(DIV_1);
    r.lvt(PERIODIC | VEC);
    r.icr(1000);
    r.s.runUntil(1_000_000);
    // ceil(333_333.33) = 333_334, ceil(666_666.67) = 666_667, 1_000_000 exactly.
    expect(r.irqs).toEqual([333_334, 666_667, 1_000_000]);
    expect(r.ccr()).toBe(1000);
    // After the third reload (exactly at 1_000_000): count = 1000 - floor(dt * 3 / 1000).
    expect(ccrAt(r, 1_000_333)).toBe(1000);
    expect(ccrAt(r, 1_000_334)).toBe(999);
    r.s.runUntil(100_000_000); // 300 periods in 100 ms
    expect(r.irqs.length).toBe(300);
    expect(r.irqs[299]).toBe(100_000_000);
    expect(r.irqs[149]).toBe(50_000_000);
    expect(r.irqs[100]).toBe(33_666_667); // ceil(101e6 / 3) = ceil(33_666_666.67)
  });

  it('reads the count between expiries exactly from the last reload at 3 MHz', () => {
    const r = rig({ timerHz: 3_000_000, minTimerPeriodNs: 1 });
    r.dcr(DIV_1);
    r.lvt(PERIODIC | VEC);
    r.icr(2); // period = 2 ticks = 666.67 ns; reloads at 666.67, 1333.33, 2000
    r.s.runUntil(667);
    expect(r.irqs).toEqual([667]);
    // The reload happened at 666.67; at 1000 ns, 333.33 ns = exactly 1 tick has passed.
    expect(ccrAt(r, 999)).toBe(2);
    expect(ccrAt(r, 1000)).toBe(1);
    r.s.runUntil(2000);
    expect(r.irqs).toEqual([667, 1334, 2000]);
  });

  it('an initial count of 0 stops a periodic timer', () => {
    const r = rig({ minTimerPeriodNs: 1 });
    r.dcr(DIV_1);
    r.lvt(PERIODIC | VEC);
    r.icr(100);
    r.s.runUntil(250);
    r.icr(0);
    expect(r.ccr()).toBe(0);
    expect(r.s.pending()).toBe(0);
    r.s.runUntil(10_000);
    expect(r.irqs).toEqual([100, 200]);
  });

  it('rewriting the initial count restarts the period', () => {
    const r = rig({ minTimerPeriodNs: 1 });
    r.dcr(DIV_1);
    r.lvt(PERIODIC | VEC);
    r.icr(100);
    r.s.runUntil(150);
    r.icr(300);
    expect(r.ccr()).toBe(300);
    r.s.runUntil(1000);
    expect(r.irqs).toEqual([100, 450, 750]);
  });

  it('a handler that writes 0 from inside the periodic interrupt stops it', () => {
    const s = new Scheduler();
    const times: number[] = [];
    const lapic: LocalApic = new LocalApic({
      id: 0,
      clock: s,
      minTimerPeriodNs: 1,
      onEvent: (e) => {
        if (e !== 'interrupt' && e !== 'coalesced') return;
        times.push(s.now());
        if (times.length === 2) lapic.writeRegister(TMICT, 0);
      },
    });
    lapic.writeRegister(SVR, 0x1ff);
    lapic.writeRegister(TDCR, DIV_1);
    lapic.writeRegister(LVT_TIMER, PERIODIC | VEC);
    lapic.writeRegister(TMICT, 100);
    s.runUntil(10_000);
    expect(times).toEqual([100, 200]);
    expect(s.pending()).toBe(0);
    expect(lapic.readRegister(TMCCT)).toBe(0);
  });
});

describe('timer: minimum period', () => {
  it('a periodic timer below the minimum fires once per minTimerPeriodNs', () => {
    const r = rig({ minTimerPeriodNs: 1000 });
    r.dcr(DIV_1);
    r.lvt(PERIODIC | VEC);
    r.icr(10); // 10 ns period, clamped to 1000 ns
    let maxPending = 0;
    for (let t = 0; t <= 10_000; t += 100) {
      r.s.runUntil(t);
      maxPending = Math.max(maxPending, r.s.pending());
    }
    expect(r.fires()).toBeLessThanOrEqual(10);
    expect(r.irqs).toEqual([1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10_000]);
    expect(maxPending).toBe(1);
  });

  it('while a clamped expiry is pending the count keeps reloading at 0, then restarts at the expiry', () => {
    const r = rig({ minTimerPeriodNs: 1000 });
    r.dcr(DIV_1);
    r.lvt(PERIODIC | VEC);
    r.icr(10); // reaches 0 at 10, 20, ...; interrupts only every 1000 ns
    expect(ccrAt(r, 9)).toBe(1);
    expect(ccrAt(r, 10)).toBe(10); // reloaded at 0
    expect(ccrAt(r, 15)).toBe(5);
    expect(ccrAt(r, 999)).toBe(1); // 999 = 99 full periods + 9
    expect(r.fires()).toBe(0);
    r.s.runUntil(1000);
    expect(r.irqs).toEqual([1000]);
    expect(r.ccr()).toBe(10); // restarted from the initial count at the delayed expiry
    expect(ccrAt(r, 1003)).toBe(7);
  });

  it('the default minimum is 200 µs: a count of 1 fires 5 times per virtual millisecond', () => {
    const r = rig();
    r.dcr(DIV_1);
    r.lvt(PERIODIC | VEC);
    r.icr(1);
    r.s.runUntil(1_000_000);
    expect(r.irqs).toEqual([200_000, 400_000, 600_000, 800_000, 1_000_000]);
    expect(r.s.pending()).toBe(1);
  });

  it('does not clamp a period at or above the minimum', () => {
    const r = rig({ minTimerPeriodNs: 1000 });
    r.dcr(DIV_1);
    r.lvt(PERIODIC | VEC);
    r.icr(1000);
    r.s.runUntil(3000);
    expect(r.irqs).toEqual([1000, 2000, 3000]);
  });

  it('fires at most once per minimum period for any count, divide and timer clock', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.constantFrom(DIV_1, DIV_2, DIV_4),
        fc.constantFrom(1_000_000_000, 3_000_000, 24_000_000, 2_500_000_000),
        fc.integer({ min: 50, max: 2000 }),
        (count, code, timerHz, minPeriod) => {
          const r = rig({ timerHz, minTimerPeriodNs: minPeriod });
          r.dcr(code);
          r.lvt(PERIODIC | VEC);
          r.icr(count);
          const horizon = 20 * minPeriod;
          r.s.runUntil(horizon);
          expect(r.irqs.length).toBeLessThanOrEqual(20);
          for (let i = 1; i < r.irqs.length; i++) {
            expect(r.irqs[i]! - r.irqs[i - 1]!).toBeGreaterThanOrEqual(minPeriod);
          }
          expect(r.s.pending()).toBe(1);
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe('timer: masking', () => {
  it('a masked one-shot still counts down and expires, but sets nothing in IRR', () => {
    const r = rig();
    r.dcr(DIV_1);
    r.lvt(MASKED | ONE_SHOT | VEC);
    r.icr(100);
    expect(ccrAt(r, 50)).toBe(50);
    r.s.runUntil(200);
    expect(r.ccr()).toBe(0);
    expect(r.fires()).toBe(1);
    expect(r.irr(VEC)).toBe(false);
    expect(r.lapic.pendingVector()).toBe(-1);
    // Unmasking afterwards does not deliver the expiry that was missed.
    r.lvt(ONE_SHOT | VEC);
    r.s.runUntil(10_000);
    expect(r.irr(VEC)).toBe(false);
    expect(r.irqs).toEqual([]);
  });

  it('a masked periodic timer keeps running; unmasking delivers the next expiry', () => {
    const r = rig({ minTimerPeriodNs: 1 });
    r.dcr(DIV_1);
    r.lvt(MASKED | PERIODIC | VEC);
    r.icr(100);
    r.s.runUntil(350);
    expect(r.fires()).toBe(3);
    expect(r.ccr()).toBe(50);
    expect(r.irr(VEC)).toBe(false);
    r.lvt(PERIODIC | VEC); // unmask: the count continues, no reload
    expect(r.ccr()).toBe(50);
    r.s.runUntil(399);
    expect(r.irr(VEC)).toBe(false);
    r.s.runUntil(400);
    expect(r.irr(VEC)).toBe(true);
    expect(r.irqs).toEqual([400]);
    expect(r.fires()).toBe(4);
  });

  it('masking a running periodic timer stops delivery but not counting', () => {
    const r = rig({ minTimerPeriodNs: 1 });
    r.dcr(DIV_1);
    r.lvt(PERIODIC | VEC);
    r.icr(100);
    r.s.runUntil(150);
    r.lvt(MASKED | PERIODIC | VEC);
    expect(r.ccr()).toBe(50);
    r.s.runUntil(1000);
    expect(r.irqs).toEqual([100]);
    expect(r.fires()).toBe(10);
  });

  it('software-disabling the APIC masks the timer but it keeps counting', () => {
    const r = rig({ minTimerPeriodNs: 1 });
    r.dcr(DIV_1);
    r.lvt(PERIODIC | VEC);
    r.icr(100);
    r.s.runUntil(150);
    r.lapic.writeRegister(SVR, 0xff); // bit 8 clear
    expect(r.lapic.readRegister(LVT_TIMER) & MASKED).toBe(MASKED);
    expect(r.ccr()).toBe(50);
    r.s.runUntil(500);
    expect(r.irqs).toEqual([100]);
    expect(r.fires()).toBe(5);
  });
});

describe('timer: mode switches', () => {
  it('one-shot -> periodic does not reload the current count; it reloads at 0', () => {
    const r = rig({ minTimerPeriodNs: 1 });
    r.dcr(DIV_1);
    r.lvt(ONE_SHOT | VEC);
    r.icr(100);
    r.s.runUntil(30);
    r.lvt(PERIODIC | VEC);
    expect(r.ccr()).toBe(70);
    expect(ccrAt(r, 99)).toBe(1);
    r.s.runUntil(350);
    expect(r.irqs).toEqual([100, 200, 300]);
    expect(r.ccr()).toBe(50);
  });

  it('a one-shot that reached 0 stays at 0 after switching to periodic', () => {
    const r = rig({ minTimerPeriodNs: 1 });
    r.dcr(DIV_1);
    r.lvt(ONE_SHOT | VEC);
    r.icr(100);
    r.s.runUntil(150);
    r.lvt(PERIODIC | VEC);
    expect(r.ccr()).toBe(0);
    expect(r.lapic.readRegister(TMICT)).toBe(100);
    r.s.runUntil(10_000);
    expect(r.irqs).toEqual([100]);
    expect(r.ccr()).toBe(0);
    expect(r.s.pending()).toBe(0);
  });

  it('periodic -> one-shot keeps counting and stops at 0', () => {
    const r = rig({ minTimerPeriodNs: 1 });
    r.dcr(DIV_1);
    r.lvt(PERIODIC | VEC);
    r.icr(100);
    r.s.runUntil(250);
    r.lvt(ONE_SHOT | VEC);
    expect(r.ccr()).toBe(50);
    r.s.runUntil(10_000);
    expect(r.irqs).toEqual([100, 200, 300]);
    expect(r.ccr()).toBe(0);
    expect(r.s.pending()).toBe(0);
  });

  it('switching to TSC-deadline mode disarms: initial count reads 0 and nothing fires', () => {
    const r = rig();
    r.dcr(DIV_1);
    r.lvt(ONE_SHOT | VEC);
    r.icr(100);
    r.s.runUntil(10);
    r.lvt(TSC_DEADLINE | VEC);
    expect(r.lapic.readRegister(TMICT)).toBe(0);
    expect(r.ccr()).toBe(0);
    expect(r.s.pending()).toBe(0);
    r.s.runUntil(10_000);
    expect(r.fires()).toBe(0);
    // and it stays disarmed when switching back
    r.lvt(ONE_SHOT | VEC);
    expect(r.lapic.readRegister(TMICT)).toBe(0);
    r.s.runUntil(20_000);
    expect(r.fires()).toBe(0);
  });

  it('switching a periodic timer to TSC-deadline mode disarms it', () => {
    const r = rig({ minTimerPeriodNs: 1 });
    r.dcr(DIV_1);
    r.lvt(PERIODIC | VEC);
    r.icr(100);
    r.s.runUntil(150);
    r.lvt(TSC_DEADLINE | VEC);
    r.s.runUntil(10_000);
    expect(r.irqs).toEqual([100]);
    expect(r.s.pending()).toBe(0);
  });

  it('switching away from TSC-deadline mode disarms the deadline and clears the MSR', () => {
    const r = rig();
    r.lvt(TSC_DEADLINE | VEC);
    expect(r.lapic.writeMsr(MSR_TSC_DEADLINE, 500n)).toBe(true);
    expect(r.lapic.readMsr(MSR_TSC_DEADLINE)).toBe(500n);
    r.s.runUntil(100);
    r.lvt(ONE_SHOT | VEC);
    expect(r.lapic.readMsr(MSR_TSC_DEADLINE)).toBe(0n);
    expect(r.s.pending()).toBe(0);
    r.s.runUntil(1000);
    expect(r.fires()).toBe(0);
    r.lvt(TSC_DEADLINE | VEC);
    expect(r.lapic.readMsr(MSR_TSC_DEADLINE)).toBe(0n);
    r.s.runUntil(2000);
    expect(r.fires()).toBe(0);
  });

  it('rewriting the LVT in the same mode (vector or mask change) does not disturb the count', () => {
    const r = rig({ minTimerPeriodNs: 1 });
    r.dcr(DIV_1);
    r.lvt(PERIODIC | VEC);
    r.icr(100);
    r.s.runUntil(40);
    r.lvt(PERIODIC | 0x51);
    expect(r.ccr()).toBe(60);
    r.s.runUntil(100);
    expect(r.irr(0x51)).toBe(true);
    expect(r.irr(VEC)).toBe(false);
    expect(r.irqs).toEqual([100]);
  });
});

describe('timer: TSC-deadline mode', () => {
  it('ignores initial count writes', () => {
    const r = rig();
    r.dcr(DIV_1);
    r.lvt(TSC_DEADLINE | VEC);
    r.icr(100);
    expect(r.lapic.readRegister(TMICT)).toBe(0);
    expect(r.ccr()).toBe(0);
    expect(r.s.pending()).toBe(0);
    r.s.runUntil(1000);
    expect(r.fires()).toBe(0);
    r.lvt(ONE_SHOT | VEC);
    expect(r.lapic.readRegister(TMICT)).toBe(0);
    r.s.runUntil(2000);
    expect(r.fires()).toBe(0);
  });

  it('fires when the TSC reaches the deadline, then the MSR reads 0 (1 GHz TSC)', () => {
    const r = rig();
    r.lvt(TSC_DEADLINE | VEC);
    r.lapic.writeMsr(MSR_TSC_DEADLINE, 500n);
    r.s.runUntil(499);
    expect(r.fires()).toBe(0);
    expect(r.lapic.readMsr(MSR_TSC_DEADLINE)).toBe(500n);
    r.s.runUntil(500);
    expect(r.irqs).toEqual([500]);
    expect(r.irr(VEC)).toBe(true);
    expect(r.lapic.readMsr(MSR_TSC_DEADLINE)).toBe(0n);
    r.s.runUntil(100_000);
    expect(r.fires()).toBe(1);
    expect(r.s.pending()).toBe(0);
  });

  it('fires at the first ns whose TSC = floor(ns * tscHz / 1e9) reaches the deadline (2.5 GHz)', () => {
    // TSC(400) = 1000, TSC(401) = floor(1002.5) = 1002 >= 1001.
    const r = rig({ tscHz: 2_500_000_000 });
    r.lvt(TSC_DEADLINE | VEC);
    r.lapic.writeMsr(MSR_TSC_DEADLINE, 1001n);
    r.s.runUntil(400);
    expect(r.fires()).toBe(0);
    r.s.runUntil(401);
    expect(r.irqs).toEqual([401]);
  });

  it('fires at the first ns whose TSC reaches the deadline (3 MHz TSC)', () => {
    // TSC(t) = floor(t * 3 / 1000): TSC(333) = 0, TSC(334) = 1; TSC(666) = 1, TSC(667) = 2.
    const r = rig({ tscHz: 3_000_000 });
    r.lvt(TSC_DEADLINE | VEC);
    r.lapic.writeMsr(MSR_TSC_DEADLINE, 1n);
    r.s.runUntil(333);
    expect(r.fires()).toBe(0);
    r.s.runUntil(334);
    expect(r.irqs).toEqual([334]);
    r.lapic.writeMsr(MSR_TSC_DEADLINE, 2n);
    r.s.runUntil(666);
    expect(r.irqs).toEqual([334]);
    r.s.runUntil(667);
    expect(r.irqs).toEqual([334, 667]);
  });

  it('a deadline in the past or equal to the current TSC fires at once', () => {
    const r = rig();
    r.lvt(TSC_DEADLINE | VEC);
    r.s.runUntil(1000); // TSC = 1000
    r.lapic.writeMsr(MSR_TSC_DEADLINE, 999n);
    expect(r.irqs).toEqual([1000]);
    expect(r.irr(VEC)).toBe(true);
    expect(r.lapic.readMsr(MSR_TSC_DEADLINE)).toBe(0n);
    r.lapic.writeMsr(MSR_TSC_DEADLINE, 1000n);
    expect(r.irqs).toEqual([1000, 1000]);
    r.lapic.writeMsr(MSR_TSC_DEADLINE, 1n);
    expect(r.irqs).toEqual([1000, 1000, 1000]);
    expect(r.s.pending()).toBe(0);
  });

  it('writing 0 disarms the deadline', () => {
    const r = rig();
    r.lvt(TSC_DEADLINE | VEC);
    r.lapic.writeMsr(MSR_TSC_DEADLINE, 500n);
    r.s.runUntil(100);
    expect(r.lapic.writeMsr(MSR_TSC_DEADLINE, 0n)).toBe(true);
    expect(r.lapic.readMsr(MSR_TSC_DEADLINE)).toBe(0n);
    expect(r.s.pending()).toBe(0);
    r.s.runUntil(10_000);
    expect(r.fires()).toBe(0);
  });

  it('rewriting the deadline replaces the previous one', () => {
    const r = rig();
    r.lvt(TSC_DEADLINE | VEC);
    r.lapic.writeMsr(MSR_TSC_DEADLINE, 500n);
    r.lapic.writeMsr(MSR_TSC_DEADLINE, 800n);
    expect(r.s.pending()).toBe(1);
    r.s.runUntil(10_000);
    expect(r.irqs).toEqual([800]);
    r.lapic.writeMsr(MSR_TSC_DEADLINE, 20_000n);
    r.lapic.writeMsr(MSR_TSC_DEADLINE, 15_000n);
    r.s.runUntil(30_000);
    expect(r.irqs).toEqual([800, 15_000]);
  });

  it('a masked deadline expires and clears the MSR without setting IRR', () => {
    const r = rig();
    r.lvt(MASKED | TSC_DEADLINE | VEC);
    r.lapic.writeMsr(MSR_TSC_DEADLINE, 50n);
    r.s.runUntil(100);
    expect(r.fires()).toBe(1);
    expect(r.irr(VEC)).toBe(false);
    expect(r.lapic.readMsr(MSR_TSC_DEADLINE)).toBe(0n);
  });

  it('a deadline far beyond the representable virtual time never fires and stays readable', () => {
    const r = rig();
    r.lvt(TSC_DEADLINE | VEC);
    expect(r.lapic.writeMsr(MSR_TSC_DEADLINE, 0xffff_ffff_ffff_ffffn)).toBe(true);
    expect(r.lapic.readMsr(MSR_TSC_DEADLINE)).toBe(0xffff_ffff_ffff_ffffn);
    r.s.runUntil(1_000_000_000);
    expect(r.fires()).toBe(0);
  });

  it.each([
    ['one-shot', ONE_SHOT],
    ['periodic', PERIODIC],
  ])('in %s mode IA32_TSC_DEADLINE reads 0 and writes are ignored', (_name, mode) => {
    const r = rig();
    r.lvt(mode | VEC);
    expect(r.lapic.writeMsr(MSR_TSC_DEADLINE, 500n)).toBe(true);
    expect(r.lapic.readMsr(MSR_TSC_DEADLINE)).toBe(0n);
    expect(r.s.pending()).toBe(0);
    r.s.runUntil(10_000);
    expect(r.fires()).toBe(0);
    r.lvt(TSC_DEADLINE | VEC); // the ignored write did not leave a deadline behind
    expect(r.lapic.readMsr(MSR_TSC_DEADLINE)).toBe(0n);
    r.s.runUntil(20_000);
    expect(r.fires()).toBe(0);
  });

  it('the deadline MSR write does not disturb a running one-shot count', () => {
    const r = rig();
    r.dcr(DIV_1);
    r.lvt(ONE_SHOT | VEC);
    r.icr(100);
    r.lapic.writeMsr(MSR_TSC_DEADLINE, 10n);
    r.lapic.writeMsr(MSR_TSC_DEADLINE, 0n);
    r.s.runUntil(1000);
    expect(r.irqs).toEqual([100]);
  });
});

describe('timer: illegal vector, reset and INIT', () => {
  it('a timer vector below 16 sets ESR bit 6 (received illegal vector) instead of IRR', () => {
    const r = rig();
    r.dcr(DIV_1);
    r.lvt(ONE_SHOT | 5);
    r.icr(10);
    r.s.runUntil(10);
    expect(r.fires()).toBe(1);
    for (let w = 0; w < 8; w++) expect(r.lapic.page[(IRR0 >> 2) + w * 4]).toBe(0);
    expect(r.lapic.pendingVector()).toBe(-1);
    expect(r.irqs).toEqual([]);
    r.lapic.writeRegister(ESR, 0); // write-to-latch
    expect(r.lapic.readRegister(ESR) & 0xff).toBe(0x40);
    // The latch is consumed: another write with no new error reads 0.
    r.lapic.writeRegister(ESR, 0);
    expect(r.lapic.readRegister(ESR)).toBe(0);
  });

  it('an illegal timer vector raises the error LVT interrupt when that is unmasked', () => {
    const r = rig();
    r.lapic.writeRegister(LVT_ERROR, 0xfe);
    r.dcr(DIV_1);
    r.lvt(ONE_SHOT | 15);
    r.icr(10);
    r.s.runUntil(10);
    expect(r.irr(0xfe)).toBe(true);
    expect(r.irr(15)).toBe(false);
  });

  it.each([
    ['INIT', (l: LocalApic) => l.init()],
    ['reset', (l: LocalApic) => l.reset()],
  ])('%s disarms a running one-shot and restores the power-up timer registers', (_name, doReset) => {
    const r = rig();
    r.dcr(DIV_8);
    r.lvt(ONE_SHOT | VEC);
    r.icr(100);
    r.s.runUntil(10);
    doReset(r.lapic);
    expect(r.s.pending()).toBe(0);
    expect(r.ccr()).toBe(0);
    expect(r.lapic.readRegister(TMICT)).toBe(0);
    expect(r.lapic.readRegister(TDCR)).toBe(0);
    expect(r.lapic.readRegister(LVT_TIMER)).toBe(MASKED);
    r.s.runUntil(1_000_000);
    expect(r.fires()).toBe(0);
  });

  it.each([
    ['INIT', (l: LocalApic) => l.init()],
    ['reset', (l: LocalApic) => l.reset()],
  ])('%s disarms a periodic timer and a TSC deadline', (_name, doReset) => {
    const r = rig({ minTimerPeriodNs: 1 });
    r.dcr(DIV_1);
    r.lvt(PERIODIC | VEC);
    r.icr(100);
    r.s.runUntil(250);
    doReset(r.lapic);
    r.s.runUntil(10_000);
    expect(r.fires()).toBe(2);

    r.lapic.writeRegister(SVR, 0x1ff);
    r.lvt(TSC_DEADLINE | VEC);
    r.lapic.writeMsr(MSR_TSC_DEADLINE, 20_000n);
    doReset(r.lapic);
    expect(r.lapic.readMsr(MSR_TSC_DEADLINE)).toBe(0n);
    expect(r.s.pending()).toBe(0);
    r.s.runUntil(100_000);
    expect(r.fires()).toBe(2);
    // After the reset the timer is in one-shot mode, so the MSR stays 0 even in TSC mode again.
    r.lapic.writeRegister(SVR, 0x1ff);
    r.lvt(TSC_DEADLINE | VEC);
    expect(r.lapic.readMsr(MSR_TSC_DEADLINE)).toBe(0n);
  });

  it('a timer started at INIT time works normally afterwards', () => {
    const r = rig();
    r.s.runUntil(1000);
    r.lapic.init();
    r.lapic.writeRegister(SVR, 0x1ff);
    r.lvt(ONE_SHOT | VEC);
    r.icr(10); // divide back to 2 after INIT: 20 ns
    r.s.runUntil(1020);
    expect(r.irqs).toEqual([1020]);
  });
});

describe('timer: x2APIC MSR interface', () => {
  it('drives the same timer through MSRs 0x832, 0x838, 0x839, 0x83E', () => {
    const r = rig({ x2apic: true, minTimerPeriodNs: 1 });
    expect(r.lapic.writeMsr(0x83e, BigInt(DIV_1))).toBe(true);
    expect(r.lapic.writeMsr(0x832, BigInt(PERIODIC | VEC))).toBe(true);
    expect(r.lapic.writeMsr(0x838, 100n)).toBe(true);
    r.s.runUntil(130);
    expect(r.lapic.readMsr(0x839)).toBe(70n);
    expect(r.lapic.readMsr(0x838)).toBe(100n);
    expect(r.lapic.readMsr(0x83e)).toBe(BigInt(DIV_1));
    expect(r.irqs).toEqual([100]);
    // The current count is read-only, and divide bit 2 is reserved: #GP.
    expect(r.lapic.writeMsr(0x839, 5n)).toBe(false);
    expect(r.lapic.writeMsr(0x83e, 0b0100n)).toBe(false);
    expect(r.lapic.readMsr(0x83e)).toBe(BigInt(DIV_1));
  });
});

// ---------------------------------------------------------------------------------------------
// Properties

/** ceil(a * b / c) with BigInt, for reference values. */
function ceilDiv(a: bigint, b: bigint): bigint {
  return (a + b - 1n) / b;
}

describe('timer: properties', () => {
  const codes = [DIV_2, DIV_4, DIV_8, DIV_16, DIV_32, DIV_64, DIV_128, DIV_1];
  const divs = [2, 4, 8, 16, 32, 64, 128, 1];
  const hzArb = fc.oneof(
    fc.constantFrom(1_000_000_000, 3_000_000, 24_000_000, 25_000_000, 19_200_000, 100_000_000),
    fc.integer({ min: 1_000_000, max: 4_000_000_000 }),
  );

  it('a one-shot fires at ceil(count * divide * 1e9 / timerHz) and counts down by whole ticks', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 0xffff_ffff }),
        fc.integer({ min: 0, max: 7 }),
        hzArb,
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (count, di, hz, start, frac) => {
          const r = rig({ timerHz: hz });
          const div = divs[di]!;
          r.s.runUntil(start);
          r.dcr(codes[di]!);
          r.lvt(ONE_SHOT | VEC);
          r.icr(count);
          const expiryDelta = ceilDiv(BigInt(count) * BigInt(div) * 1_000_000_000n, BigInt(hz));
          const expiry = start + Number(expiryDelta);
          // A point strictly before expiry: count = initial - floor(dt * hz / (1e9 * div)).
          const dt = Math.floor(frac * (Number(expiryDelta) - 1));
          r.s.runUntil(start + dt);
          const elapsed = (BigInt(dt) * BigInt(hz)) / (1_000_000_000n * BigInt(div));
          expect(r.ccr()).toBe(count - Number(elapsed));
          expect(r.ccr()).toBeGreaterThan(0);
          r.s.runUntil(expiry - 1);
          expect(r.fires()).toBe(0);
          r.s.runUntil(expiry);
          expect(r.irqs).toEqual([expiry]);
          expect(r.ccr()).toBe(0);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('a periodic timer fires at start + ceil(k * period) for every k, without drift', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5000 }),
        fc.integer({ min: 0, max: 7 }),
        hzArb,
        fc.integer({ min: 0, max: 1_000_000 }),
        (count, di, hz, start) => {
          const r = rig({ timerHz: hz, minTimerPeriodNs: 1 });
          const div = BigInt(divs[di]!);
          const periodNum = BigInt(count) * div * 1_000_000_000n; // period = periodNum / hz ns
          if (periodNum < BigInt(hz)) return; // sub-ns periods are clamped; covered elsewhere
          r.s.runUntil(start);
          r.dcr(codes[di]!);
          r.lvt(PERIODIC | VEC);
          r.icr(count);
          const expected: number[] = [];
          for (let k = 1n; k <= 25n; k++) expected.push(start + Number(ceilDiv(k * periodNum, BigInt(hz))));
          r.s.runUntil(expected[24]!);
          expect(r.irqs).toEqual(expected);
        },
      ),
      { numRuns: RUNS },
    );
  });

  type TimerOp =
    | { k: 'lvt'; mode: number; masked: boolean }
    | { k: 'icr'; count: number }
    | { k: 'dcr'; code: number }
    | { k: 'deadline'; value: bigint }
    | { k: 'run'; dt: number }
    | { k: 'init' };

  const timerOpArb: fc.Arbitrary<TimerOp> = fc.oneof(
    fc.record({ k: fc.constant('lvt' as const), mode: fc.integer({ min: 0, max: 3 }), masked: fc.boolean() }),
    fc.record({ k: fc.constant('icr' as const), count: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 3000 })) }),
    fc.record({ k: fc.constant('dcr' as const), code: fc.integer({ min: 0, max: 15 }) }),
    fc.record({ k: fc.constant('deadline' as const), value: fc.bigInt({ min: 0n, max: 20_000n }) }),
    fc.record({ k: fc.constant('run' as const), dt: fc.integer({ min: 0, max: 3000 }) }),
    fc.record({ k: fc.constant('init' as const) }),
  );

  it('never leaves more than one scheduler event per timer across re-arms, mode switches and INIT', () => {
    fc.assert(
      fc.property(fc.array(timerOpArb, { maxLength: 80 }), fc.constantFrom(1, 2, 3), (ops, n) => {
        const s = new Scheduler();
        const apics = Array.from({ length: n }, (_, id) => {
          const l = new LocalApic({ id, clock: s, minTimerPeriodNs: 50, timerHz: 24_000_000 });
          l.writeRegister(SVR, 0x1ff);
          return l;
        });
        ops.forEach((op, i) => {
          const l = apics[i % n]!;
          switch (op.k) {
            case 'lvt':
              l.writeRegister(LVT_TIMER, (op.mode << 17) | (op.masked ? MASKED : 0) | VEC);
              break;
            case 'icr':
              l.writeRegister(TMICT, op.count);
              break;
            case 'dcr':
              l.writeRegister(TDCR, op.code);
              break;
            case 'deadline':
              expect(l.writeMsr(MSR_TSC_DEADLINE, op.value)).toBe(true);
              break;
            case 'run':
              s.runUntil(s.now() + op.dt);
              break;
            case 'init':
              l.init();
              l.writeRegister(SVR, 0x1ff);
              break;
          }
          expect(s.pending()).toBeLessThanOrEqual(n);
          for (const a of apics) {
            // A timer that counts in one-shot/periodic mode reads a count <= its initial count.
            expect(a.readRegister(TMCCT)).toBeLessThanOrEqual(a.readRegister(TMICT));
          }
        });
        // Stop every timer: nothing may stay queued.
        for (const a of apics) {
          a.writeRegister(TMICT, 0);
          a.writeMsr(MSR_TSC_DEADLINE, 0n);
        }
        expect(s.pending()).toBe(0);
      }),
      { numRuns: RUNS },
    );
  });

  it('1000 re-arms and mode switches on one timer leave at most one pending event', () => {
    const r = rig({ minTimerPeriodNs: 10 });
    for (let i = 0; i < 1000; i++) {
      r.lvt([ONE_SHOT, PERIODIC, TSC_DEADLINE][i % 3]! | VEC);
      r.icr(1 + (i % 17));
      r.lapic.writeMsr(MSR_TSC_DEADLINE, BigInt(r.s.now() + 5 + (i % 7)));
      r.dcr(i % 16);
      expect(r.s.pending()).toBeLessThanOrEqual(1);
      r.s.runUntil(r.s.now() + (i % 5));
      expect(r.s.pending()).toBeLessThanOrEqual(1);
    }
  });
});
