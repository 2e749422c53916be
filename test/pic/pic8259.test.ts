import { describe, expect, it } from 'vitest';
import { Pic8259 } from '../../src/pic/pic8259.js';

// Byte values are written out literally (from the 8259A data sheet's ICW/OCW tables) so that the
// tests do not depend on the constants of the code under test.
const CMD = 0; // A0 = 0
const DATA = 1; // A0 = 1

const OCW2_EOI = 0x20; // 001: non-specific EOI
const OCW2_SPECIFIC_EOI = 0x60; // 011 | L
const OCW2_ROTATE_EOI = 0xa0; // 101: rotate on non-specific EOI
const OCW2_ROTATE_SPECIFIC_EOI = 0xe0; // 111 | L
const OCW2_SET_PRIORITY = 0xc0; // 110 | L
const OCW2_ROTATE_AEOI_SET = 0x80; // 100
const OCW2_ROTATE_AEOI_CLEAR = 0x00; // 000
const OCW2_NOP = 0x40; // 010
const OCW3_READ_IRR = 0x0a;
const OCW3_READ_ISR = 0x0b;
const OCW3_POLL = 0x0c;
const OCW3_SET_SMM = 0x68;
const OCW3_RESET_SMM = 0x48;

/** A single-mode chip (ICW1 = 0x13 | LTIM: SNGL + IC4), vector base 0x20, ICW4 as given. */
function single(opts: { icw4?: number; ltim?: boolean; icw2?: number } = {}): Pic8259 {
  const c = new Pic8259();
  c.write(CMD, 0x13 | (opts.ltim ? 0x08 : 0));
  c.write(DATA, opts.icw2 ?? 0x20);
  c.write(DATA, opts.icw4 ?? 0x01);
  return c;
}

/** A cascade-mode master (ICW1 0x11, ICW3 0x04: slave on IR2), vector base 0x20. */
function cascadeMaster(icw4 = 0x01): Pic8259 {
  const c = new Pic8259({ role: 'master' });
  c.write(CMD, 0x11);
  c.write(DATA, 0x20);
  c.write(DATA, 0x04);
  c.write(DATA, icw4);
  return c;
}

/** Raise and keep high (edge request latched). */
function raise(c: Pic8259, ...irs: number[]): void {
  for (const ir of irs) c.setIrq(ir, true);
}

/** Rising edge followed by the falling edge: the emulator-style pulse. */
function pulse(c: Pic8259, ir: number): void {
  c.setIrq(ir, true);
  c.setIrq(ir, false);
}

describe('Pic8259 power-on state', () => {
  it('power-on state: IMR, ISR and IRR clear, vector base 0, IR7 lowest priority, not initialising', () => {
    const c = new Pic8259();
    expect(c.imr).toBe(0);
    expect(c.isr).toBe(0);
    expect(c.irr).toBe(0);
    expect(c.vectorBase).toBe(0);
    expect(c.lowestPriority).toBe(7);
    expect(c.initialising).toBe(false);
    expect(c.readsIsr).toBe(false);
    expect(c.specialMaskMode).toBe(false);
    expect(c.autoEoi).toBe(false);
    expect(c.output).toBe(false);
  });

  it('power-on state delivers requests unmasked with vector base 0 before any initialisation', () => {
    const c = new Pic8259();
    c.setIrq(3, true);
    expect(c.output).toBe(true);
    expect(c.acknowledge()).toBe(0x03);
    expect(c.isr).toBe(0x08);
  });

  it('role option accepts master and slave only', () => {
    expect(new Pic8259({ role: 'slave' }).isMaster).toBe(false);
    expect(new Pic8259().isMaster).toBe(true);
    expect(() => new Pic8259({ role: 'boss' as never })).toThrow(RangeError);
  });

  it('icw3 option sets the power-on ICW3 and is range-checked', () => {
    expect(new Pic8259({ icw3: 0x04 }).icw3).toBe(0x04);
    expect(() => new Pic8259({ icw3: 256 })).toThrow(/icw3/);
  });

  it('reset returns to the power-on state and keeps the wire levels', () => {
    const c = single({ icw2: 0x48, icw4: 0x03 });
    c.write(DATA, 0x5a);
    c.write(CMD, OCW2_SET_PRIORITY | 2);
    c.setIrq(1, true);
    c.acknowledge();
    c.reset();
    expect(c.imr).toBe(0);
    expect(c.isr).toBe(0);
    expect(c.irr).toBe(0);
    expect(c.vectorBase).toBe(0);
    expect(c.lowestPriority).toBe(7);
    expect(c.autoEoi).toBe(false);
    expect(c.lines).toBe(0x02);
  });
});

