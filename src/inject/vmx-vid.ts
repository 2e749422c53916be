/**
 * `vmx-vid`: Intel VMX with APIC virtualization and virtual-interrupt delivery (APICv without
 * posted interrupts). Intel SDM vol. 3, chapter "APIC Virtualization and Virtual Interrupts".
 *
 * The virtual-APIC page is the virtual local APIC's own page (as in KVM), so vIRR, vISR, VTPR
 * and VPPR are its IRR, ISR, TPR and PPR. The modelled processor keeps RVI (requesting virtual
 * interrupt) and evaluates pending virtual interrupts at VM entry, after TPR virtualization,
 * after EOI virtualization and after posted-interrupt processing: when RVI[7:4] > VPPR[7:4] and
 * the guest is interruptible it delivers RVI without an exit — vIRR -> vISR, VPPR raised, and RVI
 * recomputed from vIRR. A vIRR bit the hypervisor sets while the guest runs is noticed only when
 * RVI is next recomputed, which is why a new interrupt for a running vCPU needs a kick.
 *
 * Accesses: reads are virtualized (no exit) except the timer's current count; TPR writes (MMIO,
 * MSR, CR8) are virtualized; EOI writes are virtualized and exit (EOI-induced) only for vectors
 * set in the EOI-exit bitmap — the level-triggered vectors the I/O APIC routes to this vCPU, kept
 * in sync when redirection entries change (KVM rescans the I/O APIC the same way); an x2APIC
 * SELF IPI is virtualized; every other write exits after it is done (APIC-write exit).
 *
 * @module
 */
import {
  APIC_EOI,
  APIC_SELF_IPI,
  APIC_TIMER_CURRENT_COUNT,
  APIC_TPR,
  MSR_X2APIC_BASE,
  MSR_X2APIC_LAST,
  PRIORITY_CLASS_MASK,
} from '../apic/registers.js';
import type { StateReader, StateWriter } from '../codec/state.js';
import { RTE_TRIGGER_LEVEL, destinationOf, vectorOf } from '../ioapic/registers.js';
import type { BackendHost, ExitReason } from './backend.js';
import { BackendBase, isApicMsr } from './base.js';

const NONE = -1;
const RTE_DEST_LOGICAL = 1 << 11;

/**
 * Intel APIC virtualization with virtual-interrupt delivery (SDM vol. 3, "APIC Virtualization and
 * Virtual Interrupts"): the virtual-APIC page, RVI / SVI, TPR, EOI and self-IPI virtualization, and
 * the EOI-exit bitmap; the processor evaluates and delivers pending virtual interrupts without an
 * exit (docs/backends.md).
 *
 * Machine builds it from `backend: 'vmx-vid'`.
 *
 * @example
 * ```ts
 * import { Machine } from 'irqchip';
 *
 * const m = new Machine({ cpus: 2, backend: 'vmx-vid' });
 * m.backend.name; // 'vmx-vid'
 * ```
 */
export class VmxVidBackend extends BackendBase {
  readonly name: 'vmx-vid' | 'vmx-posted' = 'vmx-vid';
  /** RVI per vCPU: the highest vIRR vector as the processor last saw it. */
  protected rvi: number[] = [];
  /** EOI-exit bitmaps (8 words per vCPU) and the I/O APIC generation they were built from. */
  private eoiExit: Uint32Array[] = [];
  private bitmapGeneration: number[] = [];
  /** Set while the processor virtualizes a SELF IPI, so it does not kick its own vCPU. */
  protected selfIpi = false;

  override attach(host: BackendHost): void {
    super.attach(host);
    this.rvi = host.platform.lapics.map(() => NONE);
    this.eoiExit = host.platform.lapics.map(() => new Uint32Array(8));
    this.bitmapGeneration = host.platform.lapics.map(() => -1);
  }

  /** Whether `vector` is in the EOI-exit bitmap of `cpu` (as of its last VM entry). */
  eoiExits(cpu: number, vector: number): boolean {
    return ((this.eoiExit[cpu]![vector >> 5]! >>> (vector & 31)) & 1) === 1;
  }

  override pending(cpu: number, kind: Parameters<BackendBase['pending']>[1]): void {
    if (this.selfIpi && kind === 'interrupt') return; // the processor handles its own SELF IPI
    super.pending(cpu, kind);
  }

