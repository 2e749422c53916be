import { describe, expect, it } from 'vitest';
import { LEVEL, MASKED, makeIoApic, program, readIndex, writeIndex, writeLow } from './helpers.js';

describe('EOI matching', () => {
  it('ignores an EOI for another vector', () => {
    const { io, router } = makeIoApic();
    program(io, 0, LEVEL | 0x30);
    io.setPin(0, true);
    io.eoi(0x31);
    expect(io.remoteIrr(0)).toBe(true);
    expect(router.messages).toHaveLength(1);
  });

  it('clears remote IRR on every entry with the vector (two pins sharing one)', () => {
    const { io } = makeIoApic();
    program(io, 0, LEVEL | 0x30);
    program(io, 1, LEVEL | 0x30);
    io.setPin(0, true);
    io.setPin(1, true);
    io.setPin(0, false);
    io.setPin(1, false);
    io.eoi(0x30);
    expect([io.remoteIrr(0), io.remoteIrr(1)]).toEqual([false, false]);
    expect(io.stats.eois).toBe(2);
  });

  it('matches by vector even after the destination changed meanwhile (DESIGN.md)', () => {
    const { io, router } = makeIoApic();
    program(io, 0, LEVEL | 0x30, 0x0100_0000);
    io.setPin(0, true);
    writeIndex(io, 0x11, 0x0200_0000);
    io.eoi(0x30);
    expect(router.messages.map((m) => m.destination)).toEqual([0x01, 0x02]);
  });

  it('matches the delivered vector after the handler reprograms the vector', () => {
    const { io, router } = makeIoApic();
    program(io, 0, LEVEL | 0x30);
    io.setPin(0, true);
    writeLow(io, 0, LEVEL | 0x50); // the LAPIC still has 0x30 in service
    io.eoi(0x30);
    expect(router.vectors()).toEqual([0x30, 0x50]);
    expect(io.remoteIrr(0)).toBe(true);
  });

  it('also matches the current vector after a vector change (what the 82093AA compares)', () => {
    const { io, router } = makeIoApic();
    program(io, 0, LEVEL | 0x30);
    io.setPin(0, true);
    io.setPin(0, false);
    writeLow(io, 0, LEVEL | 0x50);
    io.eoi(0x50);
    expect(io.remoteIrr(0)).toBe(false);
    expect(router.messages).toHaveLength(1);
  });

  it('after a vector change, matches neither an unrelated vector', () => {
    const { io } = makeIoApic();
    program(io, 0, LEVEL | 0x30);
    io.setPin(0, true);
    writeLow(io, 0, LEVEL | 0x50);
    io.eoi(0x40);
    expect(io.remoteIrr(0)).toBe(true);
  });

  it('does nothing for a vector with no remote IRR set', () => {
    const { io, router } = makeIoApic();
    program(io, 0, LEVEL | 0x30);
    io.eoi(0x30);
    expect(io.stats.eois).toBe(0);
    expect(router.messages).toHaveLength(0);
  });

  it('does not re-deliver a masked entry on EOI', () => {
    const { io, router } = makeIoApic();
    program(io, 0, LEVEL | 0x30);
    io.setPin(0, true);
    writeLow(io, 0, MASKED | LEVEL | 0x30);
    io.eoi(0x30);
    expect(router.messages).toHaveLength(1);
  });

  it('accepts vectors 0 and 255', () => {
    const { io } = makeIoApic();
    program(io, 0, LEVEL | 0xff);
    io.setPin(0, true);
    io.setPin(0, false);
    io.eoi(0);
    expect(io.remoteIrr(0)).toBe(true);
    io.eoi(255);
    expect(io.remoteIrr(0)).toBe(false);
  });
});

describe('EOI register (offset 0x40, version 0x20)', () => {
  it('clears remote IRR for the written vector and re-delivers an active line', () => {
    const { io, router } = makeIoApic({ version: 0x20 });
    program(io, 3, LEVEL | 0x61);
    io.setPin(3, true);
    io.writeRegister(0x40, 0x61);
    expect(router.vectors()).toEqual([0x61, 0x61]);
  });

  it('performs a directed EOI without re-delivery once the line is inactive', () => {
    const { io, router } = makeIoApic({ version: 0x20 });
    program(io, 3, LEVEL | 0x61);
    io.setPin(3, true);
    io.setPin(3, false);
    io.writeRegister(0x40, 0x61);
    expect(io.remoteIrr(3)).toBe(false);
    expect(router.messages).toHaveLength(1);
  });

  it('compares only bits 7:0 of the written value', () => {
    const { io } = makeIoApic({ version: 0x20 });
    program(io, 3, LEVEL | 0x61);
    io.setPin(3, true);
    io.setPin(3, false);
    io.writeRegister(0x40, 0xffff_ff61);
    expect(io.remoteIrr(3)).toBe(false);
  });

  it('ignores a vector that matches no entry', () => {
    const { io } = makeIoApic({ version: 0x20 });
    program(io, 3, LEVEL | 0x61);
    io.setPin(3, true);
    io.writeRegister(0x40, 0x62);
    expect(io.remoteIrr(3)).toBe(true);
  });

  it('does not exist on version 0x11: writes to 0x40 are ignored', () => {
    const { io } = makeIoApic({ version: 0x11 });
    program(io, 3, LEVEL | 0x61);
    io.setPin(3, true);
    io.setPin(3, false);
    io.writeRegister(0x40, 0x61);
    expect(io.remoteIrr(3)).toBe(true);
  });

  it('does not disturb IOREGSEL', () => {
    const { io } = makeIoApic({ version: 0x20 });
    io.writeRegister(0x00, 0x01);
    io.writeRegister(0x40, 0x01);
    expect(io.readRegister(0x00)).toBe(0x01);
    expect(readIndex(io, 0x01)).toBe(0x0017_0020);
  });
});
