/**
 * A self-contained SVG timeline of a trace, for docs and bug reports: no scripts, no external
 * fonts or styles, one lane per vCPU. It is meant to answer both "where did the time go" and
 * "why was this interrupt lost" at a glance.
 *
 * Each lane has three rows, left to right in virtual time:
 * - handlers: interrupt handlers (local APIC vectors blue, ExtINT from the 8259A teal, NMI
 *   purple) labelled with their vector where they are wide enough; a nested handler shows inside
 *   the one it interrupted; handlers of an L2 guest are labelled `L2`;
 * - the CPU: guest running (green for L1 or a plain guest, yellow for an L2 guest), in the
 *   hypervisor after a VM exit (orange, labelled with the exit reason), halted (grey), INIT
 *   (violet);
 * - the interrupt state: a thin bar while a vector waits in the local APIC's IRR (from the
 *   request to the IRR -> ISR move), drawn hatched red while the bit is *stale* (the guest already
 *   took the interrupt without a VM exit, as SVM V_IRQ does, and the hypervisor has not yet moved
 *   it to ISR); how each handler was entered (injected at VM entry, or taken without an exit);
 *   and red markers for interrupts the delivery checker found lost or doubled, saying when a lost
 *   one merged into a stale IRR bit.
 * Arrows between lanes are IPIs, from the ICR write to the arrival. A gap where an I/O APIC pin's
 * level-triggered storm stops re-delivering (the storm guard's back-off) is labelled.
 *
 * Spans of one kind merge only where they are too narrow to draw apart (under two pixels), so a
 * storm of ten thousand handlers stays a small file while neighbouring VM exits stay separate;
 * a merged rectangle's tooltip counts its spans by name. Labels that would overlap are left out
 * (the tooltips keep everything). The legend lists only what the drawing shows.
 *
 * @module
 */
import { buildSpans, cpuCount, hexVector, lastTime, type Span } from './spans.js';
import type { Trace, TraceEvent } from './trace.js';

export interface SvgOptions {
  /** Total width in pixels (default 1000, at least 300). */
  width?: number;
  /** Number of vCPU lanes (default: as many as the events mention). */
  cpus?: number;
  /** Start of the time window in ns (default 0). */
  startNs?: number;
  /** End of the time window in ns; open spans end here (default: the last event's time). */
  endNs?: number;
  /** Title line at the top. */
  title?: string;
}

const LABEL_W = 70;
const RIGHT = 16;
const TITLE_H = 22;
const AXIS_H = 22;
const LANE_H = 50;
const LANE_GAP = 16;
const LEGEND_ROW_H = 16;
const HANDLER_Y = 3;
const HANDLER_H = 14;
const CPU_Y = 19;
const CPU_H = 12;
const IRQ_Y = 35;
const IRQ_H = 6;
/** Spans narrower than this (pixels) merge with a touching neighbour of the same kind. */
const MERGE_PX = 2;
/** Pixels per character of the 9 px label font (an upper bound for Helvetica / Arial digits). */
const CHAR_W = 5.2;
/** A level-triggered pin re-delivered at least this often in a row counts as a storm. */
const STORM_MIN_DELIVERIES = 1000;

const COLORS = {
  lapic: '#4c78a8',
  extint: '#2a9d8f',
  spurious: '#9d755d',
  nmi: '#8e44ad',
  vmexit: '#f58518',
  halted: '#b0b0b0',
  init: '#b279a2',
  guest: '#a8d5a2',
  guestL2: '#f2d479',
  irr: '#6b8fb8',
  lost: '#d62728',
  ipi: '#333333',
} as const;

/** XML-escapes text for element content and attribute values. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&apos;'));
}

/** A number with at most one decimal, for coordinates. */
function n1(x: number): string {
  return String(Math.round(x * 10) / 10);
}

/** A virtual time as a short human string: 850 ns, 12.5 us, 3 ms, 1.2 s. */
export function formatNs(ns: number): string {
  const fmt = (v: number): string => String(Math.round(v * 100) / 100);
  if (ns === 0) return '0';
  if (Math.abs(ns) < 1_000) return `${ns} ns`;
  if (Math.abs(ns) < 1_000_000) return `${fmt(ns / 1_000)} us`;
  if (Math.abs(ns) < 1_000_000_000) return `${fmt(ns / 1_000_000)} ms`;
  return `${fmt(ns / 1_000_000_000)} s`;
}

/** A tick step of 1, 2 or 5 times a power of ten giving at most `maxTicks` ticks over `span`. */
function tickStep(span: number, maxTicks: number): number {
  let step = 1;
  for (;;) {
    for (const m of [1, 2, 5]) {
      if (span / (step * m) <= maxTicks) return step * m;
    }
    step *= 10;
  }
}

