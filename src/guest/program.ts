/**
 * Guest programs: small, serializable scripts that a vCPU runs.
 *
 * A program is plain data (JSON-compatible objects), so a snapshot can hold it and a test can
 * print it. Each instruction is an object with an `op`; instruction costs come from the
 * machine's `Costs`. Interrupt handlers are programs keyed by vector; they usually end with
 * `eoi` and `iret`.
 *
 * The instructions cover what interrupt races need: interrupt-flag control and its one-instruction
 * shadow (sti, movss), hlt, iret, time passing (work), APIC accesses by MMIO and MSR (so the
 * backend decides whether they exit), CR8, IPIs, EOI, shared-memory variables (so vCPUs can
 * signal each other without exits), branches and waits, and `record` to put an observation in
 * the trace.
 *
 * @module
 */

import { hasErrorCode, LAST_EXCEPTION_VECTOR, NMI_VECTOR } from './exceptions.js';
import { checkObject } from '../errors.js';

/** 0..31 but the NMI's 2. */
function isExceptionVector(v: unknown): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= LAST_EXCEPTION_VECTOR && v !== NMI_VECTOR;
}

/** Comparison used by `wait` and `branch`. */
export type Cmp = 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge';

/** How an `ipi` instruction addresses its target(s). */
export type IpiShorthand = 'none' | 'self' | 'all' | 'others';

/** Delivery mode of an `ipi` instruction. */
export type IpiMode = 'fixed' | 'lowest' | 'nmi' | 'init' | 'sipi' | 'smi';

