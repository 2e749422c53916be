/**
 * Plain-text output of the `irqchip` command: the per-vCPU summary of a scenario run and the
 * side-by-side comparison of backends. Pure functions (no `node:` imports), so tests and
 * programs can use them too.
 *
 * @module
 */
import { EXIT_REASONS, type ExitReason } from '../inject/backend.js';
import type { VcpuStats } from '../machine/machine.js';
import { hexVector } from '../trace/spans.js';
import { formatNs } from '../trace/svg.js';
import type { Scenario, ScenarioRun } from './scenarios/index.js';

export { formatNs };

/** Renders rows as columns: the first `left` columns left-aligned, the others right-aligned. */
export function formatTable(rows: readonly (readonly string[])[], left = 1): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows
    .map((row) => row.map((cell, i) => (i < left ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ').trimEnd())
    .join('\n');
}

const STOP_TEXT: Record<string, string> = {
  time: 'reached the end time',
  'all-done': 'every program ended',
  idle: 'nothing left to happen',
};

/** Exit reasons that are non-zero in any of the stats, in the canonical order. */
function usedReasons(stats: readonly VcpuStats[]): ExitReason[] {
  return EXIT_REASONS.filter((r) => stats.some((s) => s.exits[r] > 0));
}

/** The header lines: what ran, with which options. */
function header(run: ScenarioRun, what: string): string[] {
  const c = run.context;
  return [`${what}: ${c.cpus} vCPU${c.cpus === 1 ? '' : 's'}, seed ${c.seed}, until ${formatNs(c.untilNs)}`, `  ${run.scenario.description}`];
}

/** Lines listing the interrupts the checker found lost or doubled (at most `max`). */
function findings(run: ScenarioRun, max = 10): string[] {
  const out: string[] = [];
  const { first, count } = run.findings;
  for (const e of first.slice(0, max)) out.push(`${e.kind.toUpperCase()}: vCPU ${e.cpu} vector ${hexVector(e.a)} at ${formatNs(e.timeNs)}`);
  if (count > Math.min(max, first.length)) out.push(`... and ${count - Math.min(max, first.length)} more`);
  if (count === 0 && run.lost + run.doubled > 0) out.push(`${run.lost} lost, ${run.doubled} doubled (the trace was off)`);
  return out;
}

/** The summary `irqchip scenario` prints: a table per vCPU, scenario notes, checker findings. */
export function formatSummary(run: ScenarioRun): string {
  const { stats } = run;
  const reasons = usedReasons(stats.cpus);
  const showDoubled = run.doubled > 0;
  const head = ['vCPU', 'handled', 'lost', ...(showDoubled ? ['doubled'] : []), 'exits', ...reasons];
  const row = (label: string, s: VcpuStats): string[] => [
    label,
    String(s.handlerEntries),
    String(s.lost),
    ...(showDoubled ? [String(s.doubled)] : []),
    String(s.exitCount),
    ...reasons.map((r) => String(s.exits[r])),
  ];
  const rows = [head, ...stats.cpus.map((s, cpu) => row(String(cpu), s))];
  if (stats.cpus.length > 1) rows.push(row('all', stats.total));
  const lines = [
    ...header(run, `${run.scenario.name} on ${run.context.backend}`),
    '',
    formatTable(rows, 0),
    '',
    ...run.notes,
    ...findings(run),
    `stopped at ${formatNs(run.result.timeNs)} (${STOP_TEXT[run.result.reason] ?? run.result.reason}); ${run.machine.trace.recorded} trace events, hash ${run.hash}`,
  ];
  return lines.join('\n') + '\n';
}

/** The side-by-side table `irqchip compare` prints: one column per backend. */
export function formatComparison(runs: readonly ScenarioRun[]): string {
  if (runs.length === 0) return '';
  const first = runs[0]!;
  const totals = runs.map((r) => r.stats.total);
  const reasons = usedReasons(totals);
  const rows: string[][] = [['', ...runs.map((r) => r.context.backend)]];
  const add = (label: string, f: (r: ScenarioRun) => string): void => {
    rows.push([label, ...runs.map(f)]);
  };
  const addIfAny = (label: string, key: keyof Omit<VcpuStats, 'exits' | 'nestedExits' | 'exitsFromL2'>): void => {
    if (totals.some((t) => t[key] > 0)) add(label, (r) => String(r.stats.total[key]));
  };
  add('handled', (r) => String(r.stats.total.handlerEntries));
  add('lost', (r) => String(r.lost));
  if (runs.some((r) => r.doubled > 0)) add('doubled', (r) => String(r.doubled));
  add('exits', (r) => String(r.stats.total.exitCount));
  for (const reason of reasons) add(`  ${reason}`, (r) => String(r.stats.total.exits[reason]));
  addIfAny('injections', 'injections');
  addIfAny('virtual deliveries', 'virtualDeliveries');
  addIfAny('posted', 'posted');
  addIfAny('exits L2 -> L1', 'nestedExitCount');
  addIfAny('  with the vector', 'ackedOnExit');
  add('virtual time', (r) => formatNs(r.result.timeNs));
  add('trace hash', (r) => r.hash);
  const lines = [...header(first, `${first.scenario.name}, every backend`), '', formatTable(rows), ''];
  for (const r of runs) {
    const f = findings(r, 3);
    if (f.length > 0) lines.push(...f.map((l) => `${r.context.backend}: ${l}`));
  }
  return lines.join('\n') + '\n';
}

/** What `irqchip list` shows of a scenario. */
export type ListedScenario = Pick<Scenario, 'name' | 'description' | 'cpus' | 'untilNs' | 'maxUntilNs' | 'backend'>;

/**
 * The list `irqchip list` prints: per scenario the vCPUs it accepts (and its default), its
 * default backend, its default run length (and the longest it accepts), and its one-line
 * description.
 */
export function formatList(scenarios: readonly ListedScenario[], defaultBackend: string): string {
  const rows = [['scenario', 'vCPUs (default)', 'backend', 'until (max)', 'what it shows']];
  for (const s of scenarios) {
    const cpus = s.cpus.min === s.cpus.max ? `${s.cpus.min}` : `${s.cpus.min}..${s.cpus.max}`;
    const until = s.maxUntilNs === undefined ? formatNs(s.untilNs) : `${formatNs(s.untilNs)} (${formatNs(s.maxUntilNs)})`;
    rows.push([s.name, `${cpus} (${s.cpus.default})`, s.backend ?? defaultBackend, until, s.description]);
  }
  return formatTable(rows, 5) + '\n';
}
