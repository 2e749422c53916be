/**
 * The 8259A model keeps the priority resolver's answer in a field (and derives a few others from
 * ICW1/ICW3/ICW4, the ELCR, the rotation and special mask mode) instead of recomputing them at
 * every read. These properties check that the stored answer is never stale: after any sequence of
 * guest port accesses (initialisation included), wire changes, INTAs, resets and snapshot round
 * trips, each chip's `pendingIr()` and `output` equal a from-scratch resolution written here from
 * the data sheet's rules and the chip's public registers alone.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Pic8259 } from '../../src/pic/pic8259.js';
import { PicPair } from '../../src/pic/pic-pair.js';
import { propertyRuns } from '../fuzz/config.js';

const NUM_RUNS = propertyRuns(200);

/**
 * The IR an INTA would take, from the registers, walking the IRs from highest to lowest priority.
 * Fully nested: the first request wins unless an IS bit at or above it blocks it. Special mask
 * mode: an IS bit blocks only its own level. SFNM (a master in cascade mode): an input with a
 * slave is not blocked by its own IS bit.
 */
function referencePending(chip: Pic8259): number {
  const requests = chip.irr & ~chip.imr;
  const slaveInputs = chip.isMaster && !chip.singleMode ? chip.icw3 : 0;
  const shield = chip.specialFullyNested ? slaveInputs : 0;
  for (let i = 1; i <= 8; i++) {
    const ir = (chip.lowestPriority + i) % 8;
    const bit = 1 << ir;
    const blockedByOwnIsBit = (chip.isr & bit & ~shield) !== 0;
    if (chip.specialMaskMode) {
      if ((requests & bit) !== 0 && !blockedByOwnIsBit) return ir;
    } else {
      if ((requests & bit) !== 0) return blockedByOwnIsBit ? -1 : ir;
      if ((chip.isr & bit) !== 0) return -1;
    }
  }
  return -1;
}

function expectFresh(pair: PicPair, step: string): void {
  for (const [name, chip] of [['master', pair.master], ['slave', pair.slave]] as const) {
    const expected = referencePending(chip);
    expect(chip.pendingIr(), `${name} pendingIr after ${step}`).toBe(expected);
    expect(chip.output, `${name} output after ${step}`).toBe(expected !== -1);
  }
  expect(pair.hasInterrupt()).toBe(pair.master.output);
  expect(pair.output).toBe(pair.master.output);
}

type Op =
  | { kind: 'command'; slave: boolean; value: number }
  | { kind: 'data'; slave: boolean; value: number }
  | { kind: 'elcr'; slave: boolean; value: number }
  | { kind: 'read'; port: number }
  | { kind: 'irq'; irq: number; level: boolean }
  | { kind: 'ack' }
  | { kind: 'reset' }
  | { kind: 'roundtrip' };

// Command bytes: ICW1 variants (edge/LTIM, single/cascade, with/without IC4), every OCW2 command,
// OCW3 with SMM set/reset, poll and register selection, and anything else.
const commandByte = fc.oneof(
  fc.integer({ min: 0, max: 0xff }),
  fc.constantFrom(0x11, 0x13, 0x19, 0x1b, 0x10, 0x12, 0x20, 0x60, 0x61, 0x62, 0x67, 0xa0, 0xe0, 0xe2, 0xe7, 0xc0, 0xc3, 0xc7, 0x80, 0x00, 0x40, 0x68, 0x48, 0x0a, 0x0b, 0x0c, 0x6c),
);
// Data bytes: ICW2 bases, ICW3 wirings, ICW4 with AEOI and SFNM, IMR values.
const dataByte = fc.oneof(
  fc.integer({ min: 0, max: 0xff }),
  fc.constantFrom(0x00, 0xff, 0x08, 0x70, 0x04, 0x02, 0x01, 0x03, 0x11, 0x13, 0x1f, 0xfb, 0x04),
);

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('command' as const), slave: fc.boolean(), value: commandByte }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('data' as const), slave: fc.boolean(), value: dataByte }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('elcr' as const), slave: fc.boolean(), value: fc.integer({ min: 0, max: 0xff }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('read' as const), port: fc.constantFrom(0x20, 0x21, 0xa0, 0xa1) }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('irq' as const), irq: fc.integer({ min: 0, max: 15 }), level: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('ack' as const) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'reset' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'roundtrip' as const }) },
);

function apply(pair: PicPair, o: Op): PicPair {
  switch (o.kind) {
    case 'command':
      pair.ioWrite(o.slave ? 0xa0 : 0x20, o.value);
      return pair;
    case 'data':
      pair.ioWrite(o.slave ? 0xa1 : 0x21, o.value);
      return pair;
    case 'elcr':
      pair.ioWrite(o.slave ? 0x4d1 : 0x4d0, o.value);
      return pair;
    case 'read':
      pair.ioRead(o.port);
      return pair;
    case 'irq':
      pair.setIrq(o.irq, o.level);
      return pair;
    case 'ack':
      pair.acknowledge();
      return pair;
    case 'reset':
      pair.reset();
      return pair;
    case 'roundtrip': {
      const copy = new PicPair();
      copy.restore(pair.save());
      return copy;
    }
  }
}

