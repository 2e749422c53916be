/**
 * The machine's trace: every state change that matters, as typed events with virtual time and
 * vCPU, and a hash that is stable across machines and Node versions (FNV-1a over the integer
 * fields and label strings; no floating point, no object iteration order).
 *
 * @module
 */
import { toChromeTrace, type ChromeTrace, type ChromeTraceOptions } from './chrome.js';

export type TraceKind =
  /** A fixed interrupt entered IRR (a). */
  | 'request'
  /** A fixed interrupt merged into a pending one (a). */
  | 'coalesced'
  /** A handler was entered for vector a; b = 1 for an ExtINT from the 8259A, 2 for spurious. */
  | 'deliver'
  | 'nmi'
  /** A handler returned (IRET): a = its vector (2 for the NMI handler), b = 1 for the NMI handler. */
  | 'iret'
  /** The guest wrote the local APIC's EOI register (MMIO 0xB0 or x2APIC MSR 0x80B). */
  | 'eoi'
  /** A VM exit; label = reason. */
  | 'exit'
  | 'entry'
  /** Event injection at VM entry of vector a (b = 1 for ExtINT). */
  | 'inject'
  /** SVM: V_IRQ programmed with vector a. */
  | 'vintr'
  /** VMX: vector a posted into the PIR. */
  | 'posted'
  | 'halt'
  | 'wake'
  | 'init'
  | 'sipi'
  | 'done'
  /** The checker found an interrupt lost (a = vector). */
  | 'lost'
  /** The checker found an interrupt delivered twice (a = vector). */
  | 'doubled'
  /** A guest fault (#GP...); label says what. */
  | 'fault'
  /** A guest `record` instruction: label, a = the variable's value. */
  | 'record'
  /** Local APIC: a vector entered ISR (a = vector, b = PPR after). */
  | 'isr-set'
  /** Local APIC: a vector left ISR (a = vector, b = PPR after). */
  | 'isr-clear'
  /** Local APIC: PPR changed (a = PPR, b = TPR). */
  | 'ppr'
  /** Local APIC: an ICR write sent an IPI (a = ICR low, b = destination). */
  | 'ipi-send'
  /** APIC bus: an IPI was accepted (a = delivery mode, b = vector). */
  | 'ipi-receive'
  /** I/O APIC: remote IRR set on a pin (a = pin, b = vector). */
  | 'remote-irr-set'
  /** I/O APIC: an EOI cleared remote IRR (a = pin, b = vector). */
  | 'remote-irr-clear'
  /** 8259A: an INTA cycle (a = master IR or -1, b = vector). */
  | 'pic-inta'
  /** Local APIC timer armed (a = expiry time in ns). */
  | 'timer-arm'
  /** Local APIC timer expired (a = LVT timer vector). */
  | 'timer-fire'
  /**
   * Nested: L0 emulated L1's VMLAUNCH / VMRESUME / VMRUN (a = 1 for a launch, b = the vector L1
   * injects or -1; label = the instruction). docs/nested.md.
   */
  | 'nested-entry'
  /**
   * Nested: an emulated exit from L2 to L1 (label = reason; a = the exit's vector or -1; b = 1 if
   * a local APIC vector was acknowledged on exit, 2 an ExtINT vector, 0 none).
   */
  | 'nested-exit'
  /** The checker found an interrupt for L1 delivered to L2 although L1 asked to exit on it (a = vector). */
  | 'wrong-level'
  /** An exception handler was entered (a = vector, b = error code). docs/machine.md. */
  | 'exception'
  /**
   * An exit interrupted an event's delivery and reports it (VMX IDT-vectoring information, SVM
   * EXITINTINFO): a = vector, b = type (0 external interrupt, 2 NMI, 3 hardware exception).
   */
  | 'vectoring'
  /** The hypervisor re-injected that event at VM entry (a = vector, b = type); label 'dropped' if it dropped it. */
  | 'reinject';

