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
 * assignment-semantics output.
 */
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

/** Fields assigned once, in the same order for every instance, by a method that always runs. */
const ASSIGNED_ONCE_LATER: Record<string, string[]> = {
  // Machine calls attach(host) / bind(port) once per backend, right after constructing it.
  BackendBase: ['host'],
  NestedController: ['host', 'port'],
};

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
      for (const m of body.matchAll(/^ {2}([#\w]+)(?: =|;)/gm)) {
        const field = m[1]!;
        fields++;
        if (ASSIGNED_ONCE_LATER[name]?.includes(field)) continue;
        if (!new RegExp(`this\\.${field.replace('#', '\\#')}\\s*=`).test(ctor)) missing.push(`${name}.${field}`);
      }
    }
    expect(fields).toBeGreaterThan(100);
    expect(missing).toEqual([]);
  });
});
