/**
 * The I/O APIC: an Intel 82093AA (version 0x11) or I/O xAPIC (version 0x20) model.
 *
 * Device wires come in through {@link IoApic.setPin}; each pin has a 64-bit redirection entry
 * that turns a pin event into one interrupt message for the {@link InterruptRouter}. Level-
 * triggered entries hold a remote IRR bit from acceptance until a local APIC's EOI for the vector.
 * The guest programs the chip through two MMIO registers, IOREGSEL and IOWIN (and, on version
 * 0x20, the EOI register). docs/ioapic.md lists every rule with its source.
 *
 * State lives in typed arrays and number fields only, so a snapshot can copy it and a pending
 * storm back-off timer can be re-created from `stormDeadline`.
 *
 * @module
 */
import { checkRestoreOptions, encodeDevice, restoreDevice, type RestoreOptions } from '../codec/container.js';
import type { Rearm, StateReader, StateWriter } from '../codec/state.js';
import { DeliveryMode } from '../apic/message.js';
import { MMIO_WINDOW_BYTES, checkMmio, crossesDword, laneBytes, type MmioSize } from '../apic/mmio.js';
import type { InterruptRouter } from '../apic/message.js';
import { checkBool, checkBusValue, checkFunction, checkInt, typeName } from '../errors.js';
import type { Clock } from '../time/clock.js';
import {
  DEFAULT_PINS,
  ID_MASK,
  ID_SHIFT,
  IOAPICARB,
  IOAPICID,
  IOAPICVER,
  IOEOI,
  IOEOI_VECTOR_MASK,
  IOREDTBL_BASE,
  IOREGSEL,
  IOREGSEL_INDEX_MASK,
  IOWIN,
  MAX_ID,
  MAX_PINS,
  MIN_PINS,
  RTE_DELIVERY_STATUS,
  RTE_DEST_MODE_LOGICAL,
  RTE_LOW_READ_ONLY,
  RTE_MASKED,
  RTE_POLARITY_LOW,
  RTE_REMOTE_IRR,
  RTE_RESET_HIGH,
  RTE_RESET_LOW,
  RTE_TRIGGER_LEVEL,
  VERSION_82093AA,
  VERSION_IOXAPIC,
  deliveryModeOf,
  destinationOf,
  isHighHalf,
  pinOfRedirectionIndex,
  vectorOf,
  versionRegister,
} from './registers.js';
import type { IoApicVersion } from './registers.js';

/** KVM and QEMU re-deliver at most this many times in a row before backing off. */
export const DEFAULT_STORM_THRESHOLD = 10_000;
/** KVM (HZ/100) and QEMU (NANOSECONDS_PER_SECOND/100) back off for 10 ms. */
export const DEFAULT_STORM_DELAY_NS = 10_000_000;

/** Largest vector an EOI can name. */
const MAX_VECTOR = 0xff;
/** Largest storm threshold: the per-pin streak counter is a Uint32Array. */
const MAX_STORM_THRESHOLD = 0xffff_ffff;
/** The last virtual nanosecond a Clock can schedule (2^53 - 1, as the Scheduler's MAX_TIME_NS). */
const MAX_TIME_NS = Number.MAX_SAFE_INTEGER;
/** `stormDeadline` value meaning "no back-off pending". */
const NO_DEADLINE = -1;

/**
 * Redirection-entry bits for the per-interrupt paths (setPin, delivery, EOI) as literals: V8 reads
 * an imported constant through a cell with a hole check at every use; `const enum` members are
 * inlined by tsc and esbuild. The named originals are in registers.ts.
 */
const enum R {
  VectorMask = 0xff, // RTE_VECTOR_MASK
  DeliveryModeShift = 8, // RTE_DELIVERY_MODE_SHIFT
  DeliveryModeMask = 0x7, // RTE_DELIVERY_MODE_MASK
  DestModeLogical = 1 << 11, // RTE_DEST_MODE_LOGICAL
  DeliveryStatus = 1 << 12, // RTE_DELIVERY_STATUS
  PolarityLow = 1 << 13, // RTE_POLARITY_LOW
  RemoteIrr = 1 << 14, // RTE_REMOTE_IRR
  TriggerLevel = 1 << 15, // RTE_TRIGGER_LEVEL
  Masked = 1 << 16, // RTE_MASKED
  DestShift = 24, // RTE_DEST_SHIFT
  DestMask = 0xff, // RTE_DEST_MASK
}
/** Version of the 'ioapic' snapshot section. */
const IOAPIC_STATE_VERSION = 1;
const IOAPIC_STAT_KEYS = ['deliveries', 'unaccepted', 'maskedEdges', 'coalescedLevels', 'reservedModeDrops', 'eois', 'stormDeferrals'] as const;

