/**
 * IPI benchmarks on an ApicBus with x2APIC LocalApics. The sender hands a validated ICR to the
 * bus (ApicBus.sendIpi, what an ICR write does after its checks), and every target then takes the
 * interrupt as its CPU would (acknowledge + EOI), so each delivery is a new IRR 0 -> 1 transition.
 * One op = one target served.
 */
import { LocalApic } from '../src/apic/local-apic.js';
import { ApicBus } from '../src/bus/apic-bus.js';
import { Scheduler } from '../src/time/scheduler.js';
import type { Bench } from './common.js';

export interface IpiState {
  bus: ApicBus;
  apics: LocalApic[];
}

const VECTOR = 0x40;
/** ICR low: vector 0x40, fixed, physical, no shorthand. */
const ICR_FIXED = VECTOR;
const X2APIC_BROADCAST = 0xffff_ffff;

export function ipiSetup(cpus: number): IpiState {
  const clock = new Scheduler();
  const bus = new ApicBus();
  const apics: LocalApic[] = [];
  for (let i = 0; i < cpus; i++) {
    const apic = new LocalApic({ id: i, clock, bus, bsp: i === 0, x2apic: true });
    apic.writeMsr(0x80f, 0x1ffn); // SVR: software enable
    apics.push(apic);
  }
  return { bus, apics };
}

/** One op: sendIpi(cpu 0 -> cpu 1, physical), then cpu 1 acknowledge() + eoi(). */
export function ipiUnicastRun(st: IpiState, n: number): number {
  const { bus, apics } = st;
  const from = apics[0]!;
  const to = apics[1]!;
  let sink = 0;
  for (let i = 0; i < n; i++) {
    bus.sendIpi(from, ICR_FIXED, 1);
    sink += to.acknowledge();
    to.eoi();
  }
  return sink;
}

/** One op per target: sendIpi(cpu 0 -> 0xFFFFFFFF) reaches all N; each does acknowledge() + eoi(). */
export function ipiBroadcastRun(st: IpiState, n: number): number {
  const { bus, apics } = st;
  const from = apics[0]!;
  const count = apics.length;
  let sink = 0;
  for (let done = 0; done < n; done += count) {
    bus.sendIpi(from, ICR_FIXED, X2APIC_BROADCAST);
    for (let c = 0; c < count; c++) {
      const apic = apics[c]!;
      sink += apic.acknowledge();
      apic.eoi();
    }
  }
  return sink;
}

function broadcast(cpus: number): Bench<IpiState> {
  return {
    name: `ipi-broadcast-${cpus}`,
    unit: 'target',
    ops: 2_000_000,
    does: `ApicBus.sendIpi(cpu 0, fixed vector 0x40, physical destination 0xFFFFFFFF) to ${cpus} x2APIC LocalApics, then acknowledge() + eoi() on each; op = one target`,
    setup: () => ipiSetup(cpus),
    run: ipiBroadcastRun,
  };
}

export const ipiBenches: Bench<IpiState>[] = [
  {
    name: 'ipi-unicast',
    unit: 'ipi',
    ops: 2_000_000,
    does: 'ApicBus.sendIpi(cpu 0 -> physical x2APIC ID 1, fixed vector 0x40), then acknowledge() + eoi() on cpu 1; 2 x2APIC LocalApics',
    setup: () => ipiSetup(2),
    run: ipiUnicastRun,
  },
  broadcast(4),
  broadcast(64),
  broadcast(1024),
];
