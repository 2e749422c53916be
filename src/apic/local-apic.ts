/**
 * The local APIC: one per CPU, in xAPIC or x2APIC mode, as a state machine over the 4 KiB APIC
 * page (SDM vol. 3, chapter "Advanced Programmable Interrupt Controller (APIC)").
 *
 * Three kinds of callers drive it:
 * - the **guest**, through {@link LocalApic.readRegister}/{@link LocalApic.writeRegister} (xAPIC
 *   MMIO), {@link LocalApic.readMsr}/{@link LocalApic.writeMsr} (x2APIC MSRs, IA32_APIC_BASE,
 *   IA32_TSC_DEADLINE) and {@link LocalApic.setCr8}. Nothing a guest writes can throw: reserved
 *   bits are ignored (xAPIC) or reported as #GP by the return value (MSRs), invalid ICR
 *   combinations are dropped, errors land in ESR.
 * - the **fabric** (APIC bus, I/O APIC, PIC wiring), through {@link LocalApic.acceptMessage},
 *   {@link LocalApic.acceptInterrupt} and {@link LocalApic.setLint}.
 * - the **CPU** (an emulator's, or this library's vCPU model), through
 *   {@link LocalApic.pendingVector}, {@link LocalApic.acknowledge}, {@link LocalApic.eoi},
 *   {@link LocalApic.takeNmi} and the event callback.
 *
 * The hot paths (acceptInterrupt, pendingVector, acknowledge, eoi) allocate nothing.
 *
 * @module
 */
import { checkRestoreOptions, encodeDevice, restoreDevice, type RestoreOptions } from '../codec/container.js';
import type { Rearm, StateReader, StateWriter } from '../codec/state.js';
import { checkBool, checkBusValue, checkFunction, checkInt, checkObject, checkU64 } from '../errors.js';
import type { Clock } from '../time/clock.js';
import { IcrCheck, checkIcr, icrDeliveryMode, icrLogical, icrShorthand, icrVector } from './icr.js';
import { DeliveryMode, X2APIC_BROADCAST, XAPIC_BROADCAST } from './message.js';
import { MMIO_WINDOW_BYTES, checkMmio, crossesDword, laneBytes, type MmioSize } from './mmio.js';
import { ApicPage } from './page.js';
import {
  APIC_APR,
  APIC_BASE_BSP,
  APIC_BASE_DEFAULT_ADDRESS,
  APIC_BASE_ENABLE,
  APIC_BASE_EXTD,
  APIC_DFR,
  APIC_EOI,
  APIC_ESR,
  APIC_ICR_HIGH,
  APIC_ICR_LOW,
  APIC_ID,
  APIC_IRR,
  APIC_ISR,
  APIC_LDR,
  APIC_LVT_CMCI,
  APIC_LVT_ERROR,
  APIC_LVT_LINT0,
  APIC_LVT_LINT1,
  APIC_LVT_PERF,
  APIC_LVT_THERMAL,
  APIC_LVT_TIMER,
  APIC_PPR,
  APIC_REG_STRIDE,
  APIC_RRD,
  APIC_SELF_IPI,
  APIC_SVR,
  APIC_TIMER_CURRENT_COUNT,
  APIC_TIMER_DIVIDE,
  APIC_TIMER_INITIAL_COUNT,
  APIC_TPR,
  APIC_VERSION,
  DFR_MODEL_CLUSTER,
  DFR_MODEL_FLAT,
  DFR_MODEL_MASK,
  DFR_RESERVED_ONES,
  DFR_RESET,
  ESR_ILLEGAL_REGISTER,
  ESR_RECEIVE_ILLEGAL_VECTOR,
  ESR_SEND_ILLEGAL_VECTOR,
  FIRST_LEGAL_VECTOR,
  ICR_HIGH_DEST_SHIFT,
  ICR_HIGH_WRITABLE,
  ICR_LOW_WRITABLE,
  ICR_SHORTHAND_SHIFT,
  KVM_QUIRK_LINT0,
  LDR_XAPIC_SHIFT,
  LVT_COUNT,
  LVT_DELIVERY_MODE_MASK,
  LVT_DELIVERY_MODE_SHIFT,
  LVT_MASKED,
  LVT_OFFSETS,
  LVT_POLARITY_LOW,
  LVT_REMOTE_IRR,
  LVT_RESET,
  LVT_TIMER_MODE_MASK,
  LVT_TIMER_MODE_SHIFT,
  LVT_TRIGGER_LEVEL,
  LVT_VECTOR_MASK,
  LVT_WRITABLE,
  LvtIndex,
  MSR_IA32_APIC_BASE,
  MSR_IA32_TSC_DEADLINE,
  MSR_X2APIC_BASE,
  MSR_X2APIC_ICR,
  MSR_X2APIC_LAST,
  MSR_X2APIC_SELF_IPI,
  PRIORITY_CLASS_MASK,
  PRIORITY_MASK,
  SVR_APIC_ENABLE,
  SVR_FOCUS_DISABLE,
  SVR_RESET,
  SVR_SUPPRESS_EOI_BROADCAST,
  SVR_VECTOR_MASK,
  SEABIOS_LINT0,
  SEABIOS_LINT1,
  SEABIOS_SVR,
  Shorthand,
  TIMER_DIVIDE_WRITABLE,
  VERSION_DIRECTED_EOI,
  VERSION_INTEGRATED_APIC,
  VERSION_MAX_LVT,
  VERSION_MAX_LVT_SHIFT,
  X2APIC_CLUSTER_ID_SHIFT,
  X2APIC_CLUSTER_SHIFT,
  X2APIC_ICR_LOW_RESERVED,
  X2APIC_LOGICAL_ID_MASK,
  XAPIC_ID_MASK,
  XAPIC_ID_SHIFT,
} from './registers.js';
import { ApicTimer, TIMER_EXPIRED } from './timer.js';

/** The APIC's global mode, from IA32_APIC_BASE EN and EXTD. */
export type ApicMode = 'disabled' | 'xapic' | 'x2apic';

/**
 * What the local APIC tells its CPU. `interrupt`: a fixed interrupt entered IRR (the CPU may
 * want to re-check {@link LocalApic.pendingVector}); `coalesced`: a fixed interrupt found its
 * IRR bit already set and merged into it; `nmi`, `smi`: the latch was set; `init`:
 * an INIT arrived; `sipi`: a start-up IPI arrived (the value is its vector); `extint`: the CPU's
 * INTR should fetch a vector from the 8259A (virtual wire).
 */
export type LapicEvent = 'interrupt' | 'coalesced' | 'nmi' | 'smi' | 'init' | 'sipi' | 'extint';

/**
 * Internal state changes a tracer can observe: `isr-set` / `isr-clear` (a = vector, b = PPR after),
 * `ppr` (a = new PPR, b = TPR), `ipi-send` (a = ICR low, b = destination), `timer-arm`
 * (a = expiry time in ns), `timer-fire` (a = the LVT timer vector).
 */
export type LapicTraceKind = 'isr-set' | 'isr-clear' | 'ppr' | 'ipi-send' | 'timer-arm' | 'timer-fire';

/**
 * The register state a reset leaves (docs/local-apic.md, "Reset presets"):
 * - `power-on`: the SDM's "Local APIC State After Power-Up or Reset" (SVR 0xFF, every LVT masked).
 * - `seabios`: what SeaBIOS's smp_setup() leaves on the BSP: SVR 0x1FF, LINT0 0x8700 (ExtINT,
 *   level), LINT1 0x8400 (NMI, level); APs as power-on.
 * - `kvm`: KVM's kvm_lapic_reset() with KVM_X86_QUIRK_LINT0_REENABLED (on by default): the BSP's
 *   LINT0 is 0x700 (ExtINT, unmasked) while SVR stays 0xFF (software-disabled); APs as power-on.
 */
export type ResetPreset = 'power-on' | 'seabios' | 'kvm';
export const RESET_PRESETS: readonly ResetPreset[] = ['power-on', 'seabios', 'kvm'];

/** A CPU's run state as far as INIT and SIPI are concerned (SDM "MP Initialization"). */
export type CpuRunState = 'running' | 'wait-for-sipi';

/**
 * What a local APIC needs from the APIC bus. The library's `ApicBus` implements it; an emulator
 * with its own bus can too. Every method takes plain values so that a send allocates nothing.
 */
export interface ApicBusPort {
  /** Called once by the LocalApic constructor. */
  attach(apic: LocalApic): void;
  /**
   * Delivers a validated ICR message. `icrLow` is the ICR low word (vector, delivery mode,
   * destination mode, shorthand); `destination` is ICR[63:56] in xAPIC mode or ICR[63:32] in
   * x2APIC mode. Shorthand "self" never reaches the bus.
   */
  sendIpi(source: LocalApic, icrLow: number, destination: number): void;
  /** EOI of a level-triggered vector that was not suppressed by SVR bit 12. */
  broadcastEoi(source: LocalApic, vector: number): void;
  /** The APIC's ID, LDR, DFR or mode changed: cached routing must be rebuilt. */
  routingChanged(apic: LocalApic): void;
}

/**
 * Hardware assists layered on the APIC model (bhyve's vlapic ops table does the same for VT-x
 * and SVM): an injection backend that posts interrupts (VMX posted interrupts) takes fixed
 * interrupts before they reach IRR.
 */
export interface ApicAccel {
  /**
   * A fixed interrupt is being accepted (TMR is already updated).
   * @returns {@link ACCEL_NOT_TAKEN} to let the APIC set IRR, {@link ACCEL_POSTED} when the assist
   *   took it as a new request, {@link ACCEL_COALESCED} when it merged into one already pending.
   */
  acceptFixed(vector: number, level: boolean): number;
}
export const ACCEL_NOT_TAKEN = -1;
export const ACCEL_POSTED = 0;
export const ACCEL_COALESCED = 1;

export interface LocalApicOptions {
  /** Initial APIC ID: the x2APIC ID; the xAPIC ID is its low 8 bits. 0..0xFFFFFFFE. */
  id: number;
  clock: Clock;
  bus?: ApicBusPort;
  /** Bootstrap processor (IA32_APIC_BASE bit 8). Default false. */
  bsp?: boolean;
  /** Timer input frequency before the divider, Hz. Default 1 GHz (1 ns per tick, as KVM). */
  timerHz?: number;
  /** TSC frequency for IA32_TSC_DEADLINE, Hz. Default 1 GHz. */
  tscHz?: number;
  /** Smallest interval between periodic timer interrupts, ns. Default 200 µs (KVM's floor). */
  minTimerPeriodNs?: number;
  /** Whether the CPU supports x2APIC (IA32_APIC_BASE EXTD writable). Default true. */
  x2apicSupported?: boolean;
  /** Start in x2APIC mode (as firmware would leave it). Default false. */
  x2apic?: boolean;
  /** Advertise and honour EOI-broadcast suppression (directed EOI, SVR bit 12). Default true. */
  directedEoi?: boolean;
  /**
   * Handle INIT and SIPI inside the model (INIT resets the APIC and parks an AP in
   * wait-for-SIPI; a SIPI then starts it). When false they are only reported through the
   * event callback and the host calls {@link LocalApic.init} / {@link LocalApic.startup}.
   * Default true.
   */
  autoInitSipi?: boolean;
  /** Physical address width for IA32_APIC_BASE's base field. Default 36. */
  physAddrBits?: number;
  /** The state the constructor and {@link LocalApic.reset} leave. Default `'power-on'`. */
  reset?: ResetPreset;
  /**
   * Receives CPU-facing events. Optional: without one, fixed acceptances take a shorter path
   * (see {@link LocalApic.setEventHandler}).
   */
  onEvent?: (event: LapicEvent, value: number) => void;
}

