import { describe, expect, it } from 'vitest';
import { LocalApic } from '../../src/apic/local-apic.js';
import { Scheduler } from '../../src/time/scheduler.js';
import {
  APR,
  DFR,
  EOI,
  ESR,
  ICR_HI,
  ICR_LO,
  ID,
  IRR0,
  ISR0,
  LDR,
  LVT_CMCI,
  LVT_ERROR,
  LVT_LINT0,
  LVT_LINT1,
  LVT_PERF,
  LVT_THERMAL,
  LVT_TIMER,
  MASKED,
  PPR,
  SVR,
  TIMER_CCR,
  TIMER_DCR,
  TIMER_ICR,
  TMR0,
  TPR,
  VERSION,
  enableApic,
  pageBit,
  pageVectors,
  readEsr,
  rig,
} from './helpers.js';

describe('LocalApic reset values (SDM "Local APIC State After Power-Up or Reset")', () => {
  it('version register is 0x14 with max LVT entry 6 and the directed-EOI bit', () => {
    const { apic } = rig({ enable: false });
    expect(apic.readRegister(VERSION)).toBe(0x01060014);
  });

  it('version register omits bit 24 when directed EOI is not offered', () => {
    const { apic } = rig({ enable: false, directedEoi: false });
    expect(apic.readRegister(VERSION)).toBe(0x00060014);
  });

  it('ID register holds the xAPIC ID in bits 31:24', () => {
    const { apic } = rig({ id: 5, enable: false });
    expect(apic.readRegister(ID)).toBe(0x05000000);
  });

  it('DFR reads all ones, SVR reads 0xFF, TPR/PPR/APR/LDR/ESR read 0', () => {
    const { apic } = rig({ enable: false });
    expect(apic.readRegister(DFR)).toBe(0xffffffff);
    expect(apic.readRegister(SVR)).toBe(0xff);
    for (const off of [TPR, PPR, APR, LDR, ESR, ICR_LO, ICR_HI, TIMER_ICR, TIMER_CCR, TIMER_DCR]) {
      expect(apic.readRegister(off), `offset ${off.toString(16)}`).toBe(0);
    }
  });

  it('every LVT entry is masked (0x00010000)', () => {
    const { apic } = rig({ enable: false });
    for (const off of [LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_LINT0, LVT_LINT1, LVT_ERROR, LVT_CMCI]) {
      expect(apic.readRegister(off), `offset ${off.toString(16)}`).toBe(MASKED);
    }
  });

  it('IRR, ISR and TMR are empty and the APIC starts software-disabled in xAPIC mode', () => {
    const { apic } = rig({ enable: false });
    expect(pageVectors(apic, IRR0)).toEqual([]);
    expect(pageVectors(apic, ISR0)).toEqual([]);
    expect(pageVectors(apic, TMR0)).toEqual([]);
    expect(apic.softwareEnabled).toBe(false);
    expect(apic.mode).toBe('xapic');
  });

  it('IA32_APIC_BASE is 0xFEE00000 | EN, plus BSP for the bootstrap processor', () => {
    expect(rig({ enable: false }).apic.readMsr(0x1b)).toBe(0xfee00800n);
    expect(rig({ enable: false, bsp: true }).apic.readMsr(0x1b)).toBe(0xfee00900n);
  });

  it('the page is a 1024-word Uint32Array with registers at their real offsets', () => {
    const { apic } = rig({ id: 3, enable: false });
    expect(apic.page).toBeInstanceOf(Uint32Array);
    expect(apic.page.length).toBe(1024);
    expect(apic.page[0x20 >> 2]).toBe(0x03000000);
    expect(apic.page[0x30 >> 2]).toBe(0x01060014);
    expect(apic.page[0xe0 >> 2]).toBe(0xffffffff);
  });
});

