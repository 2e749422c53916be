/**
 * One PC's interrupt wiring, for emulators that bring their own CPU.
 *
 * ```
 *  ISA IRQ 0-15 ──┬──────────────> 8259A pair ── INT ──┬──> every LAPIC's LINT0 (virtual wire A)
 *                 │                 (picOutput)        └──> I/O APIC pin 0      (virtual wire B)
 *                 └─ IRQ n -> pin n (IRQ0 -> pin 2) ──> I/O APIC ──┐
 *                    (isaOverrides)                                │
 *  GSI >= 16 (PCI INTx, active low) ──────────────────> I/O APIC ──┼──> APIC bus ──> LAPICs
 *  MSI writes (0xFEExxxxx) ────────────────────────────────────────┘
 *  NMI line ──> every LAPIC's LINT1
 * ```
 *
 * This is the wiring QEMU's pc/q35 machines, KVM and bhyve present: the MADT's usual interrupt
 * source override sends ISA IRQ0 (the PIT) to I/O APIC pin 2, pin 0 is the 8259A's output, and
 * the other ISA IRQs keep their numbers. ISA IRQ2 is the 8259A cascade and reaches the PIC only.
 * Both maps are options (`isaOverrides`, `picOutput`, see wiring.ts) and {@link Platform.firmware}
 * describes them as the MADT / MP table entries the guest must be shown.
 *
 * The CPU side (`cpuHasInterrupt`, `cpuAcknowledge`, `takeNmi`) is what a CPU's INTR/INTA and
 * NMI pins do: an ExtINT (the 8259A through LINT0 or an ExtINT message) is fetched from the
 * 8259A with an INTA cycle, ahead of the local APIC's fixed interrupts; otherwise the local APIC
 * supplies its highest vector that beats PPR. With a globally disabled local APIC, the 8259A
 * drives the CPU's INTR directly.
 *
 * @module
 */
import { checkRestoreOptions, decodeSnapshot, encodeSnapshot, TIME_SECTION, type RestoreOptions, type Section, type SnapshotContainer } from '../codec/container.js';
import { RearmQueue, StateWriter, type Rearm, type StateReader } from '../codec/state.js';
import { checkBool, checkFunction, checkInt, checkObject, SnapshotError } from '../errors.js';
import { LAPIC_STATE_VERSION, LocalApic, RESET_PRESETS, checkPreset, type LapicEvent, type ResetPreset } from '../apic/local-apic.js';
import { ApicBus, type ApicBusOptions } from '../bus/apic-bus.js';
import { IoApic } from '../ioapic/ioapic.js';
import { MAX_PINS, MIN_PINS, VERSION_82093AA, VERSION_IOXAPIC } from '../ioapic/registers.js';
import { PicPair } from '../pic/pic-pair.js';
import type { Clock } from '../time/clock.js';
import { Scheduler } from '../time/scheduler.js';
import { explainVector, type Explanation } from './explain.js';
import {
  ISA_IRQS,
  ISA_POLARITIES,
  ISA_TRIGGERS,
  LINT0_ALL,
  LINT0_BSP,
  NO_PIN,
  PIC_IOAPIC_PIN,
  PIC_OUTPUT_ROUTES,
  describeFirmware,
  resolveWiring,
  type FirmwareWiring,
  type IsaOverride,
  type PicOutput,
  type PicOutputRoute,
  type Wiring,
} from './wiring.js';

export { ISA_IRQS, ISA_IRQ0_PIN, PIC_CASCADE_IRQ, PIC_IOAPIC_PIN } from './wiring.js';
export type { FirmwareWiring, IsaOverride, IsaPolarity, IsaTrigger, MadtOverride, MpIoInterrupt, MpLocalInterrupt, PicOutput, PicOutputRoute } from './wiring.js';
/** xAPIC physical IDs stop at 0xFE (0xFF is the broadcast). */
const MAX_XAPIC_CPUS = 255;
/** x2APIC lets the library model far more; 4096 keeps memory and tests bounded. */
const MAX_CPUS = 4096;
/**
 * Version of the 'platform' snapshot section. 1: CPUs, pins, pciActiveLow. 2: adds the reset
 * preset and the wiring (isaOverrides, picOutput route), so a restore into a Platform wired
 * differently is refused instead of running the guest on wiring its tables do not describe.
 */
