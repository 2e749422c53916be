/**
 * The APIC bus: carries interrupt messages from local APICs (IPIs), I/O APICs and MSIs to the
 * local APICs they address, and EOI broadcasts from the local APICs back to the I/O APICs.
 *
 * Modern systems deliver these messages over the system bus rather than a dedicated APIC bus,
 * but the rules are the SDM's ("Issuing Interprocessor Interrupts", "Determining IPI
 * Destination", "Lowest Priority Delivery Mode", "Message Signalled Interrupts"):
 * - physical destinations: an 8-bit xAPIC ID or a 32-bit x2APIC ID; all ones broadcasts;
 * - logical destinations: each APIC decides from its own LDR/DFR (LocalApic.matchesDestination);
 * - shorthands self / all-including-self / all-excluding-self;
 * - lowest priority: one winner among the addressed APICs (see lowest-priority.ts);
 * - delivery is instantaneous and in attach order, so results are deterministic.
 *
 * Costs: a physical unicast is a map lookup; a broadcast or logical message visits each APIC
 * once, so its cost grows linearly with the number of APICs. Nothing is allocated per message.
 *
 * @module
 */
import type { StateReader, StateWriter } from '../codec/state.js';
import { checkBool, checkBusValue, checkFunction, checkInt, checkObject, typeName } from '../errors.js';
import { icrDeliveryMode, icrLogical, icrShorthand, icrVector } from '../apic/icr.js';
import { LocalApic, type ApicBusPort } from '../apic/local-apic.js';
import { DeliveryMode, X2APIC_BROADCAST, XAPIC_BROADCAST, type InterruptRouter } from '../apic/message.js';
import { Shorthand } from '../apic/registers.js';
import { LOWEST_PRIORITY_POLICIES, arbitrate, type LowestPriorityPolicy } from './lowest-priority.js';
import {
  MSI_ADDRESS_DEST_LOGICAL,
  MSI_ADDRESS_REDIRECTION_HINT,
  MSI_DATA_DELIVERY_MODE_MASK,
  MSI_DATA_DELIVERY_MODE_SHIFT,
  MSI_DATA_LEVEL_ASSERT,
  MSI_DATA_TRIGGER_LEVEL,
  MSI_DATA_VECTOR_MASK,
  isMsiAddress,
  msiDestination,
} from './msi.js';

/** Receives EOI broadcasts (an I/O APIC's `eoi(vector)`). */
export interface EoiListener {
  eoi(vector: number): void;
}

export interface ApicBusOptions {
  /** Lowest-priority arbitration policy. Default 'arbitration' (SDM: focus, then lowest APR). */
  lowestPriority?: LowestPriorityPolicy;
  /**
   * Decode MSI address bits 11:5 as destination ID bits 14:8 (the "extended destination ID"
   * that KVM and Xen offer so that MSIs reach x2APIC IDs above 255 without an IOMMU).
   * Default false.
   */
  extendedDestId?: boolean;
}

export interface ApicBusStats {
  /** Messages from ICR writes that reached the bus. */
  ipis: number;
  /** Messages from I/O APICs and MSIs. */
  messages: number;
  msis: number;
  /** MSI writes outside the 0xFEExxxxx window, dropped. */
  invalidMsis: number;
  /** Messages that no local APIC accepted. */
  undelivered: number;
  /** Lowest-priority messages arbitrated. */
  lowestPriority: number;
  eoiBroadcasts: number;
}

const NO_MATCH = -1;
const BUS_STAT_KEYS = ['ipis', 'messages', 'msis', 'invalidMsis', 'undelivered', 'lowestPriority', 'eoiBroadcasts'] as const;

/**
 * The APIC bus: carries IPIs, I/O APIC messages and MSIs to the local APICs they address
 * (physical, logical flat / cluster, x2APIC destinations, shorthands, lowest priority with a
 * choice of deterministic policies) and EOI broadcasts back to the I/O APICs (docs/bus.md).
 *
 * @example
 * ```ts
 * import { ApicBus, LocalApic, Scheduler } from 'irqchip';
 *
 * const clock = new Scheduler();
 * const bus = new ApicBus({ lowestPriority: 'lowest-ppr' });
 * const apics = [0, 1].map((id) => new LocalApic({ id, clock, bus, bsp: id === 0 }));
 * for (const a of apics) a.writeRegister(0xf0, 0x1ff);
 * bus.sendMsi(0xfee01000, 0x0041); // fixed vector 0x41 to APIC 1
 * apics[1]!.pendingVector();        // 0x41
 * ```
 */
