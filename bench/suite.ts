/**
 * The registry of named benchmarks, in the order `npm run bench` runs them.
 */
import type { Bench } from './common.js';
import { ioapicBenches } from './ioapic.js';
import { ipiBenches } from './ipi.js';
import { lapicBenches } from './lapic.js';
import { machineBenches } from './machine.js';
import { picBenches } from './pic.js';
import { schedulerBenches } from './scheduler.js';

export const SUITE: readonly Bench<any>[] = [
  ...lapicBenches, // lapic-cycle, lapic-burst16
  ...ioapicBenches, // ioapic-level-cycle
  ...picBenches, // pic-cycle
  ...ipiBenches, // ipi-unicast, ipi-broadcast-4, -64, -1024
  ...schedulerBenches, // scheduler-timers
  ...machineBenches, // machine-pingpong-<backend>, one per injection backend
];
