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
import { compare, type GuestProgram, type Instr } from './program.js';

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