export interface TraceEvent {
  timeNs: number;
  cpu: number;
  kind: TraceKind;
  a: number;
  b: number;
  label?: string;
}

import type { StateReader, StateWriter } from '../codec/state.js';
import { checkInt, checkObject } from '../errors.js';

const FNV_OFFSET = 0x811c9dc5;
/** Snapshot codes of the trace kinds; a Record so the compiler insists every kind has one. */
const KIND_CODES: Record<TraceKind, number> = {
  request: 0, coalesced: 1, deliver: 2, nmi: 3, exit: 4, entry: 5, inject: 6, vintr: 7, posted: 8, halt: 9,
  wake: 10, init: 11, sipi: 12, done: 13, lost: 14, doubled: 15, fault: 16, record: 17, iret: 18, eoi: 19,
  'isr-set': 20, 'isr-clear': 21, ppr: 22, 'ipi-send': 23, 'ipi-receive': 24, 'remote-irr-set': 25,
  'remote-irr-clear': 26, 'pic-inta': 27, 'timer-arm': 28, 'timer-fire': 29,
  'nested-entry': 30, 'nested-exit': 31, 'wrong-level': 32, exception: 33, vectoring: 34, reinject: 35,
};
const KINDS: readonly TraceKind[] = (Object.keys(KIND_CODES) as TraceKind[]).sort((a, b) => KIND_CODES[a] - KIND_CODES[b]);
/** A bound on restored traces, so hostile input cannot ask for unbounded memory. */
const MAX_RESTORED_EVENTS = 50_000_000;
const FNV_PRIME = 0x01000193;

/** Options of a {@link Trace}. */
export interface TraceOptions {
  /**
   * Ring mode: keep only the last `limit` events (1..50,000,000); {@link Trace.dropped} counts
   * the older ones that were discarded. Default: keep everything.
   */
  limit?: number;
}

/** Snapshot flag bits of the trace section's first byte (bit 0 was the plain `enabled` bool). */
const FLAG_ENABLED = 1;
const FLAG_RING = 2;

/**
 * The machine's trace: typed events with virtual time and vCPU (requests, deliveries, exits, IPIs,
 * checker findings), a hash that is the same on every machine and Node version, and an export to
 * Chrome Trace Event JSON (Perfetto). The SVG timeline renderer takes a Trace too; it is in its own
 * entry point, `irqchip/svg` (docs/machine.md, "Trace").
 *
 * @example
 * ```ts
 * import { Machine } from 'irqchip';
 *
 * const m = new Machine({ cpus: 2, backend: 'svm-vintr' });
 * const run = m.run(1_000_000);
 * m.trace.events().filter((e) => e.kind === 'lost'); // what the checker found
 * m.trace.hash();                                     // 8 hex digits, stable
 * const perfetto = m.trace.toChromeTrace({ endNs: run.timeNs });
 * ```
 */
export class Trace {
  /** The events; in ring mode a circular buffer whose oldest event is at `head`. */
  #list: TraceEvent[] = [];
  #head = 0;
  /** Ring capacity, 0 when unbounded. */
  readonly limit: number;
  #droppedCount = 0;
  /** FNV-1a state after every dropped event (ring mode), so hash() still covers them. */
  #prefix = FNV_OFFSET;
  /** Set false to record nothing (the hash then covers nothing either). */
  enabled = true;
  /**
   * Called with each event as it is recorded (also in ring mode, before the event can be
   * dropped), e.g. to keep the few events a summary needs from a bounded trace. Not saved in
   * snapshots. It must not record trace events itself.
   */
  onEvent: ((e: TraceEvent) => void) | undefined = undefined;

  /**
   * @throws RangeError / TypeError unless `limit` is an integer in 1..50,000,000.
   *
   * An empty trace; with `opts.limit` it keeps only the last `limit` events (a ring), the hash still covering all.
   */
  constructor(opts: TraceOptions = {}) {
    checkObject('opts', opts);
    this.limit = opts.limit === undefined ? 0 : checkInt('limit', opts.limit, 1, MAX_RESTORED_EVENTS);
  }

