import fc from 'fast-check';
import { expect } from 'vitest';
import type { LocalApic } from '../../src/apic/local-apic.js';
import { highestVector } from '../../src/apic/page.js';
import type { GuestProgram, Instr } from '../../src/guest/program.js';
import type { BackendName } from '../../src/inject/backend.js';
import { Machine, type DeviceAction } from '../../src/machine/machine.js';

/** Random guest scenarios shared by the machine property tests and the snapshot tests. */
export const VECTORS = [0x41, 0x52, 0x63, 0x74, 0x95] as const;
export const SLICE_NS = 2_000;
export const RUN_NS = 200_000;

/** DESIGN.md invariants on one local APIC page. */
export function checkApic(apic: LocalApic): void {
  const w = apic.page;
  for (const base of [0x100, 0x180, 0x200]) expect(w[base >> 2]! & 0xffff).toBe(0);
  const tpr = w[0x80 >> 2]!;
  const isrv = highestVector(w, 0x100 >> 2);
  const isrClass = isrv < 0 ? 0 : isrv & 0xf0;
  expect(w[0xa0 >> 2]).toBe((tpr & 0xf0) >= isrClass ? tpr : isrClass);
  const classes: number[] = [];
  for (let v = 16; v < 256; v++) if ((w[(0x100 >> 2) + (v >> 5) * 4]! >>> (v & 31)) & 1) classes.push(v >> 4);
  expect(new Set(classes).size).toBe(classes.length);
}

export const vector = fc.constantFrom(...VECTORS);

/** Exceptions the random programs raise: benign #UD, contributory #GP, page fault #PF. */
export const EXCEPTION_VECTORS = [6, 13, 14] as const;

/**
 * Exceptions (with at most one delivery fault, so never a triple fault) and `unmap-idt` (the next
 * 1-3 deliveries exit and are re-injected).
 */
const exceptionInstrs: fc.Arbitrary<Instr[]> = fc.oneof(
  fc
    .tuple(fc.constantFrom(...EXCEPTION_VECTORS), fc.option(fc.constantFrom(...EXCEPTION_VECTORS), { nil: undefined }))
    .map(([v, fault]): Instr[] => [{ op: 'exception', vector: v, ...(fault === undefined ? {} : { deliveryFaults: [fault] }) }]),
  fc.integer({ min: 1, max: 3 }).map((deliveries): Instr[] => [{ op: 'unmap-idt', deliveries }]),
  // An x2APIC MSR in xAPIC mode: the access exits and the local APIC answers #GP, which the
  // hypervisor queues when the scenario draws hypervisorExceptions.
  fc.constantFrom<Instr[]>([{ op: 'rdmsr', msr: 0x803 }], [{ op: 'wrmsr', msr: 0x808, lo: 0 }]),
);

export function instrArb(cpus: number, exceptions = false): fc.Arbitrary<Instr[]> {
  const base = plainInstrArb(cpus);
  return exceptions ? fc.oneof({ weight: 4, arbitrary: base }, { weight: 1, arbitrary: exceptionInstrs }) : base;
}

function plainInstrArb(cpus: number): fc.Arbitrary<Instr[]> {
  const cpu = fc.integer({ min: 0, max: cpus - 1 });
  return fc.oneof(
    { weight: 4, arbitrary: fc.tuple(cpu, vector).map(([dest, v]): Instr[] => [{ op: 'ipi', dest, vector: v }]) },
    { weight: 3, arbitrary: fc.integer({ min: 1, max: 8000 }).map((ns): Instr[] => [{ op: 'work', ns }]) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 3000 }).map((ns): Instr[] => [{ op: 'cli' }, { op: 'work', ns }, { op: 'sti' }]) },
    { weight: 1, arbitrary: fc.constant<Instr[]>([{ op: 'hlt' }]) },
    { weight: 1, arbitrary: vector.map((v): Instr[] => [{ op: 'self-ipi', vector: v }]) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 6 }).map((c): Instr[] => [{ op: 'cr8-write', value: c }, { op: 'work', ns: 500 }, { op: 'cr8-write', value: 0 }]) },
    {
      weight: 1,
      arbitrary: fc.tuple(vector, fc.integer({ min: 100, max: 20_000 })).map(([v, count]): Instr[] => [
        { op: 'mmio-write', offset: 0x3e0, value: 0xb },
        { op: 'mmio-write', offset: 0x320, value: v },
        { op: 'mmio-write', offset: 0x380, value: count },
      ]),
    },
  );
}

