/**
 * Runs every `js` block of docs/embedding.md against the sources (the `irqchip` import resolved
 * to src/index.ts) and compares what it prints with the `text` block right after it. Until the
 * generic docs harness (test/docs/, h-docs) covers this guide too, this keeps the guide true.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const guide = readFileSync(join(root, 'docs/embedding.md'), 'utf8');
const entry = join(root, 'src/index.ts');

interface Block {
  info: string;
  code: string;
  line: number;
}

function blocks(md: string): Block[] {
  const out: Block[] = [];
  const re = /^```([^\n]*)\n([\s\S]*?)^```$/gm;
  for (let m = re.exec(md); m !== null; m = re.exec(md)) {
    out.push({ info: m[1]!.trim(), code: m[2]!, line: md.slice(0, m.index).split('\n').length });
  }
  return out;
}

const all = blocks(guide);
const tmp = mkdtempSync(join(here, '.embedding-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('docs/embedding.md', () => {
  it('has only js blocks (run), text blocks (their output) and not-run blocks', () => {
    for (const b of all) expect(['js', 'text'].includes(b.info) || b.info.endsWith('not-run'), `line ${b.line}: \`\`\`${b.info}`).toBe(true);
    expect(all.filter((b) => b.info === 'js').length).toBeGreaterThanOrEqual(5);
  });

  all.forEach((b, i) => {
    if (b.info !== 'js') return;
    it(`the js block at line ${b.line} runs and prints what the guide shows`, async () => {
      expect(b.code).toMatch(/from 'irqchip'/);
      const file = join(tmp, `block-${i}.mjs`);
      writeFileSync(file, b.code.replaceAll("from 'irqchip'", `from ${JSON.stringify(entry)}`));
      const lines: string[] = [];
      const spy = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
        lines.push(args.map(String).join(' '));
      });
      try {
        await import(/* @vite-ignore */ file);
      } finally {
        spy.mockRestore();
      }
      const next = all[i + 1];
      const expected = next !== undefined && next.info === 'text' ? next.code : '';
      expect(lines.map((l) => `${l}\n`).join('')).toBe(expected);
    });
  });
});
