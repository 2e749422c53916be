/**
 * A self-contained SVG timeline of a trace, for docs and bug reports: no scripts, no external
 * fonts or styles, one lane per vCPU.
 *
 * Each lane shows, left to right in virtual time:
 * - the upper row: interrupt handlers (local APIC vectors blue, ExtINT from the 8259A teal, NMI
 *   purple); a nested handler shows inside the one it interrupted;
 * - the lower row: time in the hypervisor after a VM exit (orange), halted (grey), INIT reset
 *   (violet);
 * - red markers for interrupts the delivery checker found lost or doubled, labelled with the
 *   vector.
 * Spans of one kind that overlap or touch at the drawing's scale merge into one rectangle, so a
 * storm of ten thousand handlers stays a small file. Every rectangle carries a `<title>` tooltip
 * (the span, or how many spans it merges).
 *
 * @module
 */
import { buildSpans, cpuCount, hexVector, lastTime, type Span } from './spans.js';
import type { TraceEvent } from './trace.js';

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
const LANE_H = 34;
const LANE_GAP = 6;
const LEGEND_H = 26;
const HANDLER_Y = 4;
const HANDLER_H = 14;
const HYP_Y = 21;
const HYP_H = 9;

const COLORS = {
  lapic: '#4c78a8',
  extint: '#2a9d8f',
  spurious: '#9d755d',
  nmi: '#8e44ad',
  vmexit: '#f58518',
  halted: '#b0b0b0',
  init: '#b279a2',
  lost: '#d62728',
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

interface Rect {
  x0: number;
  x1: number;
  y: number;
  h: number;
  color: string;
  title: string;
  merged: number;
}

/** Renders the SVG timeline of a list of trace events. */
export function toSvg(events: readonly TraceEvent[], opts: SvgOptions = {}): string {
  const width = Math.max(300, Math.floor(opts.width ?? 1000));
  const cpus = Math.max(opts.cpus ?? 0, cpuCount(events));
  const t0 = Math.max(0, opts.startNs ?? 0);
  const t1 = Math.max(opts.endNs ?? lastTime(events), t0 + 1);
  const plotW = width - LABEL_W - RIGHT;
  const x = (ns: number): number => LABEL_W + ((Math.min(Math.max(ns, t0), t1) - t0) * plotW) / (t1 - t0);
  const laneY = (cpu: number): number => TITLE_H + AXIS_H + cpu * (LANE_H + LANE_GAP);
  const height = TITLE_H + AXIS_H + cpus * (LANE_H + LANE_GAP) + LEGEND_H;

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`,
  );
  out.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`);
  const title = opts.title ?? 'irqchip trace';
  out.push(`<text x="8" y="15" font-size="13" font-weight="bold">${escapeXml(title)}</text>`);

  // Time axis with grid lines.
  const step = tickStep(t1 - t0, Math.max(2, Math.floor(plotW / 90)));
  const axisY = TITLE_H + AXIS_H - 6;
  const gridBottom = laneY(cpus) - LANE_GAP;
  out.push('<g class="axis" fill="#555555" stroke="#e0e0e0">');
  for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
    const tx = n1(x(t));
    out.push(`<line x1="${tx}" y1="${axisY + 2}" x2="${tx}" y2="${gridBottom}"/>`);
    out.push(`<text x="${tx}" y="${axisY - 2}" text-anchor="middle" stroke="none">${escapeXml(formatNs(t))}</text>`);
  }
  out.push('</g>');

  // Lanes.
  for (let cpu = 0; cpu < cpus; cpu++) {
    const y = laneY(cpu);
    out.push(
      `<g class="lane" data-cpu="${cpu}"><rect x="${LABEL_W}" y="${y}" width="${n1(plotW)}" height="${LANE_H}" fill="#f4f4f4"/>` +
        `<text x="8" y="${y + LANE_H / 2 + 4}">vCPU ${cpu}</text></g>`,
    );
  }

  // Spans, merged where they touch at this scale.
  const rects: Rect[] = [];
  const last = new Map<string, Rect>();
  const visible = buildSpans(events, t1).filter((s) => s.endNs >= t0 && s.startNs <= t1 && s.cpu < cpus);
  for (const s of visible) {
    const place = placement(s);
    const y = laneY(s.cpu) + place.y;
    const x0 = x(s.startNs);
    const x1 = Math.max(x(s.endNs), x0 + 1); // at least a pixel, so short spans show
    const key = `${s.cpu}/${place.y}/${place.color}`;
    const prev = last.get(key);
    if (prev !== undefined && x0 <= prev.x1 + 0.5) {
      prev.x1 = Math.max(prev.x1, x1);
      prev.merged++;
      continue;
    }
    const r: Rect = { x0, x1, y, h: place.h, color: place.color, title: `${s.name}: ${formatNs(s.startNs)} - ${formatNs(s.endNs)}`, merged: 1 };
    rects.push(r);
    last.set(key, r);
  }
  out.push('<g class="spans">');
  for (const r of rects) {
    const tip = r.merged > 1 ? `${r.merged} spans` : r.title;
    out.push(`<rect x="${n1(r.x0)}" y="${r.y}" width="${n1(Math.max(r.x1 - r.x0, 1))}" height="${r.h}" fill="${r.color}"><title>${escapeXml(tip)}</title></rect>`);
  }
  out.push('</g>');

  // Lost and doubled interrupts.
  out.push(`<g class="checker" fill="${COLORS.lost}">`);
  for (const e of events) {
    if ((e.kind !== 'lost' && e.kind !== 'doubled' && e.kind !== 'wrong-level') || e.cpu >= cpus || e.timeNs < t0 || e.timeNs > t1) continue;
    const mx = x(e.timeNs);
    const y = laneY(e.cpu);
    const label = `${e.kind} ${hexVector(e.a)}`;
    out.push(
      `<path d="M${n1(mx - 5)} ${y - 5} L${n1(mx + 5)} ${y - 5} L${n1(mx)} ${y + 4} Z"><title>${escapeXml(`${label} at ${formatNs(e.timeNs)}`)}</title></path>` +
        `<text x="${n1(mx + 7)}" y="${y + 4}" font-weight="bold">${escapeXml(label)}</text>`,
    );
  }
  out.push('</g>');

  // Legend.
  const ly = height - LEGEND_H + 9;
  const items: Array<[string, string]> = [
    ['handler (LAPIC)', COLORS.lapic],
    ['handler (ExtINT)', COLORS.extint],
    ['NMI', COLORS.nmi],
    ['in hypervisor (VM exit)', COLORS.vmexit],
    ['halted', COLORS.halted],
    ['lost / doubled', COLORS.lost],
  ];
  out.push('<g class="legend">');
  let lx = LABEL_W;
  for (const [name, color] of items) {
    out.push(`<rect x="${lx}" y="${ly}" width="10" height="10" fill="${color}"/><text x="${lx + 14}" y="${ly + 9}">${escapeXml(name)}</text>`);
    lx += 24 + name.length * 6;
  }
  out.push('</g>');
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function placement(s: Span): { y: number; h: number; color: string } {
  switch (s.kind) {
    case 'handler': {
      const color = s.detail === 'extint' ? COLORS.extint : s.detail === 'nmi' ? COLORS.nmi : s.detail === 'spurious' ? COLORS.spurious : COLORS.lapic;
      return { y: HANDLER_Y, h: HANDLER_H, color };
    }
    case 'vmexit':
      return { y: HYP_Y, h: HYP_H, color: COLORS.vmexit };
    case 'halted':
      return { y: HYP_Y, h: HYP_H, color: COLORS.halted };
    case 'init':
      return { y: HYP_Y, h: HYP_H, color: COLORS.init };
  }
}
