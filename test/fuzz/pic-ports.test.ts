/**
 * Surface: the 8259A pair's six ports (0x20, 0x21, 0xA0, 0xA1, ELCR 0x4D0/0x4D1) with any value,
 * ISA IRQ wires and INTA cycles; standalone and wired into a Platform (INT -> LINT0 and I/O
 * APIC pin 0).
 *
 * Besides the shared invariants: reads and vectors are bytes; a poll read returns 0 or 0x80|IR;
 * ELCR reads back what was written minus its reserved bits; `onOutput` fires only on changes.
 */
import fc from 'fast-check';
import { describe, expect } from 'vitest';
import { PicPair } from '../../src/pic/pic-pair.js';
import { Platform } from '../../src/platform/platform.js';
import { guestNumber, sequence } from './arbitraries.js';
import { fuzz } from './config.js';
import { checkIoApic, checkLapic, checkPicPair } from './invariants.js';
import { observePicPair } from './observe.js';

const PORTS = [0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1] as const;

type Op =
  | { k: 'out'; port: number; v: number }
  | { k: 'init'; slave: boolean; icw1: number; icw2: number; icw3: number; icw4: number }
  | { k: 'in'; port: number }
  | { k: 'irq'; irq: number; level: boolean }
  | { k: 'inta' };

const byteCommand = fc.oneof(
  // OCW2: every command with every level; OCW3: every combination; ICW1 variants.
  fc.tuple(fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 7 })).map(([cmd, l]) => (cmd << 5) | l),
  fc.integer({ min: 0, max: 0x7f }).map((b) => (b & 0x67) | 0x08),
  fc.constantFrom(0x11, 0x13, 0x19, 0x1b, 0x10, 0x0a, 0x0b, 0x0c, 0x20, 0x60, 0x68, 0x48),
);

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      k: fc.constant('out' as const),
      port: fc.constantFrom(...PORTS),
      v: fc.oneof({ weight: 4, arbitrary: byteCommand }, { weight: 4, arbitrary: fc.integer({ min: 0, max: 0xff }) }, { weight: 1, arbitrary: guestNumber }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('init' as const),
      slave: fc.boolean(),
      icw1: fc.constantFrom(0x11, 0x13, 0x19, 0x10, 0x1b),
      icw2: fc.constantFrom(0x08, 0x70, 0x20, 0x28, 0xff),
      icw3: fc.constantFrom(0x04, 0x02, 0x00, 0xff),
      icw4: fc.constantFrom(0x01, 0x03, 0x11, 0x13, 0x1f),
    }),
  },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('in' as const), port: fc.constantFrom(...PORTS) }) },
  { weight: 8, arbitrary: fc.record({ k: fc.constant('irq' as const), irq: fc.integer({ min: 0, max: 15 }), level: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('inta' as const) }) },
);

/** Applies one op to a pair, checking the per-op rules. */
function apply(pic: PicPair, op: Op, acknowledge: () => number): void {
  switch (op.k) {
    case 'out': {
      pic.ioWrite(op.port, op.v);
      if (op.port === 0x4d0) expect(pic.ioRead(0x4d0)).toBe(op.v & 0xf8);
      if (op.port === 0x4d1) expect(pic.ioRead(0x4d1)).toBe(op.v & 0xde);
      break;
    }
    case 'init': {
      const base = op.slave ? 0xa0 : 0x20;
      pic.ioWrite(base, op.icw1);
      pic.ioWrite(base + 1, op.icw2);
      if ((op.icw1 & 0x02) === 0) pic.ioWrite(base + 1, op.icw3);
      if ((op.icw1 & 0x01) !== 0) pic.ioWrite(base + 1, op.icw4);
      expect((op.slave ? pic.slave : pic.master).initialising).toBe(false);
      break;
    }
    case 'in': {
      const chip = op.port === 0x20 || op.port === 0x21 ? pic.master : op.port === 0xa0 || op.port === 0xa1 ? pic.slave : undefined;
      const polling = chip?.pollPending ?? false;
      const expectedIr = polling ? chip!.pendingIr() : -1;
      const value = pic.ioRead(op.port);
      expect(Number.isInteger(value) && value >= 0 && value <= 0xff).toBe(true);
      if (polling) expect(value).toBe(expectedIr < 0 ? 0 : 0x80 | expectedIr);
      break;
    }
    case 'irq':
      pic.setIrq(op.irq, op.level);
      break;
    case 'inta': {
      const v = acknowledge();
      expect(Number.isInteger(v) && v >= 0 && v <= 0xff).toBe(true);
      break;
    }
  }
}

describe('fuzz: PIC ports and ELCR', () => {
  fuzz('pic random port sequences never throw and keep every invariant', () =>
    fc.property(sequence(opArb, 100), (ops) => {
      const outputs: boolean[] = [];
      const pic = new PicPair({ onOutput: (level) => outputs.push(level) });
      for (const op of ops) {
        const reported = outputs.length;
        apply(pic, op, () => pic.acknowledge());
        checkPicPair(pic);
        // onOutput: only on changes, alternating, ending at the current INT level.
        expect(outputs.length - reported).toBeLessThanOrEqual(1);
        if (outputs.length > 0) expect(outputs[outputs.length - 1]).toBe(pic.output);
      }
      for (let i = 0; i < outputs.length; i++) expect(outputs[i]).toBe(i % 2 === 0);
    }),
  );

  fuzz('pic the same sequence gives the same state', () =>
    fc.property(sequence(opArb, 80), (ops) => {
      const run = (): unknown => {
        const pic = new PicPair();
        for (const op of ops) apply(pic, op, () => pic.acknowledge());
        return observePicPair(pic);
      };
      expect(run()).toEqual(run());
    }),
    { scale: 0.5 },
  );

  fuzz('pic wired into a platform drives LINT0 and I/O APIC pin 0 with its INT output', () =>
    fc.property(fc.boolean(), sequence(opArb, 80), (virtualWire, ops) => {
      const pc = new Platform({ cpus: 2 });
      if (virtualWire) {
        pc.lapics[0]!.writeRegister(0xf0, 0x1ff);
        pc.lapics[0]!.writeRegister(0x350, 0x700); // LINT0 ExtINT
      }
      for (const op of ops) {
        apply(pc.pic, op, () => (pc.cpuHasInterrupt(0) ? pc.cpuAcknowledge(0) : pc.pic.acknowledge()));
        checkPicPair(pc.pic);
        expect(pc.ioapic.pinLevel(0)).toBe(pc.pic.output);
        if (virtualWire) expect(pc.lapics[0]!.extIntPending()).toBe(pc.pic.output);
        checkIoApic(pc.ioapic, pc.scheduler!.pending());
        for (const a of pc.lapics) checkLapic(a);
      }
    }),
    { scale: 0.5 },
  );
});
