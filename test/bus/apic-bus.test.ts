import { describe, expect, it } from 'vitest';
import { ApicBus } from '../../src/bus/apic-bus.js';
import { LocalApic } from '../../src/apic/local-apic.js';
import { Scheduler } from '../../src/time/scheduler.js';
import { cpus, irrOf, sendIpi } from './helpers.js';

const FIXED = 0;
const LOWPRI = 1 << 8;
const SMI = 2 << 8;
const NMI = 4 << 8;
const INIT = 5 << 8;
const STARTUP = 6 << 8;
const LOGICAL = 1 << 11;
const ALL_INCL = 2 << 18;
const ALL_EXCL = 3 << 18;

describe('APIC bus: physical destinations', () => {
  it('a physical IPI reaches exactly the APIC with that xAPIC ID', () => {
    const { apics } = cpus(4);
    sendIpi(apics[0]!, FIXED | 0x40, 2);
    expect(apics.map(irrOf)).toEqual([[], [], [0x40], []]);
  });

  it('physical destination 0xFF is a broadcast to every APIC including the sender', () => {
    const { apics } = cpus(3);
    sendIpi(apics[1]!, FIXED | 0x41, 0xff);
    expect(apics.map(irrOf)).toEqual([[0x41], [0x41], [0x41]]);
  });

  it('an IPI to an ID nobody has is counted as undelivered', () => {
    const { apics, bus } = cpus(2);
    sendIpi(apics[0]!, FIXED | 0x40, 7);
    expect(apics.map(irrOf)).toEqual([[], []]);
    expect(bus.stats.undelivered).toBe(1);
  });

  it('an ID changed by the guest re-routes physical IPIs', () => {
    const { apics } = cpus(2);
    apics[1]!.writeRegister(0x20, 0x0900_0000);
    sendIpi(apics[0]!, FIXED | 0x40, 1);
    sendIpi(apics[0]!, FIXED | 0x41, 9);
    expect(irrOf(apics[1]!)).toEqual([0x41]);
  });

  it('two APICs sharing an ID both receive a physical IPI to it', () => {
    const { apics } = cpus(3);
    apics[2]!.writeRegister(0x20, 0x0100_0000);
    sendIpi(apics[0]!, FIXED | 0x44, 1);
    expect(apics.map(irrOf)).toEqual([[], [0x44], [0x44]]);
  });

  it('x2APIC physical destinations are 32-bit and 0xFFFFFFFF broadcasts', () => {
    const { apics } = cpus(3, { x2apic: true, ids: [0, 0x100, 0x10000] });
    sendIpi(apics[0]!, FIXED | 0x50, 0x10000);
    expect(apics.map(irrOf)).toEqual([[], [], [0x50]]);
    sendIpi(apics[0]!, FIXED | 0x51, 0xffffffff);
    expect(apics.map(irrOf)).toEqual([[0x51], [0x51], [0x50, 0x51]]);
  });

  it('x2APIC destination 0xFF is a unicast to APIC 0xFF, not a broadcast', () => {
    const { apics } = cpus(3, { x2apic: true, ids: [0, 0xff, 0x1ff] });
    sendIpi(apics[0]!, FIXED | 0x50, 0xff);
    expect(apics.map(irrOf)).toEqual([[], [0x50], []]);
  });
});

describe('APIC bus: logical destinations', () => {
  it('logical flat: every APIC whose LDR shares a bit with the MDA', () => {
    const { apics } = cpus(4);
    apics.forEach((a, i) => a.writeRegister(0xd0, (1 << i) << 24));
    sendIpi(apics[0]!, FIXED | LOGICAL | 0x60, 0b1010);
    expect(apics.map(irrOf)).toEqual([[], [0x60], [], [0x60]]);
  });

  it('logical cluster: the cluster nibble selects, member bits pick within it', () => {
    const { apics } = cpus(4);
    const ldrs = [0x11, 0x12, 0x21, 0x22];
    apics.forEach((a, i) => {
      a.writeRegister(0xe0, 0x0fff_ffff);
      a.writeRegister(0xd0, ldrs[i]! << 24);
    });
    sendIpi(apics[0]!, FIXED | LOGICAL | 0x61, 0x23);
    expect(apics.map(irrOf)).toEqual([[], [], [0x61], [0x61]]);
  });

  it('x2APIC logical cluster uses the ID-derived LDR', () => {
    // IDs 0x10..0x13 are cluster 1, member bits 0..3.
    const { apics } = cpus(4, { x2apic: true, ids: [0x10, 0x11, 0x12, 0x13] });
    sendIpi(apics[0]!, FIXED | LOGICAL | 0x62, (1 << 16) | 0b0110);
    expect(apics.map(irrOf)).toEqual([[], [0x62], [0x62], []]);
  });

  it('logical broadcast 0xFF reaches everyone in flat and cluster models', () => {
    const { apics } = cpus(3);
    sendIpi(apics[0]!, FIXED | LOGICAL | 0x63, 0xff);
    expect(apics.map(irrOf)).toEqual([[0x63], [0x63], [0x63]]);
  });
});