describe('IRR, ISR and TMR', () => {
  it('acceptInterrupt sets the IRR bit at its real page offset', () => {
    const { apic } = rig();
    apic.acceptInterrupt(0x41, false);
    // 0x41 = word 2, bit 1: IRR word 2 is at 0x220.
    expect(apic.readRegister(0x220)).toBe(1 << 1);
    expect(apic.page[0x220 >> 2]).toBe(2);
  });

  it('a level-triggered acceptance sets TMR, an edge acceptance clears it', () => {
    const { apic } = rig();
    apic.acceptInterrupt(0x50, true);
    expect(pageBit(apic, TMR0, 0x50)).toBe(true);
    apic.acknowledge();
    apic.eoi();
    apic.acceptInterrupt(0x50, false);
    expect(pageBit(apic, TMR0, 0x50)).toBe(false);
  });

  it('a coalescing acceptance still writes TMR by its own trigger mode, with or without an event handler', () => {
    // SDM "Interrupt Acceptance for Fixed Interrupts": TMR takes the trigger mode of each accepted
    // request; KVM's __apic_accept_irq also updates TMR when the IRR bit was already set.
    for (const onEvent of [undefined, () => {}]) {
      const { apic } = rig({ onEvent });
      apic.acceptInterrupt(0x50, true);
      apic.acceptInterrupt(0x50, false);
      expect(pageBit(apic, TMR0, 0x50)).toBe(false);
      apic.acceptInterrupt(0x50, true);
      expect(pageBit(apic, TMR0, 0x50)).toBe(true);
      expect(pageVectors(apic, IRR0)).toEqual([0x50]);
      expect([apic.stats.accepted, apic.stats.coalesced]).toEqual([1, 2]);
    }
  });

  it('pendingVector is -1 while the APIC is globally disabled, whatever the page holds', () => {
    const { apic } = rig();
    apic.acceptInterrupt(0x80, false);
    apic.writeMsr(0x1b, 0n); // IA32_APIC_BASE.EN = 0
    expect(apic.mode).toBe('disabled');
    apic.page[(IRR0 >> 2) + 4] = 1; // vector 0x80, written behind the APIC's back
    apic.resync();
    expect(apic.pendingVector()).toBe(-1);
    apic.writeMsr(0x1b, 0xfee00800n); // enabled again: power-up state, IRR cleared
    enableApic(apic);
    apic.acceptInterrupt(0x80, false);
    expect(apic.pendingVector()).toBe(0x80);
  });

  it('an event handler installed later sees every later acceptance', () => {
    const { apic } = rig({ onEvent: undefined });
    apic.acceptInterrupt(0x40, false);
    const seen: Array<[string, number]> = [];
    apic.setEventHandler((e, v) => seen.push([e, v]));
    apic.acceptInterrupt(0x40, false);
    apic.acceptInterrupt(0x41, false);
    apic.setEventHandler(undefined);
    apic.acceptInterrupt(0x42, false);
    expect(seen).toEqual([
      ['coalesced', 0x40],
      ['interrupt', 0x41],
    ]);
    expect([apic.stats.accepted, apic.stats.coalesced]).toEqual([3, 1]);
  });

  it('EOI does not clear TMR (only the next acceptance decides it)', () => {
    const { apic } = rig();
    apic.acceptInterrupt(0x50, true);
    apic.acknowledge();
    apic.eoi();
    expect(pageBit(apic, TMR0, 0x50)).toBe(true);
  });

  it('a second request for a vector already in IRR coalesces and is counted', () => {
    const { apic } = rig();
    apic.acceptInterrupt(0x60, false);
    apic.acceptInterrupt(0x60, false);
    expect(apic.stats.accepted).toBe(1);
    expect(apic.stats.coalesced).toBe(1);
    expect(pageVectors(apic, IRR0)).toEqual([0x60]);
  });

  it('acknowledge moves the highest pending vector from IRR to ISR', () => {
    const { apic } = rig();
    apic.acceptInterrupt(0x31, false);
    apic.acceptInterrupt(0x91, false);
    expect(apic.pendingVector()).toBe(0x91);
    expect(apic.acknowledge()).toBe(0x91);
    expect(pageVectors(apic, IRR0)).toEqual([0x31]);
    expect(pageVectors(apic, ISR0)).toEqual([0x91]);
  });

  it('IRR/ISR/TMR are read-only through MMIO', () => {
    const { apic } = rig();
    apic.writeRegister(IRR0 + 0x10, 0xffffffff);
    apic.writeRegister(ISR0 + 0x10, 0xffffffff);
    apic.writeRegister(TMR0 + 0x10, 0xffffffff);
    expect(pageVectors(apic, IRR0)).toEqual([]);
    expect(pageVectors(apic, ISR0)).toEqual([]);
    expect(pageVectors(apic, TMR0)).toEqual([]);
    expect(readEsr(apic)).toBe(0);
  });

  it('the interrupt event reports each acceptance', () => {
    const { apic, events } = rig();
    apic.acceptInterrupt(0x40, false);
    expect(events).toEqual([['interrupt', 0x40]]);
  });
});

