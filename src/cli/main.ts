// The command runs on Node: its types (tsconfig.src.json leaves them out for the library).
/// <reference types="node" />
/**
 * The `irqchip` command: argument parsing, the `list`, `scenario`, `compare` and `help`
 * commands, progress output and exit codes. Only Node built-ins (`node:util` parseArgs).
 *
 * Exit codes: 0 success; 1 `--check` found an interrupt lost or delivered twice; 2 bad
 * arguments, an option given twice, an output path that cannot be written (a one-line error and
 * the usage on stderr, before anything runs); 3 a run or a file write failed.
 *
 * Memory: the machine's trace is a ring (SUMMARY_TRACE_LIMIT events, or --trace-limit when a
 * file is written), so a run's memory does not grow with its length; the printed event count,
 * hash and findings still cover the whole run (docs/cli.md, Memory).
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { Explanation } from '../platform/explain.js';
import { BACKEND_NAMES, type BackendName } from '../inject/backend.js';
import { formatComparison, formatList, formatNs, formatSummary } from './format.js';
import { runSliced, type Pause } from './run.js';
import { toSvg } from '../trace/svg.js';
import {
  DEFAULT_SCENARIO_BACKEND,
  SCENARIOS,
  getScenario,
  prepareScenario,
  resolveScenarioOptions,
  type Scenario,
  type ScenarioOptions,
  type PreparedScenario,
  type ScenarioRun,
} from './scenarios/index.js';

/** Replaced at build time by tsup (package.json version). */
declare const __IRQCHIP_VERSION__: string | undefined;

/** What the command needs from the process; tests and the entry point provide it. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  /** Show progress on stderr (a TTY, or IRQCHIP_PROGRESS=1). */
  progress: boolean;
  /** Show it only for runs that take longer than this (default 250 ms). */
  progressDelayMs?: number;
  writeFile(path: string, data: string): void;
  /**
   * Why `path` cannot be written (`undefined` if it can), asked before the run so a bad
   * `--trace` / `--svg` path fails at once. Absent: not checked.
   */
  cannotWrite?(path: string): string | undefined;
  /** Wall-clock milliseconds, only to pace progress output (never affects results). */
  clockMs(): number;
}

export const EXIT_OK = 0;
export const EXIT_CHECK_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_FAILURE = 3;

class UsageError extends Error {
  constructor(
    message: string,
    readonly usage: string,
  ) {
    super(message);
  }
}

const SCENARIO_NAMES = SCENARIOS.map((s) => s.name).join(', ');
/** The scenario names after 'scenarios: ' in the help, wrapped at 100 columns (continuation lines indented). */
const SCENARIO_NAMES_WRAPPED = SCENARIOS.map((s) => s.name).reduce<string[]>((lines, name, i, all) => {
  const item = i < all.length - 1 ? `${name},` : name;
  const last = lines[lines.length - 1];
  if (last === undefined) return [item];
  if (`scenarios: ${last} ${item}`.length > 100 || (lines.length > 1 && `  ${last} ${item}`.length > 100)) return [...lines, item];
  lines[lines.length - 1] = `${last} ${item}`;
  return lines;
}, []).join('\n  ');

const MAIN_USAGE = 'usage: irqchip <list | scenario <name> | compare <name> | help [command]> [options]';
const LIST_USAGE = 'usage: irqchip list';
const SCENARIO_USAGE = 'usage: irqchip scenario <name> [--backend B] [--cpus N] [--seed S] [--until T] [--check] [...]';

/** Ring size of the trace when nothing exports it: the hash, count and findings still cover every event. */
const SUMMARY_TRACE_LIMIT = 1024;
/** Events `--trace` / `--svg` keep by default (the last ones of the run). */
const DEFAULT_TRACE_LIMIT = 250_000;
const MAX_TRACE_LIMIT = 50_000_000;

/** The default backend, and the scenarios whose default differs. */
const BACKEND_DEFAULTS = [
  `default ${DEFAULT_SCENARIO_BACKEND}`,
  ...SCENARIOS.filter((s) => s.backend !== undefined && s.backend !== DEFAULT_SCENARIO_BACKEND).map((s) => `${s.name}: ${s.backend}`),
].join('; ');
const COMPARE_USAGE = 'usage: irqchip compare <name> [--cpus N] [--seed S] [--until T] [--check]';

