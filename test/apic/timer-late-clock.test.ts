/**
 * A host clock may run callbacks late (DESIGN.md "Embedding"): a periodic timer re-arms from the
 * due time of the expiry, never from the clock's now() inside the late callback, so its expiries
 * stay on the k x period grid. (The example: a 1 ms periodic timer whose callback runs
 * 776 ns late drifted by 776 ns every period.)
 */
import { describe, expect, it } from 'vitest';
import { LocalApic } from '../../src/apic/local-apic.js';
import type { Clock } from '../../src/time/clock.js';
import { Scheduler } from '../../src/time/scheduler.js';

/** A Clock that runs every callback `lateNs` after its time, recording when each one ran. */
class LateClock implements Clock {
  readonly ran: number[] = [];
  constructor(
    readonly inner: Scheduler,
    readonly lateNs: number,
  ) {}
  now(): number {
    return this.inner.now();
  }
  schedule(atNs: number, fn: () => void): number {
    return this.inner.schedule(atNs + this.lateNs, () => {
      this.ran.push(this.inner.now());
      fn();
    });
  }
  cancel(id: number): void {
    this.inner.cancel(id);
  }
}

function periodic1ms(clock: Clock): LocalApic {
  const apic = new LocalApic({ id: 0, clock });
  apic.writeRegister(0xf0, 0x1ff);
  apic.writeRegister(0x3e0, 0xb); // divide by 1 at 1 GHz: 1 tick = 1 ns
  apic.writeRegister(0x320, (1 << 17) | 0x40);
  apic.writeRegister(0x380, 1_000_000);
  return apic;
}

describe('periodic timer on a clock that runs callbacks late', () => {
  it('a periodic timer whose callbacks run 776 ns late keeps every expiry on the k x period grid', () => {
    const clock = new LateClock(new Scheduler(), 776);
    const apic = periodic1ms(clock);
    clock.inner.runUntil(10_000_000);
    // Each expiry is 776 ns late, never 776 * k.
    expect(clock.ran).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9].map((k) => k * 1_000_000 + 776));
    expect(apic.stats.timerFires).toBe(9);
    // The count runs on the grid too: 1 ns before the 10th due time it reads 1.
    clock.inner.runUntil(10_999_999);
    expect(apic.readRegister(0x390)).toBe(1);
  });

  it('a callback later than a whole period still keeps the grid: the next expiry is due at once', () => {
    const clock = new LateClock(new Scheduler(), 2_500_000);
    const apic = periodic1ms(clock);
    clock.inner.runUntil(6_000_000);
    // Due at 1, 2, 3 ms: the first runs at 3.5 ms; its successor (due 2 ms) is already past and
    // runs at once (plus the clock's lateness), and so on.
    expect(clock.ran[0]).toBe(3_500_000);
    expect(clock.ran.slice(1)).toEqual([6_000_000]);
    // The current count follows the grid, whatever the callbacks did: at 6 ms a period ends.
    expect(apic.readRegister(0x390)).toBe(1_000_000);
  });
});
