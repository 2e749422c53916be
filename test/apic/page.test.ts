import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ApicPage, highestVector } from '../../src/apic/page.js';
import { propertyRuns } from '../fuzz/config.js';

const RUNS = propertyRuns(200);

/** Word indexes from the SDM register map (IRR 0x200, ISR 0x100, TMR 0x180), not from src/. */
const IRR = 0x200 >> 2;
const ISR = 0x100 >> 2;
const TMR = 0x180 >> 2;

function bit(words: Uint32Array, base: number, v: number): boolean {
  return ((words[base + (v >> 5) * 4]! >>> (v & 31)) & 1) === 1;
}

type PageOp =
  | { k: 'setIrr' | 'clearIrr' | 'setIsr' | 'clearIsr' | 'move'; v: number }
  | { k: 'accept'; v: number; level: boolean }
  | { k: 'pop' }
  | { k: 'poke'; word: number; isr: boolean; value: number }
  | { k: 'clear' };

// Mostly a few vectors (two sharing a word, one alone in its word), so that operations meet
// vectors already set and words that empty; sometimes any vector.
const vector = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(0x31, 0x3f, 0x40, 0xe5) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) },
);
const pageOp: fc.Arbitrary<PageOp> = fc.oneof(
  fc.record({ k: fc.constantFrom('setIrr' as const, 'clearIrr' as const, 'setIsr' as const, 'clearIsr' as const, 'move' as const), v: vector }),
  fc.record({ k: fc.constant('accept' as const), v: vector, level: fc.boolean() }),
  fc.record({ k: fc.constant('pop' as const) }),
  fc.record({ k: fc.constant('poke' as const), word: fc.integer({ min: 0, max: 7 }), isr: fc.boolean(), value: fc.integer({ min: 0, max: 0xffffffff }) }),
  fc.record({ k: fc.constant('clear' as const) }),
);

describe('ApicPage', () => {
  it('keeps its highest IRR/ISR vectors equal to a scan of the words under any operation sequence', () => {
    fc.assert(
      fc.property(fc.array(pageOp, { minLength: 10, maxLength: 100 }), (ops) => {
        const page = new ApicPage();
        const w = page.words;
        for (const op of ops) {
          switch (op.k) {
            case 'setIrr':
              page.setIrr(op.v);
              break;
            case 'clearIrr':
              page.clearIrr(op.v);
              break;
            case 'setIsr':
              page.setIsr(op.v);
              break;
            case 'clearIsr':
              page.clearIsr(op.v);
              break;
            case 'move':
              page.moveIrrToIsr(op.v);
              break;
            case 'accept': {
              const before = bit(w, IRR, op.v);
              expect(page.accept(op.v, op.level)).toBe(before);
              expect(bit(w, IRR, op.v)).toBe(true);
              expect(bit(w, TMR, op.v)).toBe(op.level);
              break;
            }
            case 'pop': {
              const top = highestVector(w, ISR);
              expect(page.popIsr()).toBe(top);
              if (top >= 0) expect(bit(w, ISR, top)).toBe(false);
              break;
            }
            case 'poke':
              w[(op.isr ? ISR : IRR) + op.word * 4] = op.value;
              page.resync();
              break;
            case 'clear':
              page.clearVectors();
              break;
          }
          expect(page.highestIrr()).toBe(highestVector(w, IRR));
          expect(page.highestIsr()).toBe(highestVector(w, ISR));
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('moveIrrToIsr of a vector that is not the highest keeps the highest IRR vector', () => {
    const page = new ApicPage();
    page.setIrr(0x31);
    page.setIrr(0xa2);
    page.moveIrrToIsr(0x31);
    expect(page.highestIrr()).toBe(0xa2);
    expect(page.highestIsr()).toBe(0x31);
    page.moveIrrToIsr(0xa2);
    expect(page.highestIrr()).toBe(-1);
    expect(page.highestIsr()).toBe(0xa2);
  });

  it('popIsr clears the highest in-service vector first, then the next one', () => {
    const page = new ApicPage();
    page.setIsr(0x45);
    page.setIsr(0x40);
    page.setIsr(0x91);
    expect([page.popIsr(), page.popIsr(), page.popIsr(), page.popIsr()]).toEqual([0x91, 0x45, 0x40, -1]);
  });
});