  /** Appends an event (in ring mode, replacing the oldest one once `limit` are held). */
  add(timeNs: number, cpu: number, kind: TraceKind, a = 0, b = 0, label?: string): void {
    if (!this.enabled) return;
    const e: TraceEvent = label === undefined ? { timeNs, cpu, kind, a, b } : { timeNs, cpu, kind, a, b, label };
    this.onEvent?.(e);
    const list = this.#list;
    if (this.limit === 0 || list.length < this.limit) {
      list.push(e);
      return;
    }
    const i = this.#head;
    this.#prefix = foldEvent(this.#prefix, list[i]!);
    this.#droppedCount++;
    list[i] = e;
    this.#head = i + 1 === this.limit ? 0 : i + 1;
  }

  /**
   * The events held, oldest first (in ring mode, the last `limit`).
   *
   * @example
   * ```ts
   * import { Trace } from 'irqchip';
   *
   * const t = new Trace();
   * t.add(0, 0, 'deliver', 0x40);
   * t.add(500, 0, 'iret', 0x40);
   * t.events().map((e) => `${e.timeNs} ${e.kind}`); // ['0 deliver', '500 iret']
   * ```
   */
  events(): readonly TraceEvent[] {
    return this.#ordered();
  }

  /** Events of one kind (and optionally one vCPU). */
  filter(kind: TraceKind, cpu?: number): TraceEvent[] {
    return this.#ordered().filter((e) => e.kind === kind && (cpu === undefined || e.cpu === cpu));
  }

  /** Events held (at most `limit` in ring mode). */
  get length(): number {
    return this.#list.length;
  }

  /** Every event recorded since the start (held + dropped): what {@link Trace.hash} covers. */
  get recorded(): number {
    return this.#list.length + this.#droppedCount;
  }

  /** Events discarded by ring mode (0 when unbounded). */
  get dropped(): number {
    return this.#droppedCount;
  }

