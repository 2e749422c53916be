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
 * @module
 */
import type { StateReader, StateWriter } from '../codec/state.js';
import { SnapshotError } from '../errors.js';
import { compare, validateProgram, type GuestProgram, type Instr } from './program.js';

/** How a vCPU stands with respect to running its program. */
export type VcpuState = 'idle' | 'running' | 'wait-for-sipi' | 'done';

/** What the interpreter needs from the outside world. Costs are virtual nanoseconds. */
export interface VcpuEnv {
  /** Cost of an ordinary instruction. */
  readonly instructionNs: number;
  mmioRead(cpu: number, offset: number): number;
  mmioWrite(cpu: number, offset: number, value: number): void;
  /** @returns undefined when the guest gets #GP. */
  msrRead(cpu: number, msr: number): bigint | undefined;
  /** @returns false when the guest gets #GP. */
  msrWrite(cpu: number, msr: number, value: bigint): boolean;
  cr8Read(cpu: number): number;
  cr8Write(cpu: number, value: number): boolean;
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
}

const FRAME_MAIN = 0;
const FRAME_IRQ = 1;
const FRAME_NMI = 2;

/** One interrupted context: the code it runs, where, and the IF to restore at IRET. */
interface Frame {
  code: Instr[];
  pc: number;
  kind: number;
  vector: number;
  savedIf: boolean;
  /** xAPIC `ipi` is two writes (ICR high, then ICR low): the first has been done. */
  icrHighWritten: boolean;
}

const DEFAULT_HANDLER: Instr[] = [{ op: 'eoi' }, { op: 'iret' }];
const DEFAULT_NMI_HANDLER: Instr[] = [{ op: 'iret' }];
/** The spurious vector must not be EOIed (SDM "Spurious Interrupt"). */
const SPURIOUS_HANDLER: Instr[] = [{ op: 'iret' }];

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

const VCPU_STATES: readonly VcpuState[] = ['idle', 'running', 'wait-for-sipi', 'done'];
const SHADOWS = ['none', 'sti', 'movss'] as const;
/** Nested handlers are bounded by the 240 vectors and the NMI, plus main. */
const MAX_FRAMES = 256;

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

/** The code array a frame block name refers to. */
function resolveBlock(program: GuestProgram, block: string): Instr[] | undefined {
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
    default: {
      const m = /^h(\d{1,3})$/.exec(block);
      if (m === null) return undefined;
      return program.handlers?.[Number(m[1])];
    }
  }
}

export class Vcpu {
  /** RFLAGS.IF. */
  interruptFlag = false;
  /** An STI or MOV SS shadow covers the next instruction. */
  private shadow: 'none' | 'sti' | 'movss' = 'none';
  /** NMIs are blocked from NMI delivery until the next IRET. */
  nmiBlocked = false;
  /** Stopped by HLT. */
  halted = false;
  state: VcpuState = 'idle';
  /** Remaining nanoseconds of a `work` instruction that an interrupt cut short. */
  workRemaining = -1;
  /** Instructions executed. */
  instructions = 0;
  /** Interrupts and NMIs whose handler was entered. */
  deliveries = 0;
  /** The op of the instruction the last step executed. */
  lastOp = '';

  private program: GuestProgram = { main: [] };
  private frames: Frame[] = [];
  /** Whether the APIC is in x2APIC mode decides how `ipi`/`eoi` reach it. */
  x2apic = false;

  constructor(readonly cpu: number) {}

  /** Loads a program; it starts at once unless it waits for SIPI. */
  load(program: GuestProgram): void {
    this.program = program;
    this.resetCpu();
    if (program.waitForSipi) {
      this.state = 'wait-for-sipi';
      return;
    }
    this.start();
  }

  /** The loaded program. */
  get loaded(): GuestProgram {
    return this.program;
  }

  /** INIT: the CPU resets and (an AP) waits for SIPI; a BSP restarts its program. */
  init(bsp: boolean): void {
    this.resetCpu();
    if (bsp) this.start();
    else this.state = 'wait-for-sipi';
  }

  /** SIPI: a CPU waiting for it starts its main program. @returns whether it started. */
  sipi(): boolean {
    if (this.state !== 'wait-for-sipi') return false;
    this.start();
    return true;
  }

  /** Whether a maskable interrupt can be taken now (IF = 1 and no shadow). */
  interruptible(): boolean {
    return this.interruptFlag && this.shadow === 'none' && this.state === 'running';
  }