/** Options for {@link IoApic}. */
export interface IoApicOptions {
  /** Where interrupt messages go (the APIC bus). */
  bus: InterruptRouter;
  /** Number of input pins / redirection entries, 1..120. Default 24. */
  pins?: number;
  /** Initial (and reset) value of the 4-bit I/O APIC ID, 0..15. Default 0. */
  id?: number;
  /** 0x11 (82093AA, no EOI register) or 0x20 (I/O xAPIC, EOI register at 0x40). Default 0x20. */
  version?: IoApicVersion;
  /** Virtual time for the interrupt-storm back-off. Without it, re-delivery is never deferred. */
  clock?: Clock;
  /** Immediate re-deliveries in a row on EOI before backing off. Default 10000. */
  stormThreshold?: number;
  /** How long a storm back-off defers re-delivery, in ns. Default 10 ms. */
  stormDelayNs?: number;
}

/** Counters for tests, traces and `explain()`; they only ever increase (until replaced). */
export interface IoApicStats {
  /** Interrupt messages handed to the router (accepted or not). */
  deliveries: number;
  /** Messages the router reported that no local APIC accepted. */
  unaccepted: number;
  /** Edges lost because the entry was masked (KVM counts these as "coalesced"). */
  maskedEdges: number;
  /** Level assertions merged into an interrupt already in flight (remote IRR set). */
  coalescedLevels: number;
  /** Pin events not sent because the entry's delivery mode is reserved (011b or 110b). */
  reservedModeDrops: number;
  /** Remote IRR bits cleared by an EOI (broadcast or EOI register). */
  eois: number;
  /** Times the storm guard deferred a re-delivery (counted even without a clock). */
  stormDeferrals: number;
}

/**
 * An I/O APIC with `pins` input pins.
 *
 * The 82093AA I/O APIC (and the ICH's version 0x20 with its EOI register): IOREGSEL / IOWIN, the
 * redirection table, edge and level pins with remote IRR, polarity, masking, directed EOI and an
 * interrupt-storm guard (docs/ioapic.md). Guest MMIO goes to {@link IoApic.readRegister} /
 * {@link IoApic.writeRegister}; devices drive {@link IoApic.setPin}; EOIs arrive through the bus.
 *
 * @example
 * ```ts
 * import { ApicBus, IoApic, Scheduler } from 'irqchip';
 *
 * const bus = new ApicBus();
 * const io = new IoApic({ bus, pins: 24, version: 0x20, clock: new Scheduler() });
 * bus.addEoiListener(io);       // local APIC EOIs of level-triggered vectors reach it
 * io.writeRegister(0x00, 0x01); // IOREGSEL: the version register
 * io.readRegister(0x10);        // IOWIN: 0x00170020 (24 pins, version 0x20)
 * ```
 */
export class IoApic {
  /** Number of input pins (redirection entries). */
  readonly pins: number;
  /** The implementation version reported in IOAPICVER. */
  readonly version: IoApicVersion;
  /** Event counters. */
  readonly stats: IoApicStats = {
    deliveries: 0,
    unaccepted: 0,
    maskedEdges: 0,
    coalescedLevels: 0,
    reservedModeDrops: 0,
    eois: 0,
    stormDeferrals: 0,
  };

  private readonly bus: InterruptRouter;
  private readonly clock: Clock | undefined;
  private readonly resetId: number;
  private readonly stormThreshold: number;
  private readonly stormDelayNs: number;

  private tracer: ((kind: 'remote-irr-set' | 'remote-irr-clear', pin: number, vector: number) => void) | undefined = undefined;
  /** Counts guest writes to redirection entries (backends rebuild EOI-exit bitmaps on change). */
  private entryGeneration = 0;
  /** IOREGSEL: the selected register index. */
  private ioregsel = 0;
  /** The 4-bit I/O APIC ID (IOAPICID bits 27:24). */
  private apicId: number;
  /** Redirection entries, bits 31:0 and 63:32. */
  private readonly low: Uint32Array;
  private readonly high: Uint32Array;
  /** The electrical level of each input wire (1 = high), before polarity. */
  private readonly wire: Uint8Array;
  /** The vector of the message that last set remote IRR, for EOI matching. */
  private readonly deliveredVector: Uint8Array;
  /** Immediate re-deliveries on EOI in a row while the line stayed active. */
  private readonly stormStreak: Uint32Array;
  /** Virtual time of a deferred re-delivery, or NO_DEADLINE. Mirrors delivery status. */
  private readonly stormDeadline: Float64Array;
  /** The one clock event covering the earliest deadline (0 = none) and its time. */
  private stormTimerId = 0;
  private stormTimerAt = NO_DEADLINE;
  /** Bound once so scheduling a back-off allocates nothing and holds no state. */
  private readonly onStormTimer = (): void => this.stormTimerFired();