  /** The buffer in time order: a ring that wrapped is rotated once, in place. */
  #ordered(): TraceEvent[] {
    if (this.#head !== 0) {
      this.#list = this.#list.slice(this.#head).concat(this.#list.slice(0, this.#head));
      this.#head = 0;
    }
    return this.#list;
  }

  /**
   * Writes the trace into a snapshot section. The first byte is a flag set (bit 0 enabled, bit 1
   * ring mode); only in ring mode do the dropped count and the hash prefix follow, so a trace
   * without a limit is saved exactly as before ring mode existed.
   * @internal
   */
  saveState(w: StateWriter): void {
    const list = this.#ordered();
    w.u8((this.enabled ? FLAG_ENABLED : 0) | (this.limit > 0 ? FLAG_RING : 0));
    if (this.limit > 0) w.uint(this.#droppedCount).u32(this.#prefix);
    w.u32(list.length);
    for (const e of list) {
      w.uint(e.timeNs).u32(e.cpu).u8(KIND_CODES[e.kind]).int(e.a).int(e.b);
      w.bool(e.label !== undefined);
      if (e.label !== undefined) w.str(e.label);
    }
  }

  /** @internal Snapshot and machine plumbing, not for users. */
  readState(r: StateReader): () => void {
    const flags = r.u8('enabled', FLAG_ENABLED | FLAG_RING);
    const enabled = (flags & FLAG_ENABLED) !== 0;
    let dropped = 0;
    let prefix = FNV_OFFSET;
    if ((flags & FLAG_RING) !== 0) {
      if (this.limit === 0) r.fail('enabled', 'a ring-mode trace cannot be restored into a trace without a limit');
      dropped = r.uint('dropped');
      prefix = r.u32('prefixHash');
    }
    const n = r.count('events', this.limit > 0 ? this.limit : MAX_RESTORED_EVENTS);
    if (dropped > 0 && n !== this.limit) r.fail('events', `a ring that dropped events holds ${this.limit}, got ${n}`);
    const list: TraceEvent[] = [];
    for (let i = 0; i < n; i++) {
      const timeNs = r.uint('event.time');
      const cpu = r.u32('event.cpu');
      const kind = KINDS[r.u8('event.kind', KINDS.length - 1)]!;
      const a = r.int('event.a');
      const b = r.int('event.b');
      const label = r.bool('event.hasLabel') ? r.str('event.label', 4096) : undefined;
      list.push(label === undefined ? { timeNs, cpu, kind, a, b } : { timeNs, cpu, kind, a, b, label });
    }
    return () => {
      this.enabled = enabled;
      this.#list = list;
      this.#head = 0;
      this.#droppedCount = dropped;
      this.#prefix = prefix;
    };
  }

  /**
   * The trace as a Chrome Trace Event JSON object (Perfetto, chrome://tracing): one track per
   * vCPU, handler and VM-exit spans, exits and checker findings as instants, IRR/ISR counters.
   * `JSON.stringify` the result. See trace/chrome.ts. In ring mode it shows the events held.
   *
   * @example
   * ```ts
   * import { writeFileSync } from 'node:fs';
   * import { Machine } from 'irqchip';
   *
   * const m = new Machine({ cpus: 2, backend: 'vmx-posted' });
   * const run = m.run(1_000_000);
   * writeFileSync('trace.json', JSON.stringify(m.trace.toChromeTrace({ endNs: run.timeNs }))); // open in Perfetto
   * ```
   */
  toChromeTrace(opts?: ChromeTraceOptions): ChromeTrace {
    return toChromeTrace(this.#ordered(), opts);
  }

  /**
   * A 32-bit FNV-1a hash of every event recorded, as 8 hex digits. In ring mode it still covers
   * the dropped events: each is folded into a running prefix as it leaves the ring, so the hash
   * is the one the same run gives without a limit.
   *
   * @example
   * ```ts
   * import { Machine } from 'irqchip';
   *
   * const a = new Machine({ cpus: 2, backend: 'vmx-vid', seed: 7 });
   * const b = new Machine({ cpus: 2, backend: 'vmx-vid', seed: 7 });
   * a.run(100_000); b.run(100_000);
   * a.trace.hash() === b.trace.hash(); // true: same inputs, same trace
   * ```
   */
  hash(): string {
    let h = this.#prefix;
    for (const e of this.#ordered()) h = foldEvent(h, e);
    return h.toString(16).padStart(8, '0');
  }
}

/** Mixes a number into an FNV-1a state as two 32-bit halves (times beyond 2^32 ns count fully). */
function mixNumber(h: number, n: number): number {
  return mixWord(mixWord(h, n >>> 0), Math.floor(n / 0x1_0000_0000) >>> 0);
}

function mixWord(h: number, w: number): number {
  for (let i = 0; i < 4; i++) {
    h ^= (w >>> (i * 8)) & 0xff;
    h = Math.imul(h, FNV_PRIME) >>> 0;
  }
  return h;
}

/** Folds one event into an FNV-1a state: time, vCPU, kind name, a, b, label (UTF-16 units, low byte first). */
function foldEvent(state: number, e: TraceEvent): number {
  let h = mixNumber(mixNumber(state, e.timeNs), e.cpu);
  const k = e.kind;
  for (let i = 0; i < k.length; i++) {
    h ^= k.charCodeAt(i);
    h = Math.imul(h, FNV_PRIME) >>> 0;
  }
  h = mixNumber(mixNumber(h, e.a), e.b);
  const label = e.label;
  if (label !== undefined) {
    for (let i = 0; i < label.length; i++) {
      h ^= label.charCodeAt(i) & 0xff;
      h = Math.imul(h, FNV_PRIME) >>> 0;
      h ^= label.charCodeAt(i) >>> 8;
      h = Math.imul(h, FNV_PRIME) >>> 0;
    }
  }
  return h;
}
