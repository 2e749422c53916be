/**
 * ioapic-level-cycle: one level-triggered I/O APIC interrupt end to end, on IoApic + ApicBus +
 * one LocalApic (no Platform: no 8259A, no LINT wiring).
 */
import { LocalApic } from '../src/apic/local-apic.js';
import { ApicBus } from '../src/bus/apic-bus.js';
import { IoApic } from '../src/ioapic/ioapic.js';
import { Scheduler } from '../src/time/scheduler.js';
import type { Bench } from './common.js';

export interface IoApicState {
  ioapic: IoApic;
  apic: LocalApic;
}

const PIN = 5;
const VECTOR = 0x35;

export function ioapicSetup(): IoApicState {
  const clock = new Scheduler();
  const bus = new ApicBus();
  const apic = new LocalApic({ id: 0, clock, bus, bsp: true });
  apic.writeRegister(0xf0, 0x1ff); // SVR: enabled
  const ioapic = new IoApic({ bus, clock });
  bus.addEoiListener(ioapic);
  // Redirection entry: fixed, physical destination 0, active high, level-triggered, unmasked.
  ioapic.writeRegister(0x00, 0x10 + 2 * PIN + 1);
  ioapic.writeRegister(0x10, 0);
  ioapic.writeRegister(0x00, 0x10 + 2 * PIN);
  ioapic.writeRegister(0x10, (1 << 15) | VECTOR);
  return { ioapic, apic };
}

/**
 * One op: setPin(5, high) -> the message reaches the LocalApic (IRR, TMR, remote IRR set);
 * acknowledge(); the device deasserts in its handler: setPin(5, low); eoi() -> TMR set, so the
 * EOI is broadcast and clears remote IRR. (Deasserting before the EOI is Linux's fasteoi flow;
 * with the line still high at the EOI, every EOI would re-deliver.)
 */
export function ioapicRun(st: IoApicState, n: number): number {
  const { ioapic, apic } = st;
  let sink = 0;
  for (let i = 0; i < n; i++) {
    ioapic.setPin(PIN, true);
    sink += apic.acknowledge();
    ioapic.setPin(PIN, false);
    apic.eoi();
  }
  return sink;
}

export const ioapicBenches: Bench<IoApicState>[] = [
  {
    name: 'ioapic-level-cycle',
    unit: 'cycle',
    ops: 2_000_000,
    does:
      'IoApic.setPin(5, true) (level entry -> ApicBus.routeMessage -> LocalApic IRR/TMR), LocalApic.acknowledge(), IoApic.setPin(5, false), LocalApic.eoi() (EOI broadcast -> IoApic.eoi clears remote IRR)',
    setup: ioapicSetup,
    run: ioapicRun,
  },
];