  /** Whether an NMI can be taken now (not blocked, no MOV SS shadow). */
  nmiAllowed(): boolean {
    return !this.nmiBlocked && this.shadow !== 'movss' && this.state === 'running';
  }

  /** Nesting depth of handlers (0 = main program). */
  get depth(): number {
    return this.frames.length - 1;
  }

  /** Vectors of the handlers currently entered, outermost first. */
  handlerStack(): number[] {
    return this.frames.slice(1).map((f) => (f.kind === FRAME_NMI ? -2 : f.vector));
  }

  // ---- snapshots -----------------------------------------------------------------------------

  /** Writes the CPU state and its program (as JSON) into a snapshot section. */
  saveState(w: StateWriter): void {
    w.str(JSON.stringify(this.program));
    w.u8(VCPU_STATES.indexOf(this.state)).bool(this.interruptFlag).u8(SHADOWS.indexOf(this.shadow));
    w.bool(this.nmiBlocked).bool(this.halted).bool(this.x2apic).int(this.workRemaining);
    w.uint(this.instructions).uint(this.deliveries).str(this.lastOp);
    w.u32(this.frames.length);
    for (const f of this.frames) {
      w.str(this.blockOf(f)).u32(f.pc).u8(f.kind).i32(f.vector).bool(f.savedIf).bool(f.icrHighWritten);
    }
  }

  /** Reads and checks a CPU state; returns the function that applies it. */
  readState(r: StateReader): () => void {
    const program = parseProgram(r);
    const state = VCPU_STATES[r.u8('state', VCPU_STATES.length - 1)]!;
    const interruptFlag = r.bool('if');
    const shadow = SHADOWS[r.u8('shadow', SHADOWS.length - 1)]!;
    const nmiBlocked = r.bool('nmiBlocked');
    const halted = r.bool('halted');
    const x2apic = r.bool('x2apic');
    const workRemaining = r.int('workRemaining', -1);
    const instructions = r.uint('instructions');
    const deliveries = r.uint('deliveries');
    const lastOp = r.str('lastOp', 32);
    const count = r.count('frames', MAX_FRAMES);
    const frames: Frame[] = [];
    for (let i = 0; i < count; i++) {
      const block = r.str('frame.block', 16);
      const code = resolveBlock(program, block);
      if (code === undefined) r.fail('frame.block', `unknown code block '${block}'`);
      const pc = r.u32('frame.pc', code.length);
      const kind = r.u8('frame.kind', FRAME_NMI);
      if ((i === 0) !== (kind === FRAME_MAIN)) r.fail('frame.kind', 'only the first frame runs the main program');
      const vector = r.i32('frame.vector', -1, 255);
      frames.push({ code, pc, kind, vector, savedIf: r.bool('frame.savedIf'), icrHighWritten: r.bool('frame.icrHigh') });
    }
    if (state === 'running' && frames.length === 0) r.fail('frames', 'a running vCPU needs its main frame');
    return () => {
      this.program = program;
      this.state = state;
      this.interruptFlag = interruptFlag;
      this.shadow = shadow;
      this.nmiBlocked = nmiBlocked;
      this.halted = halted;
      this.x2apic = x2apic;
      this.workRemaining = workRemaining;
      this.instructions = instructions;
      this.deliveries = deliveries;
      this.lastOp = lastOp;
      this.frames = frames;
    };
  }

  /** The name of the code block a frame runs, for snapshots. */
  private blockOf(f: Frame): string {
    if (f.code === this.program.main) return 'main';
    if (f.code === this.program.nmi) return 'nmi';
    if (f.code === DEFAULT_HANDLER) return 'default';
    if (f.code === DEFAULT_NMI_HANDLER) return 'default-nmi';
    if (f.code === SPURIOUS_HANDLER) return 'spurious';
    return `h${f.vector}`;
  }

  /** Enters the handler of an external interrupt `vector` through an interrupt gate. */
  deliverInterrupt(vector: number, spurious = false): void {
    const code = spurious ? SPURIOUS_HANDLER : (this.program.handlers?.[vector] ?? DEFAULT_HANDLER);
    this.push(code, FRAME_IRQ, vector);
  }

  /** Enters the NMI handler; NMIs stay blocked until the next IRET. */
  deliverNmi(): void {
    this.push(this.program.nmi ?? DEFAULT_NMI_HANDLER, FRAME_NMI, 2);
    this.nmiBlocked = true;
  }

