import { describe, expect, it } from 'vitest';
import { PicPair } from '../../src/pic/pic-pair.js';

// Byte values come from the 8259A data sheet tables, written out so the tests stand alone.
const EOI = 0x20; // OCW2 non-specific EOI
const READ_ISR = 0x0b; // OCW3
const POLL = 0x0c; // OCW3

/** The initialisation Linux and most BIOSes use: vectors 0x20/0x28, cascade on IR2, 8086 mode. */
function linux(pair: PicPair, opts: { masterIcw4?: number; slaveIcw4?: number } = {}): void {
  pair.ioWrite(0x20, 0x11);
  pair.ioWrite(0xa0, 0x11);
  pair.ioWrite(0x21, 0x20);
  pair.ioWrite(0xa1, 0x28);
  pair.ioWrite(0x21, 0x04);
  pair.ioWrite(0xa1, 0x02);
  pair.ioWrite(0x21, opts.masterIcw4 ?? 0x01);
  pair.ioWrite(0xa1, opts.slaveIcw4 ?? 0x01);
}

function initialised(opts: { masterIcw4?: number; slaveIcw4?: number } = {}): PicPair {
  const pair = new PicPair();
  linux(pair, opts);
  return pair;
}

function recorder(): { levels: boolean[]; pair: PicPair } {
  const levels: boolean[] = [];
  const pair = new PicPair({ onOutput: (level) => levels.push(level) });
  return { levels, pair };
}

describe('PicPair power-on state', () => {
  it('power-on: requests are unmasked, vectors use base 0, ELCR is all edge', () => {
    const pair = new PicPair();
    expect(pair.ioRead(0x21)).toBe(0);
    expect(pair.ioRead(0xa1)).toBe(0);
    expect(pair.elcr).toBe(0);
    expect(pair.hasInterrupt()).toBe(false);
    pair.setIrq(1, true);
    expect(pair.hasInterrupt()).toBe(true);
    expect(pair.acknowledge()).toBe(0x01);
  });

  it('power-on: the slave is already cascaded on master IR2 with ID 2 (as QEMU/KVM behave)', () => {
    const pair = new PicPair();
    pair.setIrq(12, true);
    expect(pair.acknowledge()).toBe(0x04); // slave base 0 | IR4
    expect(pair.master.isr).toBe(0x04);
    expect(pair.slave.isr).toBe(0x10);
  });

  it('reset returns both chips and the ELCR to the power-on state', () => {
    const pair = initialised();
    pair.ioWrite(0x4d0, 0xf8);
    pair.ioWrite(0x21, 0xff);
    pair.reset();
    expect(pair.elcr).toBe(0);
    expect(pair.master.imr).toBe(0);
    expect(pair.master.vectorBase).toBe(0);
    expect(pair.slave.vectorBase).toBe(0);
  });
});

describe('PicPair ports', () => {
  it('0x20/0x21 reach the master and 0xA0/0xA1 reach the slave', () => {
    const pair = initialised();
    pair.ioWrite(0x21, 0x5a);
    pair.ioWrite(0xa1, 0xa5);
    expect(pair.master.imr).toBe(0x5a);
    expect(pair.slave.imr).toBe(0xa5);
    expect(pair.ioRead(0x21)).toBe(0x5a);
    expect(pair.ioRead(0xa1)).toBe(0xa5);
    expect(pair.master.vectorBase).toBe(0x20);
    expect(pair.slave.vectorBase).toBe(0x28);
  });

  it('reads at 0x20/0xA0 give IRR or ISR as OCW3 selects', () => {
    const pair = initialised();
    pair.setIrq(3, true);
    pair.setIrq(9, true);
    expect(pair.ioRead(0x20)).toBe(0x0c); // IR3 and the cascade IR2
    expect(pair.ioRead(0xa0)).toBe(0x02);
    pair.acknowledge();
    pair.ioWrite(0x20, READ_ISR);
    expect(pair.ioRead(0x20)).toBe(0x04);
  });

  it('guest values are masked to 8 bits on every port and never throw', () => {
    const pair = initialised();
    pair.ioWrite(0x21, 0x1f0);
    expect(pair.ioRead(0x21)).toBe(0xf0);
    pair.ioWrite(0x4d1, 0x3ff);
    expect(pair.ioRead(0x4d1)).toBe(0xde);
    for (const port of [0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1]) {
      for (const v of [-1, Number.NaN, 2 ** 40, 0.75]) {
        expect(() => pair.ioWrite(port, v)).not.toThrow();
      }
    }
  });

  it('a port the pair does not own throws RangeError naming port and the allowed set', () => {
    const pair = initialised();
    expect(() => pair.ioRead(0x22)).toThrow(RangeError);
    expect(() => pair.ioRead(0x22)).toThrow(/port must be one of 0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1, got 0x22/);
    expect(() => pair.ioWrite(0x4d2, 0)).toThrow(RangeError);
    expect(() => pair.ioWrite(-1, 0)).toThrow(/port/);
    expect(() => pair.ioRead(32.5)).toThrow(RangeError);
  });

  it('a port that is not a number throws TypeError naming port', () => {
    const pair = initialised();
    expect(() => pair.ioRead('0x20' as never)).toThrow(TypeError);
    expect(() => pair.ioWrite(undefined as never, 1)).toThrow(/port/);
  });

  it('a rejected port access changes nothing', () => {
    const pair = initialised();
    pair.ioWrite(0x21, 0x12);
    expect(() => pair.ioWrite(0x60, 0xff)).toThrow();
    expect(pair.master.imr).toBe(0x12);
    expect(pair.slave.imr).toBe(0);
    expect(pair.elcr).toBe(0);
  });
});

