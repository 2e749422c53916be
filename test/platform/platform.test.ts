import { describe, expect, it } from 'vitest';
import { Platform, type CpuEvent } from '../../src/platform/platform.js';
import { Scheduler } from '../../src/time/scheduler.js';
import { enableAll, initPic, rte } from './helpers.js';

describe('Platform wiring', () => {
  it('ISA IRQ0 reaches I/O APIC pin 2 (the MADT interrupt source override)', () => {
    const pc = new Platform({ cpus: 1 });
    enableAll(pc);
    rte(pc, 2, 0x30);
    rte(pc, 0, 0x10000 | 0x3f); // pin 0 masked
    pc.setIrq(0, true);
    expect(pc.ioapic.pinLevel(2)).toBe(true);
    expect(pc.cpuAcknowledge(0)).toBe(0x30);
  });

  it('other ISA IRQs keep their pin number', () => {
    const pc = new Platform({ cpus: 1 });
    pc.setIrq(4, true);
    expect(pc.ioapic.pinLevel(4)).toBe(true);
    expect(pc.pic.lines & (1 << 4)).not.toBe(0);
  });

  it('ISA IRQ2 is the 8259A cascade and does not reach the I/O APIC', () => {
    const pc = new Platform({ cpus: 1 });
    pc.setIrq(2, true);
    expect(pc.ioapic.pinLevel(2)).toBe(false);
  });

  it('GSIs >= 16 are active-low PCI lines: idle high, asserted low', () => {
    const pc = new Platform({ cpus: 1 });
    expect(pc.ioapic.pinLevel(16)).toBe(true);
    pc.setIrq(16, true);
    expect(pc.ioapic.pinLevel(16)).toBe(false);
    const hi = new Platform({ cpus: 1, pciActiveLow: false });
    hi.setIrq(16, true);
    expect(hi.ioapic.pinLevel(16)).toBe(true);
  });

  it('the 8259A output drives every LINT0 and I/O APIC pin 0', () => {
    const pc = new Platform({ cpus: 2 });
    enableAll(pc);
    initPic(pc);
    for (const a of pc.lapics) a.writeRegister(0x350, 0x700);
    pc.setIrq(1, true);
    expect(pc.ioapic.pinLevel(0)).toBe(true);
    expect(pc.cpuHasInterrupt(0)).toBe(true);
    expect(pc.cpuHasInterrupt(1)).toBe(true);
  });

  it('virtual wire B: I/O APIC pin 0 in ExtINT mode brings the 8259A to its destination', () => {
    const pc = new Platform({ cpus: 2 });
    enableAll(pc);
    initPic(pc);
    rte(pc, 0, 0x700, 0x01000000); // ExtINT, edge, CPU 1
    pc.setIrq(3, true);
    expect(pc.cpuHasInterrupt(0)).toBe(false);
    expect(pc.cpuHasInterrupt(1)).toBe(true);
    expect(pc.cpuAcknowledge(1)).toBe(0x23);
  });

  it('ExtINT is acknowledged before a pending LAPIC vector', () => {
    const pc = new Platform({ cpus: 1 });
    enableAll(pc);
    initPic(pc);
    pc.lapics[0]!.writeRegister(0x350, 0x700);
    pc.lapics[0]!.acceptInterrupt(0xe0, false);
    pc.setIrq(5, true);
    expect(pc.explain(0, 0xe0).reason).toBe('extint-first');
    expect(pc.cpuAcknowledge(0)).toBe(0x25);
    pc.setIrq(5, false);
    pc.pic.ioWrite(0x20, 0x20);
    expect(pc.cpuAcknowledge(0)).toBe(0xe0);
  });

  it('with the local APIC globally disabled the 8259A drives INTR directly', () => {
    const pc = new Platform({ cpus: 1 });
    initPic(pc);
    pc.lapics[0]!.writeMsr(0x1b, 0xfee00100n); // EN = 0 (BSP kept)
    pc.setIrq(1, true);
    expect(pc.cpuHasInterrupt(0)).toBe(true);
    expect(pc.cpuAcknowledge(0)).toBe(0x21);
  });

  it('a level I/O APIC interrupt is neither lost nor doubled through EOI', () => {
    const pc = new Platform({ cpus: 1 });
    enableAll(pc);
    rte(pc, 20, 0xa000 | 0x61); // level, active low
    pc.setIrq(20, true);
    expect(pc.cpuAcknowledge(0)).toBe(0x61);
    pc.setIrq(20, true); // still asserted: nothing new while remote IRR is set
    expect(pc.cpuHasInterrupt(0)).toBe(false);
    pc.lapics[0]!.eoi(); // EOI while the line is still asserted: re-delivered once
    expect(pc.cpuAcknowledge(0)).toBe(0x61);
    pc.setIrq(20, false);
    pc.lapics[0]!.eoi();
    expect(pc.cpuHasInterrupt(0)).toBe(false);
  });

  it('directed EOI: with SVR bit 12 the guest EOIs the I/O APIC through its EOI register', () => {
    const pc = new Platform({ cpus: 1 });
    pc.lapics[0]!.writeRegister(0xf0, 0x11ff);
    rte(pc, 20, 0xa000 | 0x62);
    pc.setIrq(20, true);
    pc.cpuAcknowledge(0);
    pc.setIrq(20, false);
    pc.lapics[0]!.eoi();
    expect(pc.ioapic.remoteIrr(20)).toBe(true); // suppressed broadcast
    pc.ioapic.writeRegister(0x40, 0x62);
    expect(pc.ioapic.remoteIrr(20)).toBe(false);
  });

  it('MSIs go through the bus', () => {
    const pc = new Platform({ cpus: 2 });
    enableAll(pc);
    expect(pc.sendMsi(0xfee01000, 0x4a)).toBe(1);
    expect(pc.cpuAcknowledge(1)).toBe(0x4a);
  });

  it('the NMI line reaches LINT1 of every CPU', () => {
    const pc = new Platform({ cpus: 2 });
    enableAll(pc);
    for (const a of pc.lapics) a.writeRegister(0x360, 0x400);
    pc.setNmiLine(true);
    expect(pc.takeNmi(0)).toBe(true);
    expect(pc.takeNmi(1)).toBe(true);
    expect(pc.takeNmi(1)).toBe(false);
  });
});

