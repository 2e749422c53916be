import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Platform } from '../../src/platform/platform.js';
import { propertyRuns } from '../fuzz/config.js';

const RUNS = propertyRuns(150);

const PINS = [16, 17, 18] as const;
const VECTORS = [0x51, 0x62, 0x73] as const;

type Op =
  | { k: 'assert'; i: number }
  | { k: 'deassert'; i: number }
  | { k: 'mask'; i: number }
  | { k: 'unmask'; i: number }
  | { k: 'ack' }
  | { k: 'eoi' }
  | { k: 'tpr'; v: number };

const idx = fc.integer({ min: 0, max: 2 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ k: fc.constant('assert' as const), i: idx }),
  fc.record({ k: fc.constant('deassert' as const), i: idx }),
  fc.record({ k: fc.constant('mask' as const), i: idx }),
  fc.record({ k: fc.constant('unmask' as const), i: idx }),
  fc.record({ k: fc.constant('ack' as const) }),
  fc.record({ k: fc.constant('eoi' as const) }),
  fc.record({ k: fc.constant('tpr' as const), v: fc.constantFrom(0, 0x50, 0x60, 0x70, 0x80) }),
);

function program(pc: Platform, i: number, masked: boolean): void {
  const pin = PINS[i]!;
  pc.ioapic.writeRegister(0x00, 0x10 + 2 * pin);
  // level (bit 15), active low (bit 13), fixed, physical CPU 0
  pc.ioapic.writeRegister(0x10, (masked ? 0x10000 : 0) | 0xa000 | VECTORS[i]!);
}

const bit = (pc: Platform, base: number, v: number): boolean =>
  ((pc.lapics[0]!.page[(base >> 2) + (v >> 5) * 4]! >>> (v & 31)) & 1) === 1;

describe('level interrupts between the I/O APIC and the local APIC (fast-check)', () => {
  it('are never lost and never doubled across random assert / deassert / mask / EOI sequences', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 100 }), (ops) => {
        const pc = new Platform({ cpus: 1 });
        const apic = pc.lapics[0]!;
        apic.writeRegister(0xf0, 0x1ff);
        const masked = [false, false, false];
        const asserted = [false, false, false];
        PINS.forEach((_, i) => program(pc, i, false));
        for (const op of ops) {
          switch (op.k) {
            case 'assert':
            case 'deassert':
              asserted[op.i] = op.k === 'assert';
              pc.setIrq(PINS[op.i]!, asserted[op.i]!);
              break;
            case 'mask':
            case 'unmask':
              masked[op.i] = op.k === 'mask';
              program(pc, op.i, masked[op.i]!);
              break;
            case 'ack':
              if (pc.cpuHasInterrupt(0)) pc.cpuAcknowledge(0);
              break;
            case 'eoi':
              apic.eoi();
              break;
            case 'tpr':
              apic.writeRegister(0x80, op.v);
              break;
          }
          PINS.forEach((pin, i) => {
            const v = VECTORS[i]!;
            const held = bit(pc, 0x200, v) || bit(pc, 0x100, v);
            // Remote IRR stands exactly for the one delivery the local APIC holds.
            expect(pc.ioapic.remoteIrr(pin)).toBe(held);
            // Nothing lost: an asserted, unmasked line always has its interrupt outstanding.
            if (asserted[i] && !masked[i]) expect(held).toBe(true);
          });
          // Nothing doubled: no level vector was ever requested again while still in IRR.
          expect(apic.stats.coalesced).toBe(0);
        }
      }),
      { numRuns: RUNS },
    );
  });
});
