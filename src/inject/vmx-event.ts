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

export class VmxEventBackend extends BackendBase {
  readonly name = 'vmx-event' as const;
}