describe('Pic8259 ICW1', () => {
  it('ICW1 starts the initialisation sequence: the next A0=1 write is ICW2', () => {
    const c = new Pic8259();
    c.write(CMD, 0x11);
    expect(c.initialising).toBe(true);
    expect(c.expectedIcw).toBe(2);
    c.write(DATA, 0x30);
    expect(c.vectorBase).toBe(0x30);
    expect(c.imr).toBe(0);
  });

  it('ICW1 clears the IMR (data sheet; v86 bug #1025 left every IRQ masked instead)', () => {
    const c = single();
    c.write(DATA, 0xff);
    c.write(CMD, 0x11);
    expect(c.imr).toBe(0);
    expect(c.read(DATA)).toBe(0);
  });

  it('ICW1 clears the ISR', () => {
    const c = single();
    raise(c, 0, 4);
    c.acknowledge();
    expect(c.isr).toBe(0x01);
    c.write(CMD, 0x13);
    expect(c.isr).toBe(0);
  });

  it('ICW1 drops edge requests latched in IRR', () => {
    const c = single();
    pulse(c, 5);
    expect(c.irr).toBe(0x20);
    c.write(CMD, 0x13);
    expect(c.irr).toBe(0);
  });

  it('after ICW1 an edge input that is already high must fall and rise again to request', () => {
    const c = single();
    c.setIrq(6, true);
    c.write(CMD, 0x13);
    c.write(DATA, 0x20);
    c.write(DATA, 0x01);
    c.setIrq(6, true); // still high: no edge
    expect(c.irr).toBe(0);
    c.setIrq(6, false);
    c.setIrq(6, true);
    expect(c.irr).toBe(0x40);
  });

  it('ICW1 gives IR7 the lowest priority again, undoing a rotation', () => {
    const c = single();
    c.write(CMD, OCW2_SET_PRIORITY | 3);
    expect(c.lowestPriority).toBe(3);
    c.write(CMD, 0x13);
    expect(c.lowestPriority).toBe(7);
  });

  it('ICW1 resets the read-register selection to IRR', () => {
    const c = single();
    c.write(CMD, OCW3_READ_ISR);
    expect(c.readsIsr).toBe(true);
    c.write(CMD, 0x13);
    expect(c.readsIsr).toBe(false);
  });

  it('ICW1 clears special mask mode', () => {
    const c = single();
    c.write(CMD, OCW3_SET_SMM);
    c.write(CMD, 0x13);
    expect(c.specialMaskMode).toBe(false);
  });

  it('ICW1 cancels a pending poll command', () => {
    const c = single();
    raise(c, 1);
    c.write(CMD, OCW3_POLL);
    c.write(CMD, 0x13);
    expect(c.pollPending).toBe(false);
    expect(c.read(CMD)).toBe(0); // IRR (edge request dropped by ICW1), not a poll word
  });

  it('ICW1 clears rotate in AEOI mode', () => {
    const c = single({ icw4: 0x03 });
    c.write(CMD, OCW2_ROTATE_AEOI_SET);
    c.write(CMD, 0x13);
    expect(c.rotateInAeoi).toBe(false);
  });

  it('ICW1 without IC4 sets every ICW4 function to zero (AEOI off)', () => {
    const c = single({ icw4: 0x13 });
    expect(c.autoEoi).toBe(true);
    c.write(CMD, 0x12); // SNGL, no IC4
    c.write(DATA, 0x20);
    expect(c.initialising).toBe(false);
    expect(c.icw4).toBe(0);
    expect(c.autoEoi).toBe(false);
    expect(c.specialFullyNested).toBe(false);
  });

  it('ICW1 with SNGL skips ICW3: the second data write is ICW4', () => {
    const c = new Pic8259();
    c.write(CMD, 0x13);
    c.write(DATA, 0x20);
    expect(c.expectedIcw).toBe(4);
    c.write(DATA, 0x03);
    expect(c.autoEoi).toBe(true);
    expect(c.initialising).toBe(false);
    expect(c.icw3).toBe(0);
  });

  it('ICW1 with SNGL and without IC4 ends the sequence after ICW2: the next write is OCW1', () => {
    const c = new Pic8259();
    c.write(CMD, 0x12);
    c.write(DATA, 0x20);
    expect(c.initialising).toBe(false);
    c.write(DATA, 0x81);
    expect(c.imr).toBe(0x81);
  });

  it('cascade mode without IC4 ends the sequence after ICW3', () => {
    const c = new Pic8259();
    c.write(CMD, 0x10);
    c.write(DATA, 0x20);
    expect(c.expectedIcw).toBe(3);
    c.write(DATA, 0x04);
    expect(c.initialising).toBe(false);
    expect(c.icw3).toBe(0x04);
    c.write(DATA, 0x7e);
    expect(c.imr).toBe(0x7e);
  });

  it('an A0=0 write with D4 set restarts the sequence even in the middle of one', () => {
    const c = new Pic8259();
    c.write(CMD, 0x11);
    c.write(DATA, 0x20);
    c.write(CMD, 0x13);
    expect(c.expectedIcw).toBe(2);
    c.write(DATA, 0x50);
    expect(c.vectorBase).toBe(0x50);
    expect(c.expectedIcw).toBe(4);
  });

  it('OCW2 and OCW3 written during initialisation act and do not end the sequence', () => {
    const c = new Pic8259();
    c.write(CMD, 0x11);
    c.write(CMD, OCW3_READ_ISR);
    c.write(CMD, OCW2_SET_PRIORITY | 4);
    expect(c.readsIsr).toBe(true);
    expect(c.lowestPriority).toBe(4);
    expect(c.expectedIcw).toBe(2);
  });

  it('ICW1 with LTIM makes every input level-triggered: IRR follows the line', () => {
    const c = single({ ltim: true });
    expect(c.levelMask).toBe(0xff);
    c.setIrq(4, true);
    expect(c.irr).toBe(0x10);
    c.setIrq(4, false);
    expect(c.irr).toBe(0);
  });

  it('ICW1 with LTIM: a line already high requests right after initialisation', () => {
    const c = new Pic8259();
    c.setIrq(5, true);
    c.write(CMD, 0x1b); // LTIM | SNGL | IC4
    c.write(DATA, 0x20);
    c.write(DATA, 0x01);
    expect(c.irr).toBe(0x20);
    expect(c.acknowledge()).toBe(0x25);
  });
});

