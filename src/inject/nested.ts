/**
 * Nested virtualization: L0 (the machine's hypervisor) running an L1 hypervisor that runs an L2
 * guest, and what happens to L1's interrupts meanwhile — the rules of KVM's nVMX / nSVM
 * (arch/x86/kvm/vmx/nested.c, arch/x86/kvm/svm/nested.c), the Intel SDM vol. 3 and the AMD APM
 * vol. 2. docs/nested.md has the rules with a sequence diagram each; this file implements them.
 *
 * One controller serves every backend. While L1 runs, the backend works as without nesting (L1
 * is its guest). While L2 runs, the backend's own assists are off — vmcs02 / vmcb02 carry none
 * of L1's virtual-interrupt delivery, posted interrupts or V_IRQ — and the backend hands its
 * entry, boundary and wake-up decisions to this controller through three hooks
 * ({@link NestedController.entry}, {@link NestedController.boundary},
 * {@link NestedController.canWake}). A new interrupt for L1 while L2 runs reaches L0 as a host
 * interrupt (the kick, or a posted-interrupt notification, which vmcs02 does not recognize): an
 * exit to L0, which then decides at the next entry, as KVM's check_nested_events does:
 *
 * 1. External-interrupt exiting (VMX) / INTR intercept (SVM): L0 emulates an exit from L2 to L1,
 *    reason "external interrupt". Without "acknowledge interrupt on exit" it carries no vector;
 *    L1 resumes with interrupts disabled (VMX clears RFLAGS at a VM exit; SVM clears GIF), and the
 *    backend's normal path gets the interrupt into L1 once L1 enables them — under event injection
 *    through an interrupt-window exit, which is what the hardware would do, not waste.
 * 2. With "acknowledge interrupt on exit" (VMX): the exit carries the vector — the highest one
 *    from L1's virtual IRR that beats PPR (or the 8259A's, by an INTA cycle), moved to ISR then
 *    (KVM: kvm_cpu_get_interrupt / kvm_apic_ack_interrupt in vmx_check_nested_events). L1 is not
 *    interrupted again for it.
 * 3. Without exiting: L0 injects the interrupt into L2 through the normal path (L1's vector,
 *    L2's handler for it), or opens an interrupt window in L2.
 * 4. A pending nested run (KVM's nested_run_pending, set by VMLAUNCH / VMRESUME / VMRUN): L0 first
 *    enters L2 — delivering the event L1 injected, if any — and keeps L1's interrupt pending;
 *    nested events are blocked until the entry completes, so L0 asks for an immediate exit
 *    (KVM: -EBUSY from check_nested_events, then req_immediate_exit) and decides after it.
 * 5. SVM: the INTR intercept, V_INTR_MASKING (which RFLAGS.IF masks L1's interrupts), L1's V_IRQ
 *    for L2 (delivered by the hardware when L2 can take it, or a VINTR exit to L1 if L1
 *    intercepts VINTR), and L0's own interrupt window in vmcb02, which leaves L1's V_IRQ alone
 *    (KVM's nested_sync_control_from_vmcb02 does not copy V_IRQ back when L0 usurped it).
 *
 * NMIs: the model's L1 does not set NMI exiting, so an NMI goes to whichever level runs (KVM
 * injects it into L2 then). The exits L1 sees: see nested-controls.ts.
 *
 * @module
 */
import type { StateReader, StateWriter } from '../codec/state.js';
import type { NestedExitInfo, VmEnterInstr } from '../guest/vcpu.js';
import type { BackendHost, ExitReason } from './backend.js';
import { l2ApicAccess, type L2ApicAccess } from './nested-access.js';
import { controlsFor, NESTED_EXIT_CODES, NO_CONTROLS, type L1Controls, type NestedExitReason, type NestedIsa } from './nested-controls.js';
import { l1InterruptAction, type L1InterruptAction } from './nested-gate.js';
import { readNestedCpu, resetNestedCpu, saveNestedCpu, type NestedCounters, type NestedCpu } from './nested-state.js';

const NONE = -1;

