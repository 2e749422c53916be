/**
 * The one interface through which devices see time.
 *
 * Time is an integer count of virtual nanoseconds. Devices never read a wall clock; they ask
 * their `Clock` for `now()` and schedule callbacks at absolute virtual times. The library's own
 * {@link Scheduler} implements it, and an emulator may bring its own implementation.
 *
 * @module
 */

/** A source of virtual time and timed callbacks. */
export interface Clock {
  /** The current virtual time in integer nanoseconds. */
  now(): number;
  /**
   * Calls `fn` when virtual time reaches `atNs` (an integer >= `now()`).
   * @returns an id for {@link Clock.cancel}; ids are positive integers.
   */
  schedule(atNs: number, fn: () => void): number;
  /** Cancels a scheduled callback; cancelling an id that already ran or was cancelled is a no-op. */
  cancel(id: number): void;
  /**
   * Optional: brings the clock up to the host's current time, running every callback due by
   * then, and returns the time (see `HostClock`). Devices call it before each
   * guest-visible access; a clock without it is advanced by its owner.
   */
  sync?(): number;
}