describe('Pic8259 ICW2-ICW4', () => {
  it('ICW2 sets vector bits 7:3 and its low 3 bits are ignored', () => {
    const c = single({ icw2: 0x2f });
    expect(c.vectorBase).toBe(0x28);
    raise(c, 3);
    expect(c.acknowledge()).toBe(0x2b);
  });

  it('vector = ICW2 base | IR number for every input', () => {
    const c = single({ icw2: 0x70 });
    for (let ir = 0; ir < 8; ir++) c.setIrq(ir, true);
    const expected = [0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77];
    for (const v of expected) {
      expect(c.acknowledge()).toBe(v);
      c.write(CMD, OCW2_EOI);
    }
  });

  it('ICW3 on a master lists the inputs that have slaves', () => {
    const c = new Pic8259({ role: 'master' });
    c.write(CMD, 0x11);
    c.write(DATA, 0x08);
    c.write(DATA, 0x24);
    c.write(DATA, 0x01);
    expect(c.icw3).toBe(0x24);
    expect(c.hasSlaveOn(2)).toBe(true);
    expect(c.hasSlaveOn(5)).toBe(true);
    expect(c.hasSlaveOn(3)).toBe(false);
  });

  it('ICW3 on a slave sets its cascade ID from bits 2:0', () => {
    const c = new Pic8259({ role: 'slave' });
    c.write(CMD, 0x11);
    c.write(DATA, 0x70);
    c.write(DATA, 0xfa); // ID 2 (bits 7:3 should be 0 and are ignored)
    c.write(DATA, 0x01);
    expect(c.slaveId).toBe(2);
    expect(c.respondsToCascade(2)).toBe(true);
    expect(c.respondsToCascade(3)).toBe(false);
    expect(c.hasSlaveOn(2)).toBe(false);
  });

  it('in single mode a master has no slave inputs and a slave answers no cascade address', () => {
    const m = new Pic8259({ role: 'master', icw3: 0x04 });
    const s = new Pic8259({ role: 'slave', icw3: 0x02 });
    expect(m.hasSlaveOn(2)).toBe(true);
    expect(s.respondsToCascade(2)).toBe(true);
    for (const c of [m, s]) {
      c.write(CMD, 0x13);
      c.write(DATA, 0x20);
      c.write(DATA, 0x01);
    }
    expect(m.hasSlaveOn(2)).toBe(false);
    expect(s.respondsToCascade(2)).toBe(false);
  });

  it('ICW4 stores µPM, AEOI, M/S, BUF and SFNM and drops bits 7:5', () => {
    const c = single({ icw4: 0xff });
    expect(c.icw4).toBe(0x1f);
    expect(c.autoEoi).toBe(true);
    expect(c.specialFullyNested).toBe(true);
  });

  it('ICW4 µPM = 0 (MCS-80 mode) and buffered bits do not change the 8086 vector format', () => {
    const c = single({ icw4: 0x0c, icw2: 0x40 }); // BUF + M/S, µPM = 0
    expect(c.icw4).toBe(0x0c);
    raise(c, 6);
    expect(c.acknowledge()).toBe(0x46);
  });
});

