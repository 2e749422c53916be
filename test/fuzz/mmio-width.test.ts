/**
 * Surface: the one MMIO width rule of the local APIC and the I/O APIC (src/apic/mmio.ts,
 * docs/embedding.md "MMIO widths"): any offset of the 4 KiB window with size 1, 2 or 4.
 *
 * Properties, for both devices: a read never throws and returns `size` bytes; a read of n bytes
 * is the n one-byte reads at those offsets put together (so sub-dword, misaligned and
 * slot-crossing reads show exactly the lanes of the registers); and a write the rule ignores
 * (LAPIC: anything but an aligned dword at a slot start; I/O APIC: anything but IOREGSEL, a dword
 * IOWIN or the EOI register) changes no state at all.
 */
import fc from 'fast-check';
import { describe, expect } from 'vitest';
import { LocalApic } from '../../src/apic/local-apic.js';
import { ApicBus } from '../../src/bus/apic-bus.js';
import { IoApic } from '../../src/ioapic/ioapic.js';
import { Scheduler } from '../../src/time/scheduler.js';
import { fuzz } from './config.js';

type Size = 1 | 2 | 4;
const size = fc.constantFrom<Size>(1, 2, 4);
const offset = fc.oneof(fc.integer({ min: 0, max: 0xfff }), fc.integer({ min: 0, max: 0x3ff }), fc.constantFrom(0x00, 0x10, 0x11, 0x13, 0x40, 0x7e, 0x80, 0x83, 0xf0, 0xffd, 0xfff));
const u32 = fc.integer({ min: 0, max: 0xffff_ffff });

function lapic(): LocalApic {
  const bus = new ApicBus();
  const a = new LocalApic({ id: 1, clock: new Scheduler(), bus });
  a.writeRegister(0xf0, 0x1ff);
  a.writeRegister(0x80, 0x5a); // TPR
  a.writeRegister(0x320, 0x20040); // a periodic timer entry, so LVT reads are not all 0
  return a;
}

function ioapic(): IoApic {
  const io = new IoApic({ bus: new ApicBus(), pins: 24, id: 7 });
  io.writeRegister(0x00, 0x12);
  io.writeRegister(0x10, 0x0001_a031);
  io.writeRegister(0x00, 0x12);
  return io;
}

/** The bytes at offset.., read one by one (0 past the window). */
function byteWise(read: (off: number, size: Size) => number, off: number, n: Size): number {
  let v = 0;
  for (let i = 0; i < n; i++) if (off + i < 0x1000) v += read(off + i, 1) * 2 ** (8 * i);
  return v;
}

/** Whether the rule lets this write through. */
const lapicWrites = (off: number, n: Size) => n === 4 && (off & 0xf) === 0;
const ioapicWrites = (off: number, n: Size) => off === 0x00 || off === 0x40 || (off === 0x10 && n === 4);

describe('fuzz: MMIO access widths', () => {
  fuzz('lapic: a read of n bytes is the n single-byte reads put together', () =>
    fc.property(offset, size, (off, n) => {
      const a = lapic();
      const v = a.readRegister(off, n);
      expect(v >= 0 && v < 2 ** (8 * n)).toBe(true);
      expect(v).toBe(byteWise((o, s) => a.readRegister(o, s), off, n));
    }),
  );

  fuzz('ioapic: a read of n bytes is the n single-byte reads put together', () =>
    fc.property(offset, size, (off, n) => {
      const io = ioapic();
      const v = io.readRegister(off, n);
      expect(v >= 0 && v < 2 ** (8 * n)).toBe(true);
      expect(v).toBe(byteWise((o, s) => io.readRegister(o, s), off, n));
    }),
  );

  fuzz('lapic: a write that is not an aligned dword at a register slot changes nothing', () =>
    fc.property(offset, size, u32, (off, n, value) => {
      fc.pre(!lapicWrites(off, n));
      const a = lapic();
      const state = () => ({ page: Array.from(a.page), errors: a.pendingErrors, stats: { ...a.stats } });
      const before = state();
      a.writeRegister(off, value, n);
      expect(state()).toEqual(before);
    }),
  );

  fuzz('ioapic: a write other than IOREGSEL, a dword IOWIN or the EOI register changes nothing', () =>
    fc.property(offset, size, u32, (off, n, value) => {
      fc.pre(!ioapicWrites(off, n));
      const io = ioapic();
      const before = io.save();
      io.writeRegister(off, value, n);
      expect(io.save()).toEqual(before);
    }),
  );
});
