/**
 * A {@link Clock} driven by the host's own notion of time (docs/scheduler.md, "Host-driven
 * time").
 *
 * A host with a wall clock (`performance.now()` in float milliseconds), an instruction counter or
 * a cycle counter with a frequency wraps it in a HostClock. The HostClock owns a
 * {@link Scheduler}; {@link HostClock.sync} reads the host's time, turns it into integer virtual
 * nanoseconds and runs every callback due up to then. Devices call `sync()` themselves at each
 * guest-visible access (a LocalApic before every register or MSR access and every
 * pendingVector/acknowledge), so the current count is never stale, a timer never fires early and
 * a due interrupt is never missed, without the host advancing anything.
 *
 * Why a Clock and not a Platform option: the devices already talk to time only through their
 * Clock, so one object serves a LocalApic alone, an IoApic, a Platform or anything else built on
 * a Clock, and the Scheduler's fast paths stay as they are. `now()` does not read the host: time
 * stands still within one access and inside callbacks (a callback sees its own due time), so an
 * access sees one consistent instant.
 *
 * Conversion (relative to the first reading, which maps onto the scheduler's time when the
 * HostClock is built):
 * - float units (`'ms'`, default; `'us'`, `'s'`, `'ns'`): the difference is scaled to ns and
 *   rounded to the nearest ns (a float reading carries a representation error far below 1 ns;
 *   flooring would turn 0.3 ms into 299,999 ns);
 * - a counter with a frequency (`hz`): floor(ticks x 1e9 / hz), exact (BigInt when needed), so
 *   virtual time never runs ahead of the counter;
 * - a reading earlier than the last one is clamped (time stays; counted in `backwardSteps`), and
 *   time never passes {@link MAX_TIME_NS}. A reading that is not a finite number (or bigint for
 *   a counter) is a host bug: `sync()` throws a TypeError / RangeError and nothing changes.
 *
 * @module
 */
import { checkFunction, checkInt, checkObject } from '../errors.js';
import type { Clock } from './clock.js';
import { gcd, mulDivFloor } from './ratio.js';
import { MAX_TIME_NS, Scheduler } from './scheduler.js';

/** Units of a float host time source. */
export type HostTimeUnit = 'ns' | 'us' | 'ms' | 's';

const NS_PER_UNIT: Readonly<Record<HostTimeUnit, number>> = { ns: 1, us: 1e3, ms: 1e6, s: 1e9 };
const NS_PER_SECOND = 1_000_000_000;

export interface HostClockOptions {
  /** The host's time: float units (see `unit`) or, with `hz`, a counter (number or bigint). */
  read: () => number | bigint;
  /** Units of a float source; default 'ms' (`performance.now()`). Not with `hz`. */
  unit?: HostTimeUnit;
  /** Ticks per second of a counter source (an instruction or cycle counter). */
  hz?: number;
  /** The scheduler to drive; default a new one at time 0. */
  scheduler?: Scheduler;
}

/**
 * A {@link Clock} that follows the host's own time: the host says what time it is (a wall clock in
 * float milliseconds, or a counter with a frequency) and the devices built on it catch up by
 * themselves at every guest-visible access (see the module comment and docs/scheduler.md).
 *
 * @example
 * ```ts
 * import { HostClock, LocalApic } from 'irqchip';
 *
 * let instructions = 0n;                                  // the host's instruction counter
 * const clock = new HostClock({ read: () => instructions, hz: 1_000_000_000 }); // 1 GHz
 * const apic = new LocalApic({ id: 0, clock, bsp: true });
 * apic.writeRegister(0xf0, 0x1ff);                        // SVR: software-enable
 * apic.writeRegister(0x3e0, 0xb);                         // divide by 1
 * apic.writeRegister(0x320, 0x40);                        // LVT timer: one-shot, vector 0x40
 * apic.writeRegister(0x380, 1_000_000);                   // initial count: 1 ms at 1 GHz
 * instructions += 400_000n;                               // the guest ran 400 us
 * apic.readRegister(0x390);                               // current count 600000: no host call needed
 * instructions += 700_000n;
 * apic.pendingVector();                                   // 0x40: the timer fired at 1 ms
 * ```
 */
export class HostClock implements Clock {
  /** The event queue this clock drives. */
  readonly scheduler: Scheduler;
  /** How many host readings went backwards (and were clamped). */
  backwardSteps = 0;
  private readonly read: () => number | bigint;
  private readonly nsPerUnit: number;
  private readonly hz: number;
  /** ns per counter tick as the reduced fraction tickNum / tickDen (1e9 / hz over their GCD). */
  private readonly tickNum: number;
  private readonly tickDen: number;
  private readonly originHost: number | bigint;
  private readonly originNs: number;