describe('Platform CPU events', () => {
  it('INIT, SIPI, NMI and interrupt kicks are reported with the CPU index', () => {
    const pc = new Platform({ cpus: 2 });
    enableAll(pc);
    const seen: Array<[number, string, number]> = [];
    pc.onCpuEvent((e: CpuEvent) => seen.push([e.cpu, e.kind, e.vector]));
    const bsp = pc.lapics[0]!;
    bsp.writeRegister(0x310, 0x01000000);
    bsp.writeRegister(0x300, 0x4500); // INIT to CPU 1
    bsp.writeRegister(0x300, 0x4620); // SIPI 0x20
    bsp.writeRegister(0x300, 0x0400); // NMI
    bsp.writeRegister(0x300, 0x0044); // fixed 0x44
    expect(seen).toEqual([
      [1, 'init', 0],
      [1, 'sipi', 0x20],
      [1, 'nmi', 0],
    ]);
  });

  it('fixed interrupts report an interrupt kick once the target is enabled again', () => {
    const pc = new Platform({ cpus: 2 });
    enableAll(pc);
    const seen: Array<[number, string, number]> = [];
    pc.onCpuEvent((e) => seen.push([e.cpu, e.kind, e.vector]));
    pc.sendMsi(0xfee01000, 0x44);
    expect(seen).toEqual([[1, 'interrupt', 0x44]]);
  });
});

describe('Platform explain', () => {
  it('names the obstacle: TPR, ISR, remote IRR, masking, software disable, nothing requested', () => {
    const pc = new Platform({ cpus: 1 });
    const apic = pc.lapics[0]!;
    expect(pc.explain(0, 0x40).reason).toBe('apic-software-disabled');
    apic.writeRegister(0xf0, 0x1ff);
    expect(pc.explain(0, 0x40).reason).toBe('not-requested');
    expect(pc.explain(0, 5).reason).toBe('illegal-vector');
    apic.writeRegister(0x80, 0x50);
    apic.acceptInterrupt(0x45, false);
    const tpr = pc.explain(0, 0x45);
    expect(tpr).toMatchObject({ deliverable: false, reason: 'blocked-by-tpr' });
    expect(tpr.message).toContain('0x50');
    apic.writeRegister(0x80, 0);
    expect(pc.explain(0, 0x45)).toMatchObject({ deliverable: true, reason: 'deliverable' });
    apic.acceptInterrupt(0x90, false);
    expect(pc.explain(0, 0x45).reason).toBe('higher-vector-first');
    apic.acknowledge();
    expect(pc.explain(0, 0x90).reason).toBe('in-service');
    expect(pc.explain(0, 0x45).reason).toBe('blocked-by-isr');
    rte(pc, 20, 0x1a000 | 0x66); // masked level active-low entry
    pc.setIrq(20, true);
    expect(pc.explain(0, 0x66).reason).toBe('ioapic-masked');
    apic.eoi(); // 0x90 done
    apic.writeRegister(0xf0, 0x11ff); // directed EOI: the LAPIC EOI no longer reaches the I/O APIC
    rte(pc, 20, 0xa000 | 0x66); // unmasked while asserted: delivered now, remote IRR set
    expect(apic.acknowledge()).toBe(0x66);
    apic.eoi();
    expect(pc.explain(0, 0x66).reason).toBe('ioapic-remote-irr');
    pc.lapics[0]!.writeMsr(0x1b, 0xfee00100n);
    expect(pc.explain(0, 0x66).reason).toBe('apic-disabled');
  });
});

describe('Platform host misuse', () => {
  it('rejects bad options, GSIs, CPUs and vectors with named errors', () => {
    expect(() => new Platform({ cpus: 0 })).toThrow(/cpus/);
    expect(() => new Platform({ cpus: 256 })).toThrow(/cpus/);
    expect(() => new Platform({ cpus: 256, x2apic: true })).not.toThrow();
    const pc = new Platform({ cpus: 2 });
    expect(() => pc.setIrq(24, true)).toThrow(/gsi/);
    expect(() => pc.setIrq(3, 1 as unknown as boolean)).toThrow(TypeError);
    expect(() => pc.cpuHasInterrupt(2)).toThrow(/cpu/);
    expect(() => pc.explain(0, 256)).toThrow(/vector/);
    expect(() => pc.onCpuEvent(5 as never)).toThrow(TypeError);
  });

  it('uses a given clock and leaves scheduler undefined for a foreign one', () => {
    const clock = new Scheduler();
    expect(new Platform({ cpus: 1, clock }).scheduler).toBe(clock);
    const foreign = { now: () => 0, schedule: () => 1, cancel: () => {} };
    expect(new Platform({ cpus: 1, clock: foreign }).scheduler).toBeUndefined();
  });
});
