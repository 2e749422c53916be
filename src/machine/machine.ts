/**
 * Machine: a Platform, one guest vCPU per local APIC, an injection backend and the scheduler,
 * run in virtual time.
 *
 * Each vCPU alternates between guest mode (executing its program one instruction at a time) and
 * the hypervisor (after a VM exit, until the VM entry the exit cost later). At every instruction
 * boundary in guest mode the backend's modelled hardware may deliver an interrupt without an exit
 * or take an exit (window, kick); at every VM entry it injects or programs the hardware. HLT
 * exits and blocks the vCPU until the backend says it can wake. A new interrupt for a vCPU kicks
 * it (a host IPI that lands `ipiLatencyNs` later and makes it exit), notifies it (posted
 * interrupts, no exit) or wakes it, as the backend decides. A long `work` instruction is cut
 * short when a kick or notification lands.
 *
 * The delivery checker watches every request and every handler entry and reports interrupts that
 * real hardware would have delivered but the model lost, or delivered twice.
 *
 * @module
 */
import { decodeSnapshot, encodeSnapshot, type Section, type SnapshotContainer } from '../codec/container.js';
import { RearmQueue, StateWriter, type StateReader } from '../codec/state.js';
import { checkBool, checkInt, checkObject, typeName, SnapshotError } from '../errors.js';
import type { LocalApic } from '../apic/local-apic.js';
import type { GuestProgram } from '../guest/program.js';
import { validateProgram } from '../guest/program.js';
import { Vcpu, VCPU_STATE_VERSION, type VcpuEnv } from '../guest/vcpu.js';
import type {
  BackendHost,
  BackendName,
  DeliverySource,
  ExitReason,
  InjectionBackend,
  VectoringInfo,
} from '../inject/backend.js';
import { BACKEND_NAMES, EXIT_REASONS, LEGACY_EXIT_REASON_COUNT } from '../inject/backend.js';
import { BackendBase } from '../inject/base.js';
import { SvmEventBackend } from '../inject/svm-event.js';
import { SvmVintrBackend, type SvmVintrOptions } from '../inject/svm-vintr.js';
import { VmxEventBackend } from '../inject/vmx-event.js';
import { VmxPostedBackend } from '../inject/vmx-posted.js';
import { VmxVidBackend } from '../inject/vmx-vid.js';
import { isaOf, NESTED_EXIT_REASONS, type NestedExitReason } from '../inject/nested-controls.js';
import { NestedController, type NestedStatus } from '../inject/nested.js';
import { checkNestedIsa } from '../inject/nested-validate.js';
import type { L2ApicAccess } from '../inject/nested-access.js';
import type { LowestPriorityPolicy } from '../bus/lowest-priority.js';
import { Platform, type CpuEvent, type PlatformIoApicOptions, type PlatformLapicOptions } from '../platform/platform.js';
import type { IsaOverride, PicOutputRoute } from '../platform/wiring.js';
import type { ResetPreset } from '../apic/local-apic.js';
import type { Explanation } from '../platform/explain.js';
import { Scheduler } from '../time/scheduler.js';
import { Trace, type TraceKind } from '../trace/trace.js';
import { DeliveryChecker } from './checker.js';
import { resolveCosts, type Costs } from './costs.js';
import { Prng } from './prng.js';

export interface MachineOptions {
  cpus: number;
  backend: BackendName;
  /** Seed of the PRNG that jitters costs (`costs.jitter`). Default 1. */
  seed?: number;
  ioapicPins?: number;
  x2apic?: boolean;
  costs?: Partial<Costs>;
  /** Options of the `svm-vintr` backend. */
  svmVintr?: SvmVintrOptions;
  /** Lowest-priority arbitration policy of the APIC bus. */
  lowestPriority?: LowestPriorityPolicy;
  /** Local APIC options, passed to the Platform (docs/platform.md). */
  lapic?: PlatformLapicOptions;
  /** I/O APIC options, passed to the Platform. */
  ioapic?: PlatformIoApicOptions;
  /** ISA-to-GSI overrides, passed to the Platform. */
  isaOverrides?: readonly IsaOverride[];
  /** Where the 8259A's output goes (a route name: the machine's vCPUs take its interrupts). */
  picOutput?: PicOutputRoute;
  /** The local APICs' reset preset, passed to the Platform. */
  reset?: ResetPreset;
  /**
   * The hypervisor bug of forgetting an event whose delivery an exit interrupted (no re-injection
   * from the VMX IDT-vectoring information / SVM EXITINTINFO), for every backend. Default false.
   */
  dropReinjection?: boolean;
  /**
   * The hypervisor queues #GP(0) for an x2APIC MSR access it emulated and the local APIC refused,
   * and injects it at the next entry after a re-injection and before NMI, ExtINT and the local
   * APIC (docs/backends.md, "Injection order at each entry"). Default false: the fault is only
   * counted in `faults`.
   */
  hypervisorExceptions?: boolean;
  /** Record the trace (default true). */
  trace?: boolean;
  /**
   * Ring mode for the trace: keep only the last `traceLimit` events (1..50,000,000), so memory
   * stays bounded however long the machine runs; `trace.dropped` counts the discarded ones and
   * `trace.hash()` still covers every event. Default: keep every event.
   */
  traceLimit?: number;
}

/** A device event scheduled on the machine (plain data, so snapshots can hold it). */
export type DeviceAction =
  | { kind: 'irq'; gsi: number; level: boolean }
  | { kind: 'msi'; address: number; data: number }
  | { kind: 'nmi'; level: boolean };

/** Why `run` returned. */
export type RunStop = 'time' | 'all-done' | 'idle';

export interface RunResult {
  /** Virtual time when the run stopped. */
  timeNs: number;
  /** `time`: reached untilNs; `all-done`: every loaded program ended; `idle`: nothing can happen any more. */
  reason: RunStop;
}

export interface VcpuStats {
  exits: Record<ExitReason, number>;
  /** Total VM exits. */
  exitCount: number;
  /** Events injected at VM entry (EVENTINJ / VM-entry interruption field). */
  injections: number;
  /** Interrupts the hardware delivered without an exit (V_IRQ, virtual-interrupt delivery). */
  virtualDeliveries: number;
  /**
   * Interrupt windows opened: the hypervisor requested an interrupt window (interrupt-window
   * exiting / VINTR intercept) while none was open. A window stays open, and is counted once,
   * while every VM entry re-arms it (the guest keeps IF = 0 across other exits); it closes when its
   * `interrupt-window` exit is taken or an entry no longer needs it. L0's windows in L2 count too.
   */
  interruptWindows: number;
  /** NMI windows opened, counted like {@link VcpuStats.interruptWindows} (one blocked NMI: 1). */
  nmiWindows: number;
  posted: number;
  notifications: number;
  ipisSent: number;
  ipisReceived: number;
  /** Handler entries (interrupts, NMIs and exceptions). */
  handlerEntries: number;
  requests: number;
  coalesced: number;
  delivered: number;
  lost: number;
  doubled: number;
  faults: number;
  instructions: number;
  // ---- nested virtualization (docs/nested.md) ----
  /** Emulated VM entries from L1 into L2 (VMLAUNCH / VMRESUME / VMRUN). */
  nestedEntries: number;
  /** Emulated exits from L2 to L1, by reason (not counted in `exits`: those are exits to L0). */
  nestedExits: Record<NestedExitReason, number>;
  nestedExitCount: number;
  /** Exits to L0 taken while L2 ran, by reason (a subset of `exits`; the rest came from L1). */
  exitsFromL2: Record<ExitReason, number>;
  /** External-interrupt exits to L1 that carried the vector (acknowledge interrupt on exit). */
  ackedOnExit: number;
  /** Immediate exits L0 took after entering L2 because a nested run was pending. */
  immediateExits: number;
  /** Handler entries in L2 (included in `handlerEntries`). */
  l2HandlerEntries: number;
  /** The checker's deliveries to L2 of L1's interrupts (included in `delivered`). */
  deliveredToL2: number;
  /** L1's interrupts delivered to L2 although L1 asked to exit on them. */
  wrongLevel: number;
}