/** One drawn bar: a span, or several that were too narrow to draw apart. */
interface Bar {
  cpu: number;
  x0: number;
  x1: number;
  y: number;
  h: number;
  color: string;
  cls: string;
  /** Label drawn inside when it fits (vector, exit reason). */
  label: string;
  startNs: number;
  endNs: number;
  /** Span names merged into this bar, with counts, in first-seen order. */
  names: Map<string, number>;
  /** Extra tooltip text of a single span. */
  note: string;
}

/** A marker or label on a lane's interrupt-state row. */
interface Mark {
  cpu: number;
  timeNs: number;
  label: string;
  title: string;
  /** 'lost' markers are red triangles, 'info' only text with a tick. */
  kind: 'lost' | 'info';
}

/** Where an interval of guest execution, an IRR wait or a storm gap is, per vCPU. */
interface Interval {
  cpu: number;
  startNs: number;
  endNs: number;
  /** For IRR waits: when the bit became stale (the handler was entered), or -1. */
  staleNs: number;
  label: string;
  level: 1 | 2;
}

interface Ipi {
  from: number;
  to: number;
  timeNs: number;
  label: string;
}

/** Whether a toSvg input is a list of events rather than a Trace (a type-only import: no runtime tie to trace.js). */
function isEventList(x: Trace | readonly TraceEvent[]): x is readonly TraceEvent[] {
  return Array.isArray(x);
}

/** The drawing's scale: virtual time to x, vCPU to lane top. */
interface Scale {
  t0: number;
  t1: number;
  cpus: number;
  x(ns: number): number;
  laneY(cpu: number): number;
}

/**
 * Renders the SVG timeline of a trace: a {@link Trace} (the events it holds, in order; in ring
 * mode the last ones) or a list of its events.
 *
 * It lives in its own entry point, `irqchip/svg`, so that a program that never draws does not
 * carry the renderer (about 5 KB gzip) in its bundle.
 *
 * @example
 * ```ts
 * import { Machine } from 'irqchip';
 * import { toSvg } from 'irqchip/svg';
 *
 * const m = new Machine({ cpus: 2, backend: 'svm-vintr' });
 * const run = m.run(1_000_000);
 * const svg = toSvg(m.trace, { endNs: run.timeNs, width: 1200, title: 'lost IPI' });
 * svg.startsWith('<svg'); // true
 * ```
 */
export function toSvg(trace: Trace | readonly TraceEvent[], opts: SvgOptions = {}): string {
  const events = isEventList(trace) ? trace : trace.events();
  const width = Math.max(300, Math.floor(opts.width ?? 1000));
  const cpus = Math.max(opts.cpus ?? 0, cpuCount(events));
  const t0 = Math.max(0, opts.startNs ?? 0);
  const t1 = Math.max(opts.endNs ?? lastTime(events), t0 + 1);
  const plotW = width - LABEL_W - RIGHT;
  const scale: Scale = {
    t0,
    t1,
    cpus,
    x: (ns) => LABEL_W + ((Math.min(Math.max(ns, t0), t1) - t0) * plotW) / (t1 - t0),
    laneY: (cpu) => TITLE_H + AXIS_H + cpu * (LANE_H + LANE_GAP),
  };
  const inWindow = (cpu: number, a: number, b = a): boolean => cpu < cpus && b >= t0 && a <= t1;

  const spans = buildSpans(events, t1).filter((s) => inWindow(s.cpu, s.startNs, s.endNs));
  const guest = guestIntervals(events, t1).filter((g) => inWindow(g.cpu, g.startNs, g.endNs));
  const irr = irrWaits(events, t1).filter((w) => inWindow(w.cpu, w.startNs, w.endNs));
  const storms = stormGaps(events, t1).filter((g) => inWindow(g.cpu, g.startNs, g.endNs));
  const ipis = ipiArrows(events).filter((i) => inWindow(i.from, i.timeNs) && i.to < cpus);
  const marks = [...deliveryMarks(events, irr), ...checkerMarks(events, irr)].filter((m) => inWindow(m.cpu, m.timeNs));
  const bars = mergeBars([...guest.map((g) => guestBar(g, scale)), ...spans.map((s) => spanBar(s, scale))]);
  labelHandlersTakenWithoutExit(bars, marks);

  const legend = legendItems(bars, irr, ipis, marks, storms);
  const legendRows = layoutLegend(legend, width);
  const height = scale.laneY(cpus) + 4 + legendRows.length * LEGEND_ROW_H + 4;

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`,
  );
  out.push(
    '<defs><pattern id="stale" width="4" height="4" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">' +
      `<rect width="4" height="4" fill="#ffffff"/><rect width="2" height="4" fill="${COLORS.lost}"/></pattern>` +
      `<marker id="arrow" viewBox="0 0 6 6" refX="5" refY="3" markerWidth="6" markerHeight="6" orient="auto"><path d="M0 0 L6 3 L0 6 Z" fill="${COLORS.ipi}"/></marker></defs>`,
  );
  out.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="8" y="15" font-size="13" font-weight="bold">${escapeXml(opts.title ?? 'irqchip trace')}</text>`);
  drawAxis(out, scale, plotW);
  for (let cpu = 0; cpu < cpus; cpu++) {
    const y = scale.laneY(cpu);
    out.push(
      `<g class="lane" data-cpu="${cpu}"><rect x="${LABEL_W}" y="${y}" width="${n1(plotW)}" height="${LANE_H}" fill="#f4f4f4"/>` +
        `<text x="8" y="${y + LANE_H / 2 + 4}">vCPU ${cpu}</text></g>`,
    );
  }
  drawBars(out, bars);
  drawIrr(out, irr, scale);
  drawStorms(out, storms, scale);
  drawMarks(out, marks, scale);
  drawIpis(out, ipis, scale);
  drawLegend(out, legendRows, scale.laneY(cpus) + 4);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function drawAxis(out: string[], s: Scale, plotW: number): void {
  const step = tickStep(s.t1 - s.t0, Math.max(2, Math.floor(plotW / 90)));
  const axisY = TITLE_H + AXIS_H - 6;
  const gridBottom = s.laneY(s.cpus) - LANE_GAP;
  out.push('<g class="axis" fill="#555555" stroke="#e0e0e0">');
  for (let t = Math.ceil(s.t0 / step) * step; t <= s.t1; t += step) {
    const tx = n1(s.x(t));
    out.push(`<line x1="${tx}" y1="${axisY + 2}" x2="${tx}" y2="${gridBottom}"/>`);
    out.push(`<text x="${tx}" y="${axisY - 2}" text-anchor="middle" stroke="none">${escapeXml(formatNs(t))}</text>`);
  }
  out.push('</g>');
}

