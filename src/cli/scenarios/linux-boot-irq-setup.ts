/**
 * `linux-boot-irq-setup`: the interrupt-controller register sequences of a Linux x86 boot, then
 * device and timer interrupts through every path. The platform-level version of the sequence is
 * the worked example of docs/platform.md (test/platform/boot.test.ts).
 *
 * @module
 */
import type { GuestProgram, Instr } from '../../guest/program.js';
import { ENABLE_APIC, every, mem, pulse, writeRedirection, type Scenario } from './types.js';

/** Linux's vectors: ISA_IRQ_VECTOR(0) = 0x30, a device, an MSI, LOCAL_TIMER, ERROR, SPURIOUS. */
const V_PIT = 0x30;
const V_KBD = 0x31;
const V_DISK = 0x41;
const V_NIC = 0x51;
const V_TIMER = 0xec;
const V_ERROR = 0xfe;
/** TDCR 0x3 = divide by 16; 62,500 counts of the 1 GHz timer clock / 16 = 1 ms (HZ = 1000). */
const TIMER_COUNT = 62_500;
const PIT_UNTIL_NS = 3_000_000;
const DISK_GSI = 16;

/** setup_local_APIC (xAPIC, flat logical mode), then the periodic local timer. */
function localApicSetup(cpu: number): Instr[] {
  return [
    { op: 'mmio-write', offset: 0x80, value: 0 }, // TPR 0: accept every class
    { op: 'mmio-write', offset: 0xe0, value: 0xffff_ffff }, // DFR: flat model
    { op: 'mmio-write', offset: 0xd0, value: cpu < 8 ? ((1 << (24 + cpu)) >>> 0) : 0 }, // LDR: one bit per CPU
    ENABLE_APIC, // SVR: enabled, spurious vector 0xFF
    { op: 'mmio-write', offset: 0x350, value: 0x10700 }, // LVT LINT0: ExtINT, masked (the 8259A path is closed)
    { op: 'mmio-write', offset: 0x360, value: cpu === 0 ? 0x400 : 0x10400 }, // LVT LINT1: NMI (BSP only)
    { op: 'mmio-write', offset: 0x370, value: V_ERROR }, // LVT error
    { op: 'mmio-write', offset: 0x280, value: 0 }, // ESR: clear (write, then read)
    { op: 'mmio-read', offset: 0x280 },
    { op: 'mmio-write', offset: 0x3e0, value: 0x3 }, // TDCR: divide by 16
    { op: 'mmio-write', offset: 0x320, value: (1 << 17) | V_TIMER }, // LVT timer: periodic, 0xEC
    { op: 'mmio-write', offset: 0x380, value: TIMER_COUNT }, // TMICT: 1 ms
  ];
}

/** init_8259A: mask, ICW1-4 on both chips (vectors 0x30 / 0x38), mask everything again. */
const PIC_INIT: Instr[] = [
  { op: 'out', port: 0x21, value: 0xff },
  { op: 'out', port: 0xa1, value: 0xff },
  { op: 'out', port: 0x20, value: 0x11 }, // ICW1
  { op: 'out', port: 0x21, value: 0x30 }, // ICW2: IRQ0-7 -> 0x30-0x37
  { op: 'out', port: 0x21, value: 0x04 }, // ICW3: slave on IR2
  { op: 'out', port: 0x21, value: 0x01 }, // ICW4: 8086, normal EOI
  { op: 'out', port: 0xa0, value: 0x11 },
  { op: 'out', port: 0xa1, value: 0x38 }, // IRQ8-15 -> 0x38-0x3F
  { op: 'out', port: 0xa1, value: 0x02 },
  { op: 'out', port: 0xa1, value: 0x01 },
  { op: 'out', port: 0x21, value: 0xff }, // symmetric I/O mode: the 8259A stays masked
  { op: 'out', port: 0xa1, value: 0xff },
];

/** INIT (assert, de-assert), then SIPI twice, to one AP by physical ID (Linux's wakeup_secondary_cpu_via_init). */
function startAp(ap: number): Instr[] {
  const dest: Instr = { op: 'mmio-write', offset: 0x310, value: (ap << 24) >>> 0 };
  return [
    dest,
    { op: 'mmio-write', offset: 0x300, value: 0xc500 }, // INIT, level, assert
    dest,
    { op: 'mmio-write', offset: 0x300, value: 0x8500 }, // INIT, level, de-assert
    { op: 'work', ns: 10_000 }, // "wait 10 ms" (scaled)
    dest,
    { op: 'mmio-write', offset: 0x300, value: 0x0608 }, // SIPI, start at 0x8000
    { op: 'work', ns: 200 },
    dest,
    { op: 'mmio-write', offset: 0x300, value: 0x0608 },
  ];
}

