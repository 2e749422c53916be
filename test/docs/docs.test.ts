/**
 * The docs harness: every fenced js / ts / sh block in README.md and docs/ (and every `@example`
 * in the doc comments of src/) is executed, type-checked or explicitly marked `not-run`, so a doc
 * cannot drift from the code without a test failing. Conventions: test/docs/blocks.ts and
 * docs/architecture.md ("Code blocks in the docs"). `npm test` builds dist/ first, which the js
 * and sh blocks run against.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { type Block, NOT_RUN_REASON, exampleBlocks, extractBlocks, markdownBlocks, sourceFiles } from './blocks.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'dist', 'cli.js');
/** js blocks are written here, inside the package, so `import 'irqchip'` self-resolves to dist/. */
const OUT = join(ROOT, 'test', 'docs', '.out');
/** Files the blocks write (trace.json, storm.svg, ...) land here. */
const CWD = mkdtempSync(join(tmpdir(), 'irqchip-docs-'));
afterAll(() => rmSync(CWD, { recursive: true, force: true }));

const md = markdownBlocks(ROOT);
const examples = exampleBlocks(ROOT);
const all = [...md, ...examples];
const where = (b: Block): string => `${b.file}:${b.line}`;
const checked = (lang: Block['lang']) => all.filter((b) => b.lang === lang && !b.notRun);

function needDist(): void {
  if (!existsSync(join(ROOT, 'dist', 'index.js')) || !existsSync(CLI)) {
    throw new Error('dist/ is missing: run `npm run build` (npm test does) before the docs harness');
  }
}

/** Lines compared for output: trailing blanks dropped, so editors' whitespace does not matter. */
const normalize = (s: string): string => s.split('\n').map((l) => l.trimEnd()).join('\n').trim();

function mismatch(b: Block, what: string, expected: string, actual: string): string {
  return `${where(b)}: ${what} differs from what the doc shows. Actual output (paste it into the doc if the change is intended):\n` +
    `----8<----\n${actual.trimEnd()}\n----8<----\nexpected:\n----8<----\n${expected.trimEnd()}\n----8<----`;
}

/**
 * Runs JavaScript modules one after another in one Node process (a process per block costs
 * ~0.5 s on a loaded machine): each module's console.log output is captured separately and an
 * exception is reported instead of ending the run. Modules are queued first and run together
 * the first time a result is asked for.
 */