/** Counters, for statistics and for tests. */
export interface LocalApicStats {
  /** Fixed interrupts accepted into IRR. */
  accepted: number;
  /** Fixed interrupts that found their IRR bit already set. */
  coalesced: number;
  /** Fixed interrupts dropped because the APIC was software-disabled. */
  droppedDisabled: number;
  /** acknowledge() calls that returned the spurious vector. */
  spurious: number;
  eois: number;
  eoiBroadcasts: number;
  /** ICR writes (and SELF IPIs) that sent a message. */
  ipisSent: number;
  /** ICR writes dropped as invalid combinations or illegal vectors. */
  ipisInvalid: number;
  nmis: number;
  smis: number;
  inits: number;
  sipis: number;
  /** SIPIs ignored because the CPU was not waiting for one. */
  sipisIgnored: number;
  timerFires: number;
}

/**
 * Literals for the hot paths (acceptance, pendingVector, acknowledge, EOI). V8 reads an imported
 * constant through a cell with a hole check at every use; a `const enum` member is inlined as a
 * literal by tsc and esbuild. The values are the hardware's; registers.ts has the named originals.
 */
const enum Hot {
  Tpr = 0x080, // APIC_TPR
  Ppr = 0x0a0, // APIC_PPR
  Svr = 0x0f0, // APIC_SVR
  ClassMask = 0xf0, // PRIORITY_CLASS_MASK
  SvrVectorMask = 0xff, // SVR_VECTOR_MASK
  FirstLegalVector = 16, // FIRST_LEGAL_VECTOR
  NoFastVector = 256, // fastMinVector when the fast path is off: above every vector
  AccelNotTaken = -1, // ACCEL_NOT_TAKEN
  AccelCoalesced = 1, // ACCEL_COALESCED
  ModeDisabled = 0, // MODE_DISABLED
  NoVector = -1, // NO_VECTOR
}

const MODE_DISABLED = 0;
const MODE_XAPIC = 1;
const MODE_X2APIC = 2;
const MODE_NAMES: readonly ApicMode[] = ['disabled', 'xapic', 'x2apic'];

const NO_VECTOR = -1;
/** readCommon(): no register at this offset, or not readable in both modes. */
const NOT_READABLE = -1;
const MAX_APIC_ID = 0xffff_fffe;
const X2APIC_RESERVED_HIGH = 0xffff_ffff_0000_0000n;
const U32 = 0xffff_ffffn;

/**
 * One local APIC (xAPIC and x2APIC) as the SDM describes it (vol. 3, "Advanced Programmable
 * Interrupt Controller"): the 4 KiB register page in a `Uint32Array` at its real offsets, IRR / ISR /
 * TMR, TPR / PPR, the LVTs and LINT pins, the ICR, the timer, IA32_APIC_BASE and the x2APIC MSRs.
 * An emulator forwards the guest's MMIO, MSR and CR8 accesses and asks {@link LocalApic.pendingVector}
 * at instruction boundaries (docs/local-apic.md).
 *
 * @example
 * ```ts
 * import { LocalApic, Scheduler } from 'irqchip';
 *
 * const clock = new Scheduler();
 * const apic = new LocalApic({ id: 0, clock, bsp: true });
 * apic.writeRegister(0xf0, 0x1ff);    // SVR: software-enable, spurious vector 0xFF
 * apic.acceptInterrupt(0x31, false);  // a fixed, edge-triggered interrupt arrives
 * const vector = apic.pendingVector(); // 0x31 (beats PPR), -1 if none
 * apic.acknowledge();                 // INTA: IRR -> ISR
 * apic.eoi();                         // the handler's EOI
 * ```
 */
export class LocalApic {
  // Field order is object layout: with constructor-assigned fields (tsconfig
  // useDefineForClassFields: false) V8 lays fields out in the order they are first assigned, so
  // the ones every acceptance, INTA and EOI touches come first and share cache lines.

  /**
   * The lowest vector {@link acceptInterrupt} may take on its fast path: FIRST_LEGAL_VECTOR (16)
   * while the APIC is enabled (globally and in SVR) with no assist and no event handler, else
   * 256 (no vector), so the common case is one comparison. Kept up to date by
   * {@link syncFastPaths} wherever one of those changes (IA32_APIC_BASE, SVR, reset/INIT,
   * snapshot restore, setAccel, setEventHandler).
   */
  private fastMinVector = Hot.NoFastVector;
  /**
   * The priority class a requested vector must exceed to be delivered: PPR's class, or 0xF0
   * while the APIC is globally disabled (no class exceeds it). {@link pendingVector} is then one
   * comparison, which also covers an empty IRR (-1 & 0xF0 is 0xF0).
   */
  private pendingFloor = Hot.ClassMask;
  private readonly regs = new ApicPage();
  readonly stats: LocalApicStats = {
    accepted: 0,
    coalesced: 0,
    droppedDisabled: 0,
    spurious: 0,
    eois: 0,
    eoiBroadcasts: 0,
    ipisSent: 0,
    ipisInvalid: 0,
    nmis: 0,
    smis: 0,
    inits: 0,
    sipis: 0,
    sipisIgnored: 0,
    timerFires: 0,
  };
  private modeCode = MODE_XAPIC;
  private swEnabled = false;
  private ppr = 0;
  private onEvent: ((event: LapicEvent, value: number) => void) | undefined = undefined;
  private accel: ApicAccel | undefined = undefined;
  private tracer: ((kind: LapicTraceKind, a: number, b: number) => void) | undefined = undefined;

  /** The initial APIC ID (x2APIC ID). */
  readonly id: number;
  private readonly timer: ApicTimer;
  private readonly bus: ApicBusPort | undefined;
  private readonly directedEoi: boolean;
  private readonly x2apicSupported: boolean;
  private readonly autoInitSipi: boolean;
  private readonly startInX2apic: boolean;
  private readonly resetPreset: ResetPreset;
  private readonly baseAddressMask: bigint;
  private apicBase = 0n;
  private esrPending = 0;
  private inErrorDelivery = false;
  private nmiPending = false;
  private smiPending = false;
  private extIntLatched = false;
  private initPending = false;
  private lint0Level = false;
  private lint1Level = false;
  private runState: CpuRunState = 'running';
  private sipiVector = NO_VECTOR;
  /**
   * The clock, when it follows the host's time (it has `sync`, e.g. a HostClock): synced before
   * every guest-visible access so the guest sees the host's current time. Else undefined.
   */
  private readonly hostClock: Clock | undefined;

  /**
   * Builds the APIC in its power-on state (xAPIC mode, software-disabled, LVTs masked) and, with
   * `opts.bus`, attaches it to the bus.
   *
   * @throws RangeError / TypeError for an ID, clock or frequency out of range; nothing is attached.
   */
  constructor(opts: LocalApicOptions) {
    checkObject('opts', opts);
    this.id = checkInt('id', opts.id, 0, MAX_APIC_ID);
    const clock = opts.clock;
    if (!clock || typeof clock.now !== 'function' || typeof clock.schedule !== 'function' || typeof clock.cancel !== 'function') {
      throw new TypeError('clock must implement Clock (now, schedule, cancel)');
    }
    const timerHz = checkInt('timerHz', opts.timerHz ?? 1_000_000_000, 1, 1e12);
    const tscHz = checkInt('tscHz', opts.tscHz ?? 1_000_000_000, 1, 1e12);
    const minPeriod = checkInt('minTimerPeriodNs', opts.minTimerPeriodNs ?? 200_000, 1, 1e12);
    const physBits = checkInt('physAddrBits', opts.physAddrBits ?? 36, 32, 52);
    this.directedEoi = checkBool('directedEoi', opts.directedEoi ?? true);
    this.x2apicSupported = checkBool('x2apicSupported', opts.x2apicSupported ?? true);
    this.autoInitSipi = checkBool('autoInitSipi', opts.autoInitSipi ?? true);
    const bsp = checkBool('bsp', opts.bsp ?? false);
    const x2 = checkBool('x2apic', opts.x2apic ?? false);
    if (x2 && !this.x2apicSupported) throw new RangeError('x2apic: true needs x2apicSupported');
    if (!x2 && this.id > XAPIC_ID_MASK) {
      throw new RangeError(`id must be 0..255 unless x2apic is true, got ${this.id}`);
    }
    checkFunction('onEvent', opts.onEvent, true);
    if (opts.bus !== undefined && !isBusPort(opts.bus)) {
      throw new TypeError('bus must implement ApicBusPort (attach, sendIpi, broadcastEoi and routingChanged methods)');
    }
    this.baseAddressMask = ((1n << BigInt(physBits)) - 1n) & ~0xfffn;
    this.hostClock = typeof clock.sync === 'function' ? clock : undefined;
    this.onEvent = opts.onEvent;
    this.bus = opts.bus;
    this.timer = new ApicTimer(clock, timerHz, tscHz, minPeriod, this, (atNs) => {
      if (this.tracer !== undefined) this.tracer('timer-arm', atNs, 0);
    });
    this.startInX2apic = x2;
    this.resetPreset = checkPreset('reset', opts.reset ?? 'power-on');
    this.powerOn(bsp, x2, this.resetPreset);
    this.bus?.attach(this);
  }

  // =============================================================================================
  // Introspection

  /** The 4 KiB APIC page (1024 words), real layout. Call {@link resync} after writing IRR/ISR. */
  get page(): Uint32Array {
    return this.regs.words;
  }

  /** The global mode: disabled, xAPIC or x2APIC. */
  get mode(): ApicMode {
    return MODE_NAMES[this.modeCode]!;
  }

  /** True when SVR bit 8 (APIC software enable) is set. */
  get softwareEnabled(): boolean {
    return this.swEnabled;
  }

  /** True when IA32_APIC_BASE's BSP flag is set. */
  get isBsp(): boolean {
    return (this.apicBase & APIC_BASE_BSP) !== 0n;
  }

  /** INIT/SIPI state: an AP parks in wait-for-SIPI after INIT. */
  get cpuState(): CpuRunState {
    return this.runState;
  }

  /** Vector of the SIPI that last started this CPU (start address = vector << 12), or -1. */
  get startupVector(): number {
    return this.sipiVector;
  }

  /** The ID used for physical destinations: x2APIC ID in x2APIC mode, else ID[31:24]. */
  get physicalId(): number {
    if (this.modeCode === MODE_X2APIC) return this.id;
    return this.regs.get(APIC_ID) >>> XAPIC_ID_SHIFT;
  }

  /** The logical destination register. */
  get ldr(): number {
    return this.regs.get(APIC_LDR);
  }

  /** The destination format register (xAPIC only; reads all ones in x2APIC mode). */
  get dfr(): number {
    return this.regs.get(APIC_DFR);
  }

