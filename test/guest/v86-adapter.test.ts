// The v86 adapter (examples/v86/irqchip-v86.mjs) against a stand-in for v86@0.4.0's CPU object:
// the same hooks v86 calls (io port and MMIO tables, device_raise_irq, pic_acknowledge,
// devices.apic.timer, get_state/set_state), so these run without the emulator. The real guests
// run in `npm run test:guest`.
import { describe, expect, it } from 'vitest';
import { IrqchipForV86 } from '../../examples/v86/irqchip-v86.mjs';

type Read = (addr: number) => number;
type Write = (addr: number, value: number) => void;
interface Slot {
  get_state(): unknown[];
  set_state(s: unknown[]): void;
  timer?: () => number;
}

/** What the adapter touches of v86's CPU, recording what the CPU is handed. */
class FakeV86Cpu {
  ports = new Map<number, { read8?: () => number; write8?: (v: number) => void }>();
  mmio: { base: number; size: number; read8: Read; read32: Read; write32: Write }[] = [];
  delivered: number[] = [];
  interruptsEnabled = true;
  devices: { apic: Slot; ioapic: Slot; pic: Slot } = {
    apic: { get_state: () => [], set_state: () => {} },
    ioapic: { get_state: () => [], set_state: () => {} },
    pic: { get_state: () => [], set_state: () => {} },
  };
  io = {
    register_read: (port: number, _dev: unknown, read8: () => number) => {
      this.ports.set(port, { ...this.ports.get(port), read8 });
    },
    register_write: (port: number, _dev: unknown, write8: (v: number) => void) => {
      this.ports.set(port, { ...this.ports.get(port), write8 });
    },
    mmap_register: (base: number, size: number, read8: Read, _w8: Write, read32: Read, write32: Write) => {
      this.mmio.push({ base, size, read8, read32, write32 });
    },
    port_read8: (port: number) => this.ports.get(port)?.read8?.() ?? 0xff,
    port_write8: (port: number, v: number) => this.ports.get(port)?.write8?.(v),
  };
  // v86: handle_irqs checks IF, then calls pic_acknowledge (which the adapter replaces).
  handle_irqs(): void {
    if (this.interruptsEnabled) (this as unknown as { pic_acknowledge(): void }).pic_acknowledge();
  }
  pic_call_irq(vector: number): void {
    this.delivered.push(vector);
  }
  out(port: number, v: number): void {
    this.io.port_write8(port, v);
  }
  private window(addr: number) {
    const w = this.mmio.find((m) => addr >= m.base && addr < m.base + m.size);
    if (!w) throw new Error(`no MMIO at ${addr.toString(16)}`);
    return w;
  }
  read32(addr: number): number {
    return this.window(addr).read32(addr) >>> 0;
  }
  read8(addr: number): number {
    return this.window(addr).read8(addr);
  }
  write32(addr: number, v: number): void {
    this.window(addr).write32(addr, v);
  }
}

const LAPIC = 0xfee00000;
const IOAPIC = 0xfec00000;

function setup() {
  const cpu = new FakeV86Cpu();
  const clock = { ms: 0 };
  const adapter = new IrqchipForV86(cpu, { now: () => clock.ms, testPorts: true });
  const raise = (irq: number) => (cpu as unknown as { device_raise_irq(n: number): void }).device_raise_irq(irq);
  const lower = (irq: number) => (cpu as unknown as { device_lower_irq(n: number): void }).device_lower_irq(irq);
  const redirect = (pin: number, low: number) => {
    cpu.write32(IOAPIC, 0x11 + 2 * pin);
    cpu.write32(IOAPIC + 0x10, 0);
    cpu.write32(IOAPIC, 0x10 + 2 * pin);
    cpu.write32(IOAPIC + 0x10, low);
  };
  cpu.write32(LAPIC + 0xf0, 0x1ff); // SVR: enabled
  return { cpu, clock, adapter, raise, lower, redirect };
}

