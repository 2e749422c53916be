// Reproduces the lost IPI that made bhyve stop posting LAPIC interrupts through SVM V_IRQ.
// Run after `npm run build`:  node examples/lost-ipi.mjs
import { Machine } from 'irqchip';

const enable = { op: 'mmio-write', offset: 0xf0, value: 0x1ff }; // SVR: APIC on
for (const backend of ['svm-vintr', 'svm-event', 'vmx-posted']) {
  const m = new Machine({ cpus: 2, backend });
  // vCPU 0: IPI, wait for the handler's acknowledgement in shared memory, IPI again.
  m.load(0, { main: [enable, { op: 'ipi', dest: 1, vector: 0x40 }, { op: 'wait', var: 'ack', cmp: 'ge', value: 1 },
    { op: 'ipi', dest: 1, vector: 0x40 }, { op: 'done' }] });
  // vCPU 1: idle with IF=1; the handler acknowledges (no exit), works, then EOIs.
  m.load(1, { main: [enable, { op: 'sti' }, { op: 'hlt' }, { op: 'jump', to: 2 }],
    handlers: { 0x40: [{ op: 'inc', var: 'ack' }, { op: 'work', ns: 5000 }, { op: 'eoi' }, { op: 'iret' }] } });
  m.run(1_000_000);
  console.log(`${backend.padEnd(10)} handled ${m.memory.get('ack')} of 2, lost ${m.stats().cpus[1].lost}`);
}