  /**
   * Executes one instruction (or the rest of an interrupted `work`).
   * @returns the virtual nanoseconds it took, before any exit cost the environment adds.
   */
  step(env: VcpuEnv): number {
    if (this.state !== 'running' || this.halted) return 0;
    const frame = this.frames[this.frames.length - 1]!;
    if (frame.pc >= frame.code.length) return this.fallOff(env, frame);
    const instr = frame.code[frame.pc]!;
    const hadShadow = this.shadow !== 'none';
    this.instructions++;
    this.lastOp = instr.op;
    const ns = this.exec(env, frame, instr, hadShadow);
    // A shadow covers exactly one instruction; one begun by this instruction stays for the next.
    if (hadShadow) this.shadow = 'none';
    return ns;
  }

  /**
   * Cuts short the `work` instruction the last step started: `remainingNs` of it are left, and the
   * instruction runs again (for that long) after whatever interrupts it.
   */
  interruptWork(remainingNs: number): void {
    if (this.lastOp !== 'work' || this.frames.length === 0) return;
    this.workRemaining = remainingNs;
    this.frames[this.frames.length - 1]!.pc--;
    this.lastOp = '';
  }

  private exec(env: VcpuEnv, frame: Frame, instr: Instr, inShadow: boolean): number {
    const cpu = this.cpu;
    const ins = env.instructionNs;
    switch (instr.op) {
      case 'nop':
        frame.pc++;
        return ins;
      case 'sti':
        if (!this.interruptFlag && !inShadow) this.shadow = 'sti';
        this.interruptFlag = true;
        frame.pc++;
        return ins;
      case 'cli':
        this.interruptFlag = false;
        frame.pc++;
        return ins;
      case 'movss':
        if (!inShadow) this.shadow = 'movss';
        frame.pc++;
        return ins;
      case 'hlt':
        frame.pc++;
        this.halted = true;
        env.halt(cpu);
        return ins;
      case 'iret':
        this.iret(env);
        return ins;
      case 'done':
        this.finish(env);
        return 0;
      case 'work': {
        const ns = this.workRemaining >= 0 ? this.workRemaining : instr.ns;
        this.workRemaining = -1;
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
        this.sendIpi(env, frame, instr);
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
    }
  }

  /**
   * An IPI is one WRMSR in x2APIC mode but two MMIO writes in xAPIC mode (ICR high, then ICR low,
   * which sends): the instruction takes two steps there, and an interrupt can come in between.
   */
  private sendIpi(env: VcpuEnv, frame: Frame, instr: Extract<Instr, { op: 'ipi' }>): void {
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

  private iret(env: VcpuEnv): void {
    // Any IRET unblocks NMIs (SDM "NMI Handling").
    this.nmiBlocked = false;
    if (this.frames.length <= 1) {
      env.fault(this.cpu, 'IRET without an interrupt frame');
      this.frames[0]!.pc++;
      return;
    }
    const frame = this.frames.pop()!;
    this.interruptFlag = frame.savedIf;
    env.returned?.(this.cpu, frame.vector, frame.kind === FRAME_NMI);
  }

  /** Running off the end: main ends the program; a handler gets an implicit IRET (a guest bug). */
  private fallOff(env: VcpuEnv, frame: Frame): number {
    if (frame.kind === FRAME_MAIN) {
      this.finish(env);
      return 0;
    }
    env.fault(this.cpu, `handler ${frame.kind === FRAME_NMI ? 'NMI' : frame.vector} ran off its end without IRET`);
    this.iret(env);
    return env.instructionNs;
  }

  private finish(env: VcpuEnv): void {
    this.state = 'done';
    env.finished(this.cpu);
  }

  private push(code: Instr[], kind: number, vector: number): void {
    this.frames.push({ code, pc: 0, kind, vector, savedIf: this.interruptFlag, icrHighWritten: false });
    this.interruptFlag = false;
    this.halted = false;
    this.shadow = 'none';
    this.deliveries++;
  }

  private resetCpu(): void {
    this.interruptFlag = false;
    this.shadow = 'none';
    this.nmiBlocked = false;
    this.halted = false;
    this.workRemaining = -1;
    this.frames = [];
    this.state = 'idle';
  }

  private start(): void {
    this.frames = [{ code: this.program.main, pc: 0, kind: FRAME_MAIN, vector: -1, savedIf: false, icrHighWritten: false }];
    this.state = 'running';
  }
}
