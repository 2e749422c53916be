import { describe, expect, it } from 'vitest';
import { MASKED, makeIoApic, program, readLow, writeLow } from './helpers.js';

describe('edge-triggered entries', () => {
  it('deliver once on the inactive -> active transition', () => {
    const { io, router } = makeIoApic();
    program(io, 4, 0x0000_0031, 0x0100_0000);
    io.setPin(4, true);
    expect(router.messages).toEqual([{ destination: 0x01, logical: false, deliveryMode: 0, vector: 0x31, level: false }]);
    expect(io.stats.deliveries).toBe(1);
  });

  it('do not re-deliver while the line stays active', () => {
    const { io, router } = makeIoApic();
    program(io, 4, 0x0000_0031);
    io.setPin(4, true);
    io.setPin(4, true);
    io.setPin(4, true);
    expect(router.messages).toHaveLength(1);
  });

  it('deliver nothing on the active -> inactive transition', () => {
    const { io, router } = makeIoApic();
    io.setPin(4, true);
    program(io, 4, 0x0000_0031);
    io.setPin(4, false);
    expect(router.messages).toHaveLength(0);
  });

  it('deliver again on every new rising edge', () => {
    const { io, router } = makeIoApic();
    program(io, 4, 0x0000_0031);
    for (let i = 0; i < 3; i++) {
      io.setPin(4, true);
      io.setPin(4, false);
    }
    expect(router.vectors()).toEqual([0x31, 0x31, 0x31]);
  });

  it('lose an edge that arrives while masked (§3.2.4 bit 16: not held pending)', () => {
    const { io, router } = makeIoApic();
    program(io, 4, MASKED | 0x31);
    io.setPin(4, true);
    io.setPin(4, false);
    writeLow(io, 4, 0x0000_0031);
    expect(router.messages).toHaveLength(0);
    expect(io.stats.maskedEdges).toBe(1);
  });

  it('do not deliver an old edge when unmasked with the line still active', () => {
    const { io, router } = makeIoApic();
    program(io, 4, MASKED | 0x31);
    io.setPin(4, true);
    writeLow(io, 4, 0x0000_0031);
    expect(router.messages).toHaveLength(0);
    io.setPin(4, false);
    io.setPin(4, true);
    expect(router.messages).toHaveLength(1);
  });

  it('never set remote IRR', () => {
    const { io } = makeIoApic();
    program(io, 4, 0x0000_0031);
    io.setPin(4, true);
    expect(io.remoteIrr(4)).toBe(false);
    expect(readLow(io, 4)).toBe(0x0000_0031);
  });

  it('ignore an EOI for their vector', () => {
    const { io, router } = makeIoApic();
    program(io, 4, 0x0000_0031);
    io.setPin(4, true);
    io.eoi(0x31);
    expect(router.messages).toHaveLength(1);
    expect(io.stats.eois).toBe(0);
  });

  it('count an edge nobody accepted and do not retry it', () => {
    const { io, router } = makeIoApic();
    router.accept = 0;
    program(io, 4, 0x0000_0031);
    io.setPin(4, true);
    router.accept = 1;
    io.setPin(4, true);
    writeLow(io, 4, 0x0000_0031);
    expect(router.messages).toHaveLength(1);
    expect(io.stats.unaccepted).toBe(1);
  });

  it('pass the lowest-priority delivery mode and logical destination through', () => {
    const { io, router } = makeIoApic();
    program(io, 9, 0x0000_0955, 0x0f00_0000);
    io.setPin(9, true);
    expect(router.messages[0]).toEqual({ destination: 0x0f, logical: true, deliveryMode: 1, vector: 0x55, level: false });
  });

  it('keep each pin independent', () => {
    const { io, router } = makeIoApic();
    program(io, 1, 0x0000_0041);
    program(io, 2, 0x0000_0042);
    io.setPin(2, true);
    io.setPin(1, true);
    expect(router.vectors()).toEqual([0x42, 0x41]);
  });
});
