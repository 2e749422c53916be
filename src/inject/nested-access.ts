/**
 * Nested virtualization: how L2's local-APIC accesses reach the vCPU's local APIC.
 *
 * The model's L1 passes its local APIC through to L2 (as partitioning hypervisors do), so that
 * L2 can EOI the interrupts L1 lets reach it (rule 3 of docs/nested.md). L0 virtualizes nothing
 * for L2 (vmcs02 / vmcb02 carry none of L1's APIC virtualization): every access traps to L0 and
 * is emulated, as under the event-injection backends — an exit from L2 to L0 that L1 never sees.
 *
 * @module
 */
import type { GuestApicAccess } from '../guest/vcpu.js';
import type { BackendHost } from './backend.js';
import { isApicMsr } from './base.js';

/** The access methods of an injection backend, for L2. */
export type L2ApicAccess = GuestApicAccess;

/** L2's accesses: each exits to L0, which performs it on the local APIC. */
export function l2ApicAccess(host: () => BackendHost): L2ApicAccess {
  return {
    mmioRead(cpu, offset) {
      host().exit(cpu, 'apic-access');
      return host().lapic(cpu).readRegister(offset);
    },
    mmioWrite(cpu, offset, value) {
      host().exit(cpu, 'apic-access');
      host().lapic(cpu).writeRegister(offset, value);
    },
    msrRead(cpu, msr) {
      if (!isApicMsr(msr)) return undefined;
      host().exit(cpu, 'msr');
      return host().lapic(cpu).readMsr(msr);
    },
    msrWrite(cpu, msr, value) {
      if (!isApicMsr(msr)) return false;
      host().exit(cpu, 'msr');
      return host().lapic(cpu).writeMsr(msr, value);
    },
    cr8Read(cpu) {
      host().exit(cpu, 'cr8');
      return host().lapic(cpu).getCr8();
    },
    cr8Write(cpu, value) {
      host().exit(cpu, 'cr8');
      return host().lapic(cpu).setCr8(value);
    },
  };
}
