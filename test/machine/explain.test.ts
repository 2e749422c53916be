import { describe, expect, it } from 'vitest';
import type { Instr } from '../../src/guest/program.js';
import { Machine } from '../../src/machine/machine.js';

const ENABLE: Instr = { op: 'mmio-write', offset: 0xf0, value: 0x1ff };

describe('Machine.explain: the vCPU and the backend', () => {
  it('halted-if-clear: HLT with IF = 0 waits for an NMI, INIT or SIPI', () => {
    const m = new Machine({ cpus: 1, backend: 'vmx-event' });
    m.load(0, { main: [ENABLE, { op: 'hlt' }] });
    m.run(10_000);
    m.lapic(0).acceptInterrupt(0x50, false);
    expect(m.explain(0, 0x50).reason).toBe('halted-if-clear');
  });

  it('waiting-for-window: IF = 0 and an interrupt window is requested', () => {
    const m = new Machine({ cpus: 1, backend: 'svm-event' });
    m.load(0, { main: [ENABLE, { op: 'work', ns: 2_000 }, { op: 'nop' }, { op: 'work', ns: 100_000 }] });
    m.run(1_500);
    m.lapic(0).acceptInterrupt(0x50, false); // kick: exit, entry finds IF = 0, opens a window
    m.run(10_000);
    expect(m.explain(0, 0x50).reason).toBe('waiting-for-window');
  });

  it('posted-not-synced: the vector sits in the PIR', () => {
    const m = new Machine({ cpus: 1, backend: 'vmx-posted' });
    m.load(0, { main: [ENABLE, { op: 'work', ns: 100_000 }] });
    m.run(5_000);
    m.lapic(0).acceptInterrupt(0x50, false);
    expect(m.explain(0, 0x50).reason).toBe('posted-not-synced');
  });

  it('vintr-pending: V_IRQ holds the vector but IF = 0, then V_TPR, keeps it from being taken', () => {
    const m = new Machine({ cpus: 1, backend: 'svm-vintr' });
    m.load(0, { main: [ENABLE, { op: 'work', ns: 8_000 }, { op: 'cr8-write', value: 9 }, { op: 'sti' }, { op: 'work', ns: 100_000 }] });
    m.run(3_000);
    m.lapic(0).acceptInterrupt(0x50, false); // kick -> exit -> entry programs V_IRQ (IF = 0: not taken)
    m.run(6_000);
    expect(m.explain(0, 0x50)).toMatchObject({ reason: 'vintr-pending' });
    expect(m.explain(0, 0x50).message).toContain('not interruptible');
    m.run(20_000); // CR8 = 9 goes to V_TPR without an exit, then STI
    expect(m.explain(0, 0x50).message).toContain('V_TPR 9');
  });

  it('vintr-taken-unsynced and deliverable are distinguished', () => {
    const m = new Machine({ cpus: 1, backend: 'svm-vintr' });
    m.load(0, { main: [ENABLE, { op: 'sti' }, { op: 'work', ns: 100_000 }], handlers: { 0x45: [{ op: 'work', ns: 50_000 }, { op: 'eoi' }, { op: 'iret' }] } });
    m.run(3_000);
    m.lapic(0).acceptInterrupt(0x46, false);
    expect(m.explain(0, 0x46).reason).toBe('deliverable');
  });
});
