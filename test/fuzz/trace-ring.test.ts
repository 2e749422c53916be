/**
 * The trace's ring mode (`new Machine({ traceLimit })`, `new Trace({ limit })`): memory bounded
 * by the limit, and nothing else changes.
 *
 * - The machine behaves identically with and without a limit (same statistics).
 * - The ring holds exactly the last `limit` events of the unbounded trace; `dropped` counts the
 *   rest; `hash()` equals the unbounded trace's hash (dropped events are folded into a prefix).
 * - A snapshot of a ring-mode machine restores the ring, the dropped count and the hash prefix,
 *   and the restored machine continues with the same trace.
 * - The Chrome and SVG exports of a ring (a window that may start inside a handler) never throw.
 * - Restoring a ring-mode trace section that is inconsistent is a SnapshotError.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { StateReader, StateWriter } from '../../src/codec/state.js';
import { SnapshotError } from '../../src/errors.js';
import type { BackendName } from '../../src/inject/backend.js';
import { Machine } from '../../src/machine/machine.js';
import { toSvg } from '../../src/trace/svg.js';
import { Trace } from '../../src/trace/trace.js';
import { RUN_NS, scenario, type Scenario } from '../machine/scenario.js';
import { fuzz } from './config.js';

const BACKENDS: BackendName[] = ['svm-event', 'svm-vintr', 'vmx-event', 'vmx-vid', 'vmx-posted'];

/** test/machine/scenario.ts's buildScenario, with a trace limit. */
function build(backend: BackendName, s: Scenario, traceLimit?: number): Machine {
  const m = new Machine({ cpus: s.cpus, backend, seed: s.seed, costs: { jitter: 0.3 }, ...(traceLimit === undefined ? {} : { traceLimit }) });
  s.programs.forEach((p, cpu) => m.load(cpu, p));
  for (const [at, action] of s.devices) m.at(at, action);
  return m;
}

describe('trace ring mode', () => {
  fuzz(
    'trace ring mode keeps the last events, the full hash and the machine behaviour, and survives snapshots',
    () =>
      fc.property(
        scenario,
        fc.constantFrom(...BACKENDS),
        fc.integer({ min: 1, max: 400 }),
        fc.integer({ min: 0, max: RUN_NS }),
        (s, backend, limit, cut) => {
          const full = build(backend, s);
          full.run(RUN_NS);
          const ring = build(backend, s, limit);
          ring.run(cut);
          const restored = Machine.restore(ring.snapshot());
          expect(restored.trace.dropped).toBe(ring.trace.dropped);
          expect(restored.trace.hash()).toBe(ring.trace.hash());
          ring.run(RUN_NS);
          restored.run(RUN_NS);
          const all = full.trace.events();
          for (const [which, m] of [['ring', ring], ['restored', restored]] as const) {
            expect(m.stats(), which).toEqual(full.stats());
            expect(m.trace.length, which).toBe(Math.min(limit, all.length));
            expect(m.trace.dropped, which).toBe(all.length - m.trace.length);
            expect(m.trace.events()).toEqual(all.slice(all.length - m.trace.length));
            expect(m.trace.hash()).toBe(full.trace.hash());
            expect(() => JSON.stringify(m.trace.toChromeTrace({ endNs: RUN_NS }))).not.toThrow();
            expect(() => toSvg(m.trace, { endNs: RUN_NS })).not.toThrow();
          }
        },
      ),
    { scale: 0.2 },
  );

  fuzz('trace ring of any limit over any events equals the tail of an unbounded trace', () =>
    fc.property(
      fc.integer({ min: 1, max: 50 }),
      fc.array(fc.tuple(fc.nat(1e6), fc.nat(7), fc.constantFrom('request' as const, 'deliver' as const, 'record' as const), fc.integer(), fc.option(fc.string(), { nil: undefined })), { maxLength: 200 }),
      (limit, events) => {
        const full = new Trace();
        const ring = new Trace({ limit });
        for (const [t, cpu, kind, a, label] of events) {
          full.add(t, cpu, kind, a, 0, label);
          ring.add(t, cpu, kind, a, 0, label);
          expect(ring.length).toBeLessThanOrEqual(limit);
        }
        expect(ring.events()).toEqual(full.events().slice(Math.max(0, events.length - limit)));
        expect(ring.dropped).toBe(Math.max(0, events.length - limit));
        expect(ring.hash()).toBe(full.hash());
        expect(ring.filter('record')).toEqual(ring.events().filter((e) => e.kind === 'record'));
      }),
  );

  it('an unbounded trace is saved exactly as before ring mode existed (flag byte 0 or 1, no ring fields)', () => {
    const t = new Trace();
    t.add(5, 1, 'request', 0x41);
    const w = new StateWriter();
    t.saveState(w);
    const bytes = w.finish();
    expect(bytes[0]).toBe(1);
    expect(new DataView(bytes.buffer, bytes.byteOffset).getUint32(1, true)).toBe(1); // the event count follows
  });

  it('inconsistent ring sections are rejected with SnapshotError', () => {
    const saved = (limit: number, n: number): Uint8Array => {
      const t = new Trace({ limit });
      for (let i = 0; i < n; i++) t.add(i, 0, 'request', 0x40 + (i % 8));
      const w = new StateWriter();
      t.saveState(w);
      return w.finish();
    };
    const read = (bytes: Uint8Array, into: Trace): void => {
      const r = new StateReader(bytes, 'trace');
      const apply = into.readState(r);
      r.end();
      apply();
    };
    // A ring section into a trace without a limit.
    expect(() => read(saved(4, 10), new Trace())).toThrow(SnapshotError);
    // More events than the limit.
    expect(() => read(saved(8, 6), new Trace({ limit: 4 }))).toThrow(SnapshotError);
    // A ring that dropped events but is not full: limit 8 dropped 2 of 10; read into limit 12.
    expect(() => read(saved(8, 10), new Trace({ limit: 12 }))).toThrow(/a ring that dropped events holds 12/);
    // Consistent: restores events, dropped count and hash.
    const src = new Trace({ limit: 4 });
    for (let i = 0; i < 10; i++) src.add(i, 0, 'request', 0x40 + (i % 8));
    const dst = new Trace({ limit: 4 });
    const w = new StateWriter();
    src.saveState(w);
    read(w.finish(), dst);
    expect(dst.events()).toEqual(src.events());
    expect(dst.dropped).toBe(6);
    expect(dst.hash()).toBe(src.hash());
  });

  it('a ring-mode Machine keeps memory bounded over a long run: the trace never holds more than the limit', () => {
    const m = new Machine({ cpus: 2, backend: 'vmx-vid', traceLimit: 100 });
    const enable = { op: 'mmio-write', offset: 0xf0, value: 0x1ff } as const;
    m.load(0, { main: [enable, { op: 'sti' }, { op: 'ipi', dest: 1, vector: 0x50 }, { op: 'work', ns: 500 }, { op: 'jump', to: 2 }] });
    m.load(1, { main: [enable, { op: 'sti' }, { op: 'hlt' }, { op: 'jump', to: 2 }] });
    for (let i = 1; i <= 20; i++) {
      m.run(i * 100_000);
      expect(m.trace.length).toBe(100);
    }
    expect(m.trace.dropped).toBeGreaterThan(5000);
    expect(m.stats().cpus[1]!.delivered).toBeGreaterThan(300);
  });
});