const PLATFORM_STATE_VERSION = 2;
/** How a picOutput callback is recorded: its route is the host's, only "a callback" is known. */
const PIC_OUTPUT_CODES: readonly (PicOutputRoute | 'callback')[] = [...PIC_OUTPUT_ROUTES, 'callback'];

/** Something a CPU must react to. Passed to {@link Platform.onCpuEvent} listeners. */
export interface CpuEvent {
  cpu: number;
  kind: LapicEvent;
  /** The SIPI vector for `sipi`, the vector for `interrupt`, else 0. */
  vector: number;
}

/**
 * The local APIC options a Platform passes to every LocalApic it builds (LocalApicOptions minus
 * what the platform decides: id, clock, bus, bsp, x2apic, onEvent).
 */
export interface PlatformLapicOptions {
  /** Timer input frequency before the divider, Hz. Default 1 GHz. */
  timerHz?: number;
  /** TSC frequency for IA32_TSC_DEADLINE, Hz. Default 1 GHz. */
  tscHz?: number;
  /** Smallest interval between periodic timer interrupts, ns. Default 200 µs (KVM's floor). */
  minTimerPeriodNs?: number;
  /** Whether the CPUs support x2APIC (IA32_APIC_BASE.EXTD writable). Default true. */
  x2apicSupported?: boolean;
  /**
   * Advertise directed EOI (version bit 24, SVR bit 12). Default: true exactly when the I/O APIC
   * has the EOI register (version 0x20) and x2apicSupported (as KVM); true with version 0x11 is a
   * RangeError.
   */
  directedEoi?: boolean;
  /** Physical address width for IA32_APIC_BASE's base field, 32..52. Default 36. */
  physAddrBits?: number;
  /** See {@link PlatformOptions.autoInitSipi}. Default true. */
  autoInitSipi?: boolean;
}

/** The I/O APIC options a Platform passes on (IoApicOptions minus bus and clock). */
export interface PlatformIoApicOptions {
  /** Input pins, 1..120. Default 24. */
  pins?: number;
  /** 0x20 (I/O xAPIC, EOI register; default) or 0x11 (82093AA). */
  version?: 0x11 | 0x20;
  /** The 4-bit I/O APIC ID at reset, 0..15. Default 0. */
  id?: number;
  /** Immediate re-deliveries in a row on EOI before backing off. Default 10000. */
  stormThreshold?: number;
  /** How long a storm back-off defers re-delivery, ns. Default 10 ms. */
  stormDelayNs?: number;
}

export interface PlatformOptions {
  cpus: number;
  /** The clock for timers; default a new {@link Scheduler} (then {@link Platform.scheduler} is set). */
  clock?: Clock;
  /** I/O APIC pins, default 24 (ACRN uses 48; at most 120). Same as `ioapic.pins`. */
  ioapicPins?: number;
  /** Start every local APIC in x2APIC mode (required above 255 CPUs). */
  x2apic?: boolean;
  /** I/O APIC version: 0x20 (default, has the EOI register for directed EOI) or 0x11. Same as `ioapic.version`. */
  ioapicVersion?: 0x11 | 0x20;
  /** Lowest-priority arbitration and MSI options for the bus. */
  bus?: ApicBusOptions;
  /** GSIs >= 16 are PCI INTx lines, active low (default true): `setIrq` then drives the wire low. */
  pciActiveLow?: boolean;
  /** Local APIC timer input frequency, Hz (default 1 GHz). Same as `lapic.timerHz`. */
  timerHz?: number;
  /** TSC frequency, Hz (default 1 GHz). Same as `lapic.tscHz`. */
  tscHz?: number;
  /**
   * Let the local APICs carry out INIT and SIPI themselves (default true): INIT resets the APIC
   * and parks an AP in wait-for-SIPI, a SIPI starts it. With false they are only reported through
   * {@link Platform.onCpuEvent}, as bhyve reports IPI exits, and the host acts. Same as
   * `lapic.autoInitSipi`.
   */
  autoInitSipi?: boolean;
  /**
   * The state the constructor and {@link Platform.reset} leave the local APICs in: `'power-on'`
   * (default, the SDM's), `'seabios'` or `'kvm'` (docs/local-apic.md, "Reset presets"). The I/O
   * APIC and the 8259A always start in their power-on state.
   */
  reset?: ResetPreset;
  /** Options of every local APIC (see {@link PlatformLapicOptions}). */
  lapic?: PlatformLapicOptions;
  /** Options of the I/O APIC (see {@link PlatformIoApicOptions}). */
  ioapic?: PlatformIoApicOptions;
  /**
   * Where ISA IRQs enter the I/O APIC, as MADT interrupt source overrides. Default
   * `[{ isaIrq: 0, gsi: 2 }]` (the PC's IRQ0 -> GSI 2); `[]` = every ISA IRQ on the pin of its
   * number. An ISA IRQ always reaches the 8259A as IRQ n. Publish {@link Platform.isaOverrides}.
   */
  isaOverrides?: readonly IsaOverride[];
  /**
   * Where the 8259A's INTR output goes: `'lint0-all+ioapic-pin0'` (default; `'lint0-all'` when an
   * ISA IRQ uses GSI 0), `'lint0-all'`, `'lint0-bsp'`, `'lint0-bsp+ioapic-pin0'`, `'ioapic-pin0'`,
   * or a function that receives every change of its level (the host then runs INTA itself).
   */
  picOutput?: PicOutput;
}