export type Instr =
  /** Does nothing for one instruction's time. */
  | { op: 'nop' }
  /** Sets RFLAGS.IF; if IF was 0, interrupts stay blocked until after the next instruction. */
  | { op: 'sti' }
  /** Clears RFLAGS.IF. */
  | { op: 'cli' }
  /** MOV SS: blocks interrupts (and NMIs) until after the next instruction. */
  | { op: 'movss' }
  /** Halts until an interrupt the CPU can take (IF = 1), an NMI, INIT or SIPI. */
  | { op: 'hlt' }
  /** Returns from a handler: restores IF; unblocks NMIs. */
  | { op: 'iret' }
  /** Ends the program (the vCPU stops for good). */
  | { op: 'done' }
  /** Computes for `ns` virtual nanoseconds (interruptible). */
  | { op: 'work'; ns: number }
  /** xAPIC MMIO read of the register at `offset`; the value goes to variable `into`, if given. */
  | { op: 'mmio-read'; offset: number; into?: string }
  /** xAPIC MMIO write. */
  | { op: 'mmio-write'; offset: number; value: number }
  /** RDMSR; the low 32 bits go to `into`, if given. */
  | { op: 'rdmsr'; msr: number; into?: string }
  /** WRMSR of `(hi << 32) | lo`. */
  | { op: 'wrmsr'; msr: number; lo: number; hi?: number }
  /** MOV from CR8 into variable `into`. */
  | { op: 'cr8-read'; into?: string }
  /** MOV to CR8. */
  | { op: 'cr8-write'; value: number }
  /**
   * Sends an IPI by writing the ICR (MMIO in xAPIC mode, MSR 0x830 in x2APIC mode). `dest` is a
   * physical APIC ID unless `logical`; `shorthand` defaults to 'none', `mode` to 'fixed'.
   */
  | { op: 'ipi'; dest: number; vector: number; mode?: IpiMode; shorthand?: IpiShorthand; logical?: boolean }
  /** SELF IPI: MSR 0x83F in x2APIC mode, ICR with the self shorthand in xAPIC mode. */
  | { op: 'self-ipi'; vector: number }
  /** Writes the EOI register (MMIO 0xB0 or MSR 0x80B). */
  | { op: 'eoi' }
  /** Shared memory: `var = value`. */
  | { op: 'set'; var: string; value: number }
  /** Shared memory: `var += by` (default 1). */
  | { op: 'inc'; var: string; by?: number }
  /** Spins until `var cmp value` holds; each check costs one instruction. */
  | { op: 'wait'; var: string; cmp: Cmp; value: number }
  /** Jumps to instruction index `to` if `var cmp value`. */
  | { op: 'branch'; var: string; cmp: Cmp; value: number; to: number }
  /** Jumps to instruction index `to`. */
  | { op: 'jump'; to: number }
  /** Appends an observation (the label and, if given, a variable's value) to the trace. */
  | { op: 'record'; label: string; var?: string }
  /**
   * OUT: writes the byte `value` to I/O port `port` (0..0xFFFF). The 8259A pair and its ELCR
   * (0x20, 0x21, 0xA0, 0xA1, 0x4D0, 0x4D1) answer; other ports ignore the write. Exits ('io').
   */
  | { op: 'out'; port: number; value: number }
  /** IN: reads a byte from I/O port `port` into variable `into`, if given; unclaimed ports read 0xFF. Exits ('io'). */
  | { op: 'in'; port: number; into?: string }
  /**
   * Raises exception `vector` (0..31, not 2), with `errorCode` for the vectors that push one
   * (8, 10-14, 17, 21, 29, 30; default 0). The handler is `exceptions[vector]`; it returns past
   * this instruction (as if it had fixed up or emulated it). `deliveryFaults` are exceptions the
   * delivery meets in turn — an IDT gate not present (#NP), the handler's stack not mapped in
   * the guest's page tables (#PF) — combined by the SDM's double-fault table
   * (src/guest/exceptions.ts): the first is raised while delivering `vector`, the next while
   * delivering what that gave. A triple fault shuts the vCPU down.
   */
  | { op: 'exception'; vector: number; errorCode?: number; deliveryFaults?: number[] }
  /**
   * The hypervisor unmaps the guest's IDT page in EPT / NPT for the next `deliveries` event
   * deliveries (default 1; 1..1000): each of them exits (EPT violation / nested page fault)
   * before the handler is entered, the exit reports the event (VMX IDT-vectoring information,
   * SVM EXITINTINFO) and the hypervisor maps the page and must re-inject the event. Only in an
   * L1 program (L2 deliveries are L0's and L1's business, not modelled).
   */
  | { op: 'unmap-idt'; deliveries?: number }
  // ---- L1-hypervisor instructions (nested virtualization, docs/nested.md) ----
  /**
   * VMX VMLAUNCH / SVM VMRUN of a fresh L2 running `program.l2`, with L1's `controls`; `inject`
   * is an external interrupt L1 injects at that entry (VMX VM-entry interruption information,
   * SVM EVENTINJ) and `vIrq` (SVM) a virtual interrupt L1 posts for L2 through V_IRQ /
   * V_INTR_VECTOR. L2 starts with RFLAGS.IF = `guestIf` (default false). The instruction exits
   * to L0, which emulates the entry. Only in `main` and `vmexit`; when L2 exits, L1 continues at
   * `program.vmexit`.
   */
  | { op: 'vmlaunch'; controls?: NestedControls; inject?: number; vIrq?: number; guestIf?: boolean }
  /**
   * VMX VMRESUME / SVM VMRUN: re-enters L2 where its last exit left it; `controls` (if given)
   * replace L1's controls, `inject` and `vIrq` as for `vmlaunch`. An exit handler that resumes L2
   * is over (VMRESUME does not return).
   */
  | { op: 'vmresume'; controls?: NestedControls; inject?: number; vIrq?: number }
  /**
   * Reads the last emulated exit from L2 (a VMREAD of the exit fields / the VMCB; no exit): the
   * architectural exit-reason code into `reason`, the vector of the exit interruption information
   * (-1 when not valid) into `vector`, the V_IRQ vector L1 posted and L2 has not taken (-1 if
   * none) into `vIrq`.
   */
  | { op: 'exit-info'; reason?: string; vector?: string; vIrq?: string }
  /** SVM STGI: sets the global interrupt flag. */
  | { op: 'stgi' }
  /** SVM CLGI: clears the global interrupt flag (interrupts and NMIs are held). */
  | { op: 'clgi' };

/**
 * The controls an L1 hypervisor sets for its L2 (docs/nested.md). VMX and SVM fields do not mix;
 * the machine checks at load that they match its backend. Every field defaults to false.
 */
export interface NestedControls {
  /** VMX pin-based "external-interrupt exiting": an interrupt for L1 makes L2 exit to L1. */
  extIntExiting?: boolean;
  /** VMX VM-exit control "acknowledge interrupt on exit": the exit carries the vector (IRR -> ISR). */
  ackOnExit?: boolean;
  /** SVM: L1 intercepts INTR (physical interrupts make L2 exit to L1). */
  interceptIntr?: boolean;
  /** SVM V_INTR_MASKING: L2's RFLAGS.IF masks only virtual interrupts; L1's (at VMRUN) masks L1's. */
  vIntrMasking?: boolean;
  /** SVM: L1 intercepts VINTR (L2 exits to L1 instead of taking L1's V_IRQ). */
  interceptVintr?: boolean;
}

