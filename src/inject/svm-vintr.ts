/**
 * `svm-vintr`: AMD SVM posting LAPIC interrupts through V_IRQ, as bhyve did before 2018.
 *
 * At VMRUN the hypervisor programs V_IRQ = 1, V_INTR_VECTOR = the highest LAPIC vector that beats
 * PPR, V_INTR_PRIO = its class and V_TPR = TPR[7:4]. The modelled hardware delivers the virtual
 * interrupt at an instruction boundary when IF = 1, there is no interrupt shadow and
 * V_INTR_PRIO > V_TPR, without an exit, and clears V_IRQ. The hypervisor only learns of it at the
 * next exit, when it moves the vector from IRR to ISR (bhyve's vlapic_intr_accepted). A second
 * request for the same vector that arrives in that window finds the IRR bit still set and merges
 * into it: the interrupt is lost (bhyve PR 215972, review D13780). NMIs and ExtINTs still go
 * through EVENTINJ. CR8 reads and writes use V_TPR without an exit; the TPR is synced at exit.
 *
 * CR8 and TPR (AMD APM vol. 2, "Virtual Interrupt Control"): with V_INTR_MASKING on and CR8
 * intercepts off, as bhyve ran, the guest's CR8 is V_TPR. V_IRQ only ever carries a vector that
 * already beats PPR (the hypervisor asks the virtual APIC for its pending vector at VMRUN), and
 * the hardware itself holds it back while V_INTR_PRIO <= V_TPR (no V_IGN_TPR). So a vector the
 * TPR holds back is never programmed, and when the guest lowers CR8 nothing exits: the vector
 * waits for the next unrelated exit. Option `cr8Intercept` is KVM's answer
 * (svm_update_cr8_intercept): at each VMRUN, intercept CR8 writes while TPR[7:4] >= the class of
 * the highest IRR vector, so the write that lowers CR8 exits and the re-entry programs V_IRQ.
 *
 * Option `intermediateState` closes the window the way review D13828 proposed: when the
 * hypervisor hands a vector to V_IRQ it takes it out of IRR into an "owned by V_IRQ" state, so a
 * new request sets IRR afresh; at the exit the owned vector goes to ISR if the guest took it and
 * back to IRR if not. Nothing is lost.
 *
 * @module
 */
import { PRIORITY_MASK } from '../apic/registers.js';
import type { StateReader, StateWriter } from '../codec/state.js';
import type { BackendOptions, ExitReason } from './backend.js';
import { BackendBase } from './base.js';

const NONE = -1;

/** The V_IRQ fields of one vCPU's VMCB, and the hypervisor's bookkeeping. */
interface Vintr {
  irq: boolean;
  vector: number;
  prio: number;
  /** V_TPR: TPR[7:4]. */
  tpr: number;
  /** The V_TPR value the hypervisor last wrote, to see a guest CR8 write at exit. */
  programmedTpr: number;
  /** Vector the hardware delivered since the last exit, or NONE. */
  taken: number;
  /** Intermediate state: the vector handed to V_IRQ and taken out of IRR, or NONE. */
  owned: number;
  /** The VMCB's CR8-write intercept as of the last VMRUN (option `cr8Intercept`). */
  cr8Exits: boolean;
}

export interface SvmVintrOptions {
  /** Close the lost-interrupt window with an intermediate "owned by V_IRQ" state (D13828). */
  intermediateState?: boolean;
  /**
   * Intercept CR8 writes while TPR[7:4] >= the class of the highest IRR vector (KVM's
   * svm_update_cr8_intercept), so lowering CR8 below a held-back vector exits and delivers it.
   * Default false: CR8 writes never exit and the vector waits for an unrelated exit (bhyve).
   */
  cr8Intercept?: boolean;
}

/**
 * AMD SVM virtual interrupts (APM vol. 2, "Virtual Interrupts"): the hypervisor posts the vector in
 * V_IRQ / V_INTR_VECTOR and the processor delivers it in the guest without an exit; the vector moves
 * from IRR to ISR only at the next exit, which is where bhyve lost IPIs (PR 215972).
 * `intermediateState: true` applies the fix proposed in bhyve review D13828 (docs/backends.md).
 *
 * Machine builds it from `backend: 'svm-vintr'`.
 *
 * @example
 * ```ts
 * import { Machine } from 'irqchip';
 *
 * const m = new Machine({ cpus: 2, backend: 'svm-vintr' });
 * m.backend.name; // 'svm-vintr'
 * ```
 */
export class SvmVintrBackend extends BackendBase {
  readonly name = 'svm-vintr' as const;
  readonly intermediateState: boolean;
  readonly cr8Intercept: boolean;
  #v: Vintr[] = [];

  /**
   * With `opts.intermediateState`, a vector handed to V_IRQ leaves IRR at once (bhyve review D13828): nothing is lost.
   */
  constructor(opts: SvmVintrOptions = {}, base: BackendOptions = {}) {
    super(base);
    this.intermediateState = opts.intermediateState === true;
    this.cr8Intercept = opts.cr8Intercept === true;
  }

  override attach(host: Parameters<BackendBase['attach']>[0]): void {
    super.attach(host);
    this.#v = host.platform.lapics.map(() => ({ irq: false, vector: NONE, prio: 0, tpr: 0, programmedTpr: 0, taken: NONE, owned: NONE, cr8Exits: false }));
  }

