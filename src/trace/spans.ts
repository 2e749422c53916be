/**
 * Turns the flat event list of a {@link Trace} into what a timeline shows: per vCPU, nested spans
 * (interrupt handlers, time in the hypervisor after a VM exit, HLT) and the population of the
 * architectural IRR and ISR over time. Shared by the Chrome Trace Event export and the SVG
 * timeline.
 *
 * Spans nest properly by construction: each vCPU keeps a stack of open spans and closing one
 * closes every span opened inside it at the same moment, so viewers that need strict nesting
 * (Perfetto, chrome://tracing) accept the result.
 *
 * @module
 */
import type { TraceEvent } from './trace.js';

export type SpanKind =
  /** An interrupt or NMI handler: from entering it (deliver / nmi) to its IRET. */
  | 'handler'
  /** In the hypervisor: from a VM exit to the next VM entry. */
  | 'vmexit'
  /** Halted: from HLT blocking the vCPU to its wake-up. */
  | 'halted'
  /** After INIT: reset (an AP waits for SIPI) until the next VM entry. */
  | 'init';

export interface Span {
  cpu: number;
  kind: SpanKind;
  /** Short name for display: `IRQ 0x40`, `ExtINT 0x08`, `NMI`, `vmexit hlt`, `halted`, `INIT`. */
  name: string;
  startNs: number;
  endNs: number;
  /** Nesting depth on the vCPU's track (0 = outermost). */
  depth: number;
  /** The handler's vector (2 for NMI), or -1. */
  vector: number;
  /** For handlers: 'lapic', 'extint', 'spurious' or 'nmi'; for vmexit spans the exit reason. */
  detail: string;
}

/** The IRR / ISR population of one vCPU from `timeNs` on. */
export interface CounterSample {
  timeNs: number;
  cpu: number;
  /** Vectors requested and not yet delivered (the delivery checker's architectural IRR). */
  irr: number;
  /** Vectors whose handler was entered and that have not been EOIed. */
  isr: number;
}

/** Formats a vector as `0x40`. */
export function hexVector(v: number): string {
  return `0x${v.toString(16).padStart(2, '0')}`;
}

/** Number of vCPUs the events mention (highest cpu + 1, at least 1). */
export function cpuCount(events: readonly TraceEvent[]): number {
  let n = 0;
  for (const e of events) if (e.cpu + 1 > n) n = e.cpu + 1;
  return Math.max(n, 1);
}

/** The time the last event happened (0 for no events). */
export function lastTime(events: readonly TraceEvent[]): number {
  return events.length === 0 ? 0 : events[events.length - 1]!.timeNs;
}

interface Open {
  kind: SpanKind;
  name: string;
  startNs: number;
  vector: number;
  detail: string;
}

/**
 * The spans of every vCPU, ordered by start time (a parent before the spans inside it). Spans
 * still open at `endNs` (default: the last event's time) end there.
 */