describe('APIC bus: shorthands', () => {
  it('all-including-self reaches every APIC', () => {
    const { apics } = cpus(3);
    sendIpi(apics[1]!, FIXED | ALL_INCL | 0x70, 0);
    expect(apics.map(irrOf)).toEqual([[0x70], [0x70], [0x70]]);
  });

  it('all-excluding-self reaches everyone but the sender', () => {
    const { apics } = cpus(3);
    sendIpi(apics[1]!, FIXED | ALL_EXCL | 0x71, 0);
    expect(apics.map(irrOf)).toEqual([[0x71], [], [0x71]]);
  });

  it('INIT-SIPI-SIPI to all-excluding-self starts every AP once at the SIPI vector', () => {
    const { apics } = cpus(4);
    sendIpi(apics[0]!, INIT | ALL_EXCL, 0);
    expect(apics.map((a) => a.cpuState)).toEqual(['running', 'wait-for-sipi', 'wait-for-sipi', 'wait-for-sipi']);
    sendIpi(apics[0]!, STARTUP | ALL_EXCL | 0x9f, 0);
    sendIpi(apics[0]!, STARTUP | ALL_EXCL | 0x9f, 0);
    expect(apics.map((a) => a.cpuState)).toEqual(['running', 'running', 'running', 'running']);
    expect(apics.slice(1).map((a) => a.startupVector)).toEqual([0x9f, 0x9f, 0x9f]);
    expect(apics.slice(1).map((a) => a.stats.sipisIgnored)).toEqual([1, 1, 1]);
  });

  it('INIT and SIPI are reported to the host through each CPU\'s events', () => {
    const { apics, events } = cpus(2);
    sendIpi(apics[0]!, INIT, 1);
    sendIpi(apics[0]!, STARTUP | 0x10, 1);
    expect(events[1]).toEqual([
      ['init', 0],
      ['sipi', 0x10],
    ]);
  });

  it('NMI and SMI IPIs latch in the target', () => {
    const { apics } = cpus(2);
    sendIpi(apics[0]!, NMI, 1);
    sendIpi(apics[0]!, SMI, 1);
    expect(apics[1]!.takeNmi()).toBe(true);
    expect(apics[1]!.takeSmi()).toBe(true);
    expect(apics[0]!.takeNmi()).toBe(false);
  });
});

describe('APIC bus: statistics', () => {
  it('counts IPIs sent per source and received per target', () => {
    const { apics, bus } = cpus(3);
    sendIpi(apics[0]!, FIXED | 0x40, 1);
    sendIpi(apics[0]!, FIXED | 0x41, 0xff);
    sendIpi(apics[2]!, FIXED | ALL_EXCL | 0x42, 0);
    expect([0, 1, 2].map((i) => bus.ipisSent(i))).toEqual([2, 0, 1]);
    expect([0, 1, 2].map((i) => bus.ipisReceived(i))).toEqual([2, 3, 1]);
    expect(() => bus.ipisSent(3)).toThrow(/cpu/);
  });

  it('a LocalApic can attach to only one bus position', () => {
    const bus = new ApicBus();
    const apic = new LocalApic({ id: 0, clock: new Scheduler(), bus });
    expect(() => bus.attach(apic)).toThrow(RangeError);
  });
});

describe('APIC bus: EOI broadcast', () => {
  it('a level EOI reaches every registered listener', () => {
    const { apics, bus } = cpus(1);
    const seen: number[][] = [[], []];
    bus.addEoiListener({ eoi: (v) => seen[0]!.push(v) });
    bus.addEoiListener({ eoi: (v) => seen[1]!.push(v) });
    apics[0]!.acceptInterrupt(0x58, true);
    apics[0]!.acknowledge();
    apics[0]!.eoi();
    expect(seen).toEqual([[0x58], [0x58]]);
  });

  it('rejects a listener without eoi()', () => {
    expect(() => new ApicBus().addEoiListener({} as never)).toThrow(TypeError);
  });
});

