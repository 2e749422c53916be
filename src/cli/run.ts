/**
 * Running a prepared scenario in slices of virtual time so the command can show progress. Slicing
 * does not change the run: `Machine.run` only advances the same event queue further, so the
 * trace hash is the one a single `run(untilNs)` gives (test/cli/scenarios.test.ts checks it).
 *
 * @module
 */
import type { RunResult } from '../machine/machine.js';
import { finishScenario, type PreparedScenario, type ScenarioRun } from './scenarios/index.js';

/** Called after each slice with the virtual time reached and the end time. */
export type ProgressFn = (nowNs: number, untilNs: number) => void;

/** A stop at virtual time `atNs` (at most the end time) to look at the machine, e.g. `explain`. */
export interface Pause {
  atNs: number;
  fn(): void;
}

/**
 * Runs `p` to its end time in `slices` equal slices (the last one ends exactly at the end time),
 * calling `progress` after each, and stops early when the machine does. With `pause`, the run
 * also stops at `pause.atNs` and calls `pause.fn` (not if the machine stopped before).
 */
export function runSliced(p: PreparedScenario, slices: number, progress?: ProgressFn, pause?: Pause): ScenarioRun {
  const m = p.machine;
  const until = p.context.untilNs;
  const start = m.scheduler.now();
  const n = Math.max(1, Math.floor(slices));
  let result: RunResult = { timeNs: start, reason: 'time' };
  for (let i = 1; i <= n; i++) {
    const target = i === n ? until : Math.min(until, start + Math.floor(((until - start) * i) / n));
    if (target < m.scheduler.now()) continue;
    if (pause !== undefined && pause.atNs <= target && pause.atNs >= m.scheduler.now()) {
      result = m.run(pause.atNs);
      if (result.reason !== 'time') break;
      pause.fn();
      pause = undefined;
    }
    result = m.run(target);
    progress?.(result.timeNs, until);
    if (result.reason !== 'time') break;
  }
  return finishScenario(p, result);
}