export function buildSpans(events: readonly TraceEvent[], endNs = lastTime(events)): Span[] {
  const stacks: Open[][] = [];
  const out: Span[] = [];
  const stackOf = (cpu: number): Open[] => {
    let s = stacks[cpu];
    if (s === undefined) {
      s = [];
      stacks[cpu] = s;
    }
    return s;
  };
  const close = (cpu: number, stack: Open[], downTo: number, atNs: number): void => {
    while (stack.length > downTo) {
      const o = stack.pop()!;
      out.push({ cpu, kind: o.kind, name: o.name, startNs: o.startNs, endNs: Math.max(atNs, o.startNs), depth: stack.length, vector: o.vector, detail: o.detail });
    }
  };
  /** Closes the innermost open span of `kind` and everything inside it. */
  const closeKind = (cpu: number, stack: Open[], kind: SpanKind, atNs: number): void => {
    for (let i = stack.length - 1; i >= 0; i--) {
      if (stack[i]!.kind === kind) {
        close(cpu, stack, i, atNs);
        return;
      }
    }
  };
  for (const e of events) {
    const stack = stackOf(e.cpu);
    const t = e.timeNs;
    switch (e.kind) {
      case 'deliver': {
        const source = e.b === 1 ? 'extint' : e.b === 2 ? 'spurious' : e.b === 3 ? 'l1' : 'lapic';
        const label = source === 'extint' ? 'ExtINT' : source === 'spurious' ? 'spurious' : source === 'l1' ? 'from L1' : 'IRQ';
        // Nested: an L2 handler is labelled 'L2' in the trace (docs/nested.md).
        const level = e.label === 'L2' ? 'L2 ' : '';
        stack.push({ kind: 'handler', name: `${level}${label} ${hexVector(e.a)}`, startNs: t, vector: e.a, detail: source });
        break;
      }
      case 'nmi':
        stack.push({ kind: 'handler', name: 'NMI', startNs: t, vector: 2, detail: 'nmi' });
        break;
      case 'exception':
        stack.push({ kind: 'handler', name: `exception ${e.a}`, startNs: t, vector: e.a, detail: 'exception' });
        break;
      case 'iret':
        closeKind(e.cpu, stack, 'handler', t);
        break;
      case 'exit':
        stack.push({ kind: 'vmexit', name: `vmexit ${e.label ?? ''}`.trimEnd(), startNs: t, vector: -1, detail: e.label ?? '' });
        break;
      case 'halt':
        stack.push({ kind: 'halted', name: 'halted', startNs: t, vector: -1, detail: '' });
        break;
      case 'wake':
        closeKind(e.cpu, stack, 'halted', t);
        break;
      case 'entry':
        // A VM entry ends the hypervisor's turn (and a halt or an INIT reset inside it).
        for (let i = stack.length - 1; i >= 0; i--) {
          const k = stack[i]!.kind;
          if (k === 'vmexit' || k === 'init') {
            close(e.cpu, stack, i, t);
            break;
          }
        }
        break;
      case 'init':
        // INIT resets the CPU: every handler frame is gone; it waits in the hypervisor (an AP for SIPI).
        close(e.cpu, stack, 0, t);
        stack.push({ kind: 'init', name: 'INIT', startNs: t, vector: -1, detail: '' });
        break;
      case 'done':
        close(e.cpu, stack, 0, t);
        break;
      default:
        break;
    }
  }
  for (let cpu = 0; cpu < stacks.length; cpu++) {
    const s = stacks[cpu];
    if (s !== undefined) close(cpu, s, 0, endNs);
  }
  // Start order; at equal starts the outer span (lower depth) first. The sort is stable.
  return out.sort((a, b) => a.startNs - b.startNs || a.cpu - b.cpu || a.depth - b.depth);
}

/**
 * The IRR and ISR population of each vCPU after every change, starting with zeros at time 0.
 * IRR counts vectors requested and not yet delivered; ISR counts vectors whose handler was
 * entered and not yet EOIed (an EOI clears the highest one, as the local APIC does). ExtINT
 * vectors (the 8259A has its own IRR/ISR) are not counted; INIT clears both.
 */
export function irrIsrCounters(events: readonly TraceEvent[], cpus = cpuCount(events)): CounterSample[] {
  const irr = Array.from({ length: cpus }, () => new Uint8Array(256));
  const isr = Array.from({ length: cpus }, () => new Uint8Array(256));
  const nIrr = new Array<number>(cpus).fill(0);
  const nIsr = new Array<number>(cpus).fill(0);
  const out: CounterSample[] = [];
  for (let cpu = 0; cpu < cpus; cpu++) out.push({ timeNs: 0, cpu, irr: 0, isr: 0 });
  for (const e of events) {
    const cpu = e.cpu;
    if (cpu >= cpus) continue;
    const r = irr[cpu]!;
    const s = isr[cpu]!;
    const before = nIrr[cpu]! * 1024 + nIsr[cpu]!;
    const v = e.a & 0xff;
    switch (e.kind) {
      case 'request':
        if (r[v] === 0) {
          r[v] = 1;
          nIrr[cpu]!++;
        }
        break;
      case 'nested-exit': // acknowledge interrupt on exit: IRR -> ISR without a handler entry
      case 'deliver':
        if ((e.kind === 'deliver' ? 0 : 1) !== e.b) break; // ExtINT / spurious / from L1 / no vector: not the local APIC's IRR/ISR
        if (r[v] === 1) {
          r[v] = 0;
          nIrr[cpu]!--;
        }
        if (s[v] === 0) {
          s[v] = 1;
          nIsr[cpu]!++;
        }
        break;
      case 'eoi':
        for (let i = 255; i >= 0; i--) {
          if (s[i] === 1) {
            s[i] = 0;
            nIsr[cpu]!--;
            break;
          }
        }
        break;
      case 'init':
        r.fill(0);
        s.fill(0);
        nIrr[cpu] = 0;
        nIsr[cpu] = 0;
        break;
      default:
        continue;
    }
    if (nIrr[cpu]! * 1024 + nIsr[cpu]! !== before) out.push({ timeNs: e.timeNs, cpu, irr: nIrr[cpu]!, isr: nIsr[cpu]! });
  }
  return out;
}