export interface MachineStats {
  cpus: VcpuStats[];
  /** Sums over all vCPUs of the numeric fields (exits summed by reason too). */
  total: VcpuStats;
}

type Phase = 'idle' | 'guest' | 'exited' | 'halted' | 'waiting' | 'done';
const PHASES: readonly Phase[] = ['idle', 'guest', 'exited', 'halted', 'waiting', 'done'];
const KICK = 0;
const NOTIFY = 1;
/** Version of every 'machine'-kind section this code writes, except `vcpu.N` (VCPU_STATE_VERSION) and 'backend'. */
const MACHINE_STATE_VERSION = 1;
/**
 * Version of the 'backend' section. 2: re-injection state (vectoring information, dropReinjection).
 * 3: queued hypervisor exceptions (hypervisorExceptions and the per-vCPU queue).
 */
const BACKEND_STATE_VERSION = 3;
const COUNTED_KEYS = [
  'exitCount', 'injections', 'virtualDeliveries', 'interruptWindows', 'nmiWindows', 'posted', 'notifications', 'handlerEntries', 'faults',
] as const;
/** Keys a JSON value in a snapshot must never carry (prototype pollution). */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

function parseJson<T>(r: StateReader, field: string): T {
  const text = r.str(field);
  try {
    return JSON.parse(text, (key, value: unknown) => {
      if (FORBIDDEN_KEYS.has(key)) throw new SnapshotError(`key '${key}' is not allowed`);
      return value;
    }) as T;
  } catch (e) {
    return r.fail(field, e instanceof Error ? e.message : 'is not valid JSON');
  }
}

type Counted = 'injections' | 'interruptWindows' | 'nmiWindows' | 'virtualDeliveries' | 'posted' | 'notifications';

function emptyStats(): VcpuStats {
  const exits = {} as Record<ExitReason, number>;
  for (const r of EXIT_REASONS) exits[r] = 0;
  return {
    exits,
    exitCount: 0,
    injections: 0,
    virtualDeliveries: 0,
    interruptWindows: 0,
    nmiWindows: 0,
    posted: 0,
    notifications: 0,
    ipisSent: 0,
    ipisReceived: 0,
    handlerEntries: 0,
    requests: 0,
    coalesced: 0,
    delivered: 0,
    lost: 0,
    doubled: 0,
    faults: 0,
    instructions: 0,
    nestedEntries: 0,
    nestedExits: zeroes(NESTED_EXIT_REASONS),
    nestedExitCount: 0,
    exitsFromL2: zeroes(EXIT_REASONS),
    ackedOnExit: 0,
    immediateExits: 0,
    l2HandlerEntries: 0,
    deliveredToL2: 0,
    wrongLevel: 0,
  };
}

function zeroes<K extends string>(keys: readonly K[]): Record<K, number> {
  const r = {} as Record<K, number>;
  for (const k of keys) r[k] = 0;
  return r;
}

function createBackend(name: BackendName, opts: MachineOptions): InjectionBackend {
  const base = { dropReinjection: opts.dropReinjection === true, hypervisorExceptions: opts.hypervisorExceptions === true };
  switch (name) {
    case 'svm-event':
      return new SvmEventBackend(base);
    case 'svm-vintr':
      return new SvmVintrBackend(opts.svmVintr, base);
    case 'vmx-event':
      return new VmxEventBackend(base);
    case 'vmx-vid':
      return new VmxVidBackend(base);
    case 'vmx-posted':
      return new VmxPostedBackend(base);
  }
}

/**
 * A whole virtual machine for interrupt-delivery experiments: a {@link Platform}, one guest
 * {@link Vcpu} per CPU running a small scripted {@link GuestProgram}, an injection backend (SVM
 * event injection or V_IRQ, VMX event injection, virtual-interrupt delivery or posted interrupts),
 * a {@link DeliveryChecker} that knows what real hardware would have delivered, and a
 * {@link Trace}, all on one deterministic virtual-time {@link Scheduler} (docs/machine.md).
 *
 * @example
 * ```ts
 * import { Machine } from 'irqchip';
 *
 * const m = new Machine({ cpus: 2, backend: 'svm-vintr', seed: 1 });
 * const enable = { op: 'mmio-write', offset: 0xf0, value: 0x1ff } as const; // SVR: APIC on
 * m.load(0, { main: [enable, { op: 'ipi', dest: 1, vector: 0x40 }, { op: 'done' }] });
 * m.load(1, { main: [enable, { op: 'sti' }, { op: 'hlt' }, { op: 'jump', to: 2 }] });
 * const result = m.run(1_000_000);        // { timeNs, reason: 'time' | 'all-done' | 'idle' }
 * m.stats().cpus[1].handlerEntries;       // interrupts vCPU 1 took
 * m.trace.hash();                         // the same on every machine
 * ```
 */
export class Machine {
  /**
   * The interrupt controllers and their wiring (8259A pair, I/O APIC, one local APIC per vCPU).
   */
  readonly platform: Platform;
  /**
   * The virtual-time scheduler every device and vCPU step runs on.
   */
  readonly scheduler: Scheduler;
  /**
   * The guest vCPU models, by CPU index (IF, shadows, HLT, NMI blocking, the running program).
   */
  readonly vcpus: readonly Vcpu[];
  /**
   * Every request, delivery, exit, IPI and checker finding, with a stable hash; exports to Chrome Trace JSON and SVG.
   */
  readonly trace: Trace;
  /**
   * The injection backend chosen by `opts.backend`.
   */
  readonly backend: InjectionBackend;
  /**
   * The virtual-time costs in effect: {@link DEFAULT_COSTS} overridden by `opts.costs`.
   */
  readonly costs: Costs;
  /** Shared guest memory: variables by name. */
  readonly memory = new Map<string, number>();

  readonly #checker: DeliveryChecker;
  readonly #prng: Prng;
  readonly #counters: VcpuStats[];
  readonly #phase: Phase[];
  readonly #stepEvent: number[];
  readonly #stepAt: number[];
  readonly #stepFns: Array<() => void>;
  readonly #kickFns: Array<() => void>;
  readonly #notifyFns: Array<() => void>;
  readonly #kickFlag: boolean[];
  readonly #notifyFlag: boolean[];
  readonly #exitedNow: boolean[];
  readonly #deliveredNow: boolean[];
  readonly #charged: number[];
  readonly #spinning: Array<string | null>;
  readonly #watchers = new Map<string, Set<number>>();
  /** Kicks and posted-interrupt notifications on their way (a host IPI in flight). */
  readonly #inFlight: Array<{ cpu: number; kind: number; at: number; id: number }> = [];
  /** Device actions scheduled with at(), by event id. */
  readonly #actions = new Map<number, { at: number; action: DeviceAction }>();
  readonly #options: MachineOptions;
  /** The last program load() copied, and its JSON text (consecutive identical loads share it). */
  #lastProgramText = '';
  #lastProgram: GuestProgram | undefined;
  /** The vCPU whose step is running (0 outside any step), for attributing device events. */
  #currentCpu = 0;
  readonly #env: VcpuEnv;
  /** Nested virtualization: L1 hypervisors and their L2 guests (src/inject/nested.ts). */
  readonly #nested: NestedController;