const RUNNER = `import { pathToFileURL } from 'node:url';
import { format } from 'node:util';
const results = {};
const log = console.log;
for (const file of process.argv.slice(2)) {
  let out = '';
  console.log = (...args) => { out += format(...args) + '\\n'; };
  try { await import(pathToFileURL(file).href); results[file] = { ok: true, out }; }
  catch (e) { results[file] = { ok: false, out, error: String(e && e.stack ? e.stack : e) }; }
}
console.log = log;
process.stdout.write(JSON.stringify(results));
`;
const queued: string[] = [];
let ran: Record<string, { ok: boolean; out: string; error?: string }> | undefined;
function queue(name: string, js: string): string {
  mkdirSync(OUT, { recursive: true });
  const file = join(OUT, name);
  writeFileSync(file, js);
  queued.push(file);
  return file;
}
function result(file: string): { ok: boolean; out: string; error?: string } {
  needDist();
  if (ran === undefined) {
    const runner = join(OUT, 'runner.mjs');
    writeFileSync(runner, RUNNER);
    const r = spawnSync(process.execPath, [runner, ...queued], { cwd: CWD, encoding: 'utf8', timeout: 120_000, maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(`the block runner failed (${r.status}):\n${r.stderr}`);
    ran = JSON.parse(r.stdout) as typeof ran;
  }
  return ran![file]!;
}

describe('the block extractor', () => {
  it('finds js, ts and sh blocks, the not-run and continued suffixes, indented fences and the next block', () => {
    const text = [
      'Intro.', '', '```ts', 'const a = 1;', '```', '', '```ts continued', 'a;', '```',
      'A sketch, not run:', '```ts not-run', 'shape', '```',
      '- item', '  ```sh', '  npx irqchip list', '  ```', '', '  ```text', '  out', '  ```',
      '```mermaid', 'x', '```',
    ].join('\n');
    const blocks = extractBlocks('x.md', text);
    expect(blocks.map((b) => [b.lang, b.line, b.notRun, b.continued])).toEqual([
      ['ts', 3, false, false], ['ts', 7, false, true], ['ts', 11, true, false], ['sh', 15, false, false],
      ['text', 19, false, false], ['other', 22, false, false],
    ]);
    expect(blocks[3]!.body).toBe('npx irqchip list');
    expect(blocks[3]!.next?.body).toBe('out');
    expect(blocks[2]!.next).toBeUndefined();
    expect(NOT_RUN_REASON.test(blocks[2]!.nearby)).toBe(true);
  });
});

describe('not-run blocks say why', () => {
  const notRun = all.filter((b) => b.notRun && b.lang !== 'other' && b.lang !== 'text');
  it.each(notRun.map((b) => [where(b), b] as const))('%s', (_, b) => {
    expect(
      NOT_RUN_REASON.test(b.nearby),
      `${where(b)} is marked not-run, but no sentence within a few lines says why (say it is a sketch, a shape / signature listing, pseudo-code, or what it needs)`,
    ).toBe(true);
  });
});

describe('js blocks run and print what the doc shows', () => {
  /** Trailing `// ...` lines after the last code line are the expected stdout. */
  function expectedOutput(b: Block): string | undefined {
    if (b.next?.lang === 'text') return b.next.body;
    const lines = b.body.trimEnd().split('\n');
    let k = lines.length;
    while (k > 0 && /^\s*\/\/ ?/.test(lines[k - 1]!)) k--;
    if (k === lines.length || !/console\.log/.test(b.body)) return undefined;
    return lines.slice(k).map((l) => l.replace(/^\s*\/\/ ?/, '')).join('\n');
  }
  const blocks = checked('js').map((b) => ({ b, file: queue(`${b.file.replace(/[/\\.]/g, '_')}_${b.line}.mjs`, b.body + '\n') }));
  it.each(blocks.map((x) => [where(x.b), x] as const))('%s', (_, { b, file }) => {
    const r = result(file);
    expect(r.ok, `${where(b)} threw:\n${r.error}`).toBe(true);
    const expected = expectedOutput(b);
    if (expected !== undefined) expect(normalize(r.out), mismatch(b, 'stdout', expected, r.out)).toBe(normalize(expected));
  });
});

describe('sh blocks run the irqchip command and print what the doc shows', () => {
  /** One command line of a block: `irqchip ARGS` or `npx irqchip ARGS`, a trailing `# comment` dropped. */
  function args(line: string): string[] | undefined {
    const words = line.replace(/\s+#.*$/, '').trim().split(/\s+/);
    if (words[0] === 'npx') words.shift();
    return words[0] === 'irqchip' ? words.slice(1) : undefined;
  }
  const blocks = checked('sh');
  it.each(blocks.map((b) => [where(b), b] as const))('%s', (_, b) => {
    needDist();
    const commands = b.body.split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
    let stdout = '';
    for (const line of commands) {
      const argv = args(line);
      expect(argv, `${where(b)}: "${line}" is not an irqchip command; the harness runs only those. Mark the block \`sh not-run\` and say why nearby`).toBeDefined();
      const r = spawnSync(process.execPath, [CLI, ...argv!], {
        cwd: CWD, encoding: 'utf8', timeout: 120_000, env: { ...process.env, IRQCHIP_PROGRESS: '0' },
      });
      expect(r.status, `${where(b)}: "${line}" exited with ${r.status}:\n${r.stderr}`).toBe(0);
      stdout += r.stdout;
    }
    if (b.next?.lang === 'text') expect(normalize(stdout), mismatch(b, 'the output', b.next.body, stdout)).toBe(normalize(b.next.body));
  });
});

describe('ts blocks type-check under --strict', () => {
  const blocks = checked('ts');
  /** Each block is its own module; a `continued` block follows the earlier ones of its chain. */
  const files = new Map<string, { block: Block; text: string; firstLine: number }>();
  let chain = '';
  for (const b of blocks) {
    chain = b.continued ? chain : '';
    const prefix = chain === '' ? '' : chain + '\n';
    const name = join(ROOT, 'test', 'docs', '.virtual', `${b.file.replace(/[/\\.]/g, '_')}_${b.line}.ts`);
    files.set(name, { block: b, text: `${prefix}${b.body}\nexport {};\n`, firstLine: prefix.split('\n').length - 1 });
    chain = prefix + b.body;
  }
  /**
   * `irqchip` and its subpaths (package.json "exports": `irqchip/registers` -> src/registers.ts, ...)
   * resolve to the sources, so a ts block is checked against the code, not a stale dist/.
   */
  const exportsMap = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, unknown> }).exports;
  const ENTRY_PATHS: Record<string, string[]> = Object.fromEntries(
    Object.keys(exportsMap)
      .filter((key) => key !== './package.json')
      .map((key) => (key === '.' ? ['irqchip', [join(ROOT, 'src', 'index.ts')]] : [`irqchip/${key.slice(2)}`, [join(ROOT, 'src', `${key.slice(2)}.ts`)]])),
  );
  let diagnostics: Map<string, string[]> | undefined;
  function check(): Map<string, string[]> {
    if (diagnostics) return diagnostics;
    const options: ts.CompilerOptions = {
      target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler,
      lib: ['lib.es2022.d.ts'], types: ['node'], typeRoots: [join(ROOT, 'node_modules', '@types')],
      strict: true, noEmit: true, skipLibCheck: true, useDefineForClassFields: false, isolatedModules: true,
      paths: ENTRY_PATHS,
    };
    const host = ts.createCompilerHost(options);
    const { getSourceFile, fileExists, readFile } = host;
    host.fileExists = (f) => files.has(f) || fileExists.call(host, f);
    host.readFile = (f) => files.get(f)?.text ?? readFile.call(host, f);
    host.getSourceFile = (f, lang, ...rest) => {
      const v = files.get(f);
      return v ? ts.createSourceFile(f, v.text, lang) : getSourceFile.call(host, f, lang, ...rest);
    };
    const program = ts.createProgram([...files.keys()], options, host);
    diagnostics = new Map([...files.keys()].map((f) => [f, []]));
    for (const d of ts.getPreEmitDiagnostics(program)) {
      const v = d.file && files.get(d.file.fileName);
      if (!v || d.start === undefined) continue;
      const { line } = d.file!.getLineAndCharacterOfPosition(d.start);
      if (line < v.firstLine) continue; // reported for the earlier block of the chain
      diagnostics.get(d.file!.fileName)!.push(
        `${v.block.file}:${v.block.bodyLine + line - v.firstLine}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`,
      );
    }
    return diagnostics;
  }
  it('resolves irqchip and each subpath of package.json "exports" to its source file', () => {
    expect(Object.keys(ENTRY_PATHS).sort()).toEqual(['irqchip', 'irqchip/registers', 'irqchip/scenarios', 'irqchip/svg']);
    for (const [name, [file]] of Object.entries(ENTRY_PATHS)) expect(existsSync(file!), `${name} -> ${file}`).toBe(true);
  });
  it.each([...files].map(([name, v]) => [where(v.block), name] as const))('%s', (_, name) => {
    const errors = check().get(name)!;
    expect(errors, errors.join('\n')).toEqual([]);
  });

  /**
   * A ts block also runs (transpiled, against dist/) unless it declares what the reader supplies
   * (`declare const cpu: ...`) or a `ts continued` block follows it (the chain's last block runs
   * the whole chain).
   */
  const runnable = [...files]
    .filter(([, v], i, all) => !/^declare /m.test(v.text) && !(all[i + 1]?.[1].block.continued ?? false))
    .map(([, v]) => {
      const js = ts.transpileModule(v.text, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext } }).outputText;
      return { v, file: queue(`${v.block.file.replace(/[/\\.]/g, '_')}_${v.block.line}_ts.mjs`, js) };
    });
  it.each(runnable.map((x) => [where(x.v.block), x] as const))('%s runs', (_, { v, file }) => {
    const r = result(file);
    expect(r.ok, `${where(v.block)} threw:\n${r.error}`).toBe(true);
  });
});

