/**
 * Chrome Trace Event export: the JSON that Perfetto (ui.perfetto.dev) and chrome://tracing open.
 *
 * Layout (format reference: "Trace Event Format", the Google document linked from the Perfetto
 * and Catapult docs):
 * - one process (pid 1) named after the machine, and one thread track per vCPU (tid = vCPU + 1,
 *   named `vCPU n`, sorted by vCPU);
 * - complete events (`ph: 'X'`) for spans: interrupt handlers (`IRQ 0x40`, `ExtINT 0x08`, `NMI`,
 *   category `handler`), time in the hypervisor after an exit (`vmexit <reason>`, category
 *   `vmexit`), HLT (`halted`) and INIT resets, nested as on the vCPU;
 * - instant events (`ph: 'i'`, thread scope) for exits (`exit <reason>`, category `exit`),
 *   requests, coalesced requests, injections, V_IRQ, posted interrupts, EOIs, lost and doubled
 *   interrupts (category `checker`), faults, records, INIT/SIPI and the end of a program;
 * - counter events (`ph: 'C'`) named `IRR/ISR vCPU n` with series `IRR` and `ISR`: the
 *   population of the architectural IRR and ISR of each vCPU after every change.
 *
 * Times (`ts`, `dur`) are microseconds, as the format requires; virtual nanoseconds divide
 * exactly into them (`displayTimeUnit: 'ns'` asks viewers to show nanoseconds). The output is a
 * plain object: `JSON.stringify` it. The same trace always gives the same JSON.
 *
 * @module
 */
import { buildSpans, cpuCount, hexVector, irrIsrCounters, lastTime } from './spans.js';
import type { TraceEvent } from './trace.js';

export interface ChromeTraceOptions {
  /** Number of vCPU tracks (default: as many as the events mention). */
  cpus?: number;
  /** End of the run in virtual ns: spans still open end here (default: the last event's time). */
  endNs?: number;
  /** Name of the process track (default `irqchip`). */
  title?: string;
  /** Emit the IRR/ISR counters (default true). */
  counters?: boolean;
  /** Extra entries for `otherData` (scenario, backend, seed...). */
  metadata?: Record<string, string | number>;
}

export type ChromeArgs = Record<string, string | number>;

/** One Trace Event Format event (the subset this exporter writes). */
export interface ChromeTraceEvent {
  name: string;
  /** 'M' metadata, 'X' complete (span), 'i' instant, 'C' counter. */
  ph: 'M' | 'X' | 'i' | 'C';
  /** Microseconds. */
  ts: number;
  pid: number;
  tid: number;
  cat?: string;
  /** Duration in microseconds ('X'). */
  dur?: number;
  /** Scope of an instant: 't' thread. */
  s?: 't' | 'p' | 'g';
  args?: ChromeArgs;
}

/** The JSON object format of a Chrome trace. */
export interface ChromeTrace {
  traceEvents: ChromeTraceEvent[];
  displayTimeUnit: 'ns' | 'ms';
  otherData: ChromeArgs;
}

/** The process id of the machine in the exported trace. */
export const CHROME_PID = 1;

/** The thread id of a vCPU's track. */
export function chromeTid(cpu: number): number {
  return cpu + 1;
}

const us = (ns: number): number => ns / 1000;