describe('APIC bus: lowest priority (SDM "Lowest Priority Delivery Mode")', () => {
  it('delivers to exactly one of the addressed APICs: the one with the lowest APR', () => {
    const { apics } = cpus(3);
    apics.forEach((a) => a.writeRegister(0xd0, 0x0100_0000));
    apics[0]!.writeRegister(0x80, 0x50);
    apics[1]!.writeRegister(0x80, 0x20);
    apics[2]!.writeRegister(0x80, 0x30);
    sendIpi(apics[0]!, LOWPRI | LOGICAL | 0x70, 0x01);
    expect(apics.map(irrOf)).toEqual([[], [0x70], []]);
  });

  it('a focus processor (vector already pending or in service) wins over a lower APR', () => {
    const { apics } = cpus(2);
    apics.forEach((a) => a.writeRegister(0xd0, 0x0100_0000));
    apics[1]!.writeRegister(0x80, 0x60);
    apics[1]!.acceptInterrupt(0x70, false);
    apics[1]!.acknowledge();
    sendIpi(apics[0]!, LOWPRI | LOGICAL | 0x70, 0x01);
    expect(irrOf(apics[0]!)).toEqual([]);
    expect(irrOf(apics[1]!)).toEqual([0x70]);
  });

  it('focus checking disabled in SVR bit 9 falls back to APR', () => {
    const { apics } = cpus(2);
    apics.forEach((a) => {
      a.writeRegister(0xd0, 0x0100_0000);
      a.writeRegister(0xf0, 0x3ff);
    });
    apics[1]!.writeRegister(0x80, 0x60);
    apics[1]!.acceptInterrupt(0x70, false);
    sendIpi(apics[0]!, LOWPRI | LOGICAL | 0x70, 0x01);
    expect(irrOf(apics[0]!)).toEqual([0x70]);
  });

  it('ties rotate round-robin so equal APICs share the load deterministically', () => {
    const { apics } = cpus(3);
    apics.forEach((a) => a.writeRegister(0xd0, 0x0100_0000));
    const winners: number[] = [];
    for (let k = 0; k < 6; k++) {
      sendIpi(apics[0]!, LOWPRI | LOGICAL | (0x80 + k), 0x01);
      winners.push(apics.findIndex((a) => irrOf(a).includes(0x80 + k)));
    }
    expect(winners).toEqual([0, 1, 2, 0, 1, 2]);
  });

  it('software-disabled APICs do not compete', () => {
    const { apics } = cpus(2);
    apics.forEach((a) => a.writeRegister(0xd0, 0x0100_0000));
    apics[0]!.writeRegister(0xf0, 0x0ff);
    apics[1]!.writeRegister(0x80, 0xe0);
    sendIpi(apics[1]!, LOWPRI | LOGICAL | 0x90, 0x01);
    expect(irrOf(apics[1]!)).toEqual([0x90]);
  });

  it('policy lowest-ppr ignores IRR (unlike APR) and picks the lowest PPR', () => {
    const { apics } = cpus(2, { bus: { lowestPriority: 'lowest-ppr' } });
    apics.forEach((a) => a.writeRegister(0xd0, 0x0100_0000));
    apics[0]!.acceptInterrupt(0xe0, false); // raises APR of CPU 0, not its PPR
    apics[1]!.writeRegister(0x80, 0x10);
    sendIpi(apics[1]!, LOWPRI | LOGICAL | 0x40, 0x01);
    expect(irrOf(apics[0]!)).toEqual([0x40, 0xe0]);
  });

  it('policy vector-hash picks candidate vector % count; policy first picks the first', () => {
    const h = cpus(3, { bus: { lowestPriority: 'vector-hash' } });
    h.apics.forEach((a) => a.writeRegister(0xd0, 0x0100_0000));
    sendIpi(h.apics[0]!, LOWPRI | LOGICAL | 0x41, 0x01); // 0x41 % 3 = 2
    expect(h.apics.map(irrOf)).toEqual([[], [], [0x41]]);
    const f = cpus(3, { bus: { lowestPriority: 'first' } });
    f.apics.forEach((a) => a.writeRegister(0xd0, 0x0100_0000));
    f.apics[0]!.writeRegister(0x80, 0xf0);
    sendIpi(f.apics[0]!, LOWPRI | LOGICAL | 0x41, 0x01);
    expect(f.apics.map(irrOf)).toEqual([[0x41], [], []]);
  });

  it('an unknown policy is host misuse', () => {
    expect(() => new ApicBus({ lowestPriority: 'random' as never })).toThrow(/lowestPriority/);
  });
});

