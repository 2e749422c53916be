import { describe, expect, it } from 'vitest';
import { IRR0, ISR0, pageVectors, rig } from './helpers.js';

describe('INIT reset and wait-for-SIPI (SDM "Local APIC State After an INIT Reset")', () => {
  it('INIT parks an AP in wait-for-SIPI and reports the event', () => {
    const { apic, events } = rig({ id: 1 });
    apic.acceptMessage(5, 0, false);
    expect(apic.cpuState).toBe('wait-for-sipi');
    expect(events.map(([e]) => e)).toContain('init');
  });

  it('INIT on the BSP restarts it instead of waiting for SIPI', () => {
    const { apic } = rig({ bsp: true });
    apic.acceptMessage(5, 0, false);
    expect(apic.cpuState).toBe('running');
  });

  it('INIT resets registers to power-up values but keeps the APIC ID and mode', () => {
    const { apic } = rig({ id: 6 });
    apic.writeRegister(0x20, 0x0900_0000);
    apic.writeRegister(0x80, 0x40);
    apic.writeRegister(0xd0, 0x0100_0000);
    apic.writeRegister(0x360, 0x400);
    apic.acceptInterrupt(0x90, true);
    apic.acknowledge();
    apic.acceptInterrupt(0x91, false);
    apic.init();
    expect(apic.readRegister(0x20)).toBe(0x0900_0000);
    expect(apic.readRegister(0x80)).toBe(0);
    expect(apic.readRegister(0xd0)).toBe(0);
    expect(apic.readRegister(0xe0)).toBe(0xffffffff);
    expect(apic.readRegister(0xf0)).toBe(0xff);
    expect(apic.readRegister(0x360)).toBe(0x10000);
    expect(pageVectors(apic, IRR0)).toEqual([]);
    expect(pageVectors(apic, ISR0)).toEqual([]);
    expect(pageVectors(apic, 0x180)).toEqual([]);
    expect(apic.mode).toBe('xapic');
  });

  it('INIT in x2APIC mode stays in x2APIC mode with the derived LDR', () => {
    const { apic } = rig({ id: 0x21, x2apic: true });
    apic.init();
    expect(apic.mode).toBe('x2apic');
    expect(apic.readMsr(0x80d)).toBe((2n << 16n) | 2n);
  });

  it('a SIPI starts a waiting CPU at vector << 12', () => {
    const { apic, events } = rig({ id: 1 });
    apic.acceptMessage(5, 0, false);
    apic.acceptMessage(6, 0x9a, false);
    expect(apic.cpuState).toBe('running');
    expect(apic.startupVector).toBe(0x9a);
    expect(events).toContainEqual(['sipi', 0x9a]);
  });

  it('a SIPI to a CPU that is not waiting is ignored (the second SIPI of INIT-SIPI-SIPI)', () => {
    const { apic } = rig({ id: 1 });
    apic.acceptMessage(5, 0, false);
    apic.acceptMessage(6, 0x10, false);
    apic.acceptMessage(6, 0x20, false);
    expect(apic.startupVector).toBe(0x10);
    expect(apic.stats.sipisIgnored).toBe(1);
  });

  it('INIT clears a pending NMI', () => {
    const { apic } = rig({ id: 1 });
    apic.acceptNmi();
    apic.acceptMessage(5, 0, false);
    expect(apic.takeNmi()).toBe(false);
  });

  it('with autoInitSipi off, INIT and SIPI are only reported and the host decides', () => {
    const { apic, events } = rig({ id: 1, autoInitSipi: false });
    apic.writeRegister(0x80, 0x40);
    apic.acceptMessage(5, 0, false);
    expect(apic.readRegister(0x80)).toBe(0x40);
    expect(apic.takeInit()).toBe(true);
    apic.acceptMessage(6, 0x30, false);
    expect(events).toContainEqual(['sipi', 0x30]);
    apic.init();
    expect(apic.readRegister(0x80)).toBe(0);
    apic.startup(0x30);
    expect(apic.cpuState).toBe('running');
  });

  it('power-up reset() returns to xAPIC mode with the initial ID', () => {
    const { apic } = rig({ id: 3 });
    apic.writeMsr(0x1b, 0xfee00c00n);
    apic.reset();
    expect(apic.mode).toBe('xapic');
    expect(apic.readRegister(0x20)).toBe(0x0300_0000);
    expect(apic.softwareEnabled).toBe(false);
  });
});
