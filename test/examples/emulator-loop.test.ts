/**
 * examples/emulator-loop.mjs is the host loop of docs/embedding.md: its code (below the comment
 * header) must be the guide's block verbatim, and running it against the built package must print
 * the guide's output.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const example = join(root, 'examples/emulator-loop.mjs');
const guide = readFileSync(join(root, 'docs/embedding.md'), 'utf8');

/** The example without its leading comment lines. */
function body(): string {
  return readFileSync(example, 'utf8').replace(/^(\/\/[^\n]*\n)+/, '');
}

/** The guide's js block with this code, and the text block after it. */
function guideBlock(code: string): { found: boolean; output: string } {
  const re = /^```(\w*)\n([\s\S]*?)^```$/gm;
  const all: Array<[string, string]> = [];
  for (let m = re.exec(guide); m !== null; m = re.exec(guide)) all.push([m[1]!, m[2]!]);
  const i = all.findIndex(([info, c]) => info === 'js' && c === code);
  return { found: i >= 0, output: i >= 0 && all[i + 1]?.[0] === 'text' ? all[i + 1]![1] : '' };
}

describe('examples/emulator-loop.mjs', () => {
  it('is the host loop block of docs/embedding.md, verbatim', () => {
    expect(guideBlock(body()).found).toBe(true);
  });

  it('prints what the guide shows', () => {
    const dist = join(root, 'dist/index.js');
    if (!existsSync(dist)) throw new Error(`${dist} is missing: run 'npm run build' first ('npm test' does)`);
    const out = execFileSync(process.execPath, [example], { cwd: root, encoding: 'utf8' });
    expect(out).toBe(guideBlock(body()).output);
  });
});
