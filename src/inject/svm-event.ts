/**
 * `svm-event`: AMD SVM with event injection (what bhyve does since 2018 and KVM does).
 *
 * At VMRUN the hypervisor injects through EVENTINJ: an NMI first, then an ExtINT, then the
 * highest LAPIC vector that beats PPR, moving it from IRR to ISR at injection. If the guest cannot
 * take it (IF = 0 or an interrupt shadow), the VINTR intercept with a dummy V_IRQ opens an
 * interrupt window; an IRET intercept opens the NMI window. Every APIC access exits (no AVIC).
 * CR8 reads come from V_TPR without an exit (V_INTR_MASKING); CR8 writes are intercepted so the
 * virtual APIC's TPR is always current for injection decisions.
 *
 * @module
 */
import { BackendBase } from './base.js';

/**
 * AMD SVM event injection (APM vol. 2, "Event Injection"): the hypervisor moves the highest
 * deliverable vector from IRR to ISR and injects it through EVENTINJ at VMRUN, asking for a VINTR
 * intercept (an interrupt window) when the guest cannot take it yet; every APIC access exits
 * (docs/backends.md).
 *
 * Machine builds it from `backend: 'svm-event'`.
 *
 * @example
 * ```ts
 * import { Machine } from 'irqchip';
 *
 * const m = new Machine({ cpus: 2, backend: 'svm-event' });
 * m.backend.name; // 'svm-event'
 * ```
 */
export class SvmEventBackend extends BackendBase {
  readonly name = 'svm-event' as const;

  override cr8Read(cpu: number): number {
    return this.host.lapic(cpu).getCr8();
  }
}