  /** Processor priority (SDM "Processor Priority Register"). */
  get processorPriority(): number {
    return this.ppr;
  }

  /** Task priority. */
  getTpr(): number {
    return this.regs.get(APIC_TPR);
  }

  /**
   * Sets the task priority from the host (for example when a backend syncs V_TPR or the
   * virtual-APIC page).
   * @throws RangeError unless tpr is an integer 0..255.
   */
  setTpr(tpr: number): void {
    checkInt('tpr', tpr, 0, PRIORITY_MASK);
    this.writeTpr(tpr);
  }

  /** CR8 reads TPR[7:4] (SDM "Task Priority in IA-32e Mode"). */
  getCr8(): number {
    return this.regs.get(APIC_TPR) >>> 4;
  }

  /**
   * A guest MOV to CR8: TPR[7:4] = value, TPR[3:0] = 0.
   * @returns false when the value has reserved bits set (bits 63:4): the guest gets #GP.
   */
  setCr8(value: number | bigint): boolean {
    const v = typeof value === 'bigint' ? value : Number.isInteger(value) ? BigInt(value) : -1n;
    if (v < 0n || v > 0xfn) return false;
    this.writeTpr(Number(v) << 4);
    return true;
  }

  /** Arbitration priority (SDM "Arbitration Priority Register"), used by lowest priority. */
  arbitrationPriority(): number {
    const tpr = this.regs.get(APIC_TPR);
    const tprClass = tpr & PRIORITY_CLASS_MASK;
    const irrClass = classOf(this.regs.highestIrr());
    const isrClass = classOf(this.regs.highestIsr());
    if (tprClass >= irrClass && tprClass > isrClass) return tpr;
    return Math.max(tprClass, irrClass, isrClass);
  }

  /** Whether focus-processor checking is enabled (SVR bit 9 clear). */
  get focusChecking(): boolean {
    return (this.regs.get(APIC_SVR) & SVR_FOCUS_DISABLE) === 0;
  }

  /** The focus processor for a vector is one that has it pending or in service. */
  isFocusFor(vector: number): boolean {
    if (typeof vector !== 'number' || (vector & 0xff) !== vector) checkInt('vector', vector, 0, 255);
    return this.regs.testIrr(vector) || this.regs.testIsr(vector);
  }

  /** Whether an EOI for a vector went out as a broadcast if it were level-triggered now. */
  get suppressesEoiBroadcast(): boolean {
    return (this.regs.get(APIC_SVR) & SVR_SUPPRESS_EOI_BROADCAST) !== 0;
  }

  /** The latched but not yet delivered error bits (ESR reads show them after an ESR write). */
  get pendingErrors(): number {
    return this.esrPending;
  }

  /** The value of IA32_APIC_BASE. */
  get apicBaseMsr(): bigint {
    return this.apicBase;
  }

  /**
   * Replaces the event callback. While one is installed every acceptance takes the full path
   * (to report it); an emulator that only needs to know when to inject can poll
   * {@link pendingVector} instead, which is a field read and a comparison.
   */
  setEventHandler(fn: ((event: LapicEvent, value: number) => void) | undefined): void {
    checkFunction('fn', fn, true);
    this.onEvent = fn;
    this.syncFastPaths();
  }

  /**
   * Installs (or removes) a tracer for internal state changes (ISR, PPR, IPIs sent, timer). With
   * none installed each site costs one comparison.
   * @internal
   */
  setTracer(fn: ((kind: LapicTraceKind, a: number, b: number) => void) | undefined): void {
    checkFunction('fn', fn, true);
    this.tracer = fn;
  }

  /**
   * Installs (or removes) a hardware assist that may take fixed interrupts before IRR.
   * @internal
   */
  setAccel(accel: ApicAccel | undefined): void {
    if (accel !== undefined && typeof accel.acceptFixed !== 'function') {
      throw new TypeError('accel must have an acceptFixed(vector, level) method');
    }
    this.accel = accel;
    this.syncFastPaths();
  }

  /** Whether `vector` is set in IRR. @throws RangeError / TypeError unless vector is an integer 0..255. */
  isRequested(vector: number): boolean {
    if (typeof vector !== 'number' || (vector & 0xff) !== vector) checkInt('vector', vector, 0, 255);
    return this.regs.testIrr(vector);
  }

  /** Whether `vector` is set in ISR. */
  isInService(vector: number): boolean {
    if (typeof vector !== 'number' || (vector & 0xff) !== vector) checkInt('vector', vector, 0, 255);
    return this.regs.testIsr(vector);
  }

  /** Whether `vector` is set in TMR (its last acceptance was level-triggered). */
  isLevelTriggered(vector: number): boolean {
    if (typeof vector !== 'number' || (vector & 0xff) !== vector) checkInt('vector', vector, 0, 255);
    return this.regs.testTmr(vector);
  }

  /** The highest vector in service, or -1. */
  highestInService(): number {
    return this.regs.highestIsr();
  }

  /** The highest vector in IRR (whatever PPR says), or -1. */
  highestRequested(): number {
    return this.regs.highestIrr();
  }

  /** Recomputes cached summaries after IRR/ISR words of {@link page} were written directly. */
  resync(): void {
    this.regs.resync();
    this.updatePpr();
  }

  // =============================================================================================
  // CPU side: pending / acknowledge / EOI / NMI

  /**
   * The highest vector in IRR whose priority class beats PPR, or -1.
   *
   * @example
   * ```ts
   * import { LocalApic, Scheduler } from 'irqchip';
   *
   * const apic = new LocalApic({ id: 0, clock: new Scheduler() });
   * apic.writeRegister(0xf0, 0x1ff);
   * apic.writeRegister(0x80, 0x50);    // TPR class 5
   * apic.acceptInterrupt(0x41, false);
   * apic.pendingVector();              // -1: class 4 does not beat TPR
   * apic.writeRegister(0x80, 0);
   * apic.pendingVector();              // 0x41
   * ```
   */
  pendingVector(): number {
    if (this.hostClock !== undefined) this.hostClock.sync!(); // a due timer is pending now
    const v = this.regs.highestIrr();
    return (v & Hot.ClassMask) > this.pendingFloor ? v : Hot.NoVector;
  }

  /**
   * The INTA cycle: moves the pending vector from IRR to ISR and returns it. With nothing
   * deliverable (the request went away, or TPR was raised meanwhile) the CPU gets the spurious
   * vector from SVR and ISR is untouched (SDM "Spurious Interrupt").
   */
  acknowledge(): number {
    const v = this.pendingVector();
    if (v < 0) return this.spuriousVector();
    this.regs.moveIrrToIsr(v);
    // v beat PPR, so it is now the highest in-service class and PPR becomes its class.
    this.setPpr(v & Hot.ClassMask);
    if (this.tracer !== undefined) this.trace('isr-set', v);
    return v;
  }

  /** A spurious INTA (out of line: see acceptInterrupt). */
  private spuriousVector(): number {
    this.stats.spurious++;
    return this.regs.get(Hot.Svr) & Hot.SvrVectorMask;
  }

  /**
   * Takes a vector out of IRR without putting it in service (a backend hands it to the hardware,
   * e.g. SVM V_IRQ with an intermediate "owned by V_IRQ" state). Nothing is reported.
   * @returns whether the vector was in IRR.
   */
  withdrawRequest(vector: number): boolean {
    checkInt('vector', vector, 0, 255);
    if (!this.regs.testIrr(vector)) return false;
    this.regs.clearIrr(vector);
    return true;
  }

  /**
   * Puts back in IRR a request a backend had taken out (or held in a posted-interrupt descriptor).
   * It is the same request, so no event is reported and TMR is untouched.
   */
  restoreRequest(vector: number): void {
    checkInt('vector', vector, FIRST_LEGAL_VECTOR, 255);
    this.regs.setIrr(vector);
  }

  /** Marks a vector in service (the guest took it through a hardware path) and updates PPR. */
  setInService(vector: number): void {
    checkInt('vector', vector, FIRST_LEGAL_VECTOR, 255);
    this.regs.setIsr(vector);
    this.updatePpr();
    if (this.tracer !== undefined) this.tracer('isr-set', vector, this.ppr);
  }

  /**
   * Moves a specific vector from IRR to ISR, as a backend does when it learns late that the guest
   * took an interrupt it had handed to the hardware (SVM V_IRQ). Nothing happens if the vector is
   * not in IRR.
   * @returns whether the vector was in IRR.
   */
  acknowledgeVector(vector: number): boolean {
    checkInt('vector', vector, 0, 255);
    if (!this.regs.testIrr(vector)) return false;
    this.regs.clearIrr(vector);
    this.regs.setIsr(vector);
    this.updatePpr();
    return true;
  }

  /**
   * End of interrupt (same as a guest EOI write): clears the highest ISR bit. If that vector's
   * TMR bit is set (level-triggered) the EOI is broadcast to the I/O APICs, unless SVR bit 12
   * suppresses it (directed EOI). An EOI with ISR empty changes nothing.
   */
  eoi(): void {
    const v = this.eoiLocal();
    if (v >= 0 && this.regs.testTmr(v)) this.levelEoi(v);
  }

  /**
   * The part of an EOI that stays inside the APIC: clears the highest ISR bit and recomputes PPR.
   * VMX EOI virtualization does exactly this without a VM exit; the backend then decides whether
   * the EOI reaches the I/O APIC ({@link levelEoi}).
   * @returns the vector, or -1 if ISR was empty.
   */
  eoiLocal(): number {
    const v = this.regs.popIsr();
    if (v < 0) return Hot.NoVector;
    this.stats.eois++;
    this.updatePpr();
    if (this.tracer !== undefined) this.trace('isr-clear', v);
    return v;
  }

  /**
   * The outward part of the EOI of a level-triggered vector: clears a matching LINT0 remote IRR
   * and broadcasts the EOI to the I/O APICs unless SVR bit 12 suppresses it.
   * @throws RangeError / TypeError unless vector is an integer 0..255 (checked before anything is
   *   counted).
   */
  levelEoi(vector: number): void {
    if (typeof vector !== 'number' || (vector & 0xff) !== vector) checkInt('vector', vector, 0, 255);
    this.lintEoi(vector);
    if (this.suppressesEoiBroadcast) return;
    this.stats.eoiBroadcasts++;
    this.bus?.broadcastEoi(this, vector);
  }

  /** Takes the pending NMI, if any (the CPU starts its NMI handler). */
  takeNmi(): boolean {
    const p = this.nmiPending;
    this.nmiPending = false;
    return p;
  }

  /** Whether an NMI is latched for the CPU. */
  get nmiLatched(): boolean {
    return this.nmiPending;
  }

  /** Takes the pending SMI, if any. */
  takeSmi(): boolean {
    const p = this.smiPending;
    this.smiPending = false;
    return p;
  }

  /**
   * Whether the CPU's INTR should run an INTA cycle on the 8259A: an ExtINT message is latched,
   * or LINT0 is programmed ExtINT, unmasked and asserted (virtual wire, level-sensitive per the
   * SDM), or the APIC is globally disabled and LINT0 is the raw INTR pin.
   */
  extIntPending(): boolean {
    if (this.modeCode === MODE_DISABLED) return this.lint0Level;
    if (this.extIntLatched) return true;
    const lvt = this.regs.get(APIC_LVT_LINT0);
    return (lvt & LVT_MASKED) === 0 && lvtMode(lvt) === DeliveryMode.ExtInt && this.lintAsserted(0);
  }

