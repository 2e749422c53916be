/**
 * What irqchip adds to an application's bundle (bench/size.mjs, against dist/ that `npm test`
 * builds first): importing only `Scheduler` must not pull in the rest, and the two budgets of
 * docs/performance.md ("Bundle size") hold.
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

describe('bundle size (tree-shaking of the ESM build)', () => {
  const { rows } = sizes();

  it('an application importing only Scheduler bundles under 5 KB minified', () => {
    expect(rows.Scheduler!.min).toBeLessThan(5 * 1024);
  });

  it('LocalApic + Scheduler stays under 15 KB gzip', () => {
    expect(rows['LocalApic + Scheduler']!.gzip).toBeLessThan(15 * 1024);
  });

  it('Platform leaves out the vCPU model, backends, Machine and CLI scenarios', () => {
    expect(rows.Platform!.gzip).toBeLessThan(rows.everything!.gzip * 0.5);
  });

  it('the whole library stays within its budget of 66 KB gzip', () => {
    expect(rows.everything!.gzip).toBeLessThanOrEqual(66 * 1024);
  });
});
