/**
 * What irqchip adds to an application's bundle (bench/size.mjs, against dist/ that `npm test`
 * builds first): importing only `Scheduler` must not pull in the rest, each entry point carries
 * only its own part, and the budgets of docs/performance.md ("Bundle size") hold.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

interface Sizes {
  rows: Record<string, { min: number; gzip: number }>;
  budgets: Record<string, number>;
}

const SCRIPT = fileURLToPath(new URL('../../bench/size.mjs', import.meta.url));
const sizes = (): Sizes => JSON.parse(execFileSync(process.execPath, [SCRIPT, '--json'], { encoding: 'utf8' })) as Sizes;
const KB = 1024;

describe('bundle size (tree-shaking of the ESM build)', () => {
  const { rows, budgets } = sizes();

  it('measures the single names, each entry point and all four together', () => {
    expect(Object.keys(rows)).toEqual([
      'Scheduler', 'LocalApic + Scheduler', 'Platform', 'Machine', 'everything',
      'irqchip/registers', 'irqchip/svg', 'irqchip/scenarios', 'all entry points',
    ]);
  });

  it('an application importing only Scheduler bundles under 5 KB minified', () => {
    expect(rows.Scheduler!.min).toBeLessThan(5 * KB);
  });

  it('LocalApic + Scheduler stays under 15 KB gzip', () => {
    expect(budgets['LocalApic + Scheduler']).toBe(15 * KB);
    expect(rows['LocalApic + Scheduler']!.gzip).toBeLessThan(15 * KB);
  });

  it('Platform leaves out the vCPU model, backends, Machine and CLI scenarios: under half the whole library', () => {
    expect(rows.Platform!.gzip).toBeLessThan(rows['all entry points']!.gzip * 0.5);
  });

  it('the main entry (import * as irqchip) stays within its budget of 52 KB gzip (the goal was 50 KB; docs/performance.md)', () => {
    expect(budgets.everything).toBe(52 * KB);
    expect(rows.everything!.gzip).toBeLessThanOrEqual(52 * KB);
  });

  it('all four entry points in one bundle stay within the old whole-library ceiling of 66 KB gzip', () => {
    expect(budgets['all entry points']).toBe(66 * KB);
    expect(rows['all entry points']!.gzip).toBeLessThanOrEqual(66 * KB);
  });

  it('the register tables and the SVG renderer are small on their own: they do not pull in the library', () => {
    expect(rows['irqchip/registers']!.gzip).toBeLessThan(5 * KB);
    expect(rows['irqchip/svg']!.gzip).toBeLessThan(10 * KB);
  });

  it('the main entry carries neither the register tables nor the renderer: adding the other entry points adds more than both', () => {
    const apart = rows['irqchip/svg']!.gzip + rows['irqchip/registers']!.gzip;
    expect(rows['all entry points']!.gzip - rows.everything!.gzip).toBeGreaterThan(apart);
  });
});
