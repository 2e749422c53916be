/**
 * Scale: big x2APIC machines boot their APs with INIT/SIPI broadcasts, then every vCPU handles a
 * broadcast IPI and a logical-cluster IPI exactly once (issue 8, "Hardening"). Bounded by counts:
 * a fixed number of run() slices of virtual time, with the scheduler queue checked after each.
 *
 * 1024 vCPUs under two backends (vmx-posted and svm-event), 4096 (the Platform's x2APIC limit)
 * under one, 64 under all five; 255 xAPIC vCPUs (the xAPIC limit) with a physical broadcast.
 */
import { describe, expect, it } from 'vitest';
import type { Instr } from '../../src/guest/program.js';
import type { BackendName } from '../../src/inject/backend.js';
import { Machine } from '../../src/machine/machine.js';

const BACKENDS: BackendName[] = ['svm-event', 'svm-vintr', 'vmx-event', 'vmx-vid', 'vmx-posted'];
const BROADCAST = 0x50;
const CLUSTER = 0x51;
const SELECTED = 0x52;
const SLICE_NS = 5_000;
const MAX_SLICES = 400;

function counting(name: string): Instr[] {
  return [{ op: 'inc', var: name }, { op: 'eoi' }, { op: 'iret' }];
}

/** The x2APIC logical ID of APIC ID `id` (SDM: cluster = ID[19:4], member bit = ID[3:0]). */
function x2apicLdr(id: number): number {
  return (((id >>> 4) << 16) | (1 << (id & 15))) >>> 0;
}

/**
 * Builds the machine: the BSP starts every AP with INIT and SIPI to "all excluding self", waits
 * until all are up, sends a fixed IPI to 0xFFFFFFFF (x2APIC broadcast), one logical IPI per
 * cluster with all 16 member bits, and one logical IPI to member 0 of cluster 1 and member 15
 * of the last cluster; then it waits for every handler and ends.
 */
function bootAndBroadcast(cpus: number, backend: BackendName): Machine {
  const m = new Machine({ cpus, backend, x2apic: true, traceLimit: 100 * cpus });
  const enable: Instr = { op: 'wrmsr', msr: 0x80f, lo: 0x1ff };
  const handlers = (cpu: number): Record<number, Instr[]> => ({
    [BROADCAST]: counting(`b${cpu}`),
    [CLUSTER]: counting(`c${cpu}`),
    [SELECTED]: counting(`s${cpu}`),
  });
  const clusters = Math.ceil(cpus / 16);
  const lastCluster = clusters - 1;
  const clusterIpis: Instr[] = [];
  for (let cl = 0; cl < clusters; cl++) clusterIpis.push({ op: 'ipi', dest: ((cl << 16) | 0xffff) >>> 0, vector: CLUSTER, logical: true });
  m.load(0, {
    main: [
      enable,
      { op: 'ipi', dest: 0, vector: 0, mode: 'init', shorthand: 'others' },
      { op: 'ipi', dest: 0, vector: 0x10, mode: 'sipi', shorthand: 'others' },
      { op: 'wait', var: 'up', cmp: 'eq', value: cpus - 1 },
      { op: 'sti' },
      { op: 'ipi', dest: 0xffff_ffff, vector: BROADCAST },
      ...clusterIpis,
      { op: 'ipi', dest: (1 << 16) | 0x0001, vector: SELECTED, logical: true },
      { op: 'ipi', dest: ((lastCluster << 16) | 0x8000) >>> 0, vector: SELECTED, logical: true },
      { op: 'inc', var: 'sent' },
      { op: 'done' },
    ],
    handlers: handlers(0),
  });
  for (let cpu = 1; cpu < cpus; cpu++) {
    m.load(cpu, {
      main: [enable, { op: 'inc', var: 'up' }, { op: 'sti' }, { op: 'hlt' }, { op: 'jump', to: 3 }],
      handlers: handlers(cpu),
      waitForSipi: true,
    });
  }
  return m;
}

