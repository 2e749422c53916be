/**
 * Virtual-time costs of what a vCPU and its hypervisor do. The defaults are round numbers in the
 * range published measurements give for current x86 servers (a VM exit/entry round trip of about
 * a microsecond on both VMX and SVM, a physical IPI of a few hundred nanoseconds, waking a
 * blocked vCPU thread of a few microseconds); they set the scale of races, not exact timings, so
 * change them freely.
 *
 * @module
 */
import { checkInt, checkObject } from '../errors.js';

export interface Costs {
  /** An ordinary guest instruction (sti, cli, nop, shared-memory access, a spin check). Default 1. */
  instructionNs: number;
  /** An APIC access the hardware virtualizes without an exit (VID: TPR, EOI, self-IPI, reads). Default 20. */
  apicAccessNs: number;
  /** A VM exit handled in the hypervisor and the VM entry after it, round trip. Default 1000. */
  vmExitNs: number;
  /** A physical IPI between host CPUs: a kick, or a posted-interrupt notification. Default 300. */
  ipiLatencyNs: number;
  /** Waking a vCPU whose thread blocked in HLT. Default 3000. */
  wakeLatencyNs: number;
  /** Event delivery through the IDT into a handler. Default 50. */
  deliveryNs: number;
  /**
   * Random extra cost, as a fraction of each cost (0..1), drawn from the machine's seeded PRNG so
   * the same seed gives the same run. Default 0 (no jitter).
   */
  jitter: number;
}

export const DEFAULT_COSTS: Readonly<Costs> = Object.freeze({
  instructionNs: 1,
  apicAccessNs: 20,
  vmExitNs: 1000,
  ipiLatencyNs: 300,
  wakeLatencyNs: 3000,
  deliveryNs: 50,
  jitter: 0,
});

const COST_KEYS = Object.keys(DEFAULT_COSTS) as Array<keyof Costs>;

/** Merges user costs over the defaults. @throws RangeError / TypeError naming the bad field. */
export function resolveCosts(partial: Partial<Costs> | undefined): Costs {
  if (partial !== undefined) checkObject('costs', partial);
  const costs: Costs = { ...DEFAULT_COSTS };
  for (const [key, value] of Object.entries(partial ?? {})) {
    if (!COST_KEYS.includes(key as keyof Costs)) throw new RangeError(`costs.${key} is not a known cost (${COST_KEYS.join(', ')})`);
    if (key === 'jitter') {
      if (typeof value !== 'number' || !(value >= 0 && value <= 1)) throw new RangeError(`costs.jitter must be a number in 0..1, got ${String(value)}`);
      costs.jitter = value;
      continue;
    }
    // An instruction must take time, or a guest loop would stop virtual time (run() would never
    // return); everything else may be free.
    costs[key as keyof Costs] = checkInt(`costs.${key}`, value, key === 'instructionNs' ? 1 : 0, 1e12);
  }
  return costs;
}
