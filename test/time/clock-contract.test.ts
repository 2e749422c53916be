/**
 * The Clock contract (docs/scheduler.md "The Clock contract", Clock typedoc), one test per rule,
 * run against the Scheduler and against a HostClock over one.
 */
import { describe, expect, it } from 'vitest';
import type { Clock } from '../../src/time/clock.js';
import { HostClock } from '../../src/time/host-clock.js';
import { Scheduler } from '../../src/time/scheduler.js';

interface Rig {
  clock: Clock;
  /** Advances the clock to `ns`, running what is due. */
  run(ns: number): void;
}

const rigs: Array<[string, () => Rig]> = [
  [
    'Scheduler',
    () => {
      const s = new Scheduler();
      return { clock: s, run: (ns) => s.runUntil(ns) };
    },
  ],
  [
    'HostClock',
    () => {
      const h = { t: 0 };
      const c = new HostClock({ read: () => h.t, unit: 'ns' });
      return {
        clock: c,
        run: (ns) => {
          h.t = ns;
          c.sync();
        },
      };
    },
  ],
];

describe.each(rigs)('Clock contract: %s', (_name, make) => {
  it('now() inside a callback is the callback\'s scheduled time, even when the clock runs past it', () => {
    const { clock, run } = make();
    const seen: number[] = [];
    clock.schedule(100, () => seen.push(clock.now()));
    clock.schedule(250, () => seen.push(clock.now()));
    run(1_000);
    expect(seen).toEqual([100, 250]);
    expect(clock.now()).toBe(1_000);
  });

  it('callbacks due at the same time run in the order they were scheduled', () => {
    const { clock, run } = make();
    const order: string[] = [];
    for (const name of ['a', 'b', 'c']) clock.schedule(500, () => order.push(name));
    clock.schedule(400, () => order.push('first'));
    run(500);
    expect(order).toEqual(['first', 'a', 'b', 'c']);
  });

  it('a callback may schedule; an event it schedules at its own time runs after the events already due then', () => {
    const { clock, run } = make();
    const order: string[] = [];
    clock.schedule(10, () => {
      order.push('a');
      clock.schedule(10, () => order.push('a2'));
      clock.schedule(20, () => order.push('a3'));
    });
    clock.schedule(10, () => order.push('b'));
    run(20);
    expect(order).toEqual(['a', 'b', 'a2', 'a3']);
  });

  it('a callback may cancel another pending event: it does not run', () => {
    const { clock, run } = make();
    const order: string[] = [];
    let victim = 0;
    clock.schedule(10, () => {
      order.push('a');
      clock.cancel(victim);
    });
    victim = clock.schedule(10, () => order.push('victim'));
    clock.schedule(30, () => order.push('c'));
    run(100);
    expect(order).toEqual(['a', 'c']);
  });

  it('cancelling its own id inside its callback is a no-op (the event is already gone)', () => {
    const { clock, run } = make();
    const order: string[] = [];
    let self = 0;
    self = clock.schedule(10, () => {
      order.push('self');
      clock.cancel(self);
      clock.schedule(20, () => order.push('next'));
    });
    run(100);
    expect(order).toEqual(['self', 'next']);
  });

  it('scheduling in the past is host misuse (RangeError), inside a callback too', () => {
    const { clock, run } = make();
    run(50);
    expect(() => clock.schedule(49, () => {})).toThrow(RangeError);
    let inner: unknown;
    clock.schedule(60, () => {
      try {
        clock.schedule(59, () => {});
      } catch (e) {
        inner = e;
      }
    });
    run(70);
    expect(inner).toBeInstanceOf(RangeError);
  });
});

describe('Scheduler: running the queue from inside a callback', () => {
  it('runUntil, step and advanceTo inside a callback throw, and the queue stays usable', () => {
    const s = new Scheduler();
    const errors: string[] = [];
    s.schedule(10, () => {
      for (const f of [() => s.runUntil(20), () => s.step(), () => s.advanceTo(10)]) {
        try {
          f();
        } catch (e) {
          errors.push((e as Error).message);
        }
      }
    });
    const later: number[] = [];
    s.schedule(30, () => later.push(s.now()));
    s.runUntil(100);
    expect(errors).toHaveLength(3);
    expect(errors[0]).toMatch(/runUntil\(\) called from inside a scheduler callback/);
    expect(later).toEqual([30]);
  });

  it('an exception thrown by a callback propagates; the event is gone and the queue goes on', () => {
    const s = new Scheduler();
    s.schedule(10, () => {
      throw new Error('boom');
    });
    const ran: number[] = [];
    s.schedule(20, () => ran.push(s.now()));
    expect(() => s.runUntil(100)).toThrow('boom');
    expect(s.now()).toBe(10);
    expect(s.inCallback).toBe(false);
    s.runUntil(100);
    expect(ran).toEqual([20]);
  });
});