function checkScale(cpus: number, backend: BackendName): void {
  const m = bootAndBroadcast(cpus, backend);
  // Queue: per vCPU one step event and at most one host IPI (kick, notification) in flight.
  let slices = 0;
  for (; slices < MAX_SLICES; slices++) {
    const r = m.run(m.scheduler.now() + SLICE_NS);
    expect(m.scheduler.pending()).toBeLessThanOrEqual(2 * cpus);
    if (r.reason !== 'time') break;
  }
  expect(slices).toBeLessThan(MAX_SLICES);
  // The BSP is done and every AP halted with nothing left to do: the machine is idle.
  expect(m.run(m.scheduler.now() + 1).reason).toBe('idle');
  expect(m.scheduler.pending()).toBe(0);
  expect(m.memory.get('up')).toBe(cpus - 1);
  expect(m.memory.get('sent')).toBe(1);
  const sipis = m.trace.filter('sipi').map((e) => e.cpu);
  expect(sipis).toHaveLength(cpus - 1);
  expect(new Set(sipis).size).toBe(cpus - 1);
  const s = m.stats();
  const clusters = Math.ceil(cpus / 16);
  const selected = new Set([16, cpus - 1].filter((c) => c % 16 === 0 || c % 16 === 15));
  for (let cpu = 0; cpu < cpus; cpu++) {
    const c = s.cpus[cpu]!;
    expect(m.memory.get(`b${cpu}`), `broadcast handled by vCPU ${cpu}`).toBe(1);
    expect(m.memory.get(`c${cpu}`), `cluster IPI handled by vCPU ${cpu}`).toBe(1);
    expect(m.memory.get(`s${cpu}`) ?? 0, `selected IPI at vCPU ${cpu}`).toBe(selected.has(cpu) ? 1 : 0);
    const expected = selected.has(cpu) ? 3 : 2;
    expect(c.delivered).toBe(expected);
    expect(c.requests).toBe(expected);
    expect(c.handlerEntries).toBe(expected);
    expect(c.coalesced + c.lost + c.doubled).toBe(0);
    // INIT and SIPI count as received IPIs at the APs.
    expect(c.ipisReceived).toBe(expected + (cpu === 0 ? 0 : 2));
    if (cpu % 97 === 0 || cpu === cpus - 1) expect(m.lapic(cpu).readMsr(0x80d)).toBe(BigInt(x2apicLdr(cpu)));
  }
  expect(s.cpus[0]!.ipisSent).toBe(2 + 1 + clusters + 2);
}

describe('scale: INIT/SIPI boot, broadcast and logical-cluster IPIs', () => {
  it.each(['vmx-posted', 'svm-event'] as const)('1024 x2APIC vCPUs under %s: every vCPU boots once and handles each IPI exactly once', (backend) => {
    checkScale(1024, backend);
  });

  it('4096 x2APIC vCPUs (the Platform limit) under vmx-vid', () => {
    checkScale(4096, 'vmx-vid');
  });

  it.each(BACKENDS)('64 x2APIC vCPUs under %s', (backend) => {
    checkScale(64, backend);
  });

  it('255 xAPIC vCPUs (the xAPIC limit): INIT/SIPI and a physical broadcast to 0xFF', () => {
    const cpus = 255;
    const m = new Machine({ cpus, backend: 'vmx-event' });
    const enable: Instr = { op: 'mmio-write', offset: 0xf0, value: 0x1ff };
    m.load(0, {
      main: [
        enable,
        { op: 'ipi', dest: 0, vector: 0, mode: 'init', shorthand: 'others' },
        { op: 'ipi', dest: 0, vector: 0x10, mode: 'sipi', shorthand: 'others' },
        { op: 'wait', var: 'up', cmp: 'eq', value: cpus - 1 },
        { op: 'sti' },
        { op: 'ipi', dest: 0xff, vector: BROADCAST },
        { op: 'wait', var: 'b', cmp: 'eq', value: cpus },
        { op: 'done' },
      ],
      handlers: { [BROADCAST]: counting('b') },
    });
    for (let cpu = 1; cpu < cpus; cpu++) {
      m.load(cpu, { main: [enable, { op: 'inc', var: 'up' }, { op: 'sti' }, { op: 'hlt' }, { op: 'jump', to: 3 }], handlers: { [BROADCAST]: counting('b') }, waitForSipi: true });
    }
    let slices = 0;
    for (; slices < MAX_SLICES; slices++) {
      const r = m.run(m.scheduler.now() + SLICE_NS);
      expect(m.scheduler.pending()).toBeLessThanOrEqual(2 * cpus);
      if (r.reason !== 'time') break;
    }
    expect(slices).toBeLessThan(MAX_SLICES);
    expect(m.memory.get('b')).toBe(cpus);
    const s = m.stats();
    for (let cpu = 0; cpu < cpus; cpu++) expect(s.cpus[cpu]!.delivered).toBe(1);
    expect(s.total.lost + s.total.doubled).toBe(0);
  });
});