  /** The CPU ran its INTA cycle on the 8259A: the ExtINT message latch is consumed. */
  clearExtInt(): void {
    this.extIntLatched = false;
  }

  // =============================================================================================
  // Fabric side: arrivals

  /**
   * A fixed (or lowest-priority) interrupt arrives: sets IRR and sets or clears TMR by the
   * trigger mode of this acceptance. Dropped while the APIC is software-disabled (SDM "Local
   * APIC State After It Has Been Software Disabled") or globally disabled; vectors 0-15 set the
   * "received illegal vector" error instead.
   * @throws RangeError / TypeError for a vector outside 0..255 or a non-boolean level (host misuse).
   *
   * @example
   * ```ts
   * import { LocalApic, Scheduler } from 'irqchip';
   *
   * const apic = new LocalApic({ id: 0, clock: new Scheduler() });
   * apic.writeRegister(0xf0, 0x1ff);
   * apic.acceptInterrupt(0x41, true); // level-triggered: TMR set, the EOI is broadcast to the I/O APICs
   * ```
   */
  acceptInterrupt(vector: number, level: boolean): void {
    // Cheap integer tests first; the named-error helpers run only on failure. The typeof test
    // comes first so that a bigint never reaches a bit operator.
    if (typeof vector !== 'number' || (vector & 0xff) !== vector || typeof level !== 'boolean') {
      checkAcceptArgs(vector, level);
    }
    // The common case in one comparison (see fastMinVector). Every hot method is kept small in
    // bytecode: V8 inlines callees into a caller's loop only up to a cumulative bytecode budget.
    if (vector >= this.fastMinVector) {
      if (this.regs.accept(vector, level)) this.stats.coalesced++;
      else this.stats.accepted++;
    } else {
      this.acceptFixed(vector, level);
    }
  }

  /**
   * Accepts any interrupt message from the bus. `assert` matters only for INIT: a level
   * de-assert INIT is accepted and ignored.
   * @returns whether this APIC accepted it.
   * @throws RangeError / TypeError unless deliveryMode is an integer 0..7, vector 0..255 and level
   *   a boolean (host misuse: the bus and the I/O APIC always pass fields of those widths).
   */
  acceptMessage(deliveryMode: number, vector: number, level: boolean): boolean {
    if (
      typeof deliveryMode !== 'number' ||
      typeof vector !== 'number' ||
      (deliveryMode & 7) !== deliveryMode ||
      (vector & 0xff) !== vector ||
      typeof level !== 'boolean'
    ) {
      checkMessage(deliveryMode, vector, level);
    }
    if (this.modeCode === MODE_DISABLED) return false;
    switch (deliveryMode) {
      case DeliveryMode.Fixed:
      case DeliveryMode.LowestPriority:
        return this.acceptFixed(vector, level);
      case DeliveryMode.Nmi:
        this.acceptNmi();
        return true;
      case DeliveryMode.Smi:
        this.acceptSmi();
        return true;
      case DeliveryMode.Init:
        this.acceptInit();
        return true;
      case DeliveryMode.StartUp:
        this.acceptSipi(vector);
        return true;
      case DeliveryMode.ExtInt:
        return this.acceptExtInt();
      default:
        return false;
    }
  }

  /** An NMI message: latched (several collapse into one) and reported. */
  acceptNmi(): void {
    if (this.modeCode === MODE_DISABLED) return;
    this.stats.nmis++;
    this.nmiPending = true;
    this.emit('nmi', 0);
  }

  /** An SMI message: latched and reported. */
  acceptSmi(): void {
    if (this.modeCode === MODE_DISABLED) return;
    this.stats.smis++;
    this.smiPending = true;
    this.emit('smi', 0);
  }

  /** An INIT message: resets the APIC and parks an AP in wait-for-SIPI (if autoInitSipi). */
  acceptInit(): void {
    if (this.modeCode === MODE_DISABLED) return;
    this.stats.inits++;
    if (this.autoInitSipi) this.init();
    else this.initPending = true;
    this.emit('init', 0);
  }

  /**
   * A start-up IPI: starts a CPU in wait-for-SIPI at vector << 12; ignored otherwise.
   * @throws RangeError / TypeError unless vector is an integer 0..255 (checked before counting).
   */
  acceptSipi(vector: number): void {
    if (typeof vector !== 'number' || (vector & 0xff) !== vector) checkInt('vector', vector, 0, 255);
    if (this.modeCode === MODE_DISABLED) return;
    if (!this.autoInitSipi) {
      this.stats.sipis++;
      this.emit('sipi', vector);
      return;
    }
    if (this.runState !== 'wait-for-sipi') {
      this.stats.sipisIgnored++;
      return;
    }
    this.startup(vector);
  }

  /** An ExtINT message (I/O APIC entry or MSI in ExtINT mode): the CPU must INTA the 8259A. */
  acceptExtInt(): boolean {
    if (this.modeCode === MODE_DISABLED || !this.swEnabled) return false;
    this.extIntLatched = true;
    this.emit('extint', 0);
    return true;
  }

  /** Whether an INIT is waiting for the host (only when autoInitSipi is false). */
  takeInit(): boolean {
    const p = this.initPending;
    this.initPending = false;
    return p;
  }

  /**
   * Drives the LINT0 or LINT1 pin to a wire level (before the LVT's polarity).
   * @throws RangeError unless pin is 0 or 1; TypeError unless level is a boolean.
   */
  setLint(pin: 0 | 1, level: boolean): void {
    checkInt('pin', pin, 0, 1);
    checkBool('level', level);
    const wasAsserted = this.lintAsserted(pin);
    if (pin === 0) this.lint0Level = level;
    else this.lint1Level = level;
    const rising = !wasAsserted && this.lintAsserted(pin);
    this.evaluateLint(pin, rising);
  }

  /** Raises the thermal-sensor, performance-counter or CMCI local interrupt per its LVT entry. */
  raiseLvt(source: 'thermal' | 'perf' | 'cmci'): void {
    if (source === 'thermal') this.deliverLvt(APIC_LVT_THERMAL);
    else if (source === 'perf') this.deliverLvt(APIC_LVT_PERF);
    else if (source === 'cmci') this.deliverLvt(APIC_LVT_CMCI);
    else throw new RangeError(`source must be 'thermal', 'perf' or 'cmci', got ${String(source)}`);
  }

  /**
   * Whether a message with this destination addresses this APIC (SDM "Determining IPI
   * Destination"). `destination` is in this APIC's own format: 8 bits in xAPIC mode, 32 bits in
   * x2APIC mode. All ones is a broadcast in both physical and logical modes.
   */
  matchesDestination(destination: number, logical: boolean): boolean {
    if (this.modeCode === MODE_DISABLED) return false;
    if (this.modeCode === MODE_X2APIC) return this.matchesX2apic(destination >>> 0, logical);
    const dest = destination & XAPIC_ID_MASK;
    if (dest === XAPIC_BROADCAST) return true;
    if (!logical) return dest === this.physicalId;
    const ldr = this.regs.get(APIC_LDR) >>> LDR_XAPIC_SHIFT;
    const model = this.regs.get(APIC_DFR) >>> 28;
    if (model === DFR_MODEL_FLAT) return (dest & ldr) !== 0;
    if (model === DFR_MODEL_CLUSTER) return dest >>> 4 === ldr >>> 4 && (dest & ldr & 0xf) !== 0;
    return false; // a DFR model the SDM does not define matches nothing (bhyve skips it too)
  }

  // =============================================================================================
  // Snapshots

  /**
   * The complete state as a self-describing snapshot (see docs/snapshots.md): the page, the
   * latches, the timer with its armed expiry, and the clock's time. Restore it into a LocalApic
   * built with the same options.
   */
  save(): Uint8Array {
    return encodeDevice('local-apic', LAPIC_STATE_VERSION, (w) => this.saveState(w), this.timer.clockNow());
  }

  /**
   * Restores a snapshot made by {@link save}. Every field is checked first; on any problem a
   * SnapshotError names the field and this APIC is left unchanged. On a clock at another time
   * than the snapshot's, the timer keeps its remaining time (`time: 'rebase'`, the default) or
   * the restore throws a SnapshotError naming both times (`time: 'strict'`).
   * @throws TypeError / RangeError for malformed options.
   */
  restore(bytes: Uint8Array, opts?: RestoreOptions): void {
    const mode = checkRestoreOptions(opts);
    const target = { clockNs: this.timer.clockNow(), mode };
    restoreDevice(bytes, 'local-apic', LAPIC_STATE_VERSION, (r) => this.readState(r), target);
  }

  /**
   * Writes the state into a snapshot section (used by Platform and Machine snapshots).
   * @internal
   */
  saveState(w: StateWriter): void {
    w.u32(this.id).u64(this.apicBase).u8(this.modeCode);
    w.u32s(this.regs.words);
    w.u32(this.esrPending).i32(this.sipiVector);
    w.bool(this.nmiPending).bool(this.smiPending).bool(this.extIntLatched).bool(this.initPending);
    w.bool(this.lint0Level).bool(this.lint1Level).bool(this.runState === 'wait-for-sipi');
    const stats = this.stats as unknown as Record<string, number>;
    for (const key of STAT_KEYS) w.uint(stats[key]!);
    this.timer.saveState(w);
  }

