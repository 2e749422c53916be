/**
 * Host-misuse errors and argument checks shared by every layer.
 *
 * The rule (DESIGN.md, "Rules that hold everywhere"): anything a *guest* can do is handled as
 * hardware would and never throws; a *host* calling the API with an impossible argument gets a
 * `RangeError` or `TypeError` that names the argument and the allowed range, and nothing changes.
 * These helpers are called before any state is touched so that "nothing changes" holds.
 *
 * @module
 */

/**
 * Thrown when a snapshot is malformed, truncated, of an unknown version or otherwise unusable.
 *
 * @example
 * ```ts
 * import { Machine, SnapshotError } from 'irqchip';
 *
 * try {
 *   Machine.restore(new Uint8Array([1, 2, 3]));
 * } catch (e) {
 *   if (e instanceof SnapshotError) console.log(e.message); // says what is wrong and where
 * }
 * ```
 */
export class SnapshotError extends Error {
  override readonly name = 'SnapshotError';
}

/**
 * Checks that `value` is an integer in `[min, max]`.
 * @throws TypeError if `value` is not a number; RangeError if it is not an integer in range.
 */
export function checkInt(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number') {
    throw new TypeError(`${name} must be a number, got ${typeof value}`);
  }
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer in ${min}..${max}, got ${String(value)}`);
  }
  return value;
}

/** Checks that `value` is a boolean. @throws TypeError otherwise. */
export function checkBool(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') {
    throw new TypeError(`${name} must be a boolean, got ${typeof value}`);
  }
  return value;
}

/** Checks that `value` is a bigint in `[0, 2^64)`. @throws TypeError / RangeError otherwise. */
export function checkU64(name: string, value: unknown): bigint {
  if (typeof value !== 'bigint') {
    throw new TypeError(`${name} must be a bigint, got ${typeof value}`);
  }
  if (value < 0n || value > 0xffff_ffff_ffff_ffffn) {
    throw new RangeError(`${name} must be a bigint in 0..2^64-1, got ${value}`);
  }
  return value;
}
