/**
 * A snapshot with a valid CRC cannot plant a state the hardware cannot reach (issue 12.4): each
 * test edits one field of a real snapshot, re-signs it, and expects a SnapshotError naming the
 * field, with the target unchanged. Rules and sources: docs/snapshots.md, "Hostile input".
 */
import { describe, expect, it } from 'vitest';
import { LocalApic } from '../../src/apic/local-apic.js';
import { SnapshotError } from '../../src/errors.js';
import { IoApic } from '../../src/ioapic/ioapic.js';
import { PicPair } from '../../src/pic/pic-pair.js';
import { Platform } from '../../src/platform/platform.js';
import { Scheduler } from '../../src/time/scheduler.js';
import { editSection, LAPIC } from './edit.js';

/** A one-shot timer of 1,000,000 ticks at divide 1, saved at 400 us (current count 600,000). */
function timerApic(): { bytes: Uint8Array; clock: Scheduler } {
  const clock = new Scheduler();
  const apic = new LocalApic({ id: 1, clock });
  apic.writeRegister(0xf0, 0x1ff);
  apic.writeRegister(0x3e0, 0xb);
  apic.writeRegister(0x320, 0x30);
  apic.writeRegister(0x380, 1_000_000);
  clock.runUntil(400_000);
  return { bytes: apic.save(), clock };
}

function expectRejected(bytes: Uint8Array, field: RegExp, target = new LocalApic({ id: 1, clock: atTime(400_000) })): void {
  const before = Array.from(target.page);
  const count = target.readRegister(0x390);
  expect(() => target.restore(bytes)).toThrow(SnapshotError);
  expect(() => target.restore(bytes)).toThrow(field);
  expect(Array.from(target.page)).toEqual(before);
  expect(target.readRegister(0x390)).toBe(count);
}

function atTime(ns: number): Scheduler {
  const s = new Scheduler();
  s.runUntil(ns);
  return s;
}

const page = (offset: number): number => LAPIC.page + offset;

