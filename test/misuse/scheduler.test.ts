/** Host misuse of Scheduler: non-integer, past, NaN or infinite times; non-function callbacks. */
import { describe, expect, it } from 'vitest';
import { MAX_TIME_NS, Scheduler } from '../../src/time/scheduler.js';
import { observeScheduler } from '../fuzz/observe.js';
import { BAD_INTEGERS, NOT_NUMBERS, expectRejected } from './helpers.js';

/** A scheduler at t = 1000 with two events queued, and a log of the callbacks that ran. */
function busy(): { s: Scheduler; ran: number[]; observe: () => unknown } {
  const s = new Scheduler();
  const ran: number[] = [];
  s.schedule(500, () => ran.push(500));
  s.runUntil(1000);
  s.schedule(2000, () => ran.push(2000));
  s.schedule(3000, () => ran.push(3000));
  return { s, ran, observe: () => ({ ...observeScheduler(s), ran: [...ran] }) };
}

const TIME = /must be an integer in 1000\.\.9007199254740991/;

describe('Scheduler.schedule(atNs, fn)', () => {
  for (const [label, t] of [...BAD_INTEGERS, ['a time in the past', 999], ['a negative time', -1], ['2^53', 2 ** 53]] as const) {
    it(`rejects ${label} as atNs with a RangeError naming atNs and the range`, () => {
      const { s, observe } = busy();
      expectRejected(observe, () => s.schedule(t, () => {}), RangeError, new RegExp(`^atNs ${TIME.source}`));
    });
  }
  for (const [label, t] of NOT_NUMBERS) {
    it(`rejects ${label} as atNs with a TypeError naming atNs`, () => {
      const { s, observe } = busy();
      expectRejected(observe, () => s.schedule(t as number, () => {}), TypeError, /^atNs must be a number/);
    });
  }
  for (const fn of [undefined, null, 42, 'f', {}]) {
    it(`rejects a callback that is ${String(fn)} with a TypeError naming fn`, () => {
      const { s, observe } = busy();
      expectRejected(observe, () => s.schedule(5000, fn as unknown as () => void), TypeError, /^fn must be a function/);
    });
  }
  it('accepts the edges of the range: now and MAX_TIME_NS', () => {
    const { s } = busy();
    expect(() => s.schedule(1000, () => {})).not.toThrow();
    expect(() => s.schedule(MAX_TIME_NS, () => {})).not.toThrow();
  });
});

describe('Scheduler.runUntil(ns)', () => {
  for (const [label, t] of [...BAD_INTEGERS, ['a time in the past', 999], ['2^53', 2 ** 53]] as const) {
    it(`rejects ${label} with a RangeError naming ns, and runs nothing`, () => {
      const { s, observe } = busy();
      expectRejected(observe, () => s.runUntil(t), RangeError, new RegExp(`^ns ${TIME.source}`));
    });
  }
  for (const [label, t] of NOT_NUMBERS) {
    it(`rejects ${label} with a TypeError naming ns`, () => {
      const { s, observe } = busy();
      expectRejected(observe, () => s.runUntil(t as number), TypeError, /^ns must be a number/);
    });
  }
});

describe('Scheduler.advanceTo(ns)', () => {
  for (const [label, t] of [...BAD_INTEGERS, ['a time in the past', 999]] as const) {
    it(`rejects ${label} with a RangeError naming ns`, () => {
      const { s, observe } = busy();
      expectRejected(observe, () => s.advanceTo(t), RangeError, new RegExp(`^ns ${TIME.source}`));
    });
  }
  it('rejects jumping over a due event with a RangeError naming ns and the next event time', () => {
    const { s, observe } = busy();
    expectRejected(observe, () => s.advanceTo(2001), RangeError, /^ns must be <= the next event time 2000, got 2001/);
  });
  it('rejects a non-number with a TypeError naming ns', () => {
    const { s, observe } = busy();
    expectRejected(observe, () => s.advanceTo('2000' as unknown as number), TypeError, /^ns must be a number/);
  });
});

describe('Scheduler.cancel(id)', () => {
  // The Clock contract makes cancel of an unknown id a no-op (it may have run already), so junk
  // is not an error here: it must simply change nothing.
  for (const id of [0, -1, 1.5, 999, Number.NaN, '1', undefined]) {
    it(`ignores ${String(id)} and changes nothing`, () => {
      const { s, observe } = busy();
      const before = observe();
      expect(() => s.cancel(id as number)).not.toThrow();
      expect(observe()).toEqual(before);
    });
  }
});

describe('Scheduler: a callback that throws', () => {
  it('propagates the error, has already left the queue, and the rest still runs in order', () => {
    const s = new Scheduler();
    const ran: number[] = [];
    s.schedule(10, () => {
      throw new Error('device bug');
    });
    s.schedule(20, () => ran.push(20));
    expect(() => s.runUntil(100)).toThrow('device bug');
    expect(s.now()).toBe(10);
    expect(s.pending()).toBe(1);
    s.runUntil(100);
    expect(ran).toEqual([20]);
  });
});