  /**
   * @throws TypeError if `opts` or `bus` is missing, `clock` is not a Clock, or a numeric option
   *   is not a number; RangeError if `pins`, `id`, `version`, `stormThreshold` or `stormDelayNs`
   *   is out of range.
   *
   * Builds the I/O APIC in its reset state (every entry masked).
   *
   * @throws RangeError / TypeError for a missing bus, a pin count outside 1..120 or another option out of range.
   */
  constructor(opts: IoApicOptions) {
    if (typeof opts !== 'object' || opts === null) {
      throw new TypeError(`opts must be an object with a bus, got ${typeName(opts)}`);
    }
    this.bus = checkRouter(opts.bus);
    this.clock = checkClock(opts.clock);
    this.pins = checkInt('pins', opts.pins ?? DEFAULT_PINS, MIN_PINS, MAX_PINS);
    this.resetId = checkInt('id', opts.id ?? 0, 0, MAX_ID);
    this.version = checkVersion(opts.version ?? VERSION_IOXAPIC);
    const threshold = opts.stormThreshold ?? DEFAULT_STORM_THRESHOLD;
    this.stormThreshold = checkInt('stormThreshold', threshold, 0, MAX_STORM_THRESHOLD);
    const delay = opts.stormDelayNs ?? DEFAULT_STORM_DELAY_NS;
    this.stormDelayNs = checkInt('stormDelayNs', delay, 0, Number.MAX_SAFE_INTEGER);
    this.apicId = this.resetId;
    this.low = new Uint32Array(this.pins).fill(RTE_RESET_LOW);
    this.high = new Uint32Array(this.pins).fill(RTE_RESET_HIGH);
    this.wire = new Uint8Array(this.pins);
    this.deliveredVector = new Uint8Array(this.pins);
    this.stormStreak = new Uint32Array(this.pins);
    this.stormDeadline = new Float64Array(this.pins).fill(NO_DEADLINE);
  }

  // ---- Guest side: MMIO ------------------------------------------------------------------

  /**
   * A guest read of `size` bytes (default 4) at `offset` from the I/O APIC base: the bytes a dword
   * read shows in those lanes (src/apic/mmio.ts). IOREGSEL (0x00) and IOWIN (0x10) are the only
   * readable registers; the write-only EOI register (0x40) and every other offset read 0.
   * @throws RangeError unless offset is an integer 0..0xFFF, size is 1, 2 or 4 and the access
   *   stays in the 4 KiB window; TypeError for a non-number (host misuse).
   */
  readRegister(offset: number, size: MmioSize = 4): number {
    // The common case, an aligned dword inside the window, in a few integer tests.
    if (size === 4 && typeof offset === 'number' && (offset >>> 0) === offset && offset < MMIO_WINDOW_BYTES && (offset & 3) === 0) return this.readDword(offset) >>> 0;
    return this.readLanes(offset, size);
  }

  /** Sub-dword and misaligned reads, and the host-misuse checks (out of line: see readRegister). */
  private readLanes(offset: number, size: MmioSize): number {
    checkMmio(offset, size);
    const aligned = offset & ~3;
    const lo = this.readDword(aligned);
    const hi = crossesDword(offset, size) ? this.readDword(aligned + 4) : 0;
    return laneBytes(lo, hi, offset, size);
  }

  private readDword(aligned: number): number {
    if (aligned === IOREGSEL) return this.ioregsel;
    if (aligned === IOWIN) return this.readIndirect(this.ioregsel);
    return 0;
  }

  /**
   * A guest write of `size` bytes (default 4) at `offset`; `value` is coerced with `>>> 0`.
   * IOREGSEL takes any size at offset 0x00 (its index is bits 7:0; a byte write is how the data
   * sheet loads it); IOWIN only an aligned dword; the EOI register (0x40, version 0x20 only) any
   * size at 0x40 (the vector is bits 7:0). Every other write is ignored (src/apic/mmio.ts).
   * @throws RangeError / TypeError for an offset or size as {@link readRegister}, TypeError if
   *   value is not a number (host misuse); nothing changes then.
   */
  writeRegister(offset: number, value: number, size: MmioSize = 4): void {
    checkMmio(offset, size);
    checkBusValue('value', value);
    const v = value >>> 0;
    if (offset === IOREGSEL) {
      this.ioregsel = v & IOREGSEL_INDEX_MASK; // bits 31:8 are reserved (§3.1.1)
      return;
    }
    if (offset === IOWIN) {
      if (size === 4) this.writeIndirect(this.ioregsel, v);
      return;
    }
    if (offset === IOEOI && this.version === VERSION_IOXAPIC) this.eoiVector(v & IOEOI_VECTOR_MASK);
  }