describe('TPR, PPR and APR (SDM "Task and Processor Priorities")', () => {
  it('PPR follows TPR when nothing is in service', () => {
    const { apic } = rig();
    apic.writeRegister(TPR, 0x45);
    expect(apic.readRegister(PPR)).toBe(0x45);
  });

  it('PPR is ISRV[7:4] when the in-service class is higher than TPR[7:4]', () => {
    const { apic } = rig();
    apic.writeRegister(TPR, 0x25);
    apic.acceptInterrupt(0x83, false);
    apic.acknowledge();
    expect(apic.readRegister(PPR)).toBe(0x80);
  });

  it('PPR is TPR when TPR[7:4] equals the in-service class', () => {
    const { apic } = rig();
    apic.acceptInterrupt(0x83, false);
    apic.acknowledge();
    apic.writeRegister(TPR, 0x8a);
    expect(apic.readRegister(PPR)).toBe(0x8a);
  });

  it('TPR keeps only bits 7:0', () => {
    const { apic } = rig();
    apic.writeRegister(TPR, 0xffff_ff3c);
    expect(apic.readRegister(TPR)).toBe(0x3c);
  });

  it('a vector is pending only if its class beats PPR[7:4]', () => {
    const { apic } = rig();
    apic.writeRegister(TPR, 0x50);
    apic.acceptInterrupt(0x5f, false);
    expect(apic.pendingVector()).toBe(-1);
    apic.acceptInterrupt(0x60, false);
    expect(apic.pendingVector()).toBe(0x60);
  });

  it('a same-class vector does not preempt the one in service', () => {
    const { apic } = rig();
    apic.acceptInterrupt(0x70, false);
    apic.acknowledge();
    apic.acceptInterrupt(0x7f, false);
    expect(apic.pendingVector()).toBe(-1);
    apic.eoi();
    expect(apic.pendingVector()).toBe(0x7f);
  });

  it('raising TPR blocks, lowering it releases the pending vector', () => {
    const { apic } = rig();
    apic.acceptInterrupt(0x42, false);
    apic.writeRegister(TPR, 0x40);
    expect(apic.pendingVector()).toBe(-1);
    apic.writeRegister(TPR, 0x30);
    expect(apic.pendingVector()).toBe(0x42);
  });

  it('acknowledge with nothing deliverable returns the SVR spurious vector and leaves ISR alone', () => {
    const { apic } = rig();
    apic.writeRegister(SVR, 0x1e7);
    apic.writeRegister(TPR, 0xf0);
    apic.acceptInterrupt(0x42, false);
    expect(apic.acknowledge()).toBe(0xe7);
    expect(pageVectors(apic, ISR0)).toEqual([]);
    expect(pageVectors(apic, IRR0)).toEqual([0x42]);
    expect(apic.stats.spurious).toBe(1);
  });

  it('APR equals TPR when TPR[7:4] >= IRRV[7:4] and > ISRV[7:4]', () => {
    const { apic } = rig();
    apic.writeRegister(TPR, 0x57);
    apic.acceptInterrupt(0x41, false);
    expect(apic.readRegister(APR)).toBe(0x57);
  });

  it('APR is the highest of the TPR, ISRV and IRRV classes otherwise', () => {
    const { apic } = rig();
    apic.writeRegister(TPR, 0x23);
    apic.acceptInterrupt(0x61, false);
    expect(apic.readRegister(APR)).toBe(0x60);
  });

  it('CR8 reads TPR[7:4] and a CR8 write sets TPR[7:4] with TPR[3:0] = 0', () => {
    const { apic } = rig();
    apic.writeRegister(TPR, 0x9c);
    expect(apic.getCr8()).toBe(9);
    expect(apic.setCr8(3)).toBe(true);
    expect(apic.readRegister(TPR)).toBe(0x30);
    expect(apic.readRegister(PPR)).toBe(0x30);
  });

  it('a CR8 write with reserved bits set is a #GP and changes nothing', () => {
    const { apic } = rig();
    apic.setCr8(2);
    expect(apic.setCr8(16)).toBe(false);
    expect(apic.setCr8(-1)).toBe(false);
    expect(apic.setCr8(1n << 40n)).toBe(false);
    expect(apic.setCr8(1.5)).toBe(false);
    expect(apic.getCr8()).toBe(2);
  });

  it('setTpr from the host checks its range', () => {
    const { apic } = rig();
    expect(() => apic.setTpr(256)).toThrow(RangeError);
    expect(() => apic.setTpr(256)).toThrow(/tpr/);
    apic.setTpr(0x20);
    expect(apic.getTpr()).toBe(0x20);
  });
});

