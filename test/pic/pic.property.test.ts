import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Pic8259 } from '../../src/pic/pic8259.js';
import { PicPair } from '../../src/pic/pic-pair.js';
import { propertyRuns } from '../fuzz/config.js';

const NUM_RUNS = propertyRuns(200);
const PORTS = [0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1] as const;

// ---- Property 1: guest input never throws and registers stay 8-bit --------------------------

type PairOp =
  | { kind: 'write'; port: number; value: number }
  | { kind: 'read'; port: number }
  | { kind: 'irq'; irq: number; level: boolean }
  | { kind: 'ack' };

const anyGuestValue = fc.oneof(
  fc.integer({ min: 0, max: 0xff }),
  fc.integer(),
  fc.double(),
  fc.constantFrom(Number.NaN, Infinity, -Infinity, -0),
);

const port = fc.constantFrom(...PORTS);
const pairOp: fc.Arbitrary<PairOp> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('write' as const), port, value: anyGuestValue }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('read' as const), port }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('irq' as const),
      irq: fc.integer({ min: 0, max: 15 }),
      level: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('ack' as const) }) },
);

function isByte(v: number): boolean {
  return Number.isInteger(v) && v >= 0 && v <= 0xff;
}

describe('PIC properties', () => {
  it('random guest writes, reads, setIrq and INTA never throw and keep IRR/ISR/IMR/ELCR in range', () => {
    fc.assert(
      fc.property(fc.array(pairOp, { maxLength: 80, size: 'max' }), (ops) => {
        const reported: boolean[] = [];
        const pair = new PicPair({ onOutput: (level) => reported.push(level) });
        for (const op of ops) {
          if (op.kind === 'write') pair.ioWrite(op.port, op.value);
          if (op.kind === 'read') expect(isByte(pair.ioRead(op.port))).toBe(true);
          if (op.kind === 'irq') pair.setIrq(op.irq, op.level);
          if (op.kind === 'ack') expect(isByte(pair.acknowledge())).toBe(true);
          for (const chip of [pair.master, pair.slave]) {
            expect(isByte(chip.irr) && isByte(chip.isr) && isByte(chip.imr)).toBe(true);
            expect(chip.lowestPriority >= 0 && chip.lowestPriority <= 7).toBe(true);
          }
          expect(pair.elcr & ~0xdef8).toBe(0);
          // onOutput reports changes only, and its last report is the current INT level.
          expect(reported.at(-1) ?? false).toBe(pair.hasInterrupt());
        }
        for (let i = 1; i < reported.length; i++) expect(reported[i]).not.toBe(reported[i - 1]);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  // ---- Property 2: the priority resolver matches a reference model -------------------------

  it('priority resolution, EOI and rotation match a straightforward reference model', () => {
    fc.assert(
      fc.property(chipConfig, fc.array(chipOp, { maxLength: 60, size: 'max' }), (config, ops) => {
        const chip = new Pic8259();
        chip.write(0, 0x13); // single, IC4
        chip.write(1, 0x40);
        chip.write(1, config.aeoi ? 0x03 : 0x01);
        chip.setElcr(config.elcr);
        const ref = new ReferencePic(config.aeoi, config.elcr);
        for (const op of ops) {
          applyToChip(chip, op, ref);
          expect(chip.pendingIr()).toBe(ref.pending());
          expect(chip.irr).toBe(ref.irr);
          expect(chip.isr).toBe(ref.isr);
          expect(chip.imr).toBe(ref.imr);
          expect(chip.lowestPriority).toBe(ref.lowest);
        }
      }),
      { numRuns: NUM_RUNS },
    );
  });
});

type ChipOp =
  | { kind: 'irq'; ir: number; level: boolean }
  | { kind: 'imr'; value: number }
  | { kind: 'ocw2'; command: number; level: number }
  | { kind: 'smm'; on: boolean }
  | { kind: 'ack' }
  | { kind: 'poll' };

const chipConfig = fc.record({ aeoi: fc.boolean(), elcr: fc.integer({ min: 0, max: 0xff }) });

const chipOp: fc.Arbitrary<ChipOp> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({ kind: fc.constant('irq' as const), ir: fc.integer({ min: 0, max: 7 }), level: fc.boolean() }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('imr' as const), value: fc.integer({ min: 0, max: 0xff }) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('ocw2' as const),
      command: fc.integer({ min: 0, max: 7 }),
      level: fc.integer({ min: 0, max: 7 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('smm' as const), on: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('ack' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('poll' as const) }) },
);

function applyToChip(chip: Pic8259, op: ChipOp, ref: ReferencePic): void {
  switch (op.kind) {
    case 'irq':
      chip.setIrq(op.ir, op.level);
      ref.setIrq(op.ir, op.level);
      return;
    case 'imr':
      chip.write(1, op.value);
      ref.imr = op.value;
      return;
    case 'ocw2':
      chip.write(0, (op.command << 5) | op.level);
      ref.ocw2(op.command, op.level);
      return;
    case 'smm':
      chip.write(0, op.on ? 0x68 : 0x48);
      ref.smm = op.on;
      return;
    case 'ack':
      expect(chip.acknowledge()).toBe(ref.acknowledge());
      return;
    case 'poll': {
      chip.write(0, 0x0c);
      const ir = ref.poll();
      expect(chip.read(0)).toBe(ir < 0 ? 0 : 0x80 | ir);
      return;
    }
  }
}

/**
 * An independent, deliberately plain model of one 8259A in single mode with vector base 0x40:
 * priorities are walked one by one from the IR after the lowest-priority one.
 */
class ReferencePic {
  irr = 0;
  isr = 0;
  imr = 0;
  lines = 0;
  lowest = 7;
  smm = false;
  rotateInAeoi = false;

  constructor(
    private readonly aeoi: boolean,
    private readonly levelLines: number,
  ) {}

  /** IR numbers from highest to lowest priority. */
  order(): number[] {
    const out: number[] = [];
    for (let i = 1; i <= 8; i++) out.push((this.lowest + i) % 8);
    return out;
  }

  isLevel(ir: number): boolean {
    return (this.levelLines & (1 << ir)) !== 0;
  }

  setIrq(ir: number, level: boolean): void {
    const bit = 1 << ir;
    const wasHigh = (this.lines & bit) !== 0;
    if (level) this.lines |= bit;
    else this.lines &= ~bit;
    if (this.isLevel(ir)) {
      if (level) this.irr |= bit;
      else this.irr &= ~bit;
    } else if (level && !wasHigh) {
      this.irr |= bit;
    }
  }

  pending(): number {
    for (const ir of this.order()) {
      const bit = 1 << ir;
      const inService = (this.isr & bit) !== 0;
      if (inService && !this.smm) return -1; // fully nested: in-service level blocks itself and below
      if (inService) continue; // special mask mode: only its own level is blocked
      if ((this.irr & bit) !== 0 && (this.imr & bit) === 0) return ir;
    }
    return -1;
  }

  poll(): number {
    const ir = this.pending();
    if (ir < 0) return -1;
    const bit = 1 << ir;
    if (!this.isLevel(ir)) this.irr &= ~bit;
    if (!this.aeoi) this.isr |= bit;
    else if (this.rotateInAeoi) this.lowest = ir;
    return ir;
  }

  acknowledge(): number {
    const ir = this.poll();
    return 0x40 + (ir < 0 ? 7 : ir);
  }

  ocw2(command: number, level: number): void {
    if (command === 1 || command === 5) {
      for (const ir of this.order()) {
        const bit = 1 << ir;
        if ((this.isr & bit) === 0) continue;
        if (this.smm && (this.imr & bit) !== 0) continue;
        this.isr &= ~bit;
        if (command === 5) this.lowest = ir;
        return;
      }
      return;
    }
    if (command === 3) this.isr &= ~(1 << level);
    if (command === 7) {
      this.isr &= ~(1 << level);
      this.lowest = level;
    }
    if (command === 6) this.lowest = level;
    if (command === 4) this.rotateInAeoi = true;
    if (command === 0) this.rotateInAeoi = false;
  }
}
