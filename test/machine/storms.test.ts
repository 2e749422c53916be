/**
 * Interrupt storms through a whole Machine, under every injection backend (issue 8, "Hardening").
 *
 * Each storm is bounded by counts, never by wall time: a fixed number of run() slices of virtual
 * time. After every slice the scheduler queue must stay under a stated bound, and at the end the
 * accounting must be exact: the guest's handler counters equal the delivery checker's
 * `delivered`, requests + coalesced (+ lost) equal what the devices sent, and nothing is lost or
 * doubled. The storms run with the trace in ring mode, so their memory is bounded too.
 *
 * docs/reliability.md ("Machine-level storms") lists the bounds and why they hold.
 */
import { describe, expect, it } from 'vitest';
import type { GuestProgram, Instr } from '../../src/guest/program.js';
import type { BackendName } from '../../src/inject/backend.js';
import { DEFAULT_STORM_DELAY_NS, DEFAULT_STORM_THRESHOLD } from '../../src/ioapic/ioapic.js';
import { Machine } from '../../src/machine/machine.js';

const BACKENDS: BackendName[] = ['svm-event', 'svm-vintr', 'vmx-event', 'vmx-vid', 'vmx-posted'];
const ENABLE_XAPIC: Instr = { op: 'mmio-write', offset: 0xf0, value: 0x1ff };
const ENABLE_X2APIC: Instr = { op: 'wrmsr', msr: 0x80f, lo: 0x1ff };
const TRACE_LIMIT = 2000;
/** The default minimum LAPIC timer period (KVM's 200 µs). */
const MIN_PERIOD_NS = 200_000;

/**
 * Runs `slices` slices of `sliceNs` virtual nanoseconds (stopping early if the machine goes idle
 * or every program ends) and checks the queue bound after each. @returns the largest queue seen.
 */
function runBounded(m: Machine, sliceNs: number, slices: number, bound: number): number {
  let max = 0;
  for (let i = 0; i < slices; i++) {
    const r = m.run(m.scheduler.now() + sliceNs);
    max = Math.max(max, m.scheduler.pending());
    expect(m.scheduler.pending(), `queue after slice ${i}`).toBeLessThanOrEqual(bound);
    expect(m.trace.length).toBeLessThanOrEqual(TRACE_LIMIT);
    if (r.reason !== 'time') break;
  }
  return max;
}

/** A handler that counts into `name`, EOIs the local APIC and returns. */
function counting(name: string): Instr[] {
  return [{ op: 'inc', var: name }, { op: 'eoi' }, { op: 'iret' }];
}

describe('Machine storm: periodic LAPIC timer at its minimum period on every vCPU', () => {
  const CPUS = 8;
  const PERIODS = 100;

  it.each(BACKENDS)('%s: one expiry and one handler run per period per vCPU, and a bounded queue', (backend) => {
    const m = new Machine({ cpus: CPUS, backend, traceLimit: TRACE_LIMIT });
    for (let cpu = 0; cpu < CPUS; cpu++) {
      m.load(cpu, {
        main: [
          ENABLE_XAPIC,
          { op: 'mmio-write', offset: 0x3e0, value: 0xb }, // divide by 1
          { op: 'mmio-write', offset: 0x320, value: 0x20000 | 0xe0 }, // periodic, vector 0xE0
          { op: 'mmio-write', offset: 0x380, value: 1 }, // 1 tick = 1 ns asked; raised to 200 µs
          { op: 'sti' },
          { op: 'hlt' },
          { op: 'jump', to: 5 },
        ],
        handlers: { 0xe0: counting(`t${cpu}`) },
      });
    }
    // The timers are armed a few µs in; slices of one period, ending half a period after the
    // PERIODS-th expiry. Queue: one timer event per vCPU plus at most one step event each.
    const max = runBounded(m, MIN_PERIOD_NS, PERIODS, 2 * CPUS);
    expect(m.scheduler.now()).toBe(PERIODS * MIN_PERIOD_NS);
    m.run(m.scheduler.now() + MIN_PERIOD_NS / 2);
    expect(max).toBeGreaterThanOrEqual(CPUS); // the timers are really there
    const s = m.stats();
    for (let cpu = 0; cpu < CPUS; cpu++) {
      const c = s.cpus[cpu]!;
      expect(m.lapic(cpu).stats.timerFires).toBe(PERIODS);
      expect(m.memory.get(`t${cpu}`)).toBe(PERIODS);
      expect(c.delivered).toBe(PERIODS);
      expect(c.requests).toBe(PERIODS);
      expect(c.coalesced).toBe(0);
      expect(c.lost).toBe(0);
      expect(c.doubled).toBe(0);
      expect(c.handlerEntries).toBe(PERIODS);
      // Every expiry reaches the guest by exactly one path: injection or hardware delivery.
      expect(c.injections + c.virtualDeliveries).toBe(PERIODS);
      // Exits per period: the HLT, and the EOI where it is not virtualized (plus 4 for setup).
      expect(c.exitCount).toBeLessThanOrEqual(2 * PERIODS + 5);
      expect(c.exits.hlt).toBeLessThanOrEqual(PERIODS + 1);
    }
    expect(m.trace.dropped).toBeGreaterThan(0); // ring mode did its job
  });
});

