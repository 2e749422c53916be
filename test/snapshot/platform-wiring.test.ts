/**
 * A Platform snapshot records the wiring it was taken with (isaOverrides, the picOutput route)
 * and the reset preset (the 'platform' section, version 2), and a restore into a Platform built
 * with other wiring is refused with a SnapshotError naming both, changing nothing. Version 1
 * sections (f9f75c5, before the wiring was recorded) still restore: see time.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { inspectSnapshot } from '../../src/codec/container.js';
import { SnapshotError } from '../../src/errors.js';
import { Platform, type PlatformOptions } from '../../src/platform/platform.js';
import fixture from './fixtures/f9f75c5.json' with { type: 'json' };

const fromHex = (hex: string): Uint8Array => Uint8Array.from(hex.match(/../g)!.map((b) => parseInt(b, 16)));

/** A Platform with some state worth keeping: SVR enabled on CPU 0 and a pending MSI vector. */
function busy(opts: Omit<PlatformOptions, 'cpus'>): Platform {
  const p = new Platform({ cpus: 2, ...opts });
  p.lapics[0]!.writeRegister(0xf0, 0x1ff);
  p.sendMsi(0xfee00000, 0x45);
  return p;
}

/** The message of the SnapshotError `fn` throws (fails the test if it throws nothing else). */
function snapshotError(fn: () => void): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SnapshotError);
    return (e as Error).message;
  }
  throw new Error('expected a SnapshotError');
}

describe('Platform snapshots record the wiring', () => {
  it("the 'platform' section is version 2", () => {
    const info = inspectSnapshot(new Platform({ cpus: 1 }).save());
    expect(info.sections.find((s) => s.name === 'platform')?.version).toBe(2);
  });

  it('restore into a Platform with other isaOverrides throws a SnapshotError naming both and changes nothing', () => {
    const saved = busy({}).save();
    const target = new Platform({ cpus: 2, isaOverrides: [{ isaIrq: 0, gsi: 2 }, { isaIrq: 9, gsi: 9, polarity: 'active-high', trigger: 'level' }] });
    const msg = snapshotError(() => target.restore(saved));
    expect(msg).toContain("field 'isaOverrides'");
    expect(msg).toContain('snapshot has isaOverrides [IRQ0->GSI2], this platform isaOverrides [IRQ0->GSI2, IRQ9->GSI9 active-high level]');
    expect(target.lapics[0]!.readRegister(0xf0)).toBe(0xff); // still the power-on SVR
    expect(target.lapics[0]!.pendingVector()).toBe(-1);
  });

  it('an override that differs only in polarity is other wiring', () => {
    const saved = busy({ isaOverrides: [{ isaIrq: 0, gsi: 2 }, { isaIrq: 9, gsi: 9, trigger: 'level' }] }).save();
    const target = new Platform({ cpus: 2, isaOverrides: [{ isaIrq: 0, gsi: 2 }, { isaIrq: 9, gsi: 9, polarity: 'active-low', trigger: 'level' }] });
    expect(snapshotError(() => target.restore(saved))).toContain(
      'snapshot has isaOverrides [IRQ0->GSI2, IRQ9->GSI9 level], this platform isaOverrides [IRQ0->GSI2, IRQ9->GSI9 active-low level]',
    );
  });

  it('restore into a Platform with another picOutput route throws a SnapshotError naming both', () => {
    const saved = busy({ picOutput: 'lint0-bsp' }).save();
    const target = new Platform({ cpus: 2 });
    const msg = snapshotError(() => target.restore(saved));
    expect(msg).toContain("field 'picOutput': snapshot has 'lint0-bsp', this platform 'lint0-all+ioapic-pin0'");
    expect(target.lapics[0]!.pendingVector()).toBe(-1);
  });

  it('a callback picOutput is recorded as "callback": a route is refused, another callback restores', () => {
    const saved = busy({ picOutput: () => {} }).save();
    expect(snapshotError(() => new Platform({ cpus: 2, picOutput: 'lint0-all' }).restore(saved))).toContain(
      "field 'picOutput': snapshot has 'callback', this platform 'lint0-all'",
    );
    const levels: boolean[] = [];
    const target = new Platform({ cpus: 2, picOutput: (level) => levels.push(level) });
    target.restore(saved);
    expect(target.lapics[0]!.pendingVector()).toBe(0x45);
  });

  it('restore into a Platform with another reset preset throws a SnapshotError naming both', () => {
    const saved = busy({ reset: 'seabios' }).save();
    const target = new Platform({ cpus: 2, reset: 'kvm' });
    expect(snapshotError(() => target.restore(saved))).toContain("field 'reset': snapshot has reset preset 'seabios', this platform 'kvm'");
    expect(target.lapics[0]!.pendingVector()).toBe(-1);
  });

  it('the same wiring restores, and the restored Platform routes as the original', () => {
    const opts: Omit<PlatformOptions, 'cpus'> = { reset: 'seabios', isaOverrides: [{ isaIrq: 0, gsi: 2 }, { isaIrq: 5, gsi: 20 }], picOutput: 'lint0-bsp' };
    const saved = busy(opts).save();
    const target = new Platform({ cpus: 2, ...opts });
    target.restore(saved);
    expect(target.lapics[0]!.pendingVector()).toBe(0x45);
    expect(target.isaGsi(5)).toBe(20);
  });

  it("a version 1 'platform' section (f9f75c5) restores into a Platform of any wiring: it cannot be checked", () => {
    const bytes = fromHex(fixture.platform.bytes);
    expect(inspectSnapshot(bytes).sections.find((s) => s.name === 'platform')?.version).toBe(1);
    const p = new Platform({ cpus: 2, picOutput: 'lint0-bsp', reset: 'kvm' });
    expect(() => p.restore(bytes)).not.toThrow();
  });
});