  /** @throws TypeError / RangeError for a missing `read`, an unknown unit, a bad `hz`, or both. */
  constructor(opts: HostClockOptions) {
    checkObject('opts', opts);
    checkFunction('read', opts.read);
    if (opts.hz !== undefined && opts.unit !== undefined) throw new TypeError('give either unit (a float source) or hz (a counter), not both');
    const unit = opts.unit ?? 'ms';
    if (!Object.prototype.hasOwnProperty.call(NS_PER_UNIT, unit)) throw new RangeError(`unit must be 'ns', 'us', 'ms' or 's', got ${String(unit)}`);
    this.hz = opts.hz === undefined ? 0 : checkInt('hz', opts.hz, 1, Number.MAX_SAFE_INTEGER);
    if (opts.scheduler !== undefined && !(opts.scheduler instanceof Scheduler)) throw new TypeError('scheduler must be a Scheduler');
    this.nsPerUnit = NS_PER_UNIT[unit];
    // Reduced once, so that typical frequencies keep the product of a conversion below 2^53.
    const g = gcd(NS_PER_SECOND, this.hz === 0 ? 1 : this.hz);
    this.tickNum = NS_PER_SECOND / g;
    this.tickDen = (this.hz === 0 ? 1 : this.hz) / g;
    this.read = opts.read;
    this.scheduler = opts.scheduler ?? new Scheduler();
    this.originNs = this.scheduler.now();
    this.originHost = this.reading();
  }

  /** The current virtual time (ns) as of the last {@link sync}; never reads the host. */
  now(): number {
    return this.scheduler.now();
  }

  /** Schedules `fn` at virtual time `atNs` (see {@link Scheduler.schedule}). */
  schedule(atNs: number, fn: () => void): number {
    return this.scheduler.schedule(atNs, fn);
  }

  /** Cancels a scheduled callback (see {@link Scheduler.cancel}). */
  cancel(id: number): void {
    this.scheduler.cancel(id);
  }

  /**
   * Reads the host's time and runs every callback due up to it, in order; returns the virtual
   * time. Inside a scheduler callback it only returns `now()`: callbacks never see time move.
   * @throws TypeError / RangeError if the host source returns something that is not a time.
   */
  sync(): number {
    const s = this.scheduler;
    if (s.inCallback) return s.now();
    const t = this.hostNs();
    if (t > s.now()) s.runUntil(t);
    return s.now();
  }

  /** The host's time as virtual ns: converted, clamped to never go back nor past MAX_TIME_NS. */
  private hostNs(): number {
    const raw = this.reading();
    const last = this.scheduler.now();
    let t = this.originNs + this.elapsedNs(raw);
    if (!(t <= MAX_TIME_NS)) t = MAX_TIME_NS;
    if (t < last) {
      this.backwardSteps++;
      return last;
    }
    return t;
  }

  /** Whole ns since the first reading (negative if the host went back before it). */
  private elapsedNs(raw: number | bigint): number {
    const origin = this.originHost;
    if (this.hz === 0) return Math.round(((raw as number) - (origin as number)) * this.nsPerUnit);
    if (typeof raw === 'number' && typeof origin === 'number') {
      // Plain numbers while the counter fits (no allocation on this path).
      const d = raw - origin;
      return d < 0 ? -1 : mulDivFloor(d, this.tickNum, this.tickDen);
    }
    const d = BigInt(raw) - BigInt(origin);
    if (d < 0n) return -1;
    const ns = (d * BigInt(this.tickNum)) / BigInt(this.tickDen);
    return ns > BigInt(MAX_TIME_NS) ? MAX_TIME_NS + 1 : Number(ns);
  }

  /** One host reading, checked: a finite number, or an integer (number or bigint) for a counter. */
  private reading(): number | bigint {
    const raw = this.read();
    if (this.hz !== 0) {
      if (typeof raw === 'bigint') return raw;
      if (typeof raw !== 'number') throw new TypeError(`host time must be a number or bigint, got ${typeof raw}`);
      checkInt('host time (a counter)', raw, 0, Number.MAX_SAFE_INTEGER);
      return raw;
    }
    if (typeof raw !== 'number') throw new TypeError(`host time must be a number, got ${typeof raw}`);
    if (!Number.isFinite(raw)) throw new RangeError(`host time must be a finite number, got ${String(raw)}`);
    return raw;
  }
}
