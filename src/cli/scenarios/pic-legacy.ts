/**
 * `pic-legacy`: a DOS-era guest on the 8259A pair alone. The firmware has globally disabled the
 * BSP's local APIC (IA32_APIC_BASE.EN = 0), so the 8259A's INT drives the CPU's INTR directly
 * (LINT0 becomes the raw INTR pin); the guest programs both 8259As with ICW1-4 through port I/O,
 * takes the PIT on IRQ0 and the keyboard on IRQ1 and EOIs them through port 0x20.
 *
 * @module
 */
import type { GuestProgram } from '../../guest/program.js';
import { every, mem, pulse, type Scenario } from './types.js';

/** Master and slave vector bases. Real-mode DOS uses 0x08/0x70; the model's handlers start at 16, so the guest remaps like a DOS extender. */
const MASTER_BASE = 0x20;
const SLAVE_BASE = 0x28;
const PIT_PERIOD_NS = 1_000_000;
const KEY_FIRST_NS = 2_500_000;
const KEY_PERIOD_NS = 4_000_000;
/** IA32_APIC_BASE.EN. */
const APIC_BASE_ENABLE = 1n << 11n;

export const picLegacy: Scenario = {
  name: 'pic-legacy',
  description: 'a DOS-era guest on the 8259A alone: ICW1-4 by port I/O, PIT on IRQ0, keyboard on IRQ1, EOI to port 0x20',
  details: [
    'The firmware globally disables the BSP\'s local APIC (IA32_APIC_BASE.EN = 0), so the 8259A drives',
    'INTR directly. The guest programs both 8259As with ICW1-4 (OUT to 0x20/0x21 and 0xA0/0xA1;',
    'vector bases 0x20/0x28, cascade on IR2), unmasks IRQ0-2 with OCW1 and idles in HLT. The PIT',
    'ticks at 1 kHz on IRQ0 (a square wave), a key arrives on IRQ1 every 4 ms; the handlers read the',
    'scancode (IN 0x60) and send a non-specific EOI (OUT 0x20, 0x20). Every port access exits (io);',
    'every interrupt is an ExtINT injected by event injection, whatever the backend. APs stay in',
    'wait-for-SIPI.',
  ].join('\n'),
  cpus: { default: 1, min: 1, max: 64 },
  untilNs: 20_000_000,
  // 100 s: its 1 kHz device source then schedules MAX_SCHEDULED_TIMES events before the run.
  maxUntilNs: 100_000_000_000,
  setup(m, ctx) {
    // Firmware: global disable of the BSP's local APIC (a DOS machine has none in use).
    const bsp = m.platform.lapics[0]!;
    bsp.writeMsr(0x1b, bsp.apicBaseMsr & ~APIC_BASE_ENABLE);
    const dos: GuestProgram = {
      main: [
        { op: 'out', port: 0x20, value: 0x11 }, // ICW1: edge, cascade, ICW4 follows
        { op: 'out', port: 0x21, value: MASTER_BASE }, // ICW2: master vectors
        { op: 'out', port: 0x21, value: 0x04 }, // ICW3: slave on IR2
        { op: 'out', port: 0x21, value: 0x01 }, // ICW4: 8086 mode
        { op: 'out', port: 0xa0, value: 0x11 },
        { op: 'out', port: 0xa1, value: SLAVE_BASE },
        { op: 'out', port: 0xa1, value: 0x02 }, // slave ID 2
        { op: 'out', port: 0xa1, value: 0x01 },
        { op: 'out', port: 0x21, value: 0xf8 }, // OCW1: IRQ0, IRQ1, IRQ2 (cascade) unmasked
        { op: 'out', port: 0xa1, value: 0xff }, // every slave IRQ masked
        { op: 'sti' },
        { op: 'hlt' },
        { op: 'jump', to: 11 },
      ],
      handlers: {
        [MASTER_BASE + 0]: [{ op: 'inc', var: 'ticks' }, { op: 'out', port: 0x20, value: 0x20 }, { op: 'iret' }],
        [MASTER_BASE + 1]: [
          { op: 'in', port: 0x60, into: 'scancode' },
          { op: 'inc', var: 'keys' },
          { op: 'out', port: 0x20, value: 0x20 },
          { op: 'iret' },
        ],
      },
    };
    m.load(0, dos);
    for (let cpu = 1; cpu < ctx.cpus; cpu++) m.load(cpu, { main: [{ op: 'done' }], waitForSipi: true });
    // The PIT's channel 0 square wave (high for half the period) and keyboard-controller pulses.
    for (const t of every(PIT_PERIOD_NS, PIT_PERIOD_NS, ctx.untilNs)) pulse(m, 0, t, PIT_PERIOD_NS / 2);
    for (const t of every(KEY_FIRST_NS, KEY_PERIOD_NS, ctx.untilNs)) pulse(m, 1, t, 20_000);
  },
  notes(m, ctx) {
    const ticks = every(PIT_PERIOD_NS, PIT_PERIOD_NS, ctx.untilNs).filter((t) => t <= m.scheduler.now()).length;
    const keys = every(KEY_FIRST_NS, KEY_PERIOD_NS, ctx.untilNs).filter((t) => t <= m.scheduler.now()).length;
    return [`8259A: timer IRQ0 handled ${mem(m, 'ticks')} of ${ticks} PIT ticks, keyboard IRQ1 handled ${mem(m, 'keys')} of ${keys} keys`];
  },
};
