/**
 * Nested virtualization, fast-check: random L1 configurations and L2 programs, random interrupt
 * arrivals for L1, every backend. Nothing lost, nothing doubled, nothing delivered to the wrong
 * level, and the exits follow the rules of docs/nested.md.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { GuestProgram, Instr, NestedControls } from '../../src/guest/program.js';
import { BACKEND_NAMES, type BackendName } from '../../src/inject/backend.js';
import { Machine } from '../../src/machine/machine.js';
import type { TraceEvent } from '../../src/trace/trace.js';
import { EVENT_BACKENDS, isaOf, l1Program, msi, type Isa } from './helpers.js';
import { propertyRuns } from '../fuzz/config.js';

const RUNS = propertyRuns(40);
const VECTORS = [0x41, 0x52, 0x63, 0x74, 0x95] as const;
const RUN_NS = 150_000;

interface CpuConfig {
  controls: NestedControls;
  hostIf: boolean;
  prefix: Instr[];
  l2: GuestProgram;
}

interface NestedScenario {
  backend: BackendName;
  cpus: number;
  configs: CpuConfig[];
  arrivals: Array<[number, number, number]>;
  seed: number;
}

const vector = fc.constantFrom(...VECTORS);

function controlsArb(isa: Isa): fc.Arbitrary<NestedControls> {
  return isa === 'vmx'
    ? fc.record({ extIntExiting: fc.boolean(), ackOnExit: fc.boolean() })
    : fc.record({ interceptIntr: fc.boolean(), vIntrMasking: fc.boolean() });
}

const l2Step: fc.Arbitrary<Instr[]> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 8_000 }).map((ns): Instr[] => [{ op: 'work', ns }]) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 4_000 }).map((ns): Instr[] => [{ op: 'cli' }, { op: 'work', ns }, { op: 'sti' }]) },
  { weight: 1, arbitrary: fc.constant<Instr[]>([{ op: 'sti' }, { op: 'hlt' }]) },
  { weight: 1, arbitrary: vector.map((v): Instr[] => [{ op: 'self-ipi', vector: v }]) },
);

const l2Arb: fc.Arbitrary<GuestProgram> = fc
  .tuple(fc.array(l2Step, { maxLength: 6 }), fc.array(fc.boolean(), { minLength: VECTORS.length, maxLength: VECTORS.length }))
  .map(([steps, nested]) => {
    const handlers: Record<number, Instr[]> = {};
    VECTORS.forEach((v, i) => {
      handlers[v] = [
        { op: 'inc', var: `l2_${v}` },
        ...(nested[i] ? ([{ op: 'sti' }, { op: 'work', ns: 500 }] as Instr[]) : ([{ op: 'work', ns: 200 }] as Instr[])),
        { op: 'eoi' },
        { op: 'iret' },
      ];
    });
    return { main: [{ op: 'sti' }, ...steps.flat(), { op: 'done' }], handlers };
  });

const prefixArb: fc.Arbitrary<Instr[]> = fc
  .array(fc.oneof(fc.integer({ min: 1, max: 3_000 }).map((ns): Instr => ({ op: 'work', ns })), vector.map((v): Instr => ({ op: 'self-ipi', vector: v }))), { maxLength: 2 })
  .map((xs) => xs);

const scenarioArb: fc.Arbitrary<NestedScenario> = fc
  .tuple(fc.constantFrom(...BACKEND_NAMES), fc.integer({ min: 1, max: 2 }))
  .chain(([backend, cpus]) =>
    fc.record({
      backend: fc.constant(backend),
      cpus: fc.constant(cpus),
      configs: fc.array(fc.record({ controls: controlsArb(isaOf(backend)), hostIf: fc.boolean(), prefix: prefixArb, l2: l2Arb }), { minLength: cpus, maxLength: cpus }),
      arrivals: fc.array(fc.tuple(fc.integer({ min: 0, max: RUN_NS }), fc.integer({ min: 0, max: cpus - 1 }), vector), { maxLength: 8 }),
      seed: fc.integer({ min: 0, max: 1000 }),
    }),
  );

function build(s: NestedScenario): Machine {
  // svm-vintr with the intermediate state: plain svm-vintr loses interrupts in L1 as without
  // nesting (the lost-IPI race, reported by the checker: test/machine/properties.test.ts).
  const m = new Machine({ cpus: s.cpus, backend: s.backend, seed: s.seed, costs: { jitter: 0.3 }, svmVintr: { intermediateState: true } });
  const isa = isaOf(s.backend);
  s.configs.forEach((c, cpu) => m.load(cpu, l1Program({ isa, controls: c.controls, hostIf: c.hostIf, prefix: c.prefix, l2: c.l2, l1Vectors: VECTORS })));
  for (const [at, cpu, v] of s.arrivals) m.at(at, msi(cpu, v));
  return m;
}

const exitOnIntr = (c: NestedControls): boolean => c.extIntExiting === true || c.interceptIntr === true;

/**
 * Walks one vCPU's trace keeping the architectural IRR (requests minus deliveries minus vectors
 * acknowledged on exit) and checks every exit to L1 and what follows it until L2 is entered again.
 */
