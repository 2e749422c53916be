import type { Platform } from '../../src/platform/platform.js';

/** Programs I/O APIC entry `pin`: the high word (destination in bits 31:24) first, then the low word. */
export function rte(pc: Platform, pin: number, low: number, high = 0): void {
  pc.ioapic.writeRegister(0x00, 0x10 + 2 * pin + 1);
  pc.ioapic.writeRegister(0x10, high);
  pc.ioapic.writeRegister(0x00, 0x10 + 2 * pin);
  pc.ioapic.writeRegister(0x10, low);
}

/** Software-enables every local APIC (SVR = 0x1FF). */
export function enableAll(pc: Platform): void {
  for (const a of pc.lapics) a.writeRegister(0xf0, 0x1ff);
}

/** ICW1-4 for both 8259As with vector bases 0x20 / 0x28, then OCW1 = `imr` on both chips. */
export function initPic(pc: Platform, imr = 0x00): void {
  for (const [cmd, data, base, icw3] of [
    [0x20, 0x21, 0x20, 0x04],
    [0xa0, 0xa1, 0x28, 0x02],
  ] as const) {
    pc.pic.ioWrite(cmd, 0x11);
    pc.pic.ioWrite(data, base);
    pc.pic.ioWrite(data, icw3);
    pc.pic.ioWrite(data, 0x01);
    pc.pic.ioWrite(data, imr);
  }
}
