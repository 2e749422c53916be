/**
 * What every backend shares: NMI and ExtINT always go through event injection (SVM EVENTINJ, the
 * VMX VM-entry interruption-information field), with an NMI window or interrupt window when the
 * guest cannot take them yet; APIC accesses exit unless a subclass virtualizes them; a new event
 * for a running vCPU kicks it, and a halted one is woken.
 *
 * @module
 */
import { MSR_IA32_APIC_BASE, MSR_IA32_TSC_DEADLINE, MSR_X2APIC_BASE, MSR_X2APIC_LAST } from '../apic/registers.js';
import type { StateReader, StateWriter } from '../codec/state.js';
import { combineExceptions, EXC, LAST_EXCEPTION_VECTOR } from '../guest/exceptions.js';
import type { BackendHost, BackendName, BackendOptions, DeliverySource, ExitReason, InjectionBackend, PendingKind, VectoringInfo } from './backend.js';

/** Snapshot codes of a vectoring event's source. */
const SOURCES: readonly DeliverySource[] = ['lapic', 'extint', 'l1'];
const VECTORING_TYPES: readonly number[] = [0, 2, 3];

/** An exception the hypervisor queued for the next entry; vector -1 marks a triple fault. */
interface QueuedException {
  vector: number;
  errorCode: number;
}
const TRIPLE_FAULT = -1;
/** Enough for any queue the merge rules can build (serial exceptions of one emulated instruction). */
const MAX_QUEUED = 32;

/**
 * Per-vCPU window requests. `interrupt` / `nmi` are what the last VM entry armed (every entry
 * re-arms what it still needs). `interruptOpen` / `nmiOpen` say whether a window counted in
 * `interruptWindows` / `nmiWindows` is still open: a window opens when the hypervisor requests one
 * while none is open, and closes when its exit is taken or at the first boundary after an entry
 * that no longer requested it. So a window re-armed at many entries (the guest keeps IF = 0, or
 * stays in its NMI handler, across other exits) is one window, as KVM's enable_irq_window /
 * enable_nmi_window leave the control set until the window exit clears it.
 */
interface Windows {
  interrupt: boolean;
  nmi: boolean;
  interruptOpen: boolean;
  nmiOpen: boolean;
}

function noWindows(): Windows {
  return { interrupt: false, nmi: false, interruptOpen: false, nmiOpen: false };
}

export abstract class BackendBase implements InjectionBackend {
  abstract readonly name: BackendName;
  /** The hypervisor bug of ignoring the vectoring information of an exit (BackendOptions). */
  readonly dropReinjection: boolean;
  protected host!: BackendHost;
  protected windows: Windows[] = [];
  /** Per vCPU: the event the last exit interrupted, to re-inject at the next entry, or null. */
  #vectoring: Array<VectoringInfo | null> = [];
  /** Per vCPU: the last event `dropReinjection` dropped (for explain), or null. */
  #dropped: Array<VectoringInfo | null> = [];
  /** The hypervisor queues the exceptions its emulation raises (BackendOptions). */
  readonly hypervisorExceptions: boolean;
  /** Per vCPU: exceptions queued for the next entries, oldest first (serial ones wait in line). */
  #queued: QueuedException[][] = [];

  constructor(opts: BackendOptions = {}) {
    this.dropReinjection = opts.dropReinjection === true;
    this.hypervisorExceptions = opts.hypervisorExceptions === true;
  }

  attach(host: BackendHost): void {
    this.host = host;
    this.windows = host.platform.lapics.map(noWindows);
    this.#vectoring = host.platform.lapics.map(() => null);
    this.#dropped = host.platform.lapics.map(() => null);
    this.#queued = host.platform.lapics.map(() => []);
    host.nested.bindBackend((cpu) => this.maskablePending(cpu));
  }

  pending(cpu: number, _kind: PendingKind): void {
    if (this.host.inGuest(cpu)) this.host.kick(cpu);
    else this.host.wake(cpu);
  }

  entry(cpu: number): void {
    if (this.host.nested.entry(cpu)) return; // L2 runs: nested.ts decides
    const w = this.windows[cpu]!;
    w.interrupt = false;
    w.nmi = false;
    if (this.injectHeld(cpu)) {
      this.windowsAfterReinjection(cpu, this.maskablePending(cpu));
      return;
    }
    if (this.injectNmi(cpu)) {
      // One event per entry: whatever else is pending waits for a window.
      if (this.maskablePending(cpu)) this.requestWindow(cpu);
      return;
    }
    this.#injectMaskable(cpu);
  }

