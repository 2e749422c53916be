import { describe, expect, it } from 'vitest';
import type { Instr } from '../../src/guest/program.js';
import { Machine } from '../../src/machine/machine.js';

const ENABLE: Instr = { op: 'mmio-write', offset: 0xf0, value: 0x1ff };

describe('device-level trace events', () => {
  it('ISR set/clear, PPR, IPI send/receive and timer arm/fire are traced', () => {
    const m = new Machine({ cpus: 2, backend: 'vmx-event' });
    m.load(0, {
      main: [
        ENABLE,
        { op: 'mmio-write', offset: 0x3e0, value: 0xb },
        { op: 'mmio-write', offset: 0x320, value: 0xec },
        { op: 'mmio-write', offset: 0x380, value: 5000 },
        { op: 'ipi', dest: 1, vector: 0x51 },
        { op: 'sti' },
        { op: 'wait', var: 't', cmp: 'eq', value: 1 },
        { op: 'done' },
      ],
      handlers: { 0xec: [{ op: 'set', var: 't', value: 1 }, { op: 'eoi' }, { op: 'iret' }] },
    });
    m.load(1, { main: [ENABLE, { op: 'sti' }, { op: 'hlt' }, { op: 'done' }] });
    m.run(1_000_000);
    const kinds = (cpu: number) => new Set(m.trace.events().filter((e) => e.cpu === cpu).map((e) => e.kind));
    expect([...kinds(0)]).toEqual(expect.arrayContaining(['timer-arm', 'timer-fire', 'isr-set', 'isr-clear', 'ppr', 'ipi-send']));
    expect([...kinds(1)]).toEqual(expect.arrayContaining(['ipi-receive', 'isr-set']));
    const isrSet = m.trace.filter('isr-set', 0)[0]!;
    expect(isrSet.a).toBe(0xec);
    expect(isrSet.b).toBe(0xe0); // PPR after
    const send = m.trace.filter('ipi-send', 0)[0]!;
    expect(send.a & 0xff).toBe(0x51);
    expect(send.b).toBe(1);
  });

  it('I/O APIC remote IRR and 8259A INTA cycles are traced', () => {
    const m = new Machine({ cpus: 1, backend: 'svm-event' });
    m.load(0, {
      main: [ENABLE, { op: 'sti' }, { op: 'hlt' }, { op: 'jump', to: 2 }],
      handlers: { 0x61: [{ op: 'eoi' }, { op: 'iret' }] },
    });
    const io = m.platform.ioapic;
    io.writeRegister(0, 0x10 + 2 * 20);
    io.writeRegister(0x10, 0xa000 | 0x61);
    m.at(10_000, { kind: 'irq', gsi: 20, level: true });
    m.at(10_500, { kind: 'irq', gsi: 20, level: false });
    m.run(50_000);
    expect(m.trace.filter('remote-irr-set').map((e) => [e.a, e.b])).toEqual([[20, 0x61]]);
    expect(m.trace.filter('remote-irr-clear').map((e) => [e.a, e.b])).toEqual([[20, 0x61]]);

    const legacy = new Machine({ cpus: 1, backend: 'vmx-event' });
    legacy.load(0, { main: [ENABLE, { op: 'mmio-write', offset: 0x350, value: 0x700 }, { op: 'sti' }, { op: 'hlt' }], handlers: { 0x21: [{ op: 'out', port: 0x20, value: 0x20 }, { op: 'iret' }] } });
    const pic = legacy.platform.pic;
    for (const [port, v] of [[0x20, 0x11], [0x21, 0x20], [0x21, 0x04], [0x21, 0x01], [0x21, 0x00]] as const) pic.ioWrite(port, v);
    legacy.at(5_000, { kind: 'irq', gsi: 1, level: true });
    legacy.run(50_000);
    expect(legacy.trace.filter('pic-inta').map((e) => [e.a, e.b])).toEqual([[1, 0x21]]);
  });

  it('no tracer is installed when the trace is off', () => {
    const m = new Machine({ cpus: 1, backend: 'vmx-vid', trace: false });
    m.load(0, { main: [ENABLE, { op: 'self-ipi', vector: 0x40 }, { op: 'sti' }, { op: 'nop' }, { op: 'done' }] });
    m.run(100_000);
    expect(m.trace.length).toBe(0);
    expect(m.stats().total.delivered).toBe(1);
  });
});
