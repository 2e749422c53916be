/**
 * The guest's view of a CPU: RFLAGS.IF, the interrupt shadow, NMI blocking, HLT, the stack of
 * interrupted contexts, and an interpreter for {@link GuestProgram}s.
 *
 * Rules modelled (Intel SDM vol. 3 "Interrupt and Exception Handling", AMD APM vol. 2 §8):
 * - Maskable interrupts are taken only when IF = 1 and no interrupt shadow is active.
 * - STI with IF = 0 blocks interrupts until the end of the next instruction; MOV SS blocks them
 *   (and NMIs) for the next instruction. An instruction executed inside a shadow does not start a
 *   new one, so STI; STI does not extend it (SDM "STI": "If IF = 0 ... until after the next
 *   instruction"; a second STI is not "IF = 0").
 * - Interrupts and NMIs enter their handlers through interrupt gates: IF is cleared and the old
 *   RFLAGS are saved; IRET restores IF.
 * - An NMI blocks further NMIs until the next IRET — any IRET, even one that ends an ordinary
 *   interrupt handler nested inside the NMI handler (SDM "NMI Handling").
 * - HLT stops the CPU until an interrupt it can take (IF = 1), an NMI, INIT or SIPI; after the
 *   handler's IRET execution continues after the HLT.
 * - An application processor waits for SIPI before it runs; INIT resets it into that state.
 *
 * The vCPU knows nothing about hypervisors: every effect on the outside (APIC, MSRs, CR8, shared
 * memory, the trace) goes through a {@link VcpuEnv}, and the machine and the injection backend
 * decide what those cost and whether they exit.
 *
 * Nested virtualization (docs/nested.md): a program can be an L1 hypervisor that runs an L2
 * program. The vCPU then holds two contexts (program, frames, IF, shadow, NMI blocking, HLT) and
 * runs one of them; {@link Vcpu.enterL2} and {@link Vcpu.exitToL1} switch them, as VM entry and VM
 * exit load the guest or the host state. What happens to interrupts across the switch is decided
 * outside (src/inject/nested.ts). SVM's global interrupt flag (GIF) is kept here too.
 *
 * @module
 */
import type { StateReader, StateWriter } from '../codec/state.js';
import { SnapshotError } from '../errors.js';
import { combineExceptions, EXC } from './exceptions.js';
import { compare, MAX_UNMAPPED_DELIVERIES, validateProgram, type GuestProgram, type Instr } from './program.js';

/** `vmlaunch` or `vmresume`. */
export type VmEnterInstr = Extract<Instr, { op: 'vmlaunch' | 'vmresume' }>;

/** What `exit-info` reads: the last emulated exit from L2. */
export interface NestedExitInfo {
  /** Architectural exit-reason code (VMX basic exit reason / SVM EXITCODE); 0 before any exit. */
  reason: number;
  /** Vector of the exit interruption information, -1 when not valid. */
  vector: number;
  /** The V_IRQ vector L1 posted for L2 and L2 has not taken, -1 if none (SVM). */
  vIrq: number;
}

/**
 * How a vCPU stands with respect to running its program. 'shutdown': a triple fault stopped it
 * (SDM "Interrupt 8—Double Fault Exception": the processor enters shutdown); only INIT restarts it.
 */
export type VcpuState = 'idle' | 'running' | 'wait-for-sipi' | 'done' | 'shutdown';

/**
 * A guest's accesses to its local APIC: MMIO, MSRs and CR8. The vCPU's environment, each
 * injection backend (which takes an exit where the hardware would) and the L2 path of nested
 * virtualization all offer this one shape.
 */
export interface GuestApicAccess {
  mmioRead(cpu: number, offset: number): number;
  mmioWrite(cpu: number, offset: number, value: number): void;
  /** @returns undefined when the guest gets #GP. */
  msrRead(cpu: number, msr: number): bigint | undefined;
  /** @returns false when the guest gets #GP. */
  msrWrite(cpu: number, msr: number, value: bigint): boolean;
  cr8Read(cpu: number): number;
  cr8Write(cpu: number, value: number): boolean;
}

/** What the interpreter needs from the outside world. Costs are virtual nanoseconds. */
export interface VcpuEnv extends GuestApicAccess {
  /** Cost of an ordinary instruction. */
  readonly instructionNs: number;
  /** The guest executed HLT (the vCPU is now halted). */
  halt(cpu: number): void;
  /**
   * A `wait` found its condition false outside an interrupt shadow: the vCPU spins on `name`
   * until it changes (or an interrupt arrives); the environment need not step it meanwhile.
   */
  spin(cpu: number, name: string): void;
  read(name: string): number;
  write(name: string, value: number): void;
  record(cpu: number, label: string, value: number): void;
  /** The program ended. */
  finished(cpu: number): void;
  /** The guest did something a real CPU would fault on (#GP, IRET without a frame...). */
  fault(cpu: number, what: string): void;
  /** IN from an I/O port (a byte). Without it every port reads 0xFF. */
  portRead?(cpu: number, port: number): number;
  /** OUT to an I/O port (a byte). Without it writes are ignored. */
  portWrite?(cpu: number, port: number, value: number): void;
  /** A handler returned (IRET): `vector` is its vector (2 for the NMI handler). */
  returned?(cpu: number, vector: number, nmi: boolean): void;
  /** L1 executed `vmlaunch` / `vmresume` (docs/nested.md). Without it they fault (#UD). */
  vmenter?(cpu: number, instr: VmEnterInstr): void;
  /** The last emulated exit from L2, for `exit-info`. Without it: reason 0, no vector. */
  exitInfo?(cpu: number): NestedExitInfo;
  /** STGI / CLGI. @returns false when the CPU has no GIF (VMX: #UD). Without it they fault. */
  setGif?(cpu: number, value: boolean): boolean;
  /** L2's program ended (`done` or running off its end). Without it the vCPU stops for good. */
  l2Finished?(cpu: number): void;
  /**
   * The guest raised exception `vector` (after the double-fault rules): the environment delivers
   * it ({@link Vcpu.deliverException}) or takes the exit a delivery meets. Without it the handler
   * is entered at once.
   */
  exception?(cpu: number, vector: number, errorCode: number): void;
  /** A triple fault shut the vCPU down (its state is now 'shutdown'). */
  shutdown?(cpu: number): void;
}