describe('Machine storm: a level-triggered I/O APIC line the guest EOIs while it stays asserted', () => {
  /** PCI INTA# on GSI 20 (level, active low), vector 0x61, to vCPU 0; the device never lets go. */
  function levelStorm(backend: BackendName): Machine {
    const m = new Machine({ cpus: 2, backend, traceLimit: TRACE_LIMIT });
    m.load(0, { main: [ENABLE_XAPIC, { op: 'sti' }, { op: 'hlt' }, { op: 'jump', to: 1 }], handlers: { 0x61: counting('n') } });
    const io = m.platform.ioapic;
    io.writeRegister(0x00, 0x10 + 2 * 20);
    io.writeRegister(0x10, 0xa000 | 0x61); // level, active low, vector 0x61, physical, dest 0
    m.at(10_000, { kind: 'irq', gsi: 20, level: true });
    return m;
  }

  it.each(BACKENDS)('%s: the storm guard engages through the backend EOI path, counts are exact, the queue holds at most 2 events', (backend) => {
    const m = levelStorm(backend);
    const io = m.platform.ioapic;
    const deliveryStatus = (): boolean => ((io.redirection(20) >> 12n) & 1n) === 1n;
    // Until the first back-off: at most 30 ms of virtual time in 1 ms slices (each storm cycle
    // costs at least a VM exit, so 10,000 cycles take 10-30 ms depending on the backend).
    for (let i = 0; i < 30 && io.stats.stormDeferrals === 0; i++) {
      m.run(m.scheduler.now() + 1_000_000);
      expect(m.scheduler.pending()).toBeLessThanOrEqual(2); // a vCPU step and the storm event
    }
    expect(io.stats.stormDeferrals).toBe(1);
    // The back-off holds the interrupt (delivery status set); let the guest finish its handler.
    m.run(m.scheduler.now() + 100_000);
    expect(deliveryStatus()).toBe(true);
    expect(m.scheduler.pending()).toBe(1); // only the storm event: everything else is quiet
    const s = m.stats().cpus[0]!;
    const apic = m.lapic(0).stats;
    // 1 first delivery + DEFAULT_STORM_THRESHOLD immediate re-deliveries, then the back-off.
    expect(io.stats.deliveries).toBe(1 + DEFAULT_STORM_THRESHOLD);
    expect(io.stats.eois).toBe(io.stats.deliveries);
    expect(apic.accepted).toBe(io.stats.deliveries);
    expect(apic.eoiBroadcasts).toBe(io.stats.eois);
    expect(s.requests).toBe(io.stats.deliveries);
    expect(s.delivered).toBe(io.stats.deliveries);
    expect(m.memory.get('n')).toBe(s.delivered);
    expect(s.coalesced + s.lost + s.doubled).toBe(0);
    if (backend === 'vmx-vid' || backend === 'vmx-posted') {
      // EOI virtualization: the vector is in the EOI-exit bitmap, so every EOI exits.
      expect(s.exits['eoi-induced']).toBe(io.stats.eois);
    } else {
      expect(s.exits['apic-access']).toBeGreaterThanOrEqual(io.stats.eois);
    }
    // A snapshot taken during the back-off re-arms it from state (and keeps the trace ring).
    const copy = Machine.restore(m.snapshot());
    expect(copy.scheduler.pending()).toBe(1);
    // After the back-off (10 ms) the line, still asserted, is delivered again and the storm resumes.
    const before = io.stats.deliveries;
    for (const x of [m, copy]) x.run(x.scheduler.now() + DEFAULT_STORM_DELAY_NS);
    expect(io.stats.deliveries).toBeGreaterThan(before);
    expect(m.scheduler.pending()).toBeLessThanOrEqual(2);
    expect(m.trace.length).toBe(TRACE_LIMIT);
    expect(copy.platform.ioapic.stats).toEqual(io.stats);
    expect(copy.stats()).toEqual(m.stats());
    expect(copy.trace.hash()).toBe(m.trace.hash());
  });
});

