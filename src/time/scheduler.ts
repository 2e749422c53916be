/**
 * A deterministic virtual-time event queue.
 *
 * Events live in a binary min-heap keyed by (time, insertion sequence), so two events at the same
 * virtual nanosecond always run in the order they were scheduled, on every machine. Schedule and
 * cancel are O(log n): each event remembers its heap slot, so cancel removes it in place instead
 * of leaving a tombstone that would make the queue grow with guest activity.
 *
 * @module
 */
import { checkInt } from '../errors.js';
import type { Clock } from './clock.js';

/** The largest virtual time the scheduler accepts: 2^53 - 1 ns, about 104 days. */
export const MAX_TIME_NS = Number.MAX_SAFE_INTEGER;

/** The virtual-time scheduler: a {@link Clock} whose time advances only when it is run. */
export class Scheduler implements Clock {
  private time = 0;
  private nextSeq = 1;
  // Parallel arrays indexed by heap slot: no per-event object in the heap itself.
  private heapTime: number[] = [];
  private heapSeq: number[] = [];
  private heapId: number[] = [];
  // id -> callback and id -> heap slot, for cancel.
  private readonly callbacks = new Map<number, () => void>();
  private readonly slotOf = new Map<number, number>();
  private nextId = 1;

  constructor() {}

  /** The current virtual time in nanoseconds. */
  now(): number {
    return this.time;
  }

  /**
   * Schedules `fn` at absolute virtual time `atNs`.
   * @throws RangeError if `atNs` is not an integer or lies in the past.
   * @throws TypeError if `fn` is not a function.
   */
  schedule(atNs: number, fn: () => void): number {
    checkInt('atNs', atNs, this.time, MAX_TIME_NS);
    if (typeof fn !== 'function') throw new TypeError(`fn must be a function, got ${typeof fn}`);
    const id = this.nextId++;
    this.callbacks.set(id, fn);
    const slot = this.heapTime.length;
    this.heapTime.push(atNs);
    this.heapSeq.push(this.nextSeq++);
    this.heapId.push(id);
    this.slotOf.set(id, slot);
    this.siftUp(slot);
    return id;
  }

  /** Cancels a scheduled event. Unknown, already-run or already-cancelled ids are ignored. */
  cancel(id: number): void {
    const slot = this.slotOf.get(id);
    if (slot === undefined) return;
    this.removeAt(slot);
  }

  /** How many events are waiting. */
  pending(): number {
    return this.heapTime.length;
  }

  /** The time of the next event, or `undefined` when the queue is empty. */
  nextEventTime(): number | undefined {
    return this.heapTime.length > 0 ? this.heapTime[0] : undefined;
  }

  /**
   * Runs the earliest event, advancing time to it.
   * @returns `false` if the queue was empty.
   */
  step(): boolean {
    if (this.heapTime.length === 0) return false;
    const id = this.heapId[0]!;
    this.time = this.heapTime[0]!;
    const fn = this.callbacks.get(id)!;
    this.removeAt(0);
    fn();
    return true;
  }

  /**
   * Runs every event due at or before `ns`, in order, then sets the time to `ns`.
   * Events scheduled by callbacks for times <= `ns` run in the same call.
   * @throws RangeError if `ns` is not an integer or is earlier than `now()`.
   */
  runUntil(ns: number): void {
    checkInt('ns', ns, this.time, MAX_TIME_NS);
    while (this.heapTime.length > 0 && this.heapTime[0]! <= ns) this.step();
    this.time = ns;
  }

  /**
   * Advances time to `ns` without running anything. Only legal when no event is due before
   * `ns`; emulators that own the clock use it between their own calls to {@link step}.
   * @throws RangeError if `ns` is in the past or an event is due earlier.
   */
  advanceTo(ns: number): void {
    checkInt('ns', ns, this.time, MAX_TIME_NS);
    const next = this.nextEventTime();
    if (next !== undefined && next < ns) {
      throw new RangeError(`ns must be <= the next event time ${next}, got ${ns}`);
    }
    this.time = ns;
  }

  private removeAt(slot: number): void {
    const id = this.heapId[slot]!;
    this.callbacks.delete(id);
    this.slotOf.delete(id);
    const last = this.heapTime.length - 1;
    if (slot !== last) {
      this.moveSlot(last, slot);
    }
    this.heapTime.pop();
    this.heapSeq.pop();
    this.heapId.pop();
    if (slot < last) {
      if (!this.siftUp(slot)) this.siftDown(slot);
    }
  }

  private less(a: number, b: number): boolean {
    const ta = this.heapTime[a]!;
    const tb = this.heapTime[b]!;
    return ta < tb || (ta === tb && this.heapSeq[a]! < this.heapSeq[b]!);
  }

  private moveSlot(from: number, to: number): void {
    this.heapTime[to] = this.heapTime[from]!;
    this.heapSeq[to] = this.heapSeq[from]!;
    const id = this.heapId[from]!;
    this.heapId[to] = id;
    this.slotOf.set(id, to);
  }

  private swap(a: number, b: number): void {
    const t = this.heapTime[a]!;
    const s = this.heapSeq[a]!;
    const i = this.heapId[a]!;
    this.moveSlot(b, a);
    this.heapTime[b] = t;
    this.heapSeq[b] = s;
    this.heapId[b] = i;
    this.slotOf.set(i, b);
  }

  /** @returns true if the entry moved. */
  private siftUp(slot: number): boolean {
    let moved = false;
    while (slot > 0) {
      const parent = (slot - 1) >> 1;
      if (!this.less(slot, parent)) break;
      this.swap(slot, parent);
      slot = parent;
      moved = true;
    }
    return moved;
  }

  private siftDown(slot: number): void {
    const n = this.heapTime.length;
    for (;;) {
      const l = 2 * slot + 1;
      if (l >= n) return;
      const r = l + 1;
      const child = r < n && this.less(r, l) ? r : l;
      if (!this.less(child, slot)) return;
      this.swap(slot, child);
      slot = child;
    }
  }
}
