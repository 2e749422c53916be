import { describe, expect, it } from 'vitest';
import { SnapshotError } from '../../src/errors.js';
import { IoApic } from '../../src/ioapic/ioapic.js';
import { PicPair } from '../../src/pic/pic-pair.js';
import { Platform } from '../../src/platform/platform.js';
import { Scheduler } from '../../src/time/scheduler.js';

function rte(io: IoApic, pin: number, low: number): void {
  io.writeRegister(0, 0x10 + 2 * pin);
  io.writeRegister(0x10, low);
}

describe('per-device snapshots', () => {
  it('IoApic: entries, wire levels and remote IRR survive save/restore', () => {
    const delivered: number[] = [];
    const bus = { routeMessage: (_d: number, _l: boolean, _m: number, v: number) => (delivered.push(v), 1) };
    const a = new IoApic({ bus });
    rte(a, 5, 0x8000 | 0x55); // level
    rte(a, 6, 0x66);
    a.setPin(5, true);
    const b = new IoApic({ bus });
    b.restore(a.save());
    expect(b.remoteIrr(5)).toBe(true);
    expect(b.redirection(5)).toBe(a.redirection(5));
    expect(b.pinLevel(5)).toBe(true);
    b.eoi(0x55); // still asserted: re-delivered by the restored copy
    expect(delivered).toEqual([0x55, 0x55]);
  });

  it('IoApic: a snapshot with another pin count is rejected and changes nothing', () => {
    const bus = { routeMessage: () => 1 };
    const a = new IoApic({ bus, pins: 48 });
    const b = new IoApic({ bus });
    rte(b, 1, 0x41);
    expect(() => b.restore(a.save())).toThrow(SnapshotError);
    expect(() => b.restore(a.save())).toThrow(/pins/);
    expect(Number(b.redirection(1) & 0xffn)).toBe(0x41);
  });

  it('IoApic: a deferred storm re-delivery is re-armed on restore', () => {
    const clock = new Scheduler();
    const seen: number[] = [];
    const bus = { routeMessage: (_d: number, _l: boolean, _m: number, v: number) => (seen.push(clock.now()), v > 0 ? 1 : 0) };
    const a = new IoApic({ bus, clock, stormThreshold: 2, stormDelayNs: 1000 });
    rte(a, 3, 0x8000 | 0x33);
    a.setPin(3, true);
    a.eoi(0x33);
    a.eoi(0x33);
    a.eoi(0x33); // third EOI while asserted: deferred by 1000 ns
    expect(seen.length).toBe(3);
    const clock2 = new Scheduler();
    const seen2: number[] = [];
    const b = new IoApic({ bus: { routeMessage: () => (seen2.push(clock2.now()), 1) }, clock: clock2, stormThreshold: 2, stormDelayNs: 1000 });
    b.restore(a.save());
    clock2.runUntil(2000);
    expect(seen2).toEqual([1000]);
  });

  it('PicPair: both chips and the ELCR survive save/restore', () => {
    const a = new PicPair();
    for (const [cmd, data, base, icw3] of [
      [0x20, 0x21, 0x08, 0x04],
      [0xa0, 0xa1, 0x70, 0x02],
    ] as const) {
      a.ioWrite(cmd, 0x11);
      a.ioWrite(data, base);
      a.ioWrite(data, icw3);
      a.ioWrite(data, 0x01);
    }
    a.ioWrite(0x4d1, 0x0e);
    a.setIrq(9, true);
    a.setIrq(1, true);
    const b = new PicPair();
    b.restore(a.save());
    expect(b.elcr).toBe(a.elcr);
    expect(b.acknowledge()).toBe(a.acknowledge());
    expect(b.acknowledge()).toBe(a.acknowledge());
    expect(() => b.restore(new Uint8Array(10))).toThrow(SnapshotError);
  });

  it('Platform: every device restores into a platform with the same options', () => {
    const clock = new Scheduler();
    const a = new Platform({ cpus: 2, clock });
    a.lapics[0]!.writeRegister(0xf0, 0x1ff);
    a.lapics[1]!.writeRegister(0xf0, 0x1ff);
    a.sendMsi(0xfee01000, 0x48);
    const clock2 = new Scheduler();
    const b = new Platform({ cpus: 2, clock: clock2 });
    b.restore(a.save());
    expect(b.cpuAcknowledge(1)).toBe(0x48);
    expect(b.bus.stats.msis).toBe(1);
    expect(() => new Platform({ cpus: 3 }).restore(a.save())).toThrow(/cpus/);
  });
});
