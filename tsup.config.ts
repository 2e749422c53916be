import { readFileSync } from 'node:fs';
import { defineConfig } from 'tsup';

const { version } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as { version: string };

export default defineConfig([
  // The library: ESM + CJS + type declarations, platform neutral (browsers and Node).
  {
    entry: { index: 'src/index.ts' },
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    // Everything in dist/ but the CLI, which the second build writes at the same time.
    clean: ['!cli.js', '!cli.js.map'],
    target: 'es2022',
    platform: 'neutral',
    tsconfig: 'tsconfig.src.json',
  },
  // The `irqchip` command (package.json "bin"): one ESM file for Node, with its shebang.
  {
    entry: { cli: 'src/cli/cli.ts' },
    format: ['esm'],
    dts: false,
    sourcemap: true,
    clean: false,
    target: 'node20',
    platform: 'node',
    banner: { js: '#!/usr/bin/env node' },
    define: { __IRQCHIP_VERSION__: JSON.stringify(version) },
    tsconfig: 'tsconfig.src.json',
  },
]);
