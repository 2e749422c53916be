import { describe, expect, it } from 'vitest';
import { IoApic } from '../../src/ioapic/ioapic.js';
import type { IoApicOptions } from '../../src/ioapic/ioapic.js';
import { LEVEL, RecordingRouter, makeIoApic, program } from './helpers.js';

/** Builds an IoApic from options a JS caller might pass (no type checking). */
function construct(opts: unknown): IoApic {
  return new IoApic(opts as IoApicOptions);
}

describe('setPin host misuse', () => {
  for (const pin of [-1, 24, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    it(`throws RangeError naming pin and 0..23 for pin ${String(pin)}`, () => {
      const { io } = makeIoApic();
      expect(() => io.setPin(pin, true)).toThrow(RangeError);
      expect(() => io.setPin(pin, true)).toThrow(/pin.*0\.\.23/);
    });
  }

  it('throws TypeError for a pin that is not a number', () => {
    const { io } = makeIoApic();
    expect(() => io.setPin('3' as unknown as number, true)).toThrow(TypeError);
  });

  for (const level of [1, 'true', undefined, null]) {
    it(`throws TypeError naming level for level ${String(level)}`, () => {
      const { io } = makeIoApic();
      expect(() => io.setPin(3, level as unknown as boolean)).toThrow(TypeError);
      expect(() => io.setPin(3, level as unknown as boolean)).toThrow(/level/);
    });
  }

  it('changes nothing when it throws', () => {
    const { io, router } = makeIoApic();
    program(io, 3, LEVEL | 0x30);
    expect(() => io.setPin(3, 1 as unknown as boolean)).toThrow(TypeError);
    expect(() => io.setPin(24, true)).toThrow(RangeError);
    expect(io.pinLevel(3)).toBe(false);
    expect(router.messages).toHaveLength(0);
    expect(io.redirection(3)).toBe(0x8030n);
  });
});

describe('eoi host misuse', () => {
  for (const vector of [-1, 256, 1.5, Number.NaN]) {
    it(`throws RangeError naming vector and 0..255 for ${String(vector)}`, () => {
      const { io } = makeIoApic();
      expect(() => io.eoi(vector)).toThrow(RangeError);
      expect(() => io.eoi(vector)).toThrow(/vector.*0\.\.255/);
    });
  }

  it('throws TypeError for a vector that is not a number', () => {
    const { io } = makeIoApic();
    expect(() => io.eoi('48' as unknown as number)).toThrow(TypeError);
  });

  it('changes nothing when it throws', () => {
    const { io } = makeIoApic();
    program(io, 3, LEVEL | 0x30);
    io.setPin(3, true);
    expect(() => io.eoi(0x30 + 0.5)).toThrow(RangeError);
    expect(io.remoteIrr(3)).toBe(true);
  });
});

describe('introspection host misuse', () => {
  it('throws RangeError naming pin for an out-of-range pin', () => {
    const { io } = makeIoApic({ pins: 4 });
    expect(() => io.redirection(4)).toThrow(/pin.*0\.\.3/);
    expect(() => io.pinLevel(-1)).toThrow(RangeError);
    expect(() => io.pinActive(4)).toThrow(RangeError);
    expect(() => io.remoteIrr(4)).toThrow(RangeError);
  });
});

describe('constructor options', () => {
  const bus = new RecordingRouter();

  it('accepts 1 and 120 pins', () => {
    expect(new IoApic({ bus, pins: 1 }).pins).toBe(1);
    expect(new IoApic({ bus, pins: 120 }).pins).toBe(120);
  });

  it('defaults to 24 pins and version 0x20', () => {
    const io = new IoApic({ bus });
    expect(io.pins).toBe(24);
    expect(io.version).toBe(0x20);
  });

  for (const pins of [0, 121, 2.5, -24]) {
    it(`rejects pins ${pins} with a RangeError naming pins and 1..120`, () => {
      expect(() => new IoApic({ bus, pins })).toThrow(RangeError);
      expect(() => new IoApic({ bus, pins })).toThrow(/pins.*1\.\.120/);
    });
  }

  for (const id of [-1, 16, 0.5]) {
    it(`rejects id ${id} with a RangeError naming id and 0..15`, () => {
      expect(() => new IoApic({ bus, id })).toThrow(/id.*0\.\.15/);
    });
  }

  for (const version of [0x10, 0x12, 0x21, 17.5]) {
    it(`rejects version ${version} with a RangeError naming version`, () => {
      expect(() => construct({ bus, version })).toThrow(RangeError);
      expect(() => construct({ bus, version })).toThrow(/version must be 0x11 or 0x20/);
    });
  }

  it('rejects a version that is not a number with a TypeError', () => {
    expect(() => construct({ bus, version: '0x11' })).toThrow(TypeError);
  });

  for (const badBus of [undefined, null, {}, { routeMessage: 1 }]) {
    it(`rejects bus ${JSON.stringify(badBus) ?? 'undefined'} with a TypeError naming bus`, () => {
      expect(() => construct({ bus: badBus })).toThrow(TypeError);
      expect(() => construct({ bus: badBus })).toThrow(/bus/);
    });
  }

  it('rejects missing options with a TypeError', () => {
    expect(() => construct(undefined)).toThrow(TypeError);
    expect(() => construct(null)).toThrow(TypeError);
  });

  it('rejects a clock without now/schedule/cancel with a TypeError naming clock', () => {
    expect(() => construct({ bus, clock: {} })).toThrow(/clock/);
    expect(() => construct({ bus, clock: { now: () => 0, schedule: () => 1 } })).toThrow(TypeError);
  });

  it('rejects a negative or fractional stormThreshold and stormDelayNs', () => {
    expect(() => new IoApic({ bus, stormThreshold: -1 })).toThrow(/stormThreshold/);
    expect(() => new IoApic({ bus, stormThreshold: 1.5 })).toThrow(RangeError);
    expect(() => new IoApic({ bus, stormDelayNs: -5 })).toThrow(/stormDelayNs/);
    expect(() => new IoApic({ bus, stormDelayNs: 0.5 })).toThrow(RangeError);
  });
});
