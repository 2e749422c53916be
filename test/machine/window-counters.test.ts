/**
 * `interruptWindows` / `nmiWindows` count windows opened: a window the hypervisor requests while
 * none of that kind is open. Re-arming the same window at every VM entry (the guest keeps IF = 0
 * or stays in its NMI handler across other exits) is one window, as KVM's enable_irq_window /
 * enable_nmi_window leave the control set until the window exit clears it (docs/machine.md).
 */
import { describe, expect, it } from 'vitest';
import type { Instr } from '../../src/guest/program.js';
import type { BackendName } from '../../src/inject/backend.js';
import { Machine } from '../../src/machine/machine.js';

const ALL: BackendName[] = ['svm-event', 'svm-vintr', 'vmx-event', 'vmx-vid', 'vmx-posted'];
const ENABLE: Instr = { op: 'mmio-write', offset: 0xf0, value: 0x1ff };
/** Port I/O exits (`io`) under every backend: each is an exit and a VM entry. */
const IO_EXITS: Instr[] = Array.from({ length: 8 }, () => ({ op: 'in', port: 0x80 }) as Instr);
/** MSI data: delivery mode NMI (100b in bits 10:8) to APIC 0. */
const MSI_NMI = 0x400;

describe('window counters count windows opened, not entries that re-arm them', () => {
  it.each(ALL)('%s: one NMI held back by NMI blocking across 8 exits opens one NMI window', (backend) => {
    const m = new Machine({ cpus: 1, backend });
    m.load(0, {
      main: [ENABLE, { op: 'work', ns: 100_000 }, { op: 'done' }],
      // The first NMI's handler exits 8 times while NMIs are blocked; the second NMI waits.
      nmi: [{ op: 'record', label: 'nmi' }, { op: 'work', ns: 5000 }, ...IO_EXITS, { op: 'iret' }],
    });
    m.at(10_000, { kind: 'msi', address: 0xfee00000, data: MSI_NMI });
    m.at(12_000, { kind: 'msi', address: 0xfee00000, data: MSI_NMI });
    m.run(1_000_000);
    const s = m.stats().cpus[0]!;
    expect(m.trace.filter('record', 0).length).toBe(2); // both NMIs handled
    expect(s.exits.io).toBe(16);
    expect(s.exits['nmi-window']).toBe(1);
    expect(s.nmiWindows).toBe(1);
  });

  it.each(['svm-event', 'vmx-event'] as const)(
    '%s: one interrupt held back by IF = 0 across 8 exits opens one interrupt window',
    (backend) => {
      const m = new Machine({ cpus: 1, backend });
      m.load(0, {
        main: [ENABLE, { op: 'work', ns: 20_000 }, ...IO_EXITS, { op: 'sti' }, { op: 'nop' }, { op: 'record', label: 'end' }, { op: 'done' }],
        handlers: { 0x61: [{ op: 'record', label: 'h' }, { op: 'eoi' }, { op: 'iret' }] },
      });
      m.at(10_000, { kind: 'msi', address: 0xfee00000, data: 0x61 });
      m.run(1_000_000);
      const s = m.stats().cpus[0]!;
      expect(m.trace.filter('record', 0).map((e) => e.label)).toEqual(['h', 'end']);
      expect(s.exits.io).toBe(8);
      expect(s.exits['interrupt-window']).toBe(1);
      expect(s.interruptWindows).toBe(1);
    },
  );

  it('svm-event: a window closed by its exit and needed again later is a second window', () => {
    const m = new Machine({ cpus: 1, backend: 'svm-event' });
    m.load(0, {
      main: [ENABLE, { op: 'work', ns: 20_000 }, ...IO_EXITS, { op: 'sti' }, { op: 'nop' }, { op: 'cli' }, { op: 'work', ns: 20_000 }, ...IO_EXITS, { op: 'sti' }, { op: 'nop' }, { op: 'done' }],
      handlers: { 0x61: [{ op: 'eoi' }, { op: 'iret' }] },
    });
    m.at(10_000, { kind: 'msi', address: 0xfee00000, data: 0x61 });
    m.at(40_000, { kind: 'msi', address: 0xfee00000, data: 0x61 });
    m.run(1_000_000);
    const s = m.stats().cpus[0]!;
    expect(s.handlerEntries).toBe(2);
    expect(s.exits['interrupt-window']).toBe(2);
    expect(s.interruptWindows).toBe(2);
  });

  it.each(['svm-event', 'vmx-event'] as const)(
    '%s, nested: L0 keeps one window open in L2 across 8 exits, for an interrupt and for an NMI',
    (backend) => {
      const m = new Machine({ cpus: 1, backend });
      m.load(0, {
        // L1 does not exit on its interrupts: L0 injects them into L2, or waits in a window (rule 3).
        main: [ENABLE, { op: 'cli' }, { op: 'vmlaunch' }, { op: 'done' }],
        vmexit: [{ op: 'exit-info', reason: 'reason' }, { op: 'branch', var: 'reason', cmp: 'eq', value: 2, to: 3 }, { op: 'vmresume' }, { op: 'done' }],
        l2: {
          main: [{ op: 'work', ns: 20_000 }, ...IO_EXITS, { op: 'sti' }, { op: 'nop' }, { op: 'work', ns: 100_000 }, { op: 'done' }],
          handlers: { 0x61: [{ op: 'record', label: 'h' }, { op: 'eoi' }, { op: 'iret' }] },
          nmi: [{ op: 'record', label: 'nmi' }, { op: 'work', ns: 5000 }, ...IO_EXITS, { op: 'iret' }],
        },
      });
      m.at(10_000, { kind: 'msi', address: 0xfee00000, data: 0x61 });
      m.at(50_000, { kind: 'msi', address: 0xfee00000, data: MSI_NMI });
      m.at(52_000, { kind: 'msi', address: 0xfee00000, data: MSI_NMI });
      m.run(1_000_000);
      const s = m.stats().cpus[0]!;
      expect(m.trace.filter('record', 0).map((e) => e.label)).toEqual(['h', 'nmi', 'nmi']);
      expect(s.exitsFromL2.io).toBe(24); // 8 in main, 8 in each NMI handler
      expect(s.exitsFromL2['interrupt-window']).toBe(1);
      expect(s.exitsFromL2['nmi-window']).toBe(1);
      expect(s.interruptWindows).toBe(1);
      expect(s.nmiWindows).toBe(1);
    },
  );
});