export class ApicBus implements ApicBusPort, InterruptRouter {
  readonly stats: ApicBusStats = {
    ipis: 0,
    messages: 0,
    msis: 0,
    invalidMsis: 0,
    undelivered: 0,
    lowestPriority: 0,
    eoiBroadcasts: 0,
  };
  readonly lowestPriorityPolicy: LowestPriorityPolicy;
  readonly extendedDestId: boolean;

  private readonly list: LocalApic[] = [];
  private readonly index = new Map<LocalApic, number>();
  private readonly sent: number[] = [];
  private readonly received: number[] = [];
  private readonly eoiListeners: EoiListener[] = [];
  /** Physical ID -> attach index; rebuilt lazily after any routing change. */
  private readonly physical = new Map<number, number>();
  /**
   * The same table as an array indexed by ID when the IDs are dense (the usual 0..N-1): an array
   * read instead of a hash lookup on every unicast. Empty when the IDs are sparse.
   */
  private physicalDense = new Int32Array(0);
  private physicalDirty = true;
  /** The last IPI sender and its attach index: a sender usually sends many IPIs in a row. */
  private lastSender: LocalApic | undefined = undefined;
  private lastSenderIndex = -1;
  private physicalAliased = false;
  /** Reused buffer for lowest-priority candidates. */
  private readonly candidates: LocalApic[] = [];
  private rotor = 0;
  private tracer: ((cpu: number, mode: number, vector: number) => void) | undefined = undefined;

  /**
   * An empty bus; local APICs attach themselves when built with `bus`.
   */
  constructor(opts: ApicBusOptions = {}) {
    checkObject('opts', opts);
    const policy = opts.lowestPriority ?? 'arbitration';
    if (!LOWEST_PRIORITY_POLICIES.includes(policy)) {
      throw new RangeError(`lowestPriority must be one of ${LOWEST_PRIORITY_POLICIES.join(', ')}, got ${String(policy)}`);
    }
    this.lowestPriorityPolicy = policy;
    this.extendedDestId = checkBool('extendedDestId', opts.extendedDestId ?? false);
  }

  // ---- wiring ------------------------------------------------------------------------------

  /** The attached local APICs, in attach order. */
  get apics(): readonly LocalApic[] {
    return this.list;
  }

  /**
   * Called by the LocalApic constructor when given this bus.
   * @throws TypeError unless apic is a LocalApic; RangeError if it is already attached.
   */
  attach(apic: LocalApic): void {
    if (!(apic instanceof LocalApic)) {
      throw new TypeError(`apic must be a LocalApic, got ${typeName(apic)}`);
    }
    if (this.index.has(apic)) throw new RangeError('apic is already attached to this bus');
    this.index.set(apic, this.list.length);
    this.list.push(apic);
    this.sent.push(0);
    this.received.push(0);
    this.physicalDirty = true;
  }

  /**
   * Installs (or removes) a tracer of IPIs accepted by a target (called with the target's attach
   * index); without one each costs a comparison.
   * @internal
   */
  setTracer(fn: ((cpu: number, mode: number, vector: number) => void) | undefined): void {
    checkFunction('fn', fn, true);
    this.tracer = fn;
  }

  /** Adds a receiver of EOI broadcasts (an I/O APIC). */
  addEoiListener(listener: EoiListener): void {
    if (!listener || typeof listener.eoi !== 'function') throw new TypeError('listener must have an eoi(vector) method');
    this.eoiListeners.push(listener);
  }

  routingChanged(): void {
    this.physicalDirty = true;
  }

  // ---- snapshots ---------------------------------------------------------------------------

  /**
   * Writes the bus state (arbitration rotor, counters) into a snapshot section.
   * @internal
   */
  saveState(w: StateWriter): void {
    w.u32(this.list.length).uint(this.rotor);
    const stats = this.stats as unknown as Record<string, number>;
    for (const key of BUS_STAT_KEYS) w.uint(stats[key]!);
    for (let i = 0; i < this.list.length; i++) w.uint(this.sent[i]!).uint(this.received[i]!);
  }

