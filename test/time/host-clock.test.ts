/**
 * Host-driven time (issue 13.4 b, docs/scheduler.md "Host-driven time"): a HostClock turns the
 * host's time source into monotonic integer ns, and a LocalApic on it syncs before every
 * guest-visible access, so the host never advances anything itself.
 */
import { describe, expect, it } from 'vitest';
import { LocalApic } from '../../src/apic/local-apic.js';
import { HostClock } from '../../src/time/host-clock.js';
import { MAX_TIME_NS, Scheduler } from '../../src/time/scheduler.js';

/** A host time source the test sets by hand. */
function host(start: number | bigint = 0): { t: number | bigint; read: () => number | bigint } {
  const h = { t: start, read: () => h.t };
  return h;
}

describe('HostClock conversion', () => {
  it('float milliseconds round to the nearest ns (0.3 ms is 300,000 ns, not 299,999)', () => {
    const h = host(1000.0);
    const c = new HostClock({ read: h.read });
    h.t = 1000.3;
    expect(c.sync()).toBe(300_000);
    h.t = 1000.0000004; // 0.4 ns
    expect(c.sync()).toBe(300_000); // earlier than now: clamped
  });

  it('microseconds and seconds scale by their unit', () => {
    const hu = host(5);
    const us = new HostClock({ read: hu.read, unit: 'us' });
    hu.t = 7.5;
    expect(us.sync()).toBe(2_500);
    const hs = host(0);
    const s = new HostClock({ read: hs.read, unit: 's' });
    hs.t = 1.25;
    expect(s.sync()).toBe(1_250_000_000);
  });

  it('a counter with a frequency floors ticks x 1e9 / hz (never ahead of the counter)', () => {
    const h = host(10);
    const c = new HostClock({ read: h.read, hz: 3 });
    h.t = 11; // one tick = 333,333,333.3 ns
    expect(c.sync()).toBe(333_333_333);
    h.t = 13;
    expect(c.sync()).toBe(1_000_000_000);
  });

  it('a bigint counter beyond 2^53 converts exactly', () => {
    const h = host(2n ** 60n);
    const c = new HostClock({ read: h.read, hz: 2_400_000_000 });
    h.t = 2n ** 60n + 2_400_000_001n;
    expect(c.sync()).toBe(1_000_000_000); // 1 s and 1/2.4 ns: floored
  });

  it('a backwards step is clamped (time stays) and counted', () => {
    const h = host(0);
    const c = new HostClock({ read: h.read });
    h.t = 2;
    expect(c.sync()).toBe(2_000_000);
    h.t = 1;
    expect(c.sync()).toBe(2_000_000);
    expect(c.backwardSteps).toBe(1);
    h.t = 3;
    expect(c.sync()).toBe(3_000_000);
  });

  it('time never passes MAX_TIME_NS', () => {
    const h = host(0);
    const c = new HostClock({ read: h.read, unit: 'ns' });
    h.t = 1e300;
    expect(c.sync()).toBe(MAX_TIME_NS);
  });

  it('the virtual time starts at the scheduler time the clock is built on', () => {
    const s = new Scheduler();
    s.runUntil(1_000);
    const h = host(50);
    const c = new HostClock({ read: h.read, scheduler: s });
    h.t = 51;
    expect(c.sync()).toBe(1_001_000);
  });

  it('a host reading that is not a time is host misuse: TypeError / RangeError, nothing changes', () => {
    const h = host(0);
    const c = new HostClock({ read: h.read });
    h.t = 1;
    c.sync();
    h.t = NaN;
    expect(() => c.sync()).toThrow(RangeError);
    h.t = Infinity;
    expect(() => c.sync()).toThrow(RangeError);
    (h as { t: unknown }).t = '5';
    expect(() => c.sync()).toThrow(TypeError);
    expect(c.now()).toBe(1_000_000);
    const k = host(0);
    const counter = new HostClock({ read: k.read, hz: 1000 });
    k.t = 1.5;
    expect(() => counter.sync()).toThrow(RangeError);
  });

  it('bad options are rejected with named errors', () => {
    expect(() => new HostClock({} as never)).toThrow(/read must be a function/);
    expect(() => new HostClock({ read: () => 0, unit: 'min' as never })).toThrow(RangeError);
    expect(() => new HostClock({ read: () => 0, hz: 0 })).toThrow(RangeError);
    expect(() => new HostClock({ read: () => 0, hz: 10, unit: 'ms' })).toThrow(TypeError);
    expect(() => new HostClock({ read: () => 0, scheduler: {} as never })).toThrow(TypeError);
  });
});

function apicOn(clock: HostClock): LocalApic {
  const apic = new LocalApic({ id: 0, clock });
  apic.writeRegister(0xf0, 0x1ff);
  apic.writeRegister(0x3e0, 0xb); // divide by 1: 1 tick = 1 ns
  return apic;
}

describe('a LocalApic on a HostClock advances itself at guest-visible accesses', () => {
  it('the current count reads the host time without the host advancing anything', () => {
    const h = host(0);
    const apic = apicOn(new HostClock({ read: h.read }));
    apic.writeRegister(0x320, 0x40);
    apic.writeRegister(0x380, 5_000_000);
    h.t = 1.25; // 1.25 ms
    expect(apic.readRegister(0x390)).toBe(3_750_000);
    expect(apic.readMsr(0x839)).toBeUndefined(); // xAPIC: #GP, but time still synced
  });

  it('a timer armed after the host time moved starts from the host time (it does not fire early)', () => {
    const h = host(0);
    const clock = new HostClock({ read: h.read });
    const apic = apicOn(clock);
    apic.writeRegister(0x320, 0x40);
    h.t = 10; // the host ran 10 ms without touching the APIC
    apic.writeRegister(0x380, 1_000_000); // 1 ms from now = 11 ms
    h.t = 10.999;
    expect(apic.pendingVector()).toBe(-1);
    expect(apic.stats.timerFires).toBe(0);
    h.t = 11;
    expect(apic.pendingVector()).toBe(0x40);
  });

  it('a due timer interrupt is pending at the next pendingVector/acknowledge, with no host step', () => {
    const h = host(0);
    const apic = apicOn(new HostClock({ read: h.read }));
    apic.writeRegister(0x320, 0x41);
    apic.writeRegister(0x380, 2_000);
    h.t = 0.002;
    expect(apic.acknowledge()).toBe(0x41);
  });

  it('a periodic timer read at irregular, late host times keeps the k x period grid', () => {
    const h = host(0);
    const apic = apicOn(new HostClock({ read: h.read }));
    apic.writeRegister(0x320, (1 << 17) | 0x42);
    apic.writeRegister(0x380, 1_000_000); // 1 ms period
    for (const ms of [1.000776, 2.5, 2.9, 5.0001, 7.3]) {
      h.t = ms;
      apic.readRegister(0x390);
    }
    expect(apic.stats.timerFires).toBe(7);
    // 7.3 ms is 0.3 ms into the 8th period: the count is on the grid.
    expect(apic.readRegister(0x390)).toBe(700_000);
  });

  it('inside a callback sync() does not move time (a callback sees its due time)', () => {
    const h = host(0);
    const clock = new HostClock({ read: h.read });
    const seen: number[] = [];
    clock.schedule(1_000, () => {
      h.t = 5; // the host clock moved while the callback runs
      seen.push(clock.sync(), clock.now());
    });
    h.t = 0.002;
    expect(clock.sync()).toBe(2_000);
    expect(seen).toEqual([1_000, 1_000]);
  });
});
