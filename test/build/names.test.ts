/**
 * The built package (dist/, written by `npm test` before vitest runs): every exported class and
 * function keeps its own name. Bundling renamed a class that refers to itself (`Machine.name` was
 * `_Machine`, in stack traces and error text too); see tsup.config.ts.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);
const DIST = new URL('../../dist/', import.meta.url);

function misnamed(mod: Record<string, unknown>): string[] {
  return Object.entries(mod)
    .filter(([, value]) => typeof value === 'function')
    .filter(([name, value]) => (value as { name: string }).name !== name)
    .map(([name, value]) => `${name} is named ${(value as { name: string }).name}`);
}

describe('built package: exported names', () => {
  it('every exported class and function of the ESM build has .name equal to its export name', async () => {
    const esm = (await import(new URL('index.js', DIST).href)) as Record<string, unknown>;
    expect(typeof esm.Machine).toBe('function');
    expect(misnamed(esm)).toEqual([]);
  });

  it('every exported class and function of the CommonJS build has .name equal to its export name', () => {
    const cjs = require(new URL('index.cjs', DIST).pathname) as Record<string, unknown>;
    expect(typeof cjs.Machine).toBe('function');
    expect(misnamed(cjs)).toEqual([]);
  });

  it('Machine is named Machine in errors thrown from the built files', async () => {
    const { Machine } = (await import(new URL('index.js', DIST).href)) as { Machine: { name: string } };
    const { Machine: CjsMachine } = require(new URL('index.cjs', DIST).pathname) as { Machine: { name: string } };
    expect(Machine.name).toBe('Machine');
    expect(CjsMachine.name).toBe('Machine');
  });
});