/**
 * One PC's interrupt wiring for an emulator that brings its own CPU: the 8259A pair, the I/O APIC,
 * one {@link LocalApic} per CPU and the {@link ApicBus} between them, wired as a PC is (ISA IRQ n to
 * the 8259A and to I/O APIC pin n, IRQ0 to pin 2; the 8259A's output to every LINT0 and to pin 0).
 * The emulator routes guest port I/O, MMIO and MSRs to the devices, raises lines with
 * {@link Platform.setIrq}, and at each instruction boundary asks {@link Platform.cpuHasInterrupt}
 * and {@link Platform.cpuAcknowledge} (docs/platform.md).
 *
 * @example
 * ```ts
 * import { Platform } from 'irqchip';
 *
 * const pc = new Platform({ cpus: 4 });
 * pc.pic.ioWrite(0x20, 0x11);          // guest port I/O goes to the 8259A pair
 * pc.ioapic.writeRegister(0x00, 0x10); // guest MMIO to the I/O APIC
 * pc.lapics[0].writeRegister(0xf0, 0x1ff);
 * pc.setIrq(4, true);                  // a device raises ISA IRQ 4
 * if (pc.cpuHasInterrupt(0)) pc.cpuAcknowledge(0); // the CPU's INTR / INTA
 * ```
 */
export class Platform {
  readonly lapics: readonly LocalApic[];
  readonly ioapic: IoApic;
  readonly pic: PicPair;
  readonly bus: ApicBus;
  readonly clock: Clock;
  /** The scheduler, when the platform created its own clock. */
  readonly scheduler: Scheduler | undefined;
  private readonly pciActiveLow: boolean;
  private readonly wiring: Wiring;
  private readonly resetPreset: ResetPreset;
  private readonly listeners: Array<(e: CpuEvent) => void> = [];
  /** One reused event object: listeners must copy what they keep (no allocation per event). */
  private readonly event: CpuEvent = { cpu: 0, kind: 'interrupt', vector: 0 };

  /**
   * Builds the devices in their power-on state and wires them.
   *
   * @throws RangeError / TypeError for an option out of range (CPU count, pins, clock); nothing is built.
   */
  constructor(opts: PlatformOptions) {
    checkObject('opts', opts);
    const x2apic = checkBool('x2apic', opts.x2apic ?? false);
    const count = checkInt('cpus', opts.cpus, 1, x2apic ? MAX_CPUS : MAX_XAPIC_CPUS);
    this.pciActiveLow = checkBool('pciActiveLow', opts.pciActiveLow ?? true);
    const lapicOpts = checkNested<PlatformLapicOptions>('lapic', opts.lapic);
    const ioapicOpts = checkNested<PlatformIoApicOptions>('ioapic', opts.ioapic);
    // The I/O APIC checks these too, but under its own names (pins, version): check them here so
    // the error names the option the caller passed.
    const pins = same('ioapicPins', opts.ioapicPins, 'ioapic.pins', ioapicOpts.pins);
    const ioapicPins = checkInt(pins.name, pins.value ?? 24, MIN_PINS, MAX_PINS);
    const version = same('ioapicVersion', opts.ioapicVersion, 'ioapic.version', ioapicOpts.version);
    const ioapicVersion = checkIoapicVersion(version.name, version.value ?? VERSION_IOXAPIC);
    const lapicBase = lapicOptions(opts, lapicOpts, x2apic, ioapicVersion);
    this.resetPreset = checkPreset('reset', opts.reset ?? 'power-on');
    this.wiring = resolveWiring(opts.isaOverrides, opts.picOutput, ioapicPins);
    if (opts.clock === undefined) {
      this.scheduler = new Scheduler();
      this.clock = this.scheduler;
    } else {
      this.clock = opts.clock;
      this.scheduler = opts.clock instanceof Scheduler ? opts.clock : undefined;
    }
    this.bus = new ApicBus(opts.bus);
    const lapics: LocalApic[] = [];
    for (let cpu = 0; cpu < count; cpu++) {
      lapics.push(
        new LocalApic({
          id: cpu,
          clock: this.clock,
          bus: this.bus,
          bsp: cpu === 0,
          x2apic,
          ...lapicBase,
          reset: this.resetPreset,
          onEvent: (kind, vector) => this.emit(cpu, kind, vector),
        }),
      );
    }
    this.lapics = lapics;
    this.ioapic = new IoApic({
      bus: this.bus,
      pins: ioapicPins,
      clock: this.clock,
      version: ioapicVersion,
      id: ioapicOpts.id,
      stormThreshold: ioapicOpts.stormThreshold,
      stormDelayNs: ioapicOpts.stormDelayNs,
    });
    this.bus.addEoiListener(this.ioapic);
    this.pic = new PicPair({ onOutput: (level) => this.picOutput(level) });
    this.idleLines();
  }

