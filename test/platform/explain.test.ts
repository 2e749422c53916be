import { describe, expect, it } from 'vitest';
import { Platform } from '../../src/platform/platform.js';
import { initPic as initPicUnmasked, rte } from './helpers.js';

/** Both 8259As initialised, everything masked. */
const initPic = (pc: Platform): void => initPicUnmasked(pc, 0xff);

describe('explain: the I/O APIC, the 8259A and the LVT', () => {
  it('ioapic-polarity-inactive: an active-low entry whose wire is high', () => {
    const pc = new Platform({ cpus: 1, pciActiveLow: false });
    pc.lapics[0]!.writeRegister(0xf0, 0x1ff);
    rte(pc, 17, 0x12000 | 0x71); // masked, active low
    pc.setIrq(17, true); // wire high
    const e = pc.explain(0, 0x71);
    expect(e.reason).toBe('ioapic-polarity-inactive');
    expect(e.message).toContain('pin 17');
  });

  it('pic-masked: the IRQ is requested at the 8259A but its IMR bit is set', () => {
    const pc = new Platform({ cpus: 1 });
    initPic(pc);
    pc.setIrq(3, true);
    expect(pc.explain(0, 0x23)).toMatchObject({ deliverable: false, reason: 'pic-masked' });
    expect(pc.explain(0, 0x23).message).toContain('IRQ3');
  });

  it('pic-in-service: a higher-priority IRQ is in service at the 8259A', () => {
    const pc = new Platform({ cpus: 1 });
    initPic(pc);
    pc.pic.ioWrite(0x21, 0x00);
    const bsp = pc.lapics[0]!;
    bsp.writeRegister(0xf0, 0x1ff);
    bsp.writeRegister(0x350, 0x700);
    pc.setIrq(1, true);
    expect(pc.cpuAcknowledge(0)).toBe(0x21); // IRQ1 in service, no EOI yet
    pc.setIrq(4, true);
    expect(pc.explain(0, 0x24).reason).toBe('pic-in-service');
  });

  it('pic-cascade-blocked: a slave IRQ while the master masks IR2', () => {
    const pc = new Platform({ cpus: 1 });
    initPic(pc);
    pc.pic.ioWrite(0xa1, 0x00); // slave unmasked, master IR2 still masked
    pc.setIrq(10, true);
    expect(pc.explain(0, 0x2a).reason).toBe('pic-cascade-blocked');
  });

  it('pic-lint0-masked and pic-deliverable: the 8259A path through LINT0', () => {
    const pc = new Platform({ cpus: 1 });
    initPic(pc);
    pc.pic.ioWrite(0x21, 0x00);
    const bsp = pc.lapics[0]!;
    bsp.writeRegister(0xf0, 0x1ff);
    pc.setIrq(5, true);
    expect(pc.explain(0, 0x25).reason).toBe('pic-lint0-masked');
    bsp.writeRegister(0x350, 0x700);
    expect(pc.explain(0, 0x25)).toMatchObject({ deliverable: true, reason: 'pic-deliverable' });
  });

  it('with the local APIC globally disabled the 8259A path is explained directly', () => {
    const pc = new Platform({ cpus: 1 });
    initPic(pc);
    pc.pic.ioWrite(0x21, 0x00);
    pc.lapics[0]!.writeMsr(0x1b, 0xfee00100n);
    pc.setIrq(6, true);
    expect(pc.explain(0, 0x26).reason).toBe('pic-deliverable');
    expect(pc.explain(0, 0x60).reason).toBe('apic-disabled');
  });

  it('lvt-masked: a local source whose LVT entry is masked', () => {
    const pc = new Platform({ cpus: 1 });
    const apic = pc.lapics[0]!;
    apic.writeRegister(0xf0, 0x1ff);
    apic.writeRegister(0x320, 0x100ec); // timer LVT, vector 0xEC, masked
    expect(pc.explain(0, 0xec)).toMatchObject({ deliverable: false, reason: 'lvt-masked' });
    expect(pc.explain(0, 0xec).message).toContain('timer');
  });
});