  // ---- Host side -------------------------------------------------------------------------

  /**
   * Sets the electrical level of input `pin` (before the entry's polarity is applied).
   * @throws RangeError if `pin` is not an integer in 0..pins-1; TypeError if `level` is not a
   *   boolean. Nothing changes when it throws.
   *
   * @example
   * ```ts
   * import { ApicBus, IoApic, LocalApic, Scheduler } from 'irqchip';
   *
   * const clock = new Scheduler();
   * const bus = new ApicBus();
   * const cpu = new LocalApic({ id: 0, clock, bus, bsp: true });
   * cpu.writeRegister(0xf0, 0x1ff);
   * const io = new IoApic({ bus, clock });
   * io.writeRegister(0x00, 0x10 + 2 * 4); // IOREGSEL: redirection entry 4, low half
   * io.writeRegister(0x10, 0x34);         // IOWIN: vector 0x34, fixed, edge, unmasked, APIC 0
   * io.setPin(4, true);                   // rising edge: the message goes out
   * cpu.pendingVector();                  // 0x34
   * ```
   */
  setPin(pin: number, level: boolean): void {
    if (typeof pin !== 'number' || (pin >>> 0) !== pin || pin >= this.pins) checkInt('pin', pin, 0, this.pins - 1);
    if (level !== true && level !== false) checkBool('level', level);
    const low = this.low[pin]!;
    const wasActive = this.isActive(pin, low);
    this.wire[pin] = level ? 1 : 0;
    if (!this.isActive(pin, low)) {
      this.lineInactive(pin);
      return;
    }
    if (!isLevelTriggered(low)) {
      if (!wasActive) this.edge(pin, low);
      return;
    }
    if ((low & R.RemoteIrr) !== 0) {
      // The in-flight interrupt already stands for this assertion.
      if (!wasActive) this.stats.coalescedLevels++;
      return;
    }
    // A repeated assertion retries a level interrupt that no local APIC accepted.
    this.serviceLevel(pin);
  }

  /**
   * An EOI for `vector` from a local APIC (the EOI broadcast, or a directed EOI the host
   * forwards). Clears remote IRR on every entry whose delivered or current vector matches and
   * re-delivers those whose line is still active.
   * @throws RangeError if `vector` is not an integer in 0..255.
   */
  eoi(vector: number): void {
    if (typeof vector !== 'number' || (vector & R.VectorMask) !== vector) checkInt('vector', vector, 0, MAX_VECTOR);
    this.eoiVector(vector);
  }

  /**
   * Power-on reset (RST#): entries masked with all else 0, IOREGSEL 0, ID back to the `id`
   * option, storm state cleared. Wire levels are inputs and stay; stats stay.
   */
  reset(): void {
    this.entryGeneration++;
    this.cancelStormTimer();
    this.ioregsel = 0;
    this.apicId = this.resetId;
    this.low.fill(RTE_RESET_LOW);
    this.high.fill(RTE_RESET_HIGH);
    this.deliveredVector.fill(0);
    this.stormStreak.fill(0);
    this.stormDeadline.fill(NO_DEADLINE);
  }

  // ---- Snapshots -------------------------------------------------------------------------

  /**
   * The complete state as a snapshot (entries, wire levels, remote IRR, storm back-off), with
   * the clock's time when the I/O APIC has a clock.
   */
  save(): Uint8Array {
    return encodeDevice('ioapic', IOAPIC_STATE_VERSION, (w) => this.saveState(w), this.clock?.now());
  }

  /**
   * Restores a snapshot made by {@link save}; on a SnapshotError nothing changes. A deferred
   * delivery keeps its remaining time on a clock at another time (`time: 'rebase'`, the
   * default) or the restore throws a SnapshotError naming both times (`time: 'strict'`).
   * @throws TypeError / RangeError for malformed options.
   */
  restore(bytes: Uint8Array, opts?: RestoreOptions): void {
    const mode = checkRestoreOptions(opts);
    const target = this.clock === undefined ? undefined : { clockNs: this.clock.now(), mode };
    restoreDevice(bytes, 'ioapic', IOAPIC_STATE_VERSION, (r) => this.readState(r), target);
  }