  /** Number of CPUs. */
  get cpus(): number {
    return this.lapics.length;
  }

  // ---- devices -----------------------------------------------------------------------------

  /**
   * A device asserts (`true`) or deasserts its interrupt line. `gsi` 0..15 are ISA IRQs (the
   * contract: 0..15 = ISA), exactly {@link setIsaIrq}: IRQ n reaches the 8259A as IRQ n and the
   * I/O APIC on the pin `isaOverrides` gives it (IRQ0 on pin 2 by default; IRQ2, the cascade, on
   * the 8259A only). `gsi` >= 16 is I/O APIC pin `gsi`; as PCI INTx lines they are active low
   * unless `pciActiveLow: false`, so asserting drives the wire low.
   * @throws RangeError unless gsi is an integer in 0..ioapic.pins-1 (or 0..15), or when gsi >= 16
   *   is an ISA IRQ's pin (raise that with setIsaIrq); TypeError unless level is a boolean.
   *
   * @example
   * ```ts
   * import { Platform } from 'irqchip';
   *
   * const pc = new Platform({ cpus: 1 });
   * pc.setIrq(1, true);   // keyboard: ISA IRQ 1 to the 8259A and to I/O APIC pin 1
   * pc.setIrq(1, false);
   * pc.setIrq(16, true);  // PCI INTA#: I/O APIC pin 16, an active-low wire
   * ```
   */
  setIrq(gsi: number, level: boolean): void {
    checkInt('gsi', gsi, 0, Math.max(this.ioapic.pins, ISA_IRQS) - 1);
    checkBool('level', level);
    if (gsi < ISA_IRQS) {
      this.driveIsa(gsi, level);
      return;
    }
    const owner = this.wiring.pinOwner[gsi]!;
    if (owner >= 0) throw new RangeError(`gsi ${gsi} is wired to ISA IRQ ${owner} (isaOverrides): raise it with setIsaIrq(${owner}, level)`);
    this.ioapic.setPin(gsi, this.pciActiveLow ? !level : level);
  }

  /**
   * An ISA device asserts or deasserts ISA IRQ `irq`: the 8259A sees IRQ `irq`; the I/O APIC sees
   * its GSI from `isaOverrides`, inverted on the wire when the override is active low.
   * @throws RangeError unless irq is an integer 0..15; TypeError unless level is a boolean.
   */
  setIsaIrq(irq: number, level: boolean): void {
    checkInt('irq', irq, 0, ISA_IRQS - 1);
    checkBool('level', level);
    this.driveIsa(irq, level);
  }

  /** The I/O APIC pin (GSI) ISA IRQ `irq` reaches, or -1 (IRQ2, the cascade). */
  isaGsi(irq: number): number {
    checkInt('irq', irq, 0, ISA_IRQS - 1);
    return this.wiring.isaPin[irq]!;
  }