describe('Pic8259 OCW1 (IMR)', () => {
  it('OCW1 writes the IMR and an A0=1 read returns it', () => {
    const c = single();
    c.write(DATA, 0xa5);
    expect(c.imr).toBe(0xa5);
    expect(c.read(DATA)).toBe(0xa5);
  });

  it('a masked request stays in IRR but does not raise INT', () => {
    const c = single();
    c.write(DATA, 0x08);
    raise(c, 3);
    expect(c.irr).toBe(0x08);
    expect(c.output).toBe(false);
    expect(c.pendingIr()).toBe(-1);
  });

  it('a masked edge request stays latched and is delivered once unmasked', () => {
    const c = single();
    c.write(DATA, 0x08);
    pulse(c, 3);
    c.write(DATA, 0x00);
    expect(c.output).toBe(true);
    expect(c.acknowledge()).toBe(0x23);
  });

  it('masking the only request after INT rose gives the spurious IR7 vector at INTA', () => {
    const c = single();
    raise(c, 4);
    c.write(DATA, 0x10);
    expect(c.acknowledge()).toBe(0x27);
    expect(c.isr).toBe(0);
    expect(c.irr).toBe(0x10);
  });
});

describe('Pic8259 fully nested priority', () => {
  it('the highest-priority request is acknowledged first (IR0 highest after initialisation)', () => {
    const c = single();
    raise(c, 6, 2, 5);
    expect(c.acknowledge()).toBe(0x22);
  });

  it('a higher-priority request nests over one in service', () => {
    const c = single();
    raise(c, 5);
    expect(c.acknowledge()).toBe(0x25);
    raise(c, 1);
    expect(c.output).toBe(true);
    expect(c.acknowledge()).toBe(0x21);
    expect(c.isr).toBe(0x22);
  });

  it('a lower- or equal-priority request waits until the EOI', () => {
    const c = single();
    raise(c, 3);
    c.acknowledge();
    raise(c, 6);
    expect(c.output).toBe(false);
    c.setIrq(3, false);
    c.setIrq(3, true); // same level again
    expect(c.output).toBe(false);
    c.write(CMD, OCW2_EOI);
    expect(c.acknowledge()).toBe(0x23); // IR3 again: higher than IR6
  });

  it('INTA clears the edge request from IRR and sets the IS bit', () => {
    const c = single();
    raise(c, 2);
    c.acknowledge();
    expect(c.irr).toBe(0);
    expect(c.isr).toBe(0x04);
  });

  it('a real IR7 interrupt sets ISR bit 7, a spurious one does not', () => {
    const c = single();
    raise(c, 7);
    expect(c.acknowledge()).toBe(0x27);
    expect(c.isr).toBe(0x80);
    c.write(CMD, OCW2_EOI);
    expect(c.acknowledge()).toBe(0x27);
    expect(c.isr).toBe(0);
  });
});

