import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_TIME_NS, Scheduler } from '../../src/time/scheduler.js';
import type { Clock } from '../../src/time/clock.js';
import { propertyRuns } from '../fuzz/config.js';

const RUNS = propertyRuns(100);

/** A scheduler plus a log of "label@time" entries written by the callbacks it runs. */
function logged(): { s: Scheduler; log: string[]; at: (t: number, label: string) => number } {
  const s = new Scheduler();
  const log: string[] = [];
  const at = (t: number, label: string): number => s.schedule(t, () => log.push(`${label}@${s.now()}`));
  return { s, log, at };
}

describe('Scheduler: time', () => {
  it('starts at time 0 with nothing pending', () => {
    const s = new Scheduler();
    expect(s.now()).toBe(0);
    expect(s.pending()).toBe(0);
    expect(s.nextEventTime()).toBeUndefined();
  });

  it('implements the Clock interface', () => {
    const c: Clock = new Scheduler();
    const id = c.schedule(5, () => {});
    expect(Number.isInteger(id) && id > 0).toBe(true);
    c.cancel(id);
    expect(c.now()).toBe(0);
  });

  it('runUntil sets now to the bound even with an empty queue', () => {
    const s = new Scheduler();
    s.runUntil(1234);
    expect(s.now()).toBe(1234);
    s.runUntil(1234); // same time again is allowed
    expect(s.now()).toBe(1234);
  });

  it('runUntil sets now to the bound after running earlier events, not to the last event time', () => {
    const { s, log, at } = logged();
    at(10, 'a');
    s.runUntil(50);
    expect(log).toEqual(['a@10']);
    expect(s.now()).toBe(50);
  });

  it('runUntil runs events due exactly at the bound but not after it', () => {
    const { s, log, at } = logged();
    at(100, 'at-bound');
    at(101, 'after');
    s.runUntil(100);
    expect(log).toEqual(['at-bound@100']);
    expect(s.pending()).toBe(1);
    expect(s.nextEventTime()).toBe(101);
  });

  it('step runs exactly one event and moves now to its time', () => {
    const { s, log, at } = logged();
    at(30, 'b');
    at(20, 'a');
    expect(s.step()).toBe(true);
    expect(log).toEqual(['a@20']);
    expect(s.now()).toBe(20);
    expect(s.pending()).toBe(1);
    expect(s.step()).toBe(true);
    expect(s.now()).toBe(30);
  });

  it('step on an empty queue returns false and leaves now alone', () => {
    const s = new Scheduler();
    s.runUntil(7);
    expect(s.step()).toBe(false);
    expect(s.now()).toBe(7);
  });

  it('accepts an event at the current time and at MAX_TIME_NS', () => {
    const { s, log, at } = logged();
    s.runUntil(40);
    at(40, 'now');
    at(MAX_TIME_NS, 'max');
    expect(MAX_TIME_NS).toBe(2 ** 53 - 1);
    s.runUntil(40);
    expect(log).toEqual(['now@40']);
    expect(s.nextEventTime()).toBe(MAX_TIME_NS);
  });

  it('advanceTo moves time without running anything when no event is due earlier', () => {
    const { s, log, at } = logged();
    at(100, 'a');
    s.advanceTo(100); // an event exactly at the target is allowed
    expect(s.now()).toBe(100);
    expect(log).toEqual([]);
    expect(s.pending()).toBe(1);
  });

  it('advanceTo refuses to jump over a due event, naming the argument, and changes nothing', () => {
    const { s, at } = logged();
    at(100, 'a');
    expect(() => s.advanceTo(101)).toThrow(RangeError);
    expect(() => s.advanceTo(101)).toThrow(/ns/);
    expect(s.now()).toBe(0);
    expect(s.pending()).toBe(1);
  });
});

