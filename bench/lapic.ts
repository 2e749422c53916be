/**
 * Local APIC benchmarks, written to do exactly what bench/apic_model.c does (same seed,
 * same vector sequence, same acknowledge loop, same EOI loop) so that `npm run bench:compare` can
 * put the two side by side.
 */
import { LocalApic } from '../src/apic/local-apic.js';
import { Scheduler } from '../src/time/scheduler.js';
import * as rng from './common.js';
import { type Bench, XORSHIFT_SEED } from './common.js';

/** A software-enabled xAPIC with no bus and no event handler (as the C model: one APIC alone). */
export function enabledApic(): LocalApic {
  const apic = new LocalApic({ id: 0, clock: new Scheduler() });
  apic.writeRegister(0xf0, 0x1ff); // SVR: software enable, spurious vector 0xFF
  return apic;
}

/**
 * lapic-cycle, one op: acceptInterrupt(v, level = (v & 7) === 0) with v = 32 + xorshift() % 224;
 * pendingVector(); if it is >= 0: acknowledge() and eoi() (which broadcasts nothing: no bus).
 * C: accept(); pending(); ack(); eoi().
 */
export function lapicCycle(apic: LocalApic, n: number): number {
  let s = XORSHIFT_SEED | 0;
  let sink = 0;
  for (let i = 0; i < n; i++) {
    // xorshift32 and 32 + u32 % 224, inline as in the C model (see common.ts)
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    const v = 32 + ((s >>> 0) % 224);
    apic.acceptInterrupt(v, (v & 7) === 0);
    if (apic.pendingVector() >= 0) {
      sink += apic.acknowledge();
      apic.eoi();
    }
  }
  return sink;
}

/**
 * lapic-burst16, 16 ops (one op = one raised vector): 16 x acceptInterrupt(v, edge); then
 * acknowledge() while pendingVector() >= 0; then eoi() until highestInService() < 0.
 * C: 16 x accept(); while (pending() >= 0) ack(); while (eoi() != -1 || highest(ISR) >= 0) {}.
 *
 * Note what this workload really is (in C as here): after the highest pending vector is
 * acknowledged, PPR holds its class and nothing left in IRR can beat it, so each burst
 * acknowledges and EOIs one vector and the other 15 stay in IRR. IRR fills up, and in the steady
 * state most acceptances coalesce into an IRR bit that is already set.
 */
export function lapicBurst16(apic: LocalApic, n: number): number {
  let s = XORSHIFT_SEED | 0;
  let sink = 0;
  const bursts = Math.floor(n / 16);
  for (let i = 0; i < bursts; i++) {
    for (let k = 0; k < 16; k++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      apic.acceptInterrupt(32 + ((s >>> 0) % 224), false);
    }
    while (apic.pendingVector() >= 0) sink += apic.acknowledge();
    do apic.eoi();
    while (apic.highestInService() >= 0);
  }
  return sink;
}

/**
 * The checksum apic_model.c prints for `n` (the `sink` line): the sum of acknowledged vectors and
 * of EOI results (the vector when level-triggered, else -1) in the cycle loop, plus the sum of
 * acknowledged vectors in the burst loop, which continues on the same APIC and random sequence.
 * Not timed: `bench:compare` uses it to prove both sides did the same work.
 */
export function cModelChecksum(n: number): number {
  const { xorshiftStep, vectorFrom } = rng;
  const apic = enabledApic();
  let s = XORSHIFT_SEED | 0;
  let sink = 0;
  for (let i = 0; i < n; i++) {
    s = xorshiftStep(s);
    const v = vectorFrom(s);
    apic.acceptInterrupt(v, (v & 7) === 0);
    if (apic.pendingVector() >= 0) {
      sink += apic.acknowledge();
      const top = apic.highestInService();
      const level = top >= 0 && apic.isLevelTriggered(top);
      apic.eoi();
      sink += level ? top : -1;
    }
  }
  const bursts = Math.floor(n / 16);
  for (let i = 0; i < bursts; i++) {
    for (let k = 0; k < 16; k++) {
      s = xorshiftStep(s);
      apic.acceptInterrupt(vectorFrom(s), false);
    }
    while (apic.pendingVector() >= 0) sink += apic.acknowledge();
    do apic.eoi();
    while (apic.highestInService() >= 0);
  }
  return sink;
}

export const lapicBenches: Bench<LocalApic>[] = [
  {
    name: 'lapic-cycle',
    unit: 'cycle',
    ops: 5_000_000,
    does:
      'acceptInterrupt(v = 32 + xorshift32() % 224, level = (v & 7) === 0), pendingVector(), acknowledge(), eoi(); one LocalApic, no bus',
    setup: enabledApic,
    run: lapicCycle,
  },
  {
    name: 'lapic-burst16',
    unit: 'vector',
    ops: 8_000_000,
    does:
      'per 16 vectors: 16 x acceptInterrupt(v, edge); acknowledge() while pendingVector() >= 0; eoi() until highestInService() < 0 (the loops of apic_model.c)',
    setup: enabledApic,
    run: lapicBurst16,
  },
];