/** What the controller needs from the machine besides the backend host. */
export interface NestedMachinePort {
  /** L1's interrupt `vector` was acknowledged by an exit from L2 (the delivery checker's INTA). */
  deliveredOnExit(cpu: number, vector: number): void;
  /** The guest did something that fails (a VMRESUME without an L2...). */
  fault(cpu: number, what: string): void;
}

/** Which level a pending interrupt waits for, and why (for `Machine.explain`). */
export type NestedWaitReason =
  /** L1 runs: the backend's usual rules apply. */
  | 'l1-runs'
  /** L1 runs with GIF = 0 (SVM, after #VMEXIT until STGI): its interrupts are held. */
  | 'l1-gif-clear'
  /** L1 just entered L2 (nested run pending): L0 enters L2 first, then exits at once and decides. */
  | 'nested-run-pending'
  /** L2 exits to L1 for it (external-interrupt exiting / INTR intercept). */
  | 'exit-to-l1'
  /** L0 injects it into L2 (L1 did not ask to exit on interrupts). */
  | 'inject-into-l2'
  /** L2's RFLAGS.IF or interrupt shadow holds it; an interrupt window in L2 is open. */
  | 'l2-interrupt-window'
  /** SVM V_INTR_MASKING with L1's RFLAGS.IF = 0 at VMRUN: held until L2 exits to L1 for another reason. */
  | 'l1-if-at-vmrun-clear'
  /** No maskable interrupt for L1 is pending. */
  | 'nothing-pending';

/** A read-only view of one vCPU's nested state. */
export interface NestedStatus {
  /** The level that runs: 1 (L1, or a program that is no hypervisor) or 2. */
  level: 1 | 2;
  /** L1 has an L2, running or parked. */
  hasL2: boolean;
  /** L1's controls for L2 (ISA-neutral). */
  controls: Readonly<L1Controls>;
  runPending: boolean;
  /** While L2 runs: what L0 does with L1's pending interrupt; 'none' while L1 runs. */
  action: L1InterruptAction;
  /** The level a pending interrupt for this vCPU will be delivered to, or null if none is pending. */
  waitingFor: 'L1' | 'L2' | null;
  reason: NestedWaitReason;
  message: string;
}

/** Per-vCPU nested counters, as `machine.stats()` shows them. */
export type NestedStats = NestedCounters;

export class NestedController {
  /** L2's local-APIC accesses (each exits to L0); the machine routes L2's accesses here. */
  readonly l2Access: L2ApicAccess;
  #host!: BackendHost;
  #port!: NestedMachinePort;
  #cpus: NestedCpu[];
  /** The backend's "a maskable interrupt is pending" (ExtINT or LAPIC vector, PIR included). */
  #maskablePending: (cpu: number) => boolean = () => false;