describe('Scheduler: ordering', () => {
  it('runs events in time order regardless of the scheduling order', () => {
    const { s, log, at } = logged();
    at(50, 'e');
    at(10, 'a');
    at(40, 'd');
    at(20, 'b');
    at(30, 'c');
    s.runUntil(100);
    expect(log).toEqual(['a@10', 'b@20', 'c@30', 'd@40', 'e@50']);
  });

  it('breaks ties at the same nanosecond by insertion order', () => {
    const { s, log, at } = logged();
    for (let i = 0; i < 20; i++) at(7, `e${i}`);
    s.runUntil(7);
    expect(log).toEqual(Array.from({ length: 20 }, (_, i) => `e${i}@7`));
  });

  it('keeps insertion order for ties after cancels reshuffle the heap', () => {
    const { s, log, at } = logged();
    const ids: number[] = [];
    // Interleave two times so that ties sit in different subtrees of the heap.
    for (let i = 0; i < 16; i++) ids.push(at(i % 2 === 0 ? 5 : 3, `e${i}`));
    // Cancel the root and a few interior entries.
    for (const i of [1, 0, 6, 9, 14]) s.cancel(ids[i]!);
    for (let i = 16; i < 20; i++) at(i % 2 === 0 ? 5 : 3, `e${i}`);
    s.runUntil(10);
    expect(log).toEqual([
      'e3@3', 'e5@3', 'e7@3', 'e11@3', 'e13@3', 'e15@3', 'e17@3', 'e19@3',
      'e2@5', 'e4@5', 'e8@5', 'e10@5', 'e12@5', 'e16@5', 'e18@5',
    ]);
  });

  it('runs events that callbacks schedule at the current time in the same runUntil, after the ones already queued', () => {
    const { s, log, at } = logged();
    s.schedule(10, () => {
      log.push(`a@${s.now()}`);
      at(10, 'child');
    });
    at(10, 'b');
    s.runUntil(10);
    expect(log).toEqual(['a@10', 'b@10', 'child@10']);
  });

  it('runs events that callbacks schedule before the bound in the same runUntil, in time order', () => {
    const { s, log, at } = logged();
    s.schedule(10, () => {
      log.push(`a@${s.now()}`);
      at(25, 'child25');
      at(15, 'child15');
      at(31, 'late'); // after the bound: stays queued
    });
    at(20, 'b');
    s.runUntil(30);
    expect(log).toEqual(['a@10', 'child15@15', 'b@20', 'child25@25']);
    expect(s.pending()).toBe(1);
    expect(s.now()).toBe(30);
  });

  it('a callback sees now() equal to its own scheduled time', () => {
    const s = new Scheduler();
    const seen: number[] = [];
    for (const t of [3, 1, 2]) s.schedule(t, () => seen.push(s.now()));
    s.runUntil(100);
    expect(seen).toEqual([1, 2, 3]);
  });

  it('a chain of self-rescheduling callbacks runs every link up to the bound', () => {
    const s = new Scheduler();
    const times: number[] = [];
    const tick = (): void => {
      times.push(s.now());
      s.schedule(s.now() + 100, tick);
    };
    s.schedule(0, tick);
    s.runUntil(450);
    expect(times).toEqual([0, 100, 200, 300, 400]);
    expect(s.pending()).toBe(1);
    expect(s.nextEventTime()).toBe(500);
  });
});