export function programArb(cpus: number, cpu: number, exceptions = false): fc.Arbitrary<GuestProgram> {
  return fc
    .tuple(fc.array(instrArb(cpus, exceptions), { maxLength: 12 }), fc.array(fc.boolean(), { minLength: VECTORS.length, maxLength: VECTORS.length }))
    .map(([body, nested]) => {
      const handlers: Record<number, Instr[]> = {};
      VECTORS.forEach((v, i) => {
        handlers[v] = [
          { op: 'inc', var: `h${cpu}_${v}` },
          // Some handlers re-enable interrupts so higher vectors nest.
          ...(nested[i] ? ([{ op: 'sti' }, { op: 'work', ns: 700 }] as Instr[]) : ([{ op: 'work', ns: 300 }] as Instr[])),
          { op: 'eoi' },
          { op: 'iret' },
        ];
      });
      const program: GuestProgram = {
        main: [{ op: 'mmio-write', offset: 0xf0, value: 0x1ff }, { op: 'sti' }, ...body.flat(), { op: 'sti' }, { op: 'hlt' }, { op: 'jump', to: 2 + body.flat().length + 1 }],
        handlers,
      };
      if (exceptions) {
        program.exceptions = {};
        for (const v of [...EXCEPTION_VECTORS, 8]) program.exceptions[v] = [{ op: 'inc', var: `e${cpu}_${v}` }, { op: 'work', ns: 200 }, { op: 'iret' }];
      }
      return program;
    });
}

export const deviceArb: fc.Arbitrary<Array<[number, DeviceAction]>> = fc.array(
  fc.tuple(
    fc.integer({ min: 0, max: RUN_NS }),
    fc.oneof(
      fc.tuple(fc.integer({ min: 0, max: 3 }), vector).map(([dest, v]): DeviceAction => ({ kind: 'msi', address: 0xfee00000 | (dest << 12), data: v })),
    ),
  ),
  { maxLength: 6 },
);

function scenarioArb(exceptions: boolean): fc.Arbitrary<Scenario> {
  return fc.integer({ min: 1, max: 4 }).chain((cpus) =>
    fc.record({
      cpus: fc.constant(cpus),
      programs: fc.tuple(...Array.from({ length: cpus }, (_, cpu) => programArb(cpus, cpu, exceptions))),
      devices: deviceArb,
      seed: fc.integer({ min: 0, max: 1000 }),
      hypervisorExceptions: exceptions ? fc.boolean() : fc.constant(undefined),
    }),
  );
}

export const scenario: fc.Arbitrary<Scenario> = scenarioArb(false);
/** The same, with exceptions and deliveries that exit on an unmapped IDT page (re-injection). */
export const scenarioWithExceptions: fc.Arbitrary<Scenario> = scenarioArb(true);

export interface Scenario {
  cpus: number;
  programs: GuestProgram[];
  devices: Array<[number, DeviceAction]>;
  seed: number;
  /** The Machine option (drawn by the scenarios with exceptions). */
  hypervisorExceptions?: boolean | undefined;
}

/** A machine loaded with the scenario's programs and device events, not yet run. */
export function buildScenario(backend: BackendName, s: Scenario, intermediateState = false): Machine {
  const m = new Machine({
    cpus: s.cpus, backend, seed: s.seed, costs: { jitter: 0.3 }, svmVintr: { intermediateState },
    ...(s.hypervisorExceptions === undefined ? {} : { hypervisorExceptions: s.hypervisorExceptions }),
  });
  s.programs.forEach((p, cpu) => m.load(cpu, p));
  for (const [at, action] of s.devices) m.at(at, action);
  return m;
}

/** Runs a scenario in slices, checking the APIC invariants after each. */
export function runScenario(backend: BackendName, s: Scenario, intermediateState = false): Machine {
  const m = buildScenario(backend, s, intermediateState);
  for (let t = SLICE_NS; t <= RUN_NS; t += SLICE_NS) {
    m.run(t);
    for (const apic of m.platform.lapics) checkApic(apic);
  }
  return m;
}

/**
 * Cross-checks the checker with the guests' own counts: every handler increments its counter as
 * its first instruction, so the checker's deliveries equal the counts, except for at most one
 * delivery per vCPU whose handler had not started when the run stopped.
 */
export function expectHandledMatches(m: Machine, cpus: number, delivered: number): void {
  let n = 0;
  for (let cpu = 0; cpu < cpus; cpu++) for (const v of VECTORS) n += m.memory.get(`h${cpu}_${v}`) ?? 0;
  expect(delivered - n).toBeGreaterThanOrEqual(0);
  expect(delivered - n).toBeLessThanOrEqual(cpus);
}