describe('PicPair ELCR', () => {
  it('ELCR1 (0x4D0) write keeps bits 3-7 only: bits 0, 1 and 2 are reserved and read 0', () => {
    const pair = initialised();
    pair.ioWrite(0x4d0, 0xff);
    expect(pair.ioRead(0x4d0)).toBe(0xf8);
    pair.ioWrite(0x4d0, 0x07);
    expect(pair.ioRead(0x4d0)).toBe(0x00);
  });

  it('ELCR2 (0x4D1) write clears reserved bits 0 and 5 (IRQ8 and IRQ13)', () => {
    const pair = initialised();
    pair.ioWrite(0x4d1, 0xff);
    expect(pair.ioRead(0x4d1)).toBe(0xde);
    pair.ioWrite(0x4d1, 0x21);
    expect(pair.ioRead(0x4d1)).toBe(0x00);
  });

  it('ELCR writes store the value: writing the same value twice does not toggle bits', () => {
    const pair = initialised();
    pair.ioWrite(0x4d0, 0x28);
    pair.ioWrite(0x4d0, 0x28);
    expect(pair.ioRead(0x4d0)).toBe(0x28);
    pair.ioWrite(0x4d0, 0x08);
    expect(pair.ioRead(0x4d0)).toBe(0x08);
  });

  it('the elcr accessor combines ELCR2:ELCR1 as IRQ bits', () => {
    const pair = initialised();
    pair.ioWrite(0x4d0, 0x20); // IRQ5
    pair.ioWrite(0x4d1, 0x0e); // IRQ9, 10, 11
    expect(pair.elcr).toBe(0x0e20);
    expect(pair.master.elcr).toBe(0x20);
    expect(pair.slave.elcr).toBe(0x0e);
  });

  it('an ELCR level-triggered IRQ follows its line: dropping it before INTA gives spurious IRQ7', () => {
    const pair = initialised();
    pair.ioWrite(0x4d0, 0x20);
    pair.setIrq(5, true);
    expect(pair.hasInterrupt()).toBe(true);
    pair.setIrq(5, false);
    expect(pair.hasInterrupt()).toBe(false);
    expect(pair.acknowledge()).toBe(0x27);
    expect(pair.master.isr).toBe(0);
  });

  it('an edge-triggered IRQ stays latched if its line drops before INTA', () => {
    const pair = initialised();
    pair.setIrq(5, true);
    pair.setIrq(5, false);
    expect(pair.hasInterrupt()).toBe(true);
    expect(pair.acknowledge()).toBe(0x25);
  });

  it('IRQ0 cannot be made level-triggered through the ELCR', () => {
    const pair = initialised();
    pair.ioWrite(0x4d0, 0xff);
    pair.setIrq(0, true);
    pair.setIrq(0, false);
    expect(pair.master.irr & 0x01).toBe(0x01);
  });
});

