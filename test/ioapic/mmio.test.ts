import { describe, expect, it } from 'vitest';
import type { IoApic } from '../../src/ioapic/ioapic.js';
import { makeIoApic, program, readIndex, readLow, writeIndex } from './helpers.js';

/** Every indirect register as the guest sees it, with IOREGSEL restored afterwards. */
function dump(io: IoApic): number[] {
  const sel = io.readRegister(0x00);
  const out = [sel];
  for (let i = 0; i <= 0xff; i++) out.push(readIndex(io, i));
  io.writeRegister(0x00, sel);
  return out;
}

describe('IOREGSEL (§3.1.1)', () => {
  it('resets to 0', () => {
    const { io } = makeIoApic();
    expect(io.readRegister(0x00)).toBe(0);
  });

  it('keeps only bits 7:0 of a write', () => {
    const { io } = makeIoApic();
    io.writeRegister(0x00, 0x1234_5678);
    expect(io.readRegister(0x00)).toBe(0x78);
  });

  it('coerces negative and fractional values with >>> 0', () => {
    const { io } = makeIoApic();
    io.writeRegister(0x00, -1);
    expect(io.readRegister(0x00)).toBe(0xff);
    io.writeRegister(0x00, 16.9);
    expect(io.readRegister(0x00)).toBe(0x10);
    io.writeRegister(0x00, Number.NaN);
    expect(io.readRegister(0x00)).toBe(0);
  });
});

describe('IOWIN (§3.1.2)', () => {
  it('reads and writes the redirection-table register IOREGSEL selects', () => {
    const { io } = makeIoApic();
    writeIndex(io, 0x13, 0x0500_0000); // pin 1, high half
    expect(readIndex(io, 0x13)).toBe(0x0500_0000);
    expect(readIndex(io, 0x11)).toBe(0); // pin 0 high half untouched
  });

  it('returns unsigned 32-bit values', () => {
    const { io } = makeIoApic();
    writeIndex(io, 0x11, 0xff00_0000);
    expect(readIndex(io, 0x11)).toBe(0xff00_0000);
  });
});

describe('IOAPICID (§3.2.1)', () => {
  it('reads the id option in bits 27:24 after reset', () => {
    const { io } = makeIoApic({ id: 5 });
    expect(readIndex(io, 0x00)).toBe(0x0500_0000);
    expect(io.id).toBe(5);
  });

  it('defaults to ID 0', () => {
    const { io } = makeIoApic();
    expect(readIndex(io, 0x00)).toBe(0);
  });

  it('stores only bits 27:24 of a write (the rest is reserved)', () => {
    const { io } = makeIoApic();
    writeIndex(io, 0x00, 0xffff_ffff);
    expect(readIndex(io, 0x00)).toBe(0x0f00_0000);
    writeIndex(io, 0x00, 0x0a00_0000);
    expect(io.id).toBe(10);
  });
});

describe('IOAPICVER (§3.2.2)', () => {
  it('reads version 0x20 and maximum redirection entry 0x17 by default', () => {
    const { io } = makeIoApic();
    expect(readIndex(io, 0x01)).toBe(0x0017_0020);
  });

  it('reads version 0x11 for an 82093AA', () => {
    const { io } = makeIoApic({ version: 0x11 });
    expect(readIndex(io, 0x01)).toBe(0x0017_0011);
  });

  it('reports pins - 1 as the maximum redirection entry', () => {
    expect(readIndex(makeIoApic({ pins: 1 }).io, 0x01)).toBe(0x0000_0020);
    expect(readIndex(makeIoApic({ pins: 48 }).io, 0x01)).toBe(0x002f_0020);
    expect(readIndex(makeIoApic({ pins: 120, version: 0x11 }).io, 0x01)).toBe(0x0077_0011);
  });

  it('is read-only', () => {
    const { io } = makeIoApic();
    writeIndex(io, 0x01, 0xffff_ffff);
    expect(readIndex(io, 0x01)).toBe(0x0017_0020);
  });
});

