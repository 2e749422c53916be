// The command runs on Node: its types (tsconfig.src.json leaves them out for the library).
/// <reference types="node" />
/**
 * The `irqchip` command: argument parsing, the `list`, `scenario`, `compare` and `help`
 * commands, progress output and exit codes. Only Node built-ins (`node:util` parseArgs).
 *
 * Exit codes: 0 success; 1 `--check` found an interrupt lost or delivered twice; 2 bad
 * arguments (a one-line error and the usage on stderr); 3 a run or a file write failed.
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { BACKEND_NAMES, type BackendName } from '../inject/backend.js';
import { formatComparison, formatList, formatNs, formatSummary } from './format.js';
import { runSliced } from './run.js';
import {
  DEFAULT_SCENARIO_BACKEND,
  SCENARIOS,
  getScenario,
  prepareScenario,
  resolveScenarioOptions,
  type Scenario,
  type ScenarioOptions,
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
const COMPARE_USAGE = 'usage: irqchip compare <name> [--cpus N] [--seed S] [--until T] [--check]';

const COMMON_OPTIONS = `  --cpus N           number of vCPUs (default: the scenario's)
  --seed S           seed of the cost jitter, 0..4294967295 (default 1); same seed, same run
  --until T          virtual time to run until: nanoseconds, or with a unit (500us, 20ms, 1s)
                     (default: the scenario's)
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
lost or doubled interrupt, 2 bad arguments, 3 failure.
`;

const LIST_HELP = `${LIST_USAGE}

Lists the built-in scenarios with a one-line description each.
`;

const SCENARIO_HELP = `${SCENARIO_USAGE}

Runs a built-in scenario and prints, per vCPU, the interrupts handled, the interrupts the
delivery checker found lost, and the VM exits by reason.

options:
  --backend B        ${BACKEND_NAMES.join(' | ')}
                     (default ${DEFAULT_SCENARIO_BACKEND})
${COMMON_OPTIONS}
  --trace FILE       write the trace as Chrome Trace Event JSON (Perfetto, chrome://tracing)
  --svg FILE         write an SVG timeline, one lane per vCPU
  --explain CPU:VEC  after the run, print why vector VEC (0x40 or 64) is or is not
                     deliverable to vCPU CPU
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
  if (s.explainHint !== undefined) lines.push(`try: irqchip scenario ${s.name} --explain ${s.explainHint}`);
  return `${lines.join('\n')}\n\n${SCENARIO_USAGE}\n`;
}

// ---- argument values ---------------------------------------------------------------------------

function parseInteger(option: string, text: string, min: number, max: number, usage: string): number {
  const t = text.replace(/_/g, '');
  const value = /^0x[0-9a-f]+$/i.test(t) ? Number.parseInt(t, 16) : /^\d+$/.test(t) ? Number(t) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`${option} must be an integer in ${min}..${max}, got ${JSON.stringify(text)}`, usage);
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

function parseUntil(text: string, usage: string): number {
  const ns = parseTime(text);
  if (ns === undefined) throw new UsageError(`--until must be a positive whole number of ns, or a time like 500us, 20ms, 1s; got ${JSON.stringify(text)}`, usage);
  return ns;
}

function parseExplain(text: string, usage: string): { cpu: number; vector: number } {
  const m = /^(\d+):(0x[0-9a-f]+|\d+)$/i.exec(text);
  if (m === null) throw new UsageError(`--explain must be CPU:VECTOR, e.g. 1:0x40; got ${JSON.stringify(text)}`, usage);
  const cpu = Number(m[1]);
  const vector = m[2]!.toLowerCase().startsWith('0x') ? Number.parseInt(m[2]!, 16) : Number(m[2]);
  if (vector > 255) throw new UsageError(`--explain vector must be 0..255 (0x00..0xff), got ${m[2]}`, usage);
  return { cpu, vector };
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

/** parseArgs (strict, positionals allowed) with one-line error messages. */
function parse<T extends ParseArgsConfig>(config: T, usage: string): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (e) {
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

function run(s: Scenario, opts: ScenarioOptions, io: CliIo): ScenarioRun {
  const p = prepareScenario(s, opts);
  if (!io.progress) return runSliced(p, 1);
  const started = io.clockMs();
  let shown = false;
  const label = `${s.name} [${p.context.backend}]`;
  const r = runSliced(p, 100, (now, until) => {
    if (!shown && io.clockMs() - started < (io.progressDelayMs ?? 250)) return;
    shown = true;
    const pct = Math.floor((now * 100) / until);
    io.err(`\r${label} ${String(pct).padStart(3)}%  ${formatNs(now)} of ${formatNs(until)}\x1b[K`);
  });
  if (shown) io.err('\r\x1b[K');
  return r;
}

function commonOptions(values: Record<string, unknown>, usage: string): ScenarioOptions {
  const opts: ScenarioOptions = {};
  if (typeof values.cpus === 'string') opts.cpus = parseInteger('--cpus', values.cpus, 1, 4096, usage);
  if (typeof values.seed === 'string') opts.seed = parseInteger('--seed', values.seed, 0, 0xffff_ffff, usage);
  if (typeof values.until === 'string') opts.untilNs = parseUntil(values.until, usage);
  return opts;
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
  io.out(formatList(SCENARIOS));
  return EXIT_OK;
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
  const opts = commonOptions(values, usage);
  if (typeof values.backend === 'string') opts.backend = parseBackend(values.backend, usage);
  checkOptions(s, opts, usage);
  const explain = typeof values.explain === 'string' ? parseExplain(values.explain, usage) : undefined;
  const cpus = opts.cpus ?? s.cpus.default;
  if (explain !== undefined && explain.cpu >= cpus) {
    throw new UsageError(`--explain vCPU must be 0..${cpus - 1}, got ${explain.cpu}`, usage);
  }
  for (const flag of ['trace', 'svg'] as const) {
    if (values[flag] === '') throw new UsageError(`--${flag} needs a file name`, usage);
  }

  const r = run(s, opts, io);
  io.out(formatSummary(r));
  const title = `${s.name} on ${r.context.backend}, ${r.context.cpus} vCPU${r.context.cpus === 1 ? '' : 's'}, seed ${r.context.seed}`;
  if (typeof values.trace === 'string') {
    const json = r.machine.trace.toChromeTrace({
      cpus: r.context.cpus,
      endNs: r.result.timeNs,
      title: `irqchip: ${title}`,
      metadata: { scenario: s.name, backend: r.context.backend, seed: r.context.seed, traceHash: r.hash },
    });
    io.writeFile(values.trace, JSON.stringify(json) + '\n');
    io.out(`trace: wrote ${values.trace} (${json.traceEvents.length} Chrome trace events; open it in https://ui.perfetto.dev)\n`);
  }
  if (typeof values.svg === 'string') {
    io.writeFile(values.svg, r.machine.trace.toSvg({ cpus: r.context.cpus, endNs: r.result.timeNs, title }));
    io.out(`svg: wrote ${values.svg}\n`);
  }
  if (explain !== undefined) {
    const x = r.machine.explain(explain.cpu, explain.vector);
    io.out(`explain vCPU ${explain.cpu} vector 0x${explain.vector.toString(16).padStart(2, '0')}: ${x.deliverable ? 'deliverable' : 'not deliverable'} (${x.reason})\n  ${x.message}\n`);
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
  const opts = commonOptions(values, usage);
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