describe('EOI', () => {
  it('EOI clears the highest ISR bit and lowers PPR', () => {
    const { apic } = rig();
    apic.acceptInterrupt(0x30, false);
    apic.acknowledge();
    apic.acceptInterrupt(0x80, false);
    apic.acknowledge();
    expect(pageVectors(apic, ISR0)).toEqual([0x30, 0x80]);
    apic.writeRegister(EOI, 0);
    expect(pageVectors(apic, ISR0)).toEqual([0x30]);
    expect(apic.readRegister(PPR)).toBe(0x30);
  });

  it('EOI of a level-triggered vector is broadcast to the I/O APICs', () => {
    const { apic, bus } = rig();
    apic.acceptInterrupt(0x55, true);
    apic.acknowledge();
    apic.eoi();
    expect(bus.eois).toEqual([0x55]);
  });

  it('EOI of an edge-triggered vector is not broadcast', () => {
    const { apic, bus } = rig();
    apic.acceptInterrupt(0x55, false);
    apic.acknowledge();
    apic.eoi();
    expect(bus.eois).toEqual([]);
  });

  it('SVR bit 12 suppresses the EOI broadcast (directed EOI)', () => {
    const { apic, bus } = rig();
    apic.writeRegister(SVR, 0x11ff);
    expect(apic.readRegister(SVR)).toBe(0x11ff);
    apic.acceptInterrupt(0x55, true);
    apic.acknowledge();
    apic.eoi();
    expect(bus.eois).toEqual([]);
    expect(pageVectors(apic, ISR0)).toEqual([]);
  });

  it('SVR bit 12 is reserved when directed EOI is not offered', () => {
    const { apic, bus } = rig({ directedEoi: false });
    apic.writeRegister(SVR, 0x11ff);
    expect(apic.readRegister(SVR)).toBe(0x1ff);
    apic.acceptInterrupt(0x55, true);
    apic.acknowledge();
    apic.eoi();
    expect(bus.eois).toEqual([0x55]);
  });

  it('EOI with an empty ISR changes nothing', () => {
    const { apic, bus } = rig();
    apic.acceptInterrupt(0x55, true);
    const before = Uint32Array.from(apic.page);
    apic.eoi();
    expect(Array.from(apic.page)).toEqual(Array.from(before));
    expect(bus.eois).toEqual([]);
  });

  it('nested interrupts complete in priority order', () => {
    const { apic } = rig();
    apic.acceptInterrupt(0x40, false);
    expect(apic.acknowledge()).toBe(0x40);
    apic.acceptInterrupt(0x90, false);
    expect(apic.acknowledge()).toBe(0x90);
    apic.acceptInterrupt(0x50, false);
    expect(apic.pendingVector()).toBe(-1);
    apic.eoi();
    expect(apic.acknowledge()).toBe(0x50);
    apic.eoi();
    apic.eoi();
    expect(pageVectors(apic, ISR0)).toEqual([]);
  });
});

describe('illegal vectors and ESR (SDM "Error Handling")', () => {
  it('receiving vectors 0-15 sets ESR bit 6 and leaves IRR clear', () => {
    for (const v of [0, 1, 15]) {
      const { apic } = rig();
      apic.acceptInterrupt(v, false);
      expect(pageVectors(apic, IRR0)).toEqual([]);
      expect(readEsr(apic)).toBe(0x40);
    }
  });

  it('vector 16 is legal', () => {
    const { apic } = rig();
    apic.acceptInterrupt(16, false);
    expect(pageVectors(apic, IRR0)).toEqual([16]);
    expect(readEsr(apic)).toBe(0);
  });

  it('ESR shows errors only after a write (write-to-latch), and the next write clears them', () => {
    const { apic } = rig();
    apic.acceptInterrupt(3, false);
    expect(apic.readRegister(ESR)).toBe(0);
    apic.writeRegister(ESR, 0);
    expect(apic.readRegister(ESR)).toBe(0x40);
    apic.writeRegister(ESR, 0);
    expect(apic.readRegister(ESR)).toBe(0);
  });

  it('sending a fixed IPI with vector 0-15 sets ESR bit 5 and sends nothing', () => {
    const { apic, bus } = rig();
    apic.writeRegister(ICR_HI, 0x01000000);
    apic.writeRegister(ICR_LO, 0x0000000f);
    expect(bus.ipis).toEqual([]);
    expect(readEsr(apic)).toBe(0x20);
  });

  it('a new error raises the error LVT interrupt', () => {
    const { apic } = rig();
    apic.writeRegister(LVT_ERROR, 0xfe);
    apic.acceptInterrupt(2, false);
    expect(pageVectors(apic, IRR0)).toEqual([0xfe]);
  });

  it('an error already latched does not raise a second error interrupt', () => {
    const { apic } = rig();
    apic.writeRegister(LVT_ERROR, 0xfe);
    apic.acceptInterrupt(2, false);
    apic.acknowledge();
    apic.eoi();
    apic.acceptInterrupt(3, false);
    expect(pageVectors(apic, IRR0)).toEqual([]);
  });

  it('an error LVT with an illegal vector latches bit 6 without recursing', () => {
    const { apic } = rig();
    apic.writeRegister(LVT_ERROR, 0x05);
    apic.writeRegister(ICR_LO, 0x00000001); // send illegal vector 1
    expect(readEsr(apic)).toBe(0x60);
    expect(pageVectors(apic, IRR0)).toEqual([]);
  });

  it('access to an unimplemented register sets ESR bit 7', () => {
    const { apic } = rig();
    expect(apic.readRegister(0x40)).toBe(0);
    expect(readEsr(apic)).toBe(0x80);
    apic.writeRegister(0x3f0, 0x41); // SELF IPI does not exist in xAPIC mode
    expect(readEsr(apic)).toBe(0x80);
    expect(pageVectors(apic, IRR0)).toEqual([]);
  });

  it('ESR keeps only its defined bits', () => {
    const { apic } = rig();
    apic.writeRegister(ESR, 0xffffffff);
    expect(apic.readRegister(ESR)).toBe(0);
  });
});