describe('Pic8259 OCW2', () => {
  it('non-specific EOI clears the highest-priority IS bit', () => {
    const c = single();
    raise(c, 5);
    c.acknowledge();
    raise(c, 1);
    c.acknowledge();
    expect(c.isr).toBe(0x22);
    c.write(CMD, OCW2_EOI);
    expect(c.isr).toBe(0x20);
    c.write(CMD, OCW2_EOI);
    expect(c.isr).toBe(0);
  });

  it('non-specific EOI with nothing in service changes nothing', () => {
    const c = single();
    c.write(CMD, OCW2_EOI);
    expect(c.isr).toBe(0);
    expect(c.lowestPriority).toBe(7);
  });

  it('non-specific EOI picks the highest IS bit in the rotated priority order', () => {
    const c = single();
    raise(c, 1);
    c.acknowledge();
    c.write(CMD, OCW2_SET_PRIORITY | 3); // order now 4 5 6 7 0 1 2 3
    raise(c, 5);
    c.acknowledge();
    expect(c.isr).toBe(0x22);
    c.write(CMD, OCW2_EOI);
    expect(c.isr).toBe(0x02); // IR5 outranks IR1 now
  });

  it('specific EOI clears exactly the named IS bit, even a lower-priority one', () => {
    const c = single();
    raise(c, 6);
    c.acknowledge();
    raise(c, 2);
    c.acknowledge();
    c.write(CMD, OCW2_SPECIFIC_EOI | 6);
    expect(c.isr).toBe(0x04);
  });

  it('specific EOI for a level not in service changes nothing', () => {
    const c = single();
    raise(c, 2);
    c.acknowledge();
    c.write(CMD, OCW2_SPECIFIC_EOI | 5);
    expect(c.isr).toBe(0x04);
    expect(c.lowestPriority).toBe(7);
  });

  it('rotate on non-specific EOI makes the serviced IR the lowest priority', () => {
    const c = single();
    raise(c, 2);
    c.acknowledge();
    c.write(CMD, OCW2_ROTATE_EOI);
    expect(c.isr).toBe(0);
    expect(c.lowestPriority).toBe(2);
    raise(c, 1, 3);
    expect(c.acknowledge()).toBe(0x23); // IR3 is now the highest priority
  });

  it('rotate on non-specific EOI with nothing in service does not rotate', () => {
    const c = single();
    c.write(CMD, OCW2_ROTATE_EOI);
    expect(c.lowestPriority).toBe(7);
  });

  it('rotate on non-specific EOI gives equally busy devices round-robin service', () => {
    const c = single();
    pulse(c, 1);
    pulse(c, 4);
    pulse(c, 6);
    const order: number[] = [];
    for (let i = 0; i < 6; i++) {
      const vector = c.acknowledge();
      order.push(vector);
      c.write(CMD, OCW2_ROTATE_EOI);
      pulse(c, vector & 7); // the device requests again at once
    }
    // Without rotation IR1 would win every time.
    expect(order).toEqual([0x21, 0x24, 0x26, 0x21, 0x24, 0x26]);
  });

  it('rotate on specific EOI clears the named IS bit and makes it the lowest priority', () => {
    const c = single();
    raise(c, 4);
    c.acknowledge();
    raise(c, 0);
    c.acknowledge();
    c.write(CMD, OCW2_ROTATE_SPECIFIC_EOI | 4);
    expect(c.isr).toBe(0x01);
    expect(c.lowestPriority).toBe(4);
  });

  it('rotate on specific EOI sets the priority even when the level was not in service', () => {
    const c = single();
    c.write(CMD, OCW2_ROTATE_SPECIFIC_EOI | 5);
    expect(c.lowestPriority).toBe(5);
  });

  it('set priority command makes L2-L0 the lowest priority', () => {
    const c = single();
    c.write(CMD, OCW2_SET_PRIORITY | 4);
    expect(c.lowestPriority).toBe(4);
    raise(c, 0, 4, 5);
    expect(c.acknowledge()).toBe(0x25); // order 5 6 7 0 1 2 3 4
    c.write(CMD, OCW2_EOI);
    expect(c.acknowledge()).toBe(0x20);
    c.write(CMD, OCW2_EOI);
    expect(c.acknowledge()).toBe(0x24);
  });

  it('set priority also changes which in-service level blocks a request', () => {
    const c = single();
    raise(c, 6);
    c.acknowledge();
    c.write(CMD, OCW2_SET_PRIORITY | 5); // IR6 becomes the highest priority
    raise(c, 0);
    expect(c.output).toBe(false); // IR0 is now below the in-service IR6
  });

  it('OCW2 no-operation (010) changes nothing', () => {
    const c = single();
    raise(c, 3);
    c.acknowledge();
    c.write(CMD, OCW2_NOP | 3);
    expect(c.isr).toBe(0x08);
    expect(c.lowestPriority).toBe(7);
    expect(c.rotateInAeoi).toBe(false);
  });

  it('rotate in AEOI mode set (100) and clear (000) commands', () => {
    const c = single();
    c.write(CMD, OCW2_ROTATE_AEOI_SET);
    expect(c.rotateInAeoi).toBe(true);
    c.write(CMD, OCW2_ROTATE_AEOI_CLEAR);
    expect(c.rotateInAeoi).toBe(false);
  });
});

