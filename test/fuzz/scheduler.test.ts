/**
 * Surface under every timed device: the Scheduler. Random schedule / cancel / step / runUntil
 * sequences, including callbacks that schedule and cancel from inside, against a plain
 * sorted-list model: same callbacks in the same order (time, then insertion order), same
 * now(), pending() and nextEventTime(), and a cancelled, already-run or unknown id is a no-op.
 */
import fc from 'fast-check';
import { describe, expect } from 'vitest';
import { Scheduler } from '../../src/time/scheduler.js';
import { sequence } from './arbitraries.js';
import { fuzz } from './config.js';

type Op =
  | { k: 'schedule'; dt: number; nested: { dt: number; cancel: number } | null }
  | { k: 'cancel'; pick: number }
  | { k: 'step' }
  | { k: 'run'; dt: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      k: fc.constant('schedule' as const),
      dt: fc.oneof(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 1000 })),
      nested: fc.option(fc.record({ dt: fc.integer({ min: 0, max: 5 }), cancel: fc.integer({ min: -1, max: 200 }) }), { freq: 3 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('cancel' as const), pick: fc.integer({ min: -2, max: 200 }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('step' as const) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('run' as const), dt: fc.integer({ min: 0, max: 300 }) }) },
);

interface ModelEvent {
  id: number;
  at: number;
  seq: number;
  tag: number;
  nested: { dt: number; cancel: number } | null;
}

/** The obvious scheduler: an array, scanned for the minimum (time, insertion order). */
class Model {
  now = 0;
  private seq = 0;
  events: ModelEvent[] = [];
  add(id: number, at: number, tag: number, nested: ModelEvent['nested']): void {
    this.events.push({ id, at, seq: this.seq++, tag, nested });
  }
  cancel(id: number): void {
    this.events = this.events.filter((e) => e.id !== id);
  }
  next(): ModelEvent | undefined {
    let best: ModelEvent | undefined;
    for (const e of this.events) if (!best || e.at < best.at || (e.at === best.at && e.seq < best.seq)) best = e;
    return best;
  }
  take(): ModelEvent | undefined {
    const e = this.next();
    if (e) {
      this.cancel(e.id);
      this.now = e.at;
    }
    return e;
  }
}

describe('fuzz: Scheduler', () => {
  fuzz('scheduler matches a sorted-list model under schedule, cancel, step and runUntil', () =>
    fc.property(sequence(opArb, 120), (ops) => {
      const s = new Scheduler();
      const m = new Model();
      const ids: number[] = []; // every id the real scheduler returned, in order
      const ran: number[] = []; // tags of the real callbacks, in the order they ran
      const expected: number[] = []; // tags of the model's events, in the order they ran
      let nextTag = 0;
      // Events scheduled from inside real callbacks, in order: the model replays the same
      // schedules in the same order (or the order check fails), so it takes ids and tags from here.
      const nestedLog: Array<{ id: number; tag: number; cancelled: number | undefined }> = [];

      const callback = (tag: number, nested: ModelEvent['nested']) => (): void => {
        ran.push(tag);
        if (!nested) return;
        const innerTag = nextTag++;
        const id = s.schedule(s.now() + nested.dt, () => ran.push(innerTag));
        ids.push(id);
        const target = ids[nested.cancel];
        if (target !== undefined) s.cancel(target);
        nestedLog.push({ id, tag: innerTag, cancelled: target });
      };

      const modelRun = (e: ModelEvent): void => {
        expected.push(e.tag);
        if (!e.nested) return;
        const inner = nestedLog.shift();
        expect(inner, 'the real scheduler ran a different callback').toBeDefined();
        m.add(inner!.id, m.now + e.nested.dt, inner!.tag, null);
        // The id the real callback resolved its cancel index to at that moment.
        if (inner!.cancelled !== undefined) m.cancel(inner!.cancelled);
      };

      for (const op of ops) {
        switch (op.k) {
          case 'schedule': {
            const tag = nextTag++;
            const id = s.schedule(s.now() + op.dt, callback(tag, op.nested));
            expect(Number.isInteger(id) && id > 0).toBe(true);
            expect(ids).not.toContain(id); // ids are never reused
            ids.push(id);
            m.add(id, m.now + op.dt, tag, op.nested);
            break;
          }
          case 'cancel': {
            const id = op.pick < 0 ? op.pick : (ids[op.pick % Math.max(1, ids.length)] ?? 0x7fff_ffff);
            s.cancel(id);
            m.cancel(id);
            break;
          }
          case 'step': {
            const more = s.step();
            const e = m.take();
            expect(more).toBe(e !== undefined);
            if (e) modelRun(e);
            break;
          }
          case 'run': {
            const until = m.now + op.dt;
            s.runUntil(until);
            for (let e = m.next(); e && e.at <= until; e = m.next()) {
              m.take();
              modelRun(e);
            }
            m.now = until;
            break;
          }
        }
        expect(ran).toEqual(expected);
        expect(nestedLog).toEqual([]);
        expect(s.now()).toBe(m.now);
        expect(s.pending()).toBe(m.events.length);
        expect(s.nextEventTime()).toBe(m.next()?.at);
      }
    }),
  );
});