describe('software disable through SVR (SDM "Local APIC State After It Has Been Software Disabled")', () => {
  it('clearing SVR bit 8 masks every LVT entry', () => {
    const { apic } = rig();
    apic.writeRegister(LVT_LINT0, 0x700);
    apic.writeRegister(LVT_TIMER, 0x30);
    apic.writeRegister(SVR, 0x0ff);
    expect(apic.readRegister(LVT_LINT0)).toBe(0x10700);
    expect(apic.readRegister(LVT_TIMER)).toBe(0x10030);
  });

  it('LVT entries stay masked while software-disabled', () => {
    const { apic } = rig({ enable: false });
    apic.writeRegister(LVT_THERMAL, 0x44);
    expect(apic.readRegister(LVT_THERMAL)).toBe(0x10044);
  });

  it('re-enabling does not unmask the LVT entries', () => {
    const { apic } = rig();
    apic.writeRegister(LVT_PERF, 0x44);
    apic.writeRegister(SVR, 0x0ff);
    apic.writeRegister(SVR, 0x1ff);
    expect(apic.readRegister(LVT_PERF)).toBe(0x10044);
  });

  it('fixed interrupts are dropped while software-disabled', () => {
    const { apic } = rig({ enable: false });
    apic.acceptInterrupt(0x40, false);
    expect(pageVectors(apic, IRR0)).toEqual([]);
    expect(apic.stats.droppedDisabled).toBe(1);
  });

  it('NMI, INIT and SIPI are still accepted while software-disabled', () => {
    const { apic } = rig({ enable: false });
    expect(apic.acceptMessage(4, 0, false)).toBe(true);
    expect(apic.takeNmi()).toBe(true);
    expect(apic.acceptMessage(5, 0, false)).toBe(true);
    expect(apic.cpuState).toBe('wait-for-sipi');
    expect(apic.acceptMessage(6, 0x9a, false)).toBe(true);
    expect(apic.cpuState).toBe('running');
    expect(apic.startupVector).toBe(0x9a);
  });

  it('interrupts already in IRR stay pending after a software disable', () => {
    const { apic } = rig();
    apic.acceptInterrupt(0x40, false);
    apic.writeRegister(SVR, 0x0ff);
    expect(apic.pendingVector()).toBe(0x40);
  });

  it('SVR reserved bits (10, 11, 13-31) are ignored in xAPIC mode', () => {
    const { apic } = rig();
    apic.writeRegister(SVR, 0xffffffff);
    expect(apic.readRegister(SVR)).toBe(0x13ff);
  });
});