describe('Pic8259 OCW3 read register and poll', () => {
  it('OCW3 RR=1 RIS=0 selects IRR and RR=1 RIS=1 selects ISR for A0=0 reads', () => {
    const c = single();
    raise(c, 1, 6);
    c.acknowledge();
    c.write(CMD, OCW3_READ_IRR);
    expect(c.read(CMD)).toBe(0x40);
    c.write(CMD, OCW3_READ_ISR);
    expect(c.read(CMD)).toBe(0x02);
  });

  it('the read-register selection persists across reads and across OCW3 writes with RR=0', () => {
    const c = single();
    raise(c, 3);
    c.acknowledge();
    c.write(CMD, OCW3_READ_ISR);
    expect(c.read(CMD)).toBe(0x08);
    expect(c.read(CMD)).toBe(0x08);
    c.write(CMD, 0x09); // RR = 0, RIS = 1: no action
    expect(c.read(CMD)).toBe(0x08);
  });

  it('an A0=1 read returns the IMR whatever the read-register selection', () => {
    const c = single();
    c.write(DATA, 0x3c);
    c.write(CMD, OCW3_READ_ISR);
    expect(c.read(DATA)).toBe(0x3c);
  });

  it('poll command: the next read acknowledges the highest request and returns 0x80 | level', () => {
    const c = single();
    raise(c, 5, 3);
    c.write(CMD, OCW3_POLL);
    expect(c.pollPending).toBe(true);
    expect(c.read(CMD)).toBe(0x83);
    expect(c.isr).toBe(0x08);
    expect(c.irr).toBe(0x20);
  });

  it('poll with nothing pending returns 0 and changes nothing', () => {
    const c = single();
    c.write(DATA, 0x01);
    raise(c, 0); // masked
    c.write(CMD, OCW3_POLL);
    expect(c.read(CMD)).toBe(0);
    expect(c.isr).toBe(0);
    expect(c.irr).toBe(0x01);
  });

  it('poll affects only the next read', () => {
    const c = single();
    raise(c, 2);
    c.write(CMD, OCW3_POLL);
    expect(c.read(CMD)).toBe(0x82);
    expect(c.read(CMD)).toBe(0x00); // IRR again
    expect(c.pollPending).toBe(false);
  });

  it('the poll word is returned by a read at A0=1 too (the next RD pulse)', () => {
    const c = single();
    c.write(DATA, 0x00);
    raise(c, 6);
    c.write(CMD, OCW3_POLL);
    expect(c.read(DATA)).toBe(0x86);
    expect(c.read(DATA)).toBe(0x00); // IMR
  });

  it('poll overrides a read-register command in the same OCW3, which applies afterwards', () => {
    const c = single();
    raise(c, 1);
    c.write(CMD, 0x0f); // P + RR + RIS
    expect(c.read(CMD)).toBe(0x81);
    expect(c.read(CMD)).toBe(0x02); // ISR now
  });

  it('poll respects nesting: a request below the in-service level reads 0', () => {
    const c = single();
    raise(c, 2);
    c.acknowledge();
    raise(c, 4);
    c.write(CMD, OCW3_POLL);
    expect(c.read(CMD)).toBe(0);
  });

  it('poll in AEOI mode performs the automatic EOI: no IS bit stays set', () => {
    const c = single({ icw4: 0x03 });
    raise(c, 4);
    c.write(CMD, OCW3_POLL);
    expect(c.read(CMD)).toBe(0x84);
    expect(c.isr).toBe(0);
  });
});

describe('Pic8259 special mask mode', () => {
  it('OCW3 ESMM=1 SMM=1 sets special mask mode, ESMM=1 SMM=0 resets it, ESMM=0 leaves it', () => {
    const c = single();
    c.write(CMD, OCW3_SET_SMM);
    expect(c.specialMaskMode).toBe(true);
    c.write(CMD, 0x28); // SMM without ESMM: no action
    expect(c.specialMaskMode).toBe(true);
    c.write(CMD, OCW3_RESET_SMM);
    expect(c.specialMaskMode).toBe(false);
    c.write(CMD, 0x28);
    expect(c.specialMaskMode).toBe(false);
  });

  it('without special mask mode a masked in-service level still blocks lower priorities', () => {
    const c = single();
    raise(c, 2);
    c.acknowledge();
    c.write(DATA, 0x04);
    raise(c, 5);
    expect(c.output).toBe(false);
  });

  it('in special mask mode a lower-priority request is served while a masked level is in service', () => {
    const c = single();
    raise(c, 2);
    c.acknowledge();
    c.write(DATA, 0x04);
    c.write(CMD, OCW3_SET_SMM);
    raise(c, 5);
    expect(c.output).toBe(true);
    expect(c.acknowledge()).toBe(0x25);
    expect(c.isr).toBe(0x24);
  });

  it('in special mask mode an unmasked in-service level does not block lower levels either', () => {
    // Data sheet: SMM "enables interrupts from all other levels (lower as well as higher) that are
    // not masked"; bhyve agrees. (QEMU/KVM would still block here; see docs/pic.md.)
    const c = single();
    raise(c, 1);
    c.acknowledge();
    c.write(CMD, OCW3_SET_SMM);
    raise(c, 6);
    expect(c.acknowledge()).toBe(0x26);
  });

  it('in special mask mode a level already in service is not requested again', () => {
    const c = single();
    raise(c, 3);
    c.acknowledge();
    c.write(CMD, OCW3_SET_SMM);
    c.setIrq(3, false);
    c.setIrq(3, true);
    expect(c.irr).toBe(0x08);
    expect(c.output).toBe(false);
  });

  it('in special mask mode a masked request is still not delivered', () => {
    const c = single();
    c.write(CMD, OCW3_SET_SMM);
    c.write(DATA, 0x10);
    raise(c, 4);
    expect(c.output).toBe(false);
  });

  it('in special mask mode a non-specific EOI skips IS bits that are masked', () => {
    const c = single();
    raise(c, 2);
    c.acknowledge();
    c.write(DATA, 0x04);
    c.write(CMD, OCW3_SET_SMM);
    raise(c, 5);
    c.acknowledge();
    c.write(CMD, OCW2_EOI);
    expect(c.isr).toBe(0x04); // IR5 cleared, masked IR2 kept
  });

  it('after special mask mode is reset the in-service level blocks lower priorities again', () => {
    const c = single();
    raise(c, 2);
    c.acknowledge();
    c.write(CMD, OCW3_SET_SMM);
    c.write(CMD, OCW3_RESET_SMM);
    raise(c, 5);
    expect(c.output).toBe(false);
  });
});