  /**
   * Reads and checks a state written by {@link saveState}; returns the function that applies it.
   * Nothing changes until that function runs.
   * @internal
   */
  readState(r: StateReader): (rearm: Rearm) => void {
    const id = r.u32('id');
    if (id !== this.id) r.fail('id', `snapshot is of APIC ${id}, this is APIC ${this.id}`);
    const apicBase = r.u64('apicBase');
    const modeCode = r.u8('mode', MODE_X2APIC);
    const en = (apicBase & APIC_BASE_ENABLE) !== 0n;
    const extd = (apicBase & APIC_BASE_EXTD) !== 0n;
    const expected = !en ? (extd ? -1 : MODE_DISABLED) : extd ? MODE_X2APIC : MODE_XAPIC;
    if (expected !== modeCode) r.fail('mode', `mode ${modeCode} does not match IA32_APIC_BASE ${apicBase}`);
    if (extd && !this.x2apicSupported) r.fail('apicBase', 'x2APIC mode on an APIC without x2APIC support');
    const reserved = ~(this.baseAddressMask | APIC_BASE_ENABLE | APIC_BASE_EXTD | APIC_BASE_BSP) & 0xffff_ffff_ffff_ffffn;
    if ((apicBase & reserved) !== 0n) r.fail('apicBase', 'reserved bits set');
    const words = r.u32s('page', this.regs.words.length);
    checkPage(r, words, modeCode, this.id, this.versionValue(), this.svrWritable());
    const esrPending = r.u32('esrPending', 0xff);
    if ((esrPending & ~ESR_MODELLED) !== 0) r.fail('esrPending', 'bits set the model never sets');
    const sipiVector = r.i32('sipiVector', -1, 255);
    const nmi = r.bool('nmiPending');
    const smi = r.bool('smiPending');
    const extInt = r.bool('extIntLatched');
    const init = r.bool('initPending');
    const lint0 = r.bool('lint0');
    const lint1 = r.bool('lint1');
    const waiting = r.bool('waitForSipi');
    const stats = STAT_KEYS.map((key) => r.uint(`stats.${key}`));
    const now = this.timer.clockNow();
    const applyTimer = this.timer.readState(r, {
      version: r.version,
      savedNs: r.time?.savedNs ?? now,
      clockNs: r.time?.clockNs ?? now,
      lvtMode: (words[APIC_LVT_TIMER >> 2]! & LVT_TIMER_MODE_MASK) >>> LVT_TIMER_MODE_SHIFT,
      pageInitialCount: words[APIC_TIMER_INITIAL_COUNT >> 2]!,
      pageDivide: words[APIC_TIMER_DIVIDE >> 2]!,
    });
    return (rearm) => {
      this.apicBase = apicBase;
      this.modeCode = modeCode;
      this.regs.words.set(words);
      this.regs.resync();
      this.swEnabled = (words[APIC_SVR >> 2]! & SVR_APIC_ENABLE) !== 0;
      this.ppr = words[APIC_PPR >> 2]!;
      this.syncFastPaths();
      this.esrPending = esrPending;
      this.sipiVector = sipiVector;
      this.nmiPending = nmi;
      this.smiPending = smi;
      this.extIntLatched = extInt;
      this.initPending = init;
      this.lint0Level = lint0;
      this.lint1Level = lint1;
      this.runState = waiting ? 'wait-for-sipi' : 'running';
      const target = this.stats as unknown as Record<string, number>;
      STAT_KEYS.forEach((key, i) => (target[key] = stats[i]!));
      applyTimer(rearm);
      this.bus?.routingChanged(this);
    };
  }

  // =============================================================================================
  // INIT / SIPI / reset

  /**
   * INIT reset (SDM "Local APIC State After an INIT Reset"): every register returns to its
   * power-up value except the APIC ID (and IA32_APIC_BASE, so the mode is kept); an AP enters
   * wait-for-SIPI, the BSP restarts. The pending NMI/SMI/ExtINT latches are cleared.
   */
  init(): void {
    this.resetRegisters(this.regs.get(APIC_ID));
    this.nmiPending = false;
    this.smiPending = false;
    this.extIntLatched = false;
    this.initPending = false;
    this.runState = this.isBsp ? 'running' : 'wait-for-sipi';
    this.sipiVector = NO_VECTOR;
    this.bus?.routingChanged(this);
  }

  /** Starts a CPU that waits for SIPI, at vector << 12 (host call or automatic on SIPI). */
  startup(vector: number): void {
    checkInt('vector', vector, 0, 255);
    this.stats.sipis++;
    this.sipiVector = vector | 0; // a small integer even if it came as a heap number (see ApicPage.irrTop)
    this.runState = 'running';
    this.emit('sipi', vector);
  }

  /**
   * Power-up reset (RESET#): xAPIC mode (or x2APIC if the constructor asked), everything cleared,
   * then the registers of `preset` (default: the constructor's `reset` option).
   * @throws RangeError for an unknown preset (nothing changes).
   */
  reset(preset?: ResetPreset): void {
    const p = preset === undefined ? this.resetPreset : checkPreset('preset', preset);
    this.powerOn(this.isBsp, this.startInX2apic, p);
  }

  private powerOn(bsp: boolean, x2: boolean, preset: ResetPreset): void {
    this.apicBase = APIC_BASE_DEFAULT_ADDRESS | APIC_BASE_ENABLE | (bsp ? APIC_BASE_BSP : 0n);
    if (x2) this.apicBase |= APIC_BASE_EXTD;
    this.modeCode = x2 ? MODE_X2APIC : MODE_XAPIC;
    this.syncFastPaths();
    this.resetRegisters((this.id & XAPIC_ID_MASK) << XAPIC_ID_SHIFT);
    this.nmiPending = false;
    this.smiPending = false;
    this.extIntLatched = false;
    this.initPending = false;
    this.runState = 'running';
    this.sipiVector = NO_VECTOR;
    if (preset !== 'power-on' && bsp) this.applyFirmwarePreset(preset);
    this.bus?.routingChanged(this);
  }

  /**
   * The BSP registers firmware leaves, set directly as a host loads state (KVM_SET_LAPIC), not as
   * guest writes: the KVM state (LINT0 unmasked while software-disabled) is one no guest write
   * can produce, because a software-disabled APIC forces the mask on LVT writes (SDM "Local APIC
   * State After It Has Been Software Disabled"; KVM's kvm_lapic_reg_write does the same).
   */
  private applyFirmwarePreset(preset: ResetPreset): void {
    if (preset === 'seabios') {
      this.regs.set(APIC_SVR, SEABIOS_SVR);
      this.swEnabled = true;
      this.syncFastPaths();
      this.regs.set(APIC_LVT_LINT0, SEABIOS_LINT0);
      this.regs.set(APIC_LVT_LINT1, SEABIOS_LINT1);
    } else {
      this.regs.set(APIC_LVT_LINT0, KVM_QUIRK_LINT0);
    }
    this.evaluateLint(0, false);
  }

  /** Power-up register values (SDM "Local APIC State After Power-Up or Reset"). */
  private resetRegisters(idRegister: number): void {
    this.timer.reset();
    this.regs.words.fill(0);
    this.regs.resync();
    this.regs.set(APIC_ID, idRegister >>> 0);
    this.regs.set(APIC_VERSION, this.versionValue());
    this.regs.set(APIC_DFR, DFR_RESET);
    this.regs.set(APIC_SVR, SVR_RESET);
    for (let i = 0; i < LVT_COUNT; i++) this.regs.set(LVT_OFFSETS[i]!, LVT_RESET);
    this.swEnabled = false;
    this.ppr = 0;
    this.syncFastPaths();
    this.esrPending = 0;
    if (this.modeCode === MODE_X2APIC) this.enterX2apicRegisters();
  }

  private versionValue(): number {
    return (
      (VERSION_INTEGRATED_APIC |
        (VERSION_MAX_LVT << VERSION_MAX_LVT_SHIFT) |
        (this.directedEoi ? VERSION_DIRECTED_EOI : 0)) >>>
      0
    );
  }

  /** x2APIC: the ID register holds the full x2APIC ID and LDR is derived from it. */
  private enterX2apicRegisters(): void {
    this.regs.set(APIC_ID, this.id);
    const cluster = this.id >>> X2APIC_CLUSTER_ID_SHIFT;
    const ldr = (cluster << X2APIC_CLUSTER_SHIFT) | (1 << (this.id & X2APIC_LOGICAL_ID_MASK));
    this.regs.set(APIC_LDR, ldr >>> 0);
  }

  // =============================================================================================
  // Guest side: xAPIC MMIO

  /**
   * A guest read of `size` bytes (default 4) at byte `offset` of the xAPIC MMIO page. Returns the
   * bytes a dword read shows in those lanes (src/apic/mmio.ts; bytes 4..15 of each 16-byte slot
   * read 0). With the APIC globally disabled or in x2APIC mode the window is not decoded and reads
   * all ones (as KVM and illumos).
   * @throws RangeError unless offset is an integer 0..0xFFF, size is 1, 2 or 4 and the access
   *   stays inside the page (host misuse).
   *
   * @example
   * ```ts
   * import { LocalApic, Scheduler } from 'irqchip';
   *
   * const apic = new LocalApic({ id: 2, clock: new Scheduler() });
   * apic.readRegister(0x20) >>> 24;  // 2: the APIC ID
   * apic.readRegister(0x30) & 0xff;  // 0x14: the version
   * ```
   */
  readRegister(offset: number, size: MmioSize = 4): number {
    // The common case, an aligned dword inside the window, in a few integer tests.
    if (size === 4 && typeof offset === 'number' && (offset >>> 0) === offset && offset < MMIO_WINDOW_BYTES && (offset & 3) === 0 && this.modeCode === MODE_XAPIC) {
      return this.readDword(offset) >>> 0;
    }
    return this.readLanes(offset, size);
  }

  /** Sub-dword, misaligned and non-xAPIC reads, and the host-misuse checks (out of line). */
  private readLanes(offset: number, size: MmioSize): number {
    checkMmio(offset, size);
    if (this.modeCode !== MODE_XAPIC) return laneBytes(0xffff_ffff, 0xffff_ffff, 0, size);
    const aligned = offset & ~3;
    const lo = this.readDword(aligned);
    const hi = crossesDword(offset, size) ? this.readDword(aligned + 4) : 0;
    return laneBytes(lo, hi, offset, size);
  }

  /** The dword at a 4-aligned offset: a register in the first dword of its slot, else 0. */
  private readDword(aligned: number): number {
    return (aligned & 0xf) === 0 ? this.readXapic(aligned) : 0;
  }

  /**
   * A guest write of `size` bytes (default 4) to the xAPIC MMIO page. Only aligned dword writes at
   * the start of a register's 16-byte slot take effect (src/apic/mmio.ts; as bhyve and KVM).
   * Reserved bits are ignored; writes to read-only registers are ignored; writes to unimplemented
   * offsets set ESR bit 7. Any number is guest data (coerced to u32 like a 32-bit store).
   * @throws RangeError for an offset/size as {@link readRegister}; TypeError if value is not a
   *   number (host misuse).
   *
   * @example
   * ```ts
   * import { LocalApic, Scheduler } from 'irqchip';
   *
   * const apic = new LocalApic({ id: 0, clock: new Scheduler() });
   * apic.writeRegister(0xf0, 0x1ff);                      // SVR
   * apic.writeRegister(0x320, (1 << 17) | 0xec);          // LVT timer: periodic, vector 0xEC
   * apic.writeRegister(0x380, 1_000_000);                 // initial count
   * ```
   */
  writeRegister(offset: number, value: number, size: MmioSize = 4): void {
    checkMmio(offset, size);
    checkBusValue('value', value);
    if (this.modeCode !== MODE_XAPIC) return;
    if ((offset & 0xf) !== 0 || size !== 4) return;
    this.writeXapic(offset, value >>> 0);
  }

  private readXapic(reg: number): number {
    if (this.hostClock !== undefined) this.hostClock.sync!();
    switch (reg) {
      case APIC_DFR:
      case APIC_ICR_LOW:
      case APIC_ICR_HIGH:
        return this.regs.get(reg);
      case APIC_APR:
        return this.arbitrationPriority();
      case APIC_EOI:
      case APIC_RRD:
        return 0;
      default: {
        const v = this.readCommon(reg);
        if (v !== NOT_READABLE) return v;
        this.signalError(ESR_ILLEGAL_REGISTER);
        return 0;
      }
    }
  }

