// The command runs on Node: its types (tsconfig.src.json leaves them out for the library).
/// <reference types="node" />
/**
 * Entry point of the `irqchip` command (built to dist/cli.js with a `#!/usr/bin/env node`
 * banner). See docs/cli.md.
 *
 * @module
 */
import { writeFileSync } from 'node:fs';
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
  clockMs: () => Date.now(),
});
