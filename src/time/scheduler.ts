/**
 * A deterministic virtual-time event queue.
 *
 * Events live in a binary min-heap keyed by (time, id). Ids increase with every schedule, so the
 * id is also the insertion order: two events at the same virtual nanosecond always run in the
 * order they were scheduled, on every machine. Schedule and cancel are O(log n): each event
 * remembers its heap position, so cancel removes it in place instead of leaving a tombstone that
 * would make the queue grow with guest activity.
 *
 * Layout, chosen so that the steady state allocates nothing (a periodic timer re-arms millions of
 * times per second):
 * - Each pending event occupies a *slot* of a pool of parallel typed arrays (its id and heap
 *   position) plus an entry of the callback array. The slot of id `i` is `i mod capacity`: the
 *   low bits of an id name its slot and the high bits act as a generation tag, so `cancel` finds
 *   an event with one array read and recognises an id that already ran or was cancelled (the slot
 *   holds another id or none). When the slot of the next id is taken by a long-lived event, that
 *   id is skipped: ids stay increasing and are never reused, only not always consecutive.
 * - The heap is two parallel typed arrays (time, slot), so comparisons read contiguous numbers
 *   and a sift writes no object. An entry's id, which breaks ties between equal times, is read
 *   through its slot (`slotId[slot]`) only when two times are equal. A pop walks the hole down
 *   along the smaller children (Floyd), choosing each child without a branch, then sifts the
 *   last entry up.
 * - The pop of the event being run is finished lazily: while its callback runs, its entry stays
 *   at the root as a stale placeholder, and if the callback schedules (a periodic timer re-arming
 *   itself) the new event simply replaces the root and sifts down: one pass instead of a pop and
 *   a push. Every other operation first finishes the pop ({@link Scheduler.settle}).
 * - The pool is kept at most half full (which bounds the skipped ids); everything doubles when
 *   it would not be. Only that growth allocates.
 *
 * @module
 */
import { checkInt } from '../errors.js';
import type { Clock } from './clock.js';

/** The largest virtual time the scheduler accepts: 2^53 - 1 ns, about 104 days. */
export const MAX_TIME_NS = Number.MAX_SAFE_INTEGER;

const INITIAL_CAPACITY = 64;

/**
 * The deterministic virtual-time event queue every device's {@link Clock} can be: integer
 * nanoseconds, a binary heap, ties broken by insertion order, no wall clock (docs/scheduler.md).
 *
 * @example
 * ```ts
 * import { Scheduler } from 'irqchip';
 *
 * const clock = new Scheduler();
 * const order: string[] = [];
 * clock.schedule(2000, () => order.push('b'));
 * const id = clock.schedule(1000, () => order.push('a'));
 * clock.schedule(1000, () => order.push('a2')); // same time: after the first scheduled
 * clock.cancel(id);
 * clock.runUntil(5000);                         // order: ['a2', 'b']; clock.now() === 5000
 * ```
 */
export class Scheduler implements Clock {
  private time = 0;
  /** The next id to hand out (ids increase: an id is also its event's insertion order). */
  private nextId = 1;
  /** Pending events. While `staleRoot`, they are at heap positions 1..size, else 0..size-1. */
  private size = 0;
  /** The heap root is the entry of the event whose callback is running (see settle()). */
  private staleRoot = false;
  /** > 0 while a callback runs (the Clock contract: callbacks may not run the queue). */
  private depth = 0;

  // The heap, by position: time and slot of each pending event (the first `size` entries).
  private heapTime = new Float64Array(INITIAL_CAPACITY);
  private heapSlot = new Int32Array(INITIAL_CAPACITY);

  // The pool, by slot = id mod capacity: the id (0 = free), heap position and callback.
  private slotId = new Float64Array(INITIAL_CAPACITY);
  private slotPos = new Int32Array(INITIAL_CAPACITY);
  private callbacks = emptyCallbacks(INITIAL_CAPACITY);
  private mask = INITIAL_CAPACITY - 1;

  /**
   * An empty queue at time 0.
   */
  constructor() {}

  /** The current virtual time in nanoseconds. */
  now(): number {
    return this.time;
  }