const FRAME_MAIN = 0;
const FRAME_IRQ = 1;
const FRAME_NMI = 2;
/** L1's exit handler (`program.vmexit`), entered at an emulated exit from L2. */
const FRAME_VMEXIT = 3;
/** An exception handler (`program.exceptions[vector]`). */
const FRAME_EXC = 4;

/** The shadow an STI or MOV SS leaves for the next instruction. */
type Shadow = 'none' | 'sti' | 'movss';

/** One level's CPU context (nested virtualization): parked while the other level runs. */
interface Context {
  program: GuestProgram;
  frames: Frame[];
  interruptFlag: boolean;
  shadow: Shadow;
  nmiBlocked: boolean;
  halted: boolean;
  lastOp: string;
}

/** One interrupted context: the code it runs, where, and the IF to restore at IRET. */
interface Frame {
  code: Instr[];
  pc: number;
  kind: number;
  vector: number;
  savedIf: boolean;
  /** xAPIC `ipi` is two writes (ICR high, then ICR low): the first has been done. */
  icrHighWritten: boolean;
  /**
   * Nanoseconds left of the `work` at `pc` that an interrupt cut short, -1 if none. It belongs to
   * the frame, not the CPU: a handler's own `work` has its own length, and the interrupted one
   * resumes with what it had left once the handler returns (an interrupt is taken at an
   * instruction boundary and IRET continues the interrupted code where it stopped).
   */
  workLeft: number;
}

const DEFAULT_HANDLER: Instr[] = [{ op: 'eoi' }, { op: 'iret' }];
const DEFAULT_NMI_HANDLER: Instr[] = [{ op: 'iret' }];
/** The spurious vector must not be EOIed (SDM "Spurious Interrupt"). */
const SPURIOUS_HANDLER: Instr[] = [{ op: 'iret' }];
/** An exception is not an APIC interrupt: no EOI. */
const DEFAULT_EXCEPTION_HANDLER: Instr[] = [{ op: 'iret' }];

/** x2APIC / xAPIC register numbers the `ipi`, `self-ipi` and `eoi` instructions use. */
const MMIO_EOI = 0xb0;
const MMIO_ICR_LOW = 0x300;
const MMIO_ICR_HIGH = 0x310;
const MSR_EOI = 0x80b;
const MSR_ICR = 0x830;
const MSR_SELF_IPI = 0x83f;
const ICR_LOGICAL = 1 << 11;
const ICR_ASSERT = 1 << 14;
const ICR_SHORTHAND_SHIFT = 18;
const IPI_MODE_BITS: Record<string, number> = { fixed: 0, lowest: 1, smi: 2, nmi: 4, init: 5, sipi: 6 };
const SHORTHAND_BITS: Record<string, number> = { none: 0, self: 1, all: 2, others: 3 };

const VCPU_STATES: readonly VcpuState[] = ['idle', 'running', 'wait-for-sipi', 'done', 'shutdown'];
const SHADOWS = ['none', 'sti', 'movss'] as const;
/** Nested handlers are bounded by the 240 vectors and the NMI, plus main. */
const MAX_FRAMES = 256;

/**
 * Layout version of the vCPU state in snapshots (the machine's `vcpu.N` sections).
 * 1: one `workRemaining` per context (per level). 2: each frame carries its own `workLeft`.
 * 3: exception frames, the 'shutdown' state and the deliveries `unmap-idt` still makes exit.
 * {@link Vcpu.readState} reads all three.
 */
export const VCPU_STATE_VERSION = 3;

/** Keys a JSON program must never carry (prototype pollution). */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Parses and validates a program stored in a snapshot. */
function parseProgram(r: StateReader): GuestProgram {
  const text = r.str('program');
  let program: GuestProgram;
  try {
    program = JSON.parse(text, (key, value: unknown) => {
      if (FORBIDDEN_KEYS.has(key)) throw new SnapshotError(`key '${key}' is not allowed`);
      return value;
    }) as GuestProgram;
  } catch (e) {
    return r.fail('program', e instanceof Error ? e.message : 'is not valid JSON');
  }
  try {
    validateProgram(program);
  } catch (e) {
    return r.fail('program', e instanceof Error ? e.message : 'is not a valid program');
  }
  return program;
}

/** Prefix of the block names of L2's code in snapshots. */
const L2_PREFIX = 'l2:';

/**
 * The code array a frame block name refers to: a block of the loaded (L1) program, `vmexit`, or
 * with the `l2:` prefix a block of its L2 program.
 */