  exit(_cpu: number, _reason: ExitReason): void {}

  boundary(cpu: number): ExitReason | null {
    if (this.host.nested.inL2(cpu)) return this.host.nested.boundary(cpu);
    const w = this.windows[cpu]!;
    // A window the last entry did not re-arm is closed (the entry met its need another way).
    if (!w.interrupt) w.interruptOpen = false;
    if (!w.nmi) w.nmiOpen = false;
    if (this.host.takeKick(cpu)) return 'external-interrupt';
    const vcpu = this.host.vcpu(cpu);
    if (w.nmi && vcpu.nmiAllowed()) {
      w.nmi = false;
      w.nmiOpen = false;
      return 'nmi-window';
    }
    if (w.interrupt && vcpu.interruptible()) {
      w.interrupt = false;
      w.interruptOpen = false;
      return 'interrupt-window';
    }
    return null;
  }

  /** Whether an interrupt window (or NMI window) is requested for the vCPU (for explain). */
  windowRequested(cpu: number): boolean {
    const w = this.windows[cpu]!;
    return w.interrupt || w.nmi;
  }

  canWake(cpu: number): boolean {
    if (this.host.nested.inL2(cpu)) return this.host.nested.canWake(cpu);
    if (this.#vectoring[cpu] !== null) return true; // an event to re-inject ends HLT's wait
    if (this.#queued[cpu]!.length > 0) return true; // so does a queued exception
    const lapic = this.host.lapic(cpu);
    const vcpu = this.host.vcpu(cpu);
    if (lapic.nmiLatched && !vcpu.nmiBlocked && vcpu.gif) return true;
    return vcpu.interruptFlag && vcpu.gif && (lapic.extIntPending() || this.lapicVectorPending(cpu));
  }

  holds(cpu: number, vector: number): boolean {
    return this.host.lapic(cpu).isRequested(vector) || this.reinjecting(cpu, vector);
  }

  // ---- re-injection of an event whose delivery an exit interrupted -----------------------

  interrupted(cpu: number, event: VectoringInfo): void {
    this.#vectoring[cpu] = event;
  }

  /** Whether external interrupt `vector` waits for re-injection on `cpu` (for explain and holds). */
  reinjecting(cpu: number, vector: number): boolean {
    const v = this.#vectoring[cpu]!;
    return v !== null && v.type === 0 && v.vector === vector;
  }

  /** Whether `dropReinjection` dropped external interrupt `vector` on `cpu` last (for explain). */
  droppedReinjection(cpu: number, vector: number): boolean {
    const v = this.#dropped[cpu]!;
    return v !== null && v.type === 0 && v.vector === vector;
  }

  /**
   * Re-injects the event the last exit interrupted, before anything else (KVM's
   * vmx_complete_interrupts / svm_complete_interrupts re-queue it and inject it first at the next
   * entry). It is injected whatever IF says: its delivery had already begun. With
   * `dropReinjection` it is forgotten instead (the bug).
   * @returns whether an event was injected (the entry carries nothing else).
   */
  #reinject(cpu: number): boolean {
    const ev = this.#vectoring[cpu]!;
    if (ev === null) return false;
    this.#vectoring[cpu] = null;
    if (this.dropReinjection) {
      this.#dropped[cpu] = ev;
      this.host.trace(cpu, 'reinject', ev.vector, ev.type, 'dropped');
      if (ev.type === 0 && ev.source === 'lapic') this.host.lose(cpu, ev.vector);
      return false;
    }
    this.host.count(cpu, 'injections');
    this.host.trace(cpu, 'reinject', ev.vector, ev.type);
    if (ev.type === 2) this.host.deliverNmi(cpu);
    else if (ev.type === 3) this.host.deliverException(cpu, ev.vector, ev.errorCode);
    else this.host.deliver(cpu, ev.vector, ev.source);
    return true;
  }

  // ---- exceptions the hypervisor's emulation raised -----------------------------------------

  /**
   * Queues exception `vector` for the next entry. One already queued merges by the double-fault
   * table as KVM's kvm_multiple_exception does: contributory + contributory or page fault +
   * contributory / page fault -> #DF(0); a contributory or page fault on a queued #DF -> triple
   * fault (shutdown at the next entry); otherwise (benign) serially: the new one waits behind.
   * @throws RangeError for a vector that is not an exception (0..31, not 2) — host misuse.
   */
  queueException(cpu: number, vector: number, errorCode: number): void {
    if (!Number.isInteger(cpu) || cpu < 0 || cpu >= this.#queued.length) {
      throw new RangeError(`cpu must be an integer 0..${this.#queued.length - 1}, got ${String(cpu)}`);
    }
    if (!Number.isInteger(vector) || vector < 0 || vector > LAST_EXCEPTION_VECTOR || vector === 2) {
      throw new RangeError(`vector must be an exception vector 0..31 other than 2 (NMI), got ${String(vector)}`);
    }
    if (!Number.isInteger(errorCode) || errorCode < 0 || errorCode > 0xffff_ffff) {
      throw new RangeError(`errorCode must be an integer 0..0xffffffff, got ${String(errorCode)}`);
    }
    const q = this.#queued[cpu]!;
    const last = q[q.length - 1];
    if (last === undefined) {
      q.push({ vector, errorCode });
      return;
    }
    if (last.vector === TRIPLE_FAULT) return; // the vCPU shuts down at the entry anyway
    const how = combineExceptions(last.vector, vector);
    if (how === 'double-fault') q[q.length - 1] = { vector: EXC.DF, errorCode: 0 };
    else if (how === 'triple-fault') q[q.length - 1] = { vector: TRIPLE_FAULT, errorCode: 0 };
    else if (q.length < MAX_QUEUED) q.push({ vector, errorCode });
  }

  /** The exceptions queued for `cpu`, oldest first (for tests and explain). */
  queuedExceptions(cpu: number): ReadonlyArray<Readonly<{ vector: number; errorCode: number }>> {
    return this.#queued[cpu] ?? [];
  }

  /**
   * What comes before NMI, ExtINT and the local APIC at an entry: the re-injection, else the
   * oldest queued exception (step 2 of the injection order). If a queued exception still waits
   * after this entry, the hypervisor asks for an immediate exit (KVM's req_immediate_exit: a kick)
   * so the next entry injects it.
   * @returns whether an event was injected (the entry carries nothing else).
   */
  protected injectHeld(cpu: number): boolean {
    const injected = this.#reinject(cpu) || this.#injectQueuedException(cpu);
    if (this.#queued[cpu]!.length > 0 && this.host.vcpu(cpu).state === 'running') this.host.kick(cpu);
    return injected;
  }

  /** Injects the oldest queued exception (a queued triple fault shuts the vCPU down). */
  #injectQueuedException(cpu: number): boolean {
    const ex = this.#queued[cpu]!.shift();
    if (ex === undefined) return false;
    if (ex.vector === TRIPLE_FAULT) {
      this.#queued[cpu]!.length = 0;
      this.host.tripleFault(cpu); // traced as a 'triple fault' fault, exit 'shutdown'
      return true;
    }
    this.host.count(cpu, 'injections');
    this.host.trace(cpu, 'inject', ex.vector, 3);
    this.host.deliverException(cpu, ex.vector, ex.errorCode);
    return true;
  }

  /**
   * After a re-injection the entry is used: a latched NMI waits for an NMI window and, if
   * `maskable`, a maskable interrupt for an interrupt window (what KVM's inject_pending_event
   * arms when an event is already injected).
   */
  protected windowsAfterReinjection(cpu: number, maskable: boolean): void {
    if (this.host.lapic(cpu).nmiLatched) this.#requestNmiWindow(cpu);
    if (maskable) this.requestWindow(cpu);
  }

  // ---- guest accesses: by default every APIC access exits and the hypervisor emulates it ----

  mmioRead(cpu: number, offset: number): number {
    this.host.exit(cpu, 'apic-access');
    return this.host.lapic(cpu).readRegister(offset);
  }

  mmioWrite(cpu: number, offset: number, value: number): void {
    this.host.exit(cpu, 'apic-access');
    this.host.lapic(cpu).writeRegister(offset, value);
  }

  msrRead(cpu: number, msr: number): bigint | undefined {
    if (!isApicMsr(msr)) return undefined;
    this.host.exit(cpu, 'msr');
    const v = this.host.lapic(cpu).readMsr(msr);
    if (v === undefined) this.#emulationFaulted(cpu);
    return v;
  }

  msrWrite(cpu: number, msr: number, value: bigint): boolean {
    if (!isApicMsr(msr)) return false;
    this.host.exit(cpu, 'msr');
    const ok = this.host.lapic(cpu).writeMsr(msr, value);
    if (!ok) this.#emulationFaulted(cpu);
    return ok;
  }

  /** The hypervisor's emulation of an intercepted access raised #GP(0): queue it (if enabled). */
  #emulationFaulted(cpu: number): void {
    if (this.hypervisorExceptions) this.queueException(cpu, EXC.GP, 0);
  }