const COMMON_OPTIONS = `  --cpus N           number of vCPUs: each scenario has its own range and default
                     ('irqchip list' shows them)
  --seed S           seed of the cost jitter, 0..4294967295 (default 1); same seed, same run
  --until T          virtual time to run until: nanoseconds, or with a unit (500us, 20ms, 1s)
                     (default, and for some a maximum: the scenario's; 'irqchip list')
  --check            exit with status 1 if the delivery checker found an interrupt lost or
                     delivered twice`;

const MAIN_HELP = `${MAIN_USAGE}

Deterministic x86 interrupt-controller scenarios: run one, compare the injection backends.

commands:
  list               list the built-in scenarios
  scenario <name>    run a scenario; print per vCPU the interrupts handled, lost and the VM
                     exits by reason; export a Chrome trace or an SVG timeline
  compare <name>     run a scenario under every backend and print them side by side
  help [command]     show the help of a command

Run 'irqchip <command> --help' for a command's options. Exit status: 0 ok, 1 --check found a
lost or doubled interrupt, 2 bad arguments, 3 failure (a run or a file write).
`;

const LIST_HELP = `${LIST_USAGE}

Lists the built-in scenarios: vCPUs allowed (default), default backend, default run length and a
one-line description each.
`;

const SCENARIO_HELP = `${SCENARIO_USAGE}

Runs a built-in scenario and prints, per vCPU, the interrupts handled, the interrupts the
delivery checker found lost, and the VM exits by reason. Only the end of the trace is kept (the
last ${SUMMARY_TRACE_LIMIT} events, or --trace-limit with --trace/--svg), so memory does not grow with --until;
the event count and hash printed cover every event. Exit status: 0 ok, 1 --check found a loss,
2 bad arguments (also an option given twice, an unwritable --trace/--svg path), 3 failure.

options:
  --backend B        ${BACKEND_NAMES.join(' | ')}
                     (${BACKEND_DEFAULTS})
${COMMON_OPTIONS}
  --trace FILE       write the trace as Chrome Trace Event JSON (Perfetto, chrome://tracing)
  --svg FILE         write an SVG timeline, one lane per vCPU
  --trace-limit N    --trace and --svg show the last N events of the run, 1..${MAX_TRACE_LIMIT}
                     (default ${DEFAULT_TRACE_LIMIT}); the hash and counts cover them all
  --explain CPU:VEC  print why vector VEC (0x40 or 64) is or is not deliverable to vCPU CPU:
                     when the checker first finds it lost or doubled, and at the end
  --explain CPU:VEC@T  the same at virtual time T (e.g. 1:0x40@6177ns), and at the end
  -h, --help         show this help ('irqchip scenario <name> --help' describes the scenario)

scenarios: ${SCENARIO_NAMES_WRAPPED}
`;

const COMPARE_HELP = `${COMPARE_USAGE}

Runs a scenario under every backend (${BACKEND_NAMES.join(', ')})
with the same vCPUs, seed and end time, and prints handled and lost interrupts, exits by reason,
injections and virtual deliveries side by side.

options:
${COMMON_OPTIONS}
  -h, --help         show this help ('irqchip compare <name> --help' describes the scenario)

scenarios: ${SCENARIO_NAMES_WRAPPED}
`;

function scenarioHelp(s: Scenario): string {
  const cpus = s.cpus.min === s.cpus.max ? `${s.cpus.min}` : `${s.cpus.min}..${s.cpus.max}`;
  const lines = [
    `${s.name}:`,
    `  ${s.description}`,
    '',
    s.details,
    '',
    `defaults: --backend ${s.backend ?? DEFAULT_SCENARIO_BACKEND} --cpus ${s.cpus.default} (${cpus}) --seed 1 --until ${s.untilNs}  (${formatNs(s.untilNs)})`,
  ];
  if (s.maxUntilNs !== undefined) lines.push(`--until at most ${s.maxUntilNs} (${formatNs(s.maxUntilNs)}): device events are scheduled before the run`);
  if (s.explainHint !== undefined) {
    lines.push(
      `try: irqchip scenario ${s.name} --explain ${s.explainHint}`,
      `     (explained when the checker first finds it lost or doubled, and at the end; add @T for time T)`,
    );
  }
  return `${lines.join('\n')}\n\n${SCENARIO_USAGE}\n`;
}

// ---- argument values ---------------------------------------------------------------------------

