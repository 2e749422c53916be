/**
 * Host misuse of PicPair and Pic8259. Any number written to one of the six ports is guest data
 * (masked to 8 bits) and never throws; a port the pair does not own, an IRQ outside 0..15 (0..7
 * on one chip), an A0 other than 0/1, a non-boolean level and bad options are host bugs.
 */
import { describe, expect, it } from 'vitest';
import { Pic8259, type Pic8259Options } from '../../src/pic/pic8259.js';
import { PicPair, type PicPairOptions } from '../../src/pic/pic-pair.js';
import { observePic8259, observePicPair } from '../fuzz/observe.js';
import { BAD_INTEGERS, NOT_BOOLEANS, NOT_NUMBERS, c, expectRejected, type Case } from './helpers.js';

/** BIOS-initialised pair with a slave request in service, a master request pending, a poll armed on the slave. */
function busyPair(): { pic: PicPair; outputs: boolean[]; observe: () => unknown } {
  const outputs: boolean[] = [];
  const pic = new PicPair({ onOutput: (l) => outputs.push(l) });
  for (const [port, v] of [[0x20, 0x11], [0x21, 0x08], [0x21, 0x04], [0x21, 0x01], [0xa0, 0x11], [0xa1, 0x70], [0xa1, 0x02], [0xa1, 0x01]] as const) {
    pic.ioWrite(port, v);
  }
  pic.ioWrite(0x4d1, 0x04); // IRQ10 level
  pic.setIrq(10, true);
  expect(pic.acknowledge()).toBe(0x72);
  pic.setIrq(3, true);
  pic.ioWrite(0xa0, 0x0c); // OCW3: poll the slave on its next read
  return { pic, outputs, observe: () => ({ pair: observePicPair(pic), outputs: [...outputs] }) };
}

const PORT = /^port must be one of 0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1, got /;
const pairCases: Array<Case<PicPair>> = [
  ...[0x22, 0xa2, 0x4d2, 0x60, 0, -1, 32.5, Number.NaN, 0x20 + 0x10000].map((port) => c<PicPair>(`ioRead(${port})`, (p) => p.ioRead(port), RangeError, PORT)),
  ...[0x22, 0x4cf, -0x20, Number.POSITIVE_INFINITY].map((port) => c<PicPair>(`ioWrite(${port}, 0x20)`, (p) => p.ioWrite(port, 0x20), RangeError, PORT)),
  ...NOT_NUMBERS.map(([label, port]) => c<PicPair>(`ioRead(${label})`, (p) => p.ioRead(port as number), TypeError, /^port must be a number/)),
  ...NOT_NUMBERS.map(([label, port]) => c<PicPair>(`ioWrite(${label}, 0)`, (p) => p.ioWrite(port as number, 0), TypeError, /^port must be a number/)),
  ...[16, -1, 2.5, ...BAD_INTEGERS.map(([, v]) => v)].map((irq) => c<PicPair>(`setIrq(${irq}, true)`, (p) => p.setIrq(irq, true), RangeError, /^irq must be an integer in 0\.\.15/)),
  ...NOT_NUMBERS.map(([label, irq]) => c<PicPair>(`setIrq(${label}, true)`, (p) => p.setIrq(irq as number, true), TypeError, /^irq must be a number/)),
  ...NOT_BOOLEANS.map(([label, l]) => c<PicPair>(`setIrq(3, ${label})`, (p) => p.setIrq(3, l as boolean), TypeError, /^level must be a boolean/)),
];

describe('PicPair misuse', () => {
  for (const k of pairCases) {
    it(`${k.name} throws ${k.error.name} and changes nothing (not even the armed poll)`, () => {
      const { pic, observe } = busyPair();
      expectRejected(observe, () => k.call(pic), k.error, k.message);
      expect(pic.slave.pollPending).toBe(true);
    });
  }

  it('new PicPair(null) or a non-object throws a TypeError naming opts (KNOWN_BUGS 8)', () => {
    for (const opts of [null, 5, 'opts', true]) {
      expect(() => new PicPair(opts as unknown as PicPairOptions)).toThrow(TypeError);
      expect(() => new PicPair(opts as unknown as PicPairOptions)).toThrow(/^opts must be an object/);
    }
    expect(() => new PicPair(undefined)).not.toThrow();
  });

  it('new PicPair({ onOutput: 42 }) throws a TypeError naming onOutput', () => {
    expect(() => new PicPair({ onOutput: 42 } as unknown as PicPairOptions)).toThrow(/^onOutput must be a function/);
    expect(() => new PicPair({ onOutput: 42 } as unknown as PicPairOptions)).toThrow(TypeError);
  });

  it('any number written to a port is guest data: masked to 8 bits, never an error', () => {
    for (const v of [-1, 0x1ff, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 40 + 0x21]) {
      const a = new PicPair();
      const b = new PicPair();
      a.ioWrite(0x21, v);
      b.ioWrite(0x21, v & 0xff);
      expect(observePicPair(a)).toEqual(observePicPair(b));
    }
  });
});

