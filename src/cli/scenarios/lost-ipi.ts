/**
 * `lost-ipi`: the race that made bhyve stop posting LAPIC interrupts through SVM V_IRQ (FreeBSD
 * PR 215972, review D13780). See docs/backends.md and test/machine/lost-ipi.test.ts.
 *
 * @module
 */
import type { GuestProgram, Instr } from '../../guest/program.js';
import { ENABLE_APIC, idleLoop, mem, type Scenario } from './types.js';

const VECTOR = 0x40;

export const lostIpi: Scenario = {
  name: 'lost-ipi',
  description: 'IPI, wait for the handler to acknowledge, same IPI again: svm-vintr loses the second (bhyve PR 215972)',
  details: [
    'vCPU 0 sends vector 0x40 to each other vCPU, waits until that vCPU\'s handler has counted it in',
    'shared memory (no exit), and sends vector 0x40 again. The receivers idle in HLT with IF = 1;',
    'the handler acknowledges, works 5 us, then EOIs. Under svm-vintr the first IPI is delivered',
    'through V_IRQ without an exit, so the vector is still in IRR when the second arrives: it merges',
    'and is lost. Every other backend delivers both.',
  ].join('\n'),
  cpus: { default: 2, min: 2, max: 64 },
  untilNs: 1_000_000,
  explainHint: '1:0x40',
  setup(m, ctx) {
    const main: Instr[] = [ENABLE_APIC];
    for (let cpu = 1; cpu < ctx.cpus; cpu++) {
      main.push(
        { op: 'ipi', dest: cpu, vector: VECTOR },
        { op: 'wait', var: `ack${cpu}`, cmp: 'ge', value: 1 },
        { op: 'ipi', dest: cpu, vector: VECTOR },
      );
    }
    main.push({ op: 'done' });
    m.load(0, { main });
    for (let cpu = 1; cpu < ctx.cpus; cpu++) {
      const receiver: GuestProgram = {
        main: [ENABLE_APIC, ...idleLoop(1)],
        handlers: {
          [VECTOR]: [{ op: 'inc', var: `ack${cpu}` }, { op: 'work', ns: 5000 }, { op: 'eoi' }, { op: 'iret' }],
        },
      };
      m.load(cpu, receiver);
    }
  },
  notes(m, ctx) {
    const handled: string[] = [];
    for (let cpu = 1; cpu < ctx.cpus; cpu++) handled.push(`vCPU ${cpu} ${mem(m, `ack${cpu}`)} of 2`);
    return [`IPIs handled: ${handled.join(', ')}`];
  },
};