function parseInteger(option: string, text: string, min: number, max: number, usage: string, where = ''): number {
  const t = text.replace(/_/g, '');
  const value = /^0x[0-9a-f]+$/i.test(t) ? Number.parseInt(t, 16) : /^\d+$/.test(t) ? Number(t) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`${option} must be an integer in ${min}..${max}${where}, got ${JSON.stringify(text)}`, usage);
  }
  return value;
}

const UNITS: Record<string, number> = { ns: 1, us: 1_000, µs: 1_000, ms: 1_000_000, s: 1_000_000_000 };

/** A virtual time: `1000000`, `1_000_000`, `500us`, `20ms`, `1s`. */
export function parseTime(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ns|us|µs|ms|s)?$/.exec(text.replace(/_/g, ''));
  if (m === null) return undefined;
  const ns = Number(m[1]) * UNITS[m[2] ?? 'ns']!;
  return Number.isSafeInteger(ns) && ns > 0 ? ns : undefined;
}

const TIME_RULE = 'a positive whole number of ns, or a time like 500us, 20ms, 1s';

function parseUntil(text: string, s: Scenario, usage: string): number {
  const ns = parseTime(text);
  if (ns === undefined) throw new UsageError(`--until must be ${TIME_RULE}; got ${JSON.stringify(text)}`, usage);
  if (s.maxUntilNs !== undefined && ns > s.maxUntilNs) {
    throw new UsageError(`--until must be at most ${formatNs(s.maxUntilNs)} for ${s.name} (it schedules its device events before the run); got ${JSON.stringify(text)}`, usage);
  }
  return ns;
}

/** `--explain CPU:VECTOR[@TIME]`. */
interface ExplainRequest {
  cpu: number;
  vector: number;
  /** Virtual time to explain at, besides the end of the run. */
  atNs?: number;
}

function parseExplain(text: string, usage: string): ExplainRequest {
  const m = /^(\d+):(0x[0-9a-f]+|\d+)(?:@(.+))?$/i.exec(text);
  if (m === null) throw new UsageError(`--explain must be CPU:VECTOR or CPU:VECTOR@TIME, e.g. 1:0x40 or 1:0x40@6us; got ${JSON.stringify(text)}`, usage);
  const cpu = Number(m[1]);
  const vector = m[2]!.toLowerCase().startsWith('0x') ? Number.parseInt(m[2]!, 16) : Number(m[2]);
  if (vector > 255) throw new UsageError(`--explain vector must be 0..255 (0x00..0xff), got ${m[2]}`, usage);
  if (m[3] === undefined) return { cpu, vector };
  const atNs = parseTime(m[3]);
  if (atNs === undefined) throw new UsageError(`--explain time (after @) must be ${TIME_RULE}; got ${JSON.stringify(m[3])}`, usage);
  return { cpu, vector, atNs };
}

function parseBackend(text: string, usage: string): BackendName {
  if (!(BACKEND_NAMES as readonly string[]).includes(text)) {
    throw new UsageError(`--backend must be one of ${BACKEND_NAMES.join(', ')}; got ${JSON.stringify(text)}`, usage);
  }
  return text as BackendName;
}

function findScenario(name: string | undefined, usage: string): Scenario {
  if (name === undefined) throw new UsageError(`missing scenario name (one of ${SCENARIO_NAMES})`, usage);
  try {
    return getScenario(name);
  } catch {
    throw new UsageError(`unknown scenario ${JSON.stringify(name)} (one of ${SCENARIO_NAMES})`, usage);
  }
}

/** The options after a scenario's defaults; option errors (e.g. too many vCPUs) are usage errors. */
function checkOptions(s: Scenario, opts: ScenarioOptions, usage: string): void {
  try {
    resolveScenarioOptions(s, opts);
  } catch (e) {
    const msg = (e as Error).message.replace(/^untilNs/, '--until').replace(/^(cpus|seed|backend)/, '--$1');
    throw new UsageError(msg, usage);
  }
}

/**
 * `--opt -1` as `--opt=-1` for options that take a value, so a negative number reaches the
 * option's own check (which names the allowed range) instead of parseArgs' "ambiguous" error.
 */
