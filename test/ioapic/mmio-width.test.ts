import { describe, expect, it } from 'vitest';
import { LocalApic } from '../../src/apic/local-apic.js';
import { ApicBus } from '../../src/bus/apic-bus.js';
import { IoApic } from '../../src/ioapic/ioapic.js';
import { Scheduler } from '../../src/time/scheduler.js';

/** An I/O APIC with ID 5 and pin 1's entry = 0x0001A031 (masked, level, active low, vector 0x31). */
function io(version: 0x11 | 0x20 = 0x20): IoApic {
  const d = new IoApic({ bus: new ApicBus(), id: 5, version });
  d.writeRegister(0x00, 0x12);
  d.writeRegister(0x10, 0x0001_a031);
  return d;
}

describe('I/O APIC MMIO widths (82093AA data sheet §3.1; one rule with the local APIC)', () => {
  it('a byte write to IOREGSEL selects the register (the data sheet loads IOREGSEL with a byte write)', () => {
    const d = io();
    d.writeRegister(0x00, 0x00, 1);
    expect(d.readRegister(0x10)).toBe(5 << 24);
  });

  it('a byte read of IOREGSEL returns the index', () => {
    const d = io();
    d.writeRegister(0x00, 0x12);
    expect(d.readRegister(0x00, 1)).toBe(0x12);
  });

  it('a write to IOREGSEL bytes 1..3 (reserved bits 31:8) is ignored', () => {
    const d = io();
    d.writeRegister(0x01, 0x01, 1);
    expect(d.readRegister(0x00)).toBe(0x12);
  });

  it('a sub-dword IOWIN write is ignored (IOWIN "must be accessed as a Dword quantity"; QEMU ignores it)', () => {
    const d = io();
    d.writeRegister(0x10, 0x40, 1);
    d.writeRegister(0x10, 0x40, 2);
    expect(d.readRegister(0x10)).toBe(0x0001_a031);
  });

  it('byte and word reads of IOWIN return the lanes of the selected register (as KVM)', () => {
    const d = io();
    expect(d.readRegister(0x10, 1)).toBe(0x31);
    expect(d.readRegister(0x11, 1)).toBe(0xa0);
    expect(d.readRegister(0x12, 2)).toBe(0x0001);
  });

  it('a dword read at 0x0E takes its upper bytes from IOWIN (bytes are bytes, whichever dword holds them)', () => {
    const d = io();
    expect(d.readRegister(0x0e, 4)).toBe(0xa031_0000);
  });

  it('a byte write of the vector to the EOI register (0x40) clears remote IRR (version 0x20)', () => {
    const bus = new ApicBus();
    const apic = new LocalApic({ id: 0, clock: new Scheduler(), bus });
    apic.writeRegister(0xf0, 0x1ff);
    const d = new IoApic({ bus });
    d.writeRegister(0x00, 0x10 + 2 * 3);
    d.writeRegister(0x10, 0x8000 | 0x44); // pin 3: level, vector 0x44, CPU 0
    d.setPin(3, true);
    expect(d.remoteIrr(3)).toBe(true);
    d.setPin(3, false); // the device's condition is cleared, so the EOI does not re-deliver
    d.writeRegister(0x40, 0x44, 1);
    expect(d.remoteIrr(3)).toBe(false);
  });

  it('offsets with no register read 0 at every size', () => {
    const d = io();
    for (const off of [0x04, 0x20, 0x40, 0x41, 0x100, 0xfff]) for (const size of [1, 2, 4] as const) expect(d.readRegister(off, size)).toBe(0);
  });
});

describe('local APIC MMIO widths (SDM: sub-dword accesses are model-specific; one rule with the I/O APIC)', () => {
  function apic(): LocalApic {
    const a = new LocalApic({ id: 0, clock: new Scheduler() });
    a.writeRegister(0xf0, 0x1ff);
    return a;
  }

  it('a byte read of SVR returns bits 7:0 only', () => {
    expect(apic().readRegister(0xf0, 1)).toBe(0xff);
    expect(apic().readRegister(0xf1, 1)).toBe(0x01);
  });

  it('a sub-dword write is ignored (KVM ignores len != 4)', () => {
    const a = apic();
    a.writeRegister(0x80, 0x20, 1);
    a.writeRegister(0x80, 0x20, 2);
    expect(a.readRegister(0x80)).toBe(0);
  });

  it('a dword read at 0x7E crosses into TPR: bytes 0x80-0x81 come from TPR', () => {
    const a = apic();
    a.writeRegister(0x80, 0x5a);
    expect(a.readRegister(0x7e, 4)).toBe(0x005a_0000);
  });

  it('reads past the end of the window read 0 (a dword read at 0xFFD)', () => {
    expect(apic().readRegister(0xffd, 4)).toBe(0);
  });

  it('in x2APIC mode the MMIO window reads all ones of the access size', () => {
    const a = new LocalApic({ id: 0, clock: new Scheduler(), x2apic: true });
    expect(a.readRegister(0x80, 1)).toBe(0xff);
    expect(a.readRegister(0x80, 2)).toBe(0xffff);
    expect(a.readRegister(0x80)).toBe(0xffff_ffff);
  });

  it('a size other than 1, 2 or 4 is a RangeError (host misuse) and changes nothing', () => {
    const a = apic();
    expect(() => a.writeRegister(0x80, 0x20, 8 as 4)).toThrow(/^size must be 1, 2 or 4/);
    expect(() => a.readRegister(0x80, 3 as 4)).toThrow(RangeError);
    expect(a.readRegister(0x80)).toBe(0);
  });
});