function resolveBlock(root: GuestProgram, name: string): Instr[] | undefined {
  if (name.startsWith(L2_PREFIX)) {
    const block = name.slice(L2_PREFIX.length);
    return root.l2 === undefined || block === 'vmexit' ? undefined : resolveIn(root.l2, block);
  }
  return name === 'vmexit' ? root.vmexit : resolveIn(root, name);
}

function resolveIn(program: GuestProgram, block: string): Instr[] | undefined {
  switch (block) {
    case 'main':
      return program.main;
    case 'nmi':
      return program.nmi;
    case 'default':
      return DEFAULT_HANDLER;
    case 'default-nmi':
      return DEFAULT_NMI_HANDLER;
    case 'spurious':
      return SPURIOUS_HANDLER;
    case 'default-exc':
      return DEFAULT_EXCEPTION_HANDLER;
    default: {
      const e = /^e(\d{1,2})$/.exec(block);
      if (e !== null) return program.exceptions?.[Number(e[1])];
      const m = /^h(\d{1,3})$/.exec(block);
      if (m === null) return undefined;
      return program.handlers?.[Number(m[1])];
    }
  }
}

/**
 * Reads a frame stack; `l2` says whether it runs L2's code (every frame must agree). Frames of
 * version 2 carry their interrupted work; version 1 frames get none here (see adoptWorkLeft).
 */
function readFrames(r: StateReader, root: GuestProgram, version: number): { frames: Frame[]; l2: boolean } {
  const count = r.count('frames', MAX_FRAMES);
  const frames: Frame[] = [];
  let l2 = false;
  for (let i = 0; i < count; i++) {
    const block = r.str('frame.block', 16);
    const code = resolveBlock(root, block);
    if (code === undefined) r.fail('frame.block', `unknown code block '${block}'`);
    const inL2 = block.startsWith(L2_PREFIX);
    if (i === 0) l2 = inL2;
    else if (inL2 !== l2) r.fail('frame.block', `'${block}' mixes L1's and L2's code in one context`);
    const pc = r.u32('frame.pc', code.length);
    const kind = r.u8('frame.kind', version >= 3 ? FRAME_EXC : FRAME_VMEXIT);
    if ((i === 0) !== (kind === FRAME_MAIN)) r.fail('frame.kind', 'only the first frame runs the main program');
    if ((kind === FRAME_VMEXIT) !== (block === 'vmexit')) r.fail('frame.kind', 'only the exit handler runs vmexit');
    const vector = r.i32('frame.vector', -1, 255);
    const savedIf = r.bool('frame.savedIf');
    const icrHighWritten = r.bool('frame.icrHigh');
    const workLeft = version >= 2 ? r.int('frame.workLeft', -1) : -1;
    if (workLeft >= 0 && code[pc]?.op !== 'work') r.fail('frame.workLeft', `work is left over but instruction ${pc} is not a work`);
    frames.push({ code, pc, kind, vector, savedIf, icrHighWritten, workLeft });
  }
  return { frames, l2 };
}

/**
 * Version 1 snapshots kept one remaining-work count per context. It was set when the `work` of the
 * frame then on top was cut short, and nothing has run a `work` since, so that frame still stands
 * at its `work` and frames entered after it have not run one. The topmost frame standing at a
 * `work` takes it: exact when the interrupted frame is on top or its handlers stand elsewhere; when
 * a handler above it is about to start a `work` the handler takes it, which is what version 1 code
 * would have done next. With no frame at a `work` the count is dropped.
 */
function adoptWorkLeft(frames: Frame[], workRemaining: number): void {
  if (workRemaining < 0) return;
  for (let i = frames.length - 1; i >= 0; i--) {
    const f = frames[i]!;
    if (f.code[f.pc]?.op === 'work') {
      f.workLeft = workRemaining;
      return;
    }
  }
}

/** A frame at the start of `code`, with no interrupted work. */
function newFrame(code: Instr[], kind: number, vector: number, savedIf: boolean): Frame {
  return { code, pc: 0, kind, vector, savedIf, icrHighWritten: false, workLeft: -1 };
}

/** A fresh context that starts `program.main` with RFLAGS.IF = `interruptFlag`. */
function freshContext(program: GuestProgram, interruptFlag: boolean): Context {
  return {
    program,
    frames: [newFrame(program.main, FRAME_MAIN, -1, false)],
    interruptFlag,
    shadow: 'none',
    nmiBlocked: false,
    halted: false,
    lastOp: '',
  };
}

/**
 * The guest side of one vCPU in a {@link Machine}: RFLAGS.IF, the STI / MOV SS shadow, HLT, NMI
 * blocking until IRET, nested handlers, and the interpreter of its {@link GuestProgram}. A Machine
 * builds and steps them; read them through `machine.vcpus` (docs/machine.md).
 *
 * @example
 * ```ts
 * import { Machine } from 'irqchip';
 *
 * const m = new Machine({ cpus: 1, backend: 'svm-event' });
 * m.load(0, { main: [{ op: 'sti' }, { op: 'hlt' }, { op: 'done' }] });
 * m.run(10_000);
 * const v = m.vcpus[0]!;
 * v.interruptFlag; v.halted; v.deliveries; // IF, HLT, handler entries so far
 * ```
 */