describe('LVT reserved bits per entry (SDM figure "Local Vector Table")', () => {
  it('timer keeps vector, mask and mode bits 18:17', () => {
    const { apic } = rig();
    apic.writeRegister(LVT_TIMER, 0xffffffff);
    expect(apic.readRegister(LVT_TIMER)).toBe(0x700ff);
  });

  it('thermal, performance and CMCI keep vector, delivery mode and mask', () => {
    const { apic } = rig();
    for (const off of [LVT_THERMAL, LVT_PERF, LVT_CMCI]) {
      apic.writeRegister(off, 0xffffffff);
      expect(apic.readRegister(off), off.toString(16)).toBe(0x107ff);
    }
  });

  it('LINT0 and LINT1 keep vector, delivery mode, polarity, trigger mode and mask; not remote IRR or delivery status', () => {
    const { apic } = rig();
    for (const off of [LVT_LINT0, LVT_LINT1]) {
      apic.writeRegister(off, 0xffffffff);
      expect(apic.readRegister(off), off.toString(16)).toBe(0x1a7ff);
    }
  });

  it('error keeps only vector and mask', () => {
    const { apic } = rig();
    apic.writeRegister(LVT_ERROR, 0xffffffff);
    expect(apic.readRegister(LVT_ERROR)).toBe(0x100ff);
  });

  it('DFR keeps the model bits 31:28 and reads ones elsewhere; LDR keeps bits 31:24', () => {
    const { apic } = rig();
    apic.writeRegister(DFR, 0x0000_1234);
    expect(apic.readRegister(DFR)).toBe(0x0fffffff);
    apic.writeRegister(LDR, 0xabcd_ef01);
    expect(apic.readRegister(LDR)).toBe(0xab000000);
  });

  it('ICR keeps its writable bits; delivery status reads 0 because sends complete at once', () => {
    const { apic } = rig();
    apic.writeRegister(ICR_HI, 0xffffffff);
    expect(apic.readRegister(ICR_HI)).toBe(0xff000000);
    apic.writeRegister(ICR_LO, 0xfff3_10ff); // bits 12/13/16/17/20+ set; INIT de-assert with shorthand all-incl-self is invalid
    expect(apic.readRegister(ICR_LO)).toBe(0x000000ff);
  });

  it('read-only registers ignore writes', () => {
    const { apic } = rig();
    apic.writeRegister(VERSION, 0);
    apic.writeRegister(PPR, 0xff);
    apic.writeRegister(APR, 0xff);
    apic.writeRegister(TIMER_CCR, 5);
    expect(apic.readRegister(VERSION)).toBe(0x01060014);
    expect(apic.readRegister(PPR)).toBe(0);
    expect(apic.readRegister(APR)).toBe(0);
    expect(apic.readRegister(TIMER_CCR)).toBe(0);
  });

  it('the xAPIC ID register is writable in bits 31:24 and re-routes', () => {
    const { apic, bus } = rig();
    const before = bus.routingChanges;
    apic.writeRegister(ID, 0x12345678);
    expect(apic.readRegister(ID)).toBe(0x12000000);
    expect(apic.physicalId).toBe(0x12);
    expect(bus.routingChanges).toBe(before + 1);
  });
});

describe('MMIO access details', () => {
  it('sub-dword reads return the register shifted by the byte offset', () => {
    const { apic } = rig({ id: 0xab, enable: false });
    expect(apic.readRegister(0x23) & 0xff).toBe(0xab);
    expect(apic.readRegister(0x31) & 0xff).toBe(0x00);
    expect(apic.readRegister(0x32) & 0xff).toBe(0x06);
  });

  it('bytes 4-15 of a register slot read 0 and unaligned writes are ignored', () => {
    const { apic } = rig();
    expect(apic.readRegister(0x34)).toBe(0);
    apic.writeRegister(0x84, 0xff);
    expect(apic.readRegister(TPR)).toBe(0);
  });

  it('offsets outside the page are host misuse', () => {
    const { apic } = rig();
    expect(() => apic.readRegister(0x1000)).toThrow(RangeError);
    expect(() => apic.writeRegister(-1, 0)).toThrow(/offset/);
    expect(() => apic.readRegister(1.5)).toThrow(RangeError);
  });

  it('guest values are truncated to 32 bits without throwing', () => {
    const { apic } = rig();
    expect(() => apic.writeRegister(TPR, 2 ** 40 + 0x21)).not.toThrow();
    expect(apic.readRegister(TPR)).toBe(0x21);
    expect(() => apic.writeRegister(TPR, Number.NaN)).not.toThrow();
    expect(apic.readRegister(TPR)).toBe(0);
  });
});