describe('Machine storm: IPI flood between all vCPUs', () => {
  const CPUS = 8;
  const ROUNDS = 20;

  /**
   * Each vCPU sends ROUNDS rounds of: a fixed IPI to every other vCPU (vector 0x40 + sender),
   * then an all-excluding-self IPI (vector 0x80 + sender), as fast as it can, with interrupts
   * enabled; then it halts. Handlers count unicast and broadcast IPIs per receiver.
   */
  function flood(backend: BackendName, x2apic: boolean): Machine {
    const m = new Machine({ cpus: CPUS, backend, x2apic, traceLimit: TRACE_LIMIT });
    for (let s = 0; s < CPUS; s++) {
      const body: Instr[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        for (let d = 0; d < CPUS; d++) if (d !== s) body.push({ op: 'ipi', dest: d, vector: 0x40 + s });
        body.push({ op: 'ipi', dest: 0, vector: 0x80 + s, shorthand: 'others' });
      }
      const handlers: Record<number, Instr[]> = {};
      for (let k = 0; k < CPUS; k++) {
        handlers[0x40 + k] = counting(`u${s}`);
        handlers[0x80 + k] = counting(`b${s}`);
      }
      const program: GuestProgram = {
        main: [x2apic ? ENABLE_X2APIC : ENABLE_XAPIC, { op: 'sti' }, ...body, { op: 'hlt' }, { op: 'jump', to: 2 + body.length }],
        handlers,
      };
      m.load(s, program);
    }
    return m;
  }

  for (const x2apic of [false, true]) {
    it.each(BACKENDS)(`%s, ${x2apic ? 'x2APIC' : 'xAPIC'}: sent = received = requests + coalesced, handlers = delivered, nothing lost`, (backend) => {
      const m = flood(backend, x2apic);
      // Queue: a step event per vCPU, plus at most one host IPI (kick or posted notification)
      // in flight from each sender to each receiver: an IPI costs a VM exit (>= 1000 ns), longer
      // than a host IPI takes to land (300 ns). So at most CPUS + CPUS * (CPUS - 1) = CPUS^2.
      runBounded(m, 10_000, 400, CPUS * CPUS);
      expect(m.run(m.scheduler.now() + 1).reason).toBe('idle'); // drained: everyone halted, nothing queued
      const s = m.stats();
      let sent = 0;
      for (let cpu = 0; cpu < CPUS; cpu++) {
        const c = s.cpus[cpu]!;
        sent += c.ipisSent;
        expect(c.ipisSent).toBe(ROUNDS * CPUS); // (CPUS - 1) unicasts + 1 broadcast per round
        expect(c.ipisReceived).toBe(2 * ROUNDS * (CPUS - 1));
        // Every accepted IPI is a new request, merged into a pending one, or (svm-vintr) lost.
        expect(c.requests + c.coalesced + c.lost).toBe(c.ipisReceived);
        expect(c.delivered).toBe(c.requests);
        expect((m.memory.get(`u${cpu}`) ?? 0) + (m.memory.get(`b${cpu}`) ?? 0)).toBe(c.delivered);
        expect(c.doubled).toBe(0);
        expect(c.lost).toBe(0);
        for (let v = 0x40; v < 0x90; v++) expect(m.lapic(cpu).isRequested(v)).toBe(false);
      }
      expect(m.platform.bus.stats.ipis).toBe(sent);
      expect(m.platform.bus.stats.undelivered).toBe(0);
    });
  }
});

