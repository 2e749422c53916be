/**
 * Device-level storms: the worst a guest (or a device) can do with one interrupt source, run
 * for a fixed number of steps. Each test bounds the work by counts (events queued, deliveries,
 * acknowledges) and checks the accounting exactly; none of them looks at a wall clock.
 *
 * Machine-level storms (vCPUs, guest programs, every injection backend) are in
 * test/machine/storms.test.ts; docs/reliability.md lists both.
 */
import { describe, expect, it } from 'vitest';
import { LocalApic } from '../../src/apic/local-apic.js';
import { ApicBus } from '../../src/bus/apic-bus.js';
import { DEFAULT_STORM_DELAY_NS, DEFAULT_STORM_THRESHOLD, IoApic } from '../../src/ioapic/ioapic.js';
import { PicPair } from '../../src/pic/pic-pair.js';
import { Platform, type CpuEvent } from '../../src/platform/platform.js';
import { Scheduler } from '../../src/time/scheduler.js';
import { checkIoApic, checkLapic, checkPicPair, vectorsIn } from './invariants.js';

const MIN_PERIOD_NS = 200_000; // the LocalApic default (KVM's min_timer_period_us)

function enable(apic: LocalApic): void {
  if (apic.mode === 'x2apic') apic.writeMsr(0x80f, 0x1ffn);
  else apic.writeRegister(0xf0, 0x1ff);
}

function writeReg(apic: LocalApic, off: number, v: number): void {
  if (apic.mode === 'x2apic') apic.writeMsr(0x800 + (off >> 4), BigInt(v >>> 0));
  else apic.writeRegister(off, v);
}

/** Counts CPU events per CPU and kind. */
function eventCounter(pc: Platform): (cpu: number, kind: CpuEvent['kind']) => number {
  const counts = new Map<string, number>();
  pc.onCpuEvent((e) => counts.set(`${e.cpu}:${e.kind}`, (counts.get(`${e.cpu}:${e.kind}`) ?? 0) + 1));
  return (cpu, kind) => counts.get(`${cpu}:${kind}`) ?? 0;
}

describe('storm: periodic LAPIC timers at the minimum period', () => {
  for (const x2apic of [false, true]) {
    it(`64 ${x2apic ? 'x2APIC' : 'xAPIC'} timers with initial count 1 fire once per minimum period and keep one event each`, () => {
      const CPUS = 64;
      const PERIODS = 100;
      const STEP = MIN_PERIOD_NS / 4;
      const pc = new Platform({ cpus: CPUS, x2apic });
      const clock = pc.scheduler!;
      const events = eventCounter(pc);
      for (const apic of pc.lapics) {
        enable(apic);
        writeReg(apic, 0x3e0, 0xb); // divide by 1: a 1 ns period, far below the floor
        writeReg(apic, 0x320, (1 << 17) | 0xef); // periodic, vector 0xEF
        writeReg(apic, 0x380, 1);
      }
      // Even CPUs service every interrupt; odd CPUs never do (their IRR bit just coalesces).
      const serviced = (cpu: number): boolean => cpu % 2 === 0;
      for (let t = STEP; t <= PERIODS * MIN_PERIOD_NS; t += STEP) {
        clock.runUntil(t);
        // The queue is bounded by the number of timers, whatever the guest programmed.
        expect(clock.pending()).toBe(CPUS);
        for (let cpu = 0; cpu < CPUS; cpu += 2) {
          while (pc.cpuHasInterrupt(cpu)) {
            expect(pc.cpuAcknowledge(cpu)).toBe(0xef);
            pc.lapics[cpu]!.eoi();
          }
        }
      }
      for (let cpu = 0; cpu < CPUS; cpu++) {
        const apic = pc.lapics[cpu]!;
        checkLapic(apic);
        expect(apic.stats.timerFires).toBe(PERIODS);
        if (serviced(cpu)) {
          expect([apic.stats.accepted, apic.stats.coalesced, apic.stats.eois]).toEqual([PERIODS, 0, PERIODS]);
        } else {
          expect([apic.stats.accepted, apic.stats.coalesced, apic.stats.eois]).toEqual([1, PERIODS - 1, 0]);
          expect(vectorsIn(apic.page, 0x200)).toEqual([0xef]);
        }
        expect(events(cpu, 'interrupt') + events(cpu, 'coalesced')).toBe(PERIODS);
      }
    });
  }

  it('one long run of a 1 ns periodic timer costs one event per minimum period, not per tick', () => {
    const pc = new Platform({ cpus: 4 });
    const clock = pc.scheduler!;
    for (const apic of pc.lapics) {
      enable(apic);
      apic.writeRegister(0x3e0, 0xb);
      apic.writeRegister(0x320, (1 << 17) | 0x10000 | 0xef); // periodic and masked: still counts
      apic.writeRegister(0x380, 1);
    }
    let steps = 0;
    const END = 1_000_000_000; // one virtual second
    while (clock.nextEventTime() !== undefined && clock.nextEventTime()! <= END) {
      clock.step();
      steps++;
      expect(clock.pending()).toBe(4);
    }
    expect(steps).toBe(4 * (END / MIN_PERIOD_NS));
    for (const apic of pc.lapics) {
      expect(apic.stats.timerFires).toBe(END / MIN_PERIOD_NS);
      expect(apic.stats.accepted).toBe(0); // masked: nothing delivered
    }
  });
});

