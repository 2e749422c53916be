/**
 * The delivery checker: compares what the model did with what real hardware would have done.
 *
 * For each vCPU and vector it keeps the *architectural* request bit — the IRR bit of a real
 * local APIC, which a request sets and the start of the handler (INTA) clears:
 * - a request while the bit is clear sets it: one interrupt is owed to the guest;
 * - a request while the bit is set merges into it, as real hardware also merges it (coalescing);
 * - entering the handler clears it; entering a handler with the bit clear is a **doubled**
 *   delivery;
 * - a request that the model merged into a bit real hardware would already have cleared is
 *   **lost**: no handler will ever run for it. This is the SVM V_IRQ race bhyve hit in 2018.
 * At the end of a run, a request still owed but no longer held anywhere in the model (IRR, a
 * posted-interrupt descriptor, V_IRQ) is lost too.
 *
 * Nested virtualization (docs/nested.md): the vCPU's local APIC is L1's, so every request is an
 * interrupt for L1. It may be delivered to L1 (a handler entry in L1, or an exit from L2 that
 * acknowledges it) or — only if L1 did not ask to exit on its interrupts — to L2 (L0 injecting it
 * there). A delivery to L2 while L1 asked for the exit is at the **wrong level**: it clears the
 * request (L1 will never see it) and is counted and reported.
 *
 * @module
 */

import type { StateReader, StateWriter } from '../codec/state.js';

export interface CheckerCounts {
  /** Requests that set the architectural bit. */
  requests: number;
  /** Requests real hardware would also have merged. */
  coalesced: number;
  /** Handler entries that matched a request. */
  delivered: number;
  lost: number;
  doubled: number;
  /** Deliveries (counted in `delivered`) that went to L2 with L1's consent (rule 3). */
  deliveredToL2: number;
  /** Deliveries to L2 of an interrupt L1 asked to exit on. */
  wrongLevel: number;
}

export type CheckerVerdict = 'ok' | 'lost' | 'doubled' | 'wrong-level';

/** Per-vector state bits: a request is owed (the architectural IRR bit). */
const OWED = 1;
/**
 * A delivery of the vector began and an exit cut it short before the handler (IDT-vectoring
 * information): real hardware had already acknowledged it (IRR clear, a new request sets it
 * afresh); the handler entry is still owed, by the re-injection.
 */
const IN_DELIVERY = 2;

/**
 * What real hardware would have delivered: counts every fixed interrupt that reached a vCPU and
 * every handler entry, and reports an interrupt lost (requested, never delivered, not merged by the
 * architecture) or delivered twice. Machine feeds it; its findings are the `lost` / `doubled`
 * statistics and trace events (docs/machine.md).
 *
 * @example
 * ```ts
 * import { DeliveryChecker } from 'irqchip';
 *
 * const c = new DeliveryChecker(1);
 * c.request(0, 0x40, false);   // 'ok': IRR bit set
 * c.delivered(0, 0x40);        // 'ok': handler entered
 * c.request(0, 0x40, true);    // the model merged it although the bit was clear: 'lost'
 * c.counts[0]!.lost;           // 1
 * ```
 */
export class DeliveryChecker {
  readonly #pending: Uint8Array[];
  readonly counts: CheckerCounts[];

  /**
   * A checker for `cpus` vCPUs with nothing pending.
   */
  constructor(cpus: number) {
    this.#pending = Array.from({ length: cpus }, () => new Uint8Array(256));
    this.counts = Array.from({ length: cpus }, () => ({ requests: 0, coalesced: 0, delivered: 0, lost: 0, doubled: 0, deliveredToL2: 0, wrongLevel: 0 }));
  }

  /**
   * A fixed interrupt reached the model. `modelMerged`: the model found the vector already
   * requested (IRR, PIR...) and merged it.
   */
  request(cpu: number, vector: number, modelMerged: boolean): CheckerVerdict {
    const c = this.counts[cpu]!;
    const p = this.#pending[cpu]!;
    if ((p[vector]! & OWED) !== 0) {
      c.coalesced++;
      return 'ok';
    }
    if (modelMerged) {
      // Real hardware would hold this as a fresh request; the model swallowed it.
      c.lost++;
      return 'lost';
    }
    p[vector] = p[vector]! | OWED;
    c.requests++;
    return 'ok';
  }