describe('Scheduler: cancel and pending', () => {
  it('pending counts scheduled, cancelled and run events', () => {
    const s = new Scheduler();
    const a = s.schedule(1, () => {});
    s.schedule(2, () => {});
    s.schedule(3, () => {});
    expect(s.pending()).toBe(3);
    s.cancel(a);
    expect(s.pending()).toBe(2);
    s.step();
    expect(s.pending()).toBe(1);
    s.runUntil(10);
    expect(s.pending()).toBe(0);
  });

  it('cancel removes exactly that event', () => {
    const { s, log, at } = logged();
    at(1, 'a');
    const b = at(2, 'b');
    at(2, 'b2');
    at(3, 'c');
    s.cancel(b);
    s.runUntil(10);
    expect(log).toEqual(['a@1', 'b2@2', 'c@3']);
  });

  it('cancel of the earliest event updates nextEventTime', () => {
    const { s, at } = logged();
    const a = at(5, 'a');
    at(9, 'b');
    expect(s.nextEventTime()).toBe(5);
    s.cancel(a);
    expect(s.nextEventTime()).toBe(9);
  });

  it('cancel of an already-run, already-cancelled or unknown id is a no-op', () => {
    const { s, log, at } = logged();
    const a = at(1, 'a');
    const b = at(2, 'b');
    at(3, 'c');
    s.step(); // runs a
    s.cancel(a); // already ran
    s.cancel(b);
    s.cancel(b); // already cancelled
    s.cancel(0);
    s.cancel(-1);
    s.cancel(999_999);
    s.cancel(1.5);
    expect(s.pending()).toBe(1);
    s.runUntil(10);
    expect(log).toEqual(['a@1', 'c@3']);
  });

  it('a callback cancelling its own id is a no-op, cancelling a later one removes it', () => {
    const { s, log, at } = logged();
    let selfId = 0;
    let laterId = 0;
    selfId = s.schedule(1, () => {
      log.push('self');
      s.cancel(selfId);
      s.cancel(laterId);
    });
    laterId = at(2, 'later');
    at(3, 'kept');
    s.runUntil(5);
    expect(log).toEqual(['self', 'kept@3']);
    expect(s.pending()).toBe(0);
  });

  it('ids are distinct positive integers', () => {
    const s = new Scheduler();
    const ids = new Set<number>();
    for (let i = 0; i < 100; i++) {
      const id = s.schedule(i % 7, () => {});
      expect(Number.isInteger(id) && id > 0).toBe(true);
      ids.add(id);
      if (i % 3 === 0) s.cancel(id);
    }
    expect(ids.size).toBe(100);
  });

  it('a large shuffled workload with many interior cancels runs the survivors in (time, insertion) order', () => {
    // A fixed linear congruential sequence gives a deterministic "random" workload.
    let x = 12345;
    const next = (m: number): number => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      return (x >>> 8) % m;
    };
    const s = new Scheduler();
    const ran: number[] = [];
    const times: number[] = [];
    const ids: number[] = [];
    for (let i = 0; i < 3000; i++) {
      times.push(next(500));
      ids.push(s.schedule(times[i]!, () => ran.push(i)));
    }
    const cancelled = new Set<number>();
    for (let k = 0; k < 1500; k++) {
      const i = next(3000);
      cancelled.add(i);
      s.cancel(ids[i]!);
    }
    expect(s.pending()).toBe(3000 - cancelled.size);
    s.runUntil(500);
    const expected = times
      .map((t, i) => ({ t, i }))
      .filter((e) => !cancelled.has(e.i))
      .sort((a, b) => a.t - b.t || a.i - b.i)
      .map((e) => e.i);
    expect(ran).toEqual(expected);
  });

  it('cancelling many events keeps the queue size equal to the live count (no tombstones)', () => {
    const s = new Scheduler();
    for (let round = 0; round < 1000; round++) {
      const id = s.schedule(1_000_000 + round, () => {});
      s.cancel(id);
    }
    expect(s.pending()).toBe(0);
    expect(s.nextEventTime()).toBeUndefined();
  });
});

