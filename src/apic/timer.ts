/**
 * The local APIC timer (SDM "APIC Timer"): one-shot, periodic and TSC-deadline modes on
 * virtual time.
 *
 * The counter is not decremented tick by tick. The timer remembers when it last held a known
 * count (`baseNs`, `countAtBase`) and computes the current count from the clock on demand, so
 * reading it costs nothing while the guest is not looking and the result is exact. One scheduler
 * event is armed for the next expiry at most.
 *
 * Rules modelled, with their sources:
 * - Divide configuration bits 0, 1, 3 select 2, 4, 8, 16, 32, 64, 128 or 1 (SDM figure
 *   "Divide Configuration Register"). A divide change while counting keeps the current count and
 *   counts the rest at the new rate (KVM and Xen do this; bhyve applies it at the next reload).
 * - Writing the initial count starts counting from it; 0 stops the timer. In TSC-deadline mode
 *   the initial count register is ignored (SDM).
 * - Periodic mode reloads the initial count when the count reaches 0.
 * - Switching one-shot <-> periodic does not reload or disarm: the current count keeps running
 *   (Xen fix d8ce0309c1, KVM). A one-shot that already reached 0 stays at 0 in periodic mode.
 * - Switching to or from TSC-deadline mode disarms the timer and clears the initial count and the
 *   deadline (SDM: "transitions between TSC-deadline mode and other timer modes also disarm the
 *   timer"; KVM clears TMICT and the deadline).
 * - TSC-deadline: the timer fires when the TSC reaches IA32_TSC_DEADLINE, then clears the MSR; a
 *   deadline in the past fires at once; writing 0 disarms. In other modes the MSR reads 0 and
 *   writes are ignored (SDM).
 * - The timer counts whether or not its LVT entry is masked; the mask only stops delivery.
 * - Minimum period: a periodic timer fires at most once every `minPeriodNs` (KVM clamps periodic
 *   timers to 200 µs, Xen to 100 µs) so a tiny initial count cannot starve the scheduler. The
 *   current count restarts from the initial count at each (possibly delayed) expiry. Only full
 *   periods (an initial-count write or a reload) are clamped: the rest of a count after a divide
 *   change runs at its real length.
 *
 * Exactness: when a timer tick is not a whole number of nanoseconds (a 24 MHz crystal, say), an
 * expiry is delivered at the first whole nanosecond at or after the exact instant the count
 * reaches 0, and a periodic reload starts from that exact instant, not from the rounded delivery
 * time. The base of the count therefore carries a sub-nanosecond lag (`baseLag`, in units of
 * 1/nsDen ns), so the k-th periodic expiry is at ceil(k * period) with no rounding drift.
 *
 * @module
 */
import type { Rearm, StateReader, StateWriter } from '../codec/state.js';
import type { Clock } from '../time/clock.js';
import { mulAddDivFloor, mulDivFloor, mulMod } from '../time/ratio.js';
import { TIMER_DIVIDE_WRITABLE, TimerMode } from './registers.js';

const NS_PER_SECOND = 1_000_000_000;
/** The largest deadline we can schedule: beyond it the timer never fires in practice. */
const MAX_NS = Number.MAX_SAFE_INTEGER;

