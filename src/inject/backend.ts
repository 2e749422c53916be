/**
 * The injection-backend interface: how a hypervisor and the CPU's virtualization hardware hand
 * interrupts from the virtual local APIC to the guest.
 *
 * A backend sits between the device model (each vCPU's `LocalApic`, the virtual APIC) and the
 * guest CPU model (`Vcpu`), as bhyve's vmx.c / svm.c sit on its vlapic.c. It decides:
 * - what happens at VM entry (event injection, programming V_IRQ, setting RVI, syncing a PIR);
 * - what the modelled hardware does at each guest instruction boundary without an exit
 *   (V_IRQ delivery, virtual-interrupt delivery, posted-interrupt processing) and which exits it
 *   takes (interrupt window, NMI window, a host kick);
 * - what it syncs back at VM exit;
 * - which guest APIC accesses exit and which the hardware virtualizes;
 * - how a new interrupt for a vCPU reaches it (kick, posted notification, wake-up).
 *
 * @module
 */
import type { LocalApic } from '../apic/local-apic.js';
import type { StateReader, StateWriter } from '../codec/state.js';
import type { GuestApicAccess, Vcpu } from '../guest/vcpu.js';
import type { Costs } from '../machine/costs.js';
import type { Platform } from '../platform/platform.js';
import type { TraceKind } from '../trace/trace.js';
import type { NestedController } from './nested.js';

export type BackendName = 'svm-event' | 'svm-vintr' | 'vmx-event' | 'vmx-vid' | 'vmx-posted';
export const BACKEND_NAMES: readonly BackendName[] = ['svm-event', 'svm-vintr', 'vmx-event', 'vmx-vid', 'vmx-posted'];

/** Why a vCPU left guest mode. */
export type ExitReason =
  /** xAPIC MMIO access (SVM NPF on the APIC page / VMX APIC-access exit). */
  | 'apic-access'
  /** RDMSR/WRMSR intercepted (x2APIC registers, IA32_APIC_BASE, TSC deadline). */
  | 'msr'
  /** VMX: a trap-like APIC-write exit after a virtualized write (ICR, LVT, ...). */
  | 'apic-write'
  /** VMX: EOI of a vector set in the EOI-exit bitmap. */
  | 'eoi-induced'
  /** MOV to/from CR8 intercepted. */
  | 'cr8'
  | 'hlt'
  /** VMX interrupt-window exiting; SVM VINTR intercept. */
  | 'interrupt-window'
  /** VMX NMI-window exiting; SVM IRET intercept. */
  | 'nmi-window'
  /** A host IPI (kick) made the vCPU exit so the hypervisor can look at new interrupts. */
  | 'external-interrupt'
  /** The hypervisor asked for an exit to refresh cached state (KVM's IOAPIC scan request). */
  | 'request'
  /** IN/OUT to an intercepted I/O port (the 8259A pair and ELCR are emulated by the hypervisor). */
  | 'io'
  /** Nested: L1 executed VMLAUNCH / VMRESUME (VMX) or VMRUN (SVM); L0 emulates the entry into L2. */
  | 'nested-entry'
  /**
   * A triple fault (SHUTDOWN): the vCPU stops (run state 'shutdown'). Nested: L2's program ended
   * (a triple fault / SHUTDOWN), which L0 reflects to L1.
   */
  | 'shutdown'
  /** VMX: an EPT violation (here: on the guest's IDT page during an event delivery, `unmap-idt`). */
  | 'ept-violation'
  /** SVM: a nested page fault (NPF; here: on the guest's IDT page during an event delivery). */
  | 'npf';

export const EXIT_REASONS: readonly ExitReason[] = [
  'apic-access',
  'msr',
  'apic-write',
  'eoi-induced',
  'cr8',
  'hlt',
  'interrupt-window',
  'nmi-window',
  'external-interrupt',
  'request',
  'io',
  'nested-entry',
  'shutdown',
  'ept-violation',
  'npf',
];
/** The exit reasons of snapshots written before 'ept-violation' and 'npf' (vCPU layout < 3). */
export const LEGACY_EXIT_REASON_COUNT = 13;

/**
 * An event whose delivery a VM exit interrupted, as the exit reports it (VMX IDT-vectoring
 * information, SDM "Information for VM Exits During Event Delivery"; SVM EXITINTINFO, APM vol. 2
 * "EXITINTINFO Pseudo-Virtualization"). `type` is the VMX interruption type: 0 external
 * interrupt, 2 NMI, 3 hardware exception.
 */
export interface VectoringInfo {
  type: 0 | 2 | 3;
  vector: number;
  /** The exception's error code (0 when it has none). */
  errorCode: number;
  /** Where an external interrupt came from (the checker needs it at re-injection). */
  source: DeliverySource;
}