describe('storm: a level-triggered I/O APIC line EOIed while still asserted', () => {
  /** Pin 16 (PCI INTA#, active low) -> vector 0x41, level, CPU 0. */
  function levelPlatform(): Platform {
    const pc = new Platform({ cpus: 1 });
    enable(pc.lapics[0]!);
    pc.ioapic.writeRegister(0x00, 0x10 + 2 * 16 + 1);
    pc.ioapic.writeRegister(0x10, 0);
    pc.ioapic.writeRegister(0x00, 0x10 + 2 * 16);
    pc.ioapic.writeRegister(0x10, 0xa000 | 0x41);
    return pc;
  }

  it('re-delivers stormThreshold times at once, then backs off for stormDelayNs, with exact accounting', () => {
    const pc = levelPlatform();
    const clock = pc.scheduler!;
    const apic = pc.lapics[0]!;
    const io = pc.ioapic;
    const CYCLES = 3;
    pc.setIrq(16, true); // the device asserts and never lets go
    expect(io.stats.deliveries).toBe(1);
    let handled = 0;
    for (let cycle = 1; cycle <= CYCLES; cycle++) {
      // The guest handles and EOIs without quieting the device: each EOI re-delivers at once...
      for (let i = 0; i < DEFAULT_STORM_THRESHOLD; i++) {
        expect(pc.cpuAcknowledge(0)).toBe(0x41);
        apic.eoi();
        handled++;
      }
      expect(io.stats.deliveries).toBe(1 + (cycle - 1) * (DEFAULT_STORM_THRESHOLD + 1) + DEFAULT_STORM_THRESHOLD);
      // ...until the guard engages: the next EOI does not re-deliver.
      expect(pc.cpuAcknowledge(0)).toBe(0x41);
      apic.eoi();
      handled++;
      expect(io.stats.stormDeferrals).toBe(cycle);
      expect(pc.cpuHasInterrupt(0)).toBe(false);
      expect((io.redirection(16) >> 12n) & 1n).toBe(1n); // delivery status: send pending
      expect(clock.pending()).toBe(1); // one storm event, nothing else
      checkIoApic(io, clock.pending());
      // Held for exactly stormDelayNs of virtual time.
      clock.runUntil(clock.now() + DEFAULT_STORM_DELAY_NS - 1);
      expect(pc.cpuHasInterrupt(0)).toBe(false);
      clock.runUntil(clock.now() + 1);
      expect(pc.cpuHasInterrupt(0)).toBe(true);
      expect((io.redirection(16) >> 12n) & 1n).toBe(0n);
      expect(clock.pending()).toBe(0);
    }
    const deliveries = 1 + CYCLES * (DEFAULT_STORM_THRESHOLD + 1);
    expect(io.stats).toMatchObject({ deliveries, eois: handled, stormDeferrals: CYCLES, unaccepted: 0, coalescedLevels: 0 });
    expect(apic.stats.accepted).toBe(deliveries);
    expect(apic.stats.coalesced).toBe(0);
    expect(apic.stats.eoiBroadcasts).toBe(handled);
    expect(pc.bus.stats.eoiBroadcasts).toBe(handled);
    expect(clock.now()).toBe(CYCLES * DEFAULT_STORM_DELAY_NS);
    checkLapic(apic);
    // The device finally quiets: the EOI of the last delivery re-delivers nothing.
    expect(pc.cpuAcknowledge(0)).toBe(0x41);
    pc.setIrq(16, false);
    apic.eoi();
    expect(io.stats.deliveries).toBe(deliveries);
    expect(io.remoteIrr(16)).toBe(false);
    expect(pc.cpuHasInterrupt(0)).toBe(false);
  });

  it('with a small threshold, many back-off cycles stay exact and keep one clock event', () => {
    const clock = new Scheduler();
    const bus = new ApicBus();
    const apic = new LocalApic({ id: 0, clock, bus, bsp: true });
    enable(apic);
    const THRESHOLD = 3;
    const DELAY = 1000;
    const io = new IoApic({ bus, clock, stormThreshold: THRESHOLD, stormDelayNs: DELAY });
    bus.addEoiListener(io);
    io.writeRegister(0x00, 0x10);
    io.writeRegister(0x10, 0x8000 | 0x30); // pin 0: level, active high, vector 0x30, CPU 0
    io.setPin(0, true);
    const CYCLES = 1000;
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      for (let i = 0; i <= THRESHOLD; i++) {
        expect(apic.acknowledge()).toBe(0x30);
        apic.eoi();
      }
      expect(apic.pendingVector()).toBe(-1);
      expect(clock.pending()).toBe(1);
      clock.runUntil(clock.now() + DELAY);
    }
    expect(io.stats.stormDeferrals).toBe(CYCLES);
    expect(io.stats.deliveries).toBe(1 + CYCLES * (THRESHOLD + 1));
    expect(io.stats.eois).toBe(CYCLES * (THRESHOLD + 1));
    expect(apic.stats.accepted).toBe(io.stats.deliveries);
    expect(clock.now()).toBe(CYCLES * DELAY);
  });

  it('without a clock the guard counts but cannot wait: every EOI re-delivers', () => {
    const bus = new ApicBus();
    const apic = new LocalApic({ id: 0, clock: new Scheduler(), bus });
    enable(apic);
    const io = new IoApic({ bus, stormThreshold: 2 });
    bus.addEoiListener(io);
    io.writeRegister(0x00, 0x10);
    io.writeRegister(0x10, 0x8000 | 0x30);
    io.setPin(0, true);
    const N = 3000;
    for (let i = 0; i < N; i++) {
      expect(apic.acknowledge()).toBe(0x30);
      apic.eoi();
    }
    expect(io.stats.deliveries).toBe(1 + N);
    expect(io.stats.stormDeferrals).toBe(N / 3); // every third EOI is a deferral, delivered at once
  });
});