describe('Pic8259 automatic EOI', () => {
  it('AEOI: the acknowledge performs the EOI so no IS bit stays set', () => {
    const c = single({ icw4: 0x03 });
    raise(c, 3);
    expect(c.acknowledge()).toBe(0x23);
    expect(c.isr).toBe(0);
  });

  it('AEOI: a lower-priority request is delivered right after, with no EOI command', () => {
    const c = single({ icw4: 0x03 });
    raise(c, 1, 6);
    expect(c.acknowledge()).toBe(0x21);
    expect(c.output).toBe(true);
    expect(c.acknowledge()).toBe(0x26);
  });

  it('rotate in AEOI mode makes each acknowledged IR the lowest priority', () => {
    const c = single({ icw4: 0x03 });
    c.write(CMD, OCW2_ROTATE_AEOI_SET);
    raise(c, 2);
    c.acknowledge();
    expect(c.lowestPriority).toBe(2);
    raise(c, 1, 5);
    expect(c.acknowledge()).toBe(0x25);
    expect(c.lowestPriority).toBe(5);
  });

  it('AEOI without rotate-in-AEOI leaves the priority alone', () => {
    const c = single({ icw4: 0x03 });
    raise(c, 2);
    c.acknowledge();
    expect(c.lowestPriority).toBe(7);
  });

  it('rotate in AEOI mode has no effect without AEOI (the normal EOI decides)', () => {
    const c = single();
    c.write(CMD, OCW2_ROTATE_AEOI_SET);
    raise(c, 2);
    c.acknowledge();
    expect(c.lowestPriority).toBe(7);
    expect(c.isr).toBe(0x04);
  });
});

describe('Pic8259 special fully nested mode', () => {
  it('SFNM on a master: a request on the slave input is recognised while that input is in service', () => {
    const c = cascadeMaster(0x11);
    raise(c, 2);
    c.acknowledge();
    c.setIrq(2, false);
    c.setIrq(2, true); // the slave raises INT again for a higher-priority slave request
    expect(c.output).toBe(true);
    expect(c.acknowledgeIr()).toBe(2);
  });

  it('without SFNM the slave input waits for the master EOI', () => {
    const c = cascadeMaster(0x01);
    raise(c, 2);
    c.acknowledge();
    c.setIrq(2, false);
    c.setIrq(2, true);
    expect(c.output).toBe(false);
  });

  it('SFNM does not let lower-priority master inputs past an in-service slave input', () => {
    const c = cascadeMaster(0x11);
    raise(c, 2);
    c.acknowledge();
    raise(c, 4);
    expect(c.output).toBe(false);
  });

  it('SFNM: a higher-priority in-service level still blocks the slave input', () => {
    const c = cascadeMaster(0x11);
    raise(c, 1);
    c.acknowledge();
    raise(c, 2);
    expect(c.output).toBe(false);
  });

  it('SFNM applies only to inputs listed in ICW3', () => {
    const c = cascadeMaster(0x11);
    raise(c, 3);
    c.acknowledge();
    c.setIrq(3, false);
    c.setIrq(3, true);
    expect(c.output).toBe(false);
  });

  it('SFNM has no effect on a slave chip', () => {
    const c = new Pic8259({ role: 'slave' });
    c.write(CMD, 0x11);
    c.write(DATA, 0x28);
    c.write(DATA, 0x02);
    c.write(DATA, 0x11);
    raise(c, 2);
    c.acknowledge();
    c.setIrq(2, false);
    c.setIrq(2, true);
    expect(c.output).toBe(false);
  });
});

