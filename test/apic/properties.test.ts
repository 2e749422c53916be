import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { LocalApic } from '../../src/apic/local-apic.js';
import { highestVector } from '../../src/apic/page.js';
import { IRR0, ISR0, TMR0, pageVectors, rig } from './helpers.js';
import { propertyRuns } from '../fuzz/config.js';

const RUNS = propertyRuns(200);

/** The DESIGN.md invariants, checked against the page itself. */
function checkInvariants(apic: LocalApic): void {
  const words = apic.page;
  // IRR/ISR/TMR bits 0-15 stay clear.
  for (const base of [IRR0, ISR0, TMR0]) {
    expect(words[base >> 2]! & 0xffff, `low vectors at ${base.toString(16)}`).toBe(0);
  }
  // PPR = TPR if TPR[7:4] >= ISRV[7:4] else ISRV & 0xF0.
  const tpr = words[0x80 >> 2]!;
  const isrv = highestVector(words, ISR0 >> 2);
  const isrClass = isrv < 0 ? 0 : isrv & 0xf0;
  const ppr = (tpr & 0xf0) >= isrClass ? tpr : isrClass;
  expect(words[0xa0 >> 2]).toBe(ppr);
  expect(apic.processorPriority).toBe(ppr);
  // The in-service stack is strictly increasing in priority class: one ISR bit per class.
  const classes = pageVectors(apic, ISR0).map((v) => v >> 4);
  expect(new Set(classes).size).toBe(classes.length);
  // The cached highest vectors agree with a plain scan of the page.
  const irrv = highestVector(words, IRR0 >> 2);
  expect(apic.highestRequested()).toBe(irrv);
  expect(apic.highestInService()).toBe(isrv);
  const expectedPending = apic.mode !== 'disabled' && irrv >= 0 && (irrv & 0xf0) > (ppr & 0xf0) ? irrv : -1;
  expect(apic.pendingVector()).toBe(expectedPending);
}

type Op =
  | { k: 'accept'; v: number; level: boolean }
  | { k: 'ack' }
  | { k: 'eoi' }
  | { k: 'tpr'; v: number }
  | { k: 'mmio'; off: number; v: number }
  | { k: 'msr'; msr: number; v: bigint }
  | { k: 'rdmmio'; off: number }
  | { k: 'rdmsr'; msr: number }
  | { k: 'lint'; pin: 0 | 1; level: boolean }
  | { k: 'cr8'; v: number };

const vector = fc.integer({ min: 0, max: 255 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ k: fc.constant('accept' as const), v: vector, level: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('ack' as const) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('eoi' as const) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('tpr' as const), v: vector }) },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant('mmio' as const),
      off: fc.oneof(fc.integer({ min: 0, max: 0x3f }).map((i) => i << 4), fc.integer({ min: 0, max: 0xfff })),
      v: fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(0x1ff, 0x11ff, 0x700, 0x400, 0x8041)),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant('msr' as const),
      msr: fc.oneof(fc.integer({ min: 0x800, max: 0x8ff }), fc.constantFrom(0x1b, 0x6e0)),
      v: fc.oneof(
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        fc.bigInt({ min: 0n, max: 0x1ffn }),
        fc.constantFrom(0xfee00800n, 0xfee00c00n, 0xfee00000n),
      ),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('rdmmio' as const), off: fc.integer({ min: 0, max: 0xfff }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('rdmsr' as const), msr: fc.integer({ min: 0x7f0, max: 0x90f }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('lint' as const), pin: fc.constantFrom(0 as const, 1 as const), level: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('cr8' as const), v: fc.integer({ min: -2, max: 20 }) }) },
);

function apply(apic: LocalApic, op: Op): void {
  switch (op.k) {
    case 'accept':
      apic.acceptInterrupt(op.v, op.level);
      return;
    case 'ack': {
      const before = apic.processorPriority;
      const pending = apic.pendingVector();
      const v = apic.acknowledge();
      if (pending >= 0) {
        // A vector is delivered only if its class beats PPR.
        expect(v).toBe(pending);
        expect(v & 0xf0).toBeGreaterThan(before & 0xf0);
      }
      return;
    }
    case 'eoi': {
      const isrEmpty = pageVectors(apic, ISR0).length === 0;
      const before = isrEmpty ? Array.from(apic.page) : undefined;
      apic.eoi();
      // EOI with an empty ISR changes nothing.
      if (before) expect(Array.from(apic.page)).toEqual(before);
      return;
    }
    case 'tpr':
      apic.setTpr(op.v);
      return;
    case 'mmio':
      apic.writeRegister(op.off, op.v);
      return;
    case 'msr':
      apic.writeMsr(op.msr, op.v);
      return;
    case 'rdmmio':
      apic.readRegister(op.off);
      return;
    case 'rdmsr':
      apic.readMsr(op.msr);
      return;
    case 'lint':
      apic.setLint(op.pin, op.level);
      return;
    case 'cr8':
      apic.setCr8(op.v);
      return;
  }
}

describe('LocalApic invariants (fast-check)', () => {
  it('PPR, delivery, low-vector, EOI and in-service-stack invariants hold under random sequences', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.array(opArb, { maxLength: 80 }), (x2, ops) => {
        const { apic, clock } = rig({ x2apic: x2 });
        for (const op of ops) {
          apply(apic, op);
          clock.runUntil(clock.now() + 1000);
          checkInvariants(apic);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('the fast acceptance path (no event handler) leaves the same state as the full one', () => {
    // acceptInterrupt takes a short path when no handler, assist or disable is in the way; the
    // page, PPR and every counter must come out exactly as on the full path.
    // Besides the general operations, acceptances from a few vectors (one illegal), so that
    // requests often coalesce and flip their trigger mode while pending.
    const fewVectors = fc.record({
      k: fc.constant('accept' as const),
      v: fc.constantFrom(0x0f, 0x31, 0x32, 0x51, 0xe0),
      level: fc.boolean(),
    });
    const ops = fc.array(fc.oneof({ weight: 3, arbitrary: opArb }, { weight: 2, arbitrary: fewVectors }), {
      minLength: 20,
      maxLength: 80,
    });
    fc.assert(
      fc.property(fc.boolean(), ops, (x2, ops) => {
        const full = rig({ x2apic: x2 });
        const fast = rig({ x2apic: x2, onEvent: undefined });
        for (const op of ops) {
          apply(full.apic, op);
          apply(fast.apic, op);
          expect(Array.from(fast.apic.page)).toEqual(Array.from(full.apic.page));
          expect(fast.apic.stats).toEqual(full.apic.stats);
          expect(fast.apic.pendingVector()).toBe(full.apic.pendingVector());
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('random guest register and MSR writes with random values never throw', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.tuple(fc.constant(0), fc.integer({ min: 0, max: 0xfff }), fc.double()),
            fc.tuple(fc.constant(1), fc.integer({ min: 0, max: 0xffffffff }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })),
          ),
          { maxLength: 60 },
        ),
        (writes) => {
          const { apic } = rig();
          for (const [kind, where, value] of writes) {
            if (kind === 0) {
              apic.writeRegister(where, value as number);
              apic.readRegister(where);
            } else {
              apic.writeMsr(where, value as bigint);
              apic.readMsr(where);
            }
          }
          checkInvariants(apic);
        },
      ),
      { numRuns: RUNS },
    );
  });
});