  cr8Read(cpu: number): number {
    this.host.exit(cpu, 'cr8');
    return this.host.lapic(cpu).getCr8();
  }

  cr8Write(cpu: number, value: number): boolean {
    this.host.exit(cpu, 'cr8');
    return this.host.lapic(cpu).setCr8(value);
  }

  // ---- snapshots ------------------------------------------------------------------------

  /** @internal Snapshot and machine plumbing, not for users. */
  saveState(w: StateWriter): void {
    w.u32(this.windows.length);
    for (const win of this.windows) w.bool(win.interrupt).bool(win.nmi);
    // Layout 2: re-injection state.
    w.bool(this.dropReinjection);
    for (let cpu = 0; cpu < this.windows.length; cpu++) {
      writeVectoring(w, this.#vectoring[cpu]!);
      writeVectoring(w, this.#dropped[cpu]!);
    }
    // Layout 3: queued hypervisor exceptions.
    w.bool(this.hypervisorExceptions);
    for (const q of this.#queued) {
      w.u8(q.length);
      for (const ex of q) w.i32(ex.vector).u32(ex.errorCode);
    }
  }

  /** @internal Snapshot and machine plumbing, not for users. */
  readState(r: StateReader, version = 3): () => void {
    const n = r.u32('windows', this.windows.length);
    if (n !== this.windows.length) r.fail('windows', `snapshot has ${n} vCPUs, this machine ${this.windows.length}`);
    const saved: Windows[] = [];
    for (let i = 0; i < n; i++) {
      const interrupt = r.bool('window.interrupt');
      const nmi = r.bool('window.nmi');
      // Open = armed holds at every boundary, and a snapshot between an entry and the next boundary
      // differs only in a window that boundary would close: nothing needs saving.
      saved.push({ interrupt, nmi, interruptOpen: interrupt, nmiOpen: nmi });
    }
    const vectoring: Array<VectoringInfo | null> = saved.map(() => null);
    const dropped: Array<VectoringInfo | null> = saved.map(() => null);
    if (version >= 2) {
      if (r.bool('dropReinjection') !== this.dropReinjection) r.fail('dropReinjection', 'differs from this machine');
      for (let cpu = 0; cpu < n; cpu++) {
        vectoring[cpu] = readVectoring(r, 'vectoring');
        dropped[cpu] = readVectoring(r, 'dropped');
      }
    }
    const queued: QueuedException[][] = saved.map(() => []);
    if (version >= 3) {
      if (r.bool('hypervisorExceptions') !== this.hypervisorExceptions) r.fail('hypervisorExceptions', 'differs from this machine');
      for (let cpu = 0; cpu < n; cpu++) {
        const count = r.u8('queued', MAX_QUEUED);
        for (let i = 0; i < count; i++) {
          const vector = r.i32('queued.vector', TRIPLE_FAULT, LAST_EXCEPTION_VECTOR);
          queued[cpu]!.push({ vector, errorCode: r.u32('queued.errorCode') });
        }
      }
    }
    return () => {
      this.windows = saved;
      this.#vectoring = vectoring;
      this.#dropped = dropped;
      this.#queued = queued;
    };
  }

  // ---- helpers --------------------------------------------------------------------------

  /** Whether the virtual APIC has a vector that beats PPR (subclasses add hardware-held ones). */
  protected lapicVectorPending(cpu: number): boolean {
    return this.host.lapic(cpu).pendingVector() >= 0;
  }

  /** Whether any maskable interrupt waits (ExtINT or a LAPIC vector). */
  protected maskablePending(cpu: number): boolean {
    return this.host.lapic(cpu).extIntPending() || this.lapicVectorPending(cpu);
  }

  /** Injects a pending NMI, or opens an NMI window. @returns whether one was injected. */
  protected injectNmi(cpu: number): boolean {
    const lapic = this.host.lapic(cpu);
    if (!lapic.nmiLatched) return false;
    const vcpu = this.host.vcpu(cpu);
    if (!vcpu.nmiAllowed()) {
      this.#requestNmiWindow(cpu);
      return false;
    }
    lapic.takeNmi();
    this.host.count(cpu, 'injections');
    this.host.trace(cpu, 'inject', 2, 2);
    this.host.deliverNmi(cpu);
    return true;
  }

  /**
   * Injects an ExtINT (the 8259A's vector, fetched by an INTA cycle) if one is pending and the
   * guest can take it, or opens an interrupt window.
   * @returns true if an ExtINT was pending (injected or waiting for the window).
   */
  protected injectExtInt(cpu: number): boolean {
    const lapic = this.host.lapic(cpu);
    if (!lapic.extIntPending()) return false;
    if (!this.host.vcpu(cpu).interruptible()) {
      this.requestWindow(cpu);
      return true;
    }
    lapic.clearExtInt();
    const vector = this.host.platform.pic.acknowledge();
    this.host.count(cpu, 'injections');
    this.host.trace(cpu, 'inject', vector, 1);
    this.host.deliver(cpu, vector, 'extint');
    return true;
  }

  /** Event injection of the highest LAPIC vector, or an interrupt window. */
  #injectLapicVector(cpu: number): void {
    const lapic = this.host.lapic(cpu);
    const vector = lapic.pendingVector();
    if (vector < 0) return;
    if (!this.host.vcpu(cpu).interruptible()) {
      this.requestWindow(cpu);
      return;
    }
    lapic.acknowledge(); // IRR -> ISR at injection, as the hardware does at INTA
    this.host.count(cpu, 'injections');
    this.host.trace(cpu, 'inject', vector, 0);
    this.host.deliver(cpu, vector, 'lapic');
    if (this.maskablePending(cpu)) this.requestWindow(cpu);
  }

  /** Arms an NMI window; counts it in `nmiWindows` if none is open (see Windows). */
  #requestNmiWindow(cpu: number): void {
    const w = this.windows[cpu]!;
    w.nmi = true;
    if (w.nmiOpen) return;
    w.nmiOpen = true;
    this.host.count(cpu, 'nmiWindows');
  }

