/**
 * The Scheduler's slot pool, id scheme and lazy pop (src/time/scheduler.ts) against a plain
 * reference model: a list ordered by (time, insertion). Deterministic pseudo-random workloads mix
 * schedules (with many ties), cancels of live, stale and invalid ids, callbacks that re-arm
 * themselves (as periodic timers do), schedule several events, cancel others, throw, or step the
 * scheduler re-entrantly, and enough long-lived events to force id skipping and pool growth.
 */
import { describe, expect, it } from 'vitest';
import { Scheduler } from '../../src/time/scheduler.js';

interface RefEvent {
  time: number;
  seq: number;
  id: number;
  label: number;
}

function lcg(seed: number): (m: number) => number {
  let x = seed >>> 0;
  return (m) => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return (x >>> 8) % m;
  };
}

/** Runs one workload on the Scheduler and on the reference model and compares every step. */
function workload(seed: number, steps: number): void {
  const rnd = lcg(seed);
  const s = new Scheduler();
  const ref: RefEvent[] = [];
  let seq = 0;
  const ran: number[] = [];
  const expected: number[] = [];
  const allIds: number[] = [];
  let label = 0;
  let lastId = 0;

  const refPop = (): RefEvent | undefined => {
    let best = -1;
    for (let i = 0; i < ref.length; i++) {
      const e = ref[i]!;
      if (best < 0 || e.time < ref[best]!.time || (e.time === ref[best]!.time && e.seq < ref[best]!.seq)) best = i;
    }
    return best < 0 ? undefined : ref.splice(best, 1)[0];
  };

  // What a callback does, decided when it is scheduled (so the model knows it too).
  type Action = { kind: 'none' } | { kind: 'rearm'; period: number } | { kind: 'spawn'; count: number } | { kind: 'cancel' } | { kind: 'throw' };
  const actions = new Map<number, Action>();

  const schedule = (at: number): number => {
    const l = label++;
    const r = rnd(20);
    const action: Action =
      r < 6 ? { kind: 'rearm', period: rnd(50) } : r < 8 ? { kind: 'spawn', count: 1 + rnd(3) } : r < 10 ? { kind: 'cancel' } : r < 11 ? { kind: 'throw' } : { kind: 'none' };
    actions.set(l, action);
    const id = s.schedule(at, () => {
      ran.push(l);
      const a = actions.get(l)!;
      if (a.kind === 'rearm') schedule(s.now() + a.period);
      else if (a.kind === 'spawn') for (let k = 0; k < a.count; k++) schedule(s.now() + rnd(30));
      else if (a.kind === 'cancel') cancel(allIds[rnd(allIds.length)]!);
      else if (a.kind === 'throw') throw new Error(`boom ${l}`);
    });
    expect(Number.isInteger(id) && id > lastId).toBe(true); // increasing, never reused
    lastId = id;
    allIds.push(id);
    ref.push({ time: at, seq: seq++, id, label: l });
    return id;
  };
  const cancel = (id: number): void => {
    s.cancel(id);
    const i = ref.findIndex((e) => e.id === id);
    if (i >= 0) ref.splice(i, 1);
  };
  // The reference run of one step: pop, then apply the callback's effect on the model (the real
  // callback above applies it to both, so here we only need the order).
  const step = (): void => {
    const e = refPop();
    let threw = false;
    try {
      const did = s.step();
      expect(did).toBe(e !== undefined);
    } catch (err) {
      threw = true;
      expect(String(err)).toMatch(/boom/);
    }
    if (e !== undefined) {
      expected.push(e.label);
      expect(s.now()).toBe(e.time);
      expect(threw).toBe(actions.get(e.label)!.kind === 'throw');
    }
  };

  // Long-lived events far in the future occupy slots while the id counter wraps the pool.
  for (let i = 0; i < 40; i++) schedule(1_000_000 + rnd(1000));
  for (let i = 0; i < steps; i++) {
    const op = rnd(10);
    if (op < 4) schedule(s.now() + rnd(40));
    else if (op < 5) cancel(allIds[rnd(allIds.length)]!);
    else if (op < 6) s.cancel([0, -1, 1.5, Number.NaN, lastId + 1000][rnd(5)]!); // never a live id
    else step();
    expect(s.pending()).toBe(ref.length);
    const next = ref.length === 0 ? undefined : Math.min(...ref.map((e) => e.time));
    expect(s.nextEventTime()).toBe(next);
  }
  while (ref.length > 0 && s.now() < 900_000) step();
  expect(ran).toEqual(expected);
}

describe('Scheduler pool and ids (model-based)', () => {
  it.each([1, 2, 3, 4, 5, 6, 7, 8])('workload with seed %i matches the reference model', (seed) => {
    workload(seed, 3000);
  });

  it('grows past its initial capacity with many pending events and keeps their order', () => {
    const s = new Scheduler();
    const ran: number[] = [];
    for (let i = 0; i < 5000; i++) s.schedule(5000 - (i % 100), () => ran.push(i));
    expect(s.pending()).toBe(5000);
    s.runUntil(10_000);
    const order = [...Array(5000).keys()].sort((a, b) => 5000 - (a % 100) - (5000 - (b % 100)) || a - b);
    expect(ran).toEqual(order);
  });

  it('a callback that re-arms itself and cancels a later event sees a consistent queue', () => {
    const s = new Scheduler();
    const log: string[] = [];
    let later = 0;
    let count = 0;
    const tick = (): void => {
      log.push(`tick@${s.now()} pending=${s.pending()}`);
      if (++count < 3) s.schedule(s.now() + 10, tick);
      if (count === 2) s.cancel(later);
    };
    s.schedule(10, tick);
    later = s.schedule(25, () => log.push('later'));
    s.schedule(15, () => log.push(`mid@${s.now()} next=${s.nextEventTime()}`));
    s.runUntil(100);
    expect(log).toEqual(['tick@10 pending=2', 'mid@15 next=20', 'tick@20 pending=1', 'tick@30 pending=0']);
  });

  it('an id stays cancellable only while its event is pending, even after the pool grows', () => {
    const s = new Scheduler();
    const first = s.schedule(1_000, () => {});
    const ids: number[] = [];
    for (let i = 0; i < 300; i++) ids.push(s.schedule(10 + i, () => {}));
    s.runUntil(500);
    for (const id of ids) s.cancel(id); // all ran: no-ops
    expect(s.pending()).toBe(1);
    s.cancel(first);
    expect(s.pending()).toBe(0);
  });
});