function joinNegativeValues(args: readonly string[], options: ParseArgsConfig['options']): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const next = args[i + 1];
    const name = arg.startsWith('--') ? arg.slice(2) : undefined;
    if (name !== undefined && options?.[name]?.type === 'string' && next !== undefined && /^-[\d.]/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

/** An option given twice is an error (parseArgs would silently keep the last value). */
function rejectRepeated(tokens: readonly { kind: string; name?: string; rawName?: string }[], usage: string): void {
  const seen = new Set<string>();
  for (const t of tokens) {
    if (t.kind !== 'option' || t.name === undefined) continue;
    if (seen.has(t.name)) throw new UsageError(`--${t.name} given more than once; give each option once`, usage);
    seen.add(t.name);
  }
}

/** parseArgs (strict, positionals allowed) with one-line error messages. */
function parse<T extends ParseArgsConfig>(config: T, usage: string): ReturnType<typeof parseArgs<T>> {
  try {
    const parsed = parseArgs({ ...config, args: joinNegativeValues(config.args ?? [], config.options), tokens: true });
    rejectRepeated(parsed.tokens ?? [], usage);
    return parsed as ReturnType<typeof parseArgs<T>>;
  } catch (e) {
    if (e instanceof UsageError) throw e;
    const err = e as Error & { code?: string };
    let msg = err.message.split(/\. |\n/)[0]!.replace(/\.$/, '');
    if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const opt = /'([^']+)'/.exec(err.message)?.[1];
      msg = `unknown option ${opt ?? ''}`.trim();
    }
    throw new UsageError(msg, usage);
  }
}

// ---- running -----------------------------------------------------------------------------------

function run(s: Scenario, opts: ScenarioOptions, io: CliIo, pause?: (p: PreparedScenario) => Pause | undefined): ScenarioRun {
  const p = prepareScenario(s, opts);
  const stop = pause?.(p);
  if (!io.progress) return runSliced(p, 1, undefined, stop);
  const started = io.clockMs();
  let shown = false;
  const label = `${s.name} [${p.context.backend}]`;
  const r = runSliced(p, 100, (now, until) => {
    if (!shown && io.clockMs() - started < (io.progressDelayMs ?? 250)) return;
    shown = true;
    const pct = Math.floor((now * 100) / until);
    io.err(`\r${label} ${String(pct).padStart(3)}%  ${formatNs(now)} of ${formatNs(until)}\x1b[K`);
  }, stop);
  if (shown) io.err('\r\x1b[K');
  return r;
}

/** --cpus, --seed, --until; each range is the scenario's. The trace is a small ring unless asked for. */
function commonOptions(s: Scenario, values: Record<string, unknown>, usage: string): ScenarioOptions {
  const opts: ScenarioOptions = { traceLimit: SUMMARY_TRACE_LIMIT };
  if (typeof values.cpus === 'string') opts.cpus = parseInteger('--cpus', values.cpus, s.cpus.min, s.cpus.max, usage, ` for ${s.name}`);
  if (typeof values.seed === 'string') opts.seed = parseInteger('--seed', values.seed, 0, 0xffff_ffff, usage);
  if (typeof values.until === 'string') opts.untilNs = parseUntil(values.until, s, usage);
  return opts;
}

/** Checks before the run that `--trace` / `--svg` name files that can be written. */
function checkOutputFile(flag: string, path: string, io: CliIo, usage: string): void {
  if (path === '') throw new UsageError(`--${flag} needs a file name`, usage);
  const why = io.cannotWrite?.(path);
  if (why !== undefined) throw new UsageError(`--${flag} ${path}: ${why}`, usage);
}

/**
 * The explanations `--explain` asks for: at the time given after `@`, or else at the checker's
 * first finding (lost, doubled, wrong level) for that vCPU and vector, taken from inside the run
 * at the moment the finding is recorded.
 */
function watchExplain(p: PreparedScenario, x: ExplainRequest, lines: string[]): Pause | undefined {
  const m = p.machine;
  const say = (when: string, e: Explanation): number => lines.push(explainLine(x, when, e));
  if (x.atNs !== undefined) {
    const atNs = x.atNs;
    return { atNs, fn: () => say(`at ${formatNs(atNs)}`, m.explain(x.cpu, x.vector)) };
  }
  const keep = m.trace.onEvent;
  m.trace.onEvent = (e) => {
    keep?.(e);
    if (lines.length > 0 || e.cpu !== x.cpu || e.a !== x.vector) return;
    if (e.kind === 'lost' || e.kind === 'doubled' || e.kind === 'wrong-level') {
      say(`at ${formatNs(e.timeNs)}, when the checker found it ${e.kind === 'wrong-level' ? 'delivered at the wrong level' : e.kind}`, m.explain(x.cpu, x.vector));
    }
  };
  return undefined;
}

