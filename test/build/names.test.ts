/**
 * The built package (dist/, written by `npm test` before vitest runs), through each of its four
 * entry points (package.json "exports"): every exported class and function keeps its own name
 * (bundling renamed a class that refers to itself: `Machine.name` was `_Machine`, in stack traces
 * and error text too; see tsup.config.ts), each entry exports what it should, and the entries
 * share one copy of each class (tsup's code splitting for CommonJS; one file per module in ESM).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);
const DIST = new URL('../../dist/', import.meta.url);

type Mod = Record<string, unknown>;
const ENTRIES = ['index', 'registers', 'svg', 'scenarios'] as const;
const esm = async (entry: string): Promise<Mod> => (await import(new URL(`${entry}.js`, DIST).href)) as Mod;
const cjs = (entry: string): Mod => require(new URL(`${entry}.cjs`, DIST).pathname) as Mod;

/** What each entry point other than the main one exports, sorted (docs/performance.md, "Bundle size"). */
const MOVED: Record<Exclude<(typeof ENTRIES)[number], 'index'>, string[]> = {
  registers: ['ioapicRegisters', 'picRegisters', 'registers'],
  svg: ['toSvg'],
  scenarios: [
    'DEFAULT_SCENARIO_BACKEND', 'SCENARIOS', 'SCENARIO_JITTER', 'finishScenario', 'formatComparison', 'formatSummary',
    'getScenario', 'prepareScenario', 'resolveScenarioOptions', 'runScenario',
  ],
};

/** Functions whose `.name` is not their export name; the register namespaces are searched one level down. */
function misnamed(mod: Mod, prefix = ''): string[] {
  return Object.entries(mod).flatMap(([name, value]) => {
    if (typeof value === 'function') return (value as { name: string }).name === name ? [] : [`${prefix}${name} is named ${(value as { name: string }).name}`];
    if (prefix === '' && /Registers$|^registers$/.test(name)) return misnamed(value as Mod, `${name}.`);
    return [];
  });
}

describe('built package: exported names', () => {
  it.each(ENTRIES)('every exported class and function of the ESM build of %s has .name equal to its export name', async (entry) => {
    const mod = await esm(entry);
    expect(Object.keys(mod).length).toBeGreaterThan(0);
    expect(misnamed(mod)).toEqual([]);
  });

  it.each(ENTRIES)('every exported class and function of the CommonJS build of %s has .name equal to its export name', (entry) => {
    const mod = cjs(entry);
    expect(Object.keys(mod).length).toBeGreaterThan(0);
    expect(misnamed(mod)).toEqual([]);
  });

  it('the register namespaces hold functions too, and the name check reaches them', async () => {
    const { ioapicRegisters } = (await esm('registers')) as { ioapicRegisters: Mod };
    expect(typeof ioapicRegisters.redirectionIndex).toBe('function');
    expect(misnamed({ ioapicRegisters: { redirectionIndex: function other() {} } })).toEqual(['ioapicRegisters.redirectionIndex is named other']);
  });

  it('Machine is named Machine in errors thrown from the built files', async () => {
    const { Machine } = (await esm('index')) as { Machine: { name: string } };
    const { Machine: CjsMachine } = cjs('index') as { Machine: { name: string } };
    expect(Machine.name).toBe('Machine');
    expect(CjsMachine.name).toBe('Machine');
  });
});

describe('built package: what each entry point exports', () => {
  it.each(Object.entries(MOVED))('irqchip/%s exports exactly its names, in ESM and CommonJS', async (entry, names) => {
    expect(Object.keys(await esm(entry)).sort()).toEqual(names);
    expect(Object.keys(cjs(entry)).sort()).toEqual(names);
  });

  it('the main entry no longer exports the register tables, toSvg or the scenarios', async () => {
    const moved = Object.values(MOVED).flat();
    for (const mod of [await esm('index'), cjs('index')]) {
      expect(typeof mod.Machine).toBe('function');
      expect(moved.filter((name) => name in mod)).toEqual([]);
    }
  });

  it('Trace has no toSvg method any more: the renderer is irqchip/svg', async () => {
    for (const mod of [await esm('index'), cjs('index')]) {
      const { Trace } = mod as { Trace: { prototype: object } };
      expect('toChromeTrace' in Trace.prototype).toBe(true);
      expect('toSvg' in Trace.prototype).toBe(false);
    }
  });
});

describe('built package: the entry points share one copy of each class', () => {
  type RunScenario = (name: string, opts?: object) => { machine: object };
  type Main = { Machine: new (...args: never[]) => object; Trace: new (...args: never[]) => object };

  it("require('irqchip/scenarios').runScenario gives a machine that is instanceof require('irqchip').Machine", () => {
    const { runScenario } = cjs('scenarios') as { runScenario: RunScenario };
    const { Machine, Trace } = cjs('index') as Main;
    const run = runScenario('lost-ipi', { backend: 'svm-vintr' }) as { machine: { trace: object } };
    expect(run.machine).toBeInstanceOf(Machine);
    expect(run.machine.trace).toBeInstanceOf(Trace);
  });

  it("import('irqchip/scenarios').runScenario gives a machine that is instanceof import('irqchip').Machine", async () => {
    const { runScenario } = (await esm('scenarios')) as { runScenario: RunScenario };
    const { Machine, Trace } = (await esm('index')) as Main;
    const run = runScenario('lost-ipi', { backend: 'svm-vintr' }) as { machine: { trace: object } };
    expect(run.machine).toBeInstanceOf(Machine);
    expect(run.machine.trace).toBeInstanceOf(Trace);
  });

  it('toSvg of irqchip/svg draws a Trace of the main entry, in ESM and CommonJS', async () => {
    for (const [main, svg] of [[await esm('index'), await esm('svg')], [cjs('index'), cjs('svg')]] as const) {
      const { Machine } = main as { Machine: new (opts: object) => { trace: object; run(ns: number): unknown } };
      const { toSvg } = svg as { toSvg: (trace: object, opts?: object) => string };
      const m = new Machine({ cpus: 2, backend: 'svm-event' });
      m.run(1000);
      expect(toSvg(m.trace, { title: 'shared' })).toContain('>shared</text>');
    }
  });
});

describe('source: the entry files are only entered', () => {
  it('no module of src/ imports src/index.ts, registers.ts, svg.ts or scenarios.ts (a bundle carries only the entries it names)', () => {
    const SRC = fileURLToPath(new URL('../../src/', import.meta.url));
    const entryFiles = new Set(['index', 'registers', 'svg', 'scenarios'].map((e) => join(SRC, `${e}.ts`)));
    const offenders: string[] = [];
    for (const file of readdirSync(SRC, { recursive: true, encoding: 'utf8' })) {
      if (!file.endsWith('.ts')) continue;
      const path = join(SRC, file);
      for (const [, spec] of readFileSync(path, 'utf8').matchAll(/from '(\.[^']+)\.js'/g)) {
        if (entryFiles.has(resolve(dirname(path), `${spec}.ts`))) offenders.push(`${file} imports ${spec}.js`);
      }
    }
    expect(offenders).toEqual([]);
  });
});