describe('storm: an IPI flood between all APICs of a 64-CPU platform', () => {
  for (const x2apic of [false, true]) {
    it(`every ${x2apic ? 'x2APIC' : 'xAPIC'} CPU sends to every other CPU, unicast and broadcast; every count is exact`, () => {
      const CPUS = 64;
      const ROUNDS = 4;
      const pc = new Platform({ cpus: CPUS, x2apic });
      const events = eventCounter(pc);
      for (const apic of pc.lapics) enable(apic);
      const send = (from: LocalApic, icrLow: number, dest: number): void => {
        if (from.mode === 'x2apic') from.writeMsr(0x830, (BigInt(dest) << 32n) | BigInt(icrLow));
        else {
          from.writeRegister(0x310, dest << 24);
          from.writeRegister(0x300, icrLow);
        }
      };
      /** Acknowledge and EOI everything, highest first; returns how many. */
      const drain = (cpu: number): number => {
        let n = 0;
        while (pc.cpuHasInterrupt(cpu)) {
          pc.cpuAcknowledge(cpu);
          pc.lapics[cpu]!.eoi();
          n++;
        }
        return n;
      };
      for (let round = 1; round <= ROUNDS; round++) {
        // Unicast: sender i uses vector 0x40 + i, so nothing coalesces at a receiver.
        for (let i = 0; i < CPUS; i++) {
          for (let j = 0; j < CPUS; j++) if (j !== i) send(pc.lapics[i]!, 0x40 + i, j);
        }
        for (let cpu = 0; cpu < CPUS; cpu++) expect(drain(cpu)).toBe(CPUS - 1);
        // Broadcast, all excluding self: same vectors again.
        for (let i = 0; i < CPUS; i++) send(pc.lapics[i]!, (3 << 18) | (0x40 + i), 0);
        for (let cpu = 0; cpu < CPUS; cpu++) expect(drain(cpu)).toBe(CPUS - 1);
        // A fixed IPI with an illegal vector: rejected at the sender, counted, nothing sent.
        send(pc.lapics[round]!, 0x05, 0);
      }
      const perCpu = ROUNDS * 2 * (CPUS - 1);
      expect(pc.bus.stats.ipis).toBe(ROUNDS * CPUS * CPUS); // 63 unicasts + 1 broadcast each
      expect(pc.bus.stats.undelivered).toBe(0);
      for (let cpu = 0; cpu < CPUS; cpu++) {
        const apic = pc.lapics[cpu]!;
        checkLapic(apic);
        expect(pc.bus.ipisSent(cpu)).toBe(ROUNDS * CPUS); // ICR writes that reached the bus
        expect(pc.bus.ipisReceived(cpu)).toBe(perCpu);
        expect(apic.stats).toMatchObject({ accepted: perCpu, coalesced: 0, eois: perCpu, spurious: 0 });
        expect(apic.stats.ipisSent).toBe(ROUNDS * CPUS);
        expect(apic.stats.ipisInvalid).toBe(cpu >= 1 && cpu <= ROUNDS ? 1 : 0);
        expect(events(cpu, 'interrupt')).toBe(perCpu);
        expect(vectorsIn(apic.page, 0x200)).toEqual([]);
        expect(vectorsIn(apic.page, 0x100)).toEqual([]);
      }
    });
  }

  it('an NMI flood collapses into one latched NMI per CPU, counted exactly', () => {
    const CPUS = 64;
    const pc = new Platform({ cpus: CPUS });
    for (const apic of pc.lapics) enable(apic);
    const N = 50;
    for (let k = 0; k < N; k++) {
      for (let i = 0; i < CPUS; i++) {
        const a = pc.lapics[i]!;
        a.writeRegister(0x300, (3 << 18) | (4 << 8)); // NMI, all excluding self
      }
    }
    for (let cpu = 0; cpu < CPUS; cpu++) {
      expect(pc.lapics[cpu]!.stats.nmis).toBe(N * (CPUS - 1));
      expect(pc.takeNmi(cpu)).toBe(true);
      expect(pc.takeNmi(cpu)).toBe(false);
    }
    expect(pc.bus.stats.ipis).toBe(N * CPUS);
  });
});

