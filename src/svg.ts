/**
 * `irqchip/svg`: the SVG timeline of a {@link irqchip!Trace | Trace}, one lane per vCPU, for docs
 * and bug reports (docs/machine.md, "Trace"). A separate entry point so that programs that never
 * draw do not carry the renderer; it works on any Trace of the main entry, `irqchip`.
 *
 * ```ts
 * import { Machine } from 'irqchip';
 * import { toSvg } from 'irqchip/svg';
 *
 * const m = new Machine({ cpus: 2, backend: 'svm-vintr' });
 * const run = m.run(1_000_000);
 * const svg = toSvg(m.trace, { endNs: run.timeNs, title: 'lost IPI' });
 * ```
 *
 * @module irqchip/svg
 */
export { toSvg } from './trace/svg.js';
export type { SvgOptions } from './trace/svg.js';
