import { describe, expect, it } from 'vitest';
import { Scheduler } from '../../src/time/scheduler.js';
import { DELIVERY_STATUS, LEVEL, MASKED, makeIoApic, program, readLow, writeLow } from './helpers.js';

const V = 0x70;

/** A level line stuck active, threshold 3, back-off 1000 ns. */
function storming(threshold = 3, delay = 1000) {
  const clock = new Scheduler();
  const { io, router } = makeIoApic({ clock, stormThreshold: threshold, stormDelayNs: delay });
  program(io, 9, LEVEL | V);
  io.setPin(9, true);
  return { io, router, clock };
}

describe('interrupt-storm guard', () => {
  it('re-delivers immediately on the first stormThreshold EOIs with the line still active', () => {
    const { io, router } = storming();
    for (let i = 0; i < 3; i++) io.eoi(V);
    expect(router.messages).toHaveLength(4);
    expect(io.stats.stormDeferrals).toBe(0);
  });

  it('defers the next re-delivery and reads delivery status as send pending meanwhile', () => {
    const { io, router } = storming();
    for (let i = 0; i < 4; i++) io.eoi(V);
    expect(router.messages).toHaveLength(4);
    expect(io.stats.stormDeferrals).toBe(1);
    expect(io.remoteIrr(9)).toBe(false);
    expect(readLow(io, 9)).toBe(0x0000_9070); // level + delivery status, remote IRR clear
  });

  it('delivers the deferred interrupt exactly stormDelayNs later', () => {
    const { io, router, clock } = storming();
    for (let i = 0; i < 4; i++) io.eoi(V);
    clock.runUntil(999);
    expect(router.messages).toHaveLength(4);
    clock.runUntil(1000);
    expect(router.messages).toHaveLength(5);
    expect(io.remoteIrr(9)).toBe(true);
    expect(readLow(io, 9) & DELIVERY_STATUS).toBe(0);
  });

  it('restarts the successive count after the deferred delivery', () => {
    const { io, router, clock } = storming();
    for (let i = 0; i < 4; i++) io.eoi(V);
    clock.runUntil(1000);
    for (let i = 0; i < 3; i++) io.eoi(V);
    expect(router.messages).toHaveLength(8);
    io.eoi(V);
    expect(router.messages).toHaveLength(8);
    expect(io.stats.stormDeferrals).toBe(2);
  });

  it('restarts the successive count when the line is seen inactive', () => {
    const { io, router } = storming();
    io.eoi(V);
    io.eoi(V); // two immediate re-deliveries so far
    io.setPin(9, false);
    io.eoi(V);
    io.setPin(9, true); // a fresh interrupt
    for (let i = 0; i < 3; i++) io.eoi(V);
    expect(io.stats.stormDeferrals).toBe(0);
    expect(router.messages).toHaveLength(7);
  });

  it('restarts the successive count when the line blips inactive while the interrupt is in flight', () => {
    const { io, router } = storming();
    io.eoi(V);
    io.eoi(V); // count 2
    io.setPin(9, false);
    io.setPin(9, true); // coalesced: remote IRR is still set
    for (let i = 0; i < 3; i++) io.eoi(V);
    expect(io.stats.stormDeferrals).toBe(0);
    expect(router.messages).toHaveLength(6);
    io.eoi(V);
    expect(io.stats.stormDeferrals).toBe(1);
  });

  it('cancels a pending back-off when the line goes inactive', () => {
    const { io, router, clock } = storming();
    for (let i = 0; i < 4; i++) io.eoi(V);
    io.setPin(9, false);
    expect(readLow(io, 9) & DELIVERY_STATUS).toBe(0);
    expect(clock.pending()).toBe(0);
    clock.runUntil(5000);
    expect(router.messages).toHaveLength(4);
  });

  it('delivers a fresh assertion at once after a cancelled back-off', () => {
    const { io, router } = storming();
    for (let i = 0; i < 4; i++) io.eoi(V);
    io.setPin(9, false);
    io.setPin(9, true);
    expect(router.messages).toHaveLength(5);
  });

  it('does not deliver early when the guest rewrites or unmasks the entry during the back-off', () => {
    const { io, router, clock } = storming();
    for (let i = 0; i < 4; i++) io.eoi(V);
    writeLow(io, 9, MASKED | LEVEL | V);
    writeLow(io, 9, LEVEL | V);
    io.setPin(9, true);
    expect(router.messages).toHaveLength(4);
    clock.runUntil(1000);
    expect(router.messages).toHaveLength(5);
  });

  it('leaves a line masked at the deadline pending until unmasked', () => {
    const { io, router, clock } = storming();
    for (let i = 0; i < 4; i++) io.eoi(V);
    writeLow(io, 9, MASKED | LEVEL | V);
    clock.runUntil(1000);
    expect(router.messages).toHaveLength(4);
    expect(readLow(io, 9) & DELIVERY_STATUS).toBe(0);
    writeLow(io, 9, LEVEL | V);
    expect(router.messages).toHaveLength(5);
  });

  it('drops the back-off when the entry is switched to edge', () => {
    const { io, router, clock } = storming();
    for (let i = 0; i < 4; i++) io.eoi(V);
    writeLow(io, 9, V);
    expect(readLow(io, 9)).toBe(0x0000_0070);
    expect(clock.pending()).toBe(0);
    clock.runUntil(5000);
    expect(router.messages).toHaveLength(4);
  });

  it('keeps one clock event for several pins and delivers each at its own deadline', () => {
    const clock = new Scheduler();
    const { io, router } = makeIoApic({ clock, stormThreshold: 0, stormDelayNs: 1000 });
    program(io, 1, LEVEL | 0x41);
    program(io, 2, LEVEL | 0x42);
    io.setPin(1, true);
    io.setPin(2, true);
    io.eoi(0x41); // deadline 1000
    clock.runUntil(500);
    io.eoi(0x42); // deadline 1500
    expect(clock.pending()).toBe(1);
    clock.runUntil(1000);
    expect(router.vectors()).toEqual([0x41, 0x42, 0x41]);
    clock.runUntil(1500);
    expect(router.vectors()).toEqual([0x41, 0x42, 0x41, 0x42]);
    expect(clock.pending()).toBe(0);
  });

  it('with threshold 0, defers the first re-delivery', () => {
    const { io, router } = storming(0);
    io.eoi(V);
    expect(router.messages).toHaveLength(1);
    expect(io.stats.stormDeferrals).toBe(1);
  });

  it('without a clock, re-delivers immediately and only counts', () => {
    const { io, router } = makeIoApic({ stormThreshold: 2 });
    program(io, 9, LEVEL | V);
    io.setPin(9, true);
    for (let i = 0; i < 6; i++) io.eoi(V);
    expect(router.messages).toHaveLength(7);
    expect(io.stats.stormDeferrals).toBe(2); // the 3rd and 6th EOI
    expect(readLow(io, 9) & DELIVERY_STATUS).toBe(0);
  });

  it('defaults to 10000 immediate re-deliveries and a 10 ms back-off (KVM, QEMU)', () => {
    const clock = new Scheduler();
    const { io, router } = makeIoApic({ clock });
    program(io, 9, LEVEL | V);
    io.setPin(9, true);
    for (let i = 0; i < 10_000; i++) io.eoi(V);
    expect(router.messages).toHaveLength(10_001);
    io.eoi(V);
    expect(router.messages).toHaveLength(10_001);
    clock.runUntil(9_999_999);
    expect(router.messages).toHaveLength(10_001);
    clock.runUntil(10_000_000);
    expect(router.messages).toHaveLength(10_002);
  });

  it('is cancelled by reset()', () => {
    const { io, router, clock } = storming();
    for (let i = 0; i < 4; i++) io.eoi(V);
    io.reset();
    expect(clock.pending()).toBe(0);
    clock.runUntil(5000);
    expect(router.messages).toHaveLength(4);
  });

  it('gives the same trace for the same inputs', () => {
    const run = (): number[] => {
      const { io, router, clock } = storming(2, 300);
      const times: number[] = [];
      router.onMessage = () => times.push(clock.now());
      for (let step = 0; step < 20; step++) {
        io.eoi(V);
        clock.runUntil(clock.now() + 100);
      }
      return times;
    };
    const a = run();
    expect(a).toEqual(run());
    // The first delivery (t=0, setPin) predates onMessage; then two immediate, one deferred...
    expect(a.slice(0, 7)).toEqual([0, 100, 500, 500, 600, 1000, 1000]);
  });
});