function explainLine(x: ExplainRequest, when: string, e: Explanation): string {
  const what = `explain vCPU ${x.cpu} vector 0x${x.vector.toString(16).padStart(2, '0')} ${when}`;
  return `${what}: ${e.deliverable ? 'deliverable' : 'not deliverable'} (${e.reason})\n  ${e.message}\n`;
}

function checkVerdict(runs: readonly ScenarioRun[], io: CliIo): number {
  const bad = runs.filter((r) => r.lost + r.doubled > 0);
  if (bad.length === 0) {
    io.out('check: ok (nothing lost or doubled)\n');
    return EXIT_OK;
  }
  const what = bad.map((r) => `${r.context.backend}: ${r.lost} lost, ${r.doubled} doubled`).join('; ');
  io.out(`check: FAILED (${what})\n`);
  return EXIT_CHECK_FAILED;
}

function cmdList(args: string[], io: CliIo): number {
  const { values, positionals } = parse({ args, options: { help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true }, LIST_USAGE);
  if (values.help === true) {
    io.out(LIST_HELP);
    return EXIT_OK;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`, LIST_USAGE);
  io.out(formatList(SCENARIOS, DEFAULT_SCENARIO_BACKEND));
  return EXIT_OK;
}

/**
 * Writes what `--trace` / `--svg` asked for. A bounded trace says so: the files show the end of
 * the run, while the hash and counts (here and in the JSON metadata) cover every event.
 */
function writeFiles(r: ScenarioRun, tracePath: string | undefined, svgPath: string | undefined, io: CliIo): void {
  const s = r.scenario;
  const title = `${s.name} on ${r.context.backend}, ${r.context.cpus} vCPU${r.context.cpus === 1 ? '' : 's'}, seed ${r.context.seed}`;
  const trace = r.machine.trace;
  const held = trace.dropped === 0 ? '' : `from the last ${trace.length} of ${trace.recorded} trace events, --trace-limit`;
  if (tracePath !== undefined) {
    const json = trace.toChromeTrace({
      cpus: r.context.cpus,
      endNs: r.result.timeNs,
      title: `irqchip: ${title}`,
      metadata: { scenario: s.name, backend: r.context.backend, seed: r.context.seed, traceHash: r.hash, traceEvents: trace.recorded, traceEventsDropped: trace.dropped },
    });
    io.writeFile(tracePath, JSON.stringify(json) + '\n');
    io.out(`trace: wrote ${tracePath} (${json.traceEvents.length} Chrome trace events${held === '' ? '' : ` ${held}`}; open it in https://ui.perfetto.dev)\n`);
  }
  if (svgPath !== undefined) {
    io.writeFile(svgPath, toSvg(trace, { cpus: r.context.cpus, endNs: r.result.timeNs, title }));
    io.out(`svg: wrote ${svgPath}${held === '' ? '' : ` (${held})`}\n`);
  }
}

function cmdScenario(args: string[], io: CliIo): number {
  const usage = SCENARIO_USAGE;
  const { values, positionals } = parse(
    {
      args,
      options: {
        backend: { type: 'string' },
        cpus: { type: 'string' },
        seed: { type: 'string' },
        until: { type: 'string' },
        trace: { type: 'string' },
        svg: { type: 'string' },
        'trace-limit': { type: 'string' },
        explain: { type: 'string' },
        check: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
      strict: true,
    },
    usage,
  );
  if (values.help === true) {
    io.out(positionals.length === 0 ? SCENARIO_HELP : scenarioHelp(findScenario(positionals[0], usage)));
    return EXIT_OK;
  }
  if (positionals.length > 1) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[1])}`, usage);
  const s = findScenario(positionals[0], usage);
  const opts = commonOptions(s, values, usage);
  if (typeof values.backend === 'string') opts.backend = parseBackend(values.backend, usage);
  checkOptions(s, opts, usage);
  const explain = typeof values.explain === 'string' ? parseExplain(values.explain, usage) : undefined;
  const cpus = opts.cpus ?? s.cpus.default;
  const untilNs = opts.untilNs ?? s.untilNs;
  if (explain !== undefined && explain.cpu >= cpus) {
    throw new UsageError(`--explain vCPU must be 0..${cpus - 1}, got ${explain.cpu}`, usage);
  }
  if (explain?.atNs !== undefined && explain.atNs > untilNs) {
    throw new UsageError(`--explain time must be at most the end time ${formatNs(untilNs)}, got ${formatNs(explain.atNs)}`, usage);
  }
  const exporting = typeof values.trace === 'string' || typeof values.svg === 'string';
  if (typeof values['trace-limit'] === 'string') {
    if (!exporting) throw new UsageError('--trace-limit needs --trace or --svg', usage);
    opts.traceLimit = parseInteger('--trace-limit', values['trace-limit'], 1, MAX_TRACE_LIMIT, usage);
  } else if (exporting) {
    opts.traceLimit = DEFAULT_TRACE_LIMIT;
  }
  if (typeof values.trace === 'string') checkOutputFile('trace', values.trace, io, usage);
  if (typeof values.svg === 'string') checkOutputFile('svg', values.svg, io, usage);

  const explained: string[] = [];
  const r = run(s, opts, io, explain === undefined ? undefined : (p) => watchExplain(p, explain, explained));
  io.out(formatSummary(r));
  writeFiles(r, values.trace, values.svg, io);
  if (explain !== undefined) {
    for (const line of explained) io.out(line);
    if (explain.atNs !== undefined && explained.length === 0) io.out(`explain: the run stopped at ${formatNs(r.result.timeNs)}, before ${formatNs(explain.atNs)}\n`);
    io.out(explainLine(explain, `at the end (${formatNs(r.result.timeNs)})`, r.machine.explain(explain.cpu, explain.vector)));
  }
  return values.check === true ? checkVerdict([r], io) : EXIT_OK;
}

function cmdCompare(args: string[], io: CliIo): number {
  const usage = COMPARE_USAGE;
  const { values, positionals } = parse(
    {
      args,
      options: {
        cpus: { type: 'string' },
        seed: { type: 'string' },
        until: { type: 'string' },
        check: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
      strict: true,
    },
    usage,
  );
  if (values.help === true) {
    io.out(positionals.length === 0 ? COMPARE_HELP : scenarioHelp(findScenario(positionals[0], usage)).replace(SCENARIO_USAGE, COMPARE_USAGE));
    return EXIT_OK;
  }
  if (positionals.length > 1) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[1])}`, usage);
  const s = findScenario(positionals[0], usage);
  const opts = commonOptions(s, values, usage);
  checkOptions(s, opts, usage);
  const runs = BACKEND_NAMES.map((backend) => run(s, { ...opts, backend }, io));
  io.out(formatComparison(runs));
  return values.check === true ? checkVerdict(runs, io) : EXIT_OK;
}

