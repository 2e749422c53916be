/**
 * x86 exceptions: which carry an error code, and how a second exception raised while the
 * processor delivers a first one combines with it.
 *
 * The rules are Intel SDM vol. 3, "Exception and Interrupt Reference", Table "Conditions for
 * Generating a Double Fault", and "Interrupt 8—Double Fault Exception (#DF)" (AMD APM vol. 2
 * §8.2.9 has the same table); KVM applies them in kvm_multiple_exception / exception_class.
 *
 * @module
 */

/** Exception vectors by mnemonic (SDM "Exception and Interrupt Reference"). */
export const EXC = {
  DE: 0, DB: 1, BP: 3, OF: 4, BR: 5, UD: 6, NM: 7, DF: 8, TS: 10, NP: 11, SS: 12, GP: 13, PF: 14,
  MF: 16, AC: 17, MC: 18, XM: 19, VE: 20, CP: 21,
} as const;

/** The NMI's vector: an interrupt, not an exception a program can raise. */
export const NMI_VECTOR = 2;
/** Exceptions use vectors 0..31. */
export const LAST_EXCEPTION_VECTOR = 31;

/** Exceptions that push an error code (SDM "Exception and Interrupt Reference", per vector). */
const ERROR_CODE_VECTORS: ReadonlySet<number> = new Set([EXC.DF, EXC.TS, EXC.NP, EXC.SS, EXC.GP, EXC.PF, EXC.AC, EXC.CP, 29, 30]);

/** Whether exception `vector` pushes an error code. */
export function hasErrorCode(vector: number): boolean {
  return ERROR_CODE_VECTORS.has(vector);
}

/**
 * The classes of the double-fault table. #VE is in the page-fault class (SDM: "#PF and #VE"
 * share the row); #DF is its own row (a contributory or page fault while delivering it shuts the
 * processor down).
 */
export type ExceptionClass = 'benign' | 'contributory' | 'page-fault' | 'double-fault';

/** Contributory exceptions: #DE, #TS, #NP, #SS, #GP (the SDM table; KVM's exception_class). */
const CONTRIBUTORY: ReadonlySet<number> = new Set([EXC.DE, EXC.TS, EXC.NP, EXC.SS, EXC.GP]);

/** The class of exception `vector` in the double-fault table. */
export function exceptionClass(vector: number): ExceptionClass {
  if (vector === EXC.DF) return 'double-fault';
  if (vector === EXC.PF || vector === EXC.VE) return 'page-fault';
  return CONTRIBUTORY.has(vector) ? 'contributory' : 'benign';
}

/** What happens when `second` is raised while the processor delivers `first`. */
export type Combination = 'serial' | 'double-fault' | 'triple-fault';

/**
 * SDM Table "Conditions for Generating a Double Fault": benign first (or a benign second) ->
 * serially; contributory then contributory -> #DF; contributory then page fault -> serially;
 * page fault then contributory or page fault -> #DF; a contributory or page fault while
 * delivering #DF -> triple fault (shutdown).
 */
export function combineExceptions(first: number, second: number): Combination {
  const a = exceptionClass(first);
  const b = exceptionClass(second);
  if (b === 'benign' || b === 'double-fault' || a === 'benign') return 'serial';
  if (a === 'double-fault') return 'triple-fault';
  if (a === 'contributory') return b === 'contributory' ? 'double-fault' : 'serial';
  return 'double-fault'; // page-fault class first, then contributory or page fault
}
