/**
 * Nested virtualization: what L0 keeps per vCPU about L1's guest (L2) — the parts of vmcs12 /
 * vmcb12 and of KVM's `nested` state that matter for interrupts — its counters, and their
 * snapshot encoding. The CPU contexts themselves (L1's and L2's programs, frames, flags) live in
 * the Vcpu (src/guest/vcpu.ts).
 *
 * @module
 */
import type { StateReader, StateWriter } from '../codec/state.js';
import { EXIT_REASONS, LEGACY_EXIT_REASON_COUNT, type ExitReason } from './backend.js';
import { NESTED_EXIT_REASONS, NO_CONTROLS, type L1Controls, type NestedExitReason } from './nested-controls.js';

const NONE = -1;

/** Counted per vCPU (merged into `machine.stats()`). */
export interface NestedCounters {
  /** Emulated VM entries from L1 into L2 (VMLAUNCH / VMRESUME / VMRUN). */
  entries: number;
  /** Emulated exits from L2 to L1, by reason. */
  exits: Record<NestedExitReason, number>;
  /** Exits to L0 taken while L2 ran, by reason (counted in the machine's `exits` too). */
  exitsFromL2: Record<ExitReason, number>;
  /** External-interrupt exits that carried the vector (acknowledge interrupt on exit). */
  ackedOnExit: number;
  /** Immediate exits L0 requested because a nested run was pending (rule 4). */
  immediateExits: number;
  /** Handler entries in L2 (L0's injection, L1's injection, V_IRQ, NMIs). */
  l2Deliveries: number;
}

/** One vCPU's nested state. */
export interface NestedCpu {
  /** L1's controls for L2 (vmcs12 / vmcb12). */
  controls: L1Controls;
  /** L2's program ended: it cannot be resumed (a new vmlaunch starts a fresh one). */
  ended: boolean;
  /** KVM's nested_run_pending: L1 just executed VMLAUNCH / VMRESUME / VMRUN; L0 has not entered L2 yet. */
  runPending: boolean;
  /** The event L1 injects at that entry (VM-entry interruption information / EVENTINJ), or -1. */
  inject: number;
  /** L0 asked for an exit right after the next entry into L2 (KVM's req_immediate_exit). */
  immediateExit: boolean;
  /** L0's interrupt window in L2 for L1's interrupt (vmcs02 interrupt-window exiting / vmcb02 VINTR). */
  window: boolean;
  /** L0's NMI window in L2. */
  nmiWindow: boolean;
  /** SVM: L1's RFLAGS.IF at VMRUN (saved in vmcb01). */
  hostIf: boolean;
  /** SVM: the V_IRQ L1 posted for L2 (V_INTR_VECTOR), -1 if none or taken. */
  vIrq: number;
  /** An exit L0 reflects to L1 at the next entry (an intercepted VINTR, L2's shutdown), or null. */
  exitRequest: NestedExitReason | null;
  /** The last emulated exit, for `exit-info`: its reason (null before any) and vector (-1 = none). */
  lastReason: NestedExitReason | null;
  lastVector: number;
  counters: NestedCounters;
}

function zeroRecord<K extends string>(keys: readonly K[]): Record<K, number> {
  const r = {} as Record<K, number>;
  for (const k of keys) r[k] = 0;
  return r;
}

export function emptyNestedCounters(): NestedCounters {
  return {
    entries: 0,
    exits: zeroRecord(NESTED_EXIT_REASONS),
    exitsFromL2: zeroRecord(EXIT_REASONS),
    ackedOnExit: 0,
    immediateExits: 0,
    l2Deliveries: 0,
  };
}

/** The state after reset (no L2), keeping the counters. */
export function resetNestedCpu(counters: NestedCounters = emptyNestedCounters()): NestedCpu {
  return {
    controls: { ...NO_CONTROLS },
    ended: false,
    runPending: false,
    inject: NONE,
    immediateExit: false,
    window: false,
    nmiWindow: false,
    hostIf: false,
    vIrq: NONE,
    exitRequest: null,
    lastReason: null,
    lastVector: NONE,
    counters,
  };
}

const REQUESTS: readonly (NestedExitReason | null)[] = [null, ...NESTED_EXIT_REASONS];

export function saveNestedCpu(w: StateWriter, s: NestedCpu): void {
  const c = s.controls;
  w.bool(c.exitOnIntr).bool(c.ackOnExit).bool(c.vIntrMasking).bool(c.interceptVintr);
  w.bool(s.ended).bool(s.runPending).i32(s.inject).bool(s.immediateExit).bool(s.window).bool(s.nmiWindow);
  w.bool(s.hostIf).i32(s.vIrq).u8(REQUESTS.indexOf(s.exitRequest)).u8(REQUESTS.indexOf(s.lastReason)).i32(s.lastVector);
  const k = s.counters;
  w.uint(k.entries).uint(k.ackedOnExit).uint(k.immediateExits).uint(k.l2Deliveries);
  for (const r of NESTED_EXIT_REASONS) w.uint(k.exits[r]);
  // Only the reasons an L2 can exit with: the IDT-fault exits ('ept-violation', 'npf') are L1's.
  for (const r of EXIT_REASONS.slice(0, LEGACY_EXIT_REASON_COUNT)) w.uint(k.exitsFromL2[r]);
}

export function readNestedCpu(r: StateReader): NestedCpu {
  const controls: L1Controls = {
    exitOnIntr: r.bool('nested.exitOnIntr'),
    ackOnExit: r.bool('nested.ackOnExit'),
    vIntrMasking: r.bool('nested.vIntrMasking'),
    interceptVintr: r.bool('nested.interceptVintr'),
  };
  const ended = r.bool('nested.ended');
  const runPending = r.bool('nested.runPending');
  const inject = r.i32('nested.inject', NONE, 255);
  const immediateExit = r.bool('nested.immediateExit');
  const window = r.bool('nested.window');
  const nmiWindow = r.bool('nested.nmiWindow');
  const hostIf = r.bool('nested.hostIf');
  const vIrq = r.i32('nested.vIrq', NONE, 255);
  const exitRequest = REQUESTS[r.u8('nested.exitRequest', REQUESTS.length - 1)]!;
  const lastReason = REQUESTS[r.u8('nested.lastReason', REQUESTS.length - 1)]!;
  const lastVector = r.i32('nested.lastVector', NONE, 255);
  if ((inject >= 0 && inject < 16) || (vIrq >= 0 && vIrq < 16)) r.fail('nested.inject', 'vectors 0-15 cannot be injected');
  const counters = emptyNestedCounters();
  counters.entries = r.uint('nested.entries');
  counters.ackedOnExit = r.uint('nested.ackedOnExit');
  counters.immediateExits = r.uint('nested.immediateExits');
  counters.l2Deliveries = r.uint('nested.l2Deliveries');
  for (const reason of NESTED_EXIT_REASONS) counters.exits[reason] = r.uint(`nested.exits.${reason}`);
  for (const reason of EXIT_REASONS.slice(0, LEGACY_EXIT_REASON_COUNT)) counters.exitsFromL2[reason] = r.uint(`nested.exitsFromL2.${reason}`);
  return { controls, ended, runPending, inject, immediateExit, window, nmiWindow, hostIf, vIrq, exitRequest, lastReason, lastVector, counters };
}