/** Backend options every backend takes. */
export interface BackendOptions {
  /**
   * Reproduce the hypervisor bug of forgetting the event an exit interrupted: its vectoring
   * information is ignored at the next entry, so the event is never delivered (an interrupt's
   * ISR bit stays set and the delivery checker reports it lost). Default false.
   */
  dropReinjection?: boolean;
  /**
   * The hypervisor queues the exception an access it emulated raises (#GP(0) for an x2APIC MSR
   * access the local APIC refuses) and injects it at the next VM entry, after a re-injection and
   * before NMI, ExtINT and the local APIC (KVM's kvm_queue_exception / inject_pending_event, ACRN's
   * vcpu_queue_exception). Default false: such faults are only counted.
   */
  hypervisorExceptions?: boolean;
}

/** What a new pending event for a vCPU is. */
export type PendingKind = 'interrupt' | 'nmi' | 'extint';

/**
 * Where a delivered vector came from: the local APIC, the 8259A (ExtINT), or (nested, into L2)
 * an event L1 injected or posted through V_IRQ — no local APIC request of this vCPU.
 */
export type DeliverySource = 'lapic' | 'extint' | 'l1';

/** What the machine offers a backend. */
export interface BackendHost {
  readonly platform: Platform;
  readonly costs: Costs;
  vcpu(cpu: number): Vcpu;
  lapic(cpu: number): LocalApic;
  /** Whether the vCPU is executing guest code (not exited, halted or waiting). */
  inGuest(cpu: number): boolean;
  /** The guest enters the handler of `vector`. */
  deliver(cpu: number, vector: number, source: DeliverySource): void;
  /** The guest enters its NMI handler. */
  deliverNmi(cpu: number): void;
  /** The hypervisor dropped external interrupt `vector` (dropReinjection): the checker finds it lost. */
  lose(cpu: number, vector: number): void;
  /** The guest enters the handler of exception `vector`. */
  deliverException(cpu: number, vector: number, errorCode: number): void;
  /** A triple fault shuts the vCPU down (exit 'shutdown'). */
  tripleFault(cpu: number): void;
  /** Takes a VM exit now (the vCPU re-enters after the exit cost). Calls the backend's exit(). */
  exit(cpu: number, reason: ExitReason): void;
  /** Sends a host IPI that makes the vCPU exit at its next instruction boundary. */
  kick(cpu: number): void;
  /** Sends a posted-interrupt notification, processed by the hardware at the next boundary. */
  notify(cpu: number): void;
  /** Whether a kick / notification has arrived since the last time it was taken. */
  takeKick(cpu: number): boolean;
  takeNotification(cpu: number): boolean;
  /** Wakes the vCPU if it is halted and the backend now has something for it. */
  wake(cpu: number): void;
  /** Adds `ns` to the time the current instruction takes (a virtualized access, say). */
  charge(cpu: number, ns: number): void;
  /** Counts an event in the vCPU's statistics. */
  count(cpu: number, what: 'injections' | 'interruptWindows' | 'nmiWindows' | 'virtualDeliveries' | 'posted' | 'notifications'): void;
  trace(cpu: number, kind: TraceKind, a?: number, b?: number, label?: string): void;
  /**
   * Nested virtualization: while L2 runs, the backend leaves entry, boundary and wake-up to it.
   * @internal
   */
  readonly nested: NestedController;
}

/**
 * An injection backend. Its GuestApicAccess methods perform the guest's accesses and take an exit
 * where the hardware would.
 */
export interface InjectionBackend extends GuestApicAccess {
  readonly name: BackendName;
  /** Called once when the machine is built, after the vCPUs exist. */
  attach(host: BackendHost): void;
  /** Something became pending for `cpu` in its virtual APIC. */
  pending(cpu: number, kind: PendingKind): void;
  /** VM entry: inject / program the hardware. */
  entry(cpu: number): void;
  /** VM exit bookkeeping (sync what the hardware did back into the virtual APIC). */
  exit(cpu: number, reason: ExitReason): void;
  /** Guest-mode instruction boundary: hardware delivery, or an exit to take. */
  boundary(cpu: number): ExitReason | null;
  /** Whether HLT should end: an interrupt the guest can take now, or an NMI. */
  canWake(cpu: number): boolean;
  /** Whether the model still holds a request for `vector` (IRR, PIR, V_IRQ...). */
  holds(cpu: number, vector: number): boolean;
  /** An exit interrupted the delivery of `event`: record it for re-injection at the next entry. */
  interrupted(cpu: number, event: VectoringInfo): void;
  /**
   * The hypervisor's emulation of an instruction raised exception `vector`: queue it for the next
   * entry, merged with one already queued by the double-fault table (`hypervisorExceptions`).
   */
  queueException(cpu: number, vector: number, errorCode: number): void;
  /** The exceptions queued for `cpu`, oldest first (vector -1: a triple fault). */
  queuedExceptions(cpu: number): ReadonlyArray<Readonly<{ vector: number; errorCode: number }>>;
  /** Whether the hypervisor queues the exceptions its emulation raises (BackendOptions). */
  readonly hypervisorExceptions: boolean;
  /**
   * Writes the hardware and hypervisor state the backend keeps (windows, V_IRQ, RVI, PIR...).
   * @internal
   */
  saveState(w: StateWriter): void;
  /**
   * Reads and checks that state; returns the function that applies it.
   * @internal
   */
  readState(r: StateReader, version?: number): () => void;
}
