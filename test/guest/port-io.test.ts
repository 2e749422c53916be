/**
 * Port I/O in guest programs (`in` / `out`): validation, the interpreter, and the Machine wiring
 * to the 8259A pair with an 'io' exit per access. Also the `iret` and `eoi` trace events the
 * trace export builds spans and ISR counters from.
 */
import { describe, expect, it } from 'vitest';
import { validateProgram, type GuestProgram, type Instr } from '../../src/guest/program.js';
import { Vcpu, type VcpuEnv } from '../../src/guest/vcpu.js';
import { Machine } from '../../src/machine/machine.js';

function baseEnv(memory: Map<string, number>): VcpuEnv {
  return {
    instructionNs: 1,
    mmioRead: () => 0,
    mmioWrite: () => {},
    msrRead: () => 0n,
    msrWrite: () => true,
    cr8Read: () => 0,
    cr8Write: () => true,
    halt: () => {},
    spin: () => {},
    read: (n) => memory.get(n) ?? 0,
    write: (n, v) => void memory.set(n, v),
    record: () => {},
    finished: () => {},
    fault: () => {},
  };
}

/** The 8259A programmed as a DOS guest does: vector bases 0x20/0x28, IRQ0-2 unmasked. */
const PIC_INIT: Instr[] = [
  { op: 'out', port: 0x20, value: 0x11 },
  { op: 'out', port: 0x21, value: 0x20 },
  { op: 'out', port: 0x21, value: 0x04 },
  { op: 'out', port: 0x21, value: 0x01 },
  { op: 'out', port: 0xa0, value: 0x11 },
  { op: 'out', port: 0xa1, value: 0x28 },
  { op: 'out', port: 0xa1, value: 0x02 },
  { op: 'out', port: 0xa1, value: 0x01 },
  { op: 'out', port: 0x21, value: 0xf8 },
];

describe('guest port I/O: in / out', () => {
  it('validates port, value and into', () => {
    expect(() => validateProgram({ main: [{ op: 'out', port: 0xffff, value: 0xff }, { op: 'in', port: 0, into: 'x' }, { op: 'in', port: 0x60 }] })).not.toThrow();
    expect(() => validateProgram({ main: [{ op: 'out', port: 0x10000, value: 0 }] })).toThrow(/main\[0\]\.port must be an integer 0\.\.65535/);
    expect(() => validateProgram({ main: [{ op: 'out', port: 0x20, value: 0x100 }] })).toThrow(/value must be an integer 0\.\.255/);
    expect(() => validateProgram({ main: [{ op: 'in', port: -1 }] })).toThrow(RangeError);
    expect(() => validateProgram({ main: [{ op: 'in', port: 0x20, into: '' }] })).toThrow(TypeError);
  });

  it('without port handlers in the environment, IN reads 0xFF and OUT does nothing', () => {
    const memory = new Map<string, number>();
    const v = new Vcpu(0);
    v.load({ main: [{ op: 'out', port: 0x80, value: 1 }, { op: 'in', port: 0x60, into: 'x' }] });
    const e = baseEnv(memory);
    expect(v.step(e)).toBe(1);
    v.step(e);
    expect(memory.get('x')).toBe(0xff);
  });

  it('the interpreter passes accesses to portRead / portWrite and keeps the low byte', () => {
    const memory = new Map<string, number>();
    const log: string[] = [];
    const e: VcpuEnv = {
      ...baseEnv(memory),
      portRead: (_c, port) => (log.push(`in ${port.toString(16)}`), 0x1234),
      portWrite: (_c, port, value) => void log.push(`out ${port.toString(16)}=${value.toString(16)}`),
    };
    const v = new Vcpu(0);
    v.load({ main: [{ op: 'out', port: 0x21, value: 0xfb }, { op: 'in', port: 0x21, into: 'imr' }] });
    v.step(e);
    v.step(e);
    expect(log).toEqual(['out 21=fb', 'in 21']);
    expect(memory.get('imr')).toBe(0x34);
  });

  it('Machine: OUT/IN reach the 8259A pair and ELCR, other ports read 0xFF, every access exits (io)', () => {
    const m = new Machine({ cpus: 1, backend: 'vmx-posted' });
    m.load(0, {
      main: [
        ...PIC_INIT,
        { op: 'in', port: 0x21, into: 'imr' },
        { op: 'out', port: 0x4d0, value: 0x08 }, // ELCR1: IRQ3 level
        { op: 'in', port: 0x4d0, into: 'elcr' },
        { op: 'in', port: 0x60, into: 'kbd' },
        { op: 'out', port: 0x80, value: 0x55 }, // POST code port: nobody listens
        { op: 'done' },
      ],
    });
    m.run(1_000_000);
    expect(m.memory.get('imr')).toBe(0xf8);
    expect(m.memory.get('elcr')).toBe(0x08);
    expect(m.memory.get('kbd')).toBe(0xff);
    expect(m.platform.pic.ioRead(0xa1)).toBe(0x00); // slave IMR after ICW4 (OCW1 never written)
    const s = m.stats().cpus[0]!;
    expect(s.exits.io).toBe(PIC_INIT.length + 5);
    expect(s.exitCount).toBe(PIC_INIT.length + 5);
  });

  it('Machine: with the local APIC globally disabled the 8259A drives INTR; the EOI by OUT 0x20 lets the next IRQ0 in', () => {
    const run = (eoi: boolean): Machine => {
      const m = new Machine({ cpus: 1, backend: 'svm-event' });
      const bsp = m.platform.lapics[0]!;
      expect(bsp.writeMsr(0x1b, bsp.apicBaseMsr & ~(1n << 11n))).toBe(true);
      expect(bsp.mode).toBe('disabled');
      const handler: Instr[] = [{ op: 'inc', var: 'ticks' }, ...(eoi ? [{ op: 'out', port: 0x20, value: 0x20 } as Instr] : []), { op: 'iret' }];
      const program: GuestProgram = { main: [...PIC_INIT, { op: 'sti' }, { op: 'hlt' }, { op: 'jump', to: PIC_INIT.length + 1 }], handlers: { 0x20: handler } };
      m.load(0, program);
      for (const t of [100_000, 200_000, 300_000]) {
        m.at(t, { kind: 'irq', gsi: 0, level: true });
        m.at(t + 50_000, { kind: 'irq', gsi: 0, level: false });
      }
      m.run(1_000_000);
      return m;
    };
    const good = run(true);
    expect(good.memory.get('ticks')).toBe(3);
    expect(good.trace.filter('deliver').map((e) => [e.a, e.b])).toEqual([
      [0x20, 1],
      [0x20, 1],
      [0x20, 1],
    ]);
    // Without the EOI, IR0 stays in service in the 8259A and masks the later ticks.
    expect(run(false).memory.get('ticks')).toBe(1);
  });

  it('the trace records IRET (with the vector) and guest EOI writes', () => {
    for (const x2apic of [false, true]) {
      const m = new Machine({ cpus: 1, backend: 'svm-event', x2apic });
      const enable: Instr = x2apic ? { op: 'wrmsr', msr: 0x80f, lo: 0x1ff } : { op: 'mmio-write', offset: 0xf0, value: 0x1ff };
      m.load(0, { main: [enable, { op: 'self-ipi', vector: 0x40 }, { op: 'sti' }, { op: 'nop' }, { op: 'done' }] });
      m.run(1_000_000);
      const kinds = m.trace.events().filter((e) => ['deliver', 'eoi', 'iret'].includes(e.kind)).map((e) => `${e.kind} ${e.a}`);
      expect(kinds).toEqual(['deliver 64', 'eoi 0', 'iret 64']);
    }
  });
});