describe('Machine storm: PIC edge flood into a halted vCPU', () => {
  const ROUNDS = 200;
  const PULSES = 20;
  const ROUND_NS = 200_000;
  const IRQS = [0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]; // IRQ2 is the cascade
  /** Fully nested mode: master IR0, IR1, then the slave on IR2 (IRQ8-15), then IR3-7. */
  const PRIORITY_ORDER = [0, 1, 8, 9, 10, 11, 12, 13, 14, 15, 3, 4, 5, 6, 7];

  function picMachine(backend: BackendName): Machine {
    const m = new Machine({ cpus: 1, backend, traceLimit: TRACE_LIMIT });
    const out = (port: number, value: number): Instr => ({ op: 'out', port, value });
    const handlers: Record<number, Instr[]> = {};
    for (const irq of IRQS) {
      handlers[0x20 + irq] = [{ op: 'inc', var: `irq${irq}` }, ...(irq >= 8 ? [out(0xa0, 0x20)] : []), out(0x20, 0x20), { op: 'iret' }];
    }
    m.load(0, {
      main: [
        ENABLE_XAPIC,
        // The guest programs the 8259A pair through its ports: base 0x20 / 0x28, cascade on IR2.
        out(0x20, 0x11), out(0x21, 0x20), out(0x21, 0x04), out(0x21, 0x01),
        out(0xa0, 0x11), out(0xa1, 0x28), out(0xa1, 0x02), out(0xa1, 0x01),
        out(0x21, 0x00), out(0xa1, 0x00),
        { op: 'mmio-write', offset: 0x350, value: 0x700 }, // LINT0: ExtINT, unmasked (virtual wire)
        { op: 'sti' },
        { op: 'hlt' },
        { op: 'jump', to: 12 },
      ],
      handlers,
    });
    return m;
  }

  it.each(BACKENDS)('%s: every round gives exactly 15 handler runs in priority order; the queue drains to 0 after each', (backend) => {
    const m = picMachine(backend);
    m.run(50_000);
    expect(m.vcpus[0]!.halted).toBe(true);
    const first: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const t = m.scheduler.now() + 50_000;
      // PULSES edges on each of the 15 lines within PULSES ns: IRR latches merge them.
      for (const irq of IRQS) {
        for (let k = 0; k < PULSES; k++) {
          m.at(t + k, { kind: 'irq', gsi: irq, level: true });
          m.at(t + k, { kind: 'irq', gsi: irq, level: false });
        }
      }
      expect(m.scheduler.pending()).toBe(2 * IRQS.length * PULSES);
      const r0 = m.trace.length + m.trace.dropped;
      m.run(t + ROUND_NS);
      if (r === 0) {
        const events = m.trace.events().slice(r0 - m.trace.dropped);
        for (const e of events) if (e.kind === 'deliver' && e.b === 1) first.push(e.a - 0x20);
      }
      expect(m.scheduler.pending()).toBe(0); // the vCPU halted again, nothing else queued
      expect(m.vcpus[0]!.halted).toBe(true);
    }
    expect(first).toEqual(PRIORITY_ORDER);
    const s = m.stats().cpus[0]!;
    for (const irq of IRQS) expect(m.memory.get(`irq${irq}`)).toBe(ROUNDS);
    expect(s.handlerEntries).toBe(ROUNDS * IRQS.length);
    expect(s.injections).toBe(ROUNDS * IRQS.length); // ExtINT always goes through event injection
    expect(s.requests).toBe(0); // nothing reached the local APIC's IRR
    // 10 OUTs of setup, then per handler run one EOI to the master (and one to the slave for IRQ8-15).
    expect(s.exits.io).toBe(10 + ROUNDS * (IRQS.length + 8));
    expect(m.platform.pic.hasInterrupt()).toBe(false);
  });
});

describe('Machine storm: NMI flood while NMIs are blocked', () => {
  const SENDERS = 7;
  const NMIS = 20;

  it.each(BACKENDS)('%s: every NMI arrives, at most one stays pending, so the handler runs exactly twice', (backend) => {
    const m = new Machine({ cpus: SENDERS + 1, backend, traceLimit: TRACE_LIMIT });
    // vCPU 0: a long NMI handler (50 µs); NMIs stay blocked until its IRET.
    m.load(0, {
      main: [ENABLE_XAPIC, { op: 'sti' }, { op: 'hlt' }, { op: 'jump', to: 1 }],
      nmi: [{ op: 'inc', var: 'nmi' }, { op: 'work', ns: 50_000 }, { op: 'iret' }],
    });
    // Every other vCPU sends NMIS NMIs to vCPU 0 as fast as it can (each ICR write exits: ~1 µs),
    // so all of them arrive while the first NMI handler runs.
    for (let s = 1; s <= SENDERS; s++) {
      const body: Instr[] = Array.from({ length: NMIS }, () => ({ op: 'ipi', dest: 0, vector: 0, mode: 'nmi' }) as Instr);
      m.load(s, { main: [ENABLE_XAPIC, { op: 'work', ns: 5_000 }, ...body, { op: 'done' }] });
    }
    // Queue: a step per vCPU plus at most one host IPI in flight from each sender to vCPU 0.
    runBounded(m, 10_000, 50, 2 * (SENDERS + 1));
    expect(m.lapic(0).stats.nmis).toBe(SENDERS * NMIS); // every NMI reached the local APIC
    expect(m.memory.get('nmi')).toBe(2); // the first, and the one latched while it ran
    const s = m.stats().cpus[0]!;
    expect(s.handlerEntries).toBe(2);
    expect(m.lapic(0).nmiLatched).toBe(false);
    expect(m.vcpus[0]!.nmiBlocked).toBe(false);
  });
});
