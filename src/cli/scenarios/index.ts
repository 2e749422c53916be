/**
 * The built-in scenarios and how to run them, for the `irqchip` command and for programs:
 *
 * ```ts
 * import { runScenario } from 'irqchip/scenarios';
 * const run = runScenario('lost-ipi', { backend: 'svm-vintr' });
 * run.stats.cpus[1].lost; // 1
 * ```
 *
 * @module
 */
import { BACKEND_NAMES, type BackendName } from '../../inject/backend.js';
import { Machine, type MachineStats, type RunResult } from '../../machine/machine.js';
import type { TraceEvent } from '../../trace/trace.js';
import { ipiPingpong } from './ipi-pingpong.js';
import { levelStorm } from './level-storm.js';
import { linuxBootIrqSetup } from './linux-boot-irq-setup.js';
import { lostIpi } from './lost-ipi.js';
import { nestedAckOnExit } from './nested-ack-on-exit.js';
import { picLegacy } from './pic-legacy.js';
import { reinjectionDropped, reinjectionOk } from './reinjection.js';
import { timerPeriodic } from './timer-periodic.js';
import type { Scenario, ScenarioContext, ScenarioOptions } from './types.js';
import { checkObject } from '../../errors.js';

export type { Scenario, ScenarioContext, ScenarioOptions } from './types.js';

/** Every built-in scenario, in the order `irqchip list` shows them. */
export const SCENARIOS: readonly Scenario[] = Object.freeze([
  lostIpi,
  ipiPingpong,
  timerPeriodic,
  levelStorm,
  picLegacy,
  linuxBootIrqSetup,
  nestedAckOnExit,
  reinjectionOk,
  reinjectionDropped,
]);

/** The default backend of the scenarios: event injection, the reference every other is compared with. */
export const DEFAULT_SCENARIO_BACKEND: BackendName = 'svm-event';

/**
 * Cost jitter the scenarios run with: each cost gets up to 5 % extra from the seeded PRNG, so
 * `seed` changes the interleavings a little and the same seed always gives the same run.
 */
export const SCENARIO_JITTER = 0.05;

/** Looks a scenario up by name. @throws RangeError naming the known scenarios. */
export function getScenario(name: string): Scenario {
  const s = SCENARIOS.find((x) => x.name === name);
  if (s === undefined) {
    throw new RangeError(`unknown scenario ${JSON.stringify(name)}; known: ${SCENARIOS.map((x) => x.name).join(', ')}`);
  }
  return s;
}

/**
 * Applies a scenario's defaults to the options and checks them.
 * @throws RangeError / TypeError naming the bad option and its allowed values.
 */
export function resolveScenarioOptions(scenario: Scenario, opts: ScenarioOptions = {}): ScenarioContext {
  checkObject('opts', opts);
  const backend = opts.backend ?? scenario.backend ?? DEFAULT_SCENARIO_BACKEND;
  if (!BACKEND_NAMES.includes(backend)) {
    throw new RangeError(`backend must be one of ${BACKEND_NAMES.join(', ')}, got ${String(backend)}`);
  }
  const cpus = opts.cpus ?? scenario.cpus.default;
  checkInteger('cpus', cpus, scenario.cpus.min, scenario.cpus.max, ` for ${scenario.name}`);
  const seed = opts.seed ?? 1;
  checkInteger('seed', seed, 0, 0xffff_ffff, '');
  const untilNs = opts.untilNs ?? scenario.untilNs;
  checkInteger('untilNs', untilNs, 1, scenario.maxUntilNs ?? Number.MAX_SAFE_INTEGER, scenario.maxUntilNs === undefined ? '' : ` for ${scenario.name}`);
  return { backend, cpus, seed, untilNs };
}

function checkInteger(name: string, value: unknown, min: number, max: number, where: string): void {
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number, got ${typeof value}`);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer in ${min}..${max}${where}, got ${String(value)}`);
  }
}

/** How many checker findings a run keeps (the summary prints at most 10). */
export const KEPT_FINDINGS = 10;

/**
 * The delivery checker's findings (`lost`, `doubled`, `wrong-level` trace events) as the run
 * records them, so a summary can list them even when the trace is a ring that dropped them.
 */
export interface ScenarioFindings {
  /** The first `KEPT_FINDINGS` (10) findings, in order. */
  readonly first: TraceEvent[];
  /** All of them. */
  count: number;
}

/** A scenario's machine, set up and not yet run. */
export interface PreparedScenario {
  scenario: Scenario;
  context: ScenarioContext;
  machine: Machine;
  findings: ScenarioFindings;
}

function isFinding(e: TraceEvent): boolean {
  return e.kind === 'lost' || e.kind === 'doubled' || e.kind === 'wrong-level';
}

/** Builds a scenario's machine (programs loaded, devices scheduled) without running it. */
export function prepareScenario(nameOrScenario: string | Scenario, opts: ScenarioOptions = {}): PreparedScenario {
  const scenario = typeof nameOrScenario === 'string' ? getScenario(nameOrScenario) : nameOrScenario;
  const context = resolveScenarioOptions(scenario, opts);
  const machine = new Machine({
    ...(scenario.machine ?? {}),
    cpus: context.cpus,
    backend: context.backend,
    seed: context.seed,
    costs: { jitter: SCENARIO_JITTER, ...(scenario.costs ?? {}) },
    ...(opts.traceLimit === undefined ? {} : { traceLimit: opts.traceLimit }),
  });
  const findings: ScenarioFindings = { first: [], count: 0 };
  machine.trace.onEvent = (e) => {
    if (!isFinding(e)) return;
    if (findings.count++ < KEPT_FINDINGS) findings.first.push(e);
  };
  scenario.setup(machine, context);
  return { scenario, context, machine, findings };
}

/** The outcome of running a scenario. */
export interface ScenarioRun extends PreparedScenario {
  result: RunResult;
  stats: MachineStats;
  /** Interrupts the delivery checker found lost, summed over the vCPUs. */
  lost: number;
  /** Interrupts delivered twice, summed over the vCPUs. */
  doubled: number;
  /** The trace hash (8 hex digits). */
  hash: string;
  /** Scenario-specific summary lines. */
  notes: string[];
}

/** Collects the outcome of a prepared scenario that has run. */
export function finishScenario(p: PreparedScenario, result: RunResult): ScenarioRun {
  const stats = p.machine.stats();
  return {
    ...p,
    result,
    stats,
    lost: stats.total.lost,
    doubled: stats.total.doubled,
    hash: p.machine.trace.hash(),
    notes: p.scenario.notes?.(p.machine, p.context) ?? [],
  };
}

/**
 * Runs a built-in scenario (or your own {@link Scenario}) to its end time and returns the
 * machine, its statistics and the delivery checker's verdict. The same name and options always
 * give the same result and trace hash.
 */
export function runScenario(nameOrScenario: string | Scenario, opts: ScenarioOptions = {}): ScenarioRun {
  const p = prepareScenario(nameOrScenario, opts);
  return finishScenario(p, p.machine.run(p.context.untilNs));
}