describe('coverage of the convention', () => {
  it('every class exported from src/index.ts has a summary and an @example', () => {
    const index = readFileSync(join(ROOT, 'src', 'index.ts'), 'utf8');
    const missing: string[] = [];
    let classes = 0;
    for (const file of sourceFiles(join(ROOT, 'src'))) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/(\/\*\*(?:(?!\*\/)[^])*\*\/)?\s*\nexport class (\w+)/g)) {
        const [, doc, name] = m;
        if (!new RegExp(`\\b${name}\\b`).test(index)) continue;
        classes++;
        if (doc === undefined || !/^\s*\/\*\*\s*\n?\s*\*?\s*\w/.test(doc) || !doc.includes('@example')) missing.push(name!);
      }
    }
    expect(classes).toBeGreaterThanOrEqual(18);
    expect(missing, `classes without a summary or an @example: ${missing.join(', ')}`).toEqual([]);
  });

  it('finds the blocks of README.md and docs/', () => {
    // The README alone shows two runnable js blocks and an irqchip command with its output.
    expect(md.filter((b) => b.file === 'README.md' && b.lang === 'js' && !b.notRun).length).toBeGreaterThanOrEqual(2);
    expect(md.some((b) => b.file === 'README.md' && b.lang === 'sh' && b.next?.lang === 'text')).toBe(true);
  });
});
