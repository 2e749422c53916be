/**
 * Binary state encoding for snapshots: a writer and a reader of little-endian integers, booleans,
 * strings and arrays. The reader checks every bound and every range and throws a
 * {@link SnapshotError} naming the section and the field, so hostile bytes can never reach device
 * state unchecked.
 *
 * @module
 */
import { SnapshotError } from '../errors.js';

// TextEncoder and TextDecoder exist in every runtime the library supports (Node >= 11, browsers),
// but the ES2022 lib the core compiles against does not declare them: declare what is used.
declare const TextEncoder: new () => { encode(input: string): Uint8Array };
declare const TextDecoder: new (label: string, options: { fatal: boolean }) => { decode(input: Uint8Array): string };

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Appends fields to a growing buffer. */
export class StateWriter {
  #buf = new Uint8Array(256);
  #view = new DataView(this.#buf.buffer);
  #len = 0;

  #ensure(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
    this.#view = new DataView(next.buffer);
  }

  u8(v: number): this {
    this.#ensure(1);
    this.#view.setUint8(this.#len, v);
    this.#len += 1;
    return this;
  }

  u16(v: number): this {
    this.#ensure(2);
    this.#view.setUint16(this.#len, v, true);
    this.#len += 2;
    return this;
  }

  u32(v: number): this {
    this.#ensure(4);
    this.#view.setUint32(this.#len, v >>> 0, true);
    this.#len += 4;
    return this;
  }

  /** A signed 32-bit integer. */
  i32(v: number): this {
    this.#ensure(4);
    this.#view.setInt32(this.#len, v, true);
    this.#len += 4;
    return this;
  }

  /** A non-negative safe integer (times, counters) as 64 bits. */
  uint(v: number): this {
    return this.u64(BigInt(v));
  }

  /** A signed safe integer as 64 bits. */
  int(v: number): this {
    this.#ensure(8);
    this.#view.setBigInt64(this.#len, BigInt(v), true);
    this.#len += 8;
    return this;
  }

  u64(v: bigint): this {
    this.#ensure(8);
    this.#view.setBigUint64(this.#len, v, true);
    this.#len += 8;
    return this;
  }

  bool(v: boolean): this {
    return this.u8(v ? 1 : 0);
  }

  str(v: string): this {
    const bytes = encoder.encode(v);
    this.u32(bytes.length);
    return this.bytes(bytes);
  }

  /** Raw bytes (the caller writes the length if it needs one). */
  bytes(v: Uint8Array): this {
    this.#ensure(v.length);
    this.#buf.set(v, this.#len);
    this.#len += v.length;
    return this;
  }

  u32s(v: ArrayLike<number>): this {
    this.u32(v.length);
    for (let i = 0; i < v.length; i++) this.u32(v[i]!);
    return this;
  }

  u8s(v: ArrayLike<number>): this {
    this.u32(v.length);
    for (let i = 0; i < v.length; i++) this.u8(v[i]!);
    return this;
  }

  get length(): number {
    return this.#len;
  }

  finish(): Uint8Array {
    return this.#buf.slice(0, this.#len);
  }
}

/**
 * When a snapshot being restored was taken and what time the target clock shows: a device moves
 * its stored clock times by `clockNs - savedNs` (rebase; 0 when the times agree).
 */
export interface RestoreTime {
  /** The clock's time when the snapshot was taken. */
  readonly savedNs: number;
  /** The target clock's time now. */
  readonly clockNs: number;
}