  /**
   * The guest entered the handler of `vector` (delivered by the local APIC path), or an exit from
   * L2 acknowledged it. `level`: which level got it; `l2Allowed`: for level 2, whether L1 let its
   * interrupts reach L2 (did not set external-interrupt exiting / the INTR intercept).
   */
  delivered(cpu: number, vector: number, level: 1 | 2 = 1, l2Allowed = false): CheckerVerdict {
    const c = this.counts[cpu]!;
    const p = this.#pending[cpu]!;
    if ((p[vector]! & IN_DELIVERY) !== 0) {
      p[vector] = p[vector]! & ~IN_DELIVERY; // the re-injection completes the cut-short delivery
      c.delivered++;
      return 'ok';
    }
    if (level === 2 && !l2Allowed) {
      p[vector] = 0;
      c.wrongLevel++;
      return 'wrong-level';
    }
    if ((p[vector]! & OWED) === 0) {
      c.doubled++;
      return 'doubled';
    }
    p[vector] = p[vector]! & ~OWED;
    c.delivered++;
    if (level === 2) c.deliveredToL2++;
    return 'ok';
  }

  /**
   * The model dropped a request it had begun to deliver (a hypervisor that forgot to re-inject
   * it): no handler will run for it. @returns whether it was owed (and is now counted lost).
   */
  lose(cpu: number, vector: number): boolean {
    const p = this.#pending[cpu]!;
    if ((p[vector]! & IN_DELIVERY) === 0) return false;
    p[vector] = p[vector]! & ~IN_DELIVERY;
    this.counts[cpu]!.lost++;
    return true;
  }

  /**
   * The delivery of an owed `vector` began and an exit cut it short (it will be re-injected, or
   * dropped): the request bit clears as at INTA, and the handler entry stays owed.
   */
  interrupted(cpu: number, vector: number): void {
    const p = this.#pending[cpu]!;
    // Already in delivery: this is its re-injection cut short again, not a new request's delivery.
    if ((p[vector]! & IN_DELIVERY) !== 0) return;
    if ((p[vector]! & OWED) !== 0) p[vector] = (p[vector]! & ~OWED) | IN_DELIVERY;
  }

  /** Whether a request for `vector` is owed to `cpu`. */
  owed(cpu: number, vector: number): boolean {
    return this.#pending[cpu]![vector] !== 0;
  }

  /**
   * Settles requests still owed but no longer held by the model (`holds` says where the model
   * keeps requests). @returns the vectors found lost.
   */
  settle(cpu: number, holds: (vector: number) => boolean): number[] {
    const lost: number[] = [];
    const p = this.#pending[cpu]!;
    for (let v = 0; v < 256; v++) {
      if (p[v] !== 0 && !holds(v)) {
        p[v] = 0;
        this.counts[cpu]!.lost++;
        lost.push(v);
      }
    }
    return lost;
  }

  /** @internal Snapshot and machine plumbing, not for users. */
  saveState(w: StateWriter): void {
    w.u32(this.#pending.length);
    this.#pending.forEach((p, cpu) => {
      w.u8s(p);
      const c = this.counts[cpu]!;
      w.uint(c.requests).uint(c.coalesced).uint(c.delivered).uint(c.lost).uint(c.doubled).uint(c.deliveredToL2).uint(c.wrongLevel);
    });
  }

  /** @internal Snapshot and machine plumbing, not for users. */
  readState(r: StateReader): () => void {
    const n = r.u32('cpus');
    if (n !== this.#pending.length) r.fail('cpus', `snapshot has ${n} vCPUs, this checker ${this.#pending.length}`);
    const pending: Uint8Array[] = [];
    const counts: CheckerCounts[] = [];
    for (let cpu = 0; cpu < n; cpu++) {
      pending.push(r.u8s('owed', 256, OWED | IN_DELIVERY));
      counts.push({
        requests: r.uint('requests'),
        coalesced: r.uint('coalesced'),
        delivered: r.uint('delivered'),
        lost: r.uint('lost'),
        doubled: r.uint('doubled'),
        deliveredToL2: r.uint('deliveredToL2'),
        wrongLevel: r.uint('wrongLevel'),
      });
    }
    return () => {
      pending.forEach((p, cpu) => this.#pending[cpu]!.set(p));
      counts.forEach((c, cpu) => Object.assign(this.counts[cpu]!, c));
    };
  }

  /** Forgets everything owed to a CPU (INIT resets its local APIC). */
  reset(cpu: number): void {
    this.#pending[cpu]!.fill(0);
  }
}
