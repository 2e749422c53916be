/**
 * `level-storm`: a level-triggered line that stays asserted while the guest keeps EOIing it, so
 * the I/O APIC re-delivers at every EOI until its storm guard backs off (as KVM and QEMU do).
 * See src/ioapic/ioapic.ts and docs/ioapic.md.
 *
 * @module
 */
import { DEFAULT_STORM_DELAY_NS, DEFAULT_STORM_THRESHOLD } from '../../ioapic/ioapic.js';
import { ENABLE_APIC, idleLoop, mem, writeRedirection, type Scenario } from './types.js';

const VECTOR = 0x41;
const GSI = 16;
const ASSERT_NS = 10_000;

export const levelStorm: Scenario = {
  name: 'level-storm',
  description: 'a PCI level line stuck asserted while the guest EOIs it: the I/O APIC storm guard engages',
  details: [
    'GSI 16 (PCI INTA#, active low) is programmed level-triggered, vector 0x41, to vCPU 0. At 10 us',
    'the device asserts it and never lets go; the buggy driver\'s handler only EOIs. With remote IRR',
    'cleared by each EOI and the line still active, the I/O APIC re-delivers at once: an interrupt',
    `storm. After ${DEFAULT_STORM_THRESHOLD} re-deliveries in a row the storm guard defers the next one by`,
    `${DEFAULT_STORM_DELAY_NS / 1_000_000} ms, then the storm resumes. Other vCPUs idle.`,
  ].join('\n'),
  cpus: { default: 1, min: 1, max: 64 },
  untilNs: 30_000_000,
  explainHint: '0:0x41',
  setup(m) {
    // The kernel's I/O APIC setup (the guest language reaches only the local APIC, ports and
    // MSRs, so the scenario writes IOREGSEL/IOWIN for it before the run): level (bit 15), active
    // low (bit 13), fixed, physical destination APIC 0.
    writeRedirection(m.platform, GSI, 0xa000 | VECTOR, 0x0000_0000);
    m.load(0, {
      main: [ENABLE_APIC, ...idleLoop(1)],
      handlers: { [VECTOR]: [{ op: 'inc', var: 'storm' }, { op: 'eoi' }, { op: 'iret' }] },
    });
    for (let cpu = 1; cpu < m.vcpus.length; cpu++) m.load(cpu, { main: [ENABLE_APIC, ...idleLoop(1)] });
    m.at(ASSERT_NS, { kind: 'irq', gsi: GSI, level: true });
  },
  notes(m) {
    const s = m.platform.ioapic.stats;
    return [
      `handler runs for the stuck line: ${mem(m, 'storm')}`,
      `I/O APIC: ${s.deliveries} deliveries, ${s.eois} EOIs, storm guard deferrals ${s.stormDeferrals} (threshold ${DEFAULT_STORM_THRESHOLD}, back-off ${DEFAULT_STORM_DELAY_NS / 1_000_000} ms)`,
    ];
  },
};
