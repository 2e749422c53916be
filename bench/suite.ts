/**
 * The registry of named benchmarks, in the order `npm run bench` runs them.
 */
import type { Bench } from './common.js';
import { ioapicBenches } from './ioapic.js';
import { ipiBenches } from './ipi.js';
import { lapicBenches } from './lapic.js';
import { picBenches } from './pic.js';
import { schedulerBenches } from './scheduler.js';

export const SUITE: readonly Bench<any>[] = [
  ...lapicBenches, // lapic-cycle, lapic-burst16
  ...ioapicBenches, // ioapic-level-cycle
  ...picBenches, // pic-cycle
  ...ipiBenches, // ipi-unicast, ipi-broadcast-4, -64, -1024
  ...schedulerBenches, // scheduler-timers
  // TODO(machine-pingpong): two vCPUs of a Machine sending each other IPIs through a backend
  // (issue 6). Register it here once the Machine benchmark is written; it is not part of this
  // suite yet.
];