describe('PicPair cascade', () => {
  it('IRQ8-15 are delivered through master IR2 with the slave vector', () => {
    const pair = initialised();
    for (let irq = 8; irq < 16; irq++) {
      pair.setIrq(irq, true);
      expect(pair.hasInterrupt()).toBe(true);
      expect(pair.acknowledge()).toBe(0x28 + (irq - 8));
      pair.setIrq(irq, false);
      pair.ioWrite(0xa0, EOI);
      pair.ioWrite(0x20, EOI);
    }
  });

  it('a cascade acknowledge sets master ISR bit 2 and the slave IS bit and clears both requests', () => {
    const pair = initialised();
    pair.setIrq(14, true);
    expect(pair.acknowledge()).toBe(0x2e);
    expect(pair.master.isr).toBe(0x04);
    expect(pair.slave.isr).toBe(0x40);
    expect(pair.master.irr).toBe(0);
    expect(pair.slave.irr).toBe(0);
    expect(pair.hasInterrupt()).toBe(false);
  });

  it('a master IRQ above IR2 beats a slave IRQ; one below loses', () => {
    const pair = initialised();
    pair.setIrq(1, true);
    pair.setIrq(8, true);
    pair.setIrq(3, true);
    expect(pair.acknowledge()).toBe(0x21);
    pair.ioWrite(0x20, EOI);
    expect(pair.acknowledge()).toBe(0x28);
    pair.ioWrite(0xa0, EOI);
    pair.ioWrite(0x20, EOI);
    expect(pair.acknowledge()).toBe(0x23);
  });

  it('a second slave request waits for the slave EOI and then for the master EOI (fully nested)', () => {
    const pair = initialised();
    pair.setIrq(10, true);
    pair.acknowledge();
    pair.setIrq(9, true); // higher priority than IRQ10 on the slave
    expect(pair.slave.output).toBe(true);
    expect(pair.hasInterrupt()).toBe(false); // master IS2 blocks its own IR2
    pair.ioWrite(0x20, EOI);
    expect(pair.acknowledge()).toBe(0x29);
  });

  it('a lower-priority slave request is delivered after the slave and master EOIs', () => {
    const pair = initialised();
    pair.setIrq(9, true);
    pair.setIrq(11, true);
    expect(pair.acknowledge()).toBe(0x29);
    expect(pair.hasInterrupt()).toBe(false);
    pair.ioWrite(0xa0, EOI);
    expect(pair.hasInterrupt()).toBe(false);
    pair.ioWrite(0x20, EOI);
    expect(pair.acknowledge()).toBe(0x2b);
  });

  it('special fully nested mode on the master: a higher-priority slave interrupt nests in a slave one', () => {
    const pair = initialised({ masterIcw4: 0x11 });
    pair.setIrq(12, true);
    expect(pair.acknowledge()).toBe(0x2c);
    pair.setIrq(9, true);
    expect(pair.hasInterrupt()).toBe(true);
    expect(pair.acknowledge()).toBe(0x29);
    expect(pair.slave.isr).toBe(0x12);
    expect(pair.master.isr).toBe(0x04);
  });

  it('special fully nested mode: a lower-priority slave request still waits for the slave EOI', () => {
    const pair = initialised({ masterIcw4: 0x11 });
    pair.setIrq(9, true);
    pair.acknowledge();
    pair.setIrq(12, true);
    expect(pair.hasInterrupt()).toBe(false);
    pair.ioWrite(0xa0, EOI);
    // The guest's handler checks the slave ISR is empty before the master EOI (data sheet); the
    // pending request is recognised even before that master EOI, as SFNM allows.
    expect(pair.acknowledge()).toBe(0x2c);
  });

  it('AEOI per chip: master AEOI and slave normal EOI', () => {
    const pair = initialised({ masterIcw4: 0x03 });
    pair.setIrq(13, true);
    expect(pair.acknowledge()).toBe(0x2d);
    expect(pair.master.isr).toBe(0);
    expect(pair.slave.isr).toBe(0x20);
  });

  it('AEOI on both chips: two pending slave requests are delivered back to back', () => {
    const pair = initialised({ masterIcw4: 0x03, slaveIcw4: 0x03 });
    pair.setIrq(9, true);
    pair.setIrq(12, true);
    expect(pair.acknowledge()).toBe(0x29);
    expect(pair.hasInterrupt()).toBe(true); // the slave still requests: master IR2 sees a new edge
    expect(pair.acknowledge()).toBe(0x2c);
    expect(pair.hasInterrupt()).toBe(false);
  });

  it('spurious IRQ7: a master request withdrawn before INTA gives master base | 7 and no IS bit', () => {
    const pair = initialised();
    pair.setIrq(4, true);
    pair.ioWrite(0x21, 0x10); // masked between INT and INTA
    expect(pair.acknowledge()).toBe(0x27);
    expect(pair.master.isr).toBe(0);
    expect(pair.slave.isr).toBe(0);
  });

  it('spurious IRQ15: a slave request withdrawn before INTA gives slave base | 7, master IS2 set, slave ISR clear', () => {
    const pair = initialised();
    pair.ioWrite(0x4d1, 0x08); // IRQ11 level-triggered
    pair.setIrq(11, true);
    expect(pair.hasInterrupt()).toBe(true);
    pair.setIrq(11, false);
    // The master's IR2 latched the slave's INT edge, so INT stays high and the master takes IR2.
    expect(pair.hasInterrupt()).toBe(true);
    expect(pair.acknowledge()).toBe(0x2f);
    expect(pair.master.isr).toBe(0x04);
    expect(pair.slave.isr).toBe(0);
    pair.ioWrite(0x20, EOI); // the guest's spurious-IRQ15 handler EOIs the master only
    expect(pair.master.isr).toBe(0);
  });

  it('spurious IRQ15 also follows masking a slave IRQ between INT and INTA', () => {
    const pair = initialised();
    pair.setIrq(15, true);
    pair.ioWrite(0xa1, 0x80);
    expect(pair.acknowledge()).toBe(0x2f);
    expect(pair.master.isr).toBe(0x04);
    expect(pair.slave.isr).toBe(0);
  });

  it('acknowledge with nothing pending at all returns the master spurious vector', () => {
    const pair = initialised();
    expect(pair.acknowledge()).toBe(0x27);
    expect(pair.master.isr).toBe(0);
  });

  it('ISA IRQ2 is wire-ORed onto master IR2, which the master hands to the slave', () => {
    const pair = initialised();
    pair.setIrq(2, true);
    expect(pair.hasInterrupt()).toBe(true);
    expect(pair.acknowledge()).toBe(0x2f); // the slave has nothing: its spurious vector
    expect(pair.lines).toBe(0x0004);
  });

  it('a master ICW3 without bit 2 makes IR2 an ordinary input with the master vector', () => {
    const pair = new PicPair();
    pair.ioWrite(0x20, 0x11);
    pair.ioWrite(0x21, 0x20);
    pair.ioWrite(0x21, 0x00); // no slaves
    pair.ioWrite(0x21, 0x01);
    pair.setIrq(10, true);
    expect(pair.acknowledge()).toBe(0x22);
    expect(pair.slave.isr).toBe(0);
  });

  it('a master in single mode supplies the IR2 vector itself', () => {
    const pair = new PicPair();
    pair.ioWrite(0x20, 0x13);
    pair.ioWrite(0x21, 0x08);
    pair.ioWrite(0x21, 0x01);
    pair.setIrq(2, true);
    expect(pair.acknowledge()).toBe(0x0a);
  });

  it('a slave whose ICW3 ID does not match the cascade address does not answer: the INTA reads 0xFF', () => {
    const pair = new PicPair();
    linux(pair);
    pair.ioWrite(0xa0, 0x11);
    pair.ioWrite(0xa1, 0x28);
    pair.ioWrite(0xa1, 0x03); // ID 3, but it is wired to IR2
    pair.ioWrite(0xa1, 0x01);
    pair.setIrq(8, true);
    expect(pair.acknowledge()).toBe(0xff);
    expect(pair.master.isr).toBe(0x04);
    expect(pair.slave.isr).toBe(0);
    expect(pair.slave.irr).toBe(0x01);
  });

  it('slave re-initialisation drops its latched requests and lowers its INT output', () => {
    const pair = initialised();
    pair.setIrq(9, true);
    pair.acknowledge();
    pair.setIrq(8, true);
    expect(pair.slave.output).toBe(true);
    pair.ioWrite(0xa0, 0x11); // re-initialise the slave: IRR edge requests dropped
    expect(pair.slave.output).toBe(false);
  });
});