  /**
   * Writes the state into a snapshot section.
   * @internal
   */
  saveState(w: StateWriter): void {
    w.u16(this.pins).u8(this.version).u8(this.ioregsel).u8(this.apicId).uint(this.entryGeneration);
    w.u32s(this.low).u32s(this.high).u8s(this.wire).u8s(this.deliveredVector).u32s(this.stormStreak);
    for (let pin = 0; pin < this.pins; pin++) w.int(this.stormDeadline[pin]!);
    w.uint(this.stormTimerId !== 0 ? this.stormTimerId : 0);
    const stats = this.stats as unknown as Record<string, number>;
    for (const key of IOAPIC_STAT_KEYS) w.uint(stats[key]!);
  }

  /**
   * Reads and checks a state; returns the function that applies it (nothing changes before).
   * @internal
   */
  readState(r: StateReader): (rearm: Rearm) => void {
    const pins = r.u16('pins');
    if (pins !== this.pins) r.fail('pins', `snapshot has ${pins} pins, this I/O APIC ${this.pins}`);
    const version = r.u8('version');
    if (version !== this.version) r.fail('version', `snapshot is of version 0x${version.toString(16)}, this I/O APIC 0x${this.version.toString(16)}`);
    const ioregsel = r.u8('ioregsel');
    const apicId = r.u8('id', MAX_ID);
    const generation = r.uint('generation');
    const low = r.u32s('entries.low', pins);
    const high = r.u32s('entries.high', pins);
    for (let pin = 0; pin < pins; pin++) checkEntry(r, pin, low[pin]!);
    const wire = r.u8s('wire', pins, 1);
    const delivered = r.u8s('deliveredVector', pins);
    const streak = r.u32s('stormStreak', pins);
    for (let pin = 0; pin < pins; pin++) {
      // The streak counts up to the threshold and no further (storm guard, docs/ioapic.md).
      if (streak[pin]! > this.stormThreshold) r.fail('stormStreak', `pin ${pin}: ${streak[pin]} is above the threshold ${this.stormThreshold}`);
    }
    const now = this.clock?.now() ?? 0;
    const saved = r.time?.savedNs ?? now;
    const shift = (r.time?.clockNs ?? now) - saved;
    const deadlines = new Float64Array(pins);
    for (let pin = 0; pin < pins; pin++) {
      const d = r.int('stormDeadline', NO_DEADLINE, MAX_TIME_NS);
      const pending = (low[pin]! & RTE_DELIVERY_STATUS) !== 0;
      if (pending !== (d !== NO_DEADLINE)) r.fail('stormDeadline', `pin ${pin}: delivery status and the deferred delivery disagree`);
      if (d === NO_DEADLINE) {
        deadlines[pin] = d;
        continue;
      }
      if (this.clock === undefined) r.fail('stormDeadline', `pin ${pin}: a deferred delivery on an I/O APIC without a clock`);
      // A deferral is set stormDelayNs ahead of its time: never further from the snapshot's time.
      if (d > saved + this.stormDelayNs) r.fail('stormDeadline', `pin ${pin}: ${d} is more than the storm delay after the snapshot's time ${saved}`);
      // Rebase; a deferral the clock already passed (it ran late) is due at once.
      deadlines[pin] = Math.max(d + shift, now);
    }
    const order = r.uint('stormTimerOrder');
    const stats = IOAPIC_STAT_KEYS.map((key) => r.uint(`stats.${key}`));
    // Every unaccepted delivery was a delivery first.
    if (stats[1]! > stats[0]!) r.fail('stats.unaccepted', `${stats[1]} is above deliveries ${stats[0]}`);
    return (rearm) => {
      this.cancelStormTimer();
      this.ioregsel = ioregsel;
      this.apicId = apicId;
      this.entryGeneration = generation;
      this.low.set(low);
      this.high.set(high);
      this.wire.set(wire);
      this.deliveredVector.set(delivered);
      this.stormStreak.set(streak);
      this.stormDeadline.set(deadlines);
      const target = this.stats as unknown as Record<string, number>;
      IOAPIC_STAT_KEYS.forEach((key, i) => (target[key] = stats[i]!));
      let next = NO_DEADLINE;
      for (const d of deadlines) if (d !== NO_DEADLINE && (next === NO_DEADLINE || d < next)) next = d;
      if (next !== NO_DEADLINE && this.clock !== undefined) rearm(next, order, () => this.rearmStormTimer());
    };
  }