describe('hostile LocalApic snapshots', () => {
  it('a current count above the initial count (the issue: 0xFFFEFF9C) is rejected', () => {
    const { bytes } = timerApic();
    // The count at the base above the initial count, as the snapshot of the issue had.
    expectRejected(editSection(bytes, 'local-apic', (v) => v.setBigUint64(LAPIC.countAtBase, 0xffff_ffffn, true)), /countAtBase/);
  });

  it('a count base after the snapshot time (a count that would run backwards) is rejected', () => {
    const { bytes } = timerApic();
    expectRejected(editSection(bytes, 'local-apic', (v) => v.setBigUint64(LAPIC.baseNs, 400_001n, true)), /baseNs/);
  });

  it('an armed expiry not where the count reaches 0 (due arbitrarily far) is rejected', () => {
    const { bytes } = timerApic();
    expectRejected(editSection(bytes, 'local-apic', (v) => v.setBigUint64(LAPIC.eventAt, 2n ** 50n, true)), /eventAt/);
    expectRejected(editSection(bytes, 'local-apic', (v) => v.setUint8(LAPIC.armed, 0)), /armed/);
  });

  it('a timer mode other than the LVT timer entry says is rejected', () => {
    const { bytes } = timerApic();
    expectRejected(editSection(bytes, 'local-apic', (v) => v.setUint8(LAPIC.timerMode, 1)), /timer\.mode/);
  });

  it('a TSC deadline outside TSC-deadline mode, or a counting TSC-deadline timer, is rejected', () => {
    const { bytes } = timerApic();
    expectRejected(editSection(bytes, 'local-apic', (v) => v.setBigUint64(LAPIC.deadline, 5n, true)), /deadline/);
    const lvtTscDeadline = editSection(bytes, 'local-apic', (v) => {
      v.setUint32(page(0x320), 0x40030, true);
      v.setUint8(LAPIC.timerMode, 2);
      v.setUint32(page(0x380), 0, true);
    });
    expectRejected(lvtTscDeadline, /counting|initialCount/);
  });

  it('a page TMICT or TDCR that differs from the timer is rejected', () => {
    const { bytes } = timerApic();
    expectRejected(editSection(bytes, 'local-apic', (v) => v.setUint32(page(0x380), 5, true)), /initialCount/);
    expectRejected(editSection(bytes, 'local-apic', (v) => v.setUint32(page(0x3e0), 0, true)), /divide/);
  });

  it('a value at an offset no register occupies is rejected', () => {
    const { bytes } = timerApic();
    for (const off of [0x090 /* APR */, 0x0b0 /* EOI */, 0x390 /* current count */, 0x3f0, 0x024, 0xff0]) {
      expectRejected(editSection(bytes, 'local-apic', (v) => v.setUint32(page(off), 1, true)), /offset/);
    }
  });

  it('remote IRR on an LVT other than a level-triggered LINT is rejected', () => {
    const { bytes } = timerApic();
    expectRejected(editSection(bytes, 'local-apic', (v) => v.setUint32(page(0x320), 0x30 | 1 << 14, true)), /LVT at 0x320/);
    expectRejected(editSection(bytes, 'local-apic', (v) => v.setUint32(page(0x350), 0x10000 | 1 << 14, true)), /LVT at 0x350/);
  });

  it('an unmasked LVT while the APIC is software-disabled is rejected', () => {
    const { bytes } = timerApic();
    expectRejected(editSection(bytes, 'local-apic', (v) => v.setUint32(page(0xf0), 0xff, true)), /software-disabled/);
  });

  it("while software-disabled, only the 'kvm' preset's LINT0 (0x700 exactly) may be unmasked", () => {
    const clock = new Scheduler();
    const apic = new LocalApic({ id: 1, clock, bsp: true, reset: 'kvm' });
    const bytes = apic.save();
    expect(() => new LocalApic({ id: 1, clock: new Scheduler(), bsp: true }).restore(bytes)).not.toThrow();
    // The same page with LINT0 as an unmasked NMI or a fixed vector: no guest write reaches that.
    expectRejected(editSection(bytes, 'local-apic', (v) => v.setUint32(page(0x350), 0x400, true)), /LVT at 0x350.*software-disabled/);
    expectRejected(editSection(bytes, 'local-apic', (v) => v.setUint32(page(0x350), 0x30, true)), /LVT at 0x350.*software-disabled/);
    expectRejected(editSection(bytes, 'local-apic', (v) => v.setUint32(page(0x360), 0x400, true)), /LVT at 0x360.*software-disabled/);
  });

  it('reserved LDR or ICR bits, or ESR bits the model never sets, are rejected', () => {
    const { bytes } = timerApic();
    expectRejected(editSection(bytes, 'local-apic', (v) => v.setUint32(page(0x0d0), 0x0100_0001, true)), /LDR/);
    expectRejected(editSection(bytes, 'local-apic', (v) => v.setUint32(page(0x300), 1 << 12, true)), /ICR low/);
    expectRejected(editSection(bytes, 'local-apic', (v) => v.setUint32(page(0x310), 1, true)), /ICR high/);
    expectRejected(editSection(bytes, 'local-apic', (v) => v.setUint32(page(0x280), 1, true)), /ESR/);
    expectRejected(editSection(bytes, 'local-apic', (v) => v.setUint32(LAPIC.esrPending, 4, true)), /esrPending/);
  });

  it('the unedited snapshot restores (the edits above are what is rejected)', () => {
    const { bytes } = timerApic();
    const b = new LocalApic({ id: 1, clock: atTime(400_000) });
    b.restore(editSection(bytes, 'local-apic', () => {}));
    expect(b.readRegister(0x390)).toBe(600_000);
  });
});

// I/O APIC payload: pins u16, version u8, IOREGSEL u8, ID u8, generation u64, then the low words
// (u32 count + 24 u32), the high words, wires, delivered vectors, storm streaks, deadlines.
// With 24 pins: low words at 17, high at 117, wires at 217, delivered vectors at 245, streaks at
// 273, deadlines (i64) at 369.
const IO_LOW = 13 + 4;
const IO_STREAK = IO_LOW + 2 * (96 + 4) + 2 * (24 + 4);