describe('PicPair poll', () => {
  it('polling the master returns 0x82 for a slave request; then polling the slave returns its level', () => {
    const pair = initialised();
    pair.setIrq(13, true);
    pair.ioWrite(0x20, POLL);
    expect(pair.ioRead(0x20)).toBe(0x82);
    expect(pair.master.isr).toBe(0x04);
    pair.ioWrite(0xa0, POLL);
    expect(pair.ioRead(0xa0)).toBe(0x85);
    expect(pair.slave.isr).toBe(0x20);
    expect(pair.hasInterrupt()).toBe(false);
  });

  it('a slave poll that leaves another request pending gives the master a new IR2 edge', () => {
    const pair = initialised({ masterIcw4: 0x03, slaveIcw4: 0x03 });
    pair.setIrq(9, true);
    pair.setIrq(10, true);
    pair.ioWrite(0x20, POLL);
    expect(pair.ioRead(0x20)).toBe(0x82);
    pair.ioWrite(0xa0, POLL);
    expect(pair.ioRead(0xa0)).toBe(0x81);
    expect(pair.hasInterrupt()).toBe(true);
    expect(pair.acknowledge()).toBe(0x2a);
  });
});

describe('PicPair onOutput', () => {
  it('onOutput fires on each change of the master INT output and only on changes', () => {
    const { levels, pair } = recorder();
    linux(pair);
    pair.setIrq(3, true);
    pair.setIrq(4, true); // still high: no call
    expect(levels).toEqual([true]);
    pair.acknowledge(); // IR3 in service blocks IR4: INT falls
    expect(levels).toEqual([true, false]);
    pair.ioWrite(0x20, EOI); // IR4 now unblocked
    expect(levels).toEqual([true, false, true]);
  });

  it('onOutput does not fire for a masked request, and fires when it is unmasked', () => {
    const { levels, pair } = recorder();
    linux(pair);
    pair.ioWrite(0x21, 0x40);
    pair.setIrq(6, true);
    expect(levels).toEqual([]);
    pair.ioWrite(0x21, 0x00);
    expect(levels).toEqual([true]);
  });

  it('onOutput reports slave requests through the cascade', () => {
    const { levels, pair } = recorder();
    linux(pair);
    pair.setIrq(12, true);
    expect(levels).toEqual([true]);
    pair.acknowledge();
    expect(levels).toEqual([true, false]);
  });

  it('onOutput fires false when a level-triggered line is withdrawn', () => {
    const { levels, pair } = recorder();
    linux(pair);
    pair.ioWrite(0x4d0, 0x80);
    pair.setIrq(7, true);
    pair.setIrq(7, false);
    expect(levels).toEqual([true, false]);
  });

  it('onOutput may acknowledge from inside the callback', () => {
    const vectors: number[] = [];
    const pair: PicPair = new PicPair({
      onOutput: (level) => {
        if (level) vectors.push(pair.acknowledge());
      },
    });
    linux(pair, { masterIcw4: 0x03 });
    pair.setIrq(5, true);
    expect(vectors).toEqual([0x25]);
    expect(pair.output).toBe(false);
  });

  it('an onOutput that is not a function is rejected with TypeError', () => {
    expect(() => new PicPair({ onOutput: 1 as never })).toThrow(TypeError);
  });
});

