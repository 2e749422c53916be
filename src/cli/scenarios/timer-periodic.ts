/**
 * `timer-periodic`: the local APIC timer in periodic mode on every vCPU, as a tickful kernel uses
 * it (a 250 us period: HZ = 4000, above the 200 us minimum period KVM and the model enforce).
 *
 * @module
 */
import type { GuestProgram } from '../../guest/program.js';
import { ENABLE_APIC, idleLoop, mem, type Scenario } from './types.js';

/** Linux's LOCAL_TIMER_VECTOR. */
const VECTOR = 0xec;
const PERIOD_NS = 250_000;

export const timerPeriodic: Scenario = {
  name: 'timer-periodic',
  description: 'the LAPIC timer in periodic mode on every vCPU (250 us), idle in HLT between ticks',
  details: [
    'Every vCPU enables its local APIC, sets the timer divide to 1 (TDCR = 0xB), programs LVT',
    'timer periodic with vector 0xEC and an initial count of 250,000 ticks of the 1 GHz timer clock',
    '(250 us), then idles in HLT. The handler counts the tick and EOIs. Each tick wakes a halted',
    'vCPU: the exits show what a tickful idle guest costs under each backend.',
  ].join('\n'),
  cpus: { default: 4, min: 1, max: 64 },
  untilNs: 10_000_000,
  explainHint: '0:0xec',
  setup(m, ctx) {
    for (let cpu = 0; cpu < ctx.cpus; cpu++) {
      const program: GuestProgram = {
        main: [
          ENABLE_APIC,
          { op: 'mmio-write', offset: 0x3e0, value: 0xb }, // TDCR: divide by 1
          { op: 'mmio-write', offset: 0x320, value: (1 << 17) | VECTOR }, // LVT timer: periodic
          { op: 'mmio-write', offset: 0x380, value: PERIOD_NS }, // TMICT: starts the timer
          ...idleLoop(4),
        ],
        handlers: { [VECTOR]: [{ op: 'inc', var: `ticks${cpu}` }, { op: 'eoi' }, { op: 'iret' }] },
      };
      m.load(cpu, program);
    }
  },
  notes(m, ctx) {
    const ticks: string[] = [];
    for (let cpu = 0; cpu < ctx.cpus; cpu++) ticks.push(String(mem(m, `ticks${cpu}`)));
    return [`timer ticks per vCPU: ${ticks.join(' ')} (period ${PERIOD_NS / 1000} us)`];
  },
};