/** Builds the Chrome Trace Event JSON object for a list of trace events. */
export function toChromeTrace(events: readonly TraceEvent[], opts: ChromeTraceOptions = {}): ChromeTrace {
  const cpus = Math.max(opts.cpus ?? 0, cpuCount(events));
  const endNs = Math.max(opts.endNs ?? 0, lastTime(events));
  const pid = CHROME_PID;
  const meta: ChromeTraceEvent[] = [
    { name: 'process_name', ph: 'M', ts: 0, pid, tid: 0, args: { name: opts.title ?? 'irqchip' } },
  ];
  for (let cpu = 0; cpu < cpus; cpu++) {
    const tid = chromeTid(cpu);
    meta.push({ name: 'thread_name', ph: 'M', ts: 0, pid, tid, args: { name: `vCPU ${cpu}` } });
    meta.push({ name: 'thread_sort_index', ph: 'M', ts: 0, pid, tid, args: { sort_index: cpu } });
  }

  const timed: ChromeTraceEvent[] = [];
  for (const s of buildSpans(events, endNs)) {
    const args: ChromeArgs = { depth: s.depth };
    if (s.vector >= 0) args.vector = hexVector(s.vector);
    if (s.detail !== '') args[s.kind === 'handler' ? 'source' : 'reason'] = s.detail;
    timed.push({ name: s.name, cat: s.kind, ph: 'X', ts: us(s.startNs), dur: us(s.endNs - s.startNs), pid, tid: chromeTid(s.cpu), args });
  }
  for (const e of events) {
    const instant = instantOf(e);
    if (instant === null) continue;
    const ev: ChromeTraceEvent = { name: instant.name, cat: instant.cat, ph: 'i', s: 't', ts: us(e.timeNs), pid, tid: chromeTid(e.cpu) };
    if (instant.args !== undefined) ev.args = instant.args;
    timed.push(ev);
  }
  if (opts.counters ?? true) {
    for (const c of irrIsrCounters(events, cpus)) {
      timed.push({ name: `IRR/ISR vCPU ${c.cpu}`, cat: 'apic', ph: 'C', ts: us(c.timeNs), pid, tid: chromeTid(c.cpu), args: { IRR: c.irr, ISR: c.isr } });
    }
  }
  // Time order; spans before instants at the same time, an outer span before the spans inside
  // it (longer first). Array.prototype.sort is stable, so ties keep the order above.
  timed.sort((a, b) => a.ts - b.ts || rank(a) - rank(b) || (b.dur ?? 0) - (a.dur ?? 0));
  return {
    traceEvents: [...meta, ...timed],
    displayTimeUnit: 'ns',
    otherData: { generator: 'irqchip', cpus, endNs, events: events.length, ...(opts.metadata ?? {}) },
  };
}

function rank(e: ChromeTraceEvent): number {
  return e.ph === 'X' ? 0 : e.ph === 'C' ? 1 : 2;
}

interface Instant {
  name: string;
  cat: string;
  args?: ChromeArgs;
}

function instantOf(e: TraceEvent): Instant | null {
  const v = hexVector(e.a);
  switch (e.kind) {
    case 'exit':
      return { name: `exit ${e.label ?? ''}`.trimEnd(), cat: 'exit', args: { reason: e.label ?? '' } };
    case 'request':
      return { name: `request ${v}`, cat: 'apic', args: { vector: v } };
    case 'coalesced':
      return { name: `coalesced ${v}`, cat: 'apic', args: { vector: v } };
    case 'eoi':
      return { name: 'EOI', cat: 'apic' };
    case 'inject':
      return { name: e.b === 2 ? 'inject NMI' : `inject ${e.b === 1 ? 'ExtINT ' : ''}${v}`, cat: 'inject', args: { vector: v } };
    case 'vintr':
      return { name: `V_IRQ ${v}`, cat: 'inject', args: { vector: v } };
    case 'posted':
      return { name: `posted ${v}`, cat: 'inject', args: { vector: v } };
    case 'lost':
      return { name: `LOST ${v}`, cat: 'checker', args: { vector: v } };
    case 'doubled':
      return { name: `DOUBLED ${v}`, cat: 'checker', args: { vector: v } };
    case 'wrong-level':
      return { name: `WRONG LEVEL ${v}`, cat: 'checker', args: { vector: v } };
    case 'nested-entry':
      return { name: `${e.label ?? 'vmenter'} -> L2`, cat: 'nested', args: e.b >= 0 ? { inject: hexVector(e.b) } : {} };
    case 'nested-exit':
      return { name: `L2 -> L1 ${e.label ?? ''}`.trimEnd(), cat: 'nested', args: e.a >= 0 ? { reason: e.label ?? '', vector: v } : { reason: e.label ?? '' } };
    case 'fault':
      return { name: `fault: ${e.label ?? ''}`, cat: 'guest' };
    case 'vectoring':
      return { name: `vectoring ${e.b === 2 ? 'NMI' : e.b === 3 ? `exception ${v}` : v}`, cat: 'exit', args: { vector: v, type: e.b } };
    case 'reinject':
      return { name: `${e.label === 'dropped' ? 'DROPPED re-injection of' : 're-inject'} ${v}`, cat: 'inject', args: { vector: v, type: e.b } };
    case 'record':
      return { name: e.label ?? 'record', cat: 'record', args: { value: e.a } };
    case 'init':
      return { name: 'INIT', cat: 'cpu' };
    case 'sipi':
      return { name: `SIPI ${v}`, cat: 'cpu', args: { vector: v } };
    case 'wake':
      return { name: 'wake', cat: 'cpu' };
    case 'done':
      return { name: 'done', cat: 'guest' };
    default:
      // deliver, nmi, iret, halt and entry are the edges of spans.
      return null;
  }
}
