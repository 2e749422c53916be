// The command runs on Node: its types (tsconfig.src.json leaves them out for the library).
/// <reference types="node" />
/**
 * Entry point of the `irqchip` command (built to dist/cli.js with a `#!/usr/bin/env node`
 * banner). See docs/cli.md.
 *
 * @module
 */
import { accessSync, constants, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import process from 'node:process';
import { main } from './main.js';

// Progress on stderr for long runs on a terminal; IRQCHIP_PROGRESS=1 forces it (at once), =0 turns it off.
const forced = process.env.IRQCHIP_PROGRESS;
const auto = forced === undefined || forced === '';
process.exitCode = main(process.argv.slice(2), {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  progress: auto ? process.stderr.isTTY === true : forced !== '0',
  progressDelayMs: auto ? 250 : 0,
  writeFile: (path, data) => writeFileSync(path, data),
  cannotWrite,
  clockMs: () => Date.now(),
});

/** Why a file cannot be written at `path` (checked before a run): a missing or read-only folder, a folder in its place. */
function cannotWrite(path: string): string | undefined {
  try {
    if (statSync(path, { throwIfNoEntry: false })?.isDirectory() === true) return 'is a directory';
    const dir = dirname(path);
    const d = statSync(dir, { throwIfNoEntry: false });
    if (d === undefined) return `no such directory ${dir}`;
    if (!d.isDirectory()) return `${dir} is not a directory`;
    accessSync(statSync(path, { throwIfNoEntry: false }) === undefined ? dir : path, constants.W_OK);
    return undefined;
  } catch (e) {
    const code = (e as { code?: string }).code;
    return code === 'EACCES' || code === 'EPERM' ? 'permission denied' : (e as Error).message;
  }
}