  constructor(
    readonly isa: NestedIsa,
    cpus: number,
  ) {
    this.#cpus = Array.from({ length: cpus }, () => resetNestedCpu());
    this.l2Access = l2ApicAccess(() => this.#host);
  }

  /** Called by the machine before the backend attaches. */
  attach(host: BackendHost, port: NestedMachinePort): void {
    this.#host = host;
    this.#port = port;
  }

  /** Called by the backend when it attaches. */
  bindBackend(maskablePending: (cpu: number) => boolean): void {
    this.#maskablePending = maskablePending;
  }

  // ---- hooks the backends call ----------------------------------------------------------------

  /** Whether L2 runs on `cpu` (the backend then leaves its decisions to this controller). */
  inL2(cpu: number): boolean {
    return this.#host.vcpu(cpu).level === 2;
  }

  /**
   * VM entry. While L2 runs, L0 either emulates an exit to L1 (rules 1, 2, 5) — then the vCPU
   * runs L1 and the backend goes on with its usual entry — or enters L2: the event L1 injects
   * (rule 4), an NMI, L1's interrupt injected into L2 or an interrupt window (rule 3).
   * @returns true when L2 is entered (the backend does nothing more), false when L1 is.
   */
  entry(cpu: number): boolean {
    const vcpu = this.#host.vcpu(cpu);
    if (vcpu.level !== 2) return false;
    const s = this.#cpus[cpu]!;
    if (!s.runPending) {
      if (s.exitRequest !== null) {
        this.#reflect(cpu, s.exitRequest, NONE, 0);
        return false;
      }
      if (this.#action(cpu) === 'exit') {
        this.#reflectInterrupt(cpu);
        return false;
      }
    }
    // A window this entry arms again is the one still open from an earlier entry (its exit has not
    // been taken): only a window armed anew counts in interruptWindows / nmiWindows (base.ts).
    const hadWindow = s.window;
    const hadNmiWindow = s.nmiWindow;
    s.window = false;
    s.nmiWindow = false;
    this.#enterL2(cpu, s);
    if (s.window && !hadWindow) this.#host.count(cpu, 'interruptWindows');
    if (s.nmiWindow && !hadNmiWindow) this.#host.count(cpu, 'nmiWindows');
    return true;
  }

  /** Rules 3 and 4 at an entry into L2: what L1 injects, an NMI, L1's interrupt, or a window. */
  #enterL2(cpu: number, s: NestedCpu): void {
    if (s.runPending) {
      // The emulated VMLAUNCH / VMRESUME / VMRUN completes with this entry; what L1 injected is
      // part of it. An event L0 could act on now waits for it (KVM: nested_run_pending makes
      // check_nested_events return -EBUSY, and KVM requests an immediate exit); one L2 blocks
      // only needs a window, as without a pending run.
      s.runPending = false;
      const a = this.#action(cpu);
      if (a === 'exit' || a === 'inject' || this.#host.lapic(cpu).nmiLatched) {
        s.immediateExit = true;
        s.counters.immediateExits++;
      } else if (a === 'window') {
        this.#openWindow(cpu);
      }
      if (s.inject >= 0) {
        const v = s.inject;
        s.inject = NONE;
        this.#host.trace(cpu, 'inject', v, 3);
        this.#deliverToL2(cpu, v, 'l1');
      }
      return;
    }
    const nmi = this.#injectNmi(cpu);
    const a = this.#action(cpu);
    if (a === 'inject' && !nmi) this.#injectIntoL2(cpu);
    else if (a === 'inject' || a === 'window') this.#openWindow(cpu);
  }

  /** An instruction boundary in L2: host interrupts, L0's windows, and L1's V_IRQ for L2. */
  boundary(cpu: number): ExitReason | null {
    const host = this.#host;
    // A kick, or a posted-interrupt notification (not L2's vector in vmcs02): an exit to L0.
    if (host.takeKick(cpu) || host.takeNotification(cpu)) return 'external-interrupt';
    const s = this.#cpus[cpu]!;
    if (s.immediateExit) {
      s.immediateExit = false;
      return 'request';
    }
    const vcpu = host.vcpu(cpu);
    if (s.nmiWindow && vcpu.nmiAllowed()) {
      s.nmiWindow = false;
      return 'nmi-window';
    }
    if (s.window) {
      const a = this.#action(cpu);
      if (a === 'exit' || a === 'inject') {
        s.window = false;
        return 'interrupt-window';
      }
    }
    // SVM: the V_IRQ L1 posted (its V_TPR is 0, so any vector's priority beats it).
    if (s.vIrq >= 0 && vcpu.interruptible()) {
      if (s.controls.interceptVintr) {
        s.exitRequest = 'interrupt-window'; // the VINTR intercept is L1's: L0 reflects it
        return 'interrupt-window';
      }
      const v = s.vIrq;
      s.vIrq = NONE; // the processor clears V_IRQ when it takes the virtual interrupt
      this.#deliverToL2(cpu, v, 'l1');
    }
    return null;
  }