describe('hostile IoApic snapshots', () => {
  const bus = { routeMessage: () => 1 };
  function snap(): Uint8Array {
    const io = new IoApic({ bus, clock: new Scheduler(), stormThreshold: 3 });
    io.writeRegister(0, 0x10 + 2 * 4);
    io.writeRegister(0x10, 0x8000 | 0x44);
    io.setPin(4, true); // level, remote IRR set
    return io.save();
  }
  function rejected(bytes: Uint8Array, field: RegExp): void {
    const target = new IoApic({ bus, clock: new Scheduler(), stormThreshold: 3 });
    expect(() => target.restore(bytes)).toThrow(SnapshotError);
    expect(() => target.restore(bytes)).toThrow(field);
    expect(target.remoteIrr(4)).toBe(false);
  }

  it('remote IRR or delivery status on an edge-triggered entry is rejected', () => {
    rejected(editSection(snap(), 'ioapic', (v) => v.setUint32(IO_LOW + 4 * 4, 0x44 | 1 << 14, true)), /edge-triggered/);
    rejected(editSection(snap(), 'ioapic', (v) => v.setUint32(IO_LOW + 4 * 5, 0x45 | 1 << 12, true)), /edge-triggered/);
  });

  it('a storm streak above the threshold is rejected', () => {
    rejected(editSection(snap(), 'ioapic', (v) => v.setUint32(IO_STREAK + 4 * 4, 4, true)), /stormStreak/);
  });

  it('a deferred re-delivery further away than the storm delay is rejected', () => {
    const deadline = IO_STREAK + 96 + 8 * 4;
    const bytes = editSection(snap(), 'ioapic', (v) => {
      v.setUint32(IO_LOW + 4 * 4, 0x8000 | 0x44 | 1 << 12, true); // delivery status: deferred
      v.setBigInt64(deadline, 10n ** 12n, true);
    });
    rejected(bytes, /stormDeadline/);
  });
});

describe('hostile PicPair snapshots', () => {
  // Per chip: irr, isr, imr, lines, elcr, icw1, icw2, icw3, icw4, nextIcw, lowestIr, 4 booleans.
  const snap = (): Uint8Array => new PicPair().save();
  function rejected(bytes: Uint8Array, field: RegExp): void {
    const target = new PicPair();
    expect(() => target.restore(bytes)).toThrow(SnapshotError);
    expect(() => target.restore(bytes)).toThrow(field);
  }

  it('ELCR bits of IRQ0-2, 8 and 13 (always edge on a PC) are rejected', () => {
    rejected(editSection(snap(), 'pic', (v) => v.setUint8(4, 0x01)), /master\.elcr/);
    rejected(editSection(snap(), 'pic', (v) => v.setUint8(15 + 4, 0x20)), /slave\.elcr/);
  });

  it('an initialisation step ICW1 could not have started is rejected', () => {
    // Expecting ICW3 in single mode; expecting ICW4 without IC4; ICW1 without D4.
    rejected(editSection(snap(), 'pic', (v) => (v.setUint8(5, 0x12), v.setUint8(9, 3))), /nextIcw/);
    rejected(editSection(snap(), 'pic', (v) => (v.setUint8(5, 0x10), v.setUint8(9, 4))), /nextIcw/);
    rejected(editSection(snap(), 'pic', (v) => v.setUint8(5, 0x01)), /icw1/);
  });

  it('a level-triggered request without its wire, or an output the chips do not drive, is rejected', () => {
    rejected(editSection(snap(), 'pic', (v) => (v.setUint8(4, 0x08), v.setUint8(0, 0x08))), /irr/);
    rejected(editSection(snap(), 'pic', (v) => v.setUint8(31, 1)), /output/);
  });
});

describe('hostile Platform snapshots', () => {
  it('a lowest-priority rotor past the last APIC is rejected', () => {
    const a = new Platform({ cpus: 2 });
    // 'bus' payload: APIC count u32, then the rotor u64.
    const bytes = editSection(a.save(), 'bus', (v) => v.setBigUint64(4, 3n, true));
    const b = new Platform({ cpus: 2 });
    expect(() => b.restore(bytes)).toThrow(SnapshotError);
    expect(() => b.restore(bytes)).toThrow(/rotor/);
    b.restore(editSection(a.save(), 'bus', (v) => v.setBigUint64(4, 2n, true)));
  });
});