export class Vcpu {
  /** RFLAGS.IF. */
  interruptFlag = false;
  /** An STI or MOV SS shadow covers the next instruction. */
  #shadow: Shadow = 'none';
  /** NMIs are blocked from NMI delivery until the next IRET. */
  nmiBlocked = false;
  /** Stopped by HLT. */
  halted = false;
  state: VcpuState = 'idle';
  /** Instructions executed. */
  instructions = 0;
  /** Interrupts, NMIs and exceptions whose handler was entered. */
  deliveries = 0;
  /** The op of the instruction the last step executed. */
  lastOp = '';

  /** The program of the running level (the loaded one, or its `l2` while L2 runs). */
  #program: GuestProgram = { main: [] };
  /** The loaded program (L1's when it is a hypervisor). */
  #root: GuestProgram = this.#program;
  #frames: Frame[] = [];
  /** Whether the APIC is in x2APIC mode decides how `ipi`/`eoi` reach it. */
  x2apic = false;
  /** Which level runs: 1 (the loaded program) or 2 (its L2 guest, after `vmlaunch`). */
  level: 1 | 2 = 1;
  /**
   * SVM's global interrupt flag: when clear, interrupts and NMIs are held (AMD APM vol. 2 §15.17).
   * STGI / CLGI set and clear it, VMRUN sets it and #VMEXIT clears it. Always set under VMX.
   */
  gif = true;
  /** The context of the level that does not run: L2's after its first exit, L1's while L2 runs. */
  #parked: Context | null = null;
  /** Event deliveries still to exit on the IDT page unmapped in EPT/NPT (`unmap-idt`). */
  idtUnmapped = 0;

  /**
   * A vCPU with no program, IF = 0, not halted. `cpu` is its index in the Machine.
   */
  constructor(readonly cpu: number) {}

  /** Loads a program; it starts at once unless it waits for SIPI. */
  load(program: GuestProgram): void {
    this.#root = program;
    this.#resetCpu();
    if (program.waitForSipi) {
      this.state = 'wait-for-sipi';
      return;
    }
    this.#start();
  }

  /** The loaded program. */
  get loaded(): GuestProgram {
    return this.#root;
  }

  /** Whether an STI or MOV SS shadow blocks interrupts at the next boundary. */
  get inShadow(): boolean {
    return this.#shadow !== 'none';
  }

  /** Whether an L2 context exists (launched and not reset), running or parked. */
  get hasL2(): boolean {
    return this.level === 2 || this.#parked !== null;
  }