/** Reads fields back, checking bounds and ranges. */
export class StateReader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  #pos = 0;

  /**
   * @param where the section name, used in error messages.
   * @param version the section's version (readers of older versions skip the newer fields).
   * @param time the snapshot's time and the target clock's, when the container knows them.
   */
  constructor(
    bytesIn: Uint8Array,
    readonly where: string,
    readonly version = 1,
    readonly time?: RestoreTime,
  ) {
    this.#bytes = bytesIn;
    this.#view = new DataView(bytesIn.buffer, bytesIn.byteOffset, bytesIn.byteLength);
  }

  /** Throws a SnapshotError naming the section and field. */
  fail(field: string, why: string): never {
    throw new SnapshotError(`snapshot section '${this.where}', field '${field}': ${why}`);
  }

  #need(field: string, n: number): void {
    if (this.#pos + n > this.#bytes.length) this.fail(field, `truncated (needs ${n} more bytes at offset ${this.#pos})`);
  }

  u8(field: string, max = 0xff): number {
    this.#need(field, 1);
    const v = this.#view.getUint8(this.#pos);
    this.#pos += 1;
    if (v > max) this.fail(field, `value ${v} is above ${max}`);
    return v;
  }

  u16(field: string, max = 0xffff): number {
    this.#need(field, 2);
    const v = this.#view.getUint16(this.#pos, true);
    this.#pos += 2;
    if (v > max) this.fail(field, `value ${v} is above ${max}`);
    return v;
  }

  u32(field: string, max = 0xffff_ffff): number {
    this.#need(field, 4);
    const v = this.#view.getUint32(this.#pos, true);
    this.#pos += 4;
    if (v > max) this.fail(field, `value ${v} is above ${max}`);
    return v;
  }

  i32(field: string, min: number, max: number): number {
    this.#need(field, 4);
    const v = this.#view.getInt32(this.#pos, true);
    this.#pos += 4;
    if (v < min || v > max) this.fail(field, `value ${v} is outside ${min}..${max}`);
    return v;
  }

  uint(field: string, max = MAX_SAFE): number {
    const v = this.u64(field);
    if (v > BigInt(max)) this.fail(field, `value ${v} is above ${max}`);
    return Number(v);
  }

  int(field: string, min = -MAX_SAFE, max = MAX_SAFE): number {
    this.#need(field, 8);
    const v = this.#view.getBigInt64(this.#pos, true);
    this.#pos += 8;
    if (v < BigInt(min) || v > BigInt(max)) this.fail(field, `value ${v} is outside ${min}..${max}`);
    return Number(v);
  }

  u64(field: string): bigint {
    this.#need(field, 8);
    const v = this.#view.getBigUint64(this.#pos, true);
    this.#pos += 8;
    return v;
  }

  bool(field: string): boolean {
    return this.u8(field, 1) === 1;
  }

  str(field: string, maxBytes = 1 << 24): string {
    const n = this.u32(`${field}.length`, maxBytes);
    this.#need(field, n);
    const slice = this.#bytes.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    try {
      return decoder.decode(slice);
    } catch {
      return this.fail(field, 'is not valid UTF-8');
    }
  }

  bytes(field: string, n: number): Uint8Array {
    this.#need(field, n);
    const slice = this.#bytes.slice(this.#pos, this.#pos + n);
    this.#pos += n;
    return slice;
  }

  /** A u32 array of exactly `expected` entries (or any length up to `expected` if `upTo`). */
  u32s(field: string, expected: number, upTo = false): Uint32Array {
    const n = this.u32(`${field}.length`);
    if (upTo ? n > expected : n !== expected) this.fail(field, `has ${n} entries, expected ${upTo ? 'at most ' : ''}${expected}`);
    this.#need(field, n * 4);
    const out = new Uint32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.u32(field);
    return out;
  }

  u8s(field: string, expected: number, max = 0xff): Uint8Array {
    const n = this.u32(`${field}.length`);
    if (n !== expected) this.fail(field, `has ${n} entries, expected ${expected}`);
    this.#need(field, n);
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.u8(field, max);
    return out;
  }

  /** A count of following entries, bounded so hostile input cannot ask for huge allocations. */
  count(field: string, max: number): number {
    return this.u32(field, max);
  }

  /** Requires that every byte was consumed. */
  end(): void {
    if (this.#pos !== this.#bytes.length) this.fail('(end)', `${this.#bytes.length - this.#pos} unexpected trailing bytes`);
  }
}

/**
 * Re-creates a timed event while restoring: `order` is the event's original id (ids follow
 * insertion order), so events are re-scheduled in their original order and same-time ties break
 * exactly as before the snapshot; `schedule` does the actual scheduling.
 */
export type Rearm = (atNs: number, order: number, schedule: () => void) => void;

/** Collects re-arm requests and replays them in their original order. */
export class RearmQueue {
  readonly #items: Array<{ atNs: number; order: number; schedule: () => void }> = [];
  readonly rearm: Rearm = (atNs, order, schedule) => {
    this.#items.push({ atNs, order, schedule });
  };

  /** Schedules everything collected, by original order. */
  flush(): void {
    this.#items.sort((a, b) => a.order - b.order);
    for (const item of this.#items) item.schedule();
    this.#items.length = 0;
  }
}
