import { describe, expect, it } from 'vitest';
import { encodeSnapshot } from '../../src/codec/container.js';
import { LocalApic } from '../../src/apic/local-apic.js';
import { SnapshotError } from '../../src/errors.js';
import { Scheduler } from '../../src/time/scheduler.js';
import { pageVectors, rig } from './helpers.js';

function busy() {
  const r = rig({ id: 3 });
  const { apic } = r;
  apic.writeRegister(0x80, 0x20);
  apic.acceptInterrupt(0x45, true);
  apic.acceptInterrupt(0x91, false);
  apic.acknowledge();
  apic.acceptInterrupt(3, false); // an error latched in ESR
  apic.writeRegister(0x3e0, 0xb);
  apic.writeRegister(0x320, 0x20000 | 0xec); // periodic
  apic.writeRegister(0x380, 1000);
  r.clock.runUntil(2500);
  return r;
}

describe('LocalApic snapshots', () => {
  it('save -> restore into a fresh APIC reproduces the page, the latches and the timer', () => {
    const a = busy();
    const bytes = a.apic.save();
    const clock = new Scheduler();
    clock.runUntil(2500);
    const b = new LocalApic({ id: 3, clock });
    b.restore(bytes);
    expect(Array.from(b.page)).toEqual(Array.from(a.apic.page));
    expect(b.pendingVector()).toBe(a.apic.pendingVector());
    expect(b.readRegister(0x390)).toBe(a.apic.readRegister(0x390));
    // Both timers fire at the same times from here on.
    a.clock.runUntil(10_000);
    clock.runUntil(10_000);
    expect(b.stats.timerFires).toBe(a.apic.stats.timerFires);
    expect(b.readRegister(0x390)).toBe(a.apic.readRegister(0x390));
  });

  it('a snapshot of another APIC or another device kind is rejected with SnapshotError', () => {
    const a = busy();
    const other = new LocalApic({ id: 4, clock: new Scheduler() });
    expect(() => other.restore(a.apic.save())).toThrow(SnapshotError);
    expect(() => other.restore(a.apic.save())).toThrow(/id/);
    const wrongKind = encodeSnapshot('ioapic', [{ name: 'ioapic', version: 1, optional: false, payload: new Uint8Array(4) }]);
    expect(() => other.restore(wrongKind)).toThrow(/not a 'local-apic'/);
  });

  it('a failed restore leaves the APIC unchanged', () => {
    const a = busy();
    const bytes = a.apic.save();
    const b = rig({ id: 3 }).apic;
    b.acceptInterrupt(0x66, false);
    const before = Array.from(b.page);
    const truncated = bytes.slice(0, bytes.length - 9);
    expect(() => b.restore(truncated)).toThrow(SnapshotError);
    const flipped = bytes.slice();
    flipped[200] ^= 0x10;
    expect(() => b.restore(flipped)).toThrow(SnapshotError);
    expect(Array.from(b.page)).toEqual(before);
    expect(pageVectors(b, 0x200)).toEqual([0x66]);
  });
});
