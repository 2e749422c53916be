/**
 * `irqchip/scenarios`: the built-in scenarios of the `irqchip` command (docs/cli.md), to run from a
 * program, and the command's text reports. A separate entry point because they are the command's
 * demonstrations, not part of the emulator: a program that embeds the controllers or builds its
 * own Machine does not carry them. Each run is a {@link irqchip!Machine | Machine} of the main
 * entry, `irqchip`.
 *
 * ```ts
 * import { runScenario } from 'irqchip/scenarios';
 *
 * const run = runScenario('lost-ipi', { backend: 'svm-vintr' });
 * run.stats.cpus[1]!.lost; // 1
 * ```
 *
 * @module irqchip/scenarios
 */
export {
  SCENARIOS,
  SCENARIO_JITTER,
  DEFAULT_SCENARIO_BACKEND,
  getScenario,
  resolveScenarioOptions,
  prepareScenario,
  finishScenario,
  runScenario,
} from './cli/scenarios/index.js';
export type { Scenario, ScenarioContext, ScenarioOptions, ScenarioRun, PreparedScenario, ScenarioFindings } from './cli/scenarios/index.js';
export { formatSummary, formatComparison } from './cli/format.js';