describe('v86 adapter', () => {
  it("ISA IRQ0 from v86's PIT reaches I/O APIC pin 0, as v86's firmware tables say (no IRQ0 override)", () => {
    const { cpu, raise, lower, redirect } = setup();
    redirect(0, 0x30); // what Linux programs from a MADT without an override
    redirect(2, 0x31);
    raise(0);
    lower(0);
    expect(cpu.delivered).toEqual([0x30]);
  });

  it('an 8259A interrupt reaches the CPU through LINT0 ExtINT and pic_call_irq gets its vector', () => {
    const { cpu, raise } = setup();
    for (const [port, v] of [[0x20, 0x11], [0x21, 0x20], [0x21, 0x04], [0x21, 0x01], [0x21, 0xf7]]) cpu.out(port!, v!);
    cpu.write32(LAPIC + 0x350, 0x700); // LINT0: ExtINT
    raise(3);
    expect(cpu.delivered).toEqual([0x23]);
  });

  it('an interrupt raised while IF = 0 waits in the controllers until v86 polls again', () => {
    const { cpu, raise, redirect } = setup();
    redirect(5, 0x45);
    cpu.interruptsEnabled = false;
    raise(5);
    expect(cpu.delivered).toEqual([]);
    cpu.interruptsEnabled = true;
    cpu.handle_irqs(); // v86's main loop after a slice, or the instruction after STI
    expect(cpu.delivered).toEqual([0x45]);
  });

  it("the LAPIC timer runs on v86's clock: nothing before the count expires, the vector after", () => {
    const { cpu, clock } = setup();
    cpu.write32(LAPIC + 0x3e0, 0x0b); // divide by 1 (1 GHz timer clock)
    cpu.write32(LAPIC + 0x320, 0xe0); // one-shot, vector 0xE0
    cpu.write32(LAPIC + 0x380, 2_000_000); // 2 ms
    clock.ms = 1.5;
    expect(cpu.devices.apic.timer!()).toBeCloseTo(0.5, 6); // ms until it is due
    cpu.handle_irqs();
    expect(cpu.delivered).toEqual([]);
    expect(cpu.read32(LAPIC + 0x390)).toBe(500_000); // current count reads v86's present time
    clock.ms = 2;
    cpu.devices.apic.timer!();
    cpu.handle_irqs();
    expect(cpu.delivered).toEqual([0xe0]);
  });

  it("a level GSI >= 16 from the test ports is re-delivered after an EOI while still asserted", () => {
    const { cpu, redirect } = setup();
    redirect(16, 0xa000 | 0x50); // level, active low
    cpu.out(0x2010, 1);
    cpu.write32(LAPIC + 0xb0, 0); // EOI, line still asserted
    cpu.out(0x2010, 0);
    cpu.write32(LAPIC + 0xb0, 0);
    expect(cpu.delivered).toEqual([0x50, 0x50]);
  });

  it("v86's save_state/restore_state carry the controllers: a pending vector survives into a new emulator", () => {
    const a = setup();
    a.cpu.interruptsEnabled = false;
    a.cpu.write32(LAPIC + 0x300, 0x40000 | 0x52); // self-IPI, pending while IF = 0
    a.clock.ms = 7;
    const state = a.cpu.devices.pic.get_state();
    const b = setup();
    b.clock.ms = 100; // the new emulator's clock is elsewhere; the snapshot's time maps onto it
    b.cpu.devices.pic.set_state(state);
    b.cpu.handle_irqs();
    expect(b.cpu.delivered).toEqual([0x52]);
    expect(b.adapter.platform.clock.now()).toBe(7_000_000);
  });

  it('byte reads of the APIC page return the bytes of the 32-bit register', () => {
    const { cpu } = setup();
    const version = cpu.read32(LAPIC + 0x30);
    expect(cpu.read8(LAPIC + 0x30)).toBe(version & 0xff);
    expect(cpu.read8(LAPIC + 0x32)).toBe((version >>> 16) & 0xff);
  });
});
