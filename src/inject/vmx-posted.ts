/**
 * `vmx-posted`: `vmx-vid` plus posted interrupts (Intel SDM "Posted-Interrupt Processing").
 *
 * Each vCPU has a posted-interrupt descriptor: a 256-bit PIR and the ON (outstanding
 * notification) bit. A fixed interrupt for the vCPU — an IPI, a device interrupt, its timer — is
 * posted: the PIR bit is set and, if ON was clear, ON is set and a notification is sent. A vCPU
 * in guest mode processes the notification at its next instruction boundary without an exit:
 * ON cleared, PIR ORed into vIRR, RVI raised, pending virtual interrupts evaluated. A vCPU not in
 * guest mode gets its PIR synced into vIRR at the next VM entry (KVM's sync_pir_to_irr), and a
 * halted vCPU is woken (the posted-interrupt wake-up vector).
 *
 * @module
 */
import { ACCEL_COALESCED, ACCEL_NOT_TAKEN, ACCEL_POSTED } from '../apic/local-apic.js';
import type { StateReader, StateWriter } from '../codec/state.js';
import type { BackendHost, ExitReason, PendingKind } from './backend.js';
import { VmxVidBackend } from './vmx-vid.js';

/** One posted-interrupt descriptor. */
interface PiDesc {
  pir: Uint32Array;
  on: boolean;
}

/**
 * Intel posted interrupts on top of virtual-interrupt delivery (SDM vol. 3, "Posted-Interrupt
 * Processing"): senders set the vector in the posted-interrupt descriptor's PIR and send the
 * notification vector; a running vCPU merges PIR into vIRR without an exit (docs/backends.md).
 *
 * Machine builds it from `backend: 'vmx-posted'`.
 *
 * @example
 * ```ts
 * import { Machine } from 'irqchip';
 *
 * const m = new Machine({ cpus: 2, backend: 'vmx-posted' });
 * m.backend.name; // 'vmx-posted'
 * ```
 */
export class VmxPostedBackend extends VmxVidBackend {
  override readonly name = 'vmx-posted' as const;
  #pi: PiDesc[] = [];

  override attach(host: BackendHost): void {
    super.attach(host);
    this.#pi = host.platform.lapics.map(() => ({ pir: new Uint32Array(8), on: false }));
    host.platform.lapics.forEach((lapic, cpu) => {
      lapic.setAccel({ acceptFixed: (vector) => this.#post(cpu, vector) });
    });
  }

  /** Whether `vector` is set in the vCPU's PIR. */
  posted(cpu: number, vector: number): boolean {
    return ((this.#pi[cpu]!.pir[vector >> 5]! >>> (vector & 31)) & 1) === 1;
  }

  /**
   * Posts a fixed interrupt (the local APIC's accept hook). Self-IPI virtualization writes vIRR
   * directly, except for a vector already posted and not yet processed: the model merges it into
   * the PIR bit. (The processor would set vIRR beside the PIR bit and deliver the vector twice,
   * once now and once when the PIR is processed, although the posted request was pending first;
   * the model keeps the architectural rule that a request for a pending vector merges.)
   */
  #post(cpu: number, vector: number): number {
    if (this.selfIpi) return this.posted(cpu, vector) ? ACCEL_COALESCED : ACCEL_NOT_TAKEN;
    const lapic = this.host.lapic(cpu);
    if (lapic.isRequested(vector) || this.posted(cpu, vector)) return ACCEL_COALESCED;
    const d = this.#pi[cpu]!;
    d.pir[vector >> 5] = (d.pir[vector >> 5]! | (1 << (vector & 31))) >>> 0;
    this.host.count(cpu, 'posted');
    this.host.trace(cpu, 'posted', vector);
    return ACCEL_POSTED;
  }

  override pending(cpu: number, kind: PendingKind): void {
    if (kind !== 'interrupt' || this.selfIpi) {
      super.pending(cpu, kind);
      return;
    }
    const d = this.#pi[cpu]!;
    if (d.on) return; // a notification is already outstanding
    d.on = true;
    if (this.host.inGuest(cpu)) {
      this.host.count(cpu, 'notifications');
      this.host.notify(cpu);
    } else {
      this.host.wake(cpu);
    }
  }

  override entry(cpu: number): void {
    this.#syncPir(cpu); // the hypervisor moves the PIR into vIRR before entering
    super.entry(cpu);
  }

  override boundary(cpu: number): ExitReason | null {
    // In L2 a notification is an ordinary host interrupt (vmcs02 does not name its vector): nested.ts.
    if (this.host.nested.inL2(cpu)) return this.host.nested.boundary(cpu);
    if (this.host.takeNotification(cpu)) this.#processPosted(cpu);
    return super.boundary(cpu);
  }

  override holds(cpu: number, vector: number): boolean {
    return super.holds(cpu, vector) || this.posted(cpu, vector);
  }

  /** @internal Snapshot and machine plumbing, not for users. */
  override saveState(w: StateWriter): void {
    super.saveState(w);
    for (const d of this.#pi) w.u32s(d.pir).bool(d.on);
  }

  /** @internal Snapshot and machine plumbing, not for users. */
  override readState(r: StateReader, version?: number): () => void {
    const base = super.readState(r, version);
    const saved: PiDesc[] = this.#pi.map(() => {
      const pir = r.u32s('pir', 8);
      if ((pir[0]! & 0xffff) !== 0) r.fail('pir', 'vectors 0-15 cannot be posted');
      return { pir, on: r.bool('on') };
    });
    return () => {
      base();
      saved.forEach((d, cpu) => {
        this.#pi[cpu]!.pir.set(d.pir);
        this.#pi[cpu]!.on = d.on;
      });
    };
  }

  protected override lapicVectorPending(cpu: number): boolean {
    if (super.lapicVectorPending(cpu)) return true;
    const ppr = this.host.lapic(cpu).processorPriority & 0xf0;
    const pir = this.#pi[cpu]!.pir;
    for (let w = 7; w >= 0; w--) {
      if (pir[w] !== 0) return ((w << 5) + 31 - Math.clz32(pir[w]!)) >> 4 > ppr >> 4;
    }
    return false;
  }

  /** Posted-interrupt processing in guest mode: no exit. */
  #processPosted(cpu: number): void {
    const d = this.#pi[cpu]!;
    if (!d.on) return;
    const highest = this.#syncPir(cpu);
    if (highest > this.rvi[cpu]!) this.rvi[cpu] = highest;
    this.evaluate(cpu);
  }

  /** ON = 0; vIRR |= PIR; PIR = 0. @returns the highest vector moved, or -1. */
  #syncPir(cpu: number): number {
    const d = this.#pi[cpu]!;
    d.on = false;
    const lapic = this.host.lapic(cpu);
    let highest = -1;
    for (let w = 0; w < 8; w++) {
      let bits = d.pir[w]!;
      d.pir[w] = 0;
      while (bits !== 0) {
        const b = 31 - Math.clz32(bits);
        bits = (bits & ~(1 << b)) >>> 0;
        const v = (w << 5) + b;
        lapic.restoreRequest(v);
        if (v > highest) highest = v;
      }
    }
    return highest;
  }
}