  // ---- Introspection ---------------------------------------------------------------------

  /** The current I/O APIC ID (IOAPICID bits 27:24). */
  /**
   * Installs (or removes) a tracer for remote IRR changes; without one each site costs a comparison.
   * @internal
   */
  setTracer(fn: ((kind: 'remote-irr-set' | 'remote-irr-clear', pin: number, vector: number) => void) | undefined): void {
    checkFunction('fn', fn, true);
    this.tracer = fn;
  }

  /**
   * Increases with every guest write to a redirection entry, so a backend that caches routing
   * (VMX EOI-exit bitmaps, as KVM's IOAPIC scan does) knows when to rebuild it.
   */
  get generation(): number {
    return this.entryGeneration;
  }

  get id(): number {
    return this.apicId;
  }

  /** The 64-bit redirection entry of `pin`, as the guest would read it. */
  redirection(pin: number): bigint {
    checkInt('pin', pin, 0, this.pins - 1);
    return (BigInt(this.high[pin]!) << 32n) | BigInt(this.low[pin]!);
  }

  /** The electrical level last set with {@link setPin}. */
  pinLevel(pin: number): boolean {
    checkInt('pin', pin, 0, this.pins - 1);
    return this.wire[pin] === 1;
  }

  /** Whether the pin is asserted after the entry's polarity is applied. */
  pinActive(pin: number): boolean {
    checkInt('pin', pin, 0, this.pins - 1);
    return this.isActive(pin, this.low[pin]!);
  }

  /** The remote IRR bit of `pin`'s entry. */
  remoteIrr(pin: number): boolean {
    checkInt('pin', pin, 0, this.pins - 1);
    return (this.low[pin]! & RTE_REMOTE_IRR) !== 0;
  }

  // ---- Indirect registers (§3.2) ---------------------------------------------------------

  private readIndirect(index: number): number {
    if (index === IOAPICID || index === IOAPICARB) {
      // IOAPICARB is loaded from IOAPICID (§3.2.3); bus arbitration does not rotate it here.
      return (this.apicId << ID_SHIFT) >>> 0;
    }
    if (index === IOAPICVER) return versionRegister(this.version, this.pins);
    const pin = this.pinOfIndex(index);
    if (pin < 0) return 0; // reserved indexes 0x03..0x0F and entries past the last pin
    return isHighHalf(index) ? this.high[pin]! : this.low[pin]!;
  }

  private writeIndirect(index: number, value: number): void {
    if (index === IOAPICID) {
      this.apicId = (value >>> ID_SHIFT) & ID_MASK;
      return;
    }
    const pin = this.pinOfIndex(index);
    if (pin < 0) return; // IOAPICVER, IOAPICARB, reserved indexes, entries past the last pin
    if (isHighHalf(index)) this.writeHigh(pin, value);
    else this.writeLow(pin, value);
  }

  /** The pin whose entry `index` selects, or -1. */
  private pinOfIndex(index: number): number {
    if (index < IOREDTBL_BASE) return -1;
    const pin = pinOfRedirectionIndex(index);
    return pin < this.pins ? pin : -1;
  }

  private writeLow(pin: number, value: number): void {
    this.entryGeneration++;
    // Delivery status and remote IRR are read-only (§3.2.4); reserved bits are stored.
    let low = ((value & ~RTE_LOW_READ_ONLY) | (this.low[pin]! & RTE_LOW_READ_ONLY)) >>> 0;
    if ((low & RTE_TRIGGER_LEVEL) === 0) low = this.becameEdge(pin, low);
    this.low[pin] = low;
    // Unmasking, switching to level, or a polarity change may leave an active line undelivered.
    this.serviceLevel(pin);
  }

  private writeHigh(pin: number, value: number): void {
    this.entryGeneration++;
    this.high[pin] = value;
    // A corrected destination retries a level interrupt nobody accepted.
    this.serviceLevel(pin);
  }

  /**
   * An edge-triggered entry holds no remote IRR: Linux and Xen clear a stuck one by switching
   * to edge and back (KVM a8bfec293052, QEMU ioapic_fix_edge_remote_irr). A storm back-off of
   * the old level interrupt no longer applies.
   */
  private becameEdge(pin: number, low: number): number {
    this.stormStreak[pin] = 0;
    if (this.stormDeadline[pin]! !== NO_DEADLINE) {
      this.stormDeadline[pin] = NO_DEADLINE;
      this.rearmStormTimer();
    }
    return (low & ~(RTE_REMOTE_IRR | RTE_DELIVERY_STATUS)) >>> 0;
  }

