/**
 * The one interface through which devices see time.
 *
 * Time is an integer count of virtual nanoseconds. Devices never read a wall clock; they ask
 * their `Clock` for `now()` and schedule callbacks at absolute virtual times. The library's own
 * {@link Scheduler} implements it, `HostClock` follows a host's time source, and an emulator may
 * bring its own implementation if it keeps the contract below (docs/scheduler.md, "The Clock
 * contract"; each rule is tested in test/time/clock-contract.test.ts):
 *
 * 1. Times are integers in 0..2^53 - 1; scheduling before `now()` throws a RangeError, inside a
 *    callback too.
 * 2. A callback may run late, never early. Devices re-arm periodic work from the due time, not
 *    from `now()` in a late callback, so lateness never accumulates into drift.
 * 3. Inside a callback, `now()` is that callback's scheduled time.
 * 4. Callbacks due at the same time run in the order they were scheduled; one a callback
 *    schedules at the current time runs in the same pass, after those already due.
 * 5. A callback may schedule and cancel. Cancelling another pending event stops it; cancelling
 *    the running callback's own id is a no-op. A callback may not run the queue (the Scheduler's
 *    runUntil/step/advanceTo throw an Error inside a callback).
 * 6. An exception from a callback propagates to whoever ran the queue; the queue stays usable.
 * 7. Cancelling an unknown, already-run or already-cancelled id is a no-op.
 *
 * @module
 */

/** A source of virtual time and timed callbacks; see the module documentation for the contract. */
export interface Clock {
  /** The current virtual time in integer nanoseconds (inside a callback: its scheduled time). */
  now(): number;
  /**
   * Calls `fn` when virtual time reaches `atNs` (an integer >= `now()`), or later, never earlier;
   * same-time callbacks run in scheduling order.
   * @returns an id for {@link Clock.cancel}; ids are positive integers.
   */
  schedule(atNs: number, fn: () => void): number;
  /** Cancels a scheduled callback; cancelling an id that already ran or was cancelled is a no-op. */
  cancel(id: number): void;
  /**
   * Optional: brings the clock up to the host's current time, running every callback due by
   * then, and returns the time (see `HostClock`). Devices call it before each guest-visible
   * access; inside a callback it does not move time. A clock without it is advanced by its owner.
   */
  sync?(): number;
}