/** The VMX fields of {@link NestedControls}. */
export const VMX_CONTROLS: readonly (keyof NestedControls)[] = ['extIntExiting', 'ackOnExit'];
/** The SVM fields of {@link NestedControls}. */
export const SVM_CONTROLS: readonly (keyof NestedControls)[] = ['interceptIntr', 'vIntrMasking', 'interceptVintr'];

export type Op = Instr['op'];

/** What one vCPU runs. */
export interface GuestProgram {
  /** The main program. It ends at `done` or when it runs off its end. */
  main: Instr[];
  /** Interrupt handlers by vector (16..255). A vector without one runs `eoi; iret`. */
  handlers?: Record<number, Instr[]>;
  /** The NMI handler. Without one, an NMI runs `iret`. */
  nmi?: Instr[];
  /** Exception handlers by vector (0..31, not 2). A vector without one runs `iret` (no EOI). */
  exceptions?: Record<number, Instr[]>;
  /**
   * An application processor: it waits for INIT and SIPI before it runs `main` (DESIGN: wait-for-
   * SIPI for APs). Default false: the program starts at time 0.
   */
  waitForSipi?: boolean;
  /**
   * L1 hypervisor: the L2 guest that `vmlaunch` runs (docs/nested.md). An ordinary program, except
   * that it cannot run a guest itself (no `l2`, `vmexit`, L1-hypervisor instructions or
   * `waitForSipi`). Its APIC accesses reach this vCPU's local APIC.
   */
  l2?: GuestProgram;
  /** L1 hypervisor: where L1 continues after an exit from L2 (its "host RIP"). */
  vmexit?: Instr[];
}

const OPS: ReadonlySet<string> = new Set<Op>([
  'nop', 'sti', 'cli', 'movss', 'hlt', 'iret', 'done', 'work', 'mmio-read', 'mmio-write', 'rdmsr',
  'wrmsr', 'cr8-read', 'cr8-write', 'ipi', 'self-ipi', 'eoi', 'set', 'inc', 'wait', 'branch', 'jump',
  'record', 'out', 'in', 'exception', 'unmap-idt', 'vmlaunch', 'vmresume', 'exit-info', 'stgi', 'clgi',
]);
/** Instructions only an L1 hypervisor executes. */
const L1_OPS: ReadonlySet<string> = new Set<Op>(['vmlaunch', 'vmresume', 'exit-info', 'stgi', 'clgi']);
/** Most `deliveries` one `unmap-idt` makes exit. */
export const MAX_UNMAPPED_DELIVERIES = 1000;
/** Most exceptions one `exception` instruction's delivery meets in turn. */
const MAX_DELIVERY_FAULTS = 4;
const CONTROL_KEYS: ReadonlySet<string> = new Set<string>([...VMX_CONTROLS, ...SVM_CONTROLS]);
const CMPS: ReadonlySet<string> = new Set<Cmp>(['eq', 'ne', 'lt', 'le', 'gt', 'ge']);
const MODES: ReadonlySet<string> = new Set<IpiMode>(['fixed', 'lowest', 'nmi', 'init', 'sipi', 'smi']);
const SHORTHANDS: ReadonlySet<string> = new Set<IpiShorthand>(['none', 'self', 'all', 'others']);

/** Evaluates a comparison. */
export function compare(a: number, cmp: Cmp, b: number): boolean {
  switch (cmp) {
    case 'eq':
      return a === b;
    case 'ne':
      return a !== b;
    case 'lt':
      return a < b;
    case 'le':
      return a <= b;
    case 'gt':
      return a > b;
    case 'ge':
      return a >= b;
  }
}

/**
 * Checks a program's shape so that a bad program fails when it is loaded, with the place named,
 * instead of misbehaving later.
 * @throws TypeError / RangeError naming the program part, the instruction index and the field.
 */
export function validateProgram(program: GuestProgram): void {
  validateAt(program, 'program', 1);
}

