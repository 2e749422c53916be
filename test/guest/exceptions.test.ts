import { describe, expect, it } from 'vitest';
import { Machine } from '../../src/index.js';
import { combineExceptions, exceptionClass } from '../../src/guest/exceptions.js';
import type { GuestProgram, Instr } from '../../src/guest/program.js';

/** One representative vector per class of SDM Table "Conditions for Generating a Double Fault". */
const REP = { benign: 6 /* #UD */, contributory: 13 /* #GP */, 'page-fault': 14 /* #PF */, 'double-fault': 8 /* #DF */ } as const;
type Cls = keyof typeof REP;

/**
 * The SDM table, written out: the first exception's class (rows) against the second's (columns).
 * 'second' = handled serially (the second exception's handler runs), 'DF' = #DF, 'triple' = shutdown.
 */
const TABLE: Record<Cls, Record<Exclude<Cls, 'double-fault'>, 'second' | 'DF' | 'triple'>> = {
  benign: { benign: 'second', contributory: 'second', 'page-fault': 'second' },
  contributory: { benign: 'second', contributory: 'DF', 'page-fault': 'second' },
  'page-fault': { benign: 'second', contributory: 'DF', 'page-fault': 'DF' },
  'double-fault': { benign: 'second', contributory: 'triple', 'page-fault': 'triple' },
};

function handlers(): Record<number, Instr[]> {
  const h: Record<number, Instr[]> = {};
  for (const v of [6, 8, 13, 14, 20]) h[v] = [{ op: 'record', label: `e${v}` }, { op: 'iret' }];
  return h;
}

function raise(first: number, faults: number[], errorCode?: number): Machine {
  const m = new Machine({ cpus: 1, backend: 'vmx-event' });
  const exc: Instr = { op: 'exception', vector: first, deliveryFaults: faults };
  if (errorCode !== undefined) (exc as { errorCode?: number }).errorCode = errorCode;
  const program: GuestProgram = { main: [exc, { op: 'record', label: 'after' }, { op: 'done' }], exceptions: handlers() };
  m.load(0, program);
  m.run(1_000_000);
  return m;
}

describe('double-fault classes (SDM vol. 3 Table "Conditions for Generating a Double Fault")', () => {
  for (const first of Object.keys(TABLE) as Cls[]) {
    for (const second of Object.keys(TABLE[first]) as Array<Exclude<Cls, 'double-fault'>>) {
      const expected = TABLE[first][second];
      it(`${first} then ${second}: ${expected === 'second' ? 'handled serially' : expected === 'DF' ? '#DF' : 'triple fault (shutdown)'}`, () => {
        const m = raise(REP[first], [REP[second]], first === 'double-fault' ? 0 : undefined);
        const entered = m.trace.filter('exception', 0).map((e) => e.a);
        if (expected === 'triple') {
          expect(entered).toEqual([]);
          expect(m.vcpus[0]!.state).toBe('shutdown');
          expect(m.stats().cpus[0]!.exits.shutdown).toBe(1);
          expect(m.trace.filter('record', 0).map((e) => e.label)).toEqual([]);
        } else {
          expect(entered).toEqual([expected === 'DF' ? 8 : REP[second]]);
          expect(m.vcpus[0]!.state).toBe('done');
          expect(m.trace.filter('record', 0).map((e) => e.label)).toEqual([`e${expected === 'DF' ? 8 : REP[second]}`, 'after']);
        }
      });
    }
  }

  it('#VE is in the page-fault class: #VE then #GP is a #DF', () => {
    expect(exceptionClass(20)).toBe('page-fault');
    expect(raise(20, [13]).trace.filter('exception', 0).map((e) => e.a)).toEqual([8]);
  });

  it('a #DF carries error code 0 whatever the first exception pushed', () => {
    const m = raise(13, [11], 0x1234);
    expect(m.trace.filter('exception', 0).map((e) => [e.a, e.b])).toEqual([[8, 0]]);
  });

  it('an exception without delivery faults enters its handler with its error code', () => {
    const m = raise(14, [], 0x6);
    expect(m.trace.filter('exception', 0).map((e) => [e.a, e.b])).toEqual([[14, 6]]);
    expect(m.stats().cpus[0]!.handlerEntries).toBe(1);
  });

  it('#GP, then #GP delivering it (#DF), then #PF delivering the #DF: triple fault, the vCPU shuts down', () => {
    const m = raise(13, [13, 14]);
    expect(m.vcpus[0]!.state).toBe('shutdown');
    expect(m.trace.filter('fault', 0).map((e) => e.label)).toEqual(['triple fault']);
    expect(m.trace.filter('exit', 0).map((e) => e.label)).toEqual(['shutdown']);
  });

  it('a shut-down vCPU stays down until INIT (the BSP restarts its program)', () => {
    const m = raise(8, [13], 0);
    expect(m.vcpus[0]!.state).toBe('shutdown');
    m.vcpus[0]!.init(true);
    expect(m.vcpus[0]!.state).toBe('running');
  });

  it('combineExceptions follows the table for every pair of vectors 0..31 (by class)', () => {
    const classes: Record<string, Cls> = { benign: 'benign', contributory: 'contributory', 'page-fault': 'page-fault', 'double-fault': 'double-fault' };
    for (let a = 0; a < 32; a++) {
      for (let b = 0; b < 32; b++) {
        if (a === 2 || b === 2) continue;
        const ca = classes[exceptionClass(a)]!;
        const cb = exceptionClass(b);
        const want = cb === 'double-fault' ? 'second' : TABLE[ca][cb];
        const got = combineExceptions(a, b);
        expect(got === 'serial' ? 'second' : got === 'double-fault' ? 'DF' : 'triple').toBe(want);
      }
    }
  });
});

describe('exception instructions are checked at load (host misuse)', () => {
  const bad: Array<[string, Instr]> = [
    ['vector 2 is the NMI', { op: 'exception', vector: 2 }],
    ['vector 32 is no exception', { op: 'exception', vector: 32 }],
    ['#UD pushes no error code', { op: 'exception', vector: 6, errorCode: 1 }],
    ['deliveryFaults holds vectors', { op: 'exception', vector: 13, deliveryFaults: [40] }],
    ['unmap-idt deliveries 0', { op: 'unmap-idt', deliveries: 0 }],
  ];
  for (const [what, instr] of bad) {
    it(`${what}: RangeError`, () => {
      const m = new Machine({ cpus: 1, backend: 'svm-event' });
      expect(() => m.load(0, { main: [instr] })).toThrow(RangeError);
    });
  }
  it('exception handlers are keyed 0..31, not 2', () => {
    const m = new Machine({ cpus: 1, backend: 'svm-event' });
    expect(() => m.load(0, { main: [], exceptions: { 2: [] } })).toThrow(RangeError);
    expect(() => m.load(0, { main: [], exceptions: { 40: [] } })).toThrow(RangeError);
  });
});
