/**
 * Trace.onEvent and Trace.recorded: what lets the command keep a small ring and still report
 * every event (src/cli/main.ts, docs/cli.md).
 */
import { describe, expect, it } from 'vitest';
import { Trace, type TraceEvent } from '../../src/trace/trace.js';

function fill(t: Trace, n: number): void {
  for (let i = 0; i < n; i++) t.add(i * 10, i % 2, i % 7 === 0 ? 'lost' : 'request', 0x40 + (i % 3));
}

describe('Trace.onEvent', () => {
  it('sees every event as it is recorded, including the ones a ring later drops', () => {
    const ring = new Trace({ limit: 4 });
    const seen: TraceEvent[] = [];
    ring.onEvent = (e) => void seen.push(e);
    fill(ring, 20);
    expect(seen.map((e) => e.timeNs)).toEqual(Array.from({ length: 20 }, (_, i) => i * 10));
    expect(seen.filter((e) => e.kind === 'lost').map((e) => e.timeNs)).toEqual([0, 70, 140]);
    expect(ring.events().map((e) => e.timeNs)).toEqual([160, 170, 180, 190]);
  });

  it('is not called while the trace is disabled', () => {
    const t = new Trace();
    let calls = 0;
    t.onEvent = () => void calls++;
    t.enabled = false;
    fill(t, 5);
    expect([calls, t.recorded]).toEqual([0, 0]);
  });
});

describe('Trace.recorded', () => {
  it('counts every event recorded, held or dropped: the length of the same trace without a limit', () => {
    const ring = new Trace({ limit: 4 });
    const whole = new Trace();
    fill(ring, 20);
    fill(whole, 20);
    expect([ring.length, ring.dropped, ring.recorded]).toEqual([4, 16, 20]);
    expect([whole.length, whole.dropped, whole.recorded]).toEqual([20, 0, 20]);
    expect(ring.hash()).toBe(whole.hash());
  });
});