describe('LINT0 and LINT1', () => {
  it('LINT0 ExtINT (virtual wire) reports ExtINT while the pin is asserted', () => {
    const { apic, events } = rig();
    apic.writeRegister(LVT_LINT0, 0x700);
    apic.setLint(0, true);
    expect(apic.extIntPending()).toBe(true);
    expect(events.some(([e]) => e === 'extint')).toBe(true);
    apic.setLint(0, false);
    expect(apic.extIntPending()).toBe(false);
  });

  it('a masked LINT0 ExtINT does not reach the CPU', () => {
    const { apic } = rig();
    apic.writeRegister(LVT_LINT0, 0x10700);
    apic.setLint(0, true);
    expect(apic.extIntPending()).toBe(false);
  });

  it('LINT1 programmed NMI latches an NMI on the rising edge only', () => {
    const { apic } = rig();
    apic.writeRegister(LVT_LINT1, 0x400);
    apic.setLint(1, true);
    expect(apic.takeNmi()).toBe(true);
    apic.setLint(1, true);
    expect(apic.takeNmi()).toBe(false);
    apic.setLint(1, false);
    apic.setLint(1, true);
    expect(apic.takeNmi()).toBe(true);
  });

  it('several NMIs before the CPU takes one collapse into one pending NMI', () => {
    const { apic } = rig();
    apic.acceptNmi();
    apic.acceptNmi();
    expect(apic.takeNmi()).toBe(true);
    expect(apic.takeNmi()).toBe(false);
    expect(apic.stats.nmis).toBe(2);
  });

  it('active-low polarity inverts the pin', () => {
    const { apic } = rig();
    apic.writeRegister(LVT_LINT1, 0x2400); // NMI, active low
    apic.setLint(1, true);
    expect(apic.takeNmi()).toBe(false);
    apic.setLint(1, false);
    expect(apic.takeNmi()).toBe(true);
  });

  it('LINT0 fixed edge delivers its vector on each rising edge', () => {
    const { apic } = rig();
    apic.writeRegister(LVT_LINT0, 0x61);
    apic.setLint(0, true);
    expect(apic.acknowledge()).toBe(0x61);
    apic.eoi();
    apic.setLint(0, true);
    expect(apic.pendingVector()).toBe(-1);
    expect(pageBit(apic, TMR0, 0x61)).toBe(false);
  });

  it('LINT0 fixed level sets remote IRR, holds re-delivery until EOI, then re-delivers while asserted', () => {
    const { apic, bus } = rig();
    apic.writeRegister(LVT_LINT0, 0x8061); // level, fixed, vector 0x61
    apic.setLint(0, true);
    expect(apic.readRegister(LVT_LINT0) & (1 << 14)).not.toBe(0);
    expect(pageBit(apic, TMR0, 0x61)).toBe(true);
    expect(apic.acknowledge()).toBe(0x61);
    apic.eoi();
    // still asserted: remote IRR set again and the vector is pending again
    expect(apic.pendingVector()).toBe(0x61);
    expect(apic.readRegister(LVT_LINT0) & (1 << 14)).not.toBe(0);
    expect(bus.eois).toEqual([0x61]);
    apic.setLint(0, false);
    expect(apic.acknowledge()).toBe(0x61);
    apic.eoi();
    expect(apic.readRegister(LVT_LINT0) & (1 << 14)).toBe(0);
    expect(apic.pendingVector()).toBe(-1);
  });

  it('LINT1 is edge-only even when programmed level-triggered', () => {
    const { apic } = rig();
    apic.writeRegister(LVT_LINT1, 0x8062);
    apic.setLint(1, true);
    expect(apic.acknowledge()).toBe(0x62);
    expect(pageBit(apic, TMR0, 0x62)).toBe(false);
    expect(apic.readRegister(LVT_LINT1) & (1 << 14)).toBe(0);
  });

  it('a masked LINT edge is lost', () => {
    const { apic } = rig();
    apic.writeRegister(LVT_LINT1, 0x10400);
    apic.setLint(1, true);
    apic.writeRegister(LVT_LINT1, 0x400);
    expect(apic.takeNmi()).toBe(false);
  });

  it('LINT pin and level arguments are checked', () => {
    const { apic } = rig();
    expect(() => apic.setLint(2 as 0, true)).toThrow(/pin/);
    expect(() => apic.setLint(0, 1 as unknown as boolean)).toThrow(TypeError);
  });

  it('with the APIC globally disabled LINT0 is INTR and LINT1 is NMI', () => {
    const { apic } = rig();
    expect(apic.writeMsr(0x1b, 0xfee00000n)).toBe(true);
    apic.setLint(0, true);
    expect(apic.extIntPending()).toBe(true);
    apic.setLint(1, true);
    expect(apic.takeNmi()).toBe(true);
  });
});

describe('thermal, performance-counter and CMCI local interrupts', () => {
  it.each([
    ['thermal', LVT_THERMAL],
    ['perf', LVT_PERF],
    ['cmci', LVT_CMCI],
  ] as const)('%s delivers its fixed vector when unmasked', (source, off) => {
    const { apic } = rig();
    apic.writeRegister(off, 0x77);
    apic.raiseLvt(source);
    expect(apic.acknowledge()).toBe(0x77);
  });

  it('a masked entry delivers nothing', () => {
    const { apic } = rig();
    apic.writeRegister(LVT_THERMAL, 0x10077);
    apic.raiseLvt('thermal');
    expect(apic.pendingVector()).toBe(-1);
  });

  it('NMI and SMI delivery modes latch NMI / SMI', () => {
    const { apic } = rig();
    apic.writeRegister(LVT_PERF, 0x400);
    apic.raiseLvt('perf');
    expect(apic.takeNmi()).toBe(true);
    apic.writeRegister(LVT_THERMAL, 0x200);
    apic.raiseLvt('thermal');
    expect(apic.takeSmi()).toBe(true);
  });

  it('an unknown source is host misuse', () => {
    const { apic } = rig();
    expect(() => apic.raiseLvt('timer' as 'perf')).toThrow(RangeError);
  });
});

