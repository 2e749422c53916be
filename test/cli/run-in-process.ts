/** Runs the `irqchip` command in-process with captured output and an in-memory file system. */
import { main, type CliIo } from '../../src/cli/main.js';

export interface Run {
  status: number;
  stdout: string;
  stderr: string;
  files: Map<string, string>;
}

/** `main(args)` with stdout/stderr captured, files kept in a Map, no progress, a frozen clock. */
export function run(args: string[], extra: Partial<CliIo> = {}): Run {
  let stdout = '';
  let stderr = '';
  const files = new Map<string, string>();
  const io: CliIo = {
    out: (t) => void (stdout += t),
    err: (t) => void (stderr += t),
    progress: false,
    writeFile: (path, data) => void files.set(path, data),
    clockMs: () => 0,
    ...extra,
  };
  const status = main(args, io);
  return { status, stdout, stderr, files };
}
