import { describe, expect, it } from 'vitest';
import { Machine } from '../../src/machine/machine.js';
import { Platform } from '../../src/platform/platform.js';
import { enableAll, rte } from './helpers.js';

const VERSION = 0x30;
const SVR = 0xf0;
const DIRECTED_EOI_BIT = 1 << 24; // version register bit 24: EOI-broadcast suppression supported
const SUPPRESS_EOI_BROADCAST = 1 << 12; // SVR bit 12

describe('device options reach the devices Platform builds', () => {
  it('with ioapicVersion 0x11 the local APICs do not advertise EOI-broadcast suppression (no EOI register to EOI instead)', () => {
    const pc = new Platform({ cpus: 2, ioapicVersion: 0x11 });
    for (const apic of pc.lapics) {
      expect(apic.readRegister(VERSION) & DIRECTED_EOI_BIT).toBe(0);
      apic.writeRegister(SVR, 0x1ff | SUPPRESS_EOI_BROADCAST);
      expect(apic.readRegister(SVR)).toBe(0x1ff); // bit 12 is reserved without directed EOI
    }
  });

  it('with the default I/O xAPIC (0x20) directed EOI is advertised', () => {
    const pc = new Platform({ cpus: 1 });
    expect(pc.lapics[0]!.readRegister(VERSION) & DIRECTED_EOI_BIT).toBe(DIRECTED_EOI_BIT);
  });

  it('lapic.directedEoi: false turns it off with an I/O xAPIC', () => {
    const pc = new Platform({ cpus: 1, lapic: { directedEoi: false } });
    expect(pc.lapics[0]!.readRegister(VERSION) & DIRECTED_EOI_BIT).toBe(0);
  });

  it('lapic.directedEoi: true with an 82093AA (0x11) I/O APIC is a RangeError', () => {
    expect(() => new Platform({ cpus: 1, ioapic: { version: 0x11 }, lapic: { directedEoi: true } })).toThrow(/lapic\.directedEoi: true needs an I\/O APIC with the EOI register/);
  });

  it('lapic.minTimerPeriodNs reaches the timers: a periodic count of 1 fires every 1000 ns', () => {
    const pc = new Platform({ cpus: 1, lapic: { minTimerPeriodNs: 1000 } });
    const bsp = pc.lapics[0]!;
    bsp.writeRegister(SVR, 0x1ff);
    bsp.writeRegister(0x3e0, 0x0b); // divide by 1
    bsp.writeRegister(0x320, 0x20040); // periodic, vector 0x40
    bsp.writeRegister(0x380, 1); // one 1 ns tick, clamped to the 1000 ns floor
    pc.scheduler!.runUntil(10_000);
    expect(bsp.stats.timerFires).toBe(10); // at 1000, 2000, ..., 10000
  });

  it('lapic.x2apicSupported: false makes setting IA32_APIC_BASE.EXTD a #GP', () => {
    const pc = new Platform({ cpus: 1, lapic: { x2apicSupported: false } });
    expect(pc.lapics[0]!.writeMsr(0x1b, 0xfee00000n | (1n << 11n) | (1n << 10n) | (1n << 8n))).toBe(false);
    expect(pc.lapics[0]!.mode).toBe('xapic');
  });

  it('lapic.physAddrBits bounds the APIC base: bit 36 is reserved at 36 bits, writable at 40', () => {
    const base = (1n << 36n) | 0xfee00000n | (1n << 11n) | (1n << 8n);
    expect(new Platform({ cpus: 1 }).lapics[0]!.writeMsr(0x1b, base)).toBe(false);
    expect(new Platform({ cpus: 1, lapic: { physAddrBits: 40 } }).lapics[0]!.writeMsr(0x1b, base)).toBe(true);
  });

  it('ioapic.id is the I/O APIC ID at reset (IOAPICID bits 27:24)', () => {
    const pc = new Platform({ cpus: 1, ioapic: { id: 9 } });
    pc.ioapic.writeRegister(0x00, 0x00);
    expect(pc.ioapic.readRegister(0x10)).toBe(9 << 24);
    expect(pc.firmware().ioapic.id).toBe(9);
  });

  it('ioapic.stormThreshold reaches the I/O APIC: the second immediate re-delivery is deferred at threshold 1', () => {
    const pc = new Platform({ cpus: 1, pciActiveLow: false, ioapic: { stormThreshold: 1 } });
    enableAll(pc);
    rte(pc, 16, 0x8000 | 0x41); // level, active high
    pc.setIrq(16, true);
    for (let i = 0; i < 2; i++) {
      expect(pc.cpuAcknowledge(0)).toBe(0x41);
      pc.lapics[0]!.eoi(); // the line stays asserted: re-delivered
    }
    expect(pc.ioapic.stats.stormDeferrals).toBe(1);
  });

  it('ioapic.pins works like ioapicPins; both with different values is a RangeError', () => {
    expect(new Platform({ cpus: 1, ioapic: { pins: 48 } }).ioapic.pins).toBe(48);
    expect(new Platform({ cpus: 1, ioapicPins: 48, ioapic: { pins: 48 } }).ioapic.pins).toBe(48);
    expect(() => new Platform({ cpus: 1, ioapicPins: 24, ioapic: { pins: 48 } })).toThrow(/ioapicPins \(24\) and ioapic\.pins \(48\) disagree/);
    expect(() => new Platform({ cpus: 1, timerHz: 1e9, lapic: { timerHz: 2e9 } })).toThrow(RangeError);
    expect(() => new Platform({ cpus: 1, ioapic: { pins: 0 } })).toThrow(/ioapic\.pins must be an integer in 1\.\.120/);
  });

  it('x2apic: true with lapic.x2apicSupported: false is a RangeError; non-object device options are TypeErrors', () => {
    expect(() => new Platform({ cpus: 1, x2apic: true, lapic: { x2apicSupported: false } })).toThrow(/x2apic: true needs lapic\.x2apicSupported/);
    expect(() => new Platform({ cpus: 1, lapic: 5 as never })).toThrow(TypeError);
    expect(() => new Platform({ cpus: 1, ioapic: null as never })).toThrow(/ioapic must be an object, got null/);
  });
});

