/**
 * Programs for the nested-virtualization tests: a KVM-like L1 hypervisor that launches an L2,
 * and on every exit reads the exit information, EOIs an acknowledged vector, opens a short
 * interrupt window for itself, and resumes L2 until L2 shuts down.
 */
import type { GuestProgram, Instr, NestedControls } from '../../src/guest/program.js';
import type { BackendName } from '../../src/inject/backend.js';
import { Machine } from '../../src/machine/machine.js';
import type { TraceEvent } from '../../src/trace/trace.js';

export const VMX_BACKENDS = ['vmx-event', 'vmx-vid', 'vmx-posted'] as const;
export const SVM_BACKENDS = ['svm-event', 'svm-vintr'] as const;
/** Backends where the hypervisor injects every interrupt itself (interrupt windows are exits). */
export const EVENT_BACKENDS: readonly BackendName[] = ['vmx-event', 'svm-event'];

export const ENABLE_APIC: Instr = { op: 'mmio-write', offset: 0xf0, value: 0x1ff };
/** Architectural exit codes L1 reads: VMX basic exit reason / SVM EXITCODE. */
export const CODES = {
  vmx: { external: 1, shutdown: 2, entryFailure: 0x8000_0021 },
  svm: { external: 0x60, vintr: 0x64, shutdown: 0x7f },
} as const;

export type Isa = 'vmx' | 'svm';
export const isaOf = (b: BackendName): Isa => (b.startsWith('svm') ? 'svm' : 'vmx');

/** A handler that counts itself in `name`, EOIs and returns. */
export function counting(name: string): Instr[] {
  return [{ op: 'inc', var: name }, { op: 'eoi' }, { op: 'iret' }];
}

export interface L1Options {
  isa: Isa;
  controls: NestedControls;
  l2: GuestProgram;
  /** SVM: L1's RFLAGS.IF at VMRUN (default true, as KVM: clgi; sti; vmrun). VMX L1s enter with IF = 0. */
  hostIf?: boolean;
  /** Instructions before the launch (after the APIC is enabled, with IF = 0 / GIF = 1). */
  prefix?: Instr[];
  /** Extra fields of the vmlaunch instruction. */
  launch?: { inject?: number; vIrq?: number; guestIf?: boolean };
  /** Vectors L1 has counting handlers for (`l1_<vector>`). */
  l1Vectors?: readonly number[];
}

/**
 * The L1 hypervisor. Memory: `exits` (exits seen), `acked` (exits that carried a vector), the last
 * `reason`, `vector` and `vIrq` from exit-info, `l1_<v>` per handled vector. Records `exit`
 * (reason) and `vector` at every exit.
 */
export function l1Program(o: L1Options): GuestProgram {
  const svm = o.isa === 'svm';
  const hostIf = !svm || o.hostIf !== false;
  const enter: Instr[] = svm ? (hostIf ? [{ op: 'clgi' }, { op: 'sti' }] : []) : [];
  const window: Instr[] = svm
    ? [{ op: 'stgi' }, { op: 'sti' }, { op: 'nop' }, hostIf ? { op: 'clgi' } : { op: 'cli' }]
    : [{ op: 'sti' }, { op: 'nop' }, { op: 'cli' }];
  const vmexit: Instr[] = [
    { op: 'exit-info', reason: 'reason', vector: 'vector', vIrq: 'vIrq' },
    { op: 'inc', var: 'exits' },
    { op: 'record', label: 'exit', var: 'reason' },
    { op: 'record', label: 'vector', var: 'vector' },
    { op: 'branch', var: 'vector', cmp: 'lt', value: 0, to: 7 },
    { op: 'inc', var: 'acked' },
    { op: 'eoi' },
    ...window,
  ];
  const end = vmexit.length + 2;
  vmexit.push({ op: 'branch', var: 'reason', cmp: 'eq', value: CODES[o.isa].shutdown, to: end }, { op: 'vmresume' });
  const handlers: Record<number, Instr[]> = {};
  for (const v of o.l1Vectors ?? [0x40, 0x60]) handlers[v] = counting(`l1_${v}`);
  return {
    main: [
      ENABLE_APIC,
      { op: 'cli' },
      ...(o.prefix ?? []),
      ...enter,
      { op: 'vmlaunch', controls: o.controls, ...(o.launch ?? {}) },
      ...(svm ? [{ op: 'stgi' } as Instr] : []),
      { op: 'sti' },
      { op: 'nop' },
      { op: 'done' },
    ],
    handlers,
    vmexit,
    l2: o.l2,
  };
}

/** An L2 that enables interrupts, computes `ns`, and shuts down; `l2_<v>` counts its handlers. */
export function l2Program(ns: number, vectors: readonly number[] = [0x40, 0x60], body?: Instr[]): GuestProgram {
  const handlers: Record<number, Instr[]> = {};
  for (const v of vectors) handlers[v] = counting(`l2_${v}`);
  return { main: body ?? [{ op: 'sti' }, { op: 'work', ns }, { op: 'done' }], handlers };
}

/** An MSI for vector `v` to APIC ID `dest`. */
export function msi(dest: number, v: number): { kind: 'msi'; address: number; data: number } {
  return { kind: 'msi', address: 0xfee0_0000 | (dest << 12), data: v };
}

export function mem(m: Machine, name: string): number {
  return m.memory.get(name) ?? 0;
}

/** The controls of each ISA for "exit on interrupts", with or without acknowledge-on-exit. */
export function exiting(isa: Isa, ack = false): NestedControls {
  return isa === 'vmx' ? { extIntExiting: true, ackOnExit: ack } : { interceptIntr: true, vIntrMasking: true };
}

/** The controls of each ISA for "L1's interrupts go straight into L2". */
export function passing(isa: Isa): NestedControls {
  return isa === 'vmx' ? { extIntExiting: false } : { interceptIntr: false, vIntrMasking: false };
}

/** The trace events of interest (no device-level events), in order. */
export function story(m: Machine, cpu = 0): TraceEvent[] {
  const keep = new Set(['request', 'deliver', 'exit', 'entry', 'inject', 'nested-entry', 'nested-exit', 'record', 'lost', 'doubled', 'wrong-level', 'eoi', 'iret']);
  return m.trace.events().filter((e) => e.cpu === cpu && keep.has(e.kind));
}

/** A one-line form of an event, for readable expectations. */
export function brief(e: TraceEvent): string {
  const hex = (v: number): string => `0x${v.toString(16)}`;
  switch (e.kind) {
    case 'deliver':
      return `deliver ${hex(e.a)}${e.label === 'L2' ? ' L2' : ''}${e.b === 3 ? ' from-L1' : ''}`;
    case 'exit':
      return `exit${e.b === 2 ? ' L2' : ''} ${e.label}`;
    case 'nested-exit':
      return `nested-exit ${e.label}${e.a >= 0 ? ` ${hex(e.a)}` : ''}`;
    case 'nested-entry':
      return `${e.label}${e.b >= 0 ? ` inject ${hex(e.b)}` : ''}`;
    case 'record':
      return `record ${e.label} ${e.a}`;
    default:
      return `${e.kind}${e.a !== 0 ? ` ${hex(e.a)}` : ''}`;
  }
}

/** Runs a machine with one vCPU running `program`, MSIs for `vectors` at `atNs`. */
export function runOne(backend: BackendName, program: GuestProgram, arrivals: ReadonlyArray<[number, number]>, untilNs = 1_000_000): Machine {
  const m = new Machine({ cpus: 1, backend });
  m.load(0, program);
  for (const [at, v] of arrivals) m.at(at, msi(0, v));
  m.run(untilNs);
  return m;
}
