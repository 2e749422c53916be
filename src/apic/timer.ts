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
import { gcd, mulAddDivFloor, mulDivFloor, mulMod } from '../time/ratio.js';
import { TIMER_DIVIDE_WRITABLE, TimerMode } from './registers.js';

const NS_PER_SECOND = 1_000_000_000;
/** The largest deadline we can schedule: beyond it the timer never fires in practice. */
const MAX_NS = Number.MAX_SAFE_INTEGER;

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
  /**
   * When the armed expiry is due, in timer time (valid while eventId !== 0). A periodic reload
   * starts from this due time, not from when the clock ran the callback, so a clock that runs
   * callbacks late cannot make the period drift.
   */
  private eventAt = 0;
  /**
   * Timer time minus clock time. 0 unless a snapshot was restored onto a clock at another time
   * (rebase): the timer's times, its count and its TSC then continue from the snapshot's, the way
   * KVM keeps a migrated guest's TSC with a TSC offset.
   */
  private timeOffset = 0;
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
    this.startCounting(this.now(), 0, this.initialCount, true);
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
    this.startCounting(this.now(), 0, current, false);
  }

  readDivide(): number {
    return this.dcr;
  }

  /** The TSC at the current virtual time. */
  readTsc(): bigint {
    return BigInt(mulDivFloor(this.now(), this.tscNum, this.tscDen));
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
    const due = this.deadlineDue(value);
    const now = this.now();
    if (due <= now) {
      this.eventAt = now; // due now: fire() reads the due time
      this.fire();
      return;
    }
    this.arm(due);
  }

  /** The clock's time (not the timer's: see timeOffset). */
  clockNow(): number {
    return this.clock.now();
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
    let delay = this.delayToZero(count, lag);
    this.expiryLag = this.lagAtZero;
    if (clamp && this.mode === TimerMode.Periodic && delay < this.minPeriodNs) {
      // Delayed expiry: the next period restarts from the delivery time itself.
      delay = this.minPeriodNs;
      this.expiryLag = 0;
    }
    this.arm(now + delay);
  }

  /** Set by {@link delayToZero}: the lag of the expiry's whole ns after the exact zero instant. */
  private lagAtZero = 0;

  /**
   * Whole ns from a base (the exact instant `lag / nsDen` ns before it) until `count` divided
   * ticks have run out, rounded up; leaves the rounding's lag in `lagAtZero` (no allocation).
   */
  private delayToZero(count: number, lag: number): number {
    // From the base instant to 0 takes count * divisor * nsNum / nsDen ns = (q * nsDen + r) / nsDen.
    const tickFine = this.divisor * this.nsNum;
    const q = mulDivFloor(count, tickFine, this.nsDen);
    const r = mulMod(count, tickFine, this.nsDen);
    // Measured from the base (lag later than the exact instant), 0 is reached after
    // (q * nsDen + r - lag) / nsDen ns; its ceiling and the lag of that whole ns after the instant:
    if (r > lag) {
      this.lagAtZero = this.nsDen - r + lag;
      return q + 1;
    }
    this.lagAtZero = lag - r;
    return q;
  }

  /**
   * Arms the expiry due at timer time `atNs`. A due time the clock has already passed (a periodic
   * timer whose callback ran more than a period late) is scheduled at the clock's now: the
   * expiry is late, but the due time and so the period grid stay exact.
   */
  private arm(atNs: number): void {
    if (atNs > MAX_NS) return;
    this.eventAt = atNs;
    const clockNow = this.clock.now();
    const at = atNs - this.timeOffset;
    this.eventId = this.clock.schedule(at > clockNow ? at : clockNow, this.fireCallback);
    if (this.onArm !== undefined) this.onArm(atNs - this.timeOffset);
  }

  /** The timer's time: the clock's, plus the offset a rebasing restore leaves. */
  private now(): number {
    return this.clock.now() + this.timeOffset;
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
      // Reload from the due time, never from the clock's now (a late callback must not drift).
      this.startCounting(this.eventAt, this.expiryLag, this.initialCount, true);
    } else {
      this.counting = false;
    }
    // Deliver last: the handler may reprogram the timer, and that must win.
    this.owner[TIMER_EXPIRED]();
  }

  /**
   * Writes the timer state (the armed event as its due time and original id). Times are timer
   * times; the offset to the clock comes last (section version 2).
   * @internal
   */
  saveState(w: StateWriter): void {
    w.u8(this.mode).u32(this.initialCount).u8(this.dcr).bool(this.counting);
    w.uint(this.baseNs).uint(this.baseLag).uint(this.countAtBase).uint(this.expiryLag).u64(this.deadline);
    w.bool(this.eventId !== 0).uint(this.eventId !== 0 ? this.eventAt : 0).uint(this.eventId);
    w.int(this.timeOffset);
  }

  /**
   * Reads a timer state written by {@link saveState}, checks every field against what the timer
   * can reach (docs/snapshots.md, "Hostile input") and returns a function that applies it, so a
   * failed restore changes nothing. `t` says when the snapshot was taken and how far to move it.
   * @internal
   */
  readState(r: StateReader, t: TimerRestore): (rearm: Rearm) => void {
    const s = readTimerFields(r, t.version);
    const savedOffset = s.timeOffset;
    // The timer's time when the snapshot was taken.
    const savedNow = t.savedNs + savedOffset;
    if (savedNow < 0 || savedNow > MAX_NS) r.fail('timer.timeOffset', `puts the timer's time at ${savedNow} ns`);
    this.checkFields(r, s, t, savedNow);
    // A rebase moves the clock under the timer: keep the timer's time (and its TSC) continuous.
    const offset = savedOffset + t.savedNs - t.clockNs;
    return (rearm) => {
      this.disarm();
      this.timeOffset = offset;
      this.mode = s.mode;
      this.initialCount = s.initialCount;
      this.dcr = s.dcr;
      this.divisor = timerDivisor(s.dcr);
      this.counting = s.counting;
      this.baseNs = s.baseNs;
      this.baseLag = s.baseLag;
      this.countAtBase = s.countAtBase;
      this.expiryLag = s.expiryLag;
      this.deadline = s.deadline;
      // An expiry already due (a clock that ran it late) fires as soon as the clock runs.
      if (s.armed) rearm(s.eventAt - offset, s.order, () => this.arm(s.eventAt));
    };
  }

  /**
   * The consistency rules of a restored timer (each one a state the guest cannot reach
   * otherwise). `savedNow` is the timer's time at the snapshot.
   */
  private checkFields(r: StateReader, s: TimerFields, t: TimerRestore, savedNow: number): void {
    if (s.mode !== t.lvtMode) r.fail('timer.mode', `mode ${s.mode} differs from the LVT timer entry's ${t.lvtMode}`);
    const deadlineMode = s.mode === TimerMode.TscDeadline;
    // SDM: TMICT reads 0 in TSC-deadline mode; the page mirrors what TMICT and TDCR read.
    if (t.pageInitialCount !== (deadlineMode ? 0 : s.initialCount)) r.fail('timer.initialCount', `differs from the page's TMICT ${t.pageInitialCount}`);
    if (t.pageDivide !== s.dcr) r.fail('timer.divide', `differs from the page's TDCR ${t.pageDivide}`);
    if ((s.baseLag >= this.nsDen && s.baseLag !== 0) || s.baseLag < 0) r.fail('timer.baseLag', `must be below ${this.nsDen}`);
    if (s.expiryLag >= this.nsDen && s.expiryLag !== 0) r.fail('timer.expiryLag', `must be below ${this.nsDen}`);
    if (deadlineMode) {
      // Entering TSC-deadline mode clears TMICT and stops the count (SDM, KVM).
      if (s.counting || s.initialCount !== 0) r.fail('timer.counting', 'a TSC-deadline timer does not count down');
      const due = this.deadlineDue(s.deadline);
      const armable = s.deadline !== 0n && due <= MAX_NS;
      if (s.armed !== armable) r.fail('timer.armed', armable ? 'a pending TSC deadline is not armed' : 'armed without a TSC deadline');
      if (s.armed && s.eventAt !== due) r.fail('timer.eventAt', `${s.eventAt} is not the TSC deadline's time ${due}`);
      return;
    }
    // Outside TSC-deadline mode IA32_TSC_DEADLINE reads 0 and ignores writes (SDM).
    if (s.deadline !== 0n) r.fail('timer.deadline', 'set outside TSC-deadline mode');
    if (!s.counting) {
      if (s.armed) r.fail('timer.armed', 'armed while not counting');
      return;
    }
    // SDM "APIC Timer": the count runs down from TMICT, so it is never above it, and a count of
    // 0 stops the timer.
    if (s.initialCount === 0) r.fail('timer.initialCount', 'is 0 while counting');
    if (s.countAtBase === 0 || s.countAtBase > s.initialCount) {
      r.fail('timer.countAtBase', `${s.countAtBase} is not in 1..${s.initialCount} (the initial count)`);
    }
    if (s.baseNs > savedNow) r.fail('timer.baseNs', `${s.baseNs} is after the snapshot's time ${savedNow}`);
    const divisor = timerDivisor(s.dcr);
    const saved = this.divisor;
    this.divisor = divisor; // delayToZero reads it; restored below, before any check can throw
    const delay = this.delayToZero(s.countAtBase, s.baseLag);
    const lag = this.lagAtZero;
    this.divisor = saved;
    const due = s.baseNs + delay;
    // A full period may have been stretched to the minimum period (then it restarts with lag 0).
    const clamped = delay < this.minPeriodNs && s.eventAt === s.baseNs + this.minPeriodNs && s.expiryLag === 0;
    if (!clamped && (s.eventAt !== due || s.expiryLag !== lag) && s.armed) {
      r.fail('timer.eventAt', `${s.eventAt} is not when the count reaches 0 (${due})`);
    }
    if (!clamped && s.armed !== (due <= MAX_NS)) r.fail('timer.armed', s.armed ? 'armed beyond the last schedulable time' : 'counting but not armed');
  }

  /** The first ns at which the TSC reaches `deadline` (MAX_NS + 1 when beyond the last ns). */
  private deadlineDue(deadline: bigint): number {
    const num = BigInt(this.tscDen);
    const den = BigInt(this.tscNum);
    const big = (deadline * num + den - 1n) / den;
    return big <= BigInt(MAX_NS) ? Number(big) : MAX_NS + 1;
  }

  /** Whole divided ticks since the base instant: floor(((now - baseNs) * nsDen + lag) / tickFine). */
  private ticksSince(): number {
    return mulAddDivFloor(this.now() - this.baseNs, this.nsDen, this.baseLag, this.nsNum * this.divisor);
  }
}