describe('Pic8259 edge and level triggering', () => {
  it('edge: a request latches on the rising edge and stays in IRR after the line falls', () => {
    const c = single();
    pulse(c, 4);
    expect(c.irr).toBe(0x10);
    expect(c.output).toBe(true);
    expect(c.acknowledge()).toBe(0x24);
  });

  it('edge: a line held high requests once; another request needs a fall and a rise', () => {
    const c = single({ icw4: 0x03 });
    c.setIrq(3, true);
    c.acknowledge();
    c.setIrq(3, true);
    expect(c.irr).toBe(0);
    expect(c.output).toBe(false);
    c.setIrq(3, false);
    c.setIrq(3, true);
    expect(c.irr).toBe(0x08);
  });

  it('edge: two pulses before the INTA give one request', () => {
    const c = single({ icw4: 0x03 });
    pulse(c, 5);
    pulse(c, 5);
    expect(c.acknowledge()).toBe(0x25);
    expect(c.output).toBe(false);
  });

  it('level: IRR follows the line', () => {
    const c = single();
    c.setElcr(0x20);
    c.setIrq(5, true);
    expect(c.irr).toBe(0x20);
    c.setIrq(5, false);
    expect(c.irr).toBe(0);
  });

  it('level: dropping the line before INTA gives the spurious IR7 vector and sets no IS bit', () => {
    const c = single();
    c.setElcr(0x20);
    c.setIrq(5, true);
    expect(c.output).toBe(true);
    c.setIrq(5, false);
    expect(c.output).toBe(false);
    expect(c.acknowledge()).toBe(0x27);
    expect(c.isr).toBe(0);
  });

  it('level: the request stays in IRR through the INTA and interrupts again after EOI if still high', () => {
    const c = single();
    c.setElcr(0x20);
    c.setIrq(5, true);
    expect(c.acknowledge()).toBe(0x25);
    expect(c.irr).toBe(0x20);
    expect(c.output).toBe(false);
    c.write(CMD, OCW2_EOI);
    expect(c.output).toBe(true);
  });

  it('level: a line deasserted before the EOI does not interrupt again', () => {
    const c = single();
    c.setElcr(0x20);
    c.setIrq(5, true);
    c.acknowledge();
    c.setIrq(5, false);
    c.write(CMD, OCW2_EOI);
    expect(c.output).toBe(false);
  });

  it('ELCR selects level triggering per line; other lines stay edge-triggered', () => {
    const c = single();
    c.setElcr(0x08);
    expect(c.levelMask).toBe(0x08);
    pulse(c, 3);
    pulse(c, 4);
    expect(c.irr).toBe(0x10);
  });

  it('switching a line to level takes its IRR bit from the wire at once', () => {
    const c = single();
    pulse(c, 6); // latched edge request, wire low
    c.setIrq(1, true); // edge request, wire high
    c.setElcr(0x42);
    expect(c.irr).toBe(0x02);
  });

  it('switching a line from level to edge keeps a request already in IRR', () => {
    const c = single();
    c.setElcr(0x40);
    c.setIrq(6, true);
    c.setElcr(0x00);
    c.setIrq(6, false);
    expect(c.irr).toBe(0x40);
  });
});

describe('Pic8259 guest input and host misuse', () => {
  it('guest writes are masked to 8 bits and never throw', () => {
    const c = single();
    c.write(DATA, 0x1ff);
    expect(c.imr).toBe(0xff);
    for (const v of [Number.NaN, -1, 1e20, 0.5, Infinity, -0x80000000]) {
      expect(() => c.write(CMD, v)).not.toThrow();
      expect(() => c.write(DATA, v)).not.toThrow();
    }
    expect(c.imr).toBeLessThanOrEqual(0xff);
  });

  it('setIrq with ir outside 0..7 throws RangeError naming ir and changes nothing', () => {
    const c = single();
    expect(() => c.setIrq(8, true)).toThrow(RangeError);
    expect(() => c.setIrq(-1, true)).toThrow(/ir must be an integer in 0\.\.7/);
    expect(() => c.setIrq(1.5, true)).toThrow(RangeError);
    expect(c.irr).toBe(0);
    expect(c.lines).toBe(0);
  });

  it('setIrq with a level that is not a boolean throws TypeError naming level', () => {
    const c = single();
    expect(() => c.setIrq(1, 1 as never)).toThrow(TypeError);
    expect(() => c.setIrq(1, 'yes' as never)).toThrow(/level/);
    expect(c.irr).toBe(0);
  });

  it('read or write with an A0 other than 0 or 1 throws RangeError naming a0', () => {
    const c = single();
    expect(() => c.read(2)).toThrow(/a0/);
    expect(() => c.write(2, 0x20)).toThrow(RangeError);
    expect(c.imr).toBe(0);
  });
});