describe('APIC bus: I/O APIC messages and MSI', () => {
  it('routeMessage delivers with the given trigger mode and returns the number of acceptors', () => {
    const { apics, bus } = cpus(2);
    expect(bus.routeMessage(1, false, 0, 0x55, true)).toBe(1);
    expect(irrOf(apics[1]!)).toEqual([0x55]);
    expect((apics[1]!.page[(0x180 >> 2) + 2 * 4]! >>> 0x15) & 1).toBe(1);
    expect(bus.routeMessage(0xff, false, 0, 0x56, false)).toBe(2);
    expect(bus.routeMessage(5, false, 0, 0x57, false)).toBe(0);
  });

  it('an 8-bit broadcast from an I/O APIC reaches x2APIC-mode APICs', () => {
    const { apics, bus } = cpus(2, { x2apic: true, ids: [0, 0x300] });
    expect(bus.routeMessage(0xff, false, 0, 0x55, false)).toBe(2);
    expect(apics.map(irrOf)).toEqual([[0x55], [0x55]]);
  });

  it('ExtINT messages latch ExtINT in the target', () => {
    const { apics, bus } = cpus(1);
    bus.routeMessage(0, false, 7, 0, false);
    expect(apics[0]!.extIntPending()).toBe(true);
    apics[0]!.clearExtInt();
    expect(apics[0]!.extIntPending()).toBe(false);
  });

  it('sendMsi decodes destination, mode, vector, delivery mode and trigger', () => {
    const { apics, bus } = cpus(3);
    // address 0xFEE02000: physical destination 2; data 0x0045: fixed, edge, vector 0x45
    expect(bus.sendMsi(0xfee0_2000, 0x0045)).toBe(1);
    expect(apics.map(irrOf)).toEqual([[], [], [0x45]]);
    // NMI through MSI (delivery mode 100)
    bus.sendMsi(0xfee0_1000, 0x0400);
    expect(apics[1]!.takeNmi()).toBe(true);
  });

  it('an MSI with redirection hint + logical mode is arbitrated as lowest priority', () => {
    const { apics, bus } = cpus(3);
    apics.forEach((a) => a.writeRegister(0xd0, 0x0100_0000));
    apics[0]!.writeRegister(0x80, 0x40);
    apics[2]!.writeRegister(0x80, 0x40);
    expect(bus.sendMsi(0xfee0_100c, 0x0066)).toBe(1);
    expect(apics.map(irrOf)).toEqual([[], [0x66], []]);
  });

  it('an MSI outside the 0xFEExxxxx window is dropped and counted', () => {
    const { apics, bus } = cpus(1);
    expect(bus.sendMsi(0xfed0_0000, 0x40)).toBe(0);
    expect(bus.stats.invalidMsis).toBe(1);
    expect(irrOf(apics[0]!)).toEqual([]);
  });

  it('a level-triggered de-assert MSI does nothing', () => {
    const { apics, bus } = cpus(1);
    expect(bus.sendMsi(0xfee0_0000, 0x8040)).toBe(0);
    expect(bus.sendMsi(0xfee0_0000, 0xc040)).toBe(1);
    expect(irrOf(apics[0]!)).toEqual([0x40]);
  });

  it('extended destination ID bits 11:5 address x2APIC IDs above 255', () => {
    const { apics, bus } = cpus(2, { x2apic: true, ids: [0, 0x1a5], bus: { extendedDestId: true } });
    // ID 0x1A5: low 8 bits 0xA5 in 19:12, bits 14:8 (= 1) in address bits 11:5.
    expect(bus.sendMsi(0xfee0_0000 | (0xa5 << 12) | (1 << 5), 0x0047)).toBe(1);
    expect(irrOf(apics[1]!)).toEqual([0x47]);
  });
});

describe('APIC bus scale', () => {
  it('a broadcast reaches all 1024 x2APIC CPUs exactly once', () => {
    const ids = Array.from({ length: 1024 }, (_, i) => i);
    const { apics, bus } = cpus(1024, { x2apic: true, ids });
    sendIpi(apics[0]!, FIXED | 0x99, 0xffffffff);
    expect(apics.every((a) => irrOf(a).length === 1 && irrOf(a)[0] === 0x99)).toBe(true);
    expect(bus.ipisReceived(1023)).toBe(1);
    sendIpi(apics[5]!, FIXED | 0x98, 1000);
    expect(irrOf(apics[1000]!)).toEqual([0x98, 0x99]);
  });
});