/** Validates a program at `path` ('program' or 'program.l2'); level 2 programs cannot run guests. */
function validateAt(program: GuestProgram, path: string, level: 1 | 2): void {
  checkObject(path, program);
  const ctx: CodeContext = { path, level, block: 'main', entersL2: null };
  validateCode(ctx, 'main', program.main);
  if (program.handlers !== undefined) {
    if (program.handlers === null || typeof program.handlers !== 'object') {
      throw new TypeError(`${path}.handlers must be an object keyed by vector`);
    }
    for (const key of Object.keys(program.handlers)) {
      const vector = Number(key);
      if (!Number.isInteger(vector) || vector < 16 || vector > 255) {
        throw new RangeError(`${path}.handlers key must be a vector 16..255, got ${key}`);
      }
      validateCode(ctx, `handlers[${key}]`, program.handlers[vector]!);
    }
  }
  if (program.nmi !== undefined) validateCode(ctx, 'nmi', program.nmi);
  if (program.exceptions !== undefined) {
    if (program.exceptions === null || typeof program.exceptions !== 'object') {
      throw new TypeError(`${path}.exceptions must be an object keyed by vector`);
    }
    for (const key of Object.keys(program.exceptions)) {
      if (!isExceptionVector(Number(key))) throw new RangeError(`${path}.exceptions key must be an exception vector 0..31 but 2, got ${key}`);
      validateCode(ctx, `exceptions[${key}]`, program.exceptions[Number(key)]!);
    }
  }
  if (program.waitForSipi !== undefined && typeof program.waitForSipi !== 'boolean') {
    throw new TypeError(`${path}.waitForSipi must be a boolean`);
  }
  if (level === 2) {
    for (const key of ['l2', 'vmexit', 'waitForSipi'] as const) {
      if (program[key] !== undefined) throw new TypeError(`${path}.${key}: an L2 program cannot have one (no L3, no SIPI)`);
    }
    return;
  }
  if (program.vmexit !== undefined) validateCode(ctx, 'vmexit', program.vmexit);
  if (ctx.entersL2 !== null) {
    if (program.l2 === undefined) throw new TypeError(`${ctx.entersL2} enters L2, so ${path}.l2 must be a program`);
    if (program.vmexit === undefined) throw new TypeError(`${ctx.entersL2} enters L2, so ${path}.vmexit must be an array of instructions`);
  }
  if (program.l2 !== undefined) validateAt(program.l2, `${path}.l2`, 2);
}

interface CodeContext {
  path: string;
  level: 1 | 2;
  block: string;
  /** Where the first vmlaunch / vmresume is, or null. */
  entersL2: string | null;
}

function validateCode(ctx: CodeContext, block: string, code: Instr[]): void {
  if (!Array.isArray(code)) throw new TypeError(`${ctx.path}.${block} must be an array of instructions`);
  ctx.block = block;
  code.forEach((instr, i) => validateInstr(`${ctx.path}.${block}[${i}]`, instr, code.length, ctx));
}