  /**
   * Builds the machine at time 0, every vCPU idle until {@link Machine.load}.
   *
   * @throws RangeError / TypeError for an unknown backend or an option out of range; nothing is built.
   */
  constructor(opts: MachineOptions) {
    checkObject('opts', opts);
    if (!BACKEND_NAMES.includes(opts.backend)) {
      throw new RangeError(`backend must be one of ${BACKEND_NAMES.join(', ')}, got ${String(opts.backend)}`);
    }
    this.costs = resolveCosts(opts.costs);
    const traceOn = checkBool('trace', opts.trace ?? true);
    const traceLimit = opts.traceLimit === undefined ? undefined : checkInt('traceLimit', opts.traceLimit, 1, 50_000_000);
    checkSvmVintrOptions(opts.svmVintr);
    if (opts.picOutput !== undefined && typeof opts.picOutput !== 'string') {
      throw new TypeError(`picOutput must be a route name for a Machine (its vCPUs take the 8259A's interrupts), got ${typeof opts.picOutput}`);
    }
    this.#options = {
      cpus: opts.cpus,
      backend: opts.backend,
      seed: opts.seed ?? 1,
      ioapicPins: opts.ioapicPins ?? 24,
      x2apic: opts.x2apic ?? false,
      costs: { ...this.costs },
      svmVintr: { intermediateState: opts.svmVintr?.intermediateState === true, cr8Intercept: opts.svmVintr?.cr8Intercept === true },
      ...(opts.lowestPriority === undefined ? {} : { lowestPriority: opts.lowestPriority }),
      // Platform options are recorded (for snapshots) only when given, so default snapshots keep their bytes.
      ...(opts.lapic === undefined ? {} : { lapic: { ...opts.lapic } }),
      ...(opts.ioapic === undefined ? {} : { ioapic: { ...opts.ioapic } }),
      ...(opts.isaOverrides === undefined ? {} : { isaOverrides: Array.isArray(opts.isaOverrides) ? opts.isaOverrides.map((o) => ({ ...o })) : opts.isaOverrides }),
      ...(opts.picOutput === undefined ? {} : { picOutput: opts.picOutput }),
      ...(opts.reset === undefined ? {} : { reset: opts.reset }),
      // Recorded only when set, so default snapshots keep their options text.
      ...(opts.dropReinjection === undefined ? {} : { dropReinjection: checkBool('dropReinjection', opts.dropReinjection) }),
      ...(opts.hypervisorExceptions === undefined ? {} : { hypervisorExceptions: checkBool('hypervisorExceptions', opts.hypervisorExceptions) }),
      trace: traceOn,
      ...(traceLimit === undefined ? {} : { traceLimit }),
    };
    this.#prng = new Prng(checkInt('seed', opts.seed ?? 1, 0, 0xffff_ffff));
    this.scheduler = new Scheduler();
    this.platform = new Platform({
      cpus: opts.cpus,
      clock: this.scheduler,
      ioapicPins: opts.ioapicPins,
      x2apic: opts.x2apic,
      bus: opts.lowestPriority === undefined ? undefined : { lowestPriority: opts.lowestPriority },
      lapic: opts.lapic,
      ioapic: opts.ioapic,
      isaOverrides: opts.isaOverrides,
      picOutput: opts.picOutput,
      reset: opts.reset,
    });
    const n = this.platform.cpus;
    this.trace = new Trace(traceLimit === undefined ? {} : { limit: traceLimit });
    this.trace.enabled = traceOn;
    this.#checker = new DeliveryChecker(n);
    this.vcpus = Array.from({ length: n }, (_, cpu) => new Vcpu(cpu));
    this.#counters = Array.from({ length: n }, emptyStats);
    this.#phase = new Array<Phase>(n).fill('idle');
    this.#stepEvent = new Array<number>(n).fill(0);
    this.#stepAt = new Array<number>(n).fill(0);
    this.#kickFlag = new Array<boolean>(n).fill(false);
    this.#notifyFlag = new Array<boolean>(n).fill(false);
    this.#exitedNow = new Array<boolean>(n).fill(false);
    this.#deliveredNow = new Array<boolean>(n).fill(false);
    this.#charged = new Array<number>(n).fill(0);
    this.#spinning = new Array<string | null>(n).fill(null);
    this.#stepFns = this.vcpus.map((_, cpu) => () => this.#onStep(cpu));
    this.#kickFns = this.vcpus.map((_, cpu) => () => this.#onKick(cpu));
    this.#notifyFns = this.vcpus.map((_, cpu) => () => this.#onNotification(cpu));
    this.#env = this.#makeEnv();
    this.backend = createBackend(opts.backend, opts);
    this.#nested = new NestedController(isaOf(opts.backend), n);
    const host = this.#makeHost();
    this.#nested.attach(host, {
      deliveredOnExit: (cpu, vector) => {
        if (this.#checker.delivered(cpu, vector, 1) === 'doubled') this.#traceEvent(cpu, 'doubled', vector);
      },
      fault: (cpu, what) => this.#env.fault(cpu, what),
    });
    this.backend.attach(host);
    this.platform.onCpuEvent((e) => this.#onCpuEvent(e));
    if (this.trace.enabled) this.#attachTracers();
  }

  /**
   * Device-level trace events. Events of the I/O APIC and the 8259A are attributed to the vCPU
   * whose step caused them (vCPU 0 for device lines changed by scheduled device actions).
   */
  #attachTracers(): void {
    this.platform.lapics.forEach((apic, cpu) => apic.setTracer((kind, a, b) => this.#traceEvent(cpu, kind, a, b)));
    this.platform.bus.setTracer((cpu, mode, vector) => this.#traceEvent(cpu, 'ipi-receive', mode, vector));
    this.platform.ioapic.setTracer((kind, pin, vector) => this.#traceEvent(this.#currentCpu, kind, pin, vector));
    this.platform.pic.setTracer((ir, vector) => this.#traceEvent(this.#currentCpu, 'pic-inta', ir, vector));
  }

  // ---- public API --------------------------------------------------------------------------

  /**
   * Loads a program on a vCPU; it starts at the current time unless it waits for SIPI.
   *
   * @example
   * ```ts
   * import { Machine } from 'irqchip';
   *
   * const m = new Machine({ cpus: 1, backend: 'vmx-posted' });
   * m.load(0, {
   *   main: [{ op: 'mmio-write', offset: 0xf0, value: 0x1ff }, { op: 'sti' }, { op: 'hlt' }, { op: 'done' }],
   *   handlers: { 0x41: [{ op: 'inc', var: 'irqs' }, { op: 'eoi' }, { op: 'iret' }] },
   * });
   * ```
   */
  load(cpu: number, program: GuestProgram): void {
    this.#checkCpu(cpu);
    validateProgram(program);
    checkNestedIsa(program, this.backend.name);
    const vcpu = this.vcpus[cpu]!;
    this.#cancelStep(cpu);
    this.#nested.reset(cpu);
    // The vCPU runs the machine's own copy (plain JSON data, as snapshots store it): a host that
    // changes or reuses its program object afterwards cannot put an unchecked instruction in the
    // guest. Consecutive loads of the same program (every AP of a big machine) share one copy.
    const text = JSON.stringify(program);
    if (text !== this.#lastProgramText) {
      this.#lastProgramText = text;
      this.#lastProgram = JSON.parse(text) as GuestProgram;
    }
    vcpu.load(this.#lastProgram!);
    if (vcpu.state === 'wait-for-sipi') {
      this.#phase[cpu] = 'waiting';
      return;
    }
    // The vCPU enters the guest for the first time.
    this.#phase[cpu] = 'exited';
    this.#scheduleStep(cpu, this.scheduler.now());
  }

  /**
   * Schedules a device event at an absolute virtual time.
   *
   * @example
   * ```ts
   * import { Machine } from 'irqchip';
   *
   * const m = new Machine({ cpus: 2, backend: 'vmx-event' });
   * m.at(50_000, { kind: 'irq', gsi: 20, level: true });              // a PCI line asserted at 50 us
   * m.at(60_000, { kind: 'msi', address: 0xfee01000, data: 0x0051 }); // an MSI to APIC 1
   * ```
   */
  at(atNs: number, action: DeviceAction): void {
    checkInt('atNs', atNs, this.scheduler.now(), Number.MAX_SAFE_INTEGER);
    this.#deviceAction(action); // checks every field before anything is scheduled
    // The machine keeps its own copy (plain JSON data for snapshots; MSI words as u32): the host
    // may reuse or change its object afterwards.
    const copy: DeviceAction =
      action.kind === 'irq'
        ? { kind: 'irq', gsi: action.gsi, level: action.level }
        : action.kind === 'msi'
          ? { kind: 'msi', address: action.address >>> 0, data: action.data >>> 0 }
          : { kind: 'nmi', level: action.level };
    this.#scheduleAction(atNs, copy, this.#deviceAction(copy));
  }

  #scheduleAction(atNs: number, action: DeviceAction, run: () => void): void {
    const entry = { at: atNs, action, id: 0 };
    entry.id = this.scheduler.schedule(atNs, () => {
      this.#actions.delete(entry.id);
      this.#currentCpu = 0;
      run();
    });
    this.#actions.set(entry.id, entry);
  }

  /**
   * Runs until virtual time `untilNs`, or earlier when every loaded program has ended or nothing
   * can happen any more (every vCPU halted for good, no timer armed).
   *
   * @example
   * ```ts
   * import { Machine } from 'irqchip';
   *
   * const m = new Machine({ cpus: 1, backend: 'svm-event' });
   * m.load(0, { main: [{ op: 'work', ns: 1000 }, { op: 'done' }] });
   * const { timeNs, reason } = m.run(10_000_000); // reason 'all-done': the program ended first
   * ```
   */
  run(untilNs: number): RunResult {
    checkInt('untilNs', untilNs, this.scheduler.now(), Number.MAX_SAFE_INTEGER);
    let reason: RunStop = 'time';
    for (;;) {
      if (this.#allDone()) {
        reason = 'all-done';
        break;
      }
      const next = this.scheduler.nextEventTime();
      if (next === undefined) {
        reason = 'idle';
        break;
      }
      if (next > untilNs) {
        this.scheduler.advanceTo(untilNs);
        break;
      }
      this.scheduler.step();
    }
    this.#settle();
    return { timeNs: this.scheduler.now(), reason };
  }

  /**
   * Statistics per vCPU and in total.
   *
   * @example
   * ```ts
   * import { Machine } from 'irqchip';
   *
   * const m = new Machine({ cpus: 2, backend: 'svm-vintr' });
   * m.run(1_000_000);
   * const { cpus, total } = m.stats();
   * cpus[1].lost;          // interrupts the delivery checker found lost on vCPU 1
   * total.exits;           // VM exits of every vCPU
   * ```
   */
  stats(): MachineStats {
    const cpus = this.#counters.map((c, cpu) => {
      const k = this.#checker.counts[cpu]!;
      return {
        ...c,
        exits: { ...c.exits },
        ipisSent: this.platform.bus.ipisSent(cpu),
        ipisReceived: this.platform.bus.ipisReceived(cpu),
        requests: k.requests,
        coalesced: k.coalesced,
        delivered: k.delivered,
        lost: k.lost,
        doubled: k.doubled,
        instructions: this.vcpus[cpu]!.instructions,
        ...this.#nestedStats(cpu),
        deliveredToL2: k.deliveredToL2,
        wrongLevel: k.wrongLevel,
      };
    });
    const total = emptyStats();
    for (const s of cpus) {
      for (const key of Object.keys(total) as Array<keyof VcpuStats>) {
        const sum = total[key];
        if (typeof sum === 'number') (total[key] as number) += s[key] as number;
        else for (const [r, n] of Object.entries(s[key] as Record<string, number>)) (sum as Record<string, number>)[r]! += n;
      }
    }
    return { cpus, total };
  }

  /** The nested-virtualization counters of one vCPU, as VcpuStats fields. */
  #nestedStats(cpu: number): Pick<VcpuStats, 'nestedEntries' | 'nestedExits' | 'nestedExitCount' | 'exitsFromL2' | 'ackedOnExit' | 'immediateExits' | 'l2HandlerEntries'> {
    const n = this.#nested.stats(cpu);
    return {
      nestedEntries: n.entries,
      nestedExits: n.exits,
      nestedExitCount: NESTED_EXIT_REASONS.reduce((sum, r) => sum + n.exits[r], 0),
      exitsFromL2: n.exitsFromL2,
      ackedOnExit: n.ackedOnExit,
      immediateExits: n.immediateExits,
      l2HandlerEntries: n.l2Deliveries,
    };
  }

  /**
   * Nested virtualization (docs/nested.md): which level runs on `cpu`, L1's controls, and which
   * level a pending interrupt for the vCPU is waiting for, and why. Reads state only.
   */
  nestedStatus(cpu: number): NestedStatus {
    this.#checkCpu(cpu);
    return this.#nested.status(cpu);
  }

  /**
   * Why `vector` is or is not deliverable to `cpu`'s guest now: the controllers' answer
   * (Platform.explain), refined by what the backend holds (V_IRQ, PIR, a requested window) and by
   * the vCPU (not running, halted or running with IF = 0, interrupt shadow).
   *
   * @example
   * ```ts
   * import { Machine } from 'irqchip';
   *
   * const m = new Machine({ cpus: 2, backend: 'svm-vintr' });
   * const why = m.explain(1, 0x40); // { deliverable, reason: a stable code, message }
   * console.log(why.reason, why.message);
   * ```
   */
  explain(cpu: number, vector: number): Explanation {
    this.#checkCpu(cpu);
    checkInt('vector', vector, 0, 255);
    const held = this.#explainBackend(cpu, vector);
    if (held) return held;
    const base = this.platform.explain(cpu, vector);
    if (!base.deliverable) return base;
    const vcpu = this.vcpus[cpu]!;
    const no = (reason: Explanation['reason'], message: string): Explanation => ({ deliverable: false, reason, message });
    if (vcpu.state !== 'running') return no('vcpu-not-running', `vCPU ${cpu} is ${vcpu.state}`);
    if (vcpu.halted && !vcpu.interruptFlag) return no('halted-if-clear', `vCPU ${cpu} executed HLT with IF = 0: only an NMI, INIT or SIPI wakes it`);
    const window = this.backend instanceof BackendBase && this.backend.windowRequested(cpu);
    if (!vcpu.interruptFlag) {
      return window
        ? no('waiting-for-window', 'the guest runs with IF = 0; an interrupt window is requested, so the vCPU exits and the vector is injected as soon as it sets IF')
        : no('guest-if-clear', 'the guest runs with RFLAGS.IF = 0');
    }
    if (!vcpu.interruptible()) return no('interrupt-shadow', 'an STI or MOV SS shadow blocks interrupts for one instruction');
    return base;
  }

  /** What the backend holds outside the virtual APIC's IRR (V_IRQ, a posted-interrupt descriptor). */
  #explainBackend(cpu: number, vector: number): Explanation | undefined {
    const b = this.backend;
    const hex = `0x${vector.toString(16)}`;
    if (b instanceof SvmVintrBackend) {
      const v = b.vintr(cpu);
      if (v.taken === vector) {
        return {
          deliverable: false,
          reason: 'vintr-taken-unsynced',
          message: `the guest took vector ${hex} through V_IRQ; the hypervisor moves it from IRR to ISR only at the next exit, so a new request merges into the stale IRR bit`,
        };
      }
      if (v.irq && v.vector === vector) {
        const why = v.prio <= v.tpr ? `V_INTR_PRIO ${v.prio} does not beat V_TPR ${v.tpr}` : 'the guest is not interruptible (IF = 0 or a shadow)';
        return { deliverable: false, reason: 'vintr-pending', message: `vector ${hex} is programmed in V_IRQ but not taken yet: ${why}` };
      }
    }
    if (b instanceof BackendBase && b.reinjecting(cpu, vector)) {
      return {
        deliverable: false,
        reason: 'pending-reinjection',
        message: `an exit cut the delivery of ${hex} short; it is re-injected at the next entry`,
      };
    }
    if (b instanceof BackendBase && b.droppedReinjection(cpu, vector) && this.platform.lapics[cpu]!.isInService(vector)) {
      return {
        deliverable: false,
        reason: 'reinjection-dropped',
        message: `an exit cut the delivery of ${hex} short and the hypervisor dropped it: lost, ISR bit stuck`,
      };
    }
    if (b instanceof VmxPostedBackend && b.posted(cpu, vector) && !this.platform.lapics[cpu]!.isRequested(vector)) {
      return {
        deliverable: false,
        reason: 'posted-not-synced',
        message: `vector ${hex} is posted in the PIR; it reaches vIRR at the next posted-interrupt processing or VM entry`,
      };
    }
    return undefined;
  }

  // ---- snapshots -----------------------------------------------------------------------------

  /**
   * The whole machine as a versioned, self-describing snapshot: options, PRNG, virtual time,
   * every device, every vCPU with its program and program counters, shared memory, the backend's
   * hardware state (V_IRQ, RVI, EOI-exit bitmaps, PIR/ON), in-flight kicks and device events,
   * the checker and the trace. `Machine.restore(bytes).run(t)` continues exactly as this machine
   * would (same trace).
   *
   * @example
   * ```ts
   * import { Machine } from 'irqchip';
   *
   * const m = new Machine({ cpus: 2, backend: 'vmx-vid' });
   * m.run(5_000);
   * const copy = Machine.restore(m.snapshot());
   * copy.run(10_000); m.run(10_000);
   * copy.trace.hash() === m.trace.hash(); // true: the copy continues exactly as the original
   * ```
   */
  snapshot(): Uint8Array {
    const sections: Section[] = [];
    const section = (name: string, write: (w: StateWriter) => void, optional = false, version = MACHINE_STATE_VERSION): void => {
      const w = new StateWriter();
      write(w);
      sections.push({ name, version, optional, payload: w.finish() });
    };
    section('machine', (w) => {
      w.str(JSON.stringify(this.#options)).u32(this.#prng.state).uint(this.scheduler.now());
    });
    sections.push(...this.platform.saveSections());
    this.vcpus.forEach((vcpu, cpu) => section(`vcpu.${cpu}`, (w) => this.#saveCpu(w, vcpu, cpu), false, VCPU_STATE_VERSION));
    section('events', (w) => {
      w.u32(this.#inFlight.length);
      for (const f of this.#inFlight) w.u32(f.cpu).u8(f.kind).uint(f.at).uint(f.id);
      w.u32(this.#actions.size);
      for (const [id, a] of this.#actions) w.str(JSON.stringify(a.action)).uint(a.at).uint(id);
    });
    section('memory', (w) => {
      w.u32(this.memory.size);
      for (const [name, value] of this.memory) w.str(name).int(value);
    });
    section('backend', (w) => {
      w.str(this.backend.name);
      this.backend.saveState(w);
    }, false, BACKEND_STATE_VERSION);
    section('checker', (w) => this.#checker.saveState(w));
    section('nested', (w) => this.#nested.saveState(w));
    section('trace', (w) => this.trace.saveState(w), true);
    return encodeSnapshot('machine', sections, this.scheduler.now());
  }

  /**
   * Rebuilds a machine from {@link snapshot}.
   * @throws SnapshotError naming the section and field for anything truncated, corrupted, of a
   *   newer format or out of range; nothing else escapes.
   */
  static restore(bytes: Uint8Array): Machine {
    const c = decodeSnapshot(bytes, 'machine');
    const r = c.reader('machine', MACHINE_STATE_VERSION);
    const options = parseJson<MachineOptions>(r, 'options');
    const prngState = r.u32('prng');
    const time = r.uint('timeNs');
    r.end();
    let m: Machine;
    try {
      m = new Machine(options);
    } catch (e) {
      throw new SnapshotError(`snapshot section 'machine', field 'options': ${e instanceof Error ? e.message : String(e)}`);
    }
    m.scheduler.advanceTo(time);
    // The machine's own scheduler is at the snapshot's time: nothing is rebased.
    if (c.timeNs !== undefined && c.timeNs !== time) throw new SnapshotError(`snapshot section 'time' says ${c.timeNs} ns, section 'machine' ${time} ns`);
    c.setTarget(time, 'strict');
    m.#prng.state = prngState;
    m.#restoreSections(c);
    return m;
  }

  #restoreSections(c: SnapshotContainer): void {
    const n = this.vcpus.length;
    c.rejectUnknown(
      (name) =>
        this.platform.knowsSection(name) ||
        ['machine', 'events', 'memory', 'backend', 'checker', 'nested', 'trace'].includes(name) ||
        /^vcpu\.\d+$/.test(name),
    );
    const read = <T>(name: string, fn: (r: StateReader) => T, maxVersion = MACHINE_STATE_VERSION): T => {
      const r = c.reader(name, maxVersion);
      const out = fn(r);
      r.end();
      return out;
    };
    const platform = this.platform.readSections(c);
    const cpus = this.vcpus.map((vcpu, cpu) => {
      const name = `vcpu.${cpu}`;
      return read(name, (r) => this.#readCpu(r, vcpu, cpu, c.version(name)), VCPU_STATE_VERSION);
    });
    const events = read('events', (r) => {
      const inFlight: Array<{ cpu: number; kind: number; at: number; order: number }> = [];
      const count = r.count('inFlight', 1 << 20);
      for (let i = 0; i < count; i++) {
        inFlight.push({ cpu: r.u32('inFlight.cpu', n - 1), kind: r.u8('inFlight.kind', NOTIFY), at: r.uint('inFlight.at'), order: r.uint('inFlight.order') });
      }
      const actions: Array<{ action: DeviceAction; at: number; order: number; run: () => void }> = [];
      const na = r.count('actions', 1 << 20);
      for (let i = 0; i < na; i++) {
        const action = parseJson<DeviceAction>(r, 'action');
        const at = r.uint('action.at');
        const order = r.uint('action.order');
        let run: () => void;
        try {
          run = this.#deviceAction(action);
        } catch (e) {
          return r.fail('action', e instanceof Error ? e.message : String(e));
        }
        actions.push({ action, at, order, run });
      }
      return { inFlight, actions };
    });
    const memory = read('memory', (r) => {
      const entries: Array<[string, number]> = [];
      const count = r.count('memory', 1 << 20);
      for (let i = 0; i < count; i++) entries.push([r.str('memory.name', 4096), r.int('memory.value')]);
      return entries;
    });
    const backend = read('backend', (r) => {
      const name = r.str('name', 32);
      if (name !== this.backend.name) r.fail('name', `snapshot backend '${name}' differs from '${this.backend.name}'`);
      return this.backend.readState(r, c.version('backend'));
    }, BACKEND_STATE_VERSION);
    const checker = read('checker', (r) => this.#checker.readState(r));
    const nested = read('nested', (r) => this.#nested.readState(r));
    const trace = c.has('trace') ? read('trace', (r) => this.trace.readState(r)) : undefined;
    for (const e of events.inFlight) {
      if (e.at < this.scheduler.now()) throw new SnapshotError(`snapshot section 'events', field 'inFlight.at': ${e.at} is before the snapshot time`);
    }
    for (const a of events.actions) {
      if (a.at < this.scheduler.now()) throw new SnapshotError(`snapshot section 'events', field 'action.at': ${a.at} is before the snapshot time`);
    }
    // Everything is checked: apply, then re-create the timed events in their original order.
    // Re-arming is not an event of the run: nothing is traced until the trace itself is restored.
    const tracing = this.trace.enabled;
    this.trace.enabled = false;
    const q = new RearmQueue();
    platform(q.rearm);
    for (const apply of cpus) apply(q.rearm);
    for (const e of events.inFlight) {
      q.rearm(e.at, e.order, () => this.#sendHostIpi(e.cpu, e.kind, e.at));
    }
    for (const a of events.actions) q.rearm(a.at, a.order, () => this.#scheduleAction(a.at, a.action, a.run));
    for (const [name, value] of memory) this.memory.set(name, value);
    backend();
    checker();
    nested();
    q.flush();
    this.trace.enabled = tracing;
    trace?.();
  }

  #saveCpu(w: StateWriter, vcpu: Vcpu, cpu: number): void {
    vcpu.saveState(w);
    w.u8(PHASES.indexOf(this.#phase[cpu]!));
    const armed = this.#stepEvent[cpu] !== 0;
    w.bool(armed).uint(armed ? this.#stepAt[cpu]! : 0).uint(this.#stepEvent[cpu]!);
    w.bool(this.#kickFlag[cpu]!).bool(this.#notifyFlag[cpu]!).bool(this.#deliveredNow[cpu]!);
    const spin = this.#spinning[cpu];
    w.bool(spin !== null).str(spin ?? '');
    const c = this.#counters[cpu]!;
    for (const r of EXIT_REASONS) w.uint(c.exits[r]);
    for (const key of COUNTED_KEYS) w.uint(c[key]);
  }

  #readCpu(r: StateReader, vcpu: Vcpu, cpu: number, version: number): (rearm: (at: number, order: number, fn: () => void) => void) => void {
    const applyVcpu = vcpu.readState(r, version);
    const phase = PHASES[r.u8('phase', PHASES.length - 1)]!;
    const armed = r.bool('step.armed');
    const at = r.uint('step.at');
    const order = r.uint('step.order');
    if (armed && at < this.scheduler.now()) r.fail('step.at', `${at} is before the snapshot time`);
    const kick = r.bool('kick');
    const notify = r.bool('notify');
    const delivered = r.bool('deliveredNow');
    const spinning = r.bool('spinning');
    const spinVar = r.str('spinVar', 4096);
    // Layouts before 3 have no counters for the reasons added since (they were 0).
    const known = version >= 3 ? EXIT_REASONS : EXIT_REASONS.slice(0, LEGACY_EXIT_REASON_COUNT);
    const exits = EXIT_REASONS.map((reason, i) => (i < known.length ? r.uint(`exits.${reason}`) : 0));
    const counted = COUNTED_KEYS.map((key) => r.uint(key));
    return (rearm) => {
      applyVcpu();
      this.#phase[cpu] = phase;
      this.#kickFlag[cpu] = kick;
      this.#notifyFlag[cpu] = notify;
      this.#deliveredNow[cpu] = delivered;
      if (spinning) this.#startSpinning(cpu, spinVar);
      const c = this.#counters[cpu]!;
      EXIT_REASONS.forEach((reason, i) => (c.exits[reason] = exits[i]!));
      COUNTED_KEYS.forEach((key, i) => (c[key] = counted[i]!));
      if (armed) rearm(at, order, () => this.#scheduleStep(cpu, at));
    };
  }

  /** The vCPU's local APIC. */
  lapic(cpu: number): LocalApic {
    return this.platform.lapic(cpu);
  }

  // ---- the vCPU loop -----------------------------------------------------------------------

  #onStep(cpu: number): void {
    this.#stepEvent[cpu] = 0;
    this.#currentCpu = cpu;
    const vcpu = this.vcpus[cpu]!;
    if (this.#phase[cpu] === 'exited') {
      this.#phase[cpu] = 'guest';
      this.#traceEvent(cpu, 'entry');
      this.backend.entry(cpu);
      if (this.#exitedNow[cpu]) {
        this.#afterExit(cpu, 0); // the injected event's delivery exited (unmap-idt)
        return;
      }
      if (this.#takeDelivered(cpu)) return;
    }
    if (this.#phase[cpu] !== 'guest') return;
    if (vcpu.state !== 'running') {
      this.#phase[cpu] = vcpu.state === 'done' || vcpu.state === 'shutdown' ? 'done' : 'waiting';
      return;
    }
    vcpu.x2apic = this.platform.lapics[cpu]!.mode === 'x2apic';
    const exit = this.backend.boundary(cpu);
    if (exit !== null) {
      this.#takeExit(cpu, exit);
      this.#afterExit(cpu, 0);
      return;
    }
    if (this.#exitedNow[cpu]) {
      this.#afterExit(cpu, 0); // a delivery the hardware began at this boundary exited (unmap-idt)
      return;
    }
    if (this.#takeDelivered(cpu)) return;
    this.#charged[cpu] = 0;
    const ns = vcpu.step(this.#env) + this.#charged[cpu]!;
    if (this.#exitedNow[cpu]) {
      this.#afterExit(cpu, ns);
      return;
    }
    if ((vcpu.state as string) === 'done' || (vcpu.state as string) === 'shutdown') {
      this.#phase[cpu] = 'done';
      return;
    }
    if (this.#spinning[cpu] !== null) return;
    this.#scheduleStep(cpu, this.scheduler.now() + ns + (this.#takeDelivered(cpu, false) ? this.#cost(this.costs.deliveryNs) : 0));
  }

  /** After a delivery, the handler starts once the delivery cost has passed. */
  #takeDelivered(cpu: number, schedule = true): boolean {
    if (!this.#deliveredNow[cpu]) return false;
    this.#deliveredNow[cpu] = false;
    if (schedule) this.#scheduleStep(cpu, this.scheduler.now() + this.#cost(this.costs.deliveryNs));
    return true;
  }

  #takeExit(cpu: number, reason: ExitReason): void {
    const c = this.#counters[cpu]!;
    c.exits[reason]++;
    c.exitCount++;
    this.#kickFlag[cpu] = false;
    this.#notifyFlag[cpu] = false;
    this.#phase[cpu] = 'exited';
    this.#exitedNow[cpu] = true;
    const fromL2 = this.vcpus[cpu]!.level === 2;
    if (fromL2) this.#nested.noteExit(cpu, reason);
    this.#traceEvent(cpu, 'exit', 0, fromL2 ? 2 : 0, reason); // b = 2: the exit came from L2
    this.backend.exit(cpu, reason);
  }

  #afterExit(cpu: number, ns: number): void {
    this.#exitedNow[cpu] = false;
    this.#deliveredNow[cpu] = false;
    const vcpu = this.vcpus[cpu]!;
    if (vcpu.state === 'done' || vcpu.state === 'shutdown') {
      this.#phase[cpu] = 'done';
      return;
    }
    const resume = this.scheduler.now() + ns + this.#cost(this.costs.vmExitNs);
    if (vcpu.halted && !this.backend.canWake(cpu)) {
      this.#phase[cpu] = 'halted';
      this.#traceEvent(cpu, 'halt');
      return;
    }
    this.#scheduleStep(cpu, resume);
  }

  #scheduleStep(cpu: number, atNs: number): void {
    this.#cancelStep(cpu);
    this.#stepAt[cpu] = atNs;
    this.#stepEvent[cpu] = this.scheduler.schedule(atNs, this.#stepFns[cpu]!);
  }

  #cancelStep(cpu: number): void {
    if (this.#stepEvent[cpu] !== 0) this.scheduler.cancel(this.#stepEvent[cpu]!);
    this.#stepEvent[cpu] = 0;
  }

  /** A kick or notification landed: the vCPU stops at a boundary now. */
  #preempt(cpu: number): void {
    const now = this.scheduler.now();
    const name = this.#spinning[cpu];
    if (name !== null) {
      this.#stopSpinning(cpu, name);
      this.#scheduleStep(cpu, now);
      return;
    }
    if (this.#stepEvent[cpu] === 0 || this.#stepAt[cpu]! <= now) return;
    const vcpu = this.vcpus[cpu]!;
    if (vcpu.lastOp !== 'work') return; // a short instruction: the boundary comes soon enough
    vcpu.interruptWork(this.#stepAt[cpu]! - now);
    this.#scheduleStep(cpu, now);
  }

  /** A host IPI (kick or notification) that lands at `at`. */
  #sendHostIpi(cpu: number, kind: number, at: number): void {
    const id = this.scheduler.schedule(at, kind === KICK ? this.#kickFns[cpu]! : this.#notifyFns[cpu]!);
    this.#inFlight.push({ cpu, kind, at, id });
  }

  /** The host IPI of this kind that just landed (the earliest in time, then in order). */
  #landed(cpu: number, kind: number): void {
    let best = -1;
    for (let i = 0; i < this.#inFlight.length; i++) {
      const f = this.#inFlight[i]!;
      if (f.cpu !== cpu || f.kind !== kind) continue;
      if (best < 0) best = i;
      else {
        const b = this.#inFlight[best]!;
        if (f.at < b.at || (f.at === b.at && f.id < b.id)) best = i;
      }
    }
    if (best >= 0) this.#inFlight.splice(best, 1);
  }

  #onKick(cpu: number): void {
    this.#landed(cpu, KICK);
    if (this.#phase[cpu] !== 'guest') return; // the hypervisor already has the vCPU
    this.#kickFlag[cpu] = true;
    this.#preempt(cpu);
  }

  #onNotification(cpu: number): void {
    this.#landed(cpu, NOTIFY);
    if (this.#phase[cpu] !== 'guest') return; // synced at the next entry instead
    this.#notifyFlag[cpu] = true;
    this.#preempt(cpu);
  }

  #wake(cpu: number): void {
    if (this.#phase[cpu] !== 'halted' || !this.backend.canWake(cpu)) return;
    this.#phase[cpu] = 'exited';
    this.#traceEvent(cpu, 'wake');
    this.#scheduleStep(cpu, this.scheduler.now() + this.#cost(this.costs.wakeLatencyNs));
  }

  // ---- events from the local APICs -----------------------------------------------------------

  #onCpuEvent(e: CpuEvent): void {
    const cpu = e.cpu;
    switch (e.kind) {
      case 'interrupt':
        this.#checker.request(cpu, e.vector, false);
        this.#traceEvent(cpu, 'request', e.vector);
        this.backend.pending(cpu, 'interrupt');
        return;
      case 'coalesced': {
        const verdict = this.#checker.request(cpu, e.vector, true);
        this.#traceEvent(cpu, verdict === 'lost' ? 'lost' : 'coalesced', e.vector);
        return;
      }
      case 'nmi':
        this.backend.pending(cpu, 'nmi');
        return;
      case 'extint':
        this.backend.pending(cpu, 'extint');
        return;
      case 'init':
        this.#onInit(cpu);
        return;
      case 'sipi':
        this.#onSipi(cpu, e.vector);
        return;
      default:
        return;
    }
  }

  #onInit(cpu: number): void {
    const lapic = this.platform.lapics[cpu]!;
    const vcpu = this.vcpus[cpu]!;
    this.#traceEvent(cpu, 'init');
    this.#checker.reset(cpu); // INIT clears IRR: nothing is owed any more
    this.#nested.reset(cpu); // INIT leaves VMX / SVM operation: no L2 any more
    this.#cancelStep(cpu);
    const name = this.#spinning[cpu];
    if (name !== null) this.#stopSpinning(cpu, name);
    vcpu.init(lapic.isBsp);
    if (vcpu.state === 'running') {
      this.#phase[cpu] = 'exited';
      this.#scheduleStep(cpu, this.scheduler.now() + this.#cost(this.costs.vmExitNs));
    } else {
      this.#phase[cpu] = 'waiting';
    }
  }

  #onSipi(cpu: number, vector: number): void {
    if (!this.vcpus[cpu]!.sipi()) return;
    this.#traceEvent(cpu, 'sipi', vector);
    this.#phase[cpu] = 'exited';
    this.#scheduleStep(cpu, this.scheduler.now() + this.#cost(this.costs.wakeLatencyNs));
  }

  // ---- the environment the vCPU interpreter sees ---------------------------------------------

  #makeEnv(): VcpuEnv {
    const m = this;
    return {
      get instructionNs() {
        return m.#cost(m.costs.instructionNs);
      },
      // L2's APIC accesses go to the same local APIC, always through an exit (nested-access.ts).
      mmioRead: (cpu, offset) => m.#accessFor(cpu).mmioRead(cpu, offset),
      mmioWrite: (cpu, offset, value) => {
        m.#accessFor(cpu).mmioWrite(cpu, offset, value);
        // Traced for the trace's ISR view (trace/chrome.ts).
        if (offset === 0xb0 && m.platform.lapics[cpu]!.mode === 'xapic') m.#traceEvent(cpu, 'eoi');
      },
      msrRead: (cpu, msr) => m.#accessFor(cpu).msrRead(cpu, msr),
      msrWrite: (cpu, msr, value) => {
        const ok = m.#accessFor(cpu).msrWrite(cpu, msr, value);
        if (ok && msr === 0x80b) m.#traceEvent(cpu, 'eoi');
        return ok;
      },
      cr8Read: (cpu) => m.#accessFor(cpu).cr8Read(cpu),
      cr8Write: (cpu, value) => m.#accessFor(cpu).cr8Write(cpu, value),
      halt: (cpu) => m.#takeExit(cpu, 'hlt'),
      spin: (cpu, name) => m.#startSpinning(cpu, name),
      read: (name) => m.memory.get(name) ?? 0,
      write: (name, value) => m.#writeMemory(name, value),
      record: (cpu, label, value) => m.#traceEvent(cpu, 'record', value, 0, label),
      finished: (cpu) => m.#traceEvent(cpu, 'done'),
      fault: (cpu, what) => {
        m.#counters[cpu]!.faults++;
        m.#traceEvent(cpu, 'fault', 0, 0, what);
      },
      // Every hypervisor intercepts the 8259A's ports (it is emulated): IN/OUT exit ('io') and the
      // access takes effect as the exit is handled. Ports nothing claims read 0xFF.
      portRead: (cpu, port) => {
        m.#takeExit(cpu, 'io');
        return isPicPort(port) ? m.platform.pic.ioRead(port) : 0xff;
      },
      portWrite: (cpu, port, value) => {
        m.#takeExit(cpu, 'io');
        if (isPicPort(port)) m.platform.pic.ioWrite(port, value);
      },
      returned: (cpu, vector, nmi) => m.#traceEvent(cpu, 'iret', vector, nmi ? 1 : 0),
      exception: (cpu, vector, errorCode) => m.#deliverException(cpu, vector, errorCode),
      shutdown: (cpu) => {
        m.#traceEvent(cpu, 'fault', 0, 0, 'triple fault');
        m.#takeExit(cpu, 'shutdown');
      },
      // Nested virtualization: L1's hypervisor instructions (docs/nested.md).
      vmenter: (cpu, instr) => m.#nested.vmenter(cpu, instr),
      exitInfo: (cpu) => m.#nested.exitInfo(cpu),
      setGif: (cpu, value) => m.#nested.setGif(cpu, value),
      l2Finished: (cpu) => m.#nested.l2Finished(cpu),
    };
  }

  /** Who performs a guest's APIC access: the backend for L1, L0's plain emulation for L2. */
  #accessFor(cpu: number): L2ApicAccess {
    return this.vcpus[cpu]!.level === 2 ? this.#nested.l2Access : this.backend;
  }

  #startSpinning(cpu: number, name: string): void {
    this.#spinning[cpu] = name;
    let set = this.#watchers.get(name);
    if (set === undefined) {
      set = new Set();
      this.#watchers.set(name, set);
    }
    set.add(cpu);
  }

  #stopSpinning(cpu: number, name: string): void {
    this.#spinning[cpu] = null;
    this.#watchers.get(name)?.delete(cpu);
  }

  #writeMemory(name: string, value: number): void {
    this.memory.set(name, value);
    const set = this.#watchers.get(name);
    if (set === undefined || set.size === 0) return;
    const waiting = [...set].sort((a, b) => a - b);
    set.clear();
    const at = this.scheduler.now() + this.#cost(this.costs.instructionNs);
    for (const cpu of waiting) {
      this.#spinning[cpu] = null;
      this.#scheduleStep(cpu, at);
    }
  }

  // ---- the host the backend sees -----------------------------------------------------------

  #makeHost(): BackendHost {
    const m = this;
    return {
      platform: m.platform,
      costs: m.costs,
      vcpu: (cpu) => m.vcpus[cpu]!,
      lapic: (cpu) => m.platform.lapics[cpu]!,
      inGuest: (cpu) => m.#phase[cpu] === 'guest',
      deliver: (cpu, vector, source) => m.#deliver(cpu, vector, source),
      deliverException: (cpu, vector, errorCode) => m.#deliverException(cpu, vector, errorCode),
      tripleFault: (cpu) => m.vcpus[cpu]!.tripleFault(m.#env),
      lose: (cpu, vector) => {
        if (m.#checker.lose(cpu, vector)) m.#traceEvent(cpu, 'lost', vector);
      },
      deliverNmi: (cpu) => {
        if (m.#deliveryExits(cpu, { type: 2, vector: 2, errorCode: 0, source: 'lapic' })) return;
        m.vcpus[cpu]!.deliverNmi();
        m.#counters[cpu]!.handlerEntries++;
        m.#deliveredNow[cpu] = true;
        m.#traceEvent(cpu, 'nmi', 0, 0, m.vcpus[cpu]!.level === 2 ? 'L2' : undefined);
      },
      exit: (cpu, reason) => m.#takeExit(cpu, reason),
      kick: (cpu) => {
        if (m.#phase[cpu] === 'guest') m.#sendHostIpi(cpu, KICK, m.scheduler.now() + m.#cost(m.costs.ipiLatencyNs));
      },
      notify: (cpu) => {
        if (m.#phase[cpu] === 'guest') m.#sendHostIpi(cpu, NOTIFY, m.scheduler.now() + m.#cost(m.costs.ipiLatencyNs));
      },
      takeKick: (cpu) => {
        const k = m.#kickFlag[cpu]!;
        m.#kickFlag[cpu] = false;
        return k;
      },
      takeNotification: (cpu) => {
        const k = m.#notifyFlag[cpu]!;
        m.#notifyFlag[cpu] = false;
        return k;
      },
      wake: (cpu) => m.#wake(cpu),
      charge: (cpu, ns) => {
        m.#charged[cpu]! += m.#cost(ns);
      },
      count: (cpu, what: Counted) => {
        m.#counters[cpu]![what]++;
      },
      trace: (cpu, kind, a, b, label) => m.#traceEvent(cpu, kind, a, b, label),
      get nested() {
        return m.#nested;
      },
    };
  }

  /**
   * Whether the delivery of `event` about to happen exits instead (the IDT page `unmap-idt` took
   * out of EPT/NPT): the exit reports the event to the backend (IDT-vectoring information /
   * EXITINTINFO) and is taken; the handler is not entered.
   */
  #deliveryExits(cpu: number, event: VectoringInfo): boolean {
    if (!this.vcpus[cpu]!.takeIdtFault()) return false;
    this.backend.interrupted(cpu, event);
    if (event.type === 0 && event.source === 'lapic') this.#checker.interrupted(cpu, event.vector);
    this.#traceEvent(cpu, 'vectoring', event.vector, event.type);
    this.#takeExit(cpu, this.backend.name.startsWith('svm') ? 'npf' : 'ept-violation');
    return true;
  }

  /** The guest enters the handler of exception `vector` (unless its delivery exits). */
  #deliverException(cpu: number, vector: number, errorCode: number): void {
    if (this.#deliveryExits(cpu, { type: 3, vector, errorCode, source: 'lapic' })) return;
    this.vcpus[cpu]!.deliverException(vector);
    this.#counters[cpu]!.handlerEntries++;
    this.#deliveredNow[cpu] = true;
    this.#traceEvent(cpu, 'exception', vector, errorCode);
  }

  #deliver(cpu: number, vector: number, source: DeliverySource): void {
    if (source !== 'l1' && this.#deliveryExits(cpu, { type: 0, vector, errorCode: 0, source })) return;
    const vcpu = this.vcpus[cpu]!;
    vcpu.deliverInterrupt(vector);
    this.#counters[cpu]!.handlerEntries++;
    this.#deliveredNow[cpu] = true;
    // Nested: label 'L2' for L2's handlers; b = 3 for an event L1 injected into L2 (no APIC request).
    const level = vcpu.level;
    this.#traceEvent(cpu, 'deliver', vector, source === 'extint' ? 1 : source === 'l1' ? 3 : 0, level === 2 ? 'L2' : undefined);
    if (source !== 'lapic') return;
    const verdict = this.#checker.delivered(cpu, vector, level, level === 2 && !this.#nested.l1InterceptsInterrupts(cpu));
    if (verdict === 'doubled' || verdict === 'wrong-level') this.#traceEvent(cpu, verdict, vector);
  }

  // ---- helpers -----------------------------------------------------------------------------

  #deviceAction(action: DeviceAction): () => void {
    checkObject('action', action);
    switch (action.kind) {
      // Checked here, when the action is scheduled: a bad field must not throw later from run().
      case 'irq':
        checkInt('action.gsi', action.gsi, 0, Math.max(this.platform.ioapic.pins, 16) - 1);
        checkBool('action.level', action.level);
        return () => this.platform.setIrq(action.gsi, action.level);
      case 'msi':
        // Any number is guest data (at() stores it as its u32 value); anything else is a host bug.
        checkNumber('action.address', action.address);
        checkNumber('action.data', action.data);
        return () => this.platform.sendMsi(action.address, action.data);
      case 'nmi':
        checkBool('action.level', action.level);
        return () => this.platform.setNmiLine(action.level);
      default:
        throw new RangeError(`action.kind must be 'irq', 'msi' or 'nmi', got ${String((action as { kind: unknown }).kind)}`);
    }
  }

  /** A cost with the seeded jitter applied. */
  #cost(base: number): number {
    if (this.costs.jitter === 0 || base === 0) return base;
    return base + this.#prng.below(Math.floor(base * this.costs.jitter) + 1);
  }

  #allDone(): boolean {
    let loaded = 0;
    for (let cpu = 0; cpu < this.vcpus.length; cpu++) {
      if (this.#phase[cpu] === 'idle') continue;
      loaded++;
      if (this.#phase[cpu] !== 'done') return false;
    }
    return loaded > 0;
  }

  #settle(): void {
    for (let cpu = 0; cpu < this.vcpus.length; cpu++) {
      for (const v of this.#checker.settle(cpu, (vector) => this.backend.holds(cpu, vector))) this.#traceEvent(cpu, 'lost', v);
    }
  }

  #traceEvent(cpu: number, kind: TraceKind, a = 0, b = 0, label?: string): void {
    this.trace.add(this.scheduler.now(), cpu, kind, a, b, label);
  }

  #checkCpu(cpu: number): void {
    checkInt('cpu', cpu, 0, this.vcpus.length - 1);
  }
}

function checkNumber(name: string, value: unknown): void {
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number, got ${typeName(value)}`);
}

/** `svmVintr` is undefined or an object whose `intermediateState` and `cr8Intercept` are undefined or booleans. */
function checkSvmVintrOptions(o: unknown): void {
  if (o === undefined) return;
  checkObject('svmVintr', o);
  const { intermediateState, cr8Intercept } = o as SvmVintrOptions;
  if (intermediateState !== undefined) checkBool('svmVintr.intermediateState', intermediateState);
  if (cr8Intercept !== undefined) checkBool('svmVintr.cr8Intercept', cr8Intercept);
}

/** The 8259A pair's ports and its ELCR. */
function isPicPort(port: number): boolean {
  return port === 0x20 || port === 0x21 || port === 0xa0 || port === 0xa1 || port === 0x4d0 || port === 0x4d1;
}