/** A lone master in AEOI with requests pending and IRR selected. */
function busyChip(): { chip: Pic8259; observe: () => unknown } {
  const chip = new Pic8259();
  chip.write(0, 0x13); // ICW1: single, ICW4
  chip.write(1, 0x20); // ICW2
  chip.write(1, 0x03); // ICW4: AEOI
  chip.setIrq(5, true);
  chip.setIrq(6, true);
  chip.write(0, 0x0b); // OCW3: read ISR
  return { chip, observe: () => observePic8259(chip) };
}

const chipCases: Array<Case<Pic8259>> = [
  ...[8, -1, 0.5, Number.NaN].map((ir) => c<Pic8259>(`setIrq(${ir}, true)`, (p) => p.setIrq(ir, true), RangeError, /^ir must be an integer in 0\.\.7/)),
  c('setIrq(a string, true)', (p) => p.setIrq('1' as unknown as number, true), TypeError, /^ir must be a number/),
  ...NOT_BOOLEANS.map(([label, l]) => c<Pic8259>(`setIrq(1, ${label})`, (p) => p.setIrq(1, l as boolean), TypeError, /^level must be a boolean/)),
  ...[2, -1, 0.5, 0x21].map((a0) => c<Pic8259>(`read(${a0})`, (p) => p.read(a0), RangeError, /^a0 must be an integer in 0\.\.1/)),
  ...[2, -1, 0.5].map((a0) => c<Pic8259>(`write(${a0}, 0x20)`, (p) => p.write(a0, 0x20), RangeError, /^a0 must be an integer in 0\.\.1/)),
  c('read(a boolean)', (p) => p.read(true as unknown as number), TypeError, /^a0 must be a number/),
  // KNOWN_BUGS 9: these used to wrap their argument (vectorFor(9) answered for IR1).
  ...[9, 8, -1, 0.5, Number.NaN].map((ir) => c<Pic8259>(`vectorFor(${ir})`, (p) => p.vectorFor(ir), RangeError, /^ir must be an integer in 0\.\.7/)),
  ...[8, -1, 2.5].map((ir) => c<Pic8259>(`hasSlaveOn(${ir})`, (p) => p.hasSlaveOn(ir), RangeError, /^ir must be an integer in 0\.\.7/)),
  ...[8, -1, 2.5].map((id) => c<Pic8259>(`respondsToCascade(${id})`, (p) => p.respondsToCascade(id), RangeError, /^id must be an integer in 0\.\.7/)),
  ...[0x1ff, 0x100, -1, 0.5, Number.NaN].map((v) => c<Pic8259>(`setElcr(${v})`, (p) => p.setElcr(v), RangeError, /^value must be an integer in 0\.\.255/)),
  c('vectorFor(a string)', (p) => p.vectorFor('1' as unknown as number), TypeError, /^ir must be a number/),
  c('hasSlaveOn(a bigint)', (p) => p.hasSlaveOn(2n as unknown as number), TypeError, /^ir must be a number/),
  c('respondsToCascade(undefined)', (p) => p.respondsToCascade(undefined as unknown as number), TypeError, /^id must be a number/),
  c('setElcr(a string)', (p) => p.setElcr('0x20' as unknown as number), TypeError, /^value must be a number/),
];

describe('Pic8259 misuse', () => {
  for (const k of chipCases) {
    it(`${k.name} throws ${k.error.name} and changes nothing`, () => {
      const { chip, observe } = busyChip();
      expectRejected(observe, () => k.call(chip), k.error, k.message);
    });
  }

  it('vectorFor / hasSlaveOn / respondsToCascade / setElcr accept their whole range', () => {
    const { chip } = busyChip();
    for (let ir = 0; ir < 8; ir++) {
      expect(chip.vectorFor(ir)).toBe(0x20 | ir);
      expect(chip.hasSlaveOn(ir)).toBe(false); // single mode: no slaves
      expect(chip.respondsToCascade(ir)).toBe(false); // a master
    }
    chip.setElcr(0xff);
    expect(chip.elcr).toBe(0xff);
    chip.setElcr(0);
    expect(chip.elcr).toBe(0);
  });

  const ctor: Array<[string, unknown, typeof RangeError | typeof TypeError, RegExp]> = [
    ['null', null, TypeError, /^opts must be an object/], // KNOWN_BUGS 8
    ['a number', 7, TypeError, /^opts must be an object/],
    ["role 'primary'", { role: 'primary' }, RangeError, /^role must be 'master' or 'slave'/],
    ['icw3 256', { icw3: 256 }, RangeError, /^icw3 must be an integer in 0\.\.255/],
    ['icw3 -1', { icw3: -1 }, RangeError, /^icw3 must be an integer in 0\.\.255/],
    ["icw3 '4'", { icw3: '4' }, TypeError, /^icw3 must be a number/],
  ];
  for (const [label, opts, error, message] of ctor) {
    it(`new Pic8259 with ${label} throws ${error.name}`, () => {
      expect(() => new Pic8259(opts as Pic8259Options)).toThrow(error);
      expect(() => new Pic8259(opts as Pic8259Options)).toThrow(message);
    });
  }
});