describe('host misuse of the fabric API', () => {
  it('acceptInterrupt rejects vectors outside 0..255 and non-boolean levels', () => {
    const { apic } = rig();
    expect(() => apic.acceptInterrupt(256, false)).toThrow(/vector/);
    expect(() => apic.acceptInterrupt(-1, false)).toThrow(RangeError);
    expect(() => apic.acceptInterrupt(1.5, false)).toThrow(RangeError);
    expect(() => apic.acceptInterrupt(0x40, 'yes' as unknown as boolean)).toThrow(TypeError);
    expect(pageVectors(apic, IRR0)).toEqual([]);
  });

  it('constructor options are validated with the option name', () => {
    const clock = new Scheduler();
    expect(() => new LocalApic({ id: -1, clock })).toThrow(/id/);
    expect(() => new LocalApic({ id: 256, clock })).toThrow(/id/);
    expect(() => new LocalApic({ id: 0, clock, timerHz: 0 })).toThrow(/timerHz/);
    expect(() => new LocalApic({ id: 0, clock: {} as Scheduler })).toThrow(TypeError);
    expect(() => new LocalApic({ id: 300, clock, x2apic: true })).not.toThrow();
  });

  it('independent instances share no state', () => {
    const a = rig().apic;
    const b = rig().apic;
    a.acceptInterrupt(0x40, false);
    expect(b.pendingVector()).toBe(-1);
  });
});

describe('hooks for injection backends', () => {
  it('a request that finds its IRR bit set is reported as coalesced, not as a new interrupt', () => {
    const { apic, events } = rig();
    apic.acceptInterrupt(0x40, false);
    apic.acceptInterrupt(0x40, false);
    expect(events).toEqual([
      ['interrupt', 0x40],
      ['coalesced', 0x40],
    ]);
  });

  it('an accel that posts the interrupt keeps it out of IRR but TMR is still updated', () => {
    const { apic, events } = rig();
    const posted: number[] = [];
    apic.setAccel({
      acceptFixed: (v) => {
        const again = posted.includes(v);
        posted.push(v);
        return again ? 1 : 0;
      },
    });
    apic.acceptInterrupt(0x41, true);
    apic.acceptInterrupt(0x41, true);
    expect(pageVectors(apic, IRR0)).toEqual([]);
    expect(pageBit(apic, TMR0, 0x41)).toBe(true);
    expect(events).toEqual([
      ['interrupt', 0x41],
      ['coalesced', 0x41],
    ]);
    apic.setAccel({ acceptFixed: () => -1 });
    apic.acceptInterrupt(0x42, false);
    expect(pageVectors(apic, IRR0)).toEqual([0x42]);
    expect(() => apic.setAccel({} as never)).toThrow(TypeError);
  });

  it('acknowledgeVector moves a given vector (not necessarily the highest) from IRR to ISR', () => {
    const { apic } = rig();
    apic.acceptInterrupt(0x41, false);
    apic.acceptInterrupt(0x92, false);
    expect(apic.acknowledgeVector(0x41)).toBe(true);
    expect(pageVectors(apic, ISR0)).toEqual([0x41]);
    expect(pageVectors(apic, IRR0)).toEqual([0x92]);
    expect(apic.readRegister(PPR)).toBe(0x40);
    expect(apic.acknowledgeVector(0x50)).toBe(false);
  });

  it('eoiLocal clears ISR without the broadcast; levelEoi broadcasts for that vector', () => {
    const { apic, bus } = rig();
    apic.acceptInterrupt(0x57, true);
    apic.acknowledge();
    expect(apic.eoiLocal()).toBe(0x57);
    expect(pageVectors(apic, ISR0)).toEqual([]);
    expect(bus.eois).toEqual([]);
    apic.levelEoi(0x57);
    expect(bus.eois).toEqual([0x57]);
    expect(apic.eoiLocal()).toBe(-1);
  });

  it('introspection helpers read IRR, ISR, TMR and the highest vectors', () => {
    const { apic } = rig();
    apic.acceptInterrupt(0x33, true);
    apic.acceptInterrupt(0x66, false);
    apic.acknowledge();
    expect([apic.isRequested(0x33), apic.isInService(0x66), apic.isLevelTriggered(0x33)]).toEqual([true, true, true]);
    expect([apic.highestRequested(), apic.highestInService()]).toEqual([0x33, 0x66]);
  });
});
