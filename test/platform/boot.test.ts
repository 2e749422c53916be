/**
 * The worked example of docs/platform.md: the register sequence a BIOS and Linux use to set up
 * the 8259A pair, the I/O APIC and the local APICs, then interrupts arriving through each path.
 * Keep this file and the document in step.
 */
import { describe, expect, it } from 'vitest';
import { Platform } from '../../src/platform/platform.js';

/** BIOS: ICW1-4 on both 8259As (vector bases 0x08 / 0x70, cascade on IR2), then masks. */
function biosProgramsPic(pc: Platform): void {
  pc.pic.ioWrite(0x20, 0x11); // ICW1: edge, cascade, ICW4 needed
  pc.pic.ioWrite(0x21, 0x08); // ICW2: master vectors 0x08-0x0F
  pc.pic.ioWrite(0x21, 0x04); // ICW3: slave on IR2
  pc.pic.ioWrite(0x21, 0x01); // ICW4: 8086 mode
  pc.pic.ioWrite(0xa0, 0x11);
  pc.pic.ioWrite(0xa1, 0x70); // slave vectors 0x70-0x77
  pc.pic.ioWrite(0xa1, 0x02); // slave ID 2
  pc.pic.ioWrite(0xa1, 0x01);
  pc.pic.ioWrite(0x21, 0xb8); // OCW1: unmask IRQ0, 1, 2 (cascade), 6
  pc.pic.ioWrite(0xa1, 0xff); // all slave IRQs masked
}

/** BIOS: LAPIC virtual-wire mode on the BSP: SVR enable, LINT0 ExtINT, LINT1 NMI. */
function biosVirtualWire(pc: Platform): void {
  const bsp = pc.lapics[0]!;
  bsp.writeRegister(0xf0, 0x1ff); // SVR: APIC enabled, spurious vector 0xFF
  bsp.writeRegister(0x350, 0x700); // LVT LINT0: ExtINT, unmasked
  bsp.writeRegister(0x360, 0x400); // LVT LINT1: NMI
}

/** Linux: switch to symmetric I/O mode — mask the 8259A, program I/O APIC entries. */
function linuxProgramsIoApic(pc: Platform): void {
  pc.pic.ioWrite(0x21, 0xff); // mask every 8259A line
  pc.pic.ioWrite(0xa1, 0xff);
  pc.lapics[0]!.writeRegister(0x350, 0x10700); // LINT0 masked: the PIC path is closed
  const entry = (pin: number, low: number, high: number): void => {
    pc.ioapic.writeRegister(0x00, 0x10 + 2 * pin + 1);
    pc.ioapic.writeRegister(0x10, high);
    pc.ioapic.writeRegister(0x00, 0x10 + 2 * pin);
    pc.ioapic.writeRegister(0x10, low);
  };
  entry(2, 0x30, 0x00000000); // IRQ0 (timer) -> pin 2: vector 0x30, edge, physical CPU 0
  entry(1, 0x31, 0x00000000); // keyboard: vector 0x31
  entry(16, 0xa000 | 0x41, 0x01000000); // PCI INTA#: level (bit 15), active low (13), CPU 1
  for (const apic of pc.lapics) {
    apic.writeRegister(0xf0, 0x1ff);
    apic.writeRegister(0x80, 0x00); // TPR 0: accept everything
  }
}

describe('worked example: a PC boot (docs/platform.md)', () => {
  it('BIOS: the timer (ISA IRQ0) reaches the BSP through the 8259A and LINT0 ExtINT', () => {
    const pc = new Platform({ cpus: 2 });
    biosProgramsPic(pc);
    biosVirtualWire(pc);
    pc.setIrq(0, true); // the PIT raises IRQ0
    expect(pc.cpuHasInterrupt(0)).toBe(true);
    expect(pc.cpuHasInterrupt(1)).toBe(false); // the AP's LINT0 is still masked (reset value)
    expect(pc.cpuAcknowledge(0)).toBe(0x08); // master base 0x08 | IR0
    pc.setIrq(0, false);
    pc.pic.ioWrite(0x20, 0x20); // non-specific EOI
    expect(pc.cpuHasInterrupt(0)).toBe(false);
  });

  it('BIOS: a slave IRQ cascades through master IR2 and returns the slave vector', () => {
    const pc = new Platform({ cpus: 1 });
    biosProgramsPic(pc);
    biosVirtualWire(pc);
    pc.pic.ioWrite(0xa1, 0xfe); // unmask IRQ8 (RTC)
    pc.setIrq(8, true);
    expect(pc.cpuAcknowledge(0)).toBe(0x70);
    pc.pic.ioWrite(0xa0, 0x20); // EOI the slave, then the master
    pc.pic.ioWrite(0x20, 0x20);
  });

  it('Linux: device and timer interrupts through the I/O APIC, level PCI with EOI broadcast', () => {
    const pc = new Platform({ cpus: 2 });
    biosProgramsPic(pc);
    biosVirtualWire(pc);
    linuxProgramsIoApic(pc);
    // The PIT now arrives on I/O APIC pin 2 as vector 0x30, not through the 8259A.
    pc.setIrq(0, true);
    expect(pc.cpuHasInterrupt(0)).toBe(true);
    expect(pc.cpuAcknowledge(0)).toBe(0x30);
    pc.lapics[0]!.writeRegister(0xb0, 0); // EOI
    pc.setIrq(0, false);
    // A PCI device asserts INTA# (GSI 16): level-triggered vector 0x41 at CPU 1.
    pc.setIrq(16, true);
    expect(pc.cpuHasInterrupt(1)).toBe(true);
    expect(pc.cpuAcknowledge(1)).toBe(0x41);
    expect(pc.ioapic.remoteIrr(16)).toBe(true);
    pc.setIrq(16, false); // the driver clears the device's condition
    pc.lapics[1]!.writeRegister(0xb0, 0); // EOI: TMR set, so broadcast to the I/O APIC
    expect(pc.ioapic.remoteIrr(16)).toBe(false);
    expect(pc.cpuHasInterrupt(1)).toBe(false);
  });

  it('Linux: the LAPIC timer is a local interrupt that bypasses both the 8259A and the I/O APIC', () => {
    const pc = new Platform({ cpus: 1 });
    linuxProgramsIoApic(pc);
    const apic = pc.lapics[0]!;
    apic.writeRegister(0x3e0, 0x0b); // divide by 1
    apic.writeRegister(0x320, 0xef); // LVT timer: one-shot, vector 0xEF
    apic.writeRegister(0x380, 1000); // 1000 ticks of the 1 GHz clock
    pc.scheduler!.runUntil(999);
    expect(pc.cpuHasInterrupt(0)).toBe(false);
    pc.scheduler!.runUntil(1000);
    expect(pc.cpuAcknowledge(0)).toBe(0xef);
  });

  it('Linux: APs start with INIT-SIPI-SIPI', () => {
    const pc = new Platform({ cpus: 4 });
    const bsp = pc.lapics[0]!;
    bsp.writeRegister(0xf0, 0x1ff);
    bsp.writeRegister(0x300, 0x000c4500); // INIT, all excluding self
    bsp.writeRegister(0x300, 0x000c4608); // SIPI vector 0x08: start at 0x8000
    bsp.writeRegister(0x300, 0x000c4608);
    expect(pc.lapics.map((a) => a.cpuState)).toEqual(['running', 'running', 'running', 'running']);
    expect(pc.lapics.slice(1).map((a) => a.startupVector)).toEqual([8, 8, 8]);
  });
});
