import { describe, expect, it } from 'vitest';
import {
  DELIVERY_STATUS,
  LEVEL,
  REMOTE_IRR,
  makeIoApic,
  program,
  readHigh,
  readIndex,
  readLow,
  writeIndex,
  writeLow,
} from './helpers.js';

describe('redirection entry reset (§3.2.4)', () => {
  it('resets every entry to masked (bit 16) with all other bits 0', () => {
    const { io } = makeIoApic();
    for (let pin = 0; pin < 24; pin++) {
      expect(readLow(io, pin)).toBe(0x0001_0000);
      expect(readHigh(io, pin)).toBe(0);
      expect(io.redirection(pin)).toBe(0x1_0000n);
    }
  });

  it('resets all 120 entries of the largest I/O APIC', () => {
    const { io } = makeIoApic({ pins: 120 });
    for (let pin = 0; pin < 120; pin++) expect(io.redirection(pin)).toBe(0x1_0000n);
  });
});

describe('redirection entry writes', () => {
  it('stores the writable low-half fields', () => {
    const { io } = makeIoApic();
    writeLow(io, 2, 0x0001_2fa5); // masked, active low, logical, ExtINT, vector 0xA5
    expect(readLow(io, 2)).toBe(0x0001_2fa5);
  });

  it('ignores guest writes of delivery status (bit 12) and remote IRR (bit 14)', () => {
    const { io } = makeIoApic();
    writeLow(io, 0, 0x0001_5030);
    expect(readLow(io, 0)).toBe(0x0001_0030);
  });

  it('preserves a set remote IRR across a low-half write that clears bit 14', () => {
    const { io } = makeIoApic();
    program(io, 0, LEVEL | 0x30);
    io.setPin(0, true);
    writeLow(io, 0, LEVEL | 0x31);
    expect(readLow(io, 0)).toBe(0x0000_c031);
  });

  it('stores and reads back the reserved low bits 31:17', () => {
    const { io } = makeIoApic();
    writeLow(io, 0, 0xfffe_0030);
    expect(readLow(io, 0)).toBe(0xfffe_0030);
  });

  it('stores and reads back the whole high half, reserved bits 55:32 included', () => {
    const { io } = makeIoApic();
    writeIndex(io, 0x11, 0x12ab_cdef);
    expect(readHigh(io, 0)).toBe(0x12ab_cdef);
  });

  it('writes each half without touching the other', () => {
    const { io } = makeIoApic();
    writeIndex(io, 0x15, 0x0700_0000);
    expect(readLow(io, 2)).toBe(0x0001_0000);
    writeLow(io, 2, 0x0001_0044);
    expect(readHigh(io, 2)).toBe(0x0700_0000);
  });

  it('combines both halves in redirection(pin)', () => {
    const { io } = makeIoApic();
    program(io, 3, 0x0001_a0fe, 0x0f00_0000);
    expect(io.redirection(3)).toBe(0x0f00_0000_0001_a0fen);
  });

  it('sends the destination from bits 63:56 to the router', () => {
    const { io, router } = makeIoApic();
    program(io, 1, 0x0000_0040, 0xab00_0000);
    io.setPin(1, true);
    expect(router.messages[0]!.destination).toBe(0xab);
  });

  it('sends the destination mode from bit 11', () => {
    const { io, router } = makeIoApic();
    program(io, 1, 0x0000_0840, 0x0300_0000);
    io.setPin(1, true);
    expect(router.messages[0]).toEqual({ destination: 0x03, logical: true, deliveryMode: 0, vector: 0x40, level: false });
  });

  it('keeps delivery status and remote IRR clear on an idle level entry the guest writes them on', () => {
    const { io } = makeIoApic();
    writeLow(io, 0, DELIVERY_STATUS | REMOTE_IRR | LEVEL | 0x30);
    expect(readLow(io, 0) & (DELIVERY_STATUS | REMOTE_IRR)).toBe(0);
  });
});

describe('reset()', () => {
  it('masks every entry, clears IOREGSEL and restores the id option', () => {
    const { io } = makeIoApic({ id: 6 });
    program(io, 0, LEVEL | 0x30, 0x0100_0000);
    io.setPin(0, true);
    writeIndex(io, 0x00, 0x0900_0000);
    io.writeRegister(0x00, 0x11);
    io.reset();
    expect(io.readRegister(0x00)).toBe(0);
    expect(io.redirection(0)).toBe(0x1_0000n);
    expect(io.remoteIrr(0)).toBe(false);
    expect(readIndex(io, 0x00)).toBe(0x0600_0000);
  });

  it('keeps the wire levels, which are inputs', () => {
    const { io } = makeIoApic();
    io.setPin(4, true);
    io.reset();
    expect(io.pinLevel(4)).toBe(true);
  });
});