// ---------------------------------------------------------------------------------------------
// What the events say: guest execution, IRR waits, IPIs, how handlers were entered, storms.

/**
 * Guest execution per vCPU: from a VM entry to the next exit (or INIT, or the program's end),
 * as L1 or, between an emulated VMLAUNCH/VMRUN (`nested-entry`) and an emulated exit to L1
 * (`nested-exit`), as L2.
 */
function guestIntervals(events: readonly TraceEvent[], endNs = lastTime(events)): Interval[] {
  const open: number[] = [];
  const level: Array<1 | 2> = [];
  const out: Interval[] = [];
  const close = (cpu: number, t: number): void => {
    const start = open[cpu] ?? -1;
    if (start >= 0 && t > start) out.push({ cpu, startNs: start, endNs: t, staleNs: -1, label: level[cpu] === 2 ? 'L2' : '', level: level[cpu] ?? 1 });
    open[cpu] = -1;
  };
  for (const e of events) {
    switch (e.kind) {
      case 'entry':
        if ((open[e.cpu] ?? -1) < 0) open[e.cpu] = e.timeNs;
        break;
      case 'exit':
      case 'init':
      case 'done':
        close(e.cpu, e.timeNs);
        break;
      case 'nested-entry':
        level[e.cpu] = 2;
        break;
      case 'nested-exit':
        level[e.cpu] = 1;
        break;
      default:
        break;
    }
  }
  for (let cpu = 0; cpu < open.length; cpu++) close(cpu, endNs);
  return out.sort((a, b) => a.startNs - b.startNs || a.cpu - b.cpu);
}

/**
 * How long each local APIC vector waited in IRR: from the `request` that set the bit to the
 * `isr-set` that moved it to ISR (or, in a trace without local APIC events, the handler's entry).
 * `staleNs` is when the guest entered the handler while the bit was still set: the window in
 * which a second interrupt with the vector merges into the old bit instead of being requested.
 */
function irrWaits(events: readonly TraceEvent[], endNs = lastTime(events)): Interval[] {
  const hasIsrEvents = events.some((e) => e.kind === 'isr-set');
  const open = new Map<number, Interval>(); // key cpu * 256 + vector
  const out: Interval[] = [];
  const close = (key: number, t: number): void => {
    const w = open.get(key);
    if (w === undefined) return;
    w.endNs = t;
    if (w.staleNs >= t) w.staleNs = -1;
    out.push(w);
    open.delete(key);
  };
  for (const e of events) {
    const key = e.cpu * 256 + (e.a & 0xff);
    switch (e.kind) {
      case 'request':
        if (!open.has(key)) open.set(key, { cpu: e.cpu, startNs: e.timeNs, endNs: e.timeNs, staleNs: -1, label: hexVector(e.a & 0xff), level: 1 });
        break;
      case 'deliver': {
        if (e.b !== 0) break; // ExtINT, spurious, from L1: not this IRR
        if (!hasIsrEvents) close(key, e.timeNs);
        else { const w = open.get(key); if (w !== undefined && w.staleNs < 0) w.staleNs = e.timeNs; }
        break;
      }
      case 'isr-set':
        close(key, e.timeNs);
        break;
      case 'init':
        for (const k of [...open.keys()]) if (Math.floor(k / 256) === e.cpu) close(k, e.timeNs);
        break;
      default:
        break;
    }
  }
  for (const k of [...open.keys()].sort((a, b) => a - b)) close(k, endNs);
  return out.sort((a, b) => a.startNs - b.startNs || a.cpu - b.cpu);
}