  /**
   * Schedules `fn` at absolute virtual time `atNs`.
   * @returns the event's id: a positive integer, larger than every id returned before.
   * @throws RangeError if `atNs` is not an integer or lies in the past.
   * @throws TypeError if `fn` is not a function.
   */
  schedule(atNs: number, fn: () => void): number {
    checkInt('atNs', atNs, this.time, MAX_TIME_NS);
    if (typeof fn !== 'function') throw new TypeError(`fn must be a function, got ${typeof fn}`);
    // While a callback runs, its event's entry is still at the root (staleRoot): count it.
    if (2 * (this.size + 2) > this.slotId.length) this.grow();
    const ids = this.slotId;
    const mask = this.mask;
    let id = this.nextId;
    // `id & mask` keeps the low bits exactly for any id below 2^53.
    while (ids[id & mask] !== 0) id++; // the slot holds a long-lived event: skip this id
    this.nextId = id + 1;
    const slot = id & mask;
    ids[slot] = id;
    this.callbacks[slot] = fn;
    if (this.staleRoot) {
      // The new event (not earlier than now, and the latest id) takes the running one's place.
      this.staleRoot = false;
      this.size++;
      this.siftDown(0, atNs, id, slot);
    } else {
      this.siftUp(this.size++, atNs, id, slot);
    }
    return id;
  }

  /** Cancels a scheduled event. Unknown, already-run or already-cancelled ids are ignored. */
  cancel(id: number): void {
    if (typeof id !== 'number' || !(id > 0)) return;
    const slot = id & this.mask;
    if (this.slotId[slot] !== id) return;
    if (this.staleRoot) this.settle();
    this.removeAt(this.slotPos[slot]!);
    this.freeSlot(slot);
  }

  /** How many events are waiting. */
  pending(): number {
    return this.size;
  }

  /** The time of the next event, or `undefined` when the queue is empty. */
  nextEventTime(): number | undefined {
    if (this.staleRoot) this.settle();
    return this.size > 0 ? this.heapTime[0] : undefined;
  }

  /** True while an event's callback runs (a callback's `now()` is its event's time). */
  get inCallback(): boolean {
    return this.depth !== 0;
  }

  /**
   * Runs the earliest event, advancing time to it.
   * @returns `false` if the queue was empty.
   * @throws Error when called from inside a callback.
   */
  step(): boolean {
    if (this.depth !== 0) throw reentered('step');
    return this.runOne();
  }

  /** step() without the re-entrancy check (runUntil's loop). */
  private runOne(): boolean {
    if (this.staleRoot) this.settle();
    if (this.size === 0) return false;
    const slot = this.heapSlot[0]!;
    this.time = this.heapTime[0]!;
    const fn = this.callbacks[slot]!;
    // The event is gone for the callback (pending() excludes it, cancelling its id is a no-op);
    // its heap entry stays at the root until the callback schedules or returns.
    this.freeSlot(slot);
    this.size--;
    this.staleRoot = true;
    this.depth++;
    try {
      fn();
    } finally {
      this.depth--;
    }
    if (this.staleRoot) this.settle();
    return true;
  }

  /**
   * Runs every event due at or before `ns`, in order, then sets the time to `ns`.
   * Events scheduled by callbacks for times <= `ns` run in the same call.
   * @throws RangeError if `ns` is not an integer or is earlier than `now()`.
   * @throws Error when called from inside a callback.
   */
  runUntil(ns: number): void {
    if (this.depth !== 0) throw reentered('runUntil');
    checkInt('ns', ns, this.time, MAX_TIME_NS);
    if (this.staleRoot) this.settle();
    while (this.size > 0 && this.heapTime[0]! <= ns) this.runOne();
    this.time = ns;
  }

  /**
   * Advances time to `ns` without running anything. Only legal when no event is due before
   * `ns`; emulators that own the clock use it between their own calls to {@link step}.
   * @throws RangeError if `ns` is in the past or an event is due earlier.
   * @throws Error when called from inside a callback.
   */
  advanceTo(ns: number): void {
    if (this.depth !== 0) throw reentered('advanceTo');
    checkInt('ns', ns, this.time, MAX_TIME_NS);
    const next = this.nextEventTime();
    if (next !== undefined && next < ns) {
      throw new RangeError(`ns must be <= the next event time ${next}, got ${ns}`);
    }
    this.time = ns;
  }

  // ---- heap ----------------------------------------------------------------------------------

  /** Removes the entry at heap position `pos` (freeing its slot is the caller's). */
  private removeAt(pos: number): void {
    const last = --this.size;
    if (pos === last) return;
    const t = this.heapTime[last]!;
    const slot = this.heapSlot[last]!;
    const id = this.slotId[slot]!;
    // The last entry fills the hole: it moves up if it beats the hole's parent, else down.
    if (pos > 0) {
      const parent = (pos - 1) >> 1;
      const pt = this.heapTime[parent]!;
      if (t < pt || (t === pt && id < this.slotId[this.heapSlot[parent]!]!)) {
        this.siftUp(pos, t, id, slot);
        return;
      }
    }
    this.siftDown(pos, t, id, slot);
  }

