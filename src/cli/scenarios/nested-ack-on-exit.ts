/**
 * `nested-ack-on-exit`: an L1 hypervisor's own timer ticks while its L2 guest computes, with and
 * without VMX "acknowledge interrupt on exit" — the two L1 configurations of docs/nested.md
 * rules 1 and 2, side by side on two vCPUs.
 *
 * @module
 */
import type { GuestProgram, Instr, NestedControls } from '../../guest/program.js';
import type { Machine } from '../../machine/machine.js';
import { ENABLE_APIC, mem, type Scenario, type ScenarioContext } from './types.js';

/** Linux's LOCAL_TIMER_VECTOR: L1's tick. */
const VECTOR = 0xec;
const PERIOD_NS = 250_000;
/** How long L2 computes before it shuts down. */
const L2_NS = 5_000_000;
/** Exit codes of a triple fault / SHUTDOWN (L2's end). */
const SHUTDOWN = { vmx: 2, svm: 0x7f } as const;

/** Odd vCPUs run the L1 that sets acknowledge-on-exit (VMX only). */
const acks = (ctx: ScenarioContext, cpu: number): boolean => isVmx(ctx) && cpu % 2 === 1;
const isVmx = (ctx: ScenarioContext): boolean => ctx.backend.startsWith('vmx');

function l1(ctx: ScenarioContext, cpu: number): GuestProgram {
  const vmx = isVmx(ctx);
  const controls: NestedControls = vmx ? { extIntExiting: true, ackOnExit: acks(ctx, cpu) } : { interceptIntr: true, vIntrMasking: true };
  // The exit handler: read the exit; a tick that came with the exit is counted and EOIed here
  // (KVM calls the handler itself); then a short window for interrupts and back into L2.
  const vmexit: Instr[] = [
    { op: 'exit-info', reason: `reason${cpu}`, vector: `vector${cpu}` },
    { op: 'branch', var: `vector${cpu}`, cmp: 'lt', value: 0, to: 4 },
    { op: 'inc', var: `ticks${cpu}` },
    { op: 'eoi' },
    ...(vmx ? [{ op: 'sti' }, { op: 'nop' }, { op: 'cli' }] : [{ op: 'stgi' }, { op: 'nop' }, { op: 'clgi' }]) as Instr[],
  ];
  vmexit.push({ op: 'branch', var: `reason${cpu}`, cmp: 'eq', value: SHUTDOWN[vmx ? 'vmx' : 'svm'], to: vmexit.length + 2 }, { op: 'vmresume' });
  return {
    main: [
      ENABLE_APIC,
      { op: 'mmio-write', offset: 0x3e0, value: 0xb }, // TDCR: divide by 1
      { op: 'mmio-write', offset: 0x320, value: (1 << 17) | VECTOR }, // LVT timer: periodic
      { op: 'mmio-write', offset: 0x380, value: PERIOD_NS }, // TMICT: L1's tick
      ...((vmx ? [{ op: 'cli' }] : [{ op: 'clgi' }, { op: 'sti' }]) as Instr[]),
      { op: 'vmlaunch', controls },
      ...((vmx ? [] : [{ op: 'stgi' }]) as Instr[]),
      { op: 'sti' },
      { op: 'hlt' },
      { op: 'done' },
    ],
    handlers: { [VECTOR]: [{ op: 'inc', var: `ticks${cpu}` }, { op: 'eoi' }, { op: 'iret' }] },
    vmexit,
    l2: { main: [{ op: 'sti' }, { op: 'work', ns: L2_NS }, { op: 'done' }] },
  };
}

export const nestedAckOnExit: Scenario = {
  name: 'nested-ack-on-exit',
  description: "L1's timer ticks while its L2 computes: exits with and without VMX acknowledge-interrupt-on-exit",
  details: [
    'Each vCPU runs an L1 hypervisor with a periodic local APIC timer (vector 0xEC, 250 us) and',
    'external-interrupt exiting, and launches an L2 that computes for 5 ms. Even vCPUs run L1',
    'without "acknowledge interrupt on exit": each tick makes L2 exit to L1 with no vector, L1',
    'resumes with interrupts disabled and takes the tick through its IDT when it enables them -',
    'under event injection one more exit, the interrupt window. Odd vCPUs set acknowledge-on-exit',
    '(as Xen does): the exit carries 0xEC, already moved to ISR, and L1 handles it at once. SVM has',
    'no acknowledge-on-exit: there every vCPU intercepts INTR (docs/nested.md).',
  ].join('\n'),
  cpus: { default: 2, min: 2, max: 64 },
  untilNs: 6_000_000,
  backend: 'vmx-event',
  explainHint: '0:0xec',
  setup(m: Machine, ctx: ScenarioContext) {
    for (let cpu = 0; cpu < ctx.cpus; cpu++) m.load(cpu, l1(ctx, cpu));
  },
  notes(m: Machine, ctx: ScenarioContext) {
    const stats = m.stats().cpus;
    const lines: string[] = [];
    for (let cpu = 0; cpu < Math.min(ctx.cpus, 2); cpu++) {
      const s = stats[cpu]!;
      const l1Windows = s.exits['interrupt-window'] - s.exitsFromL2['interrupt-window'];
      const what = acks(ctx, cpu) ? 'L1 with ack-on-exit:   ' : isVmx(ctx) ? 'L1 without ack-on-exit:' : 'L1 intercepts INTR:';
      lines.push(
        `vCPU ${cpu}, ${what} ${mem(m, `ticks${cpu}`)} ticks, ${s.nestedExits['external-interrupt']} exits L2 -> L1 (${s.ackedOnExit} with the vector), ${l1Windows} interrupt-window exits, ${s.exitCount} exits to L0`,
      );
    }
    if (isVmx(ctx)) {
      const saved = stats[0]!.exitCount - stats[1]!.exitCount;
      lines.push(`acknowledge-on-exit saves ${saved} exits to L0 on vCPU 1 (${mem(m, 'ticks1')} ticks)`);
    } else {
      lines.push('SVM has no acknowledge-on-exit: both vCPUs run the INTR-intercept configuration');
    }
    return lines;
  },
};