describe('PicPair setIrq host misuse', () => {
  it('setIrq with irq outside 0..15 throws RangeError naming irq and 0..15', () => {
    const pair = initialised();
    expect(() => pair.setIrq(16, true)).toThrow(RangeError);
    expect(() => pair.setIrq(-1, true)).toThrow(/irq must be an integer in 0\.\.15/);
    expect(() => pair.setIrq(3.5, true)).toThrow(RangeError);
    expect(() => pair.setIrq(Number.NaN, true)).toThrow(RangeError);
  });

  it('setIrq with a level that is not a boolean throws TypeError naming level', () => {
    const pair = initialised();
    expect(() => pair.setIrq(3, 1 as never)).toThrow(TypeError);
    expect(() => pair.setIrq(3, undefined as never)).toThrow(/level/);
  });

  it('a rejected setIrq changes nothing', () => {
    const { levels, pair } = recorder();
    linux(pair);
    expect(() => pair.setIrq(20, true)).toThrow();
    expect(() => pair.setIrq(4, 'high' as never)).toThrow();
    expect(pair.lines).toBe(0);
    expect(pair.master.irr).toBe(0);
    expect(levels).toEqual([]);
  });

  it('the lines accessor reports the ISA wire levels', () => {
    const pair = initialised();
    pair.setIrq(0, true);
    pair.setIrq(9, true);
    pair.setIrq(15, true);
    expect(pair.lines).toBe(0x8201);
  });
});