  /**
   * The MADT interrupt source overrides the guest must see for this wiring (the `isaOverrides`
   * option, sorted by ISA IRQ, with polarity and trigger filled in). A fresh array each call.
   */
  isaOverrides(): Required<IsaOverride>[] {
    return this.wiring.overrides.map((o) => ({ ...o }));
  }

  /**
   * Everything the guest's firmware tables must say about this wiring: MADT overrides and local
   * NMI, MP table interrupt entries, the I/O APIC and the CPUs. A fresh object each call.
   */
  firmware(): FirmwareWiring {
    const cpus = this.lapics.map((a) => ({ apicId: a.id, bsp: a.isBsp }));
    return describeFirmware(this.wiring, { id: this.ioapic.id, pins: this.ioapic.pins, version: this.ioapic.version }, cpus);
  }

  /**
   * A PCI MSI write. @returns how many local APICs accepted it.
   *
   * @example
   * ```ts
   * import { Platform } from 'irqchip';
   *
   * const pc = new Platform({ cpus: 2 });
   * pc.lapics[1].writeRegister(0xf0, 0x1ff); // software-enable APIC 1
   * pc.sendMsi(0xfee01000, 0x0041);          // fixed vector 0x41, physical destination APIC 1
   * pc.lapics[1].pendingVector();            // 0x41
   * ```
   */
  sendMsi(address: number, data: number): number {
    return this.bus.sendMsi(address, data);
  }

  /** Drives the NMI line wired to every local APIC's LINT1 (BIOSes program LINT1 as NMI). */
  setNmiLine(level: boolean): void {
    checkBool('level', level);
    for (let i = 0; i < this.lapics.length; i++) this.lapics[i]!.setLint(1, level);
  }

  // ---- CPU side ----------------------------------------------------------------------------

  /**
   * Whether the CPU's INTR is asserted: an ExtINT to fetch from the 8259A or a LAPIC vector.
   *
   * @example
   * ```ts
   * import { Platform } from 'irqchip';
   *
   * const pc = new Platform({ cpus: 1 });
   * // In the emulator's CPU loop, at an instruction boundary with RFLAGS.IF = 1:
   * if (pc.cpuHasInterrupt(0)) {
   *   const vector = pc.cpuAcknowledge(0); // INTA: from the 8259A (ExtINT) or the local APIC
   * }
   * ```
   */
  cpuHasInterrupt(cpu: number): boolean {
    const apic = this.lapic(cpu);
    return apic.extIntPending() || apic.pendingVector() >= 0;
  }

  /**
   * The CPU's INTA cycle (call when it takes the interrupt, IF = 1): ExtINT first (the 8259A
   * supplies the vector, spurious IRQ7/15 if the request vanished), otherwise the local APIC
   * moves its vector from IRR to ISR (or returns the SVR spurious vector).
   */
  cpuAcknowledge(cpu: number): number {
    const apic = this.lapic(cpu);
    if (apic.extIntPending()) {
      apic.clearExtInt();
      return this.pic.acknowledge();
    }
    return apic.acknowledge();
  }

  /** Takes the CPU's pending NMI, if any. */
  takeNmi(cpu: number): boolean {
    return this.lapic(cpu).takeNmi();
  }

  /** Takes the CPU's pending SMI, if any. */
  takeSmi(cpu: number): boolean {
    return this.lapic(cpu).takeSmi();
  }

  /**
   * Registers a listener for CPU events: INIT, SIPI, SMI, NMI, ExtINT and `interrupt` (a kick:
   * a fixed interrupt entered IRR). The event object is reused: copy what you keep.
   *
   * @example
   * ```ts
   * import { Platform } from 'irqchip';
   *
   * const pc = new Platform({ cpus: 2 });
   * pc.onCpuEvent((e) => {
   *   if (e.kind === 'sipi') console.log(`CPU ${e.cpu} starts at 0x${(e.vector << 12).toString(16)}`);
   * });
   * ```
   */
  onCpuEvent(fn: (e: CpuEvent) => void): void {
    checkFunction('fn', fn);
    this.listeners.push(fn);
  }

  /**
   * Why `vector` is or is not deliverable to `cpu` right now, as far as the controllers go.
   *
   * @example
   * ```ts
   * import { Platform } from 'irqchip';
   *
   * const pc = new Platform({ cpus: 1 });
   * pc.explain(0, 0x40).reason; // why 0x40 is not deliverable: the APIC is still software-disabled
   * ```
   */
  explain(cpu: number, vector: number): Explanation {
    checkInt('vector', vector, 0, 255);
    return explainVector(this.lapic(cpu), vector, this.ioapic, this.pic);
  }

