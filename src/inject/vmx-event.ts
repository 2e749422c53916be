/**
 * `vmx-event`: Intel VMX with event injection and no APIC virtualization.
 *
 * At VM entry the hypervisor injects through the VM-entry interruption-information field: an NMI
 * first, then an ExtINT, then the highest LAPIC vector that beats PPR, moving it from IRR to ISR
 * at injection. If the guest cannot take it, interrupt-window exiting (or NMI-window exiting)
 * brings it back as soon as it can. Every APIC access exits, and without a TPR shadow so do CR8
 * reads and writes.
 *
 * @module
 */
import { BackendBase } from './base.js';

/**
 * Intel VMX event injection (SDM vol. 3, "Event Injection"): the VM-entry interruption-information
 * field with interrupt-window exiting when the guest cannot take the vector, and external-interrupt
 * exits for host kicks; every APIC access exits (docs/backends.md).
 *
 * Machine builds it from `backend: 'vmx-event'`.
 *
 * @example
 * ```ts
 * import { Machine } from 'irqchip';
 *
 * const m = new Machine({ cpus: 2, backend: 'vmx-event' });
 * m.backend.name; // 'vmx-event'
 * ```
 */
export class VmxEventBackend extends BackendBase {
  readonly name = 'vmx-event' as const;
}