function checkRules(events: readonly TraceEvent[], backend: BackendName, controls: NestedControls): void {
  const irr = new Set<number>();
  const ack = controls.ackOnExit === true;
  let open: { after: Set<number>; windows: number; l1Deliveries: number; newRequests: number } | null = null;
  let entriesSinceLaunch = -1;
  // L2 halted (an HLT exit from L2, until a handler entry in L2): entering a halted L2 is
  // emulated as HLT, not as a pending run (KVM's nested_vmx_run with activity state HLT).
  let l2Halted = false;
  let runPending = false;
  const close = (): void => {
    if (open === null) return;
    if (open.after.size > 0) {
      // Rule 1 / 2: an interrupt still pending for L1 after the exit reaches L1 before L2 runs
      // again — through an interrupt-window exit under event injection, without one otherwise.
      expect(open.l1Deliveries).toBeGreaterThanOrEqual(1);
      if (EVENT_BACKENDS.includes(backend)) expect(open.windows).toBeGreaterThanOrEqual(1);
      else expect(open.windows).toBe(0);
    } else if (open.newRequests === 0) {
      // Rule 2: the exit carried the only pending interrupt: no window exit, no delivery to L1.
      expect([open.windows, open.l1Deliveries]).toEqual([0, 0]);
    }
    open = null;
  };
  for (const e of events) {
    switch (e.kind) {
      case 'request':
        irr.add(e.a);
        if (open !== null) open.newRequests++;
        break;
      case 'nmi':
        if (e.label === 'L2') l2Halted = false;
        break;
      case 'deliver':
        if (e.label === 'L2') l2Halted = false;
        if (e.b !== 0) break;
        expect(irr.has(e.a)).toBe(true);
        irr.delete(e.a);
        if (e.label === 'L2') expect(exitOnIntr(controls)).toBe(false); // rule 3 only
        else if (open !== null) open.l1Deliveries++;
        break;
      case 'exit':
        if (open !== null && e.b === 0 && e.label === 'interrupt-window') open.windows++;
        if (e.b === 2 && e.label === 'hlt') l2Halted = true;
        break;
      case 'entry':
        if (entriesSinceLaunch >= 0) entriesSinceLaunch++;
        break;
      case 'nested-entry':
        close();
        if (e.a === 1) l2Halted = false; // a launch starts a fresh L2
        entriesSinceLaunch = 0;
        runPending = !l2Halted;
        break;
      case 'nested-exit': {
        if (e.label !== 'external-interrupt') break;
        expect(exitOnIntr(controls)).toBe(true); // rule 3: no such exit without exiting
        // Rule 4: L0 entered L2 (the pending run) and exited once more before reflecting.
        if (runPending) expect(entriesSinceLaunch).toBeGreaterThanOrEqual(2);
        if (ack) {
          // Rule 2: the highest pending vector (nothing in service, TPR 0), acknowledged.
          expect(e.b).toBe(1);
          expect(e.a).toBe(Math.max(...irr));
          irr.delete(e.a);
        } else {
          expect([e.a, e.b]).toEqual([-1, 0]);
        }
        open = { after: new Set(irr), windows: 0, l1Deliveries: 0, newRequests: 0 };
        entriesSinceLaunch = -1;
        break;
      }
      default:
        break;
    }
  }
}

describe('nested virtualization, random L1/L2 programs and arrivals (fast-check)', () => {
  it('nothing lost, doubled or delivered to the wrong level; exits follow the rules', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const m = build(s);
        m.run(RUN_NS);
        const stats = m.stats();
        const t = stats.total;
        expect([t.lost, t.doubled, t.wrongLevel]).toEqual([0, 0, 0]);
        const events = m.trace.events();
        s.configs.forEach((c, cpu) => {
          checkRules(events.filter((e) => e.cpu === cpu), s.backend, c.controls);
          const k = stats.cpus[cpu]!;
          if (!exitOnIntr(c.controls)) expect(k.nestedExits['external-interrupt']).toBe(0);
          if (exitOnIntr(c.controls)) expect(k.deliveredToL2).toBe(0);
        });
        // Every delivery the checker saw is a handler entry for a local APIC vector (either
        // level) or an exit that acknowledged one.
        expect(t.delivered).toBe(t.handlerEntries - notLapic(m) + t.ackedOnExit);
      }),
      { numRuns: RUNS },
    );
  });

  it('snapshot at any time -> restore -> run gives the same trace as running on', () => {
    fc.assert(
      fc.property(scenarioArb, fc.integer({ min: 0, max: RUN_NS }), (s, cut) => {
        const a = build(s);
        a.run(cut);
        const b = Machine.restore(a.snapshot());
        a.run(RUN_NS);
        b.run(RUN_NS);
        expect(b.trace.hash()).toBe(a.trace.hash());
        expect(b.stats()).toEqual(a.stats());
        expect(b.nestedStatus(0)).toEqual(a.nestedStatus(0));
      }),
      { numRuns: Math.ceil(RUNS / 2) },
    );
  });
});

/** Handler entries that are no local-APIC delivery (NMI, ExtINT, spurious, from L1). */
function notLapic(m: Machine): number {
  return m.trace.events().filter((e) => e.kind === 'nmi' || (e.kind === 'deliver' && e.b !== 0)).length;
}

describe('the random nested scenarios exercise every rule', () => {
  it('exits with and without the vector, deliveries to L2, immediate exits and windows in L2 all occur', () => {
    const totals = { exits: 0, acked: 0, toL2: 0, immediate: 0, l2Windows: 0, l1Windows: 0, l2Halts: 0 };
    for (const s of fc.sample(scenarioArb, { numRuns: 150, seed: 11 })) {
      const m = build(s);
      m.run(RUN_NS);
      const t = m.stats().total;
      totals.exits += t.nestedExits['external-interrupt'];
      totals.acked += t.ackedOnExit;
      totals.toL2 += t.deliveredToL2;
      totals.immediate += t.immediateExits;
      totals.l2Windows += t.exitsFromL2['interrupt-window'];
      totals.l1Windows += t.exits['interrupt-window'] - t.exitsFromL2['interrupt-window'];
      totals.l2Halts += t.exitsFromL2.hlt;
    }
    for (const [k, n] of Object.entries(totals)) expect(n, k).toBeGreaterThan(5);
  });
});
