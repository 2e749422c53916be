/**
 * Nested virtualization: the controls an L1 hypervisor sets for its L2 guest and the exits it
 * sees, for VMX and SVM (docs/nested.md).
 *
 * The guest program writes {@link NestedControls} (plain data, VMX or SVM field names); the rules
 * (nested-gate.ts, nested.ts) read the ISA-neutral {@link L1Controls}. Exit reasons carry the
 * architectural codes L1 reads with `exit-info`: Intel SDM vol. 3 appendix C "VMX Basic Exit
 * Reasons" (1 external interrupt, 2 triple fault, 7 interrupt window, 33 VM-entry failure due to
 * invalid guest state, reported with bit 31 set) and AMD APM vol. 2 appendix C "SVM Intercept
 * Exit Codes" (0x60 INTR, 0x64 VINTR, 0x7F SHUTDOWN, -1 VMEXIT_INVALID).
 *
 * @module
 */
import type { NestedControls } from '../guest/program.js';
import type { BackendName } from './backend.js';

/** Which virtualization extension L1 uses: the machine's (its backend's). */
export type NestedIsa = 'vmx' | 'svm';

/** The ISA of a backend. */
export function isaOf(backend: BackendName): NestedIsa {
  return backend.startsWith('svm') ? 'svm' : 'vmx';
}

/** L1's controls, ISA-neutral. */
export interface L1Controls {
  /** VMX external-interrupt exiting / SVM INTR intercept: L1's interrupts make L2 exit to L1. */
  exitOnIntr: boolean;
  /** VMX "acknowledge interrupt on exit" (SVM has none). */
  ackOnExit: boolean;
  /** SVM V_INTR_MASKING: L1's RFLAGS.IF at VMRUN, not L2's, masks L1's interrupts (VMX: false). */
  vIntrMasking: boolean;
  /** SVM VINTR intercept: L2 exits to L1 when it could take L1's V_IRQ (VMX: false). */
  interceptVintr: boolean;
}

export const NO_CONTROLS: Readonly<L1Controls> = Object.freeze({ exitOnIntr: false, ackOnExit: false, vIntrMasking: false, interceptVintr: false });

/** The ISA-neutral controls; fields of the other ISA are ignored (load-time validation rejects them). */
export function controlsFor(isa: NestedIsa, c: NestedControls | undefined): L1Controls {
  if (c === undefined) return { ...NO_CONTROLS };
  if (isa === 'vmx') return { exitOnIntr: c.extIntExiting === true, ackOnExit: c.ackOnExit === true, vIntrMasking: false, interceptVintr: false };
  return { exitOnIntr: c.interceptIntr === true, ackOnExit: false, vIntrMasking: c.vIntrMasking === true, interceptVintr: c.interceptVintr === true };
}

/** Why L2 exited to L1 (an emulated VM exit). */
export type NestedExitReason =
  /** VMX external interrupt / SVM INTR: an interrupt for L1 arrived while L2 ran. */
  | 'external-interrupt'
  /** SVM VINTR, intercepted by L1: L2 could now take the V_IRQ L1 posted. */
  | 'interrupt-window'
  /** L2's program ended: modelled as a triple fault (VMX) / SHUTDOWN (SVM). */
  | 'shutdown'
  /** VMX: the VM entry failed its checks on guest state (an injected interrupt while L2 cannot take one). */
  | 'entry-failure';

export const NESTED_EXIT_REASONS: readonly NestedExitReason[] = ['external-interrupt', 'interrupt-window', 'shutdown', 'entry-failure'];

/** Architectural exit-reason codes, as `exit-info` reads them. */
export const NESTED_EXIT_CODES: Readonly<Record<NestedIsa, Readonly<Record<NestedExitReason, number>>>> = Object.freeze({
  vmx: Object.freeze({ 'external-interrupt': 1, 'interrupt-window': 7, shutdown: 2, 'entry-failure': 0x8000_0021 }),
  svm: Object.freeze({ 'external-interrupt': 0x60, 'interrupt-window': 0x64, shutdown: 0x7f, 'entry-failure': -1 }),
});
