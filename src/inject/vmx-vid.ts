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
 * Accesses, with "APIC-register virtualization" on (KVM's APICv always sets it together with
 * virtual-interrupt delivery): reads are virtualized (no exit) except the timer's current count;
 * TPR writes (MMIO, MSR, CR8) are virtualized; EOI writes are virtualized and exit (EOI-induced)
 * only for vectors set in the EOI-exit bitmap — the level-triggered vectors the I/O APIC routes to
 * this vCPU, kept in sync when redirection entries change (KVM rescans the I/O APIC the same way).
 * The SDM's "APIC-write emulation" decides the rest of the writes:
 * - ICR high (310H) writes VICR_HI and clears its bytes 2:0; no other virtualization, no exit.
 *   The ICR-low write that later exits reads the destination from there (the virtual-APIC page
 *   is the virtual APIC's page).
 * - ICR low (300H) with reserved bits and bit 12 clear, shorthand self, fixed, edge and vector
 *   bits 7:4 non-zero is self-IPI virtualization (vIRR set, RVI raised, evaluated), no exit; this
 *   needs only virtual-interrupt delivery. Any other ICR-low value exits (APIC-write).
 * - x2APIC SELF IPI (MSR 83FH) is self-IPI virtualization too, but a vector 0-15 exits
 *   (APIC-write) and the hypervisor emulates it (the send-illegal-vector error).
 * - Writes to the other registers the SDM lists as virtualized exit after they are done
 *   (trap-like APIC-write exit); writes to any other offset are APIC-access exits.
 *
 * @module
 */
import {
  APIC_DFR,
  APIC_EOI,
  APIC_ESR,
  APIC_ICR_HIGH,
  APIC_ICR_LOW,
  APIC_ID,
  APIC_LDR,
  APIC_LVT_ERROR,
  APIC_LVT_TIMER,
  APIC_SELF_IPI,
  APIC_SVR,
  APIC_TIMER_CURRENT_COUNT,
  APIC_TIMER_DIVIDE,
  APIC_TIMER_INITIAL_COUNT,
  APIC_TPR,
  ICR_DELIVERY_MODE_MASK,
  ICR_SHORTHAND_MASK,
  ICR_SHORTHAND_SHIFT,
  ICR_TRIGGER_LEVEL,
  ICR_VECTOR_MASK,
  MSR_X2APIC_BASE,
  MSR_X2APIC_LAST,
  PRIORITY_CLASS_MASK,
  Shorthand,
  X2APIC_ICR_LOW_RESERVED,
} from '../apic/registers.js';
import type { StateReader, StateWriter } from '../codec/state.js';
import { RTE_TRIGGER_LEVEL, destinationOf, vectorOf } from '../ioapic/registers.js';
import type { BackendHost, ExitReason } from './backend.js';
import { BackendBase, isApicMsr } from './base.js';

const NONE = -1;
const RTE_DEST_LOGICAL = 1 << 11;
const MSR_SELF_IPI = MSR_X2APIC_BASE + (APIC_SELF_IPI >> 4);

/**
 * The registers whose writes "APIC-register virtualization" virtualizes (SDM "Virtualizing Writes
 * to the APIC-Access Page": ID, TPR, EOI, LDR, DFR, SVR, ESR, ICR low and high, the six LVT
 * entries 320H-370H, initial count, divide configuration; each at offsets xx0H-xx3H). A write to
 * any other offset (PPR, IRR, ISR, LVT CMCI, current count...) is an APIC-access exit.
 */
const VIRTUALIZED_WRITES: ReadonlySet<number> = new Set([
  APIC_ID,
  APIC_TPR,
  APIC_EOI,
  APIC_LDR,
  APIC_DFR,
  APIC_SVR,
  APIC_ESR,
  APIC_ICR_LOW,
  APIC_ICR_HIGH,
  ...Array.from({ length: (APIC_LVT_ERROR - APIC_LVT_TIMER) / 0x10 + 1 }, (_, i) => APIC_LVT_TIMER + i * 0x10),
  APIC_TIMER_INITIAL_COUNT,
  APIC_TIMER_DIVIDE,
]);

/** Whether a write at `offset` of the APIC-access page is virtualized (see VIRTUALIZED_WRITES). */
function writeVirtualized(offset: number): boolean {
  return (offset & 0xf) <= 3 && VIRTUALIZED_WRITES.has(offset & 0xff0);
}

/**
 * ICR-low bits that must all be 0 for self-IPI virtualization (SDM "APIC-Write Emulation", offset
 * 300H): the reserved bits 31:20, 17:16 and 13 and the delivery-status bit 12 (together the same
 * set x2APIC reserves), the trigger mode (bit 15: edge) and the delivery mode (bits 10:8: fixed).
 * Bits 14 (level) and 11 (destination mode) are not looked at.
 */
export const VICR_SELF_IPI_ZERO_BITS = (X2APIC_ICR_LOW_RESERVED | ICR_TRIGGER_LEVEL | ICR_DELIVERY_MODE_MASK) >>> 0;

/**
 * Whether a write of `icrLow` to 300H is virtualized as a self-IPI (SDM "APIC-Write Emulation"):
 * the bits above are 0, the shorthand is self (01b) and vector bits 7:4 are not 0000b. Vectors
 * 0-15 are left to the hypervisor (APIC-write exit), which reports the illegal vector.
 */
export function isVirtualizedSelfIpi(icrLow: number): boolean {
  return (
    (icrLow & VICR_SELF_IPI_ZERO_BITS) === 0 &&
    (icrLow & ICR_SHORTHAND_MASK) >>> ICR_SHORTHAND_SHIFT === Shorthand.Self &&
    (icrLow & ICR_VECTOR_MASK) >= 16
  );
}

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
  #eoiExit: Uint32Array[] = [];
  #bitmapGeneration: number[] = [];
  /** Set while the processor virtualizes a SELF IPI, so it does not kick its own vCPU. */
  protected selfIpi = false;

  override attach(host: BackendHost): void {
    super.attach(host);
    this.rvi = host.platform.lapics.map(() => NONE);
    this.#eoiExit = host.platform.lapics.map(() => new Uint32Array(8));
    this.#bitmapGeneration = host.platform.lapics.map(() => -1);
  }

  /** Whether `vector` is in the EOI-exit bitmap of `cpu` (as of its last VM entry). */
  eoiExits(cpu: number, vector: number): boolean {
    return ((this.#eoiExit[cpu]![vector >> 5]! >>> (vector & 31)) & 1) === 1;
  }

  override pending(cpu: number, kind: Parameters<BackendBase['pending']>[1]): void {
    if (this.selfIpi && kind === 'interrupt') return; // the processor handles its own SELF IPI
    super.pending(cpu, kind);
  }

  override entry(cpu: number): void {
    this.#refreshEoiExitBitmap(cpu);
    if (this.host.nested.entry(cpu)) return; // L2 runs: nested.ts decides (vmcs02 has no RVI for L1)
    const w = this.windows[cpu]!;
    w.interrupt = false;
    w.nmi = false;
    if (this.injectHeld(cpu)) {
      // RVI is set as at every entry; the processor evaluates it at a later boundary (the
      // re-injected handler runs with IF = 0). Only an ExtINT needs an interrupt window.
      this.rvi[cpu] = this.host.lapic(cpu).highestRequested();
      this.windowsAfterReinjection(cpu, this.host.lapic(cpu).extIntPending());
      return;
    }
    if (this.injectNmi(cpu)) {
      // One event per entry: an ExtINT still pending needs an interrupt window (KVM's
      // enable_irq_window), or the processor's RVI evaluation would let LAPIC vectors pass it.
      if (this.host.lapic(cpu).extIntPending()) this.requestWindow(cpu);
      return;
    }
    if (this.injectExtInt(cpu)) return;
    // The hypervisor sets RVI from vIRR; the processor evaluates it at entry.
    this.rvi[cpu] = this.host.lapic(cpu).highestRequested();
    this.evaluate(cpu);
  }

  override boundary(cpu: number): ExitReason | null {
    if (this.host.nested.inL2(cpu)) return this.host.nested.boundary(cpu);
    const exit = super.boundary(cpu);
    if (exit !== null) return exit;
    if (this.#bitmapGeneration[cpu] !== this.host.platform.ioapic.generation) return 'request';
    this.evaluate(cpu);
    return null;
  }

  // ---- snapshots -------------------------------------------------------------------------

  /** @internal Snapshot and machine plumbing, not for users. */
  override saveState(w: StateWriter): void {
    super.saveState(w);
    this.rvi.forEach((rvi, cpu) => {
      w.i32(rvi).int(this.#bitmapGeneration[cpu]!).u32s(this.#eoiExit[cpu]!);
    });
  }

  /** @internal Snapshot and machine plumbing, not for users. */
  override readState(r: StateReader, version?: number): () => void {
    const base = super.readState(r, version);
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
      this.#bitmapGeneration = generation;
      this.#eoiExit = bitmaps;
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

  #refreshEoiExitBitmap(cpu: number): void {
    const ioapic = this.host.platform.ioapic;
    if (this.#bitmapGeneration[cpu] === ioapic.generation) return;
    this.#bitmapGeneration[cpu] = ioapic.generation;
    const bitmap = this.#eoiExit[cpu]!;
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
    if (offset === APIC_TPR) return this.#writeTpr(cpu, value & 0xff);
    if (offset === APIC_EOI) return this.#virtualEoi(cpu);
    const lapic = this.host.lapic(cpu);
    // The APIC-access page is virtualized only while the guest is in xAPIC mode (as KVM sets it up).
    if (lapic.mode === 'xapic') {
      if (!writeVirtualized(offset)) return super.mmioWrite(cpu, offset, value); // APIC-access exit
      if (offset === APIC_ICR_HIGH) return this.#writeIcrHigh(cpu, value);
      if (offset === APIC_ICR_LOW && isVirtualizedSelfIpi(value >>> 0)) {
        return this.#selfIpiVirtualization(cpu, value & ICR_VECTOR_MASK, value, undefined);
      }
    }
    // Any other write is done by the processor and reported by a trap-like APIC-write exit; an
    // ICR-low write is then sent by the hypervisor with the destination VICR_HI holds.
    lapic.writeRegister(offset, value);
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
        this.#writeTpr(cpu, Number(value));
        return true;
      }
      if (msr === MSR_X2APIC_BASE + (APIC_EOI >> 4)) {
        if (value !== 0n) return false;
        this.#virtualEoi(cpu);
        return true;
      }
      if (msr === MSR_SELF_IPI) return this.#writeX2apicSelfIpi(cpu, value);
    }
    return super.msrWrite(cpu, msr, value);
  }

  override cr8Read(cpu: number): number {
    return this.host.lapic(cpu).getCr8(); // TPR shadow
  }

  override cr8Write(cpu: number, value: number): boolean {
    if (!Number.isInteger(value) || value < 0 || value > 0xf) return false;
    this.#writeTpr(cpu, value << 4);
    return true;
  }

  /** TPR virtualization: VTPR written, VPPR recomputed, pending virtual interrupts evaluated. */
  #writeTpr(cpu: number, tpr: number): void {
    this.host.charge(cpu, this.host.costs.apicAccessNs);
    this.host.lapic(cpu).setTpr(tpr);
    this.evaluate(cpu);
  }

  /** EOI virtualization; an EOI-induced exit for vectors in the EOI-exit bitmap. */
  #virtualEoi(cpu: number): void {
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

  /**
   * APIC-write emulation of ICR high (SDM: "clears bytes 2:0 of VICR_HI. No other
   * virtualization or VM exit occurs"): the virtual APIC keeps only the destination, bits 31:24.
   */
  #writeIcrHigh(cpu: number, value: number): void {
    this.host.charge(cpu, this.host.costs.apicAccessNs);
    this.host.lapic(cpu).writeRegister(APIC_ICR_HIGH, value);
  }

  /**
   * x2APIC SELF IPI (MSR 83FH) with virtual-interrupt delivery: bits 63:8 set -> #GP; a vector
   * with bits 7:4 non-zero is self-IPI virtualization; a vector 0-15 is written and exits
   * (APIC-write), and the hypervisor's emulation of it reports the illegal vector.
   */
  #writeX2apicSelfIpi(cpu: number, value: bigint): boolean {
    if (value > 0xffn) return false;
    const lapic = this.host.lapic(cpu);
    const vector = Number(value);
    if (vector < 16) {
      lapic.writeMsr(MSR_SELF_IPI, value);
      this.host.exit(cpu, 'apic-write');
      return true;
    }
    this.#selfIpiVirtualization(cpu, vector, 0, value);
    return true;
  }

  /**
   * Self-IPI virtualization (SDM): vIRR[vector] = 1, RVI = max(RVI, vector), pending virtual
   * interrupts evaluated; no exit. The write (the ICR-low value, or the SELF IPI MSR value when
   * `msrValue` is given) goes into the virtual APIC, whose own self-delivery sets the vIRR bit (a
   * software-disabled model APIC drops it, and then RVI stays). No closure: IPI sends allocate
   * nothing.
   */
  #selfIpiVirtualization(cpu: number, vector: number, icrLow: number, msrValue: bigint | undefined): void {
    this.host.charge(cpu, this.host.costs.apicAccessNs);
    const lapic = this.host.lapic(cpu);
    this.selfIpi = true;
    try {
      if (msrValue === undefined) lapic.writeRegister(APIC_ICR_LOW, icrLow);
      else lapic.writeMsr(MSR_SELF_IPI, msrValue);
    } finally {
      this.selfIpi = false;
    }
    if (vector > this.rvi[cpu]! && lapic.isRequested(vector)) this.rvi[cpu] = vector;
    this.evaluate(cpu);
  }
}