  /**
   * Reads and checks a bus state; returns the function that applies it.
   * @internal
   */
  readState(r: StateReader): () => void {
    const n = r.u32('apics');
    if (n !== this.list.length) r.fail('apics', `snapshot has ${n} local APICs, this bus ${this.list.length}`);
    // The rotor is one past the last lowest-priority winner: 0..n.
    const rotor = r.uint('rotor', n);
    const stats = BUS_STAT_KEYS.map((key) => r.uint(`stats.${key}`));
    const counts: number[] = [];
    for (let i = 0; i < 2 * n; i++) counts.push(r.uint('ipiCounts'));
    return () => {
      this.rotor = rotor;
      const target = this.stats as unknown as Record<string, number>;
      BUS_STAT_KEYS.forEach((key, i) => (target[key] = stats[i]!));
      for (let i = 0; i < n; i++) {
        this.sent[i] = counts[2 * i]!;
        this.received[i] = counts[2 * i + 1]!;
      }
      this.physicalDirty = true;
    };
  }

  // ---- statistics --------------------------------------------------------------------------

  /** IPIs sent by the APIC attached at `cpu` (ICR writes that reached the bus). */
  ipisSent(cpu: number): number {
    return this.sent[checkInt('cpu', cpu, 0, this.list.length - 1)]!;
  }

  /** IPIs accepted by the APIC attached at `cpu`. */
  ipisReceived(cpu: number): number {
    return this.received[checkInt('cpu', cpu, 0, this.list.length - 1)]!;
  }

  // ---- messages ----------------------------------------------------------------------------

  /**
   * An ICR write (ApicBusPort). It delivers whatever `icrLow` says: the SDM's table of valid
   * ICR combinations is applied by the sending LocalApic (`checkIcr` in apic/icr.ts), not here,
   * so a host that calls this directly should check the ICR first (`sendIpi(apic, 0x700, 0)`
   * delivers an ExtINT "IPI").
   */
  sendIpi(source: LocalApic, icrLow: number, destination: number): void {
    this.stats.ipis++;
    let from = this.lastSenderIndex;
    if (source !== this.lastSender) {
      from = this.index.get(source) ?? -1;
      this.lastSender = source;
      this.lastSenderIndex = from;
    }
    if (from >= 0) this.sent[from]!++;
    const mode = icrDeliveryMode(icrLow);
    const vector = icrVector(icrLow);
    const wide = source.mode === 'x2apic';
    let accepted = 0;
    switch (icrShorthand(icrLow)) {
      case Shorthand.Self:
        accepted = this.deliverOne(source, mode, vector, false, true);
        break;
      case Shorthand.AllIncludingSelf:
        accepted = this.deliverAll(undefined, mode, vector);
        break;
      case Shorthand.AllExcludingSelf:
        accepted = this.deliverAll(source, mode, vector);
        break;
      default: {
        const dest = destination >>> 0;
        // All ones, physical or logical, addresses every APIC. Taken here, before the 32-bit
        // value is passed on: V8 boxes a number above 2^31 - 1 at every call it does not inline.
        accepted =
          dest === (wide ? X2APIC_BROADCAST : XAPIC_BROADCAST)
            ? this.deliverAll(undefined, mode, vector)
            : this.deliver(dest, icrLogical(icrLow), wide, mode, vector, false, true);
      }
    }
    if (accepted === 0) this.stats.undelivered++;
  }

  /**
   * A message from an I/O APIC or another device model (InterruptRouter): an 8-bit xAPIC-format
   * destination (0xFF broadcasts), or a 32-bit x2APIC ID for a source that can address one.
   * @throws RangeError / TypeError unless destination is an integer 0..2^32-1, deliveryMode 0..7,
   *   vector 0..255, and logical and level are booleans; nothing is counted then.
   */
  routeMessage(destination: number, logical: boolean, deliveryMode: number, vector: number, level: boolean): number {
    // Cheap integer tests; the named errors come from the slow path (host misuse: a device model
    // that passes fields wider than the message has).
    if (
      typeof destination !== 'number' ||
      typeof deliveryMode !== 'number' ||
      typeof vector !== 'number' ||
      destination >>> 0 !== destination ||
      (deliveryMode & 7) !== deliveryMode ||
      (vector & 0xff) !== vector ||
      typeof logical !== 'boolean' ||
      typeof level !== 'boolean'
    ) {
      checkRouteArgs(destination, logical, deliveryMode, vector, level);
    }
    this.stats.messages++;
    const n = this.deliver(destination >>> 0, logical, false, deliveryMode, vector, level, false);
    if (n === 0) this.stats.undelivered++;
    return n;
  }