  /** The local APIC of a CPU. @throws RangeError for a CPU index out of range. */
  lapic(cpu: number): LocalApic {
    checkInt('cpu', cpu, 0, this.lapics.length - 1);
    return this.lapics[cpu]!;
  }

  // ---- snapshots ---------------------------------------------------------------------------

  /**
   * Every device's state as one snapshot with a section per device ('bus', 'lapic.N', 'ioapic',
   * 'pic') and the clock's time. Restore it into a Platform built with the same options; the
   * 'platform' section records the CPU count, pins, reset preset and wiring so a mismatch is caught.
   */
  save(): Uint8Array {
    return encodeSnapshot('platform', this.saveSections(), this.clock.now());
  }

  /**
   * Restores a snapshot made by {@link save}; on a SnapshotError nothing changes. On a clock at
   * another time than the snapshot's, every armed timer and deferred delivery keeps its remaining
   * time (`time: 'rebase'`, the default) or the restore throws a SnapshotError naming both times
   * (`time: 'strict'`). A snapshot of a Platform with another CPU count, pin count, reset preset
   * or wiring (isaOverrides, picOutput route) throws a SnapshotError naming both.
   * @throws TypeError / RangeError for malformed options.
   */
  restore(bytes: Uint8Array, opts?: RestoreOptions): void {
    const mode = checkRestoreOptions(opts);
    const c = decodeSnapshot(bytes, 'platform');
    c.rejectUnknown((name) => this.knowsSection(name));
    c.setTarget(this.clock.now(), mode);
    const apply = this.readSections(c);
    const q = new RearmQueue();
    apply(q.rearm);
    q.flush();
  }

  /**
   * The device sections (for Machine snapshots).
   * @internal
   */
  saveSections(): Section[] {
    const section = (name: string, write: (w: StateWriter) => void, version = 1): Section => {
      const w = new StateWriter();
      write(w);
      return { name, version, optional: false, payload: w.finish() };
    };
    const out: Section[] = [section('platform', (w) => this.saveShape(w), PLATFORM_STATE_VERSION)];
    out.push(section('bus', (w) => this.bus.saveState(w)));
    this.lapics.forEach((apic, cpu) => out.push(section(`lapic.${cpu}`, (w) => apic.saveState(w), LAPIC_STATE_VERSION)));
    out.push(section('ioapic', (w) => this.ioapic.saveState(w)));
    out.push(section('pic', (w) => this.pic.saveState(w)));
    return out;
  }

  /** Whether a section name belongs to the platform. */
  knowsSection(name: string): boolean {
    return name === 'platform' || name === TIME_SECTION || name === 'bus' || name === 'ioapic' || name === 'pic' || /^lapic\.\d+$/.test(name);
  }

  /**
   * Reads and checks the device sections; returns the function that applies them.
   * @internal
   */
  readSections(c: SnapshotContainer): (rearm: Rearm) => void {
    this.checkShape(c.reader('platform', PLATFORM_STATE_VERSION));
    const read = <T>(name: string, fn: (r: ReturnType<SnapshotContainer['reader']>) => T, maxVersion = 1): T => {
      const r = c.reader(name, maxVersion);
      const out = fn(r);
      r.end();
      return out;
    };
    const bus = read('bus', (r) => this.bus.readState(r));
    const lapics = this.lapics.map((apic, cpu) => read(`lapic.${cpu}`, (r) => apic.readState(r), LAPIC_STATE_VERSION));
    const ioapic = read('ioapic', (r) => this.ioapic.readState(r));
    const pic = read('pic', (r) => this.pic.readState(r));
    return (rearm) => {
      bus();
      for (const apply of lapics) apply(rearm);
      ioapic(rearm);
      pic();
    };
  }

  /** The 'platform' section: what the snapshot needs this Platform's options to agree on. */
  private saveShape(w: StateWriter): void {
    w.u32(this.lapics.length).u16(this.ioapic.pins).bool(this.pciActiveLow);
    w.u8(RESET_PRESETS.indexOf(this.resetPreset));
    const overrides = this.wiring.overrides;
    w.u32(overrides.length);
    for (const o of overrides) w.u8(o.isaIrq).u16(o.gsi).u8(ISA_POLARITIES.indexOf(o.polarity)).u8(ISA_TRIGGERS.indexOf(o.trigger));
    w.u8(PIC_OUTPUT_CODES.indexOf(this.wiring.picOutput));
  }

