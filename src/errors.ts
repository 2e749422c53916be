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
    throw new TypeError(`${name} must be a number, got ${typeName(value)}`);
  }
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer in ${min}..${max}, got ${String(value)}`);
  }
  return value;
}

/** How a wrong argument is named in a message: its `typeof`, with `null` told apart from objects. */
export function typeName(value: unknown): string {
  return value === null ? 'null' : typeof value;
}

/** Checks that `value` is an object (not null). @throws TypeError naming the argument otherwise. */
export function checkObject(name: string, value: unknown): asserts value is object {
  if (value === null || typeof value !== 'object') throw new TypeError(`${name} must be an object, got ${typeName(value)}`);
}

/** Checks that `value` is a function, or undefined where `optional`. @throws TypeError otherwise. */
export function checkFunction(name: string, value: unknown, optional = false): void {
  if (typeof value === 'function' || (optional && value === undefined)) return;
  throw new TypeError(`${name} must be a function${optional ? ' or undefined' : ''}, got ${typeName(value)}`);
}

/**
 * Checks a value that the guest puts on a bus (an MMIO or MSI word): any number goes, coerced as
 * 32-bit hardware would; anything else is a host bug. @throws TypeError otherwise.
 */
export function checkBusValue(name: string, value: unknown): void {
  if (typeof value !== 'number') {
    throw new TypeError(`${name} must be a number (any number is taken as a 32-bit bus value), got ${typeName(value)}`);
  }
}

/** Checks that `value` is a boolean. @throws TypeError otherwise. */
export function checkBool(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') {
    throw new TypeError(`${name} must be a boolean, got ${typeName(value)}`);
  }
  return value;
}

/** Checks that `value` is a bigint in `[0, 2^64)`. @throws TypeError / RangeError otherwise. */
export function checkU64(name: string, value: unknown): bigint {
  if (typeof value !== 'bigint') {
    throw new TypeError(`${name} must be a bigint, got ${typeName(value)}`);
  }
  if (value < 0n || value > 0xffff_ffff_ffff_ffffn) {
    throw new RangeError(`${name} must be a bigint in 0..2^64-1, got ${value}`);
  }
  return value;
}