  /**
   * Registers that read the same in xAPIC and x2APIC mode (ID, version, TPR, PPR, LDR, SVR, ESR,
   * the LVTs, the timer, ISR/TMR/IRR); NOT_READABLE for any other offset.
   */
  private readCommon(reg: number): number {
    switch (reg) {
      case APIC_ID:
      case APIC_VERSION:
      case APIC_TPR:
      case APIC_PPR:
      case APIC_LDR:
      case APIC_SVR:
      case APIC_ESR:
      case APIC_LVT_CMCI:
      case APIC_LVT_TIMER:
      case APIC_LVT_THERMAL:
      case APIC_LVT_PERF:
      case APIC_LVT_LINT0:
      case APIC_LVT_LINT1:
      case APIC_LVT_ERROR:
        return this.regs.get(reg);
      case APIC_TIMER_INITIAL_COUNT:
        return this.timer.readInitialCount();
      case APIC_TIMER_CURRENT_COUNT:
        return this.timer.readCurrentCount();
      case APIC_TIMER_DIVIDE:
        return this.timer.readDivide();
      default:
        return isVectorRegister(reg) ? this.regs.get(reg) : NOT_READABLE;
    }
  }

  private writeXapic(reg: number, value: number): void {
    if (this.hostClock !== undefined) this.hostClock.sync!();
    switch (reg) {
      case APIC_ID:
        // Writable in xAPIC mode on P6 and later (KVM allows it); the bus re-reads it.
        this.regs.set(APIC_ID, value & (XAPIC_ID_MASK << XAPIC_ID_SHIFT));
        this.bus?.routingChanged(this);
        return;
      case APIC_LDR:
        this.regs.set(APIC_LDR, value & (XAPIC_ID_MASK << LDR_XAPIC_SHIFT));
        this.bus?.routingChanged(this);
        return;
      case APIC_DFR:
        this.regs.set(APIC_DFR, ((value & DFR_MODEL_MASK) | DFR_RESERVED_ONES) >>> 0);
        this.bus?.routingChanged(this);
        return;
      case APIC_ICR_LOW:
        this.regs.set(APIC_ICR_LOW, value & ICR_LOW_WRITABLE);
        this.sendIcr(value & ICR_LOW_WRITABLE, this.regs.get(APIC_ICR_HIGH) >>> ICR_HIGH_DEST_SHIFT);
        return;
      case APIC_ICR_HIGH:
        this.regs.set(APIC_ICR_HIGH, (value & ICR_HIGH_WRITABLE) >>> 0);
        return;
      case APIC_ESR:
        this.latchEsr();
        return;
      case APIC_VERSION:
      case APIC_APR:
      case APIC_PPR:
      case APIC_RRD:
      case APIC_TIMER_CURRENT_COUNT:
        return; // read-only
      default:
        if (this.writeCommon(reg, value)) return;
        if (isVectorRegister(reg)) return; // IRR/ISR/TMR are read-only
        this.signalError(ESR_ILLEGAL_REGISTER);
    }
  }

  /** Registers with the same semantics in xAPIC and x2APIC mode. @returns false if not one. */
  private writeCommon(reg: number, value: number): boolean {
    switch (reg) {
      case APIC_TPR:
        this.writeTpr(value & PRIORITY_MASK);
        return true;
      case APIC_EOI:
        this.eoi();
        return true;
      case APIC_SVR:
        this.writeSvr(value);
        return true;
      case APIC_LVT_TIMER:
      case APIC_LVT_THERMAL:
      case APIC_LVT_PERF:
      case APIC_LVT_LINT0:
      case APIC_LVT_LINT1:
      case APIC_LVT_ERROR:
      case APIC_LVT_CMCI:
        this.writeLvt(reg, value);
        return true;
      case APIC_TIMER_INITIAL_COUNT:
        this.timer.writeInitialCount(value);
        this.regs.set(APIC_TIMER_INITIAL_COUNT, this.timer.readInitialCount());
        return true;
      case APIC_TIMER_DIVIDE:
        this.timer.writeDivide(value);
        this.regs.set(APIC_TIMER_DIVIDE, this.timer.readDivide());
        return true;
      default:
        return false;
    }
  }

  // =============================================================================================
  // Guest side: MSRs

  /**
   * A guest RDMSR. Handles IA32_APIC_BASE (0x1B), IA32_TSC_DEADLINE (0x6E0) and the x2APIC
   * range 0x800-0x8FF.
   * @returns the value, or `undefined` when the guest gets #GP: x2APIC MSRs outside x2APIC mode,
   *   write-only registers (EOI, SELF IPI), registers x2APIC does not have (APR, RRD, DFR, ICR
   *   high) and unimplemented MSRs in the range.
   * @throws RangeError if msr is not an integer 0..0xFFFFFFFF (host misuse).
   *
   * @example
   * ```ts
   * import { LocalApic, Scheduler } from 'irqchip';
   *
   * const apic = new LocalApic({ id: 0, clock: new Scheduler(), bsp: true });
   * apic.writeMsr(0x1b, apic.readMsr(0x1b)! | (1n << 10n)); // IA32_APIC_BASE.EXTD: x2APIC mode
   * apic.readMsr(0x802);                                    // 0n: the x2APIC ID
   * apic.readMsr(0x80b) === undefined;                      // true: EOI is write-only, the guest gets #GP
   * ```
   */
  readMsr(msr: number): bigint | undefined {
    checkInt('msr', msr, 0, 0xffff_ffff);
    if (this.hostClock !== undefined) this.hostClock.sync!();
    if (msr === MSR_IA32_APIC_BASE) return this.apicBase;
    if (msr === MSR_IA32_TSC_DEADLINE) return this.timer.readDeadline();
    if (msr < MSR_X2APIC_BASE || msr > MSR_X2APIC_LAST) return undefined;
    if (this.modeCode !== MODE_X2APIC) return undefined;
    if (msr === MSR_X2APIC_ICR) {
      return (BigInt(this.regs.get(APIC_ICR_HIGH)) << 32n) | BigInt(this.regs.get(APIC_ICR_LOW));
    }
    // x2APIC has no APR, RRD, DFR or ICR high; EOI and SELF IPI are write-only: all #GP.
    const v = this.readCommon((msr - MSR_X2APIC_BASE) << 4);
    return v === NOT_READABLE ? undefined : BigInt(v);
  }

  /**
   * A guest WRMSR.
   * @returns false when the guest gets #GP: see {@link readMsr}, plus writes to read-only
   *   registers, reserved bits set (every x2APIC register but ICR has 32 reserved upper bits),
   *   a non-zero write to EOI or ESR, and illegal IA32_APIC_BASE transitions.
   * @throws RangeError / TypeError if msr is not an integer 0..0xFFFFFFFF or value is not a
   *   bigint in 0..2^64-1 (host misuse).
   */
  writeMsr(msr: number, value: bigint): boolean {
    checkInt('msr', msr, 0, 0xffff_ffff);
    checkU64('value', value);
    if (this.hostClock !== undefined) this.hostClock.sync!();
    if (msr === MSR_IA32_APIC_BASE) return this.writeApicBase(value);
    if (msr === MSR_IA32_TSC_DEADLINE) {
      this.timer.writeDeadline(value);
      return true;
    }
    if (msr < MSR_X2APIC_BASE || msr > MSR_X2APIC_LAST) return false;
    if (this.modeCode !== MODE_X2APIC) return false;
    if (msr === MSR_X2APIC_ICR) return this.writeX2apicIcr(value);
    if ((value & X2APIC_RESERVED_HIGH) !== 0n) return false;
    const v = Number(value & U32);
    const reg = (msr - MSR_X2APIC_BASE) << 4;
    if (msr === MSR_X2APIC_SELF_IPI) return this.writeSelfIpi(v);
    switch (reg) {
      case APIC_TPR:
        if (v > PRIORITY_MASK) return false;
        break;
      case APIC_EOI:
      case APIC_ESR:
        if (v !== 0) return false;
        if (reg === APIC_ESR) {
          this.latchEsr();
          return true;
        }
        break;
      case APIC_SVR:
        if ((v & ~this.svrWritable()) !== 0) return false;
        break;
      case APIC_LVT_TIMER:
      case APIC_LVT_THERMAL:
      case APIC_LVT_PERF:
      case APIC_LVT_LINT0:
      case APIC_LVT_LINT1:
      case APIC_LVT_ERROR:
      case APIC_LVT_CMCI:
        if ((v & ~LVT_WRITABLE[lvtIndexOf(reg)]!) !== 0) return false;
        break;
      case APIC_TIMER_DIVIDE:
        if ((v & ~TIMER_DIVIDE_WRITABLE) !== 0) return false;
        break;
      case APIC_TIMER_INITIAL_COUNT:
        break;
      default:
        return false; // read-only (ID, version, PPR, LDR, IRR/ISR/TMR, current count) or absent
    }
    return this.writeCommon(reg, v);
  }

  private writeX2apicIcr(value: bigint): boolean {
    const low = Number(value & U32);
    if ((low & X2APIC_ICR_LOW_RESERVED) !== 0) return false;
    const dest = Number(value >> 32n);
    this.regs.set(APIC_ICR_LOW, low);
    this.regs.set(APIC_ICR_HIGH, dest);
    this.sendIcr(low, dest);
    return true;
  }

  /** SELF IPI (x2APIC only): a fixed, edge IPI to this APIC with the given vector. */
  private writeSelfIpi(v: number): boolean {
    if (v > LVT_VECTOR_MASK) return false;
    this.sendIcr(v | (Shorthand.Self << ICR_SHORTHAND_SHIFT), 0);
    return true;
  }

  /**
   * IA32_APIC_BASE (SDM "x2APIC State Transitions"): disabled -> xAPIC -> x2APIC -> disabled;
   * x2APIC -> xAPIC, disabled -> x2APIC and EN=0/EXTD=1 are illegal (#GP), as are reserved bits.
   * Disabling resets the APIC; entering x2APIC derives the ID and LDR.
   */
  private writeApicBase(value: bigint): boolean {
    const reserved = ~(this.baseAddressMask | APIC_BASE_ENABLE | APIC_BASE_EXTD | APIC_BASE_BSP);
    if ((value & reserved & 0xffff_ffff_ffff_ffffn) !== 0n) return false;
    const en = (value & APIC_BASE_ENABLE) !== 0n;
    const extd = (value & APIC_BASE_EXTD) !== 0n;
    if (extd && !this.x2apicSupported) return false;
    if (extd && !en) return false;
    const next = !en ? MODE_DISABLED : extd ? MODE_X2APIC : MODE_XAPIC;
    const cur = this.modeCode;
    if (cur === MODE_X2APIC && next === MODE_XAPIC) return false;
    if (cur === MODE_DISABLED && next === MODE_X2APIC) return false;
    this.apicBase = value;
    if (next === cur) return true;
    this.modeCode = next;
    this.syncFastPaths();
    if (next === MODE_DISABLED) {
      this.resetRegisters(this.regs.get(APIC_ID));
      this.nmiPending = false;
      this.smiPending = false;
      this.extIntLatched = false;
    } else if (next === MODE_X2APIC) {
      this.enterX2apicRegisters();
    } else {
      // disabled -> xAPIC: the APIC comes back in its power-up state with its initial ID.
      this.resetRegisters((this.id & XAPIC_ID_MASK) << XAPIC_ID_SHIFT);
    }
    this.bus?.routingChanged(this);
    return true;
  }

  // =============================================================================================
  // Register semantics

  private writeTpr(tpr: number): void {
    this.regs.set(APIC_TPR, tpr);
    this.updatePpr();
  }

