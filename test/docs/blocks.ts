/**
 * Finds the fenced code blocks of the Markdown docs (README.md, docs/**.md) and the `@example`
 * blocks of the doc comments in src/, and classifies them for the docs harness (docs.test.ts).
 *
 * The convention (also in docs/architecture.md, "Code blocks in the docs"):
 * - ```js blocks run under Node against the built package (`import ... from 'irqchip'`, or from
 *   a subpath such as `'irqchip/svg'`); trailing `// ` comment lines (or an immediately following
 *   ```text block) are the expected stdout.
 * - ```ts blocks are type-checked under `--strict` against src/ (`irqchip/svg` -> src/svg.ts, ...);
 *   `ts continued` continues the previous ts block of the same file (a walk-through split by prose).
 * - ```sh blocks may only run `irqchip ...` / `npx irqchip ...`; an immediately following ```text
 *   block is the expected stdout.
 * - The info-string suffix `not-run` (```ts not-run) exempts a block; a sentence near it must say
 *   why (see {@link NOT_RUN_REASON}).
 * Other languages (text, mermaid, no info string) are prose and are not checked.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

export type Lang = 'js' | 'ts' | 'sh' | 'text' | 'other';

export interface Block {
  /** Path relative to the repository root. */
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** 1-based line of the first line of the body. */
  bodyLine: number;
  lang: Lang;
  /** The info string as written (after the fence). */
  info: string;
  notRun: boolean;
  /** `ts continued`: type-checked after the previous ts block of the same file. */
  continued: boolean;
  body: string;
  /** Lines of prose (outside blocks) within a few lines before and after the block. */
  nearby: string;
  /** The block that follows with nothing but blank lines in between, if any. */
  next?: Block;
}

const LANGS: Record<string, Lang> = {
  js: 'js', javascript: 'js', mjs: 'js',
  ts: 'ts', typescript: 'ts',
  sh: 'sh', bash: 'sh', shell: 'sh', console: 'sh',
  text: 'text', txt: 'text',
};

/**
 * A not-run block needs a sentence within a few lines saying why it does not run: that it is a
 * sketch / shape / signature / pseudo-code listing / fragment, or that it needs something the
 * harness does not have.
 */
export const NOT_RUN_REASON =
  /\b(not run|not-run|isn't run|not executed|not runnable|cannot run|can't run|sketch|shapes?|signatures?|pseudo|outline|fragment|listing|at a glance|needs? (a|an|the|your)|requires?)\b/i;

const FENCE = /^(\s*)(`{3,}|~{3,})\s*(.*)$/;

/** Every fenced block of one Markdown text. `lineOffset` maps lines back (for doc comments). */
export function extractBlocks(file: string, text: string, lineOffset = 0): Block[] {
  const lines = text.split('\n');
  const blocks: Block[] = [];
  const prose: boolean[] = lines.map(() => true);
  let i = 0;
  while (i < lines.length) {
    const open = FENCE.exec(lines[i]!);
    if (!open) { i++; continue; }
    const [, indent, fence, infoRaw] = open;
    const info = infoRaw!.trim();
    const start = i;
    const body: string[] = [];
    i++;
    while (i < lines.length) {
      const close = FENCE.exec(lines[i]!);
      if (close && close[2]![0] === fence![0] && close[2]!.length >= fence!.length && close[3]!.trim() === '') break;
      body.push(lines[i]!.startsWith(indent!) ? lines[i]!.slice(indent!.length) : lines[i]!.trimStart());
      i++;
    }
    for (let k = start; k <= Math.min(i, lines.length - 1); k++) prose[k] = false;
    const words = info.split(/\s+/).filter((w) => w !== '');
    const first = (words[0] ?? '').toLowerCase();
    blocks.push({
      file,
      line: start + 1 + lineOffset,
      bodyLine: start + 2 + lineOffset,
      lang: LANGS[first] ?? 'other',
      info,
      notRun: words.includes('not-run'),
      continued: words.includes('continued'),
      body: body.join('\n'),
      nearby: '',
      // filled below
    });
    (blocks[blocks.length - 1] as Block & { _end: number })._end = i;
    i++;
  }
  for (let b = 0; b < blocks.length; b++) {
    const block = blocks[b] as Block & { _end: number };
    const from = block.line - 1 - lineOffset;
    const near: string[] = [];
    for (let k = from - 1; k >= Math.max(0, from - 8); k--) if (prose[k]) near.push(lines[k]!);
    for (let k = block._end + 1; k <= Math.min(lines.length - 1, block._end + 4); k++) if (prose[k]) near.push(lines[k]!);
    block.nearby = near.join(' ');
    const after = blocks[b + 1] as (Block & { _end: number }) | undefined;
    if (after) {
      const gap = lines.slice(block._end + 1, after.line - 1 - lineOffset);
      if (gap.every((l) => l.trim() === '')) block.next = after;
    }
  }
  for (const block of blocks) delete (block as Partial<Block & { _end: number }>)._end;
  return blocks;
}

/** README.md and every Markdown file under docs/ except the generated API site. */
export function markdownFiles(root: string): string[] {
  const out = [join(root, 'README.md')];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(dir, entry.name);
      if (entry.isDirectory()) { if (relative(root, p) !== join('docs', 'api')) walk(p); }
      else if (entry.name.endsWith('.md')) out.push(p);
    }
  };
  walk(join(root, 'docs'));
  return out;
}

export function markdownBlocks(root: string): Block[] {
  return markdownFiles(root).flatMap((p) => extractBlocks(relative(root, p), readFileSync(p, 'utf8')));
}

/** Every .ts file under src/. */
export function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((e) => (e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/**
 * The fenced blocks inside `@example` tags of the doc comments in src/ (typedoc renders them);
 * their line numbers are those of the source file.
 */
export function exampleBlocks(root: string): Block[] {
  const out: Block[] = [];
  for (const path of sourceFiles(join(root, 'src'))) {
    const text = readFileSync(path, 'utf8');
    const comment = /\/\*\*[\s\S]*?\*\//g;
    for (let m = comment.exec(text); m; m = comment.exec(text)) {
      if (!m[0].includes('@example')) continue;
      const startLine = text.slice(0, m.index).split('\n').length - 1;
      const inner = m[0].split('\n').map((l) => l.replace(/^\s*\/?\*+\/?\s?/, '').replace(/\s*\*\/$/, ''));
      // Only the blocks after an @example tag (and before the next tag) are examples.
      let inExample = false;
      const kept = inner.map((l) => {
        if (/^@example\b/.test(l)) inExample = true;
        else if (/^@\w+/.test(l)) inExample = false;
        return inExample ? l : '';
      });
      out.push(...extractBlocks(relative(root, path), kept.join('\n'), startLine).filter((b) => b.lang !== 'other'));
    }
  }
  return out;
}