  /**
   * A PCI MSI write: `address` in the 0xFEExxxxx window, `data` the message data. With the
   * redirection hint and logical mode, a fixed message is arbitrated as lowest priority (SDM).
   * A level-triggered de-assert message does nothing; a write outside the window is dropped.
   * Any number is guest data (coerced to u32).
   * @returns how many local APICs accepted it.
   * @throws TypeError if address or data is not a number (a bigint, a string: host misuse).
   */
  sendMsi(address: number, data: number): number {
    if (typeof address !== 'number' || typeof data !== 'number') checkMsiArgs(address, data);
    const addr = address >>> 0;
    const d = data >>> 0;
    if (!isMsiAddress(addr)) {
      this.stats.invalidMsis++;
      return 0;
    }
    this.stats.msis++;
    const level = (d & MSI_DATA_TRIGGER_LEVEL) !== 0;
    if (level && (d & MSI_DATA_LEVEL_ASSERT) === 0) return 0;
    const logical = (addr & MSI_ADDRESS_DEST_LOGICAL) !== 0;
    let mode = (d >>> MSI_DATA_DELIVERY_MODE_SHIFT) & MSI_DATA_DELIVERY_MODE_MASK;
    if (mode === DeliveryMode.Fixed && logical && (addr & MSI_ADDRESS_REDIRECTION_HINT) !== 0) {
      mode = DeliveryMode.LowestPriority;
    }
    const dest = msiDestination(addr, this.extendedDestId);
    const n = this.deliver(dest, logical, dest > XAPIC_BROADCAST, mode, d & MSI_DATA_VECTOR_MASK, level, false);
    if (n === 0) this.stats.undelivered++;
    return n;
  }

  /**
   * EOI broadcast from a local APIC (ApicBusPort).
   * @throws RangeError / TypeError unless vector is an integer 0..255 (checked before counting).
   */
  broadcastEoi(_source: LocalApic, vector: number): void {
    if (typeof vector !== 'number' || (vector & 0xff) !== vector) checkInt('vector', vector, 0, 255);
    this.stats.eoiBroadcasts++;
    const listeners = this.eoiListeners;
    for (let i = 0; i < listeners.length; i++) listeners[i]!.eoi(vector);
  }

  // ---- delivery ----------------------------------------------------------------------------

  /**
   * Delivers to every APIC addressed by (destination, logical). `wide` says the destination is a
   * 32-bit x2APIC-format value (from an x2APIC sender); otherwise it is 8-bit xAPIC format.
   */
  private deliver(
    destination: number,
    logical: boolean,
    wide: boolean,
    mode: number,
    vector: number,
    level: boolean,
    ipi: boolean,
  ): number {
    if (!logical && destination !== (wide ? X2APIC_BROADCAST : XAPIC_BROADCAST)) {
      if (this.physicalDirty) this.rebuildPhysical();
      // Unicast fast path, unless two APICs share an ID (then every match must receive it).
      if (!this.physicalAliased) {
        const target = this.physicalTarget(destination, wide);
        return target === NO_MATCH ? 0 : this.deliverAt(target, mode, vector, level, ipi);
      }
    }
    if (mode === DeliveryMode.LowestPriority) return this.deliverLowest(destination, logical, wide, vector, level, ipi);
    let n = 0;
    const list = this.list;
    for (let i = 0; i < list.length; i++) {
      const apic = list[i]!;
      const d = destinationFor(apic, destination, wide);
      if (d !== NO_MATCH && apic.matchesDestination(d, logical)) n += this.deliverAt(i, mode, vector, level, ipi);
    }
    return n;
  }

  /** Lowest priority: the addressed, software-enabled APICs compete and one wins. */
  private deliverLowest(
    destination: number,
    logical: boolean,
    wide: boolean,
    vector: number,
    level: boolean,
    ipi: boolean,
  ): number {
    const c = this.candidates;
    let count = 0;
    const list = this.list;
    for (let i = 0; i < list.length; i++) {
      const apic = list[i]!;
      if (!apic.softwareEnabled) continue;
      const d = destinationFor(apic, destination, wide);
      if (d !== NO_MATCH && apic.matchesDestination(d, logical)) c[count++] = apic;
    }
    return this.arbitrateAndDeliver(count, vector, level, ipi);
  }

  /**
   * Every attached APIC but `exclude`: the all-including-self / all-excluding-self shorthands and
   * an all-ones IPI destination, which every APIC that is not globally disabled matches in either
   * destination mode and format (destinationFor maps one broadcast onto the other), so no
   * per-APIC match is needed. Always IPIs, always edge.
   */
  private deliverAll(exclude: LocalApic | undefined, mode: number, vector: number): number {
    const list = this.list;
    if (mode === DeliveryMode.LowestPriority) {
      const c = this.candidates;
      let count = 0;
      for (let i = 0; i < list.length; i++) {
        const apic = list[i]!;
        if (apic !== exclude && apic.softwareEnabled && apic.mode !== 'disabled') c[count++] = apic;
      }
      return this.arbitrateAndDeliver(count, vector, false, true);
    }
    let n = 0;
    for (let i = 0; i < list.length; i++) {
      if (list[i] !== exclude) n += this.deliverAt(i, mode, vector, false, true);
    }
    return n;
  }