  /** Whether a halted L2 wakes: an NMI, L1's interrupt (to exit or to inject), L1's V_IRQ. */
  canWake(cpu: number): boolean {
    const vcpu = this.#host.vcpu(cpu);
    if (this.#host.lapic(cpu).nmiLatched && !vcpu.nmiBlocked) return true;
    const a = this.#action(cpu);
    if (a === 'exit' || a === 'inject') return true;
    return this.#cpus[cpu]!.vIrq >= 0 && vcpu.interruptFlag;
  }

  // ---- hooks the machine calls --------------------------------------------------------------

  /**
   * L1 executed `vmlaunch` / `vmresume`: the instruction exits to L0, which emulates the entry
   * (loads L2's state) and marks the nested run pending.
   */
  vmenter(cpu: number, instr: VmEnterInstr): void {
    const host = this.#host;
    const vcpu = host.vcpu(cpu);
    const s = this.#cpus[cpu]!;
    host.exit(cpu, 'nested-entry');
    const launch = instr.op === 'vmlaunch';
    if (!launch && (!vcpu.hasL2 || s.ended)) {
      this.#port.fault(cpu, `${instr.op} failed: there is no L2 to resume`);
      return;
    }
    const inject = instr.inject ?? NONE;
    const hostIf = vcpu.interruptFlag; // L1's RFLAGS.IF, saved at VMRUN (vmcb01)
    const guestIf = launch && instr.op === 'vmlaunch' && instr.guestIf === true;
    if (!vcpu.enterL2(launch, guestIf)) {
      this.#port.fault(cpu, `${instr.op} failed`);
      return;
    }
    s.controls = instr.controls !== undefined ? controlsFor(this.isa, instr.controls) : launch ? { ...NO_CONTROLS } : s.controls;
    if (launch) {
      s.ended = false;
      s.vIrq = NONE;
    }
    s.inject = NONE;
    s.window = false;
    s.nmiWindow = false;
    s.immediateExit = false;
    s.exitRequest = null;
    s.runPending = false;
    host.trace(cpu, 'nested-entry', launch ? 1 : 0, inject, instr.op);
    // VMX checks the guest state it loads: an injected external interrupt needs L2 to be able to
    // take it (RFLAGS.IF = 1, no STI / MOV SS blocking); otherwise the entry fails and L1 sees a
    // "VM-entry failure due to invalid guest state" exit (SDM vol. 3, "Checks on Guest
    // Non-Register State"). SVM's EVENTINJ does not check (APM vol. 2, "Event Injection").
    if (this.isa === 'vmx' && inject >= 0 && !vcpu.l2Interruptible) {
      this.#reflect(cpu, 'entry-failure', NONE, 0);
      return;
    }
    s.counters.entries++;
    s.inject = inject;
    s.hostIf = hostIf;
    if (this.isa === 'svm') {
      vcpu.gif = true; // VMRUN sets GIF
      if (instr.vIrq !== undefined) s.vIrq = instr.vIrq;
    }
    // An entry into a halted L2 with nothing to inject is emulated as HLT, not as a pending run
    // (KVM's nested_vmx_run with guest activity state HLT).
    s.runPending = !vcpu.halted || inject >= 0;
  }

  /** L2's program ended: a shutdown (triple fault) exit, which L0 reflects to L1. */
  l2Finished(cpu: number): void {
    const s = this.#cpus[cpu]!;
    s.ended = true;
    s.exitRequest = 'shutdown';
    this.#host.exit(cpu, 'shutdown');
  }

  /** What `exit-info` reads. */
  exitInfo(cpu: number): NestedExitInfo {
    const s = this.#cpus[cpu]!;
    return { reason: s.lastReason === null ? 0 : NESTED_EXIT_CODES[this.isa][s.lastReason], vector: s.lastVector, vIrq: s.vIrq };
  }

  /** STGI / CLGI. @returns false under VMX (#UD). */
  setGif(cpu: number, value: boolean): boolean {
    if (this.isa !== 'svm') return false;
    this.#host.vcpu(cpu).gif = value;
    return true;
  }

  /** Whether L1 asked to exit on its interrupts: delivering one to L2 is then the wrong level. */
  l1InterceptsInterrupts(cpu: number): boolean {
    return this.#cpus[cpu]!.controls.exitOnIntr;
  }

  /** Counts an exit to L0 taken while L2 runs. */
  noteExit(cpu: number, reason: ExitReason): void {
    if (this.#host.vcpu(cpu).level === 2) this.#cpus[cpu]!.counters.exitsFromL2[reason]++;
  }

  /** INIT or a new program: no L2 any more (the counters stay). */
  reset(cpu: number): void {
    this.#cpus[cpu] = resetNestedCpu(this.#cpus[cpu]!.counters);
  }

  /** The counters of one vCPU (a copy). */
  stats(cpu: number): NestedStats {
    const k = this.#cpus[cpu]!.counters;
    return { ...k, exits: { ...k.exits }, exitsFromL2: { ...k.exitsFromL2 } };
  }

  /** A read-only view of one vCPU's nested state: which level a pending interrupt waits for. */
  status(cpu: number): NestedStatus {
    const vcpu = this.#host.vcpu(cpu);
    const s = this.#cpus[cpu]!;
    const base = { level: vcpu.level, hasL2: vcpu.hasL2, controls: { ...s.controls }, runPending: s.runPending };
    const pending = this.#maskablePending(cpu);
    if (vcpu.level === 1) {
      const held = !vcpu.gif && pending;
      return {
        ...base,
        action: 'none',
        waitingFor: pending ? 'L1' : null,
        reason: held ? 'l1-gif-clear' : pending ? 'l1-runs' : 'nothing-pending',
        message: held
          ? 'L1 runs with GIF = 0 (after #VMEXIT, until STGI): its interrupts are held'
          : pending
            ? 'L1 runs: the interrupt is delivered to L1 by the backend as without nesting'
            : 'no maskable interrupt is pending for L1',
      };
    }
    const action = this.#action(cpu);
    const view = (waitingFor: 'L1' | 'L2' | null, reason: NestedWaitReason, message: string): NestedStatus => ({ ...base, action, waitingFor, reason, message });
    if (action === 'none') return view(null, 'nothing-pending', 'no maskable interrupt is pending for L1');
    if (s.runPending) {
      return view(action === 'inject' ? 'L2' : 'L1', 'nested-run-pending', 'L1 just entered L2: L0 completes that entry first and decides at the immediate exit after it');
    }
    switch (action) {
      case 'exit':
        return view('L1', 'exit-to-l1', `L1 ${this.isa === 'vmx' ? 'set external-interrupt exiting' : 'intercepts INTR'}: L2 exits to L1 for it${s.controls.ackOnExit ? ', the exit carrying the vector' : ''}`);
      case 'inject':
        return view('L2', 'inject-into-l2', 'L1 does not exit on interrupts: L0 injects it into L2');
      case 'window':
        return view(
          s.controls.exitOnIntr ? 'L1' : 'L2',
          'l2-interrupt-window',
          `L2's ${vcpu.interruptFlag ? 'interrupt shadow' : 'RFLAGS.IF = 0'} holds it; L0 waits in an interrupt window`,
        );
      default:
        return view('L1', 'l1-if-at-vmrun-clear', "V_INTR_MASKING with L1's RFLAGS.IF = 0 at VMRUN: held until L2 exits to L1 for another reason");
    }
  }

  // ---- snapshots ----------------------------------------------------------------------------

  /** @internal Snapshot and machine plumbing, not for users. */
  saveState(w: StateWriter): void {
    w.u32(this.#cpus.length);
    for (const s of this.#cpus) saveNestedCpu(w, s);
  }

  /** @internal Snapshot and machine plumbing, not for users. */
  readState(r: StateReader): () => void {
    const n = r.u32('nested.cpus');
    if (n !== this.#cpus.length) r.fail('nested.cpus', `snapshot has ${n} vCPUs, this machine ${this.#cpus.length}`);
    const saved: NestedCpu[] = [];
    for (let i = 0; i < n; i++) saved.push(readNestedCpu(r));
    return () => {
      this.#cpus = saved;
    };
  }

  // ---- the rules ----------------------------------------------------------------------------

  /** What L0 does now with L1's pending interrupt (only meaningful while L2 runs). */
  #action(cpu: number): L1InterruptAction {
    const vcpu = this.#host.vcpu(cpu);
    const s = this.#cpus[cpu]!;
    return l1InterruptAction(this.isa, s.controls, this.#maskablePending(cpu), { interruptFlag: vcpu.interruptFlag, inShadow: vcpu.inShadow }, s.hostIf);
  }

  /** Rules 1 and 2: the external-interrupt exit, with the vector if L1 asked for it. */
  #reflectInterrupt(cpu: number): void {
    const s = this.#cpus[cpu]!;
    if (!s.controls.ackOnExit) {
      this.#reflect(cpu, 'external-interrupt', NONE, 0);
      return;
    }
    // Acknowledge interrupt on exit: an INTA cycle at the exit — the 8259A's vector first (KVM's
    // kvm_cpu_get_extint), else the local APIC's highest deliverable one, IRR -> ISR.
    const lapic = this.#host.lapic(cpu);
    let vector = NONE;
    let kind = 0;
    if (lapic.extIntPending()) {
      lapic.clearExtInt();
      vector = this.#host.platform.pic.acknowledge();
      kind = 2;
    } else if (lapic.pendingVector() >= 0) {
      vector = lapic.acknowledge();
      kind = 1;
    }
    if (vector >= 0) s.counters.ackedOnExit++;
    this.#reflect(cpu, 'external-interrupt', vector, kind);
    if (kind === 1) this.#port.deliveredOnExit(cpu, vector);
  }

  /**
   * An emulated exit from L2 to L1: L1 continues in its exit handler with VMX's RFLAGS cleared
   * (SDM "Loading Host RIP, RSP, and RFLAGS": all bits 0 but bit 1) or, on SVM, the RFLAGS it had
   * at VMRUN and GIF = 0 (KVM's nested_svm_vmexit: "On vmexit the GIF is set to false").
   * `kind`: 0 no vector, 1 a local APIC vector acknowledged, 2 an ExtINT vector acknowledged.
   */
  #reflect(cpu: number, reason: NestedExitReason, vector: number, kind: number): void {
    const vcpu = this.#host.vcpu(cpu);
    const s = this.#cpus[cpu]!;
    vcpu.exitToL1(this.isa === 'svm' && s.hostIf);
    if (this.isa === 'svm') vcpu.gif = false;
    s.runPending = false;
    s.inject = NONE;
    s.immediateExit = false;
    s.window = false;
    s.nmiWindow = false;
    s.exitRequest = null;
    s.lastReason = reason;
    s.lastVector = vector;
    s.counters.exits[reason]++;
    this.#host.trace(cpu, 'nested-exit', vector, kind, reason);
  }

  /** Rule 3: L0 injects L1's interrupt into L2 (ExtINT first, as in L1), one event per entry. */
  #injectIntoL2(cpu: number): void {
    const lapic = this.#host.lapic(cpu);
    if (lapic.extIntPending()) {
      lapic.clearExtInt();
      const vector = this.#host.platform.pic.acknowledge();
      this.#host.count(cpu, 'injections');
      this.#host.trace(cpu, 'inject', vector, 1);
      this.#deliverToL2(cpu, vector, 'extint');
    } else {
      const vector = lapic.pendingVector();
      if (vector < 0) return;
      lapic.acknowledge();
      this.#host.count(cpu, 'injections');
      this.#host.trace(cpu, 'inject', vector, 0);
      this.#deliverToL2(cpu, vector, 'lapic');
    }
    if (this.#maskablePending(cpu)) this.#openWindow(cpu);
  }

  /** An NMI goes to L2 (L1 does not set NMI exiting), or waits for an NMI window. */
  #injectNmi(cpu: number): boolean {
    const lapic = this.#host.lapic(cpu);
    if (!lapic.nmiLatched) return false;
    if (!this.#host.vcpu(cpu).nmiAllowed()) {
      this.#cpus[cpu]!.nmiWindow = true; // counted by entry() if it is a new window
      return false;
    }
    lapic.takeNmi();
    this.#host.count(cpu, 'injections');
    this.#host.trace(cpu, 'inject', 2, 2);
    this.#cpus[cpu]!.counters.l2Deliveries++;
    this.#host.deliverNmi(cpu);
    return true;
  }

  #deliverToL2(cpu: number, vector: number, source: 'lapic' | 'extint' | 'l1'): void {
    this.#cpus[cpu]!.counters.l2Deliveries++;
    this.#host.deliver(cpu, vector, source);
  }

  /** Arms L0's interrupt window in L2 (entry() counts it if it is a new one). */
  #openWindow(cpu: number): void {
    this.#cpus[cpu]!.window = true;
  }
}
