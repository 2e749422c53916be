/**
 * machine-pingpong-<backend>: two vCPUs of a Machine answering each other's IPIs through an
 * injection backend, with the trace off. One op = one IPI handled by the guest (sent by one vCPU,
 * delivered through the backend, handler entered, EOI, answered), so ops/s is simulated IPIs per
 * wall-clock second.
 */
import type { GuestProgram, Instr } from '../src/guest/program.js';
import type { BackendName } from '../src/inject/backend.js';
import { Machine } from '../src/machine/machine.js';
import type { Bench } from './common.js';

const BACKENDS: BackendName[] = ['svm-event', 'svm-vintr', 'vmx-event', 'vmx-vid', 'vmx-posted'];
const VECTOR = 0x50;
/** Virtual time per run() slice; a round trip takes a few virtual microseconds. */
const SLICE_NS = 1_000_000;

/** Each side answers every IPI it gets; vCPU 0 serves first. The handler counts in `got<cpu>`. */
function side(me: number, other: number, starts: boolean): GuestProgram {
  const main: Instr[] = [{ op: 'mmio-write', offset: 0xf0, value: 0x1ff }];
  if (starts) main.push({ op: 'ipi', dest: other, vector: VECTOR });
  main.push({ op: 'sti' }, { op: 'hlt' }, { op: 'jump', to: main.length + 1 });
  return {
    main,
    handlers: { [VECTOR]: [{ op: 'inc', var: `got${me}` }, { op: 'eoi' }, { op: 'ipi', dest: other, vector: VECTOR }, { op: 'iret' }] },
  };
}

function setup(backend: BackendName): () => Machine {
  return () => {
    const m = new Machine({ cpus: 2, backend, trace: false });
    m.load(0, side(0, 1, true));
    m.load(1, side(1, 0, false));
    return m;
  };
}

function handled(m: Machine): number {
  return (m.memory.get('got0') ?? 0) + (m.memory.get('got1') ?? 0);
}

/** Runs until `n` more IPIs were handled; returns how many were. */
function run(m: Machine, n: number): number {
  const start = handled(m);
  while (handled(m) - start < n) {
    // A lost IPI would leave both vCPUs halted for good: fail loudly instead of spinning.
    if (m.run(m.scheduler.now() + SLICE_NS).reason !== 'time') throw new Error('ping-pong stalled: an IPI was lost');
  }
  return handled(m) - start;
}

export const machineBenches: Bench<Machine>[] = BACKENDS.map((backend) => ({
  name: `machine-pingpong-${backend}`,
  unit: 'ipi',
  ops: 20_000,
  does: `Machine with 2 vCPUs under ${backend}, trace off: IPI -> backend delivery -> handler (inc, EOI, answering IPI) -> IRET -> HLT, back and forth`,
  setup: setup(backend),
  run,
}));