/** What a timer restore needs to know beyond its own fields. */
export interface TimerRestore {
  /** Version of the section being read (1 = before the time offset was stored). */
  readonly version: number;
  /** The clock's time when the snapshot was taken. */
  readonly savedNs: number;
  /** The target clock's time now. */
  readonly clockNs: number;
  /** The mode bits of the LVT timer entry in the restored page. */
  readonly lvtMode: number;
  /** The TMICT and TDCR words of the restored page. */
  readonly pageInitialCount: number;
  readonly pageDivide: number;
}

interface TimerFields {
  mode: number;
  initialCount: number;
  dcr: number;
  counting: boolean;
  baseNs: number;
  baseLag: number;
  countAtBase: number;
  expiryLag: number;
  deadline: bigint;
  armed: boolean;
  eventAt: number;
  order: number;
  timeOffset: number;
}

/** Reads the timer's fields in {@link ApicTimer.saveState} order, checking each one's range. */
function readTimerFields(r: StateReader, version: number): TimerFields {
  const mode = r.u8('timer.mode', 3);
  const initialCount = r.u32('timer.initialCount');
  const dcr = r.u8('timer.divide', 0xff);
  if ((dcr & ~TIMER_DIVIDE_WRITABLE) !== 0) r.fail('timer.divide', `reserved bits set in ${dcr}`);
  return {
    mode,
    initialCount,
    dcr,
    counting: r.bool('timer.counting'),
    baseNs: r.uint('timer.baseNs'),
    baseLag: r.uint('timer.baseLag'),
    countAtBase: r.uint('timer.countAtBase', 0xffff_ffff),
    expiryLag: r.uint('timer.expiryLag'),
    deadline: r.u64('timer.deadline'),
    armed: r.bool('timer.armed'),
    eventAt: r.uint('timer.eventAt'),
    order: r.uint('timer.eventOrder'),
    timeOffset: version >= 2 ? r.int('timer.timeOffset') : 0,
  };
}
