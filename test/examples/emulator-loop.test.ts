/**
 * examples/emulator-loop.mjs is the host loop of docs/embedding.md: its code (below the comment
 * header) must be the guide's block verbatim, and running it against the built package must print
 * the guide's output. Its save / restore into a fresh Platform halfway must not change what the
 * guest sees: the same run without it prints the same, but for the line announcing the restore.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

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

/** Runs a module against dist/ (from inside the package, so `import 'irqchip'` resolves to it). */
function run(file: string): string {
  const dist = join(root, 'dist/index.js');
  if (!existsSync(dist)) throw new Error(`${dist} is missing: run 'npm run build' first ('npm test' does)`);
  return execFileSync(process.execPath, [file], { cwd: root, encoding: 'utf8' });
}

const tmp = mkdtempSync(join(root, 'test/examples/.emulator-loop-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The line the example prints when it restores. */
const RESTORE_LINE = /^restored at /;

describe('examples/emulator-loop.mjs', () => {
  it('is the host loop block of docs/embedding.md, verbatim', () => {
    expect(guideBlock(body()).found).toBe(true);
  });

  it('prints what the guide shows', () => {
    expect(run(example)).toBe(guideBlock(body()).output);
  });

  it('a save / restore into a fresh Platform in the middle changes nothing the guest sees', () => {
    const code = body();
    const withoutRestore = code.replace('const restoreAt = 600_000;', 'const restoreAt = -1;');
    expect(withoutRestore).not.toBe(code);
    const file = join(tmp, 'no-restore.mjs');
    writeFileSync(file, withoutRestore);
    const plain = run(file).split('\n');
    const restored = run(example).split('\n');
    expect(restored.filter((l) => RESTORE_LINE.test(l))).toEqual(['restored at 600us: saved at 600us, new clock at 0ns']);
    expect(plain.some((l) => RESTORE_LINE.test(l))).toBe(false);
    expect(restored.filter((l) => !RESTORE_LINE.test(l))).toEqual(plain);
    // Not vacuous: the timer keeps firing after the restore (it was armed before it).
    expect(plain).toContain('CPU 0: 0xec@300us 0xec@500us NMI 0xec@800us 0xec@1000us');
  });
});