describe('PIC stored resolution', () => {
  it('pendingIr and output always equal a from-scratch resolution of the registers', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 120, size: 'max' }), (ops) => {
        let pair = new PicPair();
        expectFresh(pair, 'construction');
        for (const [i, o] of ops.entries()) {
          pair = apply(pair, o);
          expectFresh(pair, `op ${i} ${JSON.stringify(o)}`);
        }
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('a restored pair behaves exactly like the original from then on', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), fc.array(op, { maxLength: 60 }), (before, after) => {
        const a = before.reduce(apply, new PicPair());
        const b = new PicPair();
        b.restore(a.save());
        // Every op but 'roundtrip' acts on the pair in place; an INTA after each one exposes the state.
        const rest = after.filter((o) => o.kind !== 'roundtrip');
        const trace = (p: PicPair): number[] =>
          rest.flatMap((o) => {
            apply(p, o);
            return [p.master.pendingIr(), p.slave.pendingIr(), p.output ? 1 : 0, p.acknowledge(), p.master.isr, p.slave.isr];
          });
        expect(trace(b)).toEqual(trace(a));
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('a lone chip (master or slave, any ICWs, LTIM, SFNM, AEOI) never holds a stale answer', () => {
    const chipOp = fc.oneof(
      { weight: 3, arbitrary: fc.record({ a0: fc.constant(0), value: commandByte }) },
      { weight: 3, arbitrary: fc.record({ a0: fc.constant(1), value: dataByte }) },
      { weight: 6, arbitrary: fc.record({ ir: fc.integer({ min: 0, max: 7 }), level: fc.boolean() }) },
      { weight: 1, arbitrary: fc.record({ elcr: fc.integer({ min: 0, max: 0xff }) }) },
      { weight: 1, arbitrary: fc.record({ read: fc.constantFrom(0, 1) }) },
      { weight: 3, arbitrary: fc.constant({ ack: true }) },
      { weight: 1, arbitrary: fc.constant({ reset: true }) },
    );
    // ICW1 with LTIM, cascade and IC4, ICW2, ICW3 with IR2, ICW4 with SFNM and optionally AEOI.
    const sfnmStart = [[0, 0x19], [1, 0x08], [1, 0x04], [1, 0x11]] as const;
    fc.assert(
      fc.property(fc.constantFrom('master' as const, 'slave' as const), fc.boolean(), fc.array(chipOp, { maxLength: 100, size: 'max' }), (role, start, ops) => {
        const chip = new Pic8259({ role, icw3: role === 'master' ? 0x04 : 2 });
        if (start) for (const [a0, v] of sfnmStart) chip.write(a0, v);
        for (const [i, o] of ops.entries()) {
          if ('a0' in o) chip.write(o.a0, o.value);
          else if ('ir' in o) chip.setIrq(o.ir, o.level);
          else if ('elcr' in o) chip.setElcr(o.elcr);
          else if ('read' in o) chip.read(o.read);
          else if ('ack' in o) chip.acknowledgeIr();
          else chip.reset();
          const expected = referencePending(chip);
          expect(chip.pendingIr(), `pendingIr after op ${i} ${JSON.stringify(o)}`).toBe(expected);
          expect(chip.output).toBe(expected !== -1);
        }
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('SFNM with a level-triggered cascade input: the input is requested again right after its INTA', () => {
    const chip = new Pic8259({ role: 'master' });
    for (const [a0, v] of [[0, 0x19], [1, 0x08], [1, 0x04], [1, 0x11]] as const) chip.write(a0, v); // LTIM, cascade, SFNM
    chip.setIrq(2, true);
    expect(chip.acknowledgeIr()).toBe(2);
    expect(chip.isr).toBe(0x04);
    // The level request stays in IRR and its own IS bit does not block it in SFNM.
    expect(chip.pendingIr()).toBe(2);
    expect(chip.output).toBe(true);
  });

  it('the plain fully nested shortcuts give the general answers (special modes toggled at random)', () => {
    // SMM on/off, rotation and SFNM re-initialisation interleaved with requests and EOIs: every
    // mode switch must take the chip off (or back onto) the plain fully nested path.
    const modeOp = fc.oneof(
      fc.constantFrom(0x68, 0x48, 0xc0, 0xc7, 0xc3, 0xa0, 0xe5, 0x20, 0x60, 0x62).map((value) => ({ kind: 'command' as const, slave: false, value })),
      fc.record({ kind: fc.constant('irq' as const), irq: fc.constantFrom(0, 1, 3, 4, 5, 6, 7, 9, 12), level: fc.boolean() }),
      fc.constant({ kind: 'ack' as const }),
    );
    fc.assert(
      fc.property(fc.boolean(), fc.array(modeOp, { maxLength: 80, size: 'max' }), (sfnm, ops) => {
        const pair = new PicPair();
        for (const [port, v] of [[0x20, 0x11], [0x21, 0x08], [0x21, 0x04], [0x21, sfnm ? 0x11 : 0x01], [0xa0, 0x11], [0xa1, 0x70], [0xa1, 0x02], [0xa1, 0x01]] as const) {
          pair.ioWrite(port, v);
        }
        for (const [i, o] of ops.entries()) {
          apply(pair, o);
          expectFresh(pair, `op ${i} ${JSON.stringify(o)}`);
        }
      }),
      { numRuns: NUM_RUNS },
    );
  });
});