  /**
   * Checks the 'platform' section against this Platform's options; a version 1 section (before
   * the wiring was recorded) can only be checked for CPUs, pins and pciActiveLow.
   * @throws SnapshotError naming the field and both values.
   */
  private checkShape(p: StateReader): void {
    const cpus = p.u32('cpus');
    if (cpus !== this.lapics.length) p.fail('cpus', `snapshot has ${cpus} CPUs, this platform ${this.lapics.length}`);
    const pins = p.u16('ioapicPins');
    if (pins !== this.ioapic.pins) p.fail('ioapicPins', `snapshot has ${pins} I/O APIC pins, this platform ${this.ioapic.pins}`);
    if (p.bool('pciActiveLow') !== this.pciActiveLow) p.fail('pciActiveLow', 'differs from this platform');
    if (p.version >= 2) {
      const preset = RESET_PRESETS[p.u8('reset', RESET_PRESETS.length - 1)]!;
      if (preset !== this.resetPreset) p.fail('reset', `snapshot has reset preset '${preset}', this platform '${this.resetPreset}'`);
      const saved = describeOverrides(readOverrides(p));
      const mine = describeOverrides(this.wiring.overrides);
      if (saved !== mine) p.fail('isaOverrides', `snapshot has ${saved}, this platform ${mine}`);
      const route = PIC_OUTPUT_CODES[p.u8('picOutput', PIC_OUTPUT_CODES.length - 1)]!;
      if (route !== this.wiring.picOutput) p.fail('picOutput', `snapshot has '${route}', this platform '${this.wiring.picOutput}'`);
    }
    p.end();
  }

  /**
   * Power-up reset of every device (the wire levels stay as the devices drive them); the local
   * APICs then take `preset` (default: the `reset` option).
   * @throws RangeError for an unknown preset (nothing changes).
   */
  reset(preset?: ResetPreset): void {
    const p = preset === undefined ? this.resetPreset : checkPreset('preset', preset);
    for (const apic of this.lapics) apic.reset(p);
    this.ioapic.reset();
    this.pic.reset();
  }

  // ---- wiring ------------------------------------------------------------------------------

  /** ISA IRQ n: the 8259A's IRQ n and the I/O APIC pin the wiring gives it. */
  private driveIsa(irq: number, level: boolean): void {
    this.pic.setIrq(irq, level);
    const pin = this.wiring.isaPin[irq]!;
    if (pin !== NO_PIN) this.ioapic.setPin(pin, this.wiring.isaActiveLow[irq] === 1 ? !level : level);
  }

  /**
   * Active-low lines idle high: drive them so before the guest unmasks anything. PCI lines are
   * the pins no ISA IRQ owns from 16 up; an ISA IRQ with an active-low override idles high too.
   */
  private idleLines(): void {
    const w = this.wiring;
    for (let irq = 0; irq < ISA_IRQS; irq++) {
      const pin = w.isaPin[irq]!;
      if (pin !== NO_PIN && w.isaActiveLow[irq] === 1) this.ioapic.setPin(pin, true);
    }
    if (!this.pciActiveLow) return;
    for (let pin = ISA_IRQS; pin < this.ioapic.pins; pin++) if (w.pinOwner[pin]! < 0) this.ioapic.setPin(pin, true);
  }

  /** The 8259A's INTR changed: drive the LINT0 pins, I/O APIC pin 0 and the host as wired. */
  private picOutput(level: boolean): void {
    const w = this.wiring;
    if (w.lint0 === LINT0_ALL) {
      for (let i = 0; i < this.lapics.length; i++) this.lapics[i]!.setLint(0, level);
    } else if (w.lint0 === LINT0_BSP) {
      this.lapics[0]!.setLint(0, level);
    }
    if (w.pin0) this.ioapic.setPin(PIC_IOAPIC_PIN, level);
    if (w.callback !== undefined) w.callback(level);
  }

  private emit(cpu: number, kind: LapicEvent, vector: number): void {
    const listeners = this.listeners;
    if (listeners.length === 0) return;
    const e = this.event;
    e.cpu = cpu;
    e.kind = kind;
    e.vector = vector;
    for (let i = 0; i < listeners.length; i++) listeners[i]!(e);
  }
}

export type { Explanation };

