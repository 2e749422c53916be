/**
 * The machine's seeded pseudo-random generator (mulberry32): the only randomness in a run, so the
 * same seed gives the same trace. Its state is one 32-bit integer, easy to snapshot.
 *
 * @module
 */
export class Prng {
  constructor(public state: number) {
    this.state = state >>> 0;
  }

  /** A uniformly distributed 32-bit unsigned integer. */
  nextU32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** An integer in 0..n-1 (n >= 1). */
  below(n: number): number {
    return Math.floor((this.nextU32() / 0x1_0000_0000) * n);
  }
}
