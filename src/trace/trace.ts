/**
 * The machine's trace: every state change that matters, as typed events with virtual time and
 * vCPU, and a hash that is stable across machines and Node versions (FNV-1a over the integer
 * fields and label strings; no floating point, no object iteration order).
 *
 * @module
 */
import { toChromeTrace, type ChromeTrace, type ChromeTraceOptions } from './chrome.js';
import { toSvg, type SvgOptions } from './svg.js';

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
  | 'record';

export interface TraceEvent {
  timeNs: number;
  cpu: number;
  kind: TraceKind;
  a: number;
  b: number;
  label?: string;
}

import type { StateReader, StateWriter } from '../codec/state.js';

const FNV_OFFSET = 0x811c9dc5;
/** Snapshot codes of the trace kinds; a Record so the compiler insists every kind has one. */
const KIND_CODES: Record<TraceKind, number> = {
  request: 0, coalesced: 1, deliver: 2, nmi: 3, exit: 4, entry: 5, inject: 6, vintr: 7, posted: 8, halt: 9,
  wake: 10, init: 11, sipi: 12, done: 13, lost: 14, doubled: 15, fault: 16, record: 17, iret: 18, eoi: 19,
};
const KINDS: readonly TraceKind[] = (Object.keys(KIND_CODES) as TraceKind[]).sort((a, b) => KIND_CODES[a] - KIND_CODES[b]);
/** A bound on restored traces, so hostile input cannot ask for unbounded memory. */
const MAX_RESTORED_EVENTS = 50_000_000;
const FNV_PRIME = 0x01000193;

export class Trace {
  private readonly list: TraceEvent[] = [];
  /** Set false to record nothing (the hash then covers nothing either). */
  enabled = true;

  /** Appends an event. */
  add(timeNs: number, cpu: number, kind: TraceKind, a = 0, b = 0, label?: string): void {
    if (!this.enabled) return;
    this.list.push(label === undefined ? { timeNs, cpu, kind, a, b } : { timeNs, cpu, kind, a, b, label });
  }

  /** The events, oldest first. */
  events(): readonly TraceEvent[] {
    return this.list;
  }

  /** Events of one kind (and optionally one vCPU). */
  filter(kind: TraceKind, cpu?: number): TraceEvent[] {
    return this.list.filter((e) => e.kind === kind && (cpu === undefined || e.cpu === cpu));
  }

  get length(): number {
    return this.list.length;
  }

  saveState(w: StateWriter): void {
    w.bool(this.enabled).u32(this.list.length);
    for (const e of this.list) {
      w.uint(e.timeNs).u32(e.cpu).u8(KIND_CODES[e.kind]).int(e.a).int(e.b);
      w.bool(e.label !== undefined);
      if (e.label !== undefined) w.str(e.label);
    }
  }

  readState(r: StateReader): () => void {
    const enabled = r.bool('enabled');
    const n = r.count('events', MAX_RESTORED_EVENTS);
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
      this.list.length = 0;
      for (const e of list) this.list.push(e);
    };
  }

  /**
   * The trace as a Chrome Trace Event JSON object (Perfetto, chrome://tracing): one track per
   * vCPU, handler and VM-exit spans, exits and checker findings as instants, IRR/ISR counters.
   * `JSON.stringify` the result. See trace/chrome.ts.
   */
  toChromeTrace(opts?: ChromeTraceOptions): ChromeTrace {
    return toChromeTrace(this.list, opts);
  }

  /** A self-contained SVG timeline, one lane per vCPU. See trace/svg.ts. */
  toSvg(opts?: SvgOptions): string {
    return toSvg(this.list, opts);
  }

  /** A 32-bit FNV-1a hash of every event, as 8 hex digits. */
  hash(): string {
    let h = FNV_OFFSET;
    const mix = (n: number): void => {
      // Hash the value as two 32-bit halves so times beyond 2^32 ns count fully.
      const lo = n >>> 0;
      const hi = Math.floor(n / 0x1_0000_0000) >>> 0;
      for (const w of [lo, hi]) {
        for (let i = 0; i < 4; i++) {
          h ^= (w >>> (i * 8)) & 0xff;
          h = Math.imul(h, FNV_PRIME) >>> 0;
        }
      }
    };
    for (const e of this.list) {
      mix(e.timeNs);
      mix(e.cpu);
      const k = e.kind;
      for (let i = 0; i < k.length; i++) {
        h ^= k.charCodeAt(i);
        h = Math.imul(h, FNV_PRIME) >>> 0;
      }
      mix(e.a);
      mix(e.b);
      const label = e.label ?? '';
      for (let i = 0; i < label.length; i++) {
        h ^= label.charCodeAt(i) & 0xff;
        h = Math.imul(h, FNV_PRIME) >>> 0;
        h ^= label.charCodeAt(i) >>> 8;
        h = Math.imul(h, FNV_PRIME) >>> 0;
      }
    }
    return h.toString(16).padStart(8, '0');
  }
}