  /** Whether the L2 context (running or parked) is halted. */
  get l2Halted(): boolean {
    return this.level === 2 ? this.halted : (this.#parked?.halted ?? false);
  }

  /** Whether the L2 context (running or parked) can take a maskable interrupt: IF = 1, no shadow. */
  get l2Interruptible(): boolean {
    if (this.level === 2) return this.interruptFlag && this.#shadow === 'none';
    return this.#parked !== null && this.#parked.interruptFlag && this.#parked.shadow === 'none';
  }

  // ---- nested virtualization: switching levels ------------------------------------------------

  /**
   * VM entry into L2 (VMLAUNCH / VMRESUME / VMRUN, emulated by L0): L1's context is parked and L2's
   * loaded — a fresh one running `l2.main` for a launch, the parked one for a resume. An exit
   * handler that resumes L2 is over: VMRESUME does not return, the next exit starts it afresh.
   * A launched L2 starts with RFLAGS.IF = `launchIf` (the guest RFLAGS L1 wrote).
   * @returns false (nothing changes) if there is no L2 program, L1 is not running, or a resume
   *   finds no L2 context.
   */
  enterL2(launch: boolean, launchIf = false): boolean {
    const l2 = this.#root.l2;
    if (l2 === undefined || this.level !== 1 || this.state !== 'running') return false;
    if (!launch && this.#parked === null) return false;
    if (this.#frames[this.#frames.length - 1]?.kind === FRAME_VMEXIT) this.#frames.pop();
    const next: Context = launch || this.#parked === null ? freshContext(l2, launchIf) : this.#parked;
    const l1 = this.#takeContext();
    l1.shadow = 'none'; // the entering instruction consumed any shadow
    this.#parked = l1;
    this.#putContext(next);
    this.level = 2;
    return true;
  }

  /**
   * An emulated VM exit from L2 to L1: L2's context is parked and L1's loaded, and L1 continues in
   * its exit handler (`program.vmexit`) with RFLAGS.IF = `interruptFlag` (VMX clears RFLAGS at a VM
   * exit; SVM restores L1's RFLAGS saved at VMRUN) and no shadow. @returns false if L2 is not running.
   */
  exitToL1(interruptFlag: boolean): boolean {
    if (this.level !== 2 || this.#parked === null) return false;
    const l2 = this.#takeContext();
    this.#putContext(this.#parked);
    this.#parked = l2;
    this.level = 1;
    this.interruptFlag = interruptFlag;
    this.#shadow = 'none';
    this.halted = false;
    this.#frames.push(newFrame(this.#root.vmexit ?? [], FRAME_VMEXIT, -1, interruptFlag));
    return true;
  }

  #takeContext(): Context {
    return {
      program: this.#program,
      frames: this.#frames,
      interruptFlag: this.interruptFlag,
      shadow: this.#shadow,
      nmiBlocked: this.nmiBlocked,
      halted: this.halted,
      lastOp: this.lastOp,
    };
  }

  #putContext(c: Context): void {
    this.#program = c.program;
    this.#frames = c.frames;
    this.interruptFlag = c.interruptFlag;
    this.#shadow = c.shadow;
    this.nmiBlocked = c.nmiBlocked;
    this.halted = c.halted;
    this.lastOp = c.lastOp;
  }

  /** INIT: the CPU resets and (an AP) waits for SIPI; a BSP restarts its program. */
  init(bsp: boolean): void {
    this.#resetCpu();
    if (bsp) this.#start();
    else this.state = 'wait-for-sipi';
  }

  /** SIPI: a CPU waiting for it starts its main program. @returns whether it started. */
  sipi(): boolean {
    if (this.state !== 'wait-for-sipi') return false;
    this.#start();
    return true;
  }

  /** Whether a maskable interrupt can be taken now (IF = 1, GIF = 1 and no shadow). */
  interruptible(): boolean {
    return this.interruptFlag && this.gif && this.#shadow === 'none' && this.state === 'running';
  }

  /** Whether an NMI can be taken now (not blocked, GIF = 1, no MOV SS shadow). */
  nmiAllowed(): boolean {
    return !this.nmiBlocked && this.gif && this.#shadow !== 'movss' && this.state === 'running';
  }

  /** Nesting depth of handlers (0 = main program). */
  get depth(): number {
    return this.#frames.length - 1;
  }

  /** Vectors of the handlers currently entered, outermost first. */
  handlerStack(): number[] {
    return this.#frames.slice(1).map((f) => (f.kind === FRAME_NMI ? -2 : f.vector));
  }

  // ---- snapshots -----------------------------------------------------------------------------

  /**
   * Writes the CPU state and its program (as JSON) into a snapshot section (layout `VCPU_STATE_VERSION`).
   * @internal
   */
  saveState(w: StateWriter): void {
    w.str(JSON.stringify(this.#root));
    w.u8(VCPU_STATES.indexOf(this.state)).bool(this.interruptFlag).u8(SHADOWS.indexOf(this.#shadow));
    w.bool(this.nmiBlocked).bool(this.halted).bool(this.x2apic);
    w.uint(this.instructions).uint(this.deliveries).str(this.lastOp);
    this.#writeFrames(w, this.#frames, this.#program);
    // Nested virtualization: the running level, GIF and the parked context.
    w.u32(this.idtUnmapped); // layout 3
    w.u8(this.level).bool(this.gif).bool(this.#parked !== null);
    const p = this.#parked;
    if (p !== null) {
      w.bool(p.interruptFlag).u8(SHADOWS.indexOf(p.shadow)).bool(p.nmiBlocked).bool(p.halted).str(p.lastOp);
      this.#writeFrames(w, p.frames, p.program);
    }
  }

  /**
   * Reads and checks a CPU state written with layout `version` (1 or `VCPU_STATE_VERSION`);
   * returns the function that applies it.
   * @internal
   */
  readState(r: StateReader, version = VCPU_STATE_VERSION): () => void {
    const root = parseProgram(r);
    const state = VCPU_STATES[r.u8('state', VCPU_STATES.length - 1)]!;
    const interruptFlag = r.bool('if');
    const shadow = SHADOWS[r.u8('shadow', SHADOWS.length - 1)]!;
    const nmiBlocked = r.bool('nmiBlocked');
    const halted = r.bool('halted');
    const x2apic = r.bool('x2apic');
    const workRemaining = version < 2 ? r.int('workRemaining', -1) : -1;
    const instructions = r.uint('instructions');
    const deliveries = r.uint('deliveries');
    const lastOp = r.str('lastOp', 32);
    const current = readFrames(r, root, version);
    adoptWorkLeft(current.frames, workRemaining);
    const idtUnmapped = version >= 3 ? r.u32('idtUnmapped', MAX_UNMAPPED_DELIVERIES) : 0;
    const level = r.u8('level', 2);
    if (level === 0) r.fail('level', 'must be 1 or 2');
    const gif = r.bool('gif');
    if (version < 3 && state === 'shutdown') r.fail('state', 'shutdown needs layout 3');
    let parked: Context | null = null;
    if (r.bool('parked')) {
      const pIf = r.bool('parked.if');
      const pShadow = SHADOWS[r.u8('parked.shadow', SHADOWS.length - 1)]!;
      const pNmi = r.bool('parked.nmiBlocked');
      const pHalted = r.bool('parked.halted');
      const pWork = version < 2 ? r.int('parked.workRemaining', -1) : -1;
      const pLastOp = r.str('parked.lastOp', 32);
      const frames = readFrames(r, root, version);
      adoptWorkLeft(frames.frames, pWork);
      if (frames.l2 !== (level === 1)) r.fail('parked.frames', `the parked context must be ${level === 1 ? 'L2' : 'L1'}'s`);
      if (frames.frames.length === 0) r.fail('parked.frames', 'a parked context needs its main frame');
      parked = {
        program: frames.l2 ? root.l2! : root,
        frames: frames.frames,
        interruptFlag: pIf,
        shadow: pShadow,
        nmiBlocked: pNmi,
        halted: pHalted,
        lastOp: pLastOp,
      };
    }
    if (current.frames.length > 0 && current.l2 !== (level === 2)) r.fail('frames', `level ${level} runs ${current.l2 ? "L2's" : "L1's"} code`);
    if (level === 2 && (parked === null || state !== 'running')) r.fail('level', 'L2 runs only on a running vCPU, with L1 parked');
    if (state === 'running' && current.frames.length === 0) r.fail('frames', 'a running vCPU needs its main frame');
    return () => {
      this.#root = root;
      this.#program = level === 2 ? root.l2! : root;
      this.state = state;
      this.interruptFlag = interruptFlag;
      this.#shadow = shadow;
      this.nmiBlocked = nmiBlocked;
      this.halted = halted;
      this.x2apic = x2apic;
      this.instructions = instructions;
      this.deliveries = deliveries;
      this.lastOp = lastOp;
      this.#frames = current.frames;
      this.level = level as 1 | 2;
      this.gif = gif;
      this.#parked = parked;
      this.idtUnmapped = idtUnmapped;
    };
  }

  #writeFrames(w: StateWriter, frames: readonly Frame[], program: GuestProgram): void {
    w.u32(frames.length);
    for (const f of frames) {
      w.str(this.#blockOf(f, program)).u32(f.pc).u8(f.kind).i32(f.vector).bool(f.savedIf).bool(f.icrHighWritten).int(f.workLeft);
    }
  }

  /** The name of the code block a frame runs, for snapshots (`l2:` prefixed for L2's code). */
  #blockOf(f: Frame, program: GuestProgram): string {
    if (f.kind === FRAME_VMEXIT) return 'vmexit';
    const prefix = program === this.#root ? '' : L2_PREFIX;
    if (f.code === program.main) return `${prefix}main`;
    if (f.code === program.nmi) return `${prefix}nmi`;
    if (f.code === DEFAULT_HANDLER) return `${prefix}default`;
    if (f.code === DEFAULT_NMI_HANDLER) return `${prefix}default-nmi`;
    if (f.code === SPURIOUS_HANDLER) return `${prefix}spurious`;
    if (f.code === DEFAULT_EXCEPTION_HANDLER) return `${prefix}default-exc`;
    if (f.kind === FRAME_EXC) return `${prefix}e${f.vector}`;
    return `${prefix}h${f.vector}`;
  }

  /** Enters the handler of an external interrupt `vector` through an interrupt gate. */
  deliverInterrupt(vector: number, spurious = false): void {
    const code = spurious ? SPURIOUS_HANDLER : (this.#program.handlers?.[vector] ?? DEFAULT_HANDLER);
    this.#push(code, FRAME_IRQ, vector);
  }

  /**
   * Enters the handler of exception `vector` through an interrupt gate (IF cleared, as the
   * interrupt gates Linux and Windows use for exceptions). The error code is the environment's
   * business (traced); the model's handlers do not read it.
   */
  deliverException(vector: number): void {
    this.#push(this.#program.exceptions?.[vector] ?? DEFAULT_EXCEPTION_HANDLER, FRAME_EXC, vector);
  }

  /**
   * Whether the event delivery about to happen exits on the IDT page `unmap-idt` removed from
   * EPT/NPT; counts it off. Only L1's deliveries (the op is L1's).
   */
  takeIdtFault(): boolean {
    if (this.idtUnmapped === 0 || this.level !== 1) return false;
    this.idtUnmapped--;
    // The delivery had begun, so HLT is over (the exit saves the state after the HLT, activity
    // state active): a hypervisor that then drops the event resumes the guest after its HLT.
    this.halted = false;
    return true;
  }

  /** Enters the NMI handler; NMIs stay blocked until the next IRET. */
  deliverNmi(): void {
    this.#push(this.#program.nmi ?? DEFAULT_NMI_HANDLER, FRAME_NMI, 2);
    this.nmiBlocked = true;
  }

  /**
   * Executes one instruction (or the rest of an interrupted `work`).
   * @returns the virtual nanoseconds it took, before any exit cost the environment adds.
   */
  step(env: VcpuEnv): number {
    if (this.state !== 'running' || this.halted) return 0;
    const frame = this.#frames[this.#frames.length - 1]!;
    if (frame.pc >= frame.code.length) return this.#fallOff(env, frame);
    const instr = frame.code[frame.pc]!;
    const hadShadow = this.#shadow !== 'none';
    const level = this.level;
    this.instructions++;
    this.lastOp = instr.op;
    const ns = this.#exec(env, frame, instr, hadShadow);
    // A shadow covers exactly one instruction; one begun by this instruction stays for the next.
    // (An instruction that switched levels left the other level's shadow in place.)
    if (hadShadow && this.level === level) this.#shadow = 'none';
    return ns;
  }

  /**
   * Cuts short the `work` instruction the last step started: `remainingNs` of it are left, kept
   * in the frame that runs it, and the instruction runs again (for that long) when that frame
   * runs again — after whatever interrupts it, including handlers that `work` themselves.
   */
  interruptWork(remainingNs: number): void {
    if (this.lastOp !== 'work' || this.#frames.length === 0) return;
    const frame = this.#frames[this.#frames.length - 1]!;
    frame.workLeft = remainingNs;
    frame.pc--;
    this.lastOp = '';
  }

  /** Nanoseconds left of the running frame's interrupted `work`, -1 if none (for tests and tools). */
  get workRemaining(): number {
    return this.#frames[this.#frames.length - 1]?.workLeft ?? -1;
  }

  #exec(env: VcpuEnv, frame: Frame, instr: Instr, inShadow: boolean): number {
    const cpu = this.cpu;
    const ins = env.instructionNs;
    switch (instr.op) {
      case 'nop':
        frame.pc++;
        return ins;
      case 'sti':
        if (!this.interruptFlag && !inShadow) this.#shadow = 'sti';
        this.interruptFlag = true;
        frame.pc++;
        return ins;
      case 'cli':
        this.interruptFlag = false;
        frame.pc++;
        return ins;
      case 'movss':
        if (!inShadow) this.#shadow = 'movss';
        frame.pc++;
        return ins;
      case 'hlt':
        frame.pc++;
        this.halted = true;
        env.halt(cpu);
        return ins;
      case 'iret':
        this.#iret(env);
        return ins;
      case 'done':
        this.#finish(env);
        return 0;
      case 'work': {
        // This frame's own leftover if an interrupt cut its `work` short, else the full length.
        const ns = frame.workLeft >= 0 ? frame.workLeft : instr.ns;
        frame.workLeft = -1;
        frame.pc++;
        return ns;
      }
      case 'mmio-read': {
        const v = env.mmioRead(cpu, instr.offset);
        if (instr.into !== undefined) env.write(instr.into, v);
        frame.pc++;
        return ins;
      }
      case 'mmio-write':
        frame.pc++;
        env.mmioWrite(cpu, instr.offset, instr.value);
        return ins;
      case 'rdmsr': {
        frame.pc++;
        const v = env.msrRead(cpu, instr.msr);
        if (v === undefined) env.fault(cpu, `#GP on RDMSR ${instr.msr.toString(16)}`);
        else if (instr.into !== undefined) env.write(instr.into, Number(v & 0xffff_ffffn));
        return ins;
      }
      case 'wrmsr': {
        frame.pc++;
        const value = (BigInt(instr.hi ?? 0) << 32n) | BigInt(instr.lo);
        if (!env.msrWrite(cpu, instr.msr, value)) env.fault(cpu, `#GP on WRMSR ${instr.msr.toString(16)}`);
        return ins;
      }
      case 'cr8-read': {
        const v = env.cr8Read(cpu);
        if (instr.into !== undefined) env.write(instr.into, v);
        frame.pc++;
        return ins;
      }
      case 'cr8-write':
        frame.pc++;
        if (!env.cr8Write(cpu, instr.value)) env.fault(cpu, '#GP on MOV to CR8');
        return ins;
      case 'ipi':
        this.#sendIpi(env, frame, instr);
        return ins;
      case 'self-ipi':
        frame.pc++;
        if (this.x2apic) env.msrWrite(cpu, MSR_SELF_IPI, BigInt(instr.vector));
        else env.mmioWrite(cpu, MMIO_ICR_LOW, instr.vector | (SHORTHAND_BITS.self! << ICR_SHORTHAND_SHIFT));
        return ins;
      case 'eoi':
        frame.pc++;
        if (this.x2apic) env.msrWrite(cpu, MSR_EOI, 0n);
        else env.mmioWrite(cpu, MMIO_EOI, 0);
        return ins;
      case 'set':
        env.write(instr.var, instr.value);
        frame.pc++;
        return ins;
      case 'inc':
        env.write(instr.var, env.read(instr.var) + (instr.by ?? 1));
        frame.pc++;
        return ins;
      case 'wait':
        if (compare(env.read(instr.var), instr.cmp, instr.value)) frame.pc++;
        // A check inside an interrupt shadow is followed by one more: the shadow ends at the
        // next boundary, where a pending interrupt is taken. After that the spin changes only
        // when memory or an interrupt changes, so the environment may let it sleep.
        else if (!inShadow) env.spin(cpu, instr.var);
        return ins;
      case 'branch':
        frame.pc = compare(env.read(instr.var), instr.cmp, instr.value) ? instr.to : frame.pc + 1;
        return ins;
      case 'jump':
        frame.pc = instr.to;
        return ins;
      case 'record':
        env.record(cpu, instr.label, instr.var === undefined ? 0 : env.read(instr.var));
        frame.pc++;
        return ins;
      case 'out':
        frame.pc++;
        env.portWrite?.(cpu, instr.port, instr.value);
        return ins;
      case 'in': {
        frame.pc++;
        const v = env.portRead === undefined ? 0xff : env.portRead(cpu, instr.port) & 0xff;
        if (instr.into !== undefined) env.write(instr.into, v);
        return ins;
      }
      case 'vmlaunch':
      case 'vmresume':
        frame.pc++;
        if (env.vmenter === undefined) env.fault(cpu, `#UD on ${instr.op}`);
        else env.vmenter(cpu, instr);
        return ins;
      case 'exit-info': {
        frame.pc++;
        const info = env.exitInfo?.(cpu) ?? { reason: 0, vector: -1, vIrq: -1 };
        if (instr.reason !== undefined) env.write(instr.reason, info.reason);
        if (instr.vector !== undefined) env.write(instr.vector, info.vector);
        if (instr.vIrq !== undefined) env.write(instr.vIrq, info.vIrq);
        return ins;
      }
      case 'exception':
        frame.pc++;
        this.#raise(env, instr);
        return ins;
      case 'unmap-idt':
        frame.pc++;
        this.idtUnmapped = instr.deliveries ?? 1;
        return ins;
      case 'stgi':
      case 'clgi':
        frame.pc++;
        if (env.setGif === undefined || !env.setGif(cpu, instr.op === 'stgi')) env.fault(cpu, `#UD on ${instr.op}`);
        return ins;
    }
  }

  /**
   * An IPI is one WRMSR in x2APIC mode but two MMIO writes in xAPIC mode (ICR high, then ICR low,
   * which sends): the instruction takes two steps there, and an interrupt can come in between.
   */
  #sendIpi(env: VcpuEnv, frame: Frame, instr: Extract<Instr, { op: 'ipi' }>): void {
    const low =
      instr.vector |
      (IPI_MODE_BITS[instr.mode ?? 'fixed']! << 8) |
      (instr.logical ? ICR_LOGICAL : 0) |
      ICR_ASSERT |
      (SHORTHAND_BITS[instr.shorthand ?? 'none']! << ICR_SHORTHAND_SHIFT);
    if (this.x2apic) {
      frame.pc++;
      env.msrWrite(this.cpu, MSR_ICR, (BigInt(instr.dest >>> 0) << 32n) | BigInt(low >>> 0));
      return;
    }
    if (!frame.icrHighWritten) {
      frame.icrHighWritten = true;
      env.mmioWrite(this.cpu, MMIO_ICR_HIGH, ((instr.dest & 0xff) << 24) >>> 0);
      return;
    }
    frame.icrHighWritten = false;
    frame.pc++;
    env.mmioWrite(this.cpu, MMIO_ICR_LOW, low >>> 0);
  }

  /**
   * Raises an exception and walks its delivery faults through the double-fault table: serially
   * the newer exception replaces the one being delivered (the older one recurs when the
   * instruction is re-executed, which the model's trap-like instructions do not do; KVM's
   * kvm_multiple_exception replaces it the same way); a #DF is vector 8 with error code 0; a triple
   * fault shuts the vCPU down.
   */
  #raise(env: VcpuEnv, instr: Extract<Instr, { op: 'exception' }>): void {
    let vector = instr.vector;
    let errorCode = instr.errorCode ?? 0;
    for (const next of instr.deliveryFaults ?? []) {
      const how = combineExceptions(vector, next);
      if (how === 'triple-fault') {
        this.#shutdown(env);
        return;
      }
      vector = how === 'double-fault' ? EXC.DF : next;
      errorCode = 0;
    }
    if (env.exception === undefined) this.deliverException(vector);
    else env.exception(this.cpu, vector, errorCode);
  }

  /**
   * A triple fault the hypervisor found while merging exceptions it queued (a contributory or page
   * fault queued on top of a queued #DF): the vCPU shuts down as if its own delivery had faulted.
   */
  tripleFault(env: VcpuEnv): void {
    this.#shutdown(env);
  }

  /** Triple fault: shutdown (L2's is reflected to L1 as its 'shutdown' exit, docs/nested.md). */
  #shutdown(env: VcpuEnv): void {
    if (this.level === 2 && env.l2Finished !== undefined) {
      env.l2Finished(this.cpu);
      return;
    }
    this.state = 'shutdown';
    this.halted = false;
    env.shutdown?.(this.cpu);
  }

  #iret(env: VcpuEnv): void {
    // Any IRET unblocks NMIs (SDM "NMI Handling").
    this.nmiBlocked = false;
    const top = this.#frames[this.#frames.length - 1]!;
    if (this.#frames.length <= 1 || top.kind === FRAME_VMEXIT) {
      env.fault(this.cpu, 'IRET without an interrupt frame');
      top.pc++;
      return;
    }
    const frame = this.#frames.pop()!;
    this.interruptFlag = frame.savedIf;
    env.returned?.(this.cpu, frame.vector, frame.kind === FRAME_NMI);
  }

  /** Running off the end: main ends the program; a handler gets an implicit IRET (a guest bug). */
  #fallOff(env: VcpuEnv, frame: Frame): number {
    if (frame.kind === FRAME_MAIN) {
      this.#finish(env);
      return 0;
    }
    if (frame.kind === FRAME_VMEXIT) {
      // The exit handler ended without resuming L2: L1 goes on after the instruction that entered it.
      this.#frames.pop();
      return env.instructionNs;
    }
    env.fault(this.cpu, `handler ${frame.kind === FRAME_NMI ? 'NMI' : frame.vector} ran off its end without IRET`);
    this.#iret(env);
    return env.instructionNs;
  }

  #finish(env: VcpuEnv): void {
    if (this.level === 2 && env.l2Finished !== undefined) {
      env.l2Finished(this.cpu); // L2 ended; L1 hears of it at an exit
      return;
    }
    this.state = 'done';
    env.finished(this.cpu);
  }

  #push(code: Instr[], kind: number, vector: number): void {
    // The handler starts afresh: a kick landing before its first instruction must not take the
    // `work` that ended before the delivery for one in progress (interruptWork would rewind it).
    this.lastOp = '';
    this.#frames.push(newFrame(code, kind, vector, this.interruptFlag));
    this.interruptFlag = false;
    this.halted = false;
    this.#shadow = 'none';
    this.deliveries++;
  }

  #resetCpu(): void {
    this.#program = this.#root;
    this.level = 1;
    this.#parked = null;
    this.gif = true;
    this.interruptFlag = false;
    this.#shadow = 'none';
    this.nmiBlocked = false;
    this.halted = false;
    this.#frames = [];
    this.idtUnmapped = 0;
    this.state = 'idle';
  }

  #start(): void {
    this.#frames = [newFrame(this.#program.main, FRAME_MAIN, -1, false)];
    this.state = 'running';
  }
}