  /** Arms an interrupt window; counts it in `interruptWindows` if none is open (see Windows). */
  protected requestWindow(cpu: number): void {
    const w = this.windows[cpu]!;
    w.interrupt = true;
    if (w.interruptOpen) return;
    w.interruptOpen = true;
    this.host.count(cpu, 'interruptWindows');
  }

  /** ExtINT first, then the local APIC (KVM and bhyve order). */
  #injectMaskable(cpu: number): void {
    if (this.injectExtInt(cpu)) return;
    this.#injectLapicVector(cpu);
  }
}

/** IA32_APIC_BASE, IA32_TSC_DEADLINE and the x2APIC range go to the local APIC model. */
export function isApicMsr(msr: number): boolean {
  return (
    msr === MSR_IA32_APIC_BASE || msr === MSR_IA32_TSC_DEADLINE || (msr >= MSR_X2APIC_BASE && msr <= MSR_X2APIC_LAST)
  );
}

function writeVectoring(w: StateWriter, v: VectoringInfo | null): void {
  w.bool(v !== null);
  if (v !== null) w.u8(v.type).u8(v.vector).u32(v.errorCode).u8(SOURCES.indexOf(v.source));
}

function readVectoring(r: StateReader, field: string): VectoringInfo | null {
  if (!r.bool(field)) return null;
  const type = r.u8(`${field}.type`, 3);
  if (!VECTORING_TYPES.includes(type)) r.fail(`${field}.type`, 'must be 0 (external interrupt), 2 (NMI) or 3 (exception)');
  const vector = r.u8(`${field}.vector`, 255);
  const errorCode = r.u32(`${field}.errorCode`);
  const source = SOURCES[r.u8(`${field}.source`, SOURCES.length - 1)]!;
  return { type: type as VectoringInfo['type'], vector, errorCode, source };
}