  // ---- Pin logic -------------------------------------------------------------------------

  /** The wire level after polarity: bit 13 set means the line is active when low. */
  private isActive(pin: number, low: number): boolean {
    const high = this.wire[pin] === 1;
    return (low & R.PolarityLow) === 0 ? high : !high;
  }

  private lineInactive(pin: number): void {
    this.stormStreak[pin] = 0; // the storm is over once the line is seen inactive
    this.cancelDeferral(pin);
  }

  /** An inactive -> active transition on an edge-triggered entry. */
  private edge(pin: number, low: number): void {
    if ((low & R.Masked) !== 0) {
      this.stats.maskedEdges++; // masked edges are not held pending (§3.2.4, bit 16)
      return;
    }
    this.sendEdge(pin, low);
  }

  /** Delivers a level interrupt if the line is active and nothing blocks it. */
  private serviceLevel(pin: number): void {
    const low = this.low[pin]!;
    if (!isLevelTriggered(low)) return;
    if ((low & (R.Masked | R.RemoteIrr | R.DeliveryStatus)) !== 0) return;
    if (!this.isActive(pin, low)) return;
    this.sendLevel(pin, low);
  }

  private sendEdge(pin: number, low: number): void {
    if (isReservedMode(deliveryModeOf(low))) {
      this.stats.reservedModeDrops++;
      return;
    }
    if (this.route(pin, low, false) <= 0) this.stats.unaccepted++;
  }

  private sendLevel(pin: number, low: number): void {
    // Set remote IRR before routing so an EOI the router runs synchronously finds it.
    this.low[pin] = (low | R.RemoteIrr) >>> 0;
    this.deliveredVector[pin] = (low & R.VectorMask);
    if (this.route(pin, low, true) > 0) {
      if (this.tracer !== undefined) this.tracer('remote-irr-set', pin, low & R.VectorMask);
      return;
    }
    // Remote IRR records acceptance by a local APIC (§3.2.4, bit 14); nobody accepted.
    this.stats.unaccepted++;
    this.low[pin] = (this.low[pin]! & ~R.RemoteIrr) >>> 0;
  }

  private route(pin: number, low: number, level: boolean): number {
    this.stats.deliveries++;
    const logical = (low & R.DestModeLogical) !== 0;
    return this.bus.routeMessage((this.high[pin]! >>> R.DestShift) & R.DestMask, logical, (low >>> R.DeliveryModeShift) & R.DeliveryModeMask, low & R.VectorMask, level);
  }

  // ---- EOI -------------------------------------------------------------------------------

  private eoiVector(vector: number): void {
    for (let pin = 0; pin < this.pins; pin++) {
      const low = this.low[pin]!;
      if ((low & R.RemoteIrr) === 0) continue;
      // The delivered vector is what the local APIC has in service; the current vector is what
      // the 82093AA compares. Either matches, so reprogramming in the handler strands nothing.
      if (this.deliveredVector[pin] !== vector && (low & R.VectorMask) !== vector) continue;
      this.low[pin] = (low & ~R.RemoteIrr) >>> 0;
      this.stats.eois++;
      if (this.tracer !== undefined) this.tracer('remote-irr-clear', pin, vector);
      this.afterEoi(pin);
    }
  }

  /** Re-delivers a level interrupt whose line is still active, unless the guest is storming. */
  private afterEoi(pin: number): void {
    const low = this.low[pin]!;
    if (!isLevelTriggered(low) || (low & R.Masked) !== 0 || !this.isActive(pin, low)) {
      this.stormStreak[pin] = 0;
      return;
    }
    if (this.stormStreak[pin]! < this.stormThreshold) {
      this.stormStreak[pin]!++;
      this.sendLevel(pin, low);
      return;
    }
    this.stormStreak[pin] = 0;
    this.stats.stormDeferrals++;
    if (this.clock === undefined) {
      this.sendLevel(pin, low); // no time to defer by: stay immediate, only count
      return;
    }
    // A back-off that would end past the last representable virtual time ends at it instead:
    // Clock.schedule rejects later times, and a guest EOI must never throw.
    this.deferDelivery(pin, Math.min(this.clock.now() + this.stormDelayNs, MAX_TIME_NS));
  }

  // ---- Storm back-off --------------------------------------------------------------------

  /** Holds the re-delivery until `atNs`; delivery status reads "send pending" meanwhile. */
  private deferDelivery(pin: number, atNs: number): void {
    this.low[pin] = (this.low[pin]! | RTE_DELIVERY_STATUS) >>> 0;
    this.stormDeadline[pin] = atNs;
    this.rearmStormTimer();
  }