describe('Machine passes the platform options through', () => {
  it('ioapic, lapic and wiring options reach its Platform and survive a snapshot', () => {
    const m = new Machine({ cpus: 1, backend: 'vmx-event', ioapic: { version: 0x11 }, lapic: { minTimerPeriodNs: 5000 }, isaOverrides: [], picOutput: 'lint0-bsp' });
    const check = (x: Machine) => {
      expect(x.platform.ioapic.version).toBe(0x11);
      expect(x.platform.lapics[0]!.readRegister(VERSION) & DIRECTED_EOI_BIT).toBe(0);
      expect(x.platform.isaGsi(0)).toBe(0);
      expect(x.platform.firmware().picOutput).toBe('lint0-bsp');
    };
    check(m);
    check(Machine.restore(m.snapshot()));
  });

  it('a picOutput callback is a TypeError for a Machine (its vCPUs take the 8259A interrupts)', () => {
    expect(() => new Machine({ cpus: 1, backend: 'vmx-event', picOutput: (() => {}) as never })).toThrow(/picOutput must be a route name for a Machine/);
  });
});

describe('directed EOI follows x2APIC support by default (KVM)', () => {
  it('lapic.x2apicSupported: false leaves directed EOI unadvertised unless asked for', () => {
    expect(new Platform({ cpus: 1, lapic: { x2apicSupported: false } }).lapics[0]!.readRegister(VERSION) & DIRECTED_EOI_BIT).toBe(0);
    expect(new Platform({ cpus: 1, lapic: { x2apicSupported: false, directedEoi: true } }).lapics[0]!.readRegister(VERSION) & DIRECTED_EOI_BIT).toBe(DIRECTED_EOI_BIT);
  });
});
