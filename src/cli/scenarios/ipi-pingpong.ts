/**
 * `ipi-pingpong`: a token passed around the vCPUs by fixed IPIs.
 *
 * @module
 */
import type { GuestProgram } from '../../guest/program.js';
import { ENABLE_APIC, mem, type Scenario } from './types.js';

const VECTOR = 0x50;
const ROUNDS = 100;

export const ipiPingpong: Scenario = {
  name: 'ipi-pingpong',
  description: `a token passed around the vCPUs by IPI, ${ROUNDS} rounds: exits and latency per backend`,
  details: [
    `vCPU 0 sends vector 0x50 to vCPU 1; each handler counts the token, EOIs and passes it to the`,
    `next vCPU (the last back to vCPU 0), for ${ROUNDS} rounds. Between tokens every vCPU waits on a`,
    'shared variable with IF = 1 (a spin that does not exit). The run ends when every vCPU has',
    `seen ${ROUNDS} tokens; a lost IPI stops the ring early.`,
  ].join('\n'),
  cpus: { default: 2, min: 2, max: 64 },
  untilNs: 100_000_000,
  explainHint: '1:0x50',
  setup(m, ctx) {
    const n = ctx.cpus;
    for (let cpu = 0; cpu < n; cpu++) {
      const next = (cpu + 1) % n;
      const got = `got${cpu}`;
      const program: GuestProgram = {
        main: [
          ENABLE_APIC,
          ...(cpu === 0 ? [{ op: 'ipi', dest: next, vector: VECTOR } as const] : []),
          { op: 'sti' },
          { op: 'wait', var: got, cmp: 'ge', value: ROUNDS },
          { op: 'done' },
        ],
        handlers: {
          [VECTOR]: [
            { op: 'inc', var: got },
            { op: 'eoi' },
            // vCPU 0 stops passing the token once it has seen every round.
            ...(cpu === 0 ? [{ op: 'branch', var: got, cmp: 'ge', value: ROUNDS, to: 4 } as const] : []),
            { op: 'ipi', dest: next, vector: VECTOR },
            { op: 'iret' },
          ],
        },
      };
      m.load(cpu, program);
    }
  },
  notes(m, ctx) {
    const got: string[] = [];
    for (let cpu = 0; cpu < ctx.cpus; cpu++) got.push(String(mem(m, `got${cpu}`)));
    return [`tokens seen per vCPU: ${got.join(' ')} (of ${ROUNDS})`];
  },
};
