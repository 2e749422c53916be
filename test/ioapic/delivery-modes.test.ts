import { describe, expect, it } from 'vitest';
import { DM, LEVEL, makeIoApic, program } from './helpers.js';

describe('delivery modes (§3.2.4 bits 10:8)', () => {
  const passThrough: Array<[string, number, number]> = [
    ['Fixed', DM.fixed, 0],
    ['Lowest Priority', DM.lowest, 1],
    ['SMI', DM.smi, 2],
    ['NMI', DM.nmi, 4],
    ['INIT', DM.init, 5],
    ['ExtINT', DM.extint, 7],
  ];

  for (const [name, field, mode] of passThrough) {
    it(`passes ${name} (${mode}) to the router with the entry's fields`, () => {
      const { io, router } = makeIoApic();
      program(io, 7, field | 0x0800 | 0x2c, 0x0500_0000);
      io.setPin(7, true);
      expect(router.messages).toEqual([{ destination: 0x05, logical: true, deliveryMode: mode, vector: 0x2c, level: false }]);
    });
  }

  it('sends Lowest Priority level-triggered with remote IRR like Fixed', () => {
    const { io, router } = makeIoApic();
    program(io, 7, DM.lowest | LEVEL | 0x2c);
    io.setPin(7, true);
    expect(router.messages[0]!.level).toBe(true);
    expect(io.remoteIrr(7)).toBe(true);
  });

  const edgeOnly: Array<[string, number]> = [
    ['SMI', DM.smi],
    ['NMI', DM.nmi],
    ['INIT', DM.init],
    ['ExtINT', DM.extint],
  ];

  for (const [name, field] of edgeOnly) {
    it(`treats ${name} programmed level-triggered as edge: no remote IRR, no re-delivery on EOI`, () => {
      const { io, router } = makeIoApic();
      program(io, 7, field | LEVEL | 0x2c);
      io.setPin(7, true);
      io.eoi(0x2c);
      io.setPin(7, true);
      expect(router.messages).toEqual([{ destination: 0, logical: false, deliveryMode: field >> 8, vector: 0x2c, level: false }]);
      expect(io.remoteIrr(7)).toBe(false);
      io.setPin(7, false);
      io.setPin(7, true);
      expect(router.messages).toHaveLength(2);
    });
  }

  for (const [name, field] of [
    ['011b', DM.reserved3],
    ['110b', DM.reserved6],
  ] as const) {
    it(`sends nothing for reserved mode ${name} and counts the drop`, () => {
      const { io, router } = makeIoApic();
      program(io, 7, field | 0x2c);
      io.setPin(7, true);
      expect(router.messages).toHaveLength(0);
      expect(io.stats.reservedModeDrops).toBe(1);
    });

    it(`sends nothing for reserved mode ${name} programmed level-triggered and sets no remote IRR`, () => {
      const { io, router } = makeIoApic();
      program(io, 7, field | LEVEL | 0x2c);
      io.setPin(7, true);
      io.eoi(0x2c);
      expect(router.messages).toHaveLength(0);
      expect(io.remoteIrr(7)).toBe(false);
    });
  }
});
