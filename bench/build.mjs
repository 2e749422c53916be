/**
 * Bundles the bench entry points into bench/.out/ (gitignored) with esbuild, the compiler tsup
 * uses for dist/, so that `npm run bench` and `npm run bench:compare` time plain JavaScript in a
 * plain Node process: what an emulator importing irqchip runs.
 *
 * Why not `node --import tsx`: tsx's loader runs on a hooks thread and transfers ArrayBuffers to
 * it, which invalidates V8's "ArrayBuffer detaching" protector for the whole process; V8 then adds
 * a detached-buffer check to every typed-array access in optimised code (the APIC page is a
 * Uint32Array), and the benchmarks would time the loader instead of the library.
 */
import { build } from 'esbuild';

const entries = ['run', 'one', 'compare', 'memory', 'machine-memory'];
await build({
  entryPoints: Object.fromEntries(entries.map((e) => [e, new URL(`./${e}.ts`, import.meta.url).pathname])),
  outdir: new URL('./.out/', import.meta.url).pathname,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // The same TypeScript settings as the library build (tsup reads tsconfig.src.json).
  tsconfig: new URL('../tsconfig.src.json', import.meta.url).pathname,
  external: ['v86'],
  sourcemap: 'linked',
  logLevel: 'warning',
});