  override entry(cpu: number): void {
    this.refreshEoiExitBitmap(cpu);
    if (this.host.nested.entry(cpu)) return; // L2 runs: nested.ts decides (vmcs02 has no RVI for L1)
    const w = this.windows[cpu]!;
    w.interrupt = false;
    w.nmi = false;
    if (this.injectNmi(cpu)) return;
    if (this.injectExtInt(cpu)) return;
    // The hypervisor sets RVI from vIRR; the processor evaluates it at entry.
    this.rvi[cpu] = this.host.lapic(cpu).highestRequested();
    this.evaluate(cpu);
  }

  override boundary(cpu: number): ExitReason | null {
    if (this.host.nested.inL2(cpu)) return this.host.nested.boundary(cpu);
    const exit = super.boundary(cpu);
    if (exit !== null) return exit;
    if (this.bitmapGeneration[cpu] !== this.host.platform.ioapic.generation) return 'request';
    this.evaluate(cpu);
    return null;
  }

  // ---- snapshots -------------------------------------------------------------------------

  /** @internal Snapshot and machine plumbing, not for users. */
  override saveState(w: StateWriter): void {
    super.saveState(w);
    this.rvi.forEach((rvi, cpu) => {
      w.i32(rvi).int(this.bitmapGeneration[cpu]!).u32s(this.eoiExit[cpu]!);
    });
  }

  /** @internal Snapshot and machine plumbing, not for users. */
  override readState(r: StateReader): () => void {
    const base = super.readState(r);
    const rvi: number[] = [];
    const generation: number[] = [];
    const bitmaps: Uint32Array[] = [];
    for (let cpu = 0; cpu < this.rvi.length; cpu++) {
      rvi.push(r.i32('rvi', NONE, 255));
      generation.push(r.int('eoiExitGeneration', -1));
      bitmaps.push(r.u32s('eoiExitBitmap', 8));
    }
    return () => {
      base();
      this.rvi = rvi;
      this.bitmapGeneration = generation;
      this.eoiExit = bitmaps;
    };
  }

  // ---- virtual-interrupt delivery -------------------------------------------------------

  /** Evaluation of pending virtual interrupts; delivers RVI when it beats VPPR and IF allows. */
  protected evaluate(cpu: number): void {
    const rvi = this.rvi[cpu]!;
    if (rvi < 0 || this.host.nested.inL2(cpu)) return; // L1's virtual interrupts never reach L2
    const lapic = this.host.lapic(cpu);
    if ((rvi & PRIORITY_CLASS_MASK) <= (lapic.processorPriority & PRIORITY_CLASS_MASK)) return;
    if (!this.host.vcpu(cpu).interruptible()) return;
    // Virtual-interrupt delivery: vIRR -> vISR, SVI, VPPR; RVI recomputed from vIRR.
    if (!lapic.acknowledgeVector(rvi)) lapic.setInService(rvi);
    this.rvi[cpu] = lapic.highestRequested();
    this.host.count(cpu, 'virtualDeliveries');
    this.host.deliver(cpu, rvi, 'lapic');
  }

  private refreshEoiExitBitmap(cpu: number): void {
    const ioapic = this.host.platform.ioapic;
    if (this.bitmapGeneration[cpu] === ioapic.generation) return;
    this.bitmapGeneration[cpu] = ioapic.generation;
    const bitmap = this.eoiExit[cpu]!;
    bitmap.fill(0);
    const lapic = this.host.lapic(cpu);
    for (let pin = 0; pin < ioapic.pins; pin++) {
      const rte = ioapic.redirection(pin);
      const low = Number(rte & 0xffff_ffffn);
      if ((low & RTE_TRIGGER_LEVEL) === 0) continue;
      const dest = destinationOf(Number(rte >> 32n));
      if (!lapic.matchesDestination(lapic.mode === 'x2apic' && dest === 0xff ? 0xffff_ffff : dest, (low & RTE_DEST_LOGICAL) !== 0)) continue;
      const v = vectorOf(low);
      bitmap[v >> 5] = (bitmap[v >> 5]! | (1 << (v & 31))) >>> 0;
    }
  }