describe('Scheduler: host misuse', () => {
  it('schedule rejects a time in the past with a RangeError naming atNs, and changes nothing', () => {
    const s = new Scheduler();
    s.runUntil(100);
    expect(() => s.schedule(99, () => {})).toThrow(RangeError);
    expect(() => s.schedule(99, () => {})).toThrow(/atNs/);
    expect(s.pending()).toBe(0);
  });

  it.each([
    ['a fraction', 1.5],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity', Number.NEGATIVE_INFINITY],
    ['a negative number', -1],
    ['beyond 2^53 - 1', 2 ** 53],
  ])('schedule rejects %s with a RangeError naming atNs', (_name, t) => {
    const s = new Scheduler();
    expect(() => s.schedule(t, () => {})).toThrow(RangeError);
    expect(() => s.schedule(t, () => {})).toThrow(/atNs/);
    expect(s.pending()).toBe(0);
  });

  it('schedule rejects a non-number time with a TypeError', () => {
    const s = new Scheduler();
    expect(() => s.schedule('5' as unknown as number, () => {})).toThrow(TypeError);
    expect(() => s.schedule(5n as unknown as number, () => {})).toThrow(TypeError);
    expect(s.pending()).toBe(0);
  });

  it.each([
    ['undefined', undefined],
    ['null', null],
    ['a number', 42],
    ['an object', {}],
  ])('schedule rejects %s as callback with a TypeError naming fn', (_name, fn) => {
    const s = new Scheduler();
    expect(() => s.schedule(1, fn as unknown as () => void)).toThrow(TypeError);
    expect(() => s.schedule(1, fn as unknown as () => void)).toThrow(/fn/);
    expect(s.pending()).toBe(0);
  });

  it.each([
    ['the past', 9],
    ['a fraction', 10.5],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
  ])('runUntil rejects %s with a RangeError naming ns and changes nothing', (_name, t) => {
    const { s, log, at } = logged();
    s.runUntil(10);
    at(12, 'a');
    expect(() => s.runUntil(t)).toThrow(RangeError);
    expect(() => s.runUntil(t)).toThrow(/\bns\b/);
    expect(s.now()).toBe(10);
    expect(log).toEqual([]);
  });

  it.each([
    ['the past', 9],
    ['a fraction', 10.5],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
  ])('advanceTo rejects %s with a RangeError naming ns', (_name, t) => {
    const s = new Scheduler();
    s.runUntil(10);
    expect(() => s.advanceTo(t)).toThrow(RangeError);
    expect(() => s.advanceTo(t)).toThrow(/\bns\b/);
    expect(s.now()).toBe(10);
  });
});

// ---------------------------------------------------------------------------------------------
// Property: random interleavings against a reference model.