function validateInstr(at: string, instr: Instr, length: number, ctx: CodeContext): void {
  if (instr === null || typeof instr !== 'object' || !OPS.has((instr as { op: string }).op)) {
    throw new TypeError(`${at}: unknown instruction ${JSON.stringify(instr)}`);
  }
  if (ctx.level === 2 && L1_OPS.has(instr.op)) {
    throw new RangeError(`${at}: ${instr.op} is an L1-hypervisor instruction; an L2 program cannot run a guest (no L3)`);
  }
  const int = (field: string, value: unknown, min: number, max: number): void => {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw new RangeError(`${at}.${field} must be an integer ${min}..${max}, got ${String(value)}`);
    }
  };
  const name = (field: string, value: unknown, optional: boolean): void => {
    if (optional && value === undefined) return;
    if (typeof value !== 'string' || value.length === 0) throw new TypeError(`${at}.${field} must be a non-empty string`);
  };
  switch (instr.op) {
    case 'work':
      int('ns', instr.ns, 0, Number.MAX_SAFE_INTEGER);
      return;
    case 'mmio-read':
      int('offset', instr.offset, 0, 0xfff);
      name('into', instr.into, true);
      return;
    case 'mmio-write':
      int('offset', instr.offset, 0, 0xfff);
      int('value', instr.value, 0, 0xffff_ffff);
      return;
    case 'rdmsr':
      int('msr', instr.msr, 0, 0xffff_ffff);
      name('into', instr.into, true);
      return;
    case 'wrmsr':
      int('msr', instr.msr, 0, 0xffff_ffff);
      int('lo', instr.lo, 0, 0xffff_ffff);
      if (instr.hi !== undefined) int('hi', instr.hi, 0, 0xffff_ffff);
      return;
    case 'cr8-read':
      name('into', instr.into, true);
      return;
    case 'cr8-write':
      int('value', instr.value, 0, Number.MAX_SAFE_INTEGER);
      return;
    case 'ipi':
      int('dest', instr.dest, 0, 0xffff_ffff);
      int('vector', instr.vector, 0, 255);
      if (instr.mode !== undefined && !MODES.has(instr.mode)) throw new RangeError(`${at}.mode: unknown IPI mode ${String(instr.mode)}`);
      if (instr.shorthand !== undefined && !SHORTHANDS.has(instr.shorthand)) {
        throw new RangeError(`${at}.shorthand: unknown shorthand ${String(instr.shorthand)}`);
      }
      if (instr.logical !== undefined && typeof instr.logical !== 'boolean') throw new TypeError(`${at}.logical must be a boolean`);
      return;
    case 'self-ipi':
      int('vector', instr.vector, 0, 255);
      return;
    case 'set':
      name('var', instr.var, false);
      int('value', instr.value, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
      return;
    case 'inc':
      name('var', instr.var, false);
      if (instr.by !== undefined) int('by', instr.by, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
      return;
    case 'wait':
    case 'branch':
      name('var', instr.var, false);
      if (!CMPS.has(instr.cmp)) throw new RangeError(`${at}.cmp: unknown comparison ${String(instr.cmp)}`);
      int('value', instr.value, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
      if (instr.op === 'branch') int('to', instr.to, 0, length);
      return;
    case 'jump':
      int('to', instr.to, 0, length);
      return;
    case 'record':
      name('label', instr.label, false);
      name('var', instr.var, true);
      return;
    case 'out':
      int('port', instr.port, 0, 0xffff);
      int('value', instr.value, 0, 0xff);
      return;
    case 'in':
      int('port', instr.port, 0, 0xffff);
      name('into', instr.into, true);
      return;
    case 'exception':
      validateException(at, instr, int);
      return;
    case 'unmap-idt':
      if (ctx.level === 2) throw new RangeError(`${at}: unmap-idt is for L1 programs (re-injection into L2 is not modelled)`);
      if (instr.deliveries !== undefined) int('deliveries', instr.deliveries, 1, MAX_UNMAPPED_DELIVERIES);
      return;
    case 'vmlaunch':
    case 'vmresume':
      if (ctx.block !== 'main' && ctx.block !== 'vmexit') {
        throw new RangeError(`${at}: ${instr.op} may only be in main or vmexit, not in ${ctx.block}`);
      }
      ctx.entersL2 ??= at;
      if (instr.controls !== undefined) validateControls(`${at}.controls`, instr.controls);
      if (instr.inject !== undefined) int('inject', instr.inject, 16, 255);
      if (instr.vIrq !== undefined) int('vIrq', instr.vIrq, 16, 255);
      if (instr.op === 'vmlaunch' && instr.guestIf !== undefined && typeof instr.guestIf !== 'boolean') {
        throw new TypeError(`${at}.guestIf must be a boolean`);
      }
      return;
    case 'exit-info':
      name('reason', instr.reason, true);
      name('vector', instr.vector, true);
      name('vIrq', instr.vIrq, true);
      return;
    default:
      return;
  }
}

/** An exception vector (0..31, not the NMI's 2); an error code only where the vector has one. */
function validateException(at: string, instr: Extract<Instr, { op: 'exception' }>, int: (field: string, value: unknown, min: number, max: number) => void): void {
  const vector = (field: string, v: unknown): void => {
    if (!isExceptionVector(v)) throw new RangeError(`${at}.${field} must be an exception vector 0..31 but 2, got ${String(v)}`);
  };
  vector('vector', instr.vector);
  if (instr.errorCode !== undefined) {
    if (!hasErrorCode(instr.vector)) throw new RangeError(`${at}.errorCode: exception ${instr.vector} has none`);
    int('errorCode', instr.errorCode, 0, 0xffff_ffff);
  }
  if (instr.deliveryFaults === undefined) return;
  if (!Array.isArray(instr.deliveryFaults) || instr.deliveryFaults.length > MAX_DELIVERY_FAULTS) {
    throw new TypeError(`${at}.deliveryFaults must be an array of at most ${MAX_DELIVERY_FAULTS} vectors`);
  }
  instr.deliveryFaults.forEach((v, i) => vector(`deliveryFaults[${i}]`, v));
}

function validateControls(at: string, controls: NestedControls): void {
  if (controls === null || typeof controls !== 'object' || Array.isArray(controls)) throw new TypeError(`${at} must be an object`);
  let vmx = false;
  let svm = false;
  for (const [key, value] of Object.entries(controls)) {
    if (!CONTROL_KEYS.has(key)) throw new RangeError(`${at}.${key} is not a control (${[...CONTROL_KEYS].join(', ')})`);
    if (typeof value !== 'boolean') throw new TypeError(`${at}.${key} must be a boolean`);
    if ((VMX_CONTROLS as readonly string[]).includes(key)) vmx = true;
    else svm = true;
  }
  if (vmx && svm) throw new RangeError(`${at} mixes VMX (${VMX_CONTROLS.join(', ')}) and SVM (${SVM_CONTROLS.join(', ')}) controls`);
}