function cmdHelp(args: string[], io: CliIo): number {
  const topic = args[0];
  const help: Record<string, string> = { list: LIST_HELP, scenario: SCENARIO_HELP, compare: COMPARE_HELP, help: MAIN_HELP };
  if (topic === undefined) {
    io.out(MAIN_HELP);
    return EXIT_OK;
  }
  const text = help[topic];
  if (text === undefined) throw new UsageError(`no help for ${JSON.stringify(topic)} (commands: list, scenario, compare, help)`, MAIN_USAGE);
  io.out(text);
  return EXIT_OK;
}

/** Runs the command line `args` (without the node and script paths). @returns the exit status. */
export function main(args: readonly string[], io: CliIo): number {
  const [command, ...rest] = args;
  try {
    switch (command) {
      case undefined:
        throw new UsageError('missing command', MAIN_USAGE);
      case '-h':
      case '--help':
        io.out(MAIN_HELP);
        return EXIT_OK;
      case '--version':
      case '-v':
        io.out(`${typeof __IRQCHIP_VERSION__ === 'string' ? __IRQCHIP_VERSION__ : 'dev'}\n`);
        return EXIT_OK;
      case 'list':
        return cmdList(rest, io);
      case 'scenario':
        return cmdScenario(rest, io);
      case 'compare':
        return cmdCompare(rest, io);
      case 'help':
        return cmdHelp(rest, io);
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`, MAIN_USAGE);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`irqchip: ${e.message}\n${e.usage}\n`);
      return EXIT_USAGE;
    }
    const err = e as Error;
    io.err(`irqchip: ${err.message ?? String(e)}\n`);
    return EXIT_FAILURE;
  }
}
