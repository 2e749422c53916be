/**
 * scheduler-timers: 1,000 LocalApics on one Scheduler, each with an armed periodic timer, run on
 * virtual time. One op = one timer event: the scheduler pops the earliest expiry, the timer
 * re-arms itself for its next period (a new schedule) and delivers its LVT vector to IRR.
 */
import { LocalApic } from '../src/apic/local-apic.js';
import { Scheduler } from '../src/time/scheduler.js';
import type { Bench } from './common.js';

export const TIMERS = 1000;

export interface TimerState {
  scheduler: Scheduler;
  apics: LocalApic[];
}

/**
 * 1,000 periodic timers with different periods (1,000..1,999 ticks of 1 ns at divide-by-1) and a
 * minimum period of 1 ns, so every timer really fires at its own period.
 */
export function timersSetup(): TimerState {
  const scheduler = new Scheduler();
  const apics: LocalApic[] = [];
  for (let i = 0; i < TIMERS; i++) {
    const apic = new LocalApic({ id: i & 0xff, clock: scheduler, minTimerPeriodNs: 1 }) // no bus: IDs need not be unique;
    apic.writeRegister(0xf0, 0x1ff); // SVR: enabled
    apic.writeRegister(0x3e0, 0xb); // divide by 1
    apic.writeRegister(0x320, (1 << 17) | 0x40); // LVT timer: periodic, vector 0x40, unmasked
    apic.writeRegister(0x380, 1000 + i); // initial count: arms the timer
    apics.push(apic);
  }
  return { scheduler, apics };
}

/** Runs until `n` timer events have fired (in whole virtual-time slices); returns the count. */
export function timersRun(st: TimerState, n: number): number {
  const s = st.scheduler;
  let fired = 0;
  // The average period is ~1,500 ns, so 1,000 timers fire about 2/3 of an event per ns.
  while (fired < n) {
    const before = s.pending(); // keeps V8 from hoisting; the count below is exact
    for (let k = 0; k < 4096 && fired < n; k++) {
      if (!s.step()) return fired;
      fired++;
    }
    if (before < 0) break;
  }
  return fired;
}

export const schedulerBenches: Bench<TimerState>[] = [
  {
    name: 'scheduler-timers',
    unit: 'event',
    ops: 3_000_000,
    does:
      'Scheduler.step() on 1,000 armed periodic LAPIC timers (periods 1,000..1,999 ns, minTimerPeriodNs 1): pop the earliest expiry, re-arm the next period (schedule), deliver the LVT timer vector to IRR',
    setup: timersSetup,
    run: timersRun,
  },
];