describe('IOAPICARB (§3.2.3)', () => {
  it('mirrors the ID written to IOAPICID', () => {
    const { io } = makeIoApic({ id: 2 });
    expect(readIndex(io, 0x02)).toBe(0x0200_0000);
    writeIndex(io, 0x00, 0x0300_0000);
    expect(readIndex(io, 0x02)).toBe(0x0300_0000);
  });

  it('is read-only', () => {
    const { io } = makeIoApic({ id: 3 });
    writeIndex(io, 0x02, 0x0900_0000);
    expect(readIndex(io, 0x02)).toBe(0x0300_0000);
    expect(readIndex(io, 0x00)).toBe(0x0300_0000);
  });
});

describe('unimplemented indirect registers', () => {
  it('read reserved indexes 0x03..0x0F as 0', () => {
    const { io } = makeIoApic({ id: 7 });
    for (let i = 0x03; i <= 0x0f; i++) expect(readIndex(io, i)).toBe(0);
  });

  it('ignore writes to reserved indexes 0x03..0x0F', () => {
    const { io } = makeIoApic({ id: 7 });
    const before = dump(io);
    for (let i = 0x03; i <= 0x0f; i++) writeIndex(io, i, 0xffff_ffff);
    io.writeRegister(0x00, before[0]!);
    expect(dump(io)).toEqual(before);
  });

  it('read indexes past the last entry as 0 and ignore writes to them', () => {
    const { io } = makeIoApic({ pins: 24 });
    for (let i = 0x40; i <= 0xff; i++) writeIndex(io, i, 0xffff_ffff);
    for (let i = 0x40; i <= 0xff; i++) expect(readIndex(io, i)).toBe(0);
    for (let pin = 0; pin < 24; pin++) expect(readLow(io, pin)).toBe(0x0001_0000);
  });

  it('with 120 pins, index 0xFF is the high half of pin 119', () => {
    const { io } = makeIoApic({ pins: 120 });
    writeIndex(io, 0xff, 0x4200_0000);
    expect(readIndex(io, 0xff)).toBe(0x4200_0000);
    expect(io.redirection(119)).toBe(0x4200_0000_0001_0000n);
  });

  it('with 1 pin, only indexes 0x10 and 0x11 are entries', () => {
    const { io } = makeIoApic({ pins: 1 });
    writeIndex(io, 0x11, 0x0100_0000);
    writeIndex(io, 0x13, 0x0200_0000);
    expect(readIndex(io, 0x11)).toBe(0x0100_0000);
    expect(readIndex(io, 0x13)).toBe(0);
  });
});

describe('MMIO offsets other than IOREGSEL and IOWIN', () => {
  const offsets = [0x01, 0x04, 0x08, 0x0c, 0x14, 0x20, 0x30, 0x44, 0x50, 0x100, 0x110, 0xfff];

  it('read 0', () => {
    const { io } = makeIoApic({ id: 4 });
    io.writeRegister(0x00, 0x00);
    for (const off of offsets) expect(io.readRegister(off)).toBe(0);
  });

  it('ignore writes', () => {
    const { io, router } = makeIoApic({ id: 4 });
    program(io, 0, 0x0000_8030);
    io.setPin(0, true);
    const before = dump(io);
    for (const off of offsets) io.writeRegister(off, 0xffff_ffff);
    expect(dump(io)).toEqual(before);
    expect(io.remoteIrr(0)).toBe(true);
    expect(router.messages).toHaveLength(1);
  });

  it('reads the EOI register (0x40) as 0 on both versions', () => {
    expect(makeIoApic({ version: 0x20 }).io.readRegister(0x40)).toBe(0);
    expect(makeIoApic({ version: 0x11 }).io.readRegister(0x40)).toBe(0);
  });
});

describe('guest values', () => {
  it('coerce a negative IOWIN value with >>> 0 and drop the read-only bits', () => {
    const { io, router } = makeIoApic();
    writeIndex(io, 0x10, -1);
    // 0xFFFFFFFF without delivery status (12) and remote IRR (14). Mode 7 = ExtINT is edge-only,
    // so the active-low level entry does not fire on the idle (low) wire.
    expect(readLow(io, 0)).toBe(0xffff_afff);
    expect(router.messages).toHaveLength(0);
  });

  it('treat Infinity and NaN as 0', () => {
    const { io } = makeIoApic();
    writeIndex(io, 0x11, Number.POSITIVE_INFINITY);
    expect(readIndex(io, 0x11)).toBe(0);
    writeIndex(io, 0x11, Number.NaN);
    expect(readIndex(io, 0x11)).toBe(0);
  });
});
