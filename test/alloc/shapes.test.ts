/**
 * One hidden class per class: every field a class declares exists from the end of its
 * constructor (docs/performance.md, "Object shapes").
 *
 * The library is compiled with `useDefineForClassFields: false` (tsconfig.json), so a field is
 * created where the constructor assigns it. A field declared without an initializer and assigned
 * only later (`setTracer`, `setAccel`, ...) would be added to some objects and not to others,
 * giving instances of one class several V8 maps and the hot call sites that see them several
 * shapes to check. This test compiles src/ both ways with esbuild (the compiler tsup uses) and
 * checks that every field of the define-semantics output is assigned by the constructor of the
 * assignment-semantics output. ES private fields (`#name`) are created by the class itself, so
 * they need no such check; in the hot classes they must have an initializer.
 */
import { build } from 'esbuild';
import { setFlagsFromString } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { LocalApic } from '../../src/apic/local-apic.js';
import { Scheduler } from '../../src/time/scheduler.js';

setFlagsFromString('--allow-natives-syntax');
/** V8's own answer to "do these two objects have the same hidden class?". */
const haveSameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: object, b: object) => boolean;
const isSmi = new Function('a', 'return %IsSmi(a)') as (a: number) => boolean;

/** Fields assigned once, in the same order for every instance, by a method that always runs. */
const ASSIGNED_ONCE_LATER: Record<string, string[]> = {
  // Machine calls attach(host) / bind(port) once per backend, right after constructing it.
  BackendBase: ['host'],
  NestedController: ['host', 'port'],
};

/** The classes on the fast paths (DESIGN.md, "Fast paths allocate nothing"), whose field representations matter. */
const HOT_CLASSES = ['ApicPage', 'LocalApic', 'ApicTimer', 'Scheduler', 'IoApic', 'Pic8259', 'PicPair', 'ApicBus'];

async function compile(define: boolean): Promise<string> {
  const out = await build({
    entryPoints: ['src/index.ts'],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    logLevel: 'silent',
    tsconfigRaw: { compilerOptions: { useDefineForClassFields: define } },
  });
  return out.outputFiles[0]!.text;
}

/** class name -> class body, for every `var Name = class ... {}` of an esbuild bundle. */
function classes(bundle: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const m of bundle.matchAll(/var (\w+) = class(?: extends \w+)? \{([\s\S]*?)\n\};/g)) found.set(m[1]!, m[2]!);
  return found;
}

describe('object shapes', () => {
  it('every class field is created by its constructor', async () => {
    const declared = classes(await compile(true));
    const assigned = classes(await compile(false));
    // The patterns must still match esbuild's output: the library has dozens of classes.
    expect(declared.size).toBeGreaterThan(20);
    const missing: string[] = [];
    let fields = 0;
    for (const [name, body] of declared) {
      const ctor = /\n {2}constructor\(([\s\S]*?)\n {2}\}/.exec(assigned.get(name) ?? '')?.[1] ?? '';
      for (const m of body.matchAll(/^ {2}([#\w]+)( =|;)/gm)) {
        const field = m[1]!;
        fields++;
        if (field.startsWith('#')) {
          // An ES private field is created by the class itself, for every instance, in declaration
          // order: one shape by construction. Without an initializer it starts as `undefined`,
          // which would widen the field's representation before the constructor stores the real
          // value; the hot classes give every private field an initializer of its own type.
          if (HOT_CLASSES.includes(name) && m[2] === ';') missing.push(`${name}.${field} (no initializer)`);
          continue;
        }
        if (ASSIGNED_ONCE_LATER[name]?.includes(field)) continue;
        if (!new RegExp(`this\\.${field.replace('#', '\\#')}\\s*=`).test(ctor)) missing.push(`${name}.${field}`);
      }
    }
    expect(fields).toBeGreaterThan(100);
    expect(missing).toEqual([]);
  });

  it('an integer that arrives as a heap number does not change the LocalApic or ApicPage shape', () => {
    // A guest vector computed as `32 + (x >>> 0) % 224` by unoptimised code is a heap number with
    // an integral value. Stored as is into a small-integer field, it would turn that field into a
    // boxed double for every instance: a new hidden class, and the old one deprecated.
    const apic = (): LocalApic => {
      const a = new LocalApic({ id: 0, clock: new Scheduler() });
      a.writeRegister(0xf0, 0x1ff);
      return a;
    };
    const page = (a: LocalApic): object => (a as unknown as { regs: object }).regs;
    const before = apic();
    before.acceptInterrupt(0x40, false);
    const heapNumber = new Float64Array([0x41])[0]!;
    expect(isSmi(heapNumber)).toBe(false);
    const fed = apic();
    fed.acceptInterrupt(heapNumber, false);
    fed.acknowledge();
    fed.acceptInterrupt(new Float64Array([0x42])[0]!, true);
    const after = apic();
    after.acceptInterrupt(0x40, false);
    expect(haveSameMap(before, after)).toBe(true);
    expect(haveSameMap(page(before), page(after))).toBe(true);
    expect(haveSameMap(page(fed), page(after))).toBe(true);
  });
});
