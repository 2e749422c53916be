/**
 * `npm run test:pack` (a step of .ci/run, not of `npm test`: it is slow and runs npm): the package
 * as a user gets it. Copies the clean tree (git's tracked and unignored files: no dist/) to a
 * temporary directory, runs `npm pack` there (prepack builds dist/), installs the tarball into an
 * empty project with `npm install --offline` (irqchip has no dependencies, so nothing is
 * downloaded) and uses it four ways: ESM import, CommonJS require, a `tsc --strict` file for each,
 * and `npx irqchip compare lost-ipi`. The first three use each entry point (`irqchip`,
 * `irqchip/registers`, `irqchip/svg`, `irqchip/scenarios`) and check that a scenario's machine is
 * the main entry's Machine class.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const NPX = process.platform === 'win32' ? 'npx.cmd' : 'npx';
const work = mkdtempSync(join(tmpdir(), 'irqchip-pack-'));

function run(cmd, args, cwd) {
  console.log(`$ ${cmd} ${args.join(' ')}    (in ${cwd})`);
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
}

/** The clean tree: what a fresh clone has, plus the repository's node_modules for the build tools. */
function cleanCopy() {
  const tree = join(work, 'tree');
  const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: ROOT, encoding: 'utf8' })
    .split('\0')
    .filter((f) => f !== '' && !f.startsWith('node_modules/'));
  for (const f of files) {
    mkdirSync(dirname(join(tree, f)), { recursive: true });
    try {
      cpSync(join(ROOT, f), join(tree, f));
    } catch (e) {
      if (e.code !== 'ENOENT') throw e; // deleted in the working tree, not yet in git
    }
  }
  symlinkSync(join(ROOT, 'node_modules'), join(tree, 'node_modules'), 'dir');
  return tree;
}

const ESM_USE = `import assert from 'node:assert/strict';
import { LocalApic, Machine, Scheduler } from 'irqchip';
import { registers, ioapicRegisters } from 'irqchip/registers';
import { toSvg } from 'irqchip/svg';
import { runScenario, formatSummary } from 'irqchip/scenarios';
const apic = new LocalApic({ id: 0, clock: new Scheduler() });
apic.writeRegister(registers.APIC_SVR, 0x1ff);
apic.acceptInterrupt(0x41, false);
assert.equal(apic.acknowledge(), 0x41);
assert.equal(ioapicRegisters.IOWIN, 0x10);
assert.equal(Machine.name, 'Machine');
const m = new Machine({ cpus: 2, backend: 'svm-event' });
assert.equal(m.vcpus.length, 2);
const run = runScenario('lost-ipi', { backend: 'svm-vintr' });
assert.equal(run.lost, 1);
assert.ok(run.machine instanceof Machine, 'one Machine class for irqchip and irqchip/scenarios');
assert.match(formatSummary(run), /lost/);
assert.ok(toSvg(run.machine.trace, { title: 'packed' }).includes('>packed</text>'));
console.log('esm ok');
`;

const CJS_USE = `const assert = require('node:assert/strict');
const { LocalApic, Machine, Scheduler } = require('irqchip');
const { registers, picRegisters } = require('irqchip/registers');
const { toSvg } = require('irqchip/svg');
const { runScenario } = require('irqchip/scenarios');
const apic = new LocalApic({ id: 0, clock: new Scheduler() });
apic.writeRegister(registers.APIC_SVR, 0x1ff);
apic.acceptInterrupt(0x52, true);
assert.equal(apic.pendingVector(), 0x52);
assert.equal(typeof picRegisters, 'object');
assert.equal(Machine.name, 'Machine');
const run = runScenario('lost-ipi', { backend: 'svm-vintr' });
assert.equal(run.lost, 1);
assert.ok(run.machine instanceof Machine, 'one Machine class for irqchip and irqchip/scenarios');
assert.match(toSvg(run.machine.trace), /^<svg /);
console.log('cjs ok');
`;

const TS_USE = `import { LocalApic, Machine, Platform, Scheduler, type Clock, type Explanation } from 'irqchip';
import { registers } from 'irqchip/registers';
import { toSvg, type SvgOptions } from 'irqchip/svg';
import { runScenario, type ScenarioRun } from 'irqchip/scenarios';
const clock: Clock = new Scheduler();
const apic = new LocalApic({ id: 0, clock, bsp: true });
apic.writeRegister(registers.APIC_SVR, 0x1ff);
const v: number = apic.pendingVector();
const msr: bigint | undefined = apic.readMsr(0x1b);
const pc = new Platform({ cpus: 2 });
const why: Explanation = pc.explain(0, 0x30);
const run: ScenarioRun = runScenario('lost-ipi', { backend: 'svm-vintr' });
const machine: Machine = run.machine;
const opts: SvgOptions = { endNs: run.result.timeNs };
const svg: string = toSvg(machine.trace, opts);
export const out = [v, msr, why.reason, svg];
`;

try {
  const tree = cleanCopy();
  assert.equal(readdirSync(tree).includes('dist'), false, 'the copied tree must not have dist/');
  const tarball = join(work, run(NPM, ['pack', '--silent', '--pack-destination', work], tree).trim().split('\n').pop());
  console.log(`packed ${tarball}`);

  const app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  run(NPM, ['install', '--offline', '--no-audit', '--no-fund', '--no-package-lock', tarball], app);

  writeFileSync(join(app, 'use.mjs'), ESM_USE);
  writeFileSync(join(app, 'use.cjs'), CJS_USE);
  assert.match(run(process.execPath, ['use.mjs'], app), /esm ok/);
  assert.match(run(process.execPath, ['use.cjs'], app), /cjs ok/);

  // Type declarations as a strict TypeScript user sees them, for an ES module and a CommonJS one.
  writeFileSync(join(app, 'use.mts'), TS_USE);
  writeFileSync(join(app, 'use.cts'), TS_USE);
  const tsc = createRequire(join(ROOT, 'package.json')).resolve('typescript/bin/tsc');
  const compilerOptions = { strict: true, noEmit: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', types: [] };
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['use.mts', 'use.cts'] }));
  run(process.execPath, [tsc, '-p', 'tsconfig.json'], app);

  const out = run(NPX, ['--offline', '--no-install', 'irqchip', 'compare', 'lost-ipi'], app);
  assert.match(out, /^lost-ipi, every backend/);
  assert.match(out, /svm-vintr: LOST: vCPU 1 vector 0x40/);
  console.log('pack test ok');
} finally {
  rmSync(work, { recursive: true, force: true });
}