  /**
   * The V_IRQ state of a vCPU (for tests and explain).
   * @internal
   */
  vintr(cpu: number): Readonly<Vintr> {
    return this.#v[cpu]!;
  }

  override entry(cpu: number): void {
    if (this.host.nested.entry(cpu)) return; // L2 runs: nested.ts decides (no V_IRQ for L1 in vmcb02)
    const w = this.windows[cpu]!;
    w.interrupt = false;
    w.nmi = false;
    const s = this.#v[cpu]!;
    const lapic = this.host.lapic(cpu);
    s.tpr = lapic.getTpr() >> 4;
    s.programmedTpr = s.tpr;
    s.cr8Exits = this.cr8Intercept && this.#tprHoldsBack(cpu);
    if (this.injectHeld(cpu)) {
      this.windowsAfterReinjection(cpu, this.maskablePending(cpu)); // V_IRQ waits for the window
      return;
    }
    if (this.injectNmi(cpu)) return;
    if (this.injectExtInt(cpu)) return;
    const vector = lapic.pendingVector();
    s.irq = vector >= 0;
    if (!s.irq) return;
    s.vector = vector;
    s.prio = vector >> 4;
    if (this.intermediateState) {
      lapic.withdrawRequest(vector);
      s.owned = vector;
    }
    this.host.trace(cpu, 'vintr', vector);
  }

  override boundary(cpu: number): ExitReason | null {
    if (this.host.nested.inL2(cpu)) return this.host.nested.boundary(cpu);
    const exit = super.boundary(cpu);
    if (exit !== null) return exit;
    const s = this.#v[cpu]!;
    if (!s.irq || !this.host.vcpu(cpu).interruptible() || s.prio <= s.tpr) return null;
    // The hardware takes the virtual interrupt: no exit, the hypervisor is not told.
    s.irq = false;
    s.taken = s.vector;
    this.host.count(cpu, 'virtualDeliveries');
    this.host.deliver(cpu, s.vector, 'lapic');
    return null;
  }

  override exit(cpu: number, _reason: ExitReason): void {
    const s = this.#v[cpu]!;
    const lapic = this.host.lapic(cpu);
    if (s.tpr !== s.programmedTpr) lapic.setTpr((s.tpr << 4) & PRIORITY_MASK);
    if (s.taken !== NONE) {
      // V_IRQ was taken: now the hypervisor moves the vector from IRR to ISR.
      if (s.owned === NONE) lapic.withdrawRequest(s.taken);
      lapic.setInService(s.taken);
    } else if (s.owned !== NONE) {
      lapic.restoreRequest(s.owned); // not taken: it goes back to IRR
    }
    s.irq = false;
    s.taken = NONE;
    s.owned = NONE;
  }

  override holds(cpu: number, vector: number): boolean {
    const s = this.#v[cpu]!;
    return super.holds(cpu, vector) || s.owned === vector || (s.irq && s.vector === vector);
  }

  /** @internal Snapshot and machine plumbing, not for users. */
  override saveState(w: StateWriter): void {
    super.saveState(w);
    w.bool(this.intermediateState).bool(this.cr8Intercept);
    for (const s of this.#v) {
      w.bool(s.irq).i32(s.vector).u8(s.prio).u8(s.tpr).u8(s.programmedTpr).i32(s.taken).i32(s.owned).bool(s.cr8Exits);
    }
  }

  /** @internal Snapshot and machine plumbing, not for users. */
  override readState(r: StateReader, version?: number): () => void {
    const base = super.readState(r, version);
    if (r.bool('intermediateState') !== this.intermediateState) r.fail('intermediateState', 'differs from this machine');
    if (r.bool('cr8Intercept') !== this.cr8Intercept) r.fail('cr8Intercept', 'differs from this machine');
    const saved: Vintr[] = this.#v.map(() => ({
      irq: r.bool('vIrq'),
      vector: r.i32('vIntrVector', NONE, 255),
      prio: r.u8('vIntrPrio', 15),
      tpr: r.u8('vTpr', 15),
      programmedTpr: r.u8('programmedTpr', 15),
      taken: r.i32('taken', NONE, 255),
      owned: r.i32('owned', NONE, 255),
      cr8Exits: r.bool('cr8Exits'),
    }));
    return () => {
      base();
      this.#v = saved;
    };
  }

  override cr8Read(cpu: number): number {
    return this.#v[cpu]!.tpr;
  }

  override cr8Write(cpu: number, value: number): boolean {
    if (!Number.isInteger(value) || value < 0 || value > 0xf) return false;
    const s = this.#v[cpu]!;
    if (s.cr8Exits) {
      // Intercepted (option cr8Intercept): the hypervisor writes the TPR; the re-entry programs
      // V_IRQ with whatever now beats PPR.
      this.host.exit(cpu, 'cr8');
      return this.host.lapic(cpu).setCr8(value);
    }
    s.tpr = value; // V_TPR; the virtual APIC's TPR catches up at the next exit
    return true;
  }

  /**
   * KVM's condition for the CR8-write intercept: some vector is requested and TPR[7:4] is at or
   * above its class, so only a CR8 write can make it deliverable.
   */
  #tprHoldsBack(cpu: number): boolean {
    const lapic = this.host.lapic(cpu);
    const highest = lapic.highestRequested();
    return highest >= 0 && lapic.getTpr() >> 4 >= highest >> 4;
  }
}
