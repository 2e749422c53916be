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
  | { op: 'in'; port: number; into?: string };

export type Op = Instr['op'];

/** What one vCPU runs. */
export interface GuestProgram {
  /** The main program. It ends at `done` or when it runs off its end. */
  main: Instr[];
  /** Interrupt handlers by vector (16..255). A vector without one runs `eoi; iret`. */
  handlers?: Record<number, Instr[]>;
  /** The NMI handler. Without one, an NMI runs `iret`. */
  nmi?: Instr[];
  /**
   * An application processor: it waits for INIT and SIPI before it runs `main` (DESIGN: wait-for-
   * SIPI for APs). Default false: the program starts at time 0.
   */
  waitForSipi?: boolean;
}

const OPS: ReadonlySet<string> = new Set<Op>([
  'nop', 'sti', 'cli', 'movss', 'hlt', 'iret', 'done', 'work', 'mmio-read', 'mmio-write', 'rdmsr',
  'wrmsr', 'cr8-read', 'cr8-write', 'ipi', 'self-ipi', 'eoi', 'set', 'inc', 'wait', 'branch', 'jump',
  'record', 'out', 'in',
]);
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
  if (program === null || typeof program !== 'object') throw new TypeError('program must be an object');
  validateCode('main', program.main);
  if (program.handlers !== undefined) {
    if (program.handlers === null || typeof program.handlers !== 'object') {
      throw new TypeError('program.handlers must be an object keyed by vector');
    }
    for (const key of Object.keys(program.handlers)) {
      const vector = Number(key);
      if (!Number.isInteger(vector) || vector < 16 || vector > 255) {
        throw new RangeError(`program.handlers key must be a vector 16..255, got ${key}`);
      }
      validateCode(`handlers[${key}]`, program.handlers[vector]!);
    }
  }
  if (program.nmi !== undefined) validateCode('nmi', program.nmi);
  if (program.waitForSipi !== undefined && typeof program.waitForSipi !== 'boolean') {
    throw new TypeError('program.waitForSipi must be a boolean');
  }
}

function validateCode(where: string, code: Instr[]): void {
  if (!Array.isArray(code)) throw new TypeError(`program.${where} must be an array of instructions`);
  code.forEach((instr, i) => validateInstr(`program.${where}[${i}]`, instr, code.length));
}

function validateInstr(at: string, instr: Instr, length: number): void {
  if (instr === null || typeof instr !== 'object' || !OPS.has((instr as { op: string }).op)) {
    throw new TypeError(`${at}: unknown instruction ${JSON.stringify(instr)}`);
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
    default:
      return;
  }
}