  /**
   * Finishes the pop of the event that step() ran (removes the stale root) with Floyd's
   * bottom-up deletion: the hole walks down to a leaf along the smaller children, one comparison
   * per level, then the last entry fills it and sifts up, which is short because the last entry
   * is usually among the latest.
   */
  private settle(): void {
    this.staleRoot = false;
    const last = this.size; // entries are at 0..size, the root being the stale one
    if (last === 0) return;
    const ht = this.heapTime;
    const hs = this.heapSlot;
    const ids = this.slotId;
    const sp = this.slotPos;
    let pos = 0;
    for (;;) {
      let child = 2 * pos + 1;
      if (child >= last) break;
      if (child + 1 < last) child += rightIsSmaller(ht, hs, ids, child);
      ht[pos] = ht[child]!;
      const cs = hs[child]!;
      hs[pos] = cs;
      sp[cs] = pos;
      pos = child;
    }
    if (pos !== last) this.siftUp(pos, ht[last]!, ids[hs[last]!]!, hs[last]!);
  }

  /** Places (t, id, slot) at `pos` or above, moving parents down into the hole. */
  private siftUp(pos: number, t: number, id: number, slot: number): void {
    const ht = this.heapTime;
    const hs = this.heapSlot;
    const sp = this.slotPos;
    while (pos > 0) {
      const parent = (pos - 1) >> 1;
      const pt = ht[parent]!;
      if (pt < t || (pt === t && this.slotId[hs[parent]!]! < id)) break;
      ht[pos] = pt;
      const ps = hs[parent]!;
      hs[pos] = ps;
      sp[ps] = pos;
      pos = parent;
    }
    ht[pos] = t;
    hs[pos] = slot;
    sp[slot] = pos;
  }

  /** Places (t, id, slot) at `pos` or below, moving the smaller child up into the hole. */
  private siftDown(pos: number, t: number, id: number, slot: number): void {
    const ht = this.heapTime;
    const hs = this.heapSlot;
    const ids = this.slotId;
    const sp = this.slotPos;
    const n = this.size;
    for (;;) {
      let child = 2 * pos + 1;
      if (child >= n) break;
      if (child + 1 < n) child += rightIsSmaller(ht, hs, ids, child);
      const ct = ht[child]!;
      if (t < ct || (t === ct && id < ids[hs[child]!]!)) break;
      ht[pos] = ct;
      const cs = hs[child]!;
      hs[pos] = cs;
      sp[cs] = pos;
      pos = child;
    }
    ht[pos] = t;
    hs[pos] = slot;
    sp[slot] = pos;
  }

  // ---- pool ----------------------------------------------------------------------------------

  private freeSlot(slot: number): void {
    this.slotId[slot] = 0;
    this.callbacks[slot] = undefined; // drop the reference: the callback may hold a device
  }

  /** Doubles the heap and the pool, re-placing each pending event at id mod the new capacity. */
  private grow(): void {
    const cap = this.slotId.length * 2;
    const oldIds = this.slotId;
    const oldPos = this.slotPos;
    const oldCallbacks = this.callbacks;
    this.mask = cap - 1;
    this.slotId = new Float64Array(cap);
    this.slotPos = new Int32Array(cap);
    this.callbacks = emptyCallbacks(cap);
    const heapTime = new Float64Array(cap);
    heapTime.set(this.heapTime);
    this.heapTime = heapTime;
    this.heapSlot = new Int32Array(cap);
    // Ids in distinct slots mod the old capacity stay distinct mod the doubled one.
    for (let s = 0; s < oldIds.length; s++) {
      const id = oldIds[s]!;
      if (id === 0) continue;
      const slot = id & this.mask;
      const pos = oldPos[s]!;
      this.slotId[slot] = id;
      this.slotPos[slot] = pos;
      this.callbacks[slot] = oldCallbacks[s];
      this.heapSlot[pos] = slot;
    }
  }
}

/** A callback tried to run the queue it is running from. */
function reentered(method: string): Error {
  return new Error(`Scheduler.${method}() called from inside a scheduler callback: a callback may schedule and cancel events, not run the queue`);
}

/** A packed (not holey) array of `n` empty callback entries. */
function emptyCallbacks(n: number): Array<(() => void) | undefined> {
  const a: Array<(() => void) | undefined> = [];
  for (let i = 0; i < n; i++) a.push(undefined);
  return a;
}

/**
 * 1 if heap entry `left + 1` orders before entry `left`, else 0, computed without a branch: which
 * child is smaller is a coin toss, and a mispredicted branch per heap level costs more than the
 * extra id comparison.
 */
function rightIsSmaller(ht: Float64Array, hs: Int32Array, ids: Float64Array, left: number): number {
  const lt = ht[left]!;
  const rt = ht[left + 1]!;
  const smaller = +(rt < lt);
  // Equal times are rare, so this branch is predictable; only then do the ids decide.
  return rt !== lt ? smaller : +(ids[hs[left + 1]!]! < ids[hs[left]!]!);
}