const IPI_MODE_NAMES = ['IPI', 'IPI', 'SMI', '', 'NMI', 'INIT', 'SIPI', 'ExtINT'] as const;

/**
 * IPIs: an `ipi-send` (ICR write) joined with each `ipi-receive` at the same virtual time that
 * carries its vector (the bus delivers synchronously, so the arrival follows the send).
 */
function ipiArrows(events: readonly TraceEvent[]): Ipi[] {
  const out: Ipi[] = [];
  let send: TraceEvent | undefined;
  for (const e of events) {
    if (e.kind === 'ipi-send') send = e;
    else if (e.kind === 'ipi-receive' && send !== undefined && send.timeNs === e.timeNs && (send.a & 0xff) === e.b) {
      const mode = IPI_MODE_NAMES[e.a & 7] ?? 'IPI';
      const withVector = mode === 'IPI' || mode === 'SIPI';
      out.push({ from: send.cpu, to: e.cpu, timeNs: e.timeNs, label: withVector ? `${mode} ${hexVector(e.b)}` : mode });
    }
  }
  return out;
}

/**
 * How each local APIC handler was entered: injected at VM entry (`inject`), or taken by the
 * processor in the guest without a VM exit (V_IRQ, virtual-interrupt delivery, posted).
 */
function deliveryMarks(events: readonly TraceEvent[], irr: readonly Interval[]): Mark[] {
  const out: Mark[] = [];
  const lastInject: number[] = [];
  const hw: string[] = []; // per vCPU: the hardware path armed at the last entry ('V_IRQ', 'posted')
  for (const e of events) {
    if (e.kind === 'inject') lastInject[e.cpu] = e.timeNs;
    else if (e.kind === 'vintr') hw[e.cpu] = 'V_IRQ';
    else if (e.kind === 'posted') hw[e.cpu] = 'posted';
    else if (e.kind === 'deliver' && e.b === 0) {
      const v = hexVector(e.a & 0xff);
      if (lastInject[e.cpu] === e.timeNs) continue; // the ordinary path: no mark
      const stale = irr.some((w) => w.cpu === e.cpu && w.staleNs === e.timeNs);
      const via = hw[e.cpu] ?? 'virtual delivery';
      out.push({
        cpu: e.cpu,
        timeNs: e.timeNs,
        kind: 'info',
        label: `${v} taken via ${via}, no exit`,
        title: `${v} entered the guest's handler via ${via} without a VM exit at ${formatNs(e.timeNs)}` +
          (stale ? '; the vector stays set in the emulated IRR until the next exit' : ''),
      });
    }
  }
  return out;
}

/** Lost, doubled and wrong-level interrupts, saying when a lost one hit a stale IRR bit. */
function checkerMarks(events: readonly TraceEvent[], irr: readonly Interval[]): Mark[] {
  const out: Mark[] = [];
  for (const e of events) {
    if (e.kind !== 'lost' && e.kind !== 'doubled' && e.kind !== 'wrong-level') continue;
    const v = hexVector(e.a & 0xff);
    const stale = e.kind === 'lost' && irr.some((w) => w.cpu === e.cpu && w.staleNs >= 0 && w.staleNs <= e.timeNs && e.timeNs < w.endNs && w.label === v);
    const label = stale ? `lost ${v}: merged into stale IRR bit` : `${e.kind} ${v}`;
    out.push({ cpu: e.cpu, timeNs: e.timeNs, kind: 'lost', label, title: `${label} at ${formatNs(e.timeNs)}` });
  }
  return out;
}

/**
 * Gaps where a level-triggered I/O APIC pin that stormed (re-delivered at every EOI at least
 * {@link STORM_MIN_DELIVERIES} times) stops being re-delivered for longer than ten times its
 * usual interval: the I/O APIC's storm guard backing off (docs/ioapic.md), or the device
 * releasing the line. Drawn on the vCPU whose EOIs cleared the pin's remote IRR.
 */
