/**
 * `reinjection` / `reinjection-dropped`: a device interrupt whose delivery exits once on the
 * guest's IDT page, unmapped in EPT / NPT, and the hypervisor that re-injects it from the exit's
 * IDT-vectoring information / EXITINTINFO — or, with the bug, forgets it. See docs/backends.md
 * "Exceptions and re-injection" and test/inject/reinjection.test.ts.
 *
 * @module
 */
import type { Instr } from '../../guest/program.js';
import { ENABLE_APIC, mem, type Scenario } from './types.js';

const VECTOR = 0x41;
/** MSI to APIC 0, fixed, edge (the address and data a device's MSI capability holds). */
const MSI_ADDRESS = 0xfee0_0000;
const ARRIVALS = [20_000, 60_000] as const;

function reinjection(name: string, drop: boolean): Scenario {
  return {
    name,
    description: drop
      ? 'reinjection with a hypervisor that ignores the vectoring information: the MSI is lost'
      : 'an MSI whose delivery exits on an IDT page unmapped in EPT/NPT is re-injected at the next entry',
    details:
      'vCPU 0 idles in HLT. The delivery of the first of two MSIs (0x41, at 20 and 60 us) exits on the IDT\n' +
      'page (unmap-idt) with the vector in the IDT-vectoring information / EXITINTINFO. ' +
      (drop ? 'The hypervisor drops it:\nthe handler never runs and the stuck ISR bit blocks the second MSI too.' : 'The hypervisor\nre-injects it at the next entry: both are handled.'),
    cpus: { default: 1, min: 1, max: 1 },
    untilNs: 200_000,
    ...(drop ? { machine: { dropReinjection: true } } : {}),
    explainHint: '0:0x41',
    setup(m) {
      const main: Instr[] = [ENABLE_APIC, { op: 'unmap-idt' }, { op: 'sti' }, { op: 'hlt' }, { op: 'jump', to: 3 }];
      m.load(0, { main, handlers: { [VECTOR]: [{ op: 'inc', var: 'irqs' }, { op: 'eoi' }, { op: 'iret' }] } });
      for (const at of ARRIVALS) m.at(at, { kind: 'msi', address: MSI_ADDRESS, data: VECTOR });
    },
    notes(m) {
      const vectoring = m.trace.filter('vectoring', 0).length;
      const reinjected = m.trace.filter('reinject', 0).filter((e) => e.label !== 'dropped').length;
      return [`device interrupts handled: ${mem(m, 'irqs')} of ${ARRIVALS.length}; deliveries cut short by an exit: ${vectoring}, re-injected: ${reinjected}`];
    },
  };
}

export const reinjectionOk = reinjection('reinjection', false);
export const reinjectionDropped = reinjection('reinjection-dropped', true);