function handlers(cpu: number): GuestProgram['handlers'] {
  const simple = (counter: string): Instr[] => [{ op: 'inc', var: counter }, { op: 'eoi' }, { op: 'iret' }];
  return {
    [V_PIT]: simple('pit'),
    [V_KBD]: [{ op: 'in', port: 0x60, into: 'scancode' }, { op: 'inc', var: 'kbd' }, { op: 'eoi' }, { op: 'iret' }],
    // The driver reads the device's status (clearing its condition), then EOIs the level vector.
    [V_DISK]: [{ op: 'inc', var: 'disk' }, { op: 'work', ns: 2000 }, { op: 'eoi' }, { op: 'iret' }],
    [V_NIC]: simple('nic'),
    [V_TIMER]: simple(`timer${cpu}`),
    [V_ERROR]: simple(`apic-error${cpu}`),
  };
}

export const linuxBootIrqSetup: Scenario = {
  name: 'linux-boot-irq-setup',
  description: 'Linux boot: 8259A init and mask, LAPIC setup, I/O APIC entries, INIT-SIPI-SIPI, then device and timer IRQs',
  details: [
    'The BSP runs Linux\'s sequences: init_8259A by port I/O (vectors 0x30/0x38, then fully masked),',
    'setup_local_APIC (TPR, DFR/LDR flat, SVR 0x1FF, LINT0 masked ExtINT, LINT1 NMI, LVT error, ESR),',
    'a periodic local timer (vector 0xEC, divide 16, 1 ms), then INIT / INIT de-assert / SIPI / SIPI to',
    'each AP; each AP runs setup_local_APIC and its timer. The I/O APIC entries (IRQ0 -> pin 2 vector',
    '0x30, keyboard pin 1 vector 0x31, PCI INTA# GSI 16 level active low vector 0x41 to the last vCPU)',
    'are written by the scenario through IOREGSEL/IOWIN before the run (the guest language reaches only',
    'the local APIC, ports and MSRs). Devices: the PIT for 3 ms, a key every 5 ms, a disk (level)',
    'every 2 ms, a NIC MSI every 1 ms to the last vCPU.',
  ].join('\n'),
  cpus: { default: 2, min: 1, max: 8 },
  untilNs: 20_000_000,
  // 100 s: its 1 kHz device source then schedules MAX_SCHEDULED_TIMES events before the run.
  maxUntilNs: 100_000_000_000,
  explainHint: '0:0xec',
  setup(m, ctx) {
    const n = ctx.cpus;
    const last = n - 1;
    // setup_IO_APIC: redirection entries (high half = destination APIC ID in bits 31:24).
    writeRedirection(m.platform, 2, V_PIT, 0); // PIT (ISA IRQ0 via the MADT override): edge, CPU 0
    writeRedirection(m.platform, 1, V_KBD, 0); // keyboard: edge, CPU 0
    writeRedirection(m.platform, DISK_GSI, 0xa000 | V_DISK, (last << 24) >>> 0); // PCI: level, active low
    const bsp: Instr[] = [...PIC_INIT, ...localApicSetup(0)];
    for (let ap = 1; ap < n; ap++) bsp.push(...startAp(ap));
    const idleAt = bsp.length;
    bsp.push({ op: 'sti' }, { op: 'hlt' }, { op: 'jump', to: idleAt + 1 });
    m.load(0, { main: bsp, handlers: handlers(0) });
    for (let ap = 1; ap < n; ap++) {
      const main = [...localApicSetup(ap)];
      const at = main.length;
      main.push({ op: 'sti' }, { op: 'hlt' }, { op: 'jump', to: at + 1 });
      m.load(ap, { main, handlers: handlers(ap), waitForSipi: true });
    }
    for (const t of every(1_000_000, 1_000_000, Math.min(PIT_UNTIL_NS + 1, ctx.untilNs))) pulse(m, 0, t, 500_000);
    for (const t of every(2_500_000, 5_000_000, ctx.untilNs)) pulse(m, 1, t, 20_000);
    for (const t of every(1_500_000, 2_000_000, ctx.untilNs)) pulse(m, DISK_GSI, t, 500);
    for (const t of every(1_250_000, 1_000_000, ctx.untilNs)) {
      m.at(t, { kind: 'msi', address: (0xfee0_0000 | (last << 12)) >>> 0, data: V_NIC });
    }
  },
  notes(m, ctx) {
    const now = m.scheduler.now();
    const count = (first: number, period: number, until: number): number => every(first, period, until).filter((t) => t <= now).length;
    const timers: string[] = [];
    let started = 0;
    for (let cpu = 0; cpu < ctx.cpus; cpu++) {
      timers.push(String(mem(m, `timer${cpu}`)));
      if (cpu > 0 && m.vcpus[cpu]!.state !== 'wait-for-sipi') started++;
    }
    return [
      `APs started: ${started} of ${ctx.cpus - 1}; LAPIC timer ticks per vCPU: ${timers.join(' ')}`,
      `devices handled: PIT ${mem(m, 'pit')} of ${count(1_000_000, 1_000_000, Math.min(PIT_UNTIL_NS + 1, ctx.untilNs))}, ` +
        `keyboard ${mem(m, 'kbd')} of ${count(2_500_000, 5_000_000, ctx.untilNs)}, ` +
        `disk (level) ${mem(m, 'disk')} of ${count(1_500_000, 2_000_000, ctx.untilNs)}, ` +
        `NIC MSI ${mem(m, 'nic')} of ${count(1_250_000, 1_000_000, ctx.untilNs)}`,
    ];
  },
};