  private svrWritable(): number {
    return (
      SVR_VECTOR_MASK |
      SVR_APIC_ENABLE |
      SVR_FOCUS_DISABLE |
      (this.directedEoi ? SVR_SUPPRESS_EOI_BROADCAST : 0)
    );
  }

  /**
   * SVR: a write with the software-enable bit clear masks every LVT entry; while disabled,
   * attempts to unmask are ignored (SDM "Local APIC State After It Has Been Software Disabled").
   * The masking happens on every such write, not only on the 1 -> 0 change, as KVM's APIC_SPIV
   * write does: it matters only for the 'kvm' reset preset, where LINT0 is unmasked while SVR
   * bit 8 is clear.
   */
  private writeSvr(value: number): void {
    const svr = value & this.svrWritable();
    this.regs.set(APIC_SVR, svr);
    const enabled = (svr & SVR_APIC_ENABLE) !== 0;
    if (enabled !== this.swEnabled) {
      this.swEnabled = enabled;
      this.syncFastPaths();
    }
    if (enabled) return;
    for (let i = 0; i < LVT_COUNT; i++) {
      const off = LVT_OFFSETS[i]!;
      this.regs.set(off, (this.regs.get(off) | LVT_MASKED) >>> 0);
    }
  }

  private writeLvt(reg: number, value: number): void {
    const index = lvtIndexOf(reg);
    const old = this.regs.get(reg);
    let lvt = value & LVT_WRITABLE[index]!;
    if (!this.swEnabled) lvt |= LVT_MASKED;
    if (index === LvtIndex.Lint0 || index === LvtIndex.Lint1) {
      // Remote IRR is read-only; it stays only while the entry remains level-triggered.
      if ((lvt & LVT_TRIGGER_LEVEL) !== 0) lvt |= old & LVT_REMOTE_IRR;
    }
    this.regs.set(reg, lvt >>> 0);
    if (index === LvtIndex.Timer) {
      this.timer.setMode((lvt & LVT_TIMER_MODE_MASK) >>> LVT_TIMER_MODE_SHIFT);
      this.regs.set(APIC_TIMER_INITIAL_COUNT, this.timer.readInitialCount());
    } else if (index === LvtIndex.Lint0) {
      this.evaluateLint(0, false);
    } else if (index === LvtIndex.Lint1) {
      this.evaluateLint(1, false);
    }
  }

  private updatePpr(): void {
    const tpr = this.regs.get(Hot.Tpr);
    const isrv = this.regs.highestIsr();
    const isrClass = isrv < 0 ? 0 : isrv & Hot.ClassMask;
    this.setPpr((tpr & Hot.ClassMask) >= isrClass ? tpr : isrClass);
  }

  private setPpr(ppr: number): void {
    if (this.tracer !== undefined) this.tracePpr(ppr);
    this.ppr = ppr;
    this.pendingFloor = this.modeCode === Hot.ModeDisabled ? Hot.ClassMask : ppr & Hot.ClassMask;
    this.regs.words[Hot.Ppr >> 2] = ppr;
  }

  /** An ISR trace event with the current PPR (out of line: see acceptInterrupt). */
  private trace(kind: 'isr-set' | 'isr-clear', v: number): void {
    this.tracer?.(kind, v, this.ppr);
  }

  /** Out of line so that {@link setPpr} stays small (see acceptInterrupt). */
  private tracePpr(ppr: number): void {
    if (ppr !== this.ppr) this.tracer?.('ppr', ppr, this.regs.get(Hot.Tpr));
  }

  // --- ESR and the error LVT -------------------------------------------------------------------

  /**
   * An internal error: the bit is latched for the next ESR write, and a newly set bit raises the
   * error LVT interrupt. An error LVT with an illegal vector records "received illegal vector"
   * without recursing (Xen XSA-462).
   */
  private signalError(bit: number): void {
    const fresh = bit & ~this.esrPending;
    this.esrPending |= bit;
    if (fresh === 0 || this.inErrorDelivery) return;
    this.inErrorDelivery = true;
    this.deliverLvt(APIC_LVT_ERROR);
    this.inErrorDelivery = false;
  }

  /** A write to ESR copies the latched errors into it and clears the latch (SDM "Error Handling"). */
  private latchEsr(): void {
    this.regs.set(APIC_ESR, this.esrPending);
    this.esrPending = 0;
  }

  // --- IPIs ------------------------------------------------------------------------------------

  private sendIcr(low: number, destination: number): void {
    const check = checkIcr(low);
    if (check === IcrCheck.InitDeassert) return;
    if (check === IcrCheck.Invalid) {
      this.stats.ipisInvalid++;
      return;
    }
    const mode = icrDeliveryMode(low);
    const vector = icrVector(low);
    if ((mode === DeliveryMode.Fixed || mode === DeliveryMode.LowestPriority) && vector < FIRST_LEGAL_VECTOR) {
      this.stats.ipisInvalid++;
      this.signalError(ESR_SEND_ILLEGAL_VECTOR);
      return;
    }
    this.stats.ipisSent++;
    if (this.tracer !== undefined) this.tracer('ipi-send', low, destination);
    const shorthand = icrShorthand(low);
    // IPIs are accepted edge-triggered: Intel converts a level-assert fixed IPI to edge.
    if (shorthand === Shorthand.Self) {
      this.acceptMessage(mode, vector, false);
    } else if (this.bus !== undefined) {
      this.bus.sendIpi(this, low, destination);
    } else if (shorthand === Shorthand.AllIncludingSelf || (shorthand === Shorthand.None && this.matchesDestination(destination, icrLogical(low)))) {
      // No bus: a system with this one APIC.
      this.acceptMessage(mode, vector, false);
    }
  }

  // --- Fixed acceptance ----------------------------------------------------------------------

  /** Recomputes {@link fastMinVector} and {@link pendingFloor} after a mode or hook change. */
  private syncFastPaths(): void {
    const fast = this.modeCode !== MODE_DISABLED && this.swEnabled && this.accel === undefined && this.onEvent === undefined;
    this.fastMinVector = fast ? Hot.FirstLegalVector : Hot.NoFastVector;
    this.pendingFloor = this.modeCode === MODE_DISABLED ? Hot.ClassMask : this.ppr & Hot.ClassMask;
  }

  private acceptFixed(vector: number, level: boolean): boolean {
    if (this.modeCode === MODE_DISABLED) return false;
    if (this.swEnabled !== true) {
      this.stats.droppedDisabled++;
      return false;
    }
    if (vector < Hot.FirstLegalVector) {
      this.signalError(ESR_RECEIVE_ILLEGAL_VECTOR);
      return false;
    }
    const accel = this.accel;
    let coalesced: boolean;
    if (accel === undefined) {
      // TMR and IRR in one step (the common case: no posted-interrupt assist).
      coalesced = this.regs.accept(vector, level);
    } else {
      this.regs.writeTmr(vector, level);
      const taken = accel.acceptFixed(vector, level);
      coalesced = taken === Hot.AccelNotTaken ? this.regs.setIrr(vector) : taken === Hot.AccelCoalesced;
    }
    if (coalesced) {
      this.stats.coalesced++;
      this.emit('coalesced', vector);
    } else {
      this.stats.accepted++;
      this.emit('interrupt', vector);
    }
    return true;
  }

  // --- LVT delivery ----------------------------------------------------------------------------

  /** Delivers a local interrupt through its LVT entry (timer, thermal, perf, CMCI, error). */
  private deliverLvt(reg: number): void {
    const lvt = this.regs.get(reg);
    if ((lvt & LVT_MASKED) !== 0) return;
    // The timer and error entries have no delivery-mode field: always fixed.
    const mode = reg === APIC_LVT_TIMER || reg === APIC_LVT_ERROR ? DeliveryMode.Fixed : lvtMode(lvt);
    this.deliverLocal(mode, lvt & LVT_VECTOR_MASK, false);
  }

  private deliverLocal(mode: number, vector: number, level: boolean): void {
    switch (mode) {
      case DeliveryMode.Fixed:
        this.acceptFixed(vector, level);
        return;
      case DeliveryMode.Nmi:
        this.acceptNmi();
        return;
      case DeliveryMode.Smi:
        this.acceptSmi();
        return;
      case DeliveryMode.Init:
        this.acceptInit();
        return;
      case DeliveryMode.ExtInt:
        this.acceptExtInt();
        return;
      default:
        return; // reserved LVT delivery modes deliver nothing
    }
  }

  /** @internal The timer's expiry (see TIMER_EXPIRED in timer.ts): delivers the timer LVT. */
  [TIMER_EXPIRED](): void {
    this.stats.timerFires++;
    if (this.tracer !== undefined) this.tracer('timer-fire', this.regs.get(APIC_LVT_TIMER) & LVT_VECTOR_MASK, 0);
    this.deliverLvt(APIC_LVT_TIMER);
  }

  // --- LINT0 / LINT1 ---------------------------------------------------------------------------

  private lintAsserted(pin: number): boolean {
    const level = pin === 0 ? this.lint0Level : this.lint1Level;
    const lvt = this.regs.get(pin === 0 ? APIC_LVT_LINT0 : APIC_LVT_LINT1);
    return (lvt & LVT_POLARITY_LOW) !== 0 ? !level : level;
  }

  /**
   * Applies the LINT pin's state through its LVT entry (SDM "Local Vector Table"): NMI, SMI and
   * INIT are edge-sensitive; ExtINT is level-sensitive; fixed is edge unless LINT0 is programmed
   * level, in which case remote IRR holds off re-delivery until the EOI. LINT1 is edge-only.
   * With the APIC globally disabled, LINT0 is the CPU's INTR and LINT1 its NMI pin.
   */
  private evaluateLint(pin: number, rising: boolean): void {
    if (this.modeCode === MODE_DISABLED) {
      if (pin === 1 && rising) {
        this.stats.nmis++;
        this.nmiPending = true;
        this.emit('nmi', 0);
      } else if (pin === 0 && this.lint0Level) {
        this.emit('extint', 0);
      }
      return;
    }
    const reg = pin === 0 ? APIC_LVT_LINT0 : APIC_LVT_LINT1;
    const lvt = this.regs.get(reg);
    if ((lvt & LVT_MASKED) !== 0) return;
    const mode = lvtMode(lvt);
    const asserted = this.lintAsserted(pin);
    if (mode === DeliveryMode.ExtInt) {
      if (asserted && pin === 0) this.emit('extint', 0);
      return;
    }
    if (mode === DeliveryMode.Fixed && pin === 0 && (lvt & LVT_TRIGGER_LEVEL) !== 0) {
      if (!asserted || (lvt & LVT_REMOTE_IRR) !== 0) return;
      if (this.acceptFixed(lvt & LVT_VECTOR_MASK, true)) this.regs.set(reg, (lvt | LVT_REMOTE_IRR) >>> 0);
      return;
    }
    if (rising) this.deliverLocal(mode, lvt & LVT_VECTOR_MASK, false);
  }

  /** EOI of a level vector: clears a matching LINT0 remote IRR and re-delivers if still asserted. */
  private lintEoi(vector: number): void {
    const lvt = this.regs.get(APIC_LVT_LINT0);
    if ((lvt & LVT_REMOTE_IRR) === 0 || (lvt & LVT_VECTOR_MASK) !== vector) return;
    this.regs.set(APIC_LVT_LINT0, (lvt & ~LVT_REMOTE_IRR) >>> 0);
    this.evaluateLint(0, false);
  }

