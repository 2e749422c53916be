import { describe, expect, it } from 'vitest';
import { Platform } from '../../src/platform/platform.js';
import { enableAll, initPic, rte } from './helpers.js';

/** Raises and lowers ISA IRQ0 (a PIT tick), then acknowledges and EOIs on CPU 0. */
function tick(pc: Platform): number {
  pc.setIrq(0, true);
  pc.setIrq(0, false);
  const v = pc.cpuHasInterrupt(0) ? pc.cpuAcknowledge(0) : -1;
  if (v >= 0) pc.lapics[0]!.eoi();
  return v;
}

describe('ISA-to-GSI map (isaOverrides)', () => {
  it('by default ISA IRQ0 enters GSI 2 and GSI 0 carries only the 8259A output', () => {
    const pc = new Platform({ cpus: 1 });
    pc.pic.ioWrite(0x21, 0xff); // OCW1: every 8259A input masked, so its INTR stays low
    pc.setIrq(0, true);
    expect(pc.ioapic.pinLevel(2)).toBe(true);
    expect(pc.ioapic.pinLevel(0)).toBe(false);
    expect(pc.isaGsi(0)).toBe(2);
  });

  it('with isaOverrides: [] ISA IRQ0 enters GSI 0, so a guest that routes pin 0 gets every timer tick', () => {
    const pc = new Platform({ cpus: 1, isaOverrides: [] });
    enableAll(pc);
    rte(pc, 0, 0x30); // what a guest does when the MADT has no IRQ0 override
    expect([tick(pc), tick(pc), tick(pc)]).toEqual([0x30, 0x30, 0x30]);
    expect(pc.ioapic.pinLevel(2)).toBe(false);
    expect(pc.isaOverrides()).toEqual([]);
  });

  it('an override moves the I/O APIC input only: the 8259A still sees ISA IRQ n', () => {
    const pc = new Platform({ cpus: 1, isaOverrides: [{ isaIrq: 0, gsi: 2 }, { isaIrq: 9, gsi: 20 }] });
    pc.setIsaIrq(9, true);
    expect(pc.ioapic.pinLevel(20)).toBe(true);
    expect(pc.ioapic.pinLevel(9)).toBe(false); // the vacated GSI 9 is driven by nothing
    expect(pc.pic.lines & (1 << 9)).not.toBe(0);
  });

  it('setIrq(n) for n < 16 is setIsaIrq(n): ISA numbering, wherever the override sends it', () => {
    const a = new Platform({ cpus: 1, isaOverrides: [{ isaIrq: 0, gsi: 2 }, { isaIrq: 4, gsi: 17 }] });
    a.setIrq(4, true);
    expect(a.ioapic.pinLevel(17)).toBe(true);
    expect(a.ioapic.pinLevel(4)).toBe(false);
  });

  it('a GSI >= 16 owned by an ISA IRQ is not also a PCI line: setIrq(gsi) throws a RangeError naming the ISA IRQ', () => {
    const pc = new Platform({ cpus: 1, isaOverrides: [{ isaIrq: 9, gsi: 20 }, { isaIrq: 0, gsi: 2 }] });
    expect(() => pc.setIrq(20, true)).toThrow(/gsi 20 is wired to ISA IRQ 9.*setIsaIrq\(9/);
    expect(pc.ioapic.pinLevel(20)).toBe(false); // nothing changed; an active-high ISA line idles low
  });

  it('an active-low override inverts the I/O APIC wire (idle high) but not the 8259A input', () => {
    const pc = new Platform({ cpus: 1, isaOverrides: [{ isaIrq: 0, gsi: 2 }, { isaIrq: 9, gsi: 9, polarity: 'active-low', trigger: 'level' }] });
    expect(pc.ioapic.pinLevel(9)).toBe(true);
    pc.setIsaIrq(9, true);
    expect(pc.ioapic.pinLevel(9)).toBe(false);
    expect(pc.pic.lines & (1 << 9)).not.toBe(0);
  });

  it('a level, active-low ISA override is delivered through a matching redirection entry and re-delivered after EOI while asserted', () => {
    const pc = new Platform({ cpus: 1, isaOverrides: [{ isaIrq: 0, gsi: 2 }, { isaIrq: 9, gsi: 9, polarity: 'active-low', trigger: 'level' }] });
    enableAll(pc);
    rte(pc, 9, 0xa000 | 0x49); // level, active low, as the MADT flags tell the guest
    pc.setIsaIrq(9, true);
    expect(pc.cpuAcknowledge(0)).toBe(0x49);
    pc.lapics[0]!.eoi();
    expect(pc.cpuAcknowledge(0)).toBe(0x49);
    pc.setIsaIrq(9, false);
    pc.lapics[0]!.eoi();
    expect(pc.cpuHasInterrupt(0)).toBe(false);
  });

  it('isaOverrides() returns the MADT entries, sorted, polarity and trigger filled in', () => {
    expect(new Platform({ cpus: 1 }).isaOverrides()).toEqual([{ isaIrq: 0, gsi: 2, polarity: 'conforms', trigger: 'conforms' }]);
    const pc = new Platform({ cpus: 1, isaOverrides: [{ isaIrq: 9, gsi: 9, trigger: 'level', polarity: 'active-high' }, { isaIrq: 0, gsi: 2 }] });
    expect(pc.isaOverrides()).toEqual([
      { isaIrq: 0, gsi: 2, polarity: 'conforms', trigger: 'conforms' },
      { isaIrq: 9, gsi: 9, polarity: 'active-high', trigger: 'level' },
    ]);
  });

  it('firmware() lists MADT overrides with MPS INTI flags and the MP table entries of the wiring', () => {
    const pc = new Platform({ cpus: 2, isaOverrides: [{ isaIrq: 0, gsi: 2 }, { isaIrq: 9, gsi: 9, polarity: 'active-low', trigger: 'level' }] });
    const fw = pc.firmware();
    // MPS INTI flags: polarity bits 1:0 (01 high, 11 low), trigger bits 3:2 (01 edge, 11 level).
    expect(fw.madtOverrides).toEqual([
      { isaIrq: 0, gsi: 2, flags: 0x0 },
      { isaIrq: 9, gsi: 9, flags: 0xf },
    ]);
    expect(fw.madtLocalNmi).toEqual({ processorUid: 0xff, lint: 1, flags: 0 });
    expect(fw.pcatCompat).toBe(true);
    expect(fw.ioapic).toEqual({ id: 0, gsiBase: 0, pins: 24, version: 0x20 });
    expect(fw.cpus).toEqual([
      { cpu: 0, apicId: 0, bsp: true },
      { cpu: 1, apicId: 1, bsp: false },
    ]);
    expect(fw.mpIoInterrupts.slice(0, 4)).toEqual([
      { type: 'ExtINT', flags: 0, isaIrq: 0, pin: 0 },
      { type: 'INT', flags: 0, isaIrq: 0, pin: 2 },
      { type: 'INT', flags: 0, isaIrq: 1, pin: 1 },
      { type: 'INT', flags: 0, isaIrq: 3, pin: 3 }, // no entry for IRQ2, the cascade
    ]);
    expect(fw.mpIoInterrupts).toContainEqual({ type: 'INT', flags: 0xf, isaIrq: 9, pin: 9 });
    expect(fw.mpIoInterrupts).toHaveLength(16);
    expect(fw.mpLocalInterrupts).toEqual([
      { type: 'ExtINT', flags: 0, apicId: 0xff, lint: 0 },
      { type: 'NMI', flags: 0, apicId: 0xff, lint: 1 },
    ]);
  });

  describe('validation: named errors, nothing built', () => {
    const bad: Array<[string, unknown, RegExp]> = [
      ['not an array', { isaIrq: 0, gsi: 2 }, /isaOverrides must be an array/],
      ['an entry that is not an object', [null], /isaOverrides\[0\] must be an object/],
      ['an ISA IRQ outside 0..15', [{ isaIrq: 16, gsi: 16 }], /isaOverrides\[0\]\.isaIrq must be an integer in 0\.\.15/],
      ['ISA IRQ2 (the cascade)', [{ isaIrq: 2, gsi: 2 }], /ISA IRQ2 is the 8259A cascade/],
      ['a GSI outside the I/O APIC', [{ isaIrq: 0, gsi: 24 }], /isaOverrides\[0\]\.gsi must be an integer in 0\.\.23/],
      ['the same ISA IRQ twice', [{ isaIrq: 0, gsi: 2 }, { isaIrq: 0, gsi: 5 }], /ISA IRQ 0 is overridden twice/],
      ['two ISA IRQs on one GSI (override)', [{ isaIrq: 0, gsi: 2 }, { isaIrq: 1, gsi: 2 }], /ISA IRQ 0 and ISA IRQ 1 both reach GSI 2/],
      ['two ISA IRQs on one GSI (override onto an identity pin)', [{ isaIrq: 0, gsi: 5 }], /ISA IRQ 0 and ISA IRQ 5 both reach GSI 5/],
      ['an unknown polarity', [{ isaIrq: 0, gsi: 2, polarity: 'low' }], /isaOverrides\[0\]\.polarity must be one of/],
      ['an unknown trigger', [{ isaIrq: 0, gsi: 2, trigger: 'rising' }], /isaOverrides\[0\]\.trigger must be one of/],
    ];
    for (const [what, value, message] of bad) {
      it(`rejects ${what}`, () => {
        expect(() => new Platform({ cpus: 1, isaOverrides: value as never })).toThrow(message);
      });
    }

    it('throws TypeError for wrong types and RangeError for wrong values', () => {
      expect(() => new Platform({ cpus: 1, isaOverrides: 'x' as never })).toThrow(TypeError);
      expect(() => new Platform({ cpus: 1, isaOverrides: [{ isaIrq: 0, gsi: 99 }] })).toThrow(RangeError);
    });
  });
});

describe('8259A output routing (picOutput)', () => {
  function setup(picOutput?: ConstructorParameters<typeof Platform>[0]['picOutput'], isaOverrides?: []) {
    const pc = new Platform({ cpus: 2, ...(picOutput === undefined ? {} : { picOutput }), ...(isaOverrides === undefined ? {} : { isaOverrides }) });
    enableAll(pc);
    initPic(pc);
    for (const a of pc.lapics) a.writeRegister(0x350, 0x700); // LINT0 ExtINT on both CPUs
    return pc;
  }

  it("'lint0-bsp' drives only CPU 0's LINT0 (crosvm's wiring)", () => {
    const pc = setup('lint0-bsp');
    pc.setIrq(1, true);
    expect(pc.cpuHasInterrupt(0)).toBe(true);
    expect(pc.cpuHasInterrupt(1)).toBe(false);
    expect(pc.ioapic.pinLevel(0)).toBe(false);
    expect(pc.firmware().mpLocalInterrupts[0]).toEqual({ type: 'ExtINT', flags: 0, apicId: 0, lint: 0 });
  });

  it("'lint0-bsp+ioapic-pin0' drives CPU 0's LINT0 and I/O APIC pin 0", () => {
    const pc = setup('lint0-bsp+ioapic-pin0');
    pc.setIrq(1, true);
    expect(pc.cpuHasInterrupt(1)).toBe(false);
    expect(pc.ioapic.pinLevel(0)).toBe(true);
  });

  it("'lint0-all' leaves I/O APIC pin 0 alone and the MP table without an ExtINT pin entry", () => {
    const pc = setup('lint0-all');
    pc.setIrq(1, true);
    expect(pc.cpuHasInterrupt(1)).toBe(true);
    expect(pc.ioapic.pinLevel(0)).toBe(false);
    expect(pc.firmware().mpIoInterrupts.some((e) => e.type === 'ExtINT')).toBe(false);
  });

  it("'ioapic-pin0' reaches no LINT0: the 8259A comes in only through an ExtINT redirection entry", () => {
    const pc = setup('ioapic-pin0');
    rte(pc, 0, 0x700, 0x01000000); // virtual wire B: ExtINT to CPU 1
    pc.setIrq(1, true);
    expect(pc.cpuHasInterrupt(0)).toBe(false); // LINT0 is ExtINT but not wired
    expect(pc.cpuHasInterrupt(1)).toBe(true);
    expect(pc.cpuAcknowledge(1)).toBe(0x21);
    expect(pc.firmware().mpLocalInterrupts.map((e) => e.type)).toEqual(['NMI']);
  });

  it('a host callback receives every change of the INTR level and no LINT0 or pin is driven', () => {
    const levels: boolean[] = [];
    const pc = setup((level) => levels.push(level));
    pc.setIrq(1, true);
    expect(levels).toEqual([true]);
    expect(pc.cpuHasInterrupt(0)).toBe(false);
    expect(pc.ioapic.pinLevel(0)).toBe(false);
    expect(pc.pic.acknowledge()).toBe(0x21); // the host runs the INTA cycle itself
    expect(levels).toEqual([true, false]);
    expect(pc.firmware().picOutput).toBe('callback');
  });

  it('left unset with identity wiring (ISA IRQ0 on GSI 0) it becomes lint0-all instead of sharing pin 0', () => {
    const pc = setup(undefined, []);
    expect(pc.firmware().picOutput).toBe('lint0-all');
    pc.setIrq(1, true);
    expect(pc.cpuHasInterrupt(1)).toBe(true);
    expect(pc.ioapic.pinLevel(0)).toBe(false);
  });

  it('named explicitly, a route through pin 0 with ISA IRQ0 on GSI 0 is a RangeError', () => {
    expect(() => new Platform({ cpus: 1, isaOverrides: [], picOutput: 'lint0-all+ioapic-pin0' })).toThrow(/picOutput 'lint0-all\+ioapic-pin0' drives I\/O APIC pin 0, but ISA IRQ 0 is wired to GSI 0/);
    expect(() => new Platform({ cpus: 1, picOutput: 'lint1' as never })).toThrow(RangeError);
    expect(() => new Platform({ cpus: 1, picOutput: 3 as never })).toThrow(TypeError);
  });
});