describe('storm: a PIC edge flood', () => {
  /** BIOS initialisation: vectors 0x08 and 0x70, slave on IR2, all unmasked. */
  function biosPic(onOutput?: (level: boolean) => void): PicPair {
    const pic = new PicPair({ onOutput });
    for (const [port, v] of [
      [0x20, 0x11], [0x21, 0x08], [0x21, 0x04], [0x21, 0x01],
      [0xa0, 0x11], [0xa1, 0x70], [0xa1, 0x02], [0xa1, 0x01],
      [0x21, 0x00], [0xa1, 0x00],
    ] as const) {
      pic.ioWrite(port, v);
    }
    return pic;
  }

  /** Vectors in priority order: IRQ0, 1, then the slave (8-15) on IR2, then 3-7. */
  const ORDER = [0, 1, 8, 9, 10, 11, 12, 13, 14, 15, 3, 4, 5, 6, 7];
  const vectorOf = (irq: number): number => (irq < 8 ? 0x08 + irq : 0x70 + irq - 8);

  it('edges on every line merge in IRR: one INTA per line per round, in priority order, exact output changes', () => {
    const outputs: boolean[] = [];
    const pic = biosPic((level) => outputs.push(level));
    const ROUNDS = 200;
    const PULSES = 50;
    for (let round = 0; round < ROUNDS; round++) {
      for (let p = 0; p < PULSES; p++) {
        for (const irq of ORDER) {
          pic.setIrq(irq, true);
          pic.setIrq(irq, false);
        }
      }
      const got: number[] = [];
      while (pic.hasInterrupt()) {
        const v = pic.acknowledge();
        got.push(v);
        if (v >= 0x70) pic.ioWrite(0xa0, 0x20); // EOI the slave, then the master
        pic.ioWrite(0x20, 0x20);
        expect(got.length).toBeLessThanOrEqual(ORDER.length); // bounded by the lines, not the pulses
      }
      expect(got).toEqual(ORDER.map(vectorOf));
      checkPicPair(pic);
      expect(pic.master.isr | pic.slave.isr).toBe(0);
    }
    // Per round: INT rises once, falls at each of the 15 INTAs and rises after 14 EOIs.
    expect(outputs.length).toBe(ROUNDS * 30);
    outputs.forEach((level, i) => expect(level).toBe(i % 2 === 0));
  });

  it('a level-triggered line (ELCR) held high re-requests after every EOI, and only then', () => {
    const pic = biosPic();
    pic.ioWrite(0x4d1, 1 << 2); // IRQ10 level-triggered
    pic.setIrq(10, true);
    const N = 5000;
    for (let i = 0; i < N; i++) {
      expect(pic.acknowledge()).toBe(0x72);
      expect(pic.hasInterrupt()).toBe(false); // in service: blocked until the EOI
      pic.ioWrite(0xa0, 0x20);
      pic.ioWrite(0x20, 0x20);
    }
    // The device lets go after the last EOI, when the master has already latched the cascade
    // edge: that INTA is the spurious IRQ15 (docs/pic.md), and then the flood is over.
    pic.setIrq(10, false);
    expect(pic.acknowledge()).toBe(0x77);
    expect(pic.slave.isr).toBe(0);
    pic.ioWrite(0x20, 0x20);
    expect(pic.hasInterrupt()).toBe(false);
    checkPicPair(pic);
  });

  it('through a platform, the flood reaches the CPU as ExtINT and leaves the I/O APIC quiet', () => {
    const pc = new Platform({ cpus: 2 });
    const bsp = pc.lapics[0]!;
    bsp.writeRegister(0xf0, 0x1ff);
    bsp.writeRegister(0x350, 0x700); // LINT0: ExtINT (virtual wire)
    for (const [port, v] of [[0x20, 0x11], [0x21, 0x08], [0x21, 0x04], [0x21, 0x01], [0xa0, 0x11], [0xa1, 0x70], [0xa1, 0x02], [0xa1, 0x01]] as const) {
      pc.pic.ioWrite(port, v);
    }
    const ROUNDS = 100;
    for (let round = 0; round < ROUNDS; round++) {
      for (let p = 0; p < 20; p++) {
        for (const irq of ORDER) {
          pc.setIrq(irq, true);
          pc.setIrq(irq, false);
        }
      }
      const got: number[] = [];
      while (pc.cpuHasInterrupt(0)) {
        const v = pc.cpuAcknowledge(0);
        got.push(v);
        if (v >= 0x70) pc.pic.ioWrite(0xa0, 0x20);
        pc.pic.ioWrite(0x20, 0x20);
        expect(got.length).toBeLessThanOrEqual(ORDER.length);
      }
      expect(got).toEqual(ORDER.map(vectorOf));
    }
    // Every I/O APIC entry is masked (reset state): the ISA edges were all counted and dropped.
    expect(pc.ioapic.stats.deliveries).toBe(0);
    expect(pc.cpuHasInterrupt(1)).toBe(false);
    expect(bsp.stats.accepted).toBe(0);
    for (const a of pc.lapics) checkLapic(a);
  });
});
