/**
 * Nested virtualization: what L0 does with an interrupt for L1 that is pending while L2 runs —
 * the one decision behind rules 1, 3 and 5 of docs/nested.md. A pure function of L1's controls
 * and the L2 CPU state, so tests and `explain` can ask it too.
 *
 * - VMX, external-interrupt exiting: the interrupt makes L2 exit to L1 whatever L2's RFLAGS.IF or
 *   interrupt shadow (SDM vol. 3, table "Definitions of Pin-Based VM-Execution Controls": with
 *   the control set, "the value of RFLAGS.IF does not affect interrupt blocking"; KVM's
 *   vmx_interrupt_blocked() returns false in guest mode with exit-on-interrupt, shadow or not).
 * - VMX without it: L0 injects the interrupt into L2 through the normal path, so L2 must be
 *   interruptible (IF = 1, no shadow); otherwise L0 opens an interrupt window in L2.
 * - SVM: the physical-interrupt mask while L2 runs is L1's RFLAGS.IF saved at VMRUN when L1 set
 *   V_INTR_MASKING, else L2's RFLAGS.IF (APM vol. 2 §15.21.1; KVM's svm_interrupt_blocked() reads
 *   vmcb01's saved RFLAGS for the former). GIF is always 1 in L2 (VMRUN sets it). Masked by L2's
 *   IF, L0 can wait for L2 with an interrupt window (VINTR); masked by L1's saved IF, nothing in
 *   L2 can change that and L0 does not intercept VINTR for it (KVM's recalc_intercepts: "interrupt
 *   window vmexits are irrelevant to L0") — the interrupt waits until L2 exits to L1 for another
 *   reason. Unmasked: with the INTR intercept the exit happens even inside an interrupt shadow
 *   ("vmexits aren't blocked by the interrupt shadow"); without it L0 injects into L2, which an
 *   interrupt shadow holds back.
 *
 * @module
 */
import type { L1Controls, NestedIsa } from './nested-controls.js';

/** What L0 does now with L1's pending interrupt while L2 runs. */
export type L1InterruptAction =
  /** Nothing is pending for L1. */
  | 'none'
  /** Emulate an exit from L2 to L1 (external interrupt / INTR). */
  | 'exit'
  /** Inject it into L2 (L1 did not ask to exit on its interrupts). */
  | 'inject'
  /** Blocked by L2's state: open an interrupt window in L2 and decide again when it fires. */
  | 'window'
  /** SVM: masked by L1's RFLAGS.IF saved at VMRUN (V_INTR_MASKING); waits for another exit. */
  | 'masked';

/** The L2 CPU state the decision reads. */
export interface L2InterruptState {
  /** L2's RFLAGS.IF. */
  interruptFlag: boolean;
  /** An STI / MOV SS shadow is active in L2. */
  inShadow: boolean;
}

/**
 * The decision. `pending`: L1 has a maskable interrupt (ExtINT or a local APIC vector that beats
 * PPR). `hostIf`: SVM, L1's RFLAGS.IF when it executed VMRUN.
 */
export function l1InterruptAction(isa: NestedIsa, c: L1Controls, pending: boolean, l2: L2InterruptState, hostIf: boolean): L1InterruptAction {
  if (!pending) return 'none';
  if (isa === 'vmx') {
    if (c.exitOnIntr) return 'exit';
    return l2.interruptFlag && !l2.inShadow ? 'inject' : 'window';
  }
  const unmasked = c.vIntrMasking ? hostIf : l2.interruptFlag;
  if (!unmasked) return c.vIntrMasking ? 'masked' : 'window';
  if (c.exitOnIntr) return 'exit';
  return l2.inShadow ? 'window' : 'inject';
}