  // ---- accesses ---------------------------------------------------------------------------

  override mmioRead(cpu: number, offset: number): number {
    if ((offset & 0xff0) === APIC_TIMER_CURRENT_COUNT) return super.mmioRead(cpu, offset);
    this.host.charge(cpu, this.host.costs.apicAccessNs);
    return this.host.lapic(cpu).readRegister(offset); // APIC-register virtualization
  }

  override mmioWrite(cpu: number, offset: number, value: number): void {
    if (offset === APIC_TPR) return this.writeTpr(cpu, value & 0xff);
    if (offset === APIC_EOI) return this.virtualEoi(cpu);
    // Any other write is done by the processor and reported by a trap-like APIC-write exit.
    this.host.lapic(cpu).writeRegister(offset, value);
    this.host.exit(cpu, 'apic-write');
  }

  override msrRead(cpu: number, msr: number): bigint | undefined {
    const lapic = this.host.lapic(cpu);
    if (lapic.mode !== 'x2apic' || msr < MSR_X2APIC_BASE || msr > MSR_X2APIC_LAST) return super.msrRead(cpu, msr);
    if (msr === MSR_X2APIC_BASE + (APIC_TIMER_CURRENT_COUNT >> 4)) return super.msrRead(cpu, msr);
    this.host.charge(cpu, this.host.costs.apicAccessNs);
    return lapic.readMsr(msr); // x2APIC virtualization with APIC-register virtualization
  }

  override msrWrite(cpu: number, msr: number, value: bigint): boolean {
    const lapic = this.host.lapic(cpu);
    if (!isApicMsr(msr)) return false;
    if (lapic.mode === 'x2apic') {
      if (msr === MSR_X2APIC_BASE + (APIC_TPR >> 4)) {
        if (value > 0xffn) return false;
        this.writeTpr(cpu, Number(value));
        return true;
      }
      if (msr === MSR_X2APIC_BASE + (APIC_EOI >> 4)) {
        if (value !== 0n) return false;
        this.virtualEoi(cpu);
        return true;
      }
      if (msr === MSR_X2APIC_BASE + (APIC_SELF_IPI >> 4)) return this.virtualSelfIpi(cpu, value);
    }
    return super.msrWrite(cpu, msr, value);
  }

  override cr8Read(cpu: number): number {
    return this.host.lapic(cpu).getCr8(); // TPR shadow
  }

  override cr8Write(cpu: number, value: number): boolean {
    if (!Number.isInteger(value) || value < 0 || value > 0xf) return false;
    this.writeTpr(cpu, value << 4);
    return true;
  }

  /** TPR virtualization: VTPR written, VPPR recomputed, pending virtual interrupts evaluated. */
  private writeTpr(cpu: number, tpr: number): void {
    this.host.charge(cpu, this.host.costs.apicAccessNs);
    this.host.lapic(cpu).setTpr(tpr);
    this.evaluate(cpu);
  }

  /** EOI virtualization; an EOI-induced exit for vectors in the EOI-exit bitmap. */
  private virtualEoi(cpu: number): void {
    this.host.charge(cpu, this.host.costs.apicAccessNs);
    const lapic = this.host.lapic(cpu);
    const vector = lapic.eoiLocal();
    if (vector >= 0 && this.eoiExits(cpu, vector)) {
      this.host.exit(cpu, 'eoi-induced');
      lapic.levelEoi(vector); // the hypervisor forwards the EOI to the I/O APIC
      return;
    }
    this.evaluate(cpu);
  }

  /** SELF IPI virtualization (x2APIC): vIRR set, RVI raised, evaluated; no exit. */
  private virtualSelfIpi(cpu: number, value: bigint): boolean {
    if (value > 0xffn) return false;
    this.host.charge(cpu, this.host.costs.apicAccessNs);
    this.selfIpi = true;
    try {
      if (!this.host.lapic(cpu).writeMsr(MSR_X2APIC_BASE + (APIC_SELF_IPI >> 4), value)) return false;
    } finally {
      this.selfIpi = false;
    }
    this.rvi[cpu] = Math.max(this.rvi[cpu]!, this.host.lapic(cpu).highestRequested());
    this.evaluate(cpu);
    return true;
  }
}
