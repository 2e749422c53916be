/**
 * The machine's trace: every state change that matters, as typed events with virtual time and
 * vCPU, and a hash that is stable across machines and Node versions (FNV-1a over the integer
 * fields and label strings; no floating point, no object iteration order).
 *
 * @module
 */

export type TraceKind =
  /** A fixed interrupt entered IRR (a). */
  | 'request'
  /** A fixed interrupt merged into a pending one (a). */
  | 'coalesced'
  /** A handler was entered for vector a; b = 1 for an ExtINT from the 8259A, 2 for spurious. */
  | 'deliver'
  | 'nmi'
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

const FNV_OFFSET = 0x811c9dc5;
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