  private cancelDeferral(pin: number): void {
    if (this.stormDeadline[pin]! === NO_DEADLINE) return;
    this.stormDeadline[pin] = NO_DEADLINE;
    this.low[pin] = (this.low[pin]! & ~RTE_DELIVERY_STATUS) >>> 0;
    this.rearmStormTimer();
  }

  private stormTimerFired(): void {
    this.stormTimerId = 0;
    this.stormTimerAt = NO_DEADLINE;
    const now = this.clock!.now();
    for (let pin = 0; pin < this.pins; pin++) {
      const deadline = this.stormDeadline[pin]!;
      if (deadline === NO_DEADLINE || deadline > now) continue;
      this.stormDeadline[pin] = NO_DEADLINE;
      this.low[pin] = (this.low[pin]! & ~RTE_DELIVERY_STATUS) >>> 0;
      this.serviceLevel(pin); // masked meanwhile: stays pending until unmasked
    }
    this.rearmStormTimer();
  }

  /** Keeps exactly one clock event, at the earliest pending deadline (re-creatable state). */
  private rearmStormTimer(): void {
    let next = NO_DEADLINE;
    for (let pin = 0; pin < this.pins; pin++) {
      const deadline = this.stormDeadline[pin]!;
      if (deadline !== NO_DEADLINE && (next === NO_DEADLINE || deadline < next)) next = deadline;
    }
    if (next === this.stormTimerAt) return;
    this.cancelStormTimer();
    if (next === NO_DEADLINE) return;
    this.stormTimerAt = next;
    this.stormTimerId = this.clock!.schedule(next, this.onStormTimer);
  }

  private cancelStormTimer(): void {
    if (this.stormTimerId !== 0) this.clock!.cancel(this.stormTimerId);
    this.stormTimerId = 0;
    this.stormTimerAt = NO_DEADLINE;
  }
}

// ---- Entry semantics ---------------------------------------------------------------------

/**
 * The read-only bits of a restored redirection entry must be ones the I/O APIC could have set
 * (82093AA §3.2.4): remote IRR and delivery status (a deferred level re-delivery) only on a
 * level-triggered entry, since switching an entry to edge clears both. Reserved bits are stored
 * as the guest wrote them, so any value is possible there.
 */
function checkEntry(r: StateReader, pin: number, low: number): void {
  if ((low & RTE_TRIGGER_LEVEL) === 0 && (low & RTE_LOW_READ_ONLY) !== 0) {
    r.fail('entries.low', `pin ${pin}: remote IRR or delivery status set on an edge-triggered entry`);
  }
}

/**
 * Whether the entry behaves level-triggered. SMI and ExtINT require edge mode, and NMI and INIT
 * are "treated as edge triggered, even if programmed as level" (§3.2.4, bits 10:8), so only
 * Fixed and Lowest Priority honour the trigger-mode bit.
 */
function isLevelTriggered(low: number): boolean {
  if ((low & R.TriggerLevel) === 0) return false;
  const mode = (low >>> R.DeliveryModeShift) & R.DeliveryModeMask;
  return mode === 0 /* Fixed */ || mode === 1 /* LowestPriority */;
}

/** Delivery modes 011b and 110b are reserved in a redirection entry (StartUp is ICR-only). */
function isReservedMode(mode: number): boolean {
  return mode === DeliveryMode.Reserved3 || mode === DeliveryMode.StartUp;
}

// ---- Option checks -----------------------------------------------------------------------

function checkRouter(bus: unknown): InterruptRouter {
  if (typeof bus !== 'object' || bus === null || typeof (bus as InterruptRouter).routeMessage !== 'function') {
    throw new TypeError('bus must be an InterruptRouter (an object with a routeMessage method)');
  }
  return bus as InterruptRouter;
}

function checkClock(clock: unknown): Clock | undefined {
  if (clock === undefined) return undefined;
  const c = clock as Clock;
  if (
    typeof clock !== 'object' ||
    clock === null ||
    typeof c.now !== 'function' ||
    typeof c.schedule !== 'function' ||
    typeof c.cancel !== 'function'
  ) {
    throw new TypeError('clock must be a Clock (an object with now, schedule and cancel methods)');
  }
  return c;
}

function checkVersion(version: unknown): IoApicVersion {
  if (typeof version !== 'number') throw new TypeError(`version must be a number, got ${typeof version}`);
  if (version !== VERSION_82093AA && version !== VERSION_IOXAPIC) {
    throw new RangeError(`version must be 0x11 or 0x20, got ${String(version)}`);
  }
  return version;
}