/** The overrides of a version 2 'platform' section (checked only for range; compared as text). */
function readOverrides(p: StateReader): Required<IsaOverride>[] {
  const n = p.count('isaOverrides', ISA_IRQS);
  const out: Required<IsaOverride>[] = [];
  for (let i = 0; i < n; i++) {
    const isaIrq = p.u8('isaOverrides.isaIrq', ISA_IRQS - 1);
    const gsi = p.u16('isaOverrides.gsi', MAX_PINS - 1);
    const polarity = ISA_POLARITIES[p.u8('isaOverrides.polarity', ISA_POLARITIES.length - 1)]!;
    const trigger = ISA_TRIGGERS[p.u8('isaOverrides.trigger', ISA_TRIGGERS.length - 1)]!;
    out.push({ isaIrq, gsi, polarity, trigger });
  }
  return out;
}

/** Overrides as an error message shows them: `[IRQ0->GSI2, IRQ9->GSI9 active-high level]`. */
function describeOverrides(overrides: readonly Required<IsaOverride>[]): string {
  const one = (o: Required<IsaOverride>): string => {
    const flags = [o.polarity, o.trigger].filter((f) => f !== 'conforms').join(' ');
    return `IRQ${o.isaIrq}->GSI${o.gsi}${flags === '' ? '' : ` ${flags}`}`;
  };
  return `isaOverrides [${overrides.map(one).join(', ')}]`;
}

function checkIoapicVersion(name: string, version: unknown): 0x11 | 0x20 {
  if (typeof version !== 'number') throw new TypeError(`${name} must be a number, got ${typeof version}`);
  if (version !== VERSION_82093AA && version !== VERSION_IOXAPIC) {
    throw new RangeError(`${name} must be 0x11 or 0x20, got ${String(version)}`);
  }
  return version;
}

/** A nested options object (`lapic`, `ioapic`): undefined or an object. */
function checkNested<T extends object>(name: string, value: unknown): T {
  if (value === undefined) return {} as T;
  checkObject(name, value);
  return value as T;
}

/**
 * An option settable two ways (the flat shorthand and the nested device option): either, or both
 * with the same value. @returns the value and the name to use in errors.
 */
function same<T>(flatName: string, flat: T | undefined, nestedName: string, nested: T | undefined): { name: string; value: T | undefined } {
  if (flat !== undefined && nested !== undefined && flat !== nested) {
    throw new RangeError(`${flatName} (${String(flat)}) and ${nestedName} (${String(nested)}) disagree; set one of them`);
  }
  return nested !== undefined ? { name: nestedName, value: nested } : { name: flatName, value: flat };
}

/**
 * The LocalApic options every CPU gets. Directed EOI follows the I/O APIC: KVM advertises EOI-
 * broadcast suppression only with x2APIC in CPUID and an I/O APIC that is not its 82093AA model
 * (kvm_apic_set_version), since a guest that suppresses broadcasts must then EOI the I/O APIC
 * itself, and a 0x11 I/O APIC has no EOI register.
 */
function lapicOptions(opts: PlatformOptions, l: PlatformLapicOptions, x2apic: boolean, ioapicVersion: number) {
  const timerHz = same('timerHz', opts.timerHz, 'lapic.timerHz', l.timerHz).value;
  const tscHz = same('tscHz', opts.tscHz, 'lapic.tscHz', l.tscHz).value;
  const autoInitSipi = same('autoInitSipi', opts.autoInitSipi, 'lapic.autoInitSipi', l.autoInitSipi).value;
  const hasEoiRegister = ioapicVersion === VERSION_IOXAPIC;
  const x2apicSupported = checkBool('lapic.x2apicSupported', l.x2apicSupported ?? true);
  const directedEoi = checkBool('lapic.directedEoi', l.directedEoi ?? (hasEoiRegister && x2apicSupported));
  if (directedEoi && !hasEoiRegister) {
    throw new RangeError(
      'lapic.directedEoi: true needs an I/O APIC with the EOI register (ioapic.version 0x20): with 0x11 a guest that suppresses EOI broadcasts can never clear remote IRR',
    );
  }
  if (x2apic && !x2apicSupported) throw new RangeError('x2apic: true needs lapic.x2apicSupported: true');
  return { timerHz, tscHz, autoInitSipi, directedEoi, x2apicSupported, minTimerPeriodNs: l.minTimerPeriodNs, physAddrBits: l.physAddrBits };
}
