/**
 * What a built-in scenario is: plain data (name, description, CPU limits, run length, costs) and
 * a small setup function that loads guest programs on a fresh {@link Machine}, programs the
 * platform as firmware would and schedules device events. Guest programs stay plain data.
 *
 * This module and the scenarios import no `node:` module: the library re-exports them.
 *
 * @module
 */
import type { Instr } from '../../guest/program.js';
import type { BackendName } from '../../inject/backend.js';
import type { Costs } from '../../machine/costs.js';
import type { Machine, MachineOptions } from '../../machine/machine.js';
import type { Platform } from '../../platform/platform.js';

/** What a caller may choose when running a scenario. */
export interface ScenarioOptions {
  /** Injection backend (default: the scenario's, usually `svm-event`). */
  backend?: BackendName;
  /** Number of vCPUs (default: the scenario's). */
  cpus?: number;
  /** PRNG seed for the cost jitter (default 1). */
  seed?: number;
  /** Virtual time to run until, in ns (default: the scenario's). */
  untilNs?: number;
  /**
   * Keep only the last `traceLimit` trace events (the machine's ring mode, 1..50,000,000), so a
   * long run needs bounded memory; the hash, the event count and the checker's findings still
   * cover the whole run. Default: keep every event.
   */
  traceLimit?: number;
}

/** The options after defaults, as the setup function sees them. */
export interface ScenarioContext {
  backend: BackendName;
  cpus: number;
  seed: number;
  untilNs: number;
}

export interface Scenario {
  /** Name on the command line, e.g. `lost-ipi`. */
  readonly name: string;
  /** One line for `irqchip list`. */
  readonly description: string;
  /** A few lines more for `irqchip scenario <name> --help` and docs/cli.md. */
  readonly details: string;
  readonly cpus: { readonly default: number; readonly min: number; readonly max: number };
  /** Default run length, virtual ns. */
  readonly untilNs: number;
  /**
   * Longest run length accepted, virtual ns (default: any). Scenarios that schedule their device
   * events before the run set it so memory stays bounded (`MAX_SCHEDULED_TIMES`).
   */
  readonly maxUntilNs?: number;
  /** Default backend. */
  readonly backend?: BackendName;
  /** Cost overrides for the machine (the scenario runner adds the default jitter). */
  readonly costs?: Partial<Costs>;
  /** Other machine options (svmVintr, ioapicPins...). */
  readonly machine?: Omit<MachineOptions, 'cpus' | 'backend' | 'seed' | 'costs'>;
  /** A `--explain` target worth looking at, as `cpu:vector` (shown in the help). */
  readonly explainHint?: string;
  /** Loads programs, programs the platform as firmware would, schedules devices. */
  setup(m: Machine, ctx: ScenarioContext): void;
  /** Scenario-specific lines for the summary (device counts, storm deferrals...). */
  notes?(m: Machine, ctx: ScenarioContext): string[];
}

// ---- helpers the scenarios share -------------------------------------------------------------

/** SVR = 0x1FF: APIC software-enabled, spurious vector 0xFF. */
export const ENABLE_APIC: Instr = { op: 'mmio-write', offset: 0xf0, value: 0x1ff };

/** Idles with interrupts on: `sti; hlt; jump back to the hlt` appended at index `at`. */
export function idleLoop(at: number): Instr[] {
  return [{ op: 'sti' }, { op: 'hlt' }, { op: 'jump', to: at + 1 }];
}

/** Writes an I/O APIC redirection entry through IOREGSEL / IOWIN, high half first (as Linux does). */
export function writeRedirection(platform: Platform, pin: number, low: number, high: number): void {
  platform.ioapic.writeRegister(0x00, 0x10 + 2 * pin + 1);
  platform.ioapic.writeRegister(0x10, high >>> 0);
  platform.ioapic.writeRegister(0x00, 0x10 + 2 * pin);
  platform.ioapic.writeRegister(0x10, low >>> 0);
}

/** A device line pulse: asserted at `atNs`, deasserted `widthNs` later. */
export function pulse(m: Machine, gsi: number, atNs: number, widthNs: number): void {
  m.at(atNs, { kind: 'irq', gsi, level: true });
  m.at(atNs + widthNs, { kind: 'irq', gsi, level: false });
}

/**
 * At most this many times from one {@link every}: the scenarios schedule their device events
 * before the run, a few hundred bytes each, so their memory grows with the run length (a 1 kHz
 * source reaches this bound at 100 s of virtual time).
 */
export const MAX_SCHEDULED_TIMES = 100_000;

/**
 * Times from `firstNs` every `periodNs` while before `untilNs`.
 * @throws RangeError (before allocating) if that is more than `MAX_SCHEDULED_TIMES`.
 */
export function every(firstNs: number, periodNs: number, untilNs: number): number[] {
  const n = untilNs > firstNs ? Math.ceil((untilNs - firstNs) / periodNs) : 0;
  if (n > MAX_SCHEDULED_TIMES) {
    throw new RangeError(
      `a device source every ${periodNs} ns until ${untilNs} ns needs ${n} events scheduled before the run, ` +
        `more than ${MAX_SCHEDULED_TIMES}: run for less virtual time`,
    );
  }
  const out: number[] = [];
  for (let t = firstNs; t < untilNs; t += periodNs) out.push(t);
  return out;
}

/** The value of a shared-memory variable (0 if never written). */
export function mem(m: Machine, name: string): number {
  return m.memory.get(name) ?? 0;
}
