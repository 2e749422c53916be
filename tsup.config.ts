import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Plugin } from 'esbuild';
import { defineConfig, type Options } from 'tsup';

const { version } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as { version: string };
const SRC = fileURLToPath(new URL('./src/', import.meta.url));

/**
 * The package's entry points (package.json "exports"): the library, and three parts not every
 * program needs and none should carry in its bundle unasked — the register tables, the SVG
 * renderer and the CLI's scenarios (docs/performance.md, "Bundle size").
 */
const ENTRIES = {
  index: 'src/index.ts',
  registers: 'src/registers.ts',
  svg: 'src/svg.ts',
  scenarios: 'src/scenarios.ts',
};

/** Settings shared by every build. `npm run build` empties dist/ first (the builds run in parallel). */
const common: Options = {
  clean: false,
  // No source maps: they tripled the package (2.3 MB, carrying the sources); the ESM files are
  // unminified, one per source module, and read like the TypeScript they come from.
  sourcemap: false,
  target: 'es2022',
  tsconfig: 'tsconfig.src.json',
  define: { __IRQCHIP_VERSION__: JSON.stringify(version) },
};

/**
 * The CLI entry's imports, left as imports of the library's own ESM files (src/cli/main.ts ->
 * ./cli/main.js) so that dist/cli.js is a few lines and the command runs the library build
 * instead of a second bundled copy of it.
 */
const cliImportsLibraryFiles: Plugin = {
  name: 'cli-imports-library-files',
  setup(build) {
    build.onResolve({ filter: /^\.\.?\// }, (args) => {
      if (args.kind === 'entry-point') return undefined;
      const source = relative(SRC, fileURLToPath(new URL(args.path, `file://${args.resolveDir}/`)));
      return { path: `./${source.replaceAll('\\', '/')}`, external: true };
    });
  },
};

export default defineConfig([
  // ESM, one output file per source module: bundlers keep only the modules an application uses
  // ("sideEffects": false), and classes keep their declared names (`Machine.name === 'Machine'`).
  {
    ...common,
    entry: ['src/**/*.ts', '!src/cli/cli.ts'],
    format: ['esm'],
    bundle: false,
    dts: { entry: ENTRIES },
    platform: 'neutral',
  },
  // CommonJS: one bundled file. keepNames, because bundling renames a class that refers to itself
  // (`class Machine` became `_Machine` in `.name`, stack traces and error text); CommonJS is not
  // tree-shaken, so the `__name` calls cost only their bytes here.
  //
  // The four entry points share their modules through chunks (tsup's code splitting for CommonJS),
  // so `require('irqchip/scenarios')` runs on the very classes `require('irqchip')` exports: one
  // Machine, not two that `instanceof` tells apart.
  {
    ...common,
    entry: ENTRIES,
    format: ['cjs'],
    dts: { entry: ENTRIES },
    splitting: true,
    keepNames: true,
    platform: 'neutral',
  },
  // The `irqchip` command (package.json "bin"): its entry file with the shebang, importing the
  // rest from the ESM build above.
  {
    ...common,
    entry: { cli: 'src/cli/cli.ts' },
    format: ['esm'],
    dts: false,
    platform: 'node',
    target: 'node20',
    banner: { js: '#!/usr/bin/env node' },
    esbuildPlugins: [cliImportsLibraryFiles],
  },
]);