function gcd(a: number, b: number): number {
  while (b !== 0) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/**
 * The method an {@link ApicTimer} calls on its owner when it expires. A symbol, not a name, so
 * that the owner (LocalApic) can offer it without it being part of its public API; a method on
 * the owner rather than a closure, so that an expiry touches the owner object itself instead of a
 * closure and its context first (with 1,000 timers these are cache misses: 0.93× the time per
 * event on scheduler-timers).
 */
export const TIMER_EXPIRED: unique symbol = Symbol('irqchip.timerExpired');

/** What an {@link ApicTimer} tells of its expiries. */
export interface TimerOwner {
  [TIMER_EXPIRED](): void;
}

/** Divide value for a divide configuration register value (bits 0, 1, 3). */
export function timerDivisor(dcr: number): number {
  const code = ((dcr & 0x8) >> 1) | (dcr & 0x3);
  return code === 7 ? 1 : 2 << code;
}

export class ApicTimer {
  private mode: number = TimerMode.OneShot;
  private initialCount = 0;
  private dcr = 0;
  private divisor = 2;
  /** True while the one-shot/periodic counter is non-zero. */
  private counting = false;
  /**
   * The count was `countAtBase` at the exact instant `baseNs - baseLag / nsDen` ns
   * (0 <= baseLag < nsDen).
   */
  private baseNs = 0;
  private baseLag = 0;
  private countAtBase = 0;
  /** The lag the next reload starts with: armed expiry time minus the exact zero instant. */
  private expiryLag = 0;
  private deadline = 0n;
  private eventId = 0;
  /** When the armed event fires (valid while eventId !== 0). */
  private eventAt = 0;
  private readonly fireCallback: () => void;
  /** ns per timer-input tick as the reduced fraction nsNum / nsDen (exact arithmetic). */
  private readonly nsNum: number;
  private readonly nsDen: number;
  private readonly tscNum: number;
  private readonly tscDen: number;

  constructor(
    private readonly clock: Clock,
    /** Timer input clock before the divider (the APIC bus/core crystal clock). */
    readonly timerHz: number,
    /** TSC frequency, for IA32_TSC_DEADLINE. */
    readonly tscHz: number,
    /** Minimum interval between periodic expiries. */
    readonly minPeriodNs: number,
    private readonly owner: TimerOwner,
    /** Told of every expiry the timer arms (for tracing). */
    private readonly onArm?: (atNs: number) => void,
  ) {
    this.fireCallback = () => this.fire();
    const g = gcd(NS_PER_SECOND, timerHz);
    this.nsNum = NS_PER_SECOND / g;
    this.nsDen = timerHz / g;
    const t = gcd(NS_PER_SECOND, tscHz);
    this.tscNum = tscHz / t;
    this.tscDen = NS_PER_SECOND / t;
  }

  /** Back to the power-up state: one-shot, count 0, divide by 2, disarmed. */
  reset(): void {
    this.disarm();
    this.mode = TimerMode.OneShot;
    this.initialCount = 0;
    this.dcr = 0;
    this.divisor = 2;
    this.counting = false;
    this.baseLag = 0;
    this.expiryLag = 0;
    this.deadline = 0n;
  }

  /** Applies the mode bits of an LVT timer write. */
  setMode(mode: number): void {
    const old = this.mode;
    this.mode = mode;
    const wasDeadline = old === TimerMode.TscDeadline;
    const isDeadline = mode === TimerMode.TscDeadline;
    if (wasDeadline !== isDeadline) {
      this.disarm();
      this.initialCount = 0;
      this.counting = false;
      this.deadline = 0n;
    }
  }

  getMode(): number {
    return this.mode;
  }

  /** Initial count register write. */
  writeInitialCount(count: number): void {
    if (this.mode === TimerMode.TscDeadline) return;
    this.disarm();
    this.initialCount = count >>> 0;
    if (this.initialCount === 0) {
      this.counting = false;
      return;
    }
    this.startCounting(this.clock.now(), 0, this.initialCount, true);
  }

  readInitialCount(): number {
    return this.mode === TimerMode.TscDeadline ? 0 : this.initialCount;
  }

  /** Current count register: computed from virtual time. */
  readCurrentCount(): number {
    if (this.mode === TimerMode.TscDeadline || !this.counting) return 0;
    const ticks = this.ticksSince();
    const remaining = this.countAtBase - ticks;
    if (remaining > 0) return remaining;
    if (this.mode !== TimerMode.Periodic) return 0;
    // Past zero in periodic mode: the counter reloaded (possibly several times).
    return this.initialCount - ((-remaining) % this.initialCount);
  }

  /** Divide configuration register write. */
  writeDivide(value: number): void {
    const dcr = value & TIMER_DIVIDE_WRITABLE;
    if (dcr === this.dcr) return;
    const current = this.readCurrentCount();
    this.dcr = dcr;
    this.divisor = timerDivisor(dcr);
    if (!this.counting || current === 0) return;
    this.disarm();
    // The rest of the count runs at the new rate at its real length (no minimum-period clamp).
    this.startCounting(this.clock.now(), 0, current, false);
  }

  readDivide(): number {
    return this.dcr;
  }

  /** The TSC at the current virtual time. */
  readTsc(): bigint {
    return BigInt(mulDivFloor(this.clock.now(), this.tscNum, this.tscDen));
  }

  /** IA32_TSC_DEADLINE read: 0 outside TSC-deadline mode or once the deadline fired. */
  readDeadline(): bigint {
    return this.mode === TimerMode.TscDeadline ? this.deadline : 0n;
  }

  /** IA32_TSC_DEADLINE write. */
  writeDeadline(value: bigint): void {
    if (this.mode !== TimerMode.TscDeadline) return;
    this.disarm();
    this.deadline = value;
    if (value === 0n) return;
    // The first nanosecond at which floor(ns * tscHz / 1e9) >= deadline.
    const num = BigInt(this.tscDen);
    const den = BigInt(this.tscNum);
    const big = (value * num + den - 1n) / den;
    const now = this.clock.now();
    if (big <= BigInt(now)) {
      this.fire();
      return;
    }
    if (big <= BigInt(MAX_NS)) this.arm(Number(big));
  }

  /** True while an expiry is scheduled. */
  isArmed(): boolean {
    return this.eventId !== 0;
  }

  /**
   * Starts counting down from `count` at the exact instant `now - lag / nsDen` and arms the
   * expiry at the first whole ns at or after the count reaches 0. `clamp`: this is a full period
   * (initial-count write or reload), subject to the minimum period in periodic mode.
   */
  private startCounting(now: number, lag: number, count: number, clamp: boolean): void {
    this.counting = true;
    this.baseNs = now;
    this.baseLag = lag;
    this.countAtBase = count;
    // From the base instant to 0 takes count * divisor * nsNum / nsDen ns = (q * nsDen + r) / nsDen.
    const tickFine = this.divisor * this.nsNum;
    const q = mulDivFloor(count, tickFine, this.nsDen);
    const r = mulMod(count, tickFine, this.nsDen);
    // Measured from `now` (lag later than the base instant), 0 is reached after
    // (q * nsDen + r - lag) / nsDen ns; its ceiling and the lag of that whole ns after the instant:
    let delay: number;
    if (r > lag) {
      delay = q + 1;
      this.expiryLag = this.nsDen - r + lag;
    } else {
      delay = q;
      this.expiryLag = lag - r;
    }
    if (clamp && this.mode === TimerMode.Periodic && delay < this.minPeriodNs) {
      // Delayed expiry: the next period restarts from the delivery time itself.
      delay = this.minPeriodNs;
      this.expiryLag = 0;
    }
    this.arm(now + delay);
  }

  private arm(atNs: number): void {
    if (atNs > MAX_NS) return;
    this.eventAt = atNs;
    this.eventId = this.clock.schedule(atNs, this.fireCallback);
    if (this.onArm !== undefined) this.onArm(atNs);
  }

  private disarm(): void {
    if (this.eventId !== 0) {
      this.clock.cancel(this.eventId);
      this.eventId = 0;
    }
  }

  private fire(): void {
    this.eventId = 0;
    if (this.mode === TimerMode.TscDeadline) {
      this.deadline = 0n;
    } else if (this.mode === TimerMode.Periodic && this.initialCount !== 0) {
      this.startCounting(this.clock.now(), this.expiryLag, this.initialCount, true);
    } else {
      this.counting = false;
    }
    // Deliver last: the handler may reprogram the timer, and that must win.
    this.owner[TIMER_EXPIRED]();
  }

  /**
   * Writes the timer state (the armed event as its time and original id).
   * @internal
   */
  saveState(w: StateWriter): void {
    w.u8(this.mode).u32(this.initialCount).u8(this.dcr).bool(this.counting);
    w.uint(this.baseNs).uint(this.baseLag).uint(this.countAtBase).uint(this.expiryLag).u64(this.deadline);
    w.bool(this.eventId !== 0).uint(this.eventId !== 0 ? this.eventAt : 0).uint(this.eventId);
  }

  /**
   * Reads a timer state written by {@link saveState}, checking every field, and returns a
   * function that applies it (so a failed restore changes nothing).
   * @internal
   */
  readState(r: StateReader): (rearm: Rearm) => void {
    const mode = r.u8('timer.mode', 3);
    const initialCount = r.u32('timer.initialCount');
    const dcr = r.u8('timer.divide', 0xff);
    if ((dcr & ~TIMER_DIVIDE_WRITABLE) !== 0) r.fail('timer.divide', `reserved bits set in ${dcr}`);
    const counting = r.bool('timer.counting');
    const baseNs = r.uint('timer.baseNs');
    const baseLag = r.uint('timer.baseLag');
    const countAtBase = r.uint('timer.countAtBase', 0xffff_ffff);
    const expiryLag = r.uint('timer.expiryLag');
    if (baseLag >= this.nsDen && baseLag !== 0) r.fail('timer.baseLag', `must be below ${this.nsDen}`);
    if (expiryLag >= this.nsDen && expiryLag !== 0) r.fail('timer.expiryLag', `must be below ${this.nsDen}`);
    const deadline = r.u64('timer.deadline');
    const armed = r.bool('timer.armed');
    const eventAt = r.uint('timer.eventAt');
    const order = r.uint('timer.eventOrder');
    return (rearm) => {
      this.disarm();
      this.mode = mode;
      this.initialCount = initialCount;
      this.dcr = dcr;
      this.divisor = timerDivisor(dcr);
      this.counting = counting;
      this.baseNs = baseNs;
      this.baseLag = baseLag;
      this.countAtBase = countAtBase;
      this.expiryLag = expiryLag;
      this.deadline = deadline;
      if (armed) rearm(eventAt, order, () => this.arm(Math.max(eventAt, this.clock.now())));
    };
  }

  /** Whole divided ticks since the base instant: floor(((now - baseNs) * nsDen + lag) / tickFine). */
  private ticksSince(): number {
    return mulAddDivFloor(this.clock.now() - this.baseNs, this.nsDen, this.baseLag, this.nsNum * this.divisor);
  }
}