type Op =
  | { kind: 'schedule'; delta: number }
  | { kind: 'cancel'; pick: number }
  | { kind: 'step' }
  | { kind: 'runUntil'; delta: number }
  | { kind: 'nested'; delta: number; childDelta: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('schedule' as const), delta: fc.integer({ min: 0, max: 20 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('cancel' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('step' as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('runUntil' as const), delta: fc.integer({ min: 0, max: 15 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('nested' as const),
      delta: fc.integer({ min: 0, max: 20 }),
      childDelta: fc.integer({ min: 0, max: 10 }),
    }),
  },
);

interface RefEvent {
  time: number;
  seq: number;
  label: number;
  childDelta: number; // -1: no child
}

/**
 * The reference: a plain array kept sorted by (time, seq); the earliest is always at index 0.
 * A "nested" event schedules a child at its own time + childDelta when it runs.
 */
class Reference {
  now = 0;
  private seq = 0;
  private queue: RefEvent[] = [];
  readonly log: string[] = [];

  add(time: number, label: number, childDelta: number): RefEvent {
    const e = { time, seq: this.seq++, label, childDelta };
    this.queue.push(e);
    this.queue.sort((a, b) => a.time - b.time || a.seq - b.seq);
    return e;
  }
  remove(e: RefEvent): void {
    const i = this.queue.indexOf(e);
    if (i >= 0) this.queue.splice(i, 1);
  }
  has(e: RefEvent): boolean {
    return this.queue.includes(e);
  }
  pending(): number {
    return this.queue.length;
  }
  step(): boolean {
    const e = this.queue.shift();
    if (e === undefined) return false;
    this.now = e.time;
    this.log.push(`${e.label}@${e.time}`);
    if (e.childDelta >= 0) this.add(e.time + e.childDelta, e.label + 100_000, -1);
    return true;
  }
  runUntil(t: number): void {
    while (this.queue.length > 0 && this.queue[0]!.time <= t) this.step();
    this.now = t;
  }
}

/** Drives a real Scheduler with the ops; returns its execution log and final state. */
function runScheduler(ops: readonly Op[]): { log: string[]; now: number; pending: number; steps: boolean[] } {
  const s = new Scheduler();
  const log: string[] = [];
  const live: number[] = [];
  const steps: boolean[] = [];
  let label = 0;
  for (const op of ops) {
    switch (op.kind) {
      case 'schedule':
      case 'nested': {
        const l = label++;
        const child = op.kind === 'nested' ? op.childDelta : -1;
        live.push(
          s.schedule(s.now() + op.delta, () => {
            log.push(`${l}@${s.now()}`);
            if (child >= 0) s.schedule(s.now() + child, () => log.push(`${l + 100_000}@${s.now()}`));
          }),
        );
        break;
      }
      case 'cancel':
        if (live.length > 0) s.cancel(live[op.pick % live.length]!);
        break;
      case 'step':
        steps.push(s.step());
        break;
      case 'runUntil':
        s.runUntil(s.now() + op.delta);
        break;
    }
  }
  s.runUntil(s.now() + 1000);
  return { log, now: s.now(), pending: s.pending(), steps };
}

describe('Scheduler: properties', () => {
  it('random interleavings of schedule/cancel/step/runUntil run exactly the live events in (time, insertion) order', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 120 }), (ops) => {
        const s = new Scheduler();
        const ref = new Reference();
        const log: string[] = [];
        const ids: number[] = [];
        const refs: RefEvent[] = [];
        let label = 0;
        for (const op of ops) {
          switch (op.kind) {
            case 'schedule':
            case 'nested': {
              const l = label++;
              const child = op.kind === 'nested' ? op.childDelta : -1;
              const t = s.now() + op.delta;
              ids.push(
                s.schedule(t, () => {
                  log.push(`${l}@${s.now()}`);
                  if (child >= 0) s.schedule(s.now() + child, () => log.push(`${l + 100_000}@${s.now()}`));
                }),
              );
              refs.push(ref.add(t, l, child));
              break;
            }
            case 'cancel':
              if (ids.length > 0) {
                const i = op.pick % ids.length;
                s.cancel(ids[i]!);
                ref.remove(refs[i]!);
              }
              break;
            case 'step':
              expect(s.step()).toBe(ref.step());
              break;
            case 'runUntil':
              s.runUntil(s.now() + op.delta);
              ref.runUntil(ref.now + op.delta);
              break;
          }
          expect(s.now()).toBe(ref.now);
          expect(s.pending()).toBe(ref.pending());
          expect(log).toEqual(ref.log);
        }
        const end = s.now() + 1000;
        s.runUntil(end);
        ref.runUntil(end);
        expect(log).toEqual(ref.log);
        expect(s.pending()).toBe(0);
        expect(s.now()).toBe(end);
      }),
      { numRuns: RUNS },
    );
  });

  it('is deterministic: two schedulers fed the same ops produce the same execution log', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 120 }), (ops) => {
        const a = runScheduler(ops);
        const b = runScheduler(ops);
        expect(b).toEqual(a);
      }),
      { numRuns: RUNS },
    );
  });

  it('the execution log is sorted by time and every non-cancelled event runs exactly once', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ t: fc.integer({ min: 0, max: 50 }), cancel: fc.boolean() }), { maxLength: 200 }),
        (specs) => {
          const s = new Scheduler();
          const ran: number[] = [];
          const ids = specs.map((sp, i) => s.schedule(sp.t, () => ran.push(i)));
          specs.forEach((sp, i) => {
            if (sp.cancel) s.cancel(ids[i]!);
          });
          s.runUntil(50);
          const expected = specs
            .map((sp, i) => ({ ...sp, i }))
            .filter((sp) => !sp.cancel)
            .sort((x, y) => x.t - y.t || x.i - y.i)
            .map((sp) => sp.i);
          expect(ran).toEqual(expected);
        },
      ),
      { numRuns: RUNS },
    );
  });
});