  private arbitrateAndDeliver(count: number, vector: number, level: boolean, ipi: boolean): number {
    if (count === 0) return 0;
    this.stats.lowestPriority++;
    const winner = arbitrate(this.lowestPriorityPolicy, this.candidates, count, vector, this.rotor);
    this.rotor = winner + 1;
    return this.deliverOne(this.candidates[winner]!, DeliveryMode.LowestPriority, vector, level, ipi);
  }

  /** deliverOne() for the APIC attached at index `i` (no index lookup). */
  private deliverAt(i: number, mode: number, vector: number, level: boolean, ipi: boolean): number {
    if (!this.list[i]!.acceptMessage(mode, vector, level)) return 0;
    if (ipi) {
      this.received[i]!++;
      if (this.tracer !== undefined) this.tracer(i, mode, vector);
    }
    return 1;
  }

  private deliverOne(apic: LocalApic, mode: number, vector: number, level: boolean, ipi: boolean): number {
    if (!apic.acceptMessage(mode, vector, level)) return 0;
    if (ipi) {
      const i = this.index.get(apic);
      if (i !== undefined) {
        this.received[i]!++;
        if (this.tracer !== undefined) this.tracer(i, mode, vector);
      }
    }
    return 1;
  }

  /** The attach index of the APIC with this physical ID, or NO_MATCH. */
  private physicalTarget(destination: number, wide: boolean): number {
    const dense = this.physicalDense;
    const i = dense.length > 0 ? (destination < dense.length ? dense[destination]! : NO_MATCH) : this.physical.get(destination);
    if (i === undefined || i === NO_MATCH) return NO_MATCH;
    const apic = this.list[i]!;
    const d = destinationFor(apic, destination, wide);
    return d !== NO_MATCH && apic.matchesDestination(d, false) ? i : NO_MATCH;
  }

  private rebuildPhysical(): void {
    this.physical.clear();
    this.physicalAliased = false;
    for (let i = 0; i < this.list.length; i++) {
      const apic = this.list[i]!;
      if (apic.mode === 'disabled') continue;
      const id = apic.physicalId;
      if (this.physical.has(id)) this.physicalAliased = true;
      else this.physical.set(id, i);
    }
    // Dense IDs (at most twice the number of APICs, plus room for a few gaps): an array table.
    let maxId = -1;
    for (const id of this.physical.keys()) if (id > maxId) maxId = id;
    if (maxId >= 0 && maxId < 2 * this.list.length + 64) {
      const dense = new Int32Array(maxId + 1).fill(NO_MATCH);
      for (const [id, index] of this.physical) dense[id] = index;
      this.physicalDense = dense;
    } else {
      this.physicalDense = new Int32Array(0);
    }
    this.physicalDirty = false;
  }
}

/** The named errors for a bad routeMessage call (its slow path). */
function checkRouteArgs(destination: unknown, logical: unknown, deliveryMode: unknown, vector: unknown, level: unknown): void {
  checkInt('destination', destination, 0, 0xffff_ffff);
  checkBool('logical', logical);
  checkInt('deliveryMode', deliveryMode, 0, 7);
  checkInt('vector', vector, 0, 255);
  checkBool('level', level);
}

/** MSI address and data are guest data: any number goes; anything else is a host bug. */
function checkMsiArgs(address: unknown, data: unknown): void {
  checkBusValue('address', address);
  checkBusValue('data', data);
}

/**
 * The destination as the receiving APIC understands it. An 8-bit broadcast (0xFF) reaches
 * x2APIC-mode APICs as 0xFFFFFFFF (I/O APIC and MSI messages have no wider field); a 32-bit
 * destination reaches an xAPIC-mode APIC only if it fits in 8 bits.
 */
function destinationFor(apic: LocalApic, destination: number, wide: boolean): number {
  if (apic.mode === 'x2apic') return !wide && destination === XAPIC_BROADCAST ? X2APIC_BROADCAST : destination;
  if (!wide) return destination;
  if (destination === X2APIC_BROADCAST) return XAPIC_BROADCAST;
  return destination > XAPIC_BROADCAST ? NO_MATCH : destination;
}