  // --- helpers -----------------------------------------------------------------------------

  private matchesX2apic(dest: number, logical: boolean): boolean {
    if (dest === X2APIC_BROADCAST) return true;
    if (!logical) return dest === this.id;
    const ldr = this.regs.get(APIC_LDR);
    return dest >>> X2APIC_CLUSTER_SHIFT === ldr >>> X2APIC_CLUSTER_SHIFT && (dest & ldr & 0xffff) !== 0;
  }

  private emit(event: LapicEvent, value: number): void {
    const fn = this.onEvent;
    if (fn !== undefined) fn(event, value);
  }
}

/** Checks a reset preset name. @throws TypeError for a non-string, RangeError for an unknown name. */
export function checkPreset(name: string, value: unknown): ResetPreset {
  if (typeof value !== 'string') throw new TypeError(`${name} must be one of ${RESET_PRESETS.join(', ')}, got ${typeof value}`);
  if (!RESET_PRESETS.includes(value as ResetPreset)) throw new RangeError(`${name} must be one of ${RESET_PRESETS.join(', ')}, got '${value}'`);
  return value as ResetPreset;
}

/** The argument errors of acceptInterrupt, in its order (out of line: see acceptInterrupt). */
function checkAcceptArgs(vector: unknown, level: unknown): void {
  if (typeof vector !== 'number' || (vector & 0xff) !== vector) checkInt('vector', vector, 0, 255);
  checkBool('level', level);
}

/**
 * The ESR bits this model sets: illegal vectors sent or received and illegal register addresses
 * (the checksum and accept errors belong to the serial APIC bus, which the model does not have).
 */
const ESR_MODELLED = ESR_SEND_ILLEGAL_VECTOR | ESR_RECEIVE_ILLEGAL_VECTOR | ESR_ILLEGAL_REGISTER;

/**
 * Version of the 'local-apic' snapshot section (also a Platform's 'lapic.N'). 2: the timer's
 * time offset (a rebased restore); version 1 sections still restore.
 */
export const LAPIC_STATE_VERSION = 2;

/** The counters in LocalApicStats, in snapshot order. */
const STAT_KEYS = [
  'accepted',
  'coalesced',
  'droppedDisabled',
  'spurious',
  'eois',
  'eoiBroadcasts',
  'ipisSent',
  'ipisInvalid',
  'nmis',
  'smis',
  'inits',
  'sipis',
  'sipisIgnored',
  'timerFires',
] as const;

/**
 * Checks a page from a snapshot against what the model can produce: IRR/ISR/TMR vectors 0-15
 * clear, at most one ISR bit per priority class, registers within their bits, PPR consistent.
 */
function checkPage(r: StateReader, words: Uint32Array, mode: number, id: number, version: number, svrMask: number): void {
  const word = (off: number): number => words[off >> 2]!;
  for (const base of [APIC_ISR, APIC_IRR, APIC_ISR + 0x80]) {
    if ((word(base) & 0xffff) !== 0) r.fail('page', `vectors 0-15 set at offset 0x${base.toString(16)}`);
  }
  let isrv = -1;
  for (let cls = 1; cls < 16; cls++) {
    const bits = (word(APIC_ISR + (cls >> 1) * 0x10) >>> ((cls & 1) * 16)) & 0xffff;
    if ((bits & (bits - 1)) !== 0) r.fail('page', `two in-service vectors in priority class ${cls}`);
    if (bits !== 0) isrv = cls * 16 + 31 - Math.clz32(bits);
  }
  const tpr = word(APIC_TPR);
  if (tpr > PRIORITY_MASK) r.fail('page', `TPR ${tpr} is above 0xff`);
  const isrClass = isrv < 0 ? 0 : isrv & PRIORITY_CLASS_MASK;
  const ppr = (tpr & PRIORITY_CLASS_MASK) >= isrClass ? tpr : isrClass;
  if (word(APIC_PPR) !== ppr) r.fail('page', `PPR ${word(APIC_PPR)} is inconsistent with TPR and ISR (expected ${ppr})`);
  if (word(APIC_VERSION) !== version) r.fail('page', `version register ${word(APIC_VERSION)} is not ${version}`);
  if ((word(APIC_SVR) & ~svrMask) !== 0) r.fail('page', 'SVR has reserved bits set');
  const swEnabled = (word(APIC_SVR) & SVR_APIC_ENABLE) !== 0;
  for (let i = 0; i < LVT_COUNT; i++) {
    const off = LVT_OFFSETS[i]!;
    const lvt = word(off);
    // Remote IRR is LINT0/LINT1's only, and only while the entry is level-triggered.
    const lint = i === LvtIndex.Lint0 || i === LvtIndex.Lint1;
    const remoteIrr = lint && (lvt & LVT_TRIGGER_LEVEL) !== 0 ? LVT_REMOTE_IRR : 0;
    if ((lvt & ~(LVT_WRITABLE[i]! | remoteIrr)) !== 0) r.fail('page', `LVT at 0x${off.toString(16)} has reserved bits set`);
    // SDM "Spurious-Interrupt Vector Register": while software-disabled every LVT stays masked.
    // The one reachable exception is the 'kvm' reset preset's LINT0 (KVM_X86_QUIRK_LINT0_REENABLED):
    // exactly that value, which a guest write while disabled cannot produce (it forces the mask).
    const kvmLint0 = i === LvtIndex.Lint0 && lvt === KVM_QUIRK_LINT0;
    if (!swEnabled && (lvt & LVT_MASKED) === 0 && !kvmLint0) r.fail('page', `LVT at 0x${off.toString(16)} is unmasked while the APIC is software-disabled`);
  }
  checkOtherWords(r, words, mode, id);
  if (mode === MODE_X2APIC && word(APIC_ID) !== id) r.fail('page', 'x2APIC ID register does not match the APIC ID');
  if (mode !== MODE_X2APIC && (word(APIC_ID) & 0x00ff_ffff) !== 0) r.fail('page', 'xAPIC ID register has reserved bits set');
  if (mode !== MODE_X2APIC && (word(APIC_DFR) & DFR_RESERVED_ONES) !== DFR_RESERVED_ONES) r.fail('page', 'DFR reserved bits must read as ones');
  if ((word(APIC_ESR) & ~ESR_MODELLED) !== 0) r.fail('page', 'ESR has bits set the model never sets');
  // A globally disabled APIC was reset (SDM "Local APIC Status and Location"): nothing requested
  // or in service.
  if (mode === MODE_DISABLED) {
    for (let i = 0; i < 8; i++) {
      if (word(APIC_IRR + i * APIC_REG_STRIDE) !== 0 || word(APIC_ISR + i * APIC_REG_STRIDE) !== 0) r.fail('page', 'IRR or ISR bits set in a disabled APIC');
    }
  }
}

/**
 * The bits each remaining page word can hold (SDM "Local APIC Register Address Map"): LDR and the
 * ICR within their fields (x2APIC: LDR derived from the ID, a 32-bit ICR destination), and every
 * register the model never stores (APR, EOI, RRD, current count, SELF IPI) and every unused word
 * zero.
 */
function checkOtherWords(r: StateReader, words: Uint32Array, mode: number, id: number): void {
  const x2 = mode === MODE_X2APIC;
  const ldr = words[APIC_LDR >> 2]!;
  if (x2) {
    const derived = ((id >>> X2APIC_CLUSTER_ID_SHIFT) << X2APIC_CLUSTER_SHIFT) | (1 << (id & X2APIC_LOGICAL_ID_MASK));
    if (ldr !== derived >>> 0) r.fail('page', `x2APIC LDR ${ldr} is not the one derived from the ID (${derived >>> 0})`);
  } else if ((ldr & ~(XAPIC_ID_MASK << LDR_XAPIC_SHIFT)) !== 0) {
    r.fail('page', 'LDR has reserved bits set');
  }
  if ((words[APIC_ICR_LOW >> 2]! & ~ICR_LOW_WRITABLE) !== 0) r.fail('page', 'ICR low has reserved or read-only bits set');
  if (!x2 && (words[APIC_ICR_HIGH >> 2]! & ~ICR_HIGH_WRITABLE) !== 0) r.fail('page', 'ICR high has reserved bits set');
  for (let i = 0; i < words.length; i++) {
    if (words[i] !== 0 && !STORED_WORDS.has(i << 2)) r.fail('page', `offset 0x${(i << 2).toString(16)} holds ${words[i]}, which no register can`);
  }
}

/** Page offsets the model stores a value at (every other word of the page stays 0). */
const STORED_WORDS: ReadonlySet<number> = new Set([
  APIC_ID,
  APIC_VERSION,
  APIC_TPR,
  APIC_PPR,
  APIC_LDR,
  APIC_DFR,
  APIC_SVR,
  APIC_ESR,
  APIC_ICR_LOW,
  APIC_ICR_HIGH,
  APIC_TIMER_INITIAL_COUNT,
  APIC_TIMER_DIVIDE,
  ...LVT_OFFSETS,
  ...Array.from({ length: 24 }, (_, i) => APIC_ISR + i * APIC_REG_STRIDE),
]);

/** Priority class (bits 7:4) of a vector, 0 for "none" (-1). */
function classOf(vector: number): number {
  return vector < 0 ? 0 : vector & PRIORITY_CLASS_MASK;
}

function lvtMode(lvt: number): number {
  return (lvt & LVT_DELIVERY_MODE_MASK) >>> LVT_DELIVERY_MODE_SHIFT;
}

/** IRR, ISR and TMR are contiguous: 24 registers from 0x100 to 0x270. */
function isVectorRegister(reg: number): boolean {
  return reg >= APIC_ISR && reg < APIC_IRR + 0x80;
}

function lvtIndexOf(reg: number): number {
  switch (reg) {
    case APIC_LVT_TIMER:
      return LvtIndex.Timer;
    case APIC_LVT_THERMAL:
      return LvtIndex.Thermal;
    case APIC_LVT_PERF:
      return LvtIndex.Perf;
    case APIC_LVT_LINT0:
      return LvtIndex.Lint0;
    case APIC_LVT_LINT1:
      return LvtIndex.Lint1;
    case APIC_LVT_ERROR:
      return LvtIndex.Error;
    default:
      return LvtIndex.Cmci;
  }
}

/** The named errors for a bad fabric message (the slow path of acceptMessage). */
function checkMessage(deliveryMode: unknown, vector: unknown, level: unknown): void {
  checkInt('deliveryMode', deliveryMode, 0, 7);
  checkInt('vector', vector, 0, 255);
  checkBool('level', level);
}

/** Whether `bus` has the methods a LocalApic calls on its bus. */
function isBusPort(bus: unknown): bus is ApicBusPort {
  if (bus === null || typeof bus !== 'object') return false;
  const b = bus as Record<string, unknown>;
  return (
    typeof b.attach === 'function' &&
    typeof b.sendIpi === 'function' &&
    typeof b.broadcastEoi === 'function' &&
    typeof b.routingChanged === 'function'
  );
}