function stormGaps(events: readonly TraceEvent[], endNs = lastTime(events)): Interval[] {
  interface Pin { count: number; firstNs: number; lastSet: number; lastClear: number; cpu: number; vector: number }
  const pins = new Map<number, Pin>();
  const out: Interval[] = [];
  const gap = (pin: number, p: Pin, until: number): void => {
    const usual = (p.lastClear - p.firstNs) / p.count;
    if (p.count >= STORM_MIN_DELIVERIES && until - p.lastClear > 10 * usual) {
      out.push({ cpu: p.cpu, startNs: p.lastClear, endNs: until, staleNs: -1, level: 1, label: `storm back-off: pin ${pin} (${hexVector(p.vector)}) quiet for ${formatNs(until - p.lastClear)} after ${p.count} re-deliveries` });
    }
  };
  for (const e of events) {
    if (e.kind === 'remote-irr-set') {
      const p = pins.get(e.a);
      if (p === undefined || p.lastClear < p.lastSet) { pins.set(e.a, { count: 1, firstNs: e.timeNs, lastSet: e.timeNs, lastClear: -1, cpu: e.cpu, vector: e.b }); continue; }
      const usual = p.count > 1 ? (p.lastClear - p.firstNs) / p.count : Infinity;
      if (e.timeNs - p.lastClear > 10 * usual) { gap(e.a, p, e.timeNs); pins.set(e.a, { count: 1, firstNs: e.timeNs, lastSet: e.timeNs, lastClear: -1, cpu: e.cpu, vector: e.b }); continue; }
      p.count++;
      p.lastSet = e.timeNs;
    } else if (e.kind === 'remote-irr-clear') {
      const p = pins.get(e.a);
      if (p !== undefined) { p.lastClear = e.timeNs; p.cpu = e.cpu; }
    }
  }
  for (const [pin, p] of [...pins].sort((a, b) => a[0] - b[0])) if (p.lastClear >= p.lastSet) gap(pin, p, endNs);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Drawing.

function spanBar(s: Span, sc: Scale): Bar {
  const place = placement(s);
  const bar = newBar(s.cpu, sc, s.startNs, s.endNs, place.y, place.h, place.color, place.cls, s.name);
  bar.label = s.kind === 'handler' ? s.name.replace(/^(IRQ|ExtINT) /, '') : s.kind === 'vmexit' ? s.detail : s.kind === 'init' ? 'INIT' : '';
  return bar;
}

function guestBar(g: Interval, sc: Scale): Bar {
  const name = g.level === 2 ? 'guest running (L2)' : 'guest running';
  const bar = newBar(g.cpu, sc, g.startNs, g.endNs, CPU_Y, CPU_H, g.level === 2 ? COLORS.guestL2 : COLORS.guest, g.level === 2 ? 'guest-l2' : 'guest', name);
  bar.label = g.label;
  return bar;
}

function newBar(cpu: number, sc: Scale, startNs: number, endNs: number, y: number, h: number, color: string, cls: string, name: string): Bar {
  const x0 = sc.x(startNs);
  return { cpu, x0, x1: Math.max(sc.x(endNs), x0 + 1), y: sc.laneY(cpu) + y, h, color, cls, label: '', startNs, endNs, names: new Map([[name, 1]]), note: '' };
}

/** Merges bars of one row and colour that touch and are too narrow to draw apart. */
function mergeBars(input: Bar[]): Bar[] {
  input.sort((a, b) => a.startNs - b.startNs || a.cpu - b.cpu);
  const out: Bar[] = [];
  const last = new Map<string, Bar>();
  for (const b of input) {
    const key = `${b.cpu}/${b.y}/${b.color}`;
    const prev = last.get(key);
    const narrow = b.x1 - b.x0 < MERGE_PX || prev === undefined || prev.x1 - prev.x0 < MERGE_PX;
    if (prev !== undefined && narrow && b.x0 <= prev.x1 + 0.5) {
      prev.x1 = Math.max(prev.x1, b.x1);
      prev.endNs = Math.max(prev.endNs, b.endNs);
      for (const [name, n] of b.names) prev.names.set(name, (prev.names.get(name) ?? 0) + n);
      prev.label = prev.label === b.label ? prev.label : '';
      continue;
    }
    out.push(b);
    last.set(key, b);
  }
  return out;
}

/**
 * A handler entered without a VM exit says so in its own bar when the words fit there (the
 * interrupt-state row below is where lost markers go); the mark keeps only its tick.
 */
function labelHandlersTakenWithoutExit(bars: readonly Bar[], marks: Mark[]): void {
  for (let i = 0; i < marks.length; i++) {
    const m = marks[i]!;
    if (m.kind !== 'info') continue;
    const bar = bars.find((b) => b.cpu === m.cpu && b.cls === 'handler' && b.startNs === m.timeNs);
    if (bar === undefined || bar.x1 - bar.x0 < m.label.length * CHAR_W + 4) continue;
    bar.label = m.label;
    bar.note = m.title;
    marks[i] = { ...m, label: '' };
  }
}

function barTitle(b: Bar): string {
  if (b.note !== '') return b.note;
  const range = `${formatNs(b.startNs)} - ${formatNs(b.endNs)}`;
  const total = [...b.names.values()].reduce((a, n) => a + n, 0);
  if (total === 1) return `${[...b.names.keys()][0]!}: ${range}`;
  const parts = [...b.names].slice(0, 4).map(([name, n]) => `${n} x ${name}`);
  if (b.names.size > 4) parts.push('...');
  return `${total} spans (${parts.join(', ')}): ${range}`;
}

function drawBars(out: string[], bars: readonly Bar[]): void {
  out.push('<g class="spans">');
  for (const b of bars) {
    // A one-pixel gap between touching bars keeps neighbouring exits apart.
    const w = b.x1 - b.x0 > 3 ? b.x1 - b.x0 - 1 : Math.max(b.x1 - b.x0, 1);
    out.push(`<rect class="${b.cls}" x="${n1(b.x0)}" y="${b.y}" width="${n1(w)}" height="${b.h}" fill="${b.color}"><title>${escapeXml(barTitle(b))}</title></rect>`);
  }
  out.push('</g>');
  out.push('<g class="span-labels" font-size="9">');
  for (const b of bars) {
    if (b.label === '' || b.x1 - b.x0 < b.label.length * CHAR_W + 4) continue;
    const light = b.cls === 'handler' || b.cls === 'nmi' || b.cls === 'extint';
    out.push(`<text x="${n1(b.x0 + 2)}" y="${b.y + b.h - 3}" fill="${light ? '#ffffff' : '#222222'}">${escapeXml(b.label)}</text>`);
  }
  out.push('</g>');
}

/**
 * Merges IRR waits of one vCPU that are too narrow to draw apart (a storm re-requests its vector
 * thousands of times); stale waits stay apart, they are the point of the drawing.
 */
function mergeWaits(waits: readonly Interval[], sc: Scale): Array<Interval & { count: number }> {
  const out: Array<Interval & { count: number }> = [];
  const last: Array<(Interval & { count: number }) | undefined> = [];
  for (const w of waits) {
    const prev = last[w.cpu];
    const narrow = sc.x(w.endNs) - sc.x(w.startNs) < MERGE_PX || (prev !== undefined && sc.x(prev.endNs) - sc.x(prev.startNs) < MERGE_PX);
    if (prev !== undefined && prev.staleNs < 0 && w.staleNs < 0 && narrow && sc.x(w.startNs) <= sc.x(prev.endNs) + 0.5) {
      prev.endNs = Math.max(prev.endNs, w.endNs);
      prev.count++;
      if (prev.label !== w.label) prev.label = 'vectors';
      continue;
    }
    const copy = { ...w, count: 1 };
    out.push(copy);
    last[w.cpu] = copy;
  }
  return out;
}

function drawIrr(out: string[], waits: readonly Interval[], sc: Scale): void {
  out.push('<g class="irr">');
  for (const w of mergeWaits(waits, sc)) {
    const y = sc.laneY(w.cpu) + IRQ_Y;
    const x0 = sc.x(w.startNs);
    const xs = w.staleNs >= 0 ? sc.x(w.staleNs) : sc.x(w.endNs);
    const x1 = Math.max(sc.x(w.endNs), x0 + 1);
    const times = w.count > 1 ? ` (${w.count} times)` : '';
    const pending = `IRR ${w.label} pending${times}: ${formatNs(w.startNs)} - ${formatNs(w.staleNs >= 0 ? w.staleNs : w.endNs)}`;
    out.push(`<rect class="irr-pending" x="${n1(x0)}" y="${y}" width="${n1(Math.max(xs - x0, 1))}" height="${IRQ_H}" fill="${COLORS.irr}"><title>${escapeXml(pending)}</title></rect>`);
    if (w.staleNs >= 0) {
      const stale = `IRR ${w.label} stale: handler entered at ${formatNs(w.staleNs)}, bit still set until ${formatNs(w.endNs)}`;
      out.push(`<rect class="irr-stale" x="${n1(xs)}" y="${y}" width="${n1(Math.max(x1 - xs, 1))}" height="${IRQ_H}" fill="url(#stale)" stroke="${COLORS.lost}" stroke-width="0.5"><title>${escapeXml(stale)}</title></rect>`);
      if (x1 - xs > 80) out.push(`<text class="irr-stale-label" x="${n1(x1 - 2)}" y="${y + IRQ_H + 8}" font-size="9" text-anchor="end" fill="${COLORS.lost}">${escapeXml(`IRR ${w.label} stale`)}</text>`);
    }
  }
  out.push('</g>');
}

function drawStorms(out: string[], gaps: readonly Interval[], sc: Scale): void {
  out.push('<g class="storm-gaps">');
  for (const g of gaps) {
    const y = sc.laneY(g.cpu) + IRQ_Y + IRQ_H / 2;
    const x0 = sc.x(g.startNs);
    const x1 = sc.x(g.endNs);
    out.push(
      `<g class="storm-gap"><path d="M${n1(x0)} ${y - 4} V${y + 4} M${n1(x0)} ${y} H${n1(x1)} M${n1(x1)} ${y - 4} V${y + 4}" stroke="${COLORS.lost}" fill="none" stroke-dasharray="3 2"/>` +
        `<text x="${n1((x0 + x1) / 2)}" y="${y + 11}" text-anchor="middle" font-size="9" fill="${COLORS.lost}">${escapeXml(fit(g.label, x1 - x0))}</text>` +
        `<title>${escapeXml(`${g.label} (or the device released the line)`)}</title></g>`,
    );
  }
  out.push('</g>');
}

/** The label cut at a word boundary to fit `px` pixels (at least its first word), with an ellipsis. */
function fit(label: string, px: number): string {
  if (label.length * CHAR_W <= px) return label;
  const words = label.split(' ');
  let short = words[0]!;
  for (const w of words.slice(1)) {
    if ((short.length + w.length + 2) * CHAR_W > px) break;
    short += ` ${w}`;
  }
  return `${short}...`;
}

function drawMarks(out: string[], marks: readonly Mark[], sc: Scale): void {
  out.push('<g class="marks" font-size="9">');
  const used: Array<Array<[number, number]>> = [];
  const lastTick: number[] = [];
  for (const m of [...marks].sort((a, b) => (a.kind === b.kind ? a.timeNs - b.timeNs : a.kind === 'lost' ? -1 : 1))) {
    const x = sc.x(m.timeNs);
    const y = sc.laneY(m.cpu) + IRQ_Y;
    const w = m.label.length * CHAR_W;
    const taken = (used[m.cpu] ??= []);
    if (m.kind === 'info' && m.label === '' && x - (lastTick[m.cpu] ?? -Infinity) < 1.5) continue;
    if (m.kind === 'info') lastTick[m.cpu] = x;
    const free = m.label !== '' && !taken.some(([a, b]) => x < b && x + 7 + w > a);
    if (m.kind === 'lost') {
      out.push(
        `<g class="lost"><path d="M${n1(x - 5)} ${y - 3} L${n1(x + 5)} ${y - 3} L${n1(x)} ${y + 7} Z" fill="${COLORS.lost}"/><title>${escapeXml(m.title)}</title>` +
          (free ? `<text x="${n1(x + 7)}" y="${y + 14}" font-weight="bold" font-size="10" fill="${COLORS.lost}">${escapeXml(m.label)}</text>` : '') + '</g>',
      );
    } else {
      out.push(
        `<g class="delivery"><path d="M${n1(x)} ${y - 2} V${y + 9}" stroke="${COLORS.lapic}" stroke-width="1.5"/><title>${escapeXml(m.title)}</title>` +
          (free ? `<text x="${n1(x + 3)}" y="${y + 14}" fill="${COLORS.lapic}">${escapeXml(m.label)}</text>` : '') + '</g>',
      );
    }
    if (free) taken.push([x, x + 7 + w]);
  }
  out.push('</g>');
}

function drawIpis(out: string[], ipis: readonly Ipi[], sc: Scale): void {
  out.push(`<g class="ipis" stroke="${COLORS.ipi}" font-size="9">`);
  let lastLabelEnd = -Infinity;
  const lastX = new Map<string, number>();
  for (const i of ipis) {
    const x = sc.x(i.timeNs);
    // Arrows closer than a pixel-and-a-half between the same lanes would draw over each other.
    const lanes = `${i.from}>${i.to}`;
    if (x - (lastX.get(lanes) ?? -Infinity) < 1.5) continue;
    lastX.set(lanes, x);
    const down = i.to > i.from;
    const y0 = sc.laneY(i.from) + (down ? LANE_H : 0);
    const y1 = sc.laneY(i.to) + (down ? 1 : LANE_H - 1);
    const title = `${i.label} sent by vCPU ${i.from} to vCPU ${i.to} at ${formatNs(i.timeNs)}`;
    const self = i.from === i.to;
    const d = self ? `M${n1(x)} ${y0 + CPU_Y} h6 v-8` : `M${n1(x)} ${y0} L${n1(x)} ${y1}`;
    const text = `${i.label} > vCPU ${i.to}`;
    const showLabel = x > lastLabelEnd;
    out.push(
      `<g class="ipi"><path d="${d}" fill="none" stroke-width="1.2" marker-end="url(#arrow)"/><title>${escapeXml(title)}</title>` +
        (showLabel ? `<text x="${n1(x + 3)}" y="${n1(Math.min(y0, y1) + (down ? 11 : 11))}" stroke="none" fill="${COLORS.ipi}">${escapeXml(text)}</text>` : '') + '</g>',
    );
    if (showLabel) lastLabelEnd = x + 3 + text.length * CHAR_W;
  }
  out.push('</g>');
}

function placement(s: Span): { y: number; h: number; color: string; cls: string } {
  switch (s.kind) {
    case 'handler': {
      const cls = s.detail === 'extint' ? 'extint' : s.detail === 'nmi' ? 'nmi' : s.detail === 'spurious' ? 'spurious' : 'handler';
      const color = s.detail === 'extint' ? COLORS.extint : s.detail === 'nmi' ? COLORS.nmi : s.detail === 'spurious' ? COLORS.spurious : COLORS.lapic;
      return { y: HANDLER_Y, h: HANDLER_H, color, cls };
    }
    case 'vmexit':
      return { y: CPU_Y, h: CPU_H, color: COLORS.vmexit, cls: 'vmexit' };
    case 'halted':
      return { y: CPU_Y + 3, h: CPU_H - 6, color: COLORS.halted, cls: 'halted' };
    case 'init':
      return { y: CPU_Y, h: CPU_H, color: COLORS.init, cls: 'init' };
  }
}

// ---------------------------------------------------------------------------------------------
// Legend: only what the drawing shows.

interface LegendItem {
  name: string;
  swatch: string;
}

function legendItems(bars: readonly Bar[], irr: readonly Interval[], ipis: readonly Ipi[], marks: readonly Mark[], storms: readonly Interval[]): LegendItem[] {
  const has = (cls: string): boolean => bars.some((b) => b.cls === cls);
  const rect = (color: string, extra = ''): string => `<rect width="10" height="10" fill="${color}"${extra}/>`;
  const items: LegendItem[] = [];
  const add = (show: boolean, name: string, swatch: string): void => { if (show) items.push({ name, swatch }); };
  add(has('handler'), 'handler (LAPIC vector)', rect(COLORS.lapic));
  add(has('extint'), 'handler (ExtINT, 8259A)', rect(COLORS.extint));
  add(has('spurious'), 'spurious', rect(COLORS.spurious));
  add(has('nmi'), 'NMI handler', rect(COLORS.nmi));
  add(has('guest'), 'guest running', rect(COLORS.guest));
  add(has('guest-l2'), 'L2 guest running', rect(COLORS.guestL2));
  add(has('vmexit'), 'in hypervisor (VM exit, reason)', rect(COLORS.vmexit));
  add(has('halted'), 'halted', rect(COLORS.halted));
  add(has('init'), 'INIT', rect(COLORS.init));
  add(irr.length > 0, 'vector pending in IRR', rect(COLORS.irr));
  add(irr.some((w) => w.staleNs >= 0), 'IRR bit stale (taken without exit)', rect('url(#stale)', ` stroke="${COLORS.lost}" stroke-width="0.5"`));
  add(marks.some((m) => m.kind === 'info'), 'taken without VM exit', `<path d="M5 0 V10" stroke="${COLORS.lapic}" stroke-width="1.5"/>`);
  add(ipis.length > 0, 'IPI', `<path d="M0 5 H8" stroke="${COLORS.ipi}" stroke-width="1.2" marker-end="url(#arrow)"/>`);
  add(marks.some((m) => m.kind === 'lost'), 'lost / doubled', `<path d="M0 0 L10 0 L5 10 Z" fill="${COLORS.lost}"/>`);
  add(storms.length > 0, 'storm back-off', `<path d="M0 5 H10" stroke="${COLORS.lost}" stroke-dasharray="3 2"/>`);
  return items;
}

function layoutLegend(items: readonly LegendItem[], width: number): LegendItem[][] {
  const rows: LegendItem[][] = [[]];
  let x = LABEL_W;
  for (const item of items) {
    const w = 24 + item.name.length * 6;
    if (x + w > width - RIGHT && rows[rows.length - 1]!.length > 0) { rows.push([]); x = LABEL_W; }
    rows[rows.length - 1]!.push(item);
    x += w;
  }
  return rows;
}

function drawLegend(out: string[], rows: readonly LegendItem[][], top: number): void {
  out.push('<g class="legend">');
  rows.forEach((row, r) => {
    let x = LABEL_W;
    const y = top + r * LEGEND_ROW_H;
    for (const item of row) {
      out.push(`<g class="legend-item" transform="translate(${x} ${y})">${item.swatch}<text x="14" y="9">${escapeXml(item.name)}</text></g>`);
      x += 24 + item.name.length * 6;
    }
  });
  out.push('</g>');
}
