/**
 * The README's first screen tells a newcomer what to run in a clone. The docs harness (test/docs)
 * runs its `irqchip` command and compares the output; the install-and-build block before it needs
 * the network and rewrites node_modules/, so it is marked not-run and checked here instead: every
 * command in it is a step CI runs (.ci/run) or a package.json script.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const read = (path: string): string => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

describe('README first screen', () => {
  const readme = read('README.md');
  const firstScreen = readme.split('\n').slice(0, 40).join('\n');

  it('says the package is not on the registry yet and leads with commands that work in a clone', () => {
    expect(firstScreen).toMatch(/not published on the npm registry yet/);
    const setup = /```sh not-run\n([\s\S]*?)\n```/.exec(firstScreen);
    expect(setup?.[1]).toBe('npm ci && npm run build');
    expect(firstScreen.indexOf('npm ci && npm run build')).toBeLessThan(firstScreen.indexOf('npx irqchip compare lost-ipi'));
  });

  it('its setup commands are the ones CI runs on a clean clone', () => {
    const ci = read('.ci/run').split('\n').map((l) => l.trim());
    const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
    expect(ci).toContain('npm ci --no-audit --no-fund');
    expect(ci).toContain('npm run build');
    expect(scripts.build).toMatch(/tsup/);
    expect(scripts.prepack).toBe('npm run build');
  });

  it('links the embedding guide', () => {
    expect(firstScreen).toMatch(/\[docs\/embedding\.md\]\([^)]*docs\/embedding\.md\)/);
  });
});
