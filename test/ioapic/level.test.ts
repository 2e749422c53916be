import { describe, expect, it } from 'vitest';
import { LEVEL, MASKED, makeIoApic, program, readLow, writeIndex, writeLow } from './helpers.js';

const V = 0x30;

describe('level-triggered entries', () => {
  it('deliver a level message when the line goes active and set remote IRR', () => {
    const { io, router } = makeIoApic();
    program(io, 5, LEVEL | V, 0x0200_0000);
    io.setPin(5, true);
    expect(router.messages).toEqual([{ destination: 0x02, logical: false, deliveryMode: 0, vector: V, level: true }]);
    expect(io.remoteIrr(5)).toBe(true);
    expect(readLow(io, 5)).toBe(0x0000_c030);
  });

  it('do not re-deliver while remote IRR is set', () => {
    const { io, router } = makeIoApic();
    program(io, 5, LEVEL | V);
    io.setPin(5, true);
    io.setPin(5, true);
    io.setPin(5, false);
    io.setPin(5, true);
    expect(router.messages).toHaveLength(1);
    expect(io.stats.coalescedLevels).toBe(1);
  });

  it('re-deliver on EOI while the line is still active', () => {
    const { io, router } = makeIoApic();
    program(io, 5, LEVEL | V);
    io.setPin(5, true);
    io.eoi(V);
    expect(router.vectors()).toEqual([V, V]);
    expect(io.remoteIrr(5)).toBe(true);
    expect(io.stats.eois).toBe(1);
  });

  it('clear remote IRR on EOI without re-delivery once the line went inactive', () => {
    const { io, router } = makeIoApic();
    program(io, 5, LEVEL | V);
    io.setPin(5, true);
    io.setPin(5, false);
    io.eoi(V);
    expect(router.messages).toHaveLength(1);
    expect(io.remoteIrr(5)).toBe(false);
  });

  it('deliver a new assertion after the EOI', () => {
    const { io, router } = makeIoApic();
    program(io, 5, LEVEL | V);
    io.setPin(5, true);
    io.setPin(5, false);
    io.eoi(V);
    io.setPin(5, true);
    expect(router.messages).toHaveLength(2);
  });

  it('hold a masked active line pending and deliver it when unmasked', () => {
    const { io, router } = makeIoApic();
    program(io, 5, MASKED | LEVEL | V);
    io.setPin(5, true);
    expect(router.messages).toHaveLength(0);
    writeLow(io, 5, LEVEL | V);
    expect(router.messages).toHaveLength(1);
    expect(io.remoteIrr(5)).toBe(true);
  });

  it('deliver nothing on unmask if the line went inactive while masked', () => {
    const { io, router } = makeIoApic();
    program(io, 5, MASKED | LEVEL | V);
    io.setPin(5, true);
    io.setPin(5, false);
    writeLow(io, 5, LEVEL | V);
    expect(router.messages).toHaveLength(0);
  });

  it('keep remote IRR when masked in flight; the EOI clears it and unmask re-delivers', () => {
    const { io, router } = makeIoApic();
    program(io, 5, LEVEL | V);
    io.setPin(5, true);
    writeLow(io, 5, MASKED | LEVEL | V);
    expect(io.remoteIrr(5)).toBe(true);
    io.eoi(V);
    expect(io.remoteIrr(5)).toBe(false);
    expect(router.messages).toHaveLength(1);
    writeLow(io, 5, LEVEL | V);
    expect(router.messages).toHaveLength(2);
  });

  it('clear remote IRR when the entry is switched to edge (KVM a8bfec293052)', () => {
    const { io } = makeIoApic();
    program(io, 5, LEVEL | V);
    io.setPin(5, true);
    writeLow(io, 5, MASKED | V);
    expect(io.remoteIrr(5)).toBe(false);
    expect(readLow(io, 5)).toBe(0x0001_0030);
  });

  it('support the Linux edge/level EOI sequence on a version 0x11 chip', () => {
    // __eoi_ioapic_pin without an EOI register: mask + edge, then level, then unmask.
    const { io, router } = makeIoApic({ version: 0x11 });
    program(io, 5, LEVEL | V);
    io.setPin(5, true);
    writeLow(io, 5, MASKED | V);
    writeLow(io, 5, MASKED | LEVEL | V);
    writeLow(io, 5, LEVEL | V);
    expect(router.messages).toHaveLength(2);
    expect(io.remoteIrr(5)).toBe(true);
  });

  it('deliver when an active line is switched from edge to level', () => {
    const { io, router } = makeIoApic();
    program(io, 5, MASKED | V);
    io.setPin(5, true);
    writeLow(io, 5, LEVEL | V);
    expect(router.messages).toEqual([{ destination: 0, logical: false, deliveryMode: 0, vector: V, level: true }]);
  });

  it('leave remote IRR clear when no local APIC accepts', () => {
    const { io, router } = makeIoApic();
    router.accept = 0;
    program(io, 5, LEVEL | V);
    io.setPin(5, true);
    expect(router.messages).toHaveLength(1);
    expect(io.remoteIrr(5)).toBe(false);
    expect(io.stats.unaccepted).toBe(1);
  });

  it('retry an unaccepted level interrupt on a repeated assertion', () => {
    const { io, router } = makeIoApic();
    router.accept = 0;
    program(io, 5, LEVEL | V);
    io.setPin(5, true);
    router.accept = 1;
    io.setPin(5, true);
    expect(router.messages).toHaveLength(2);
    expect(io.remoteIrr(5)).toBe(true);
  });

  it('retry an unaccepted level interrupt when the guest rewrites the destination', () => {
    const { io, router } = makeIoApic();
    router.accept = 0;
    program(io, 5, LEVEL | V, 0x0700_0000);
    io.setPin(5, true);
    router.accept = 1;
    writeIndex(io, 0x10 + 2 * 5 + 1, 0x0100_0000);
    expect(router.messages.map((m) => m.destination)).toEqual([0x07, 0x01]);
    expect(io.remoteIrr(5)).toBe(true);
  });

  it('work with a router that EOIs synchronously inside routeMessage', () => {
    const { io, router } = makeIoApic();
    program(io, 5, LEVEL | V);
    let first = true;
    router.onMessage = () => {
      if (!first) return;
      first = false;
      io.eoi(V);
    };
    io.setPin(5, true);
    expect(router.messages).toHaveLength(2);
    expect(io.remoteIrr(5)).toBe(true);
    io.setPin(5, false);
    io.eoi(V);
    expect(io.remoteIrr(5)).toBe(false);
  });
});
