import { describe, expect, it } from 'vitest';
import { ACTIVE_LOW, LEVEL, MASKED, makeIoApic, program, writeLow } from './helpers.js';

describe('interrupt input pin polarity (§3.2.4 bit 13)', () => {
  it('delivers an active-low edge entry when the wire goes high -> low', () => {
    const { io, router } = makeIoApic();
    io.setPin(2, true); // idle high
    program(io, 2, ACTIVE_LOW | 0x33);
    expect(router.messages).toHaveLength(0);
    io.setPin(2, false);
    expect(router.vectors()).toEqual([0x33]);
    io.setPin(2, true);
    expect(router.messages).toHaveLength(1);
  });

  it('delivers an active-low level entry while the wire is low and re-delivers on EOI', () => {
    const { io, router } = makeIoApic();
    io.setPin(2, true);
    program(io, 2, ACTIVE_LOW | LEVEL | 0x33);
    io.setPin(2, false);
    io.eoi(0x33);
    expect(router.vectors()).toEqual([0x33, 0x33]);
    io.setPin(2, true);
    io.eoi(0x33);
    expect(router.messages).toHaveLength(2);
    expect(io.remoteIrr(2)).toBe(false);
  });

  it('reports the raw wire in pinLevel and the asserted state in pinActive', () => {
    const { io } = makeIoApic();
    program(io, 2, MASKED | ACTIVE_LOW | 0x33);
    expect(io.pinLevel(2)).toBe(false);
    expect(io.pinActive(2)).toBe(true);
    io.setPin(2, true);
    expect(io.pinLevel(2)).toBe(true);
    expect(io.pinActive(2)).toBe(false);
  });

  it('fires an active-low level entry programmed over a wire the host never raised', () => {
    // The host must drive idle active-low lines high before the guest unmasks them.
    const { io, router } = makeIoApic();
    program(io, 2, ACTIVE_LOW | LEVEL | 0x33);
    expect(router.messages).toHaveLength(1);
  });

  it('does not turn a polarity change into an edge on an edge-triggered entry', () => {
    const { io, router } = makeIoApic();
    program(io, 2, 0x33); // wire low = inactive
    writeLow(io, 2, ACTIVE_LOW | 0x33); // now the same wire is active
    expect(router.messages).toHaveLength(0);
    expect(io.pinActive(2)).toBe(true);
  });

  it('delivers a level entry whose polarity change makes the line active', () => {
    const { io, router } = makeIoApic();
    program(io, 2, LEVEL | 0x33);
    writeLow(io, 2, ACTIVE_LOW | LEVEL | 0x33);
    expect(router.messages).toHaveLength(1);
    expect(io.remoteIrr(2)).toBe(true);
  });

  it('coalesces a second low pulse on an active-low level line while remote IRR is set', () => {
    const { io, router } = makeIoApic();
    io.setPin(2, true);
    program(io, 2, ACTIVE_LOW | LEVEL | 0x33);
    io.setPin(2, false);
    io.setPin(2, true);
    io.setPin(2, false); // a second assertion while remote IRR is set
    expect(router.messages).toHaveLength(1);
    expect(io.stats.coalescedLevels).toBe(1);
  });
});
