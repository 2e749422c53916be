/**
 * The shared argument checks of src/errors.ts: every host-misuse message that names an argument
 * and what it got is written once there (DESIGN.md, "Host misuse fails loudly"). The expected texts
 * are written out here, so a change of wording shows.
 */
import { describe, expect, it } from 'vitest';
import { checkBusValue, checkFunction, checkObject, typeName } from '../../src/errors.js';
import { ApicBus, LocalApic, PicPair, Platform, Scheduler, decodeMsi } from '../../src/index.js';

describe('shared argument checks', () => {
  it('typeName tells null apart from objects', () => {
    expect(typeName(null)).toBe('null');
    expect(typeName({})).toBe('object');
    expect(typeName(undefined)).toBe('undefined');
    expect(typeName(1n)).toBe('bigint');
  });

  it('checkObject accepts objects and names what it got otherwise', () => {
    expect(() => checkObject('opts', {})).not.toThrow();
    expect(() => checkObject('opts', [])).not.toThrow();
    expect(() => checkObject('opts', null)).toThrow(new TypeError('opts must be an object, got null'));
    expect(() => checkObject('opts', 'x')).toThrow(new TypeError('opts must be an object, got string'));
  });

  it('checkFunction says when undefined is also allowed', () => {
    expect(() => checkFunction('fn', () => 0)).not.toThrow();
    expect(() => checkFunction('fn', undefined, true)).not.toThrow();
    expect(() => checkFunction('fn', undefined)).toThrow(new TypeError('fn must be a function, got undefined'));
    expect(() => checkFunction('fn', 42, true)).toThrow(new TypeError('fn must be a function or undefined, got number'));
  });

  it('checkBusValue takes any number (a bus value) and refuses the rest', () => {
    for (const v of [0, -1, 2 ** 40, 0.5, Number.NaN]) expect(() => checkBusValue('value', v)).not.toThrow();
    expect(() => checkBusValue('value', '1')).toThrow(
      new TypeError('value must be a number (any number is taken as a 32-bit bus value), got string'),
    );
  });

  it('the devices use them: the same wording from every class', () => {
    const clock = new Scheduler();
    expect(() => new ApicBus(null as never)).toThrow('opts must be an object, got null');
    expect(() => new PicPair(null as never)).toThrow('opts must be an object, got null');
    expect(() => new Platform(null as never)).toThrow('opts must be an object, got null');
    expect(() => new PicPair({ onOutput: 1 as never })).toThrow('onOutput must be a function or undefined, got number');
    const apic = new LocalApic({ id: 0, clock });
    expect(() => apic.setEventHandler(7 as never)).toThrow('fn must be a function or undefined, got number');
    expect(() => apic.writeRegister(0x80, null as never)).toThrow('value must be a number (any number is taken as a 32-bit bus value), got null');
    expect(() => decodeMsi(0xfee00000, 0x41, 'yes' as never)).toThrow('extendedDestId must be a boolean, got string');
  });
});
