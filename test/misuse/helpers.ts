/**
 * Host-misuse checks (issue 8): a call with an impossible argument throws a RangeError or
 * TypeError whose message names the argument (and, for ranges, the allowed range), and leaves
 * every observable bit of state exactly as it was.
 *
 * @module
 */
import { expect } from 'vitest';
import { LocalApic } from '../../src/apic/local-apic.js';
import { ApicBus } from '../../src/bus/apic-bus.js';
import { IoApic } from '../../src/ioapic/ioapic.js';
import { Platform } from '../../src/platform/platform.js';
import { Scheduler } from '../../src/time/scheduler.js';
import { observeBus, observeIoApic, observeLapic, observePlatform, observeScheduler } from '../fuzz/observe.js';

export type ErrorType = typeof RangeError | typeof TypeError;

/** A misuse case: what to call, the error class, and what the message must say. */
export interface Case<T> {
  name: string;
  call: (subject: T) => unknown;
  error: ErrorType;
  message: RegExp;
}

/** Builds a case (keeps the tables short). */
export function c<T>(name: string, call: (subject: T) => unknown, error: ErrorType, message: RegExp): Case<T> {
  return { name, call, error, message };
}

/**
 * Asserts that `call` throws `error` with a message matching `message`, and that `observe()`
 * returns the same thing before and after.
 */
export function expectRejected(observe: () => unknown, call: () => unknown, error: ErrorType, message: RegExp): void {
  const before = observe();
  let thrown: unknown;
  try {
    call();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, 'the call did not throw').toBeDefined();
  // RangeError and TypeError are siblings: one is never an instance of the other.
  expect(thrown).toBeInstanceOf(error);
  expect((thrown as Error).message).toMatch(message);
  expect(observe(), 'state changed although the call threw').toEqual(before);
}

/** Something a host cannot mean as a number, and the numbers that are out of every range. */
export const NOT_NUMBERS: ReadonlyArray<readonly [string, unknown]> = [
  ['a string', '5'],
  ['a bigint', 5n],
  ['undefined', undefined],
  ['null', null],
  ['a boolean', true],
  ['an object', {}],
];
export const NOT_BOOLEANS: ReadonlyArray<readonly [string, unknown]> = [
  ['the number 1', 1],
  ['the number 0', 0],
  ["the string 'true'", 'true'],
  ['undefined', undefined],
  ['null', null],
];
export const BAD_INTEGERS: ReadonlyArray<readonly [string, number]> = [
  ['NaN', Number.NaN],
  ['Infinity', Number.POSITIVE_INFINITY],
  ['-Infinity', Number.NEGATIVE_INFINITY],
  ['a fraction', 1.5],
];

/** A local APIC world in a busy state: requests pending and in service, timer armed, errors latched. */
export interface LapicWorld {
  clock: Scheduler;
  bus: ApicBus;
  apic: LocalApic;
  other: LocalApic;
  io: IoApic;
  observe: () => unknown;
}

export function busyLapic(opts: { x2apic?: boolean } = {}): LapicWorld {
  const clock = new Scheduler();
  const bus = new ApicBus();
  const apic = new LocalApic({ id: 0, clock, bus, bsp: true, x2apic: opts.x2apic ?? false });
  const other = new LocalApic({ id: 1, clock, bus, x2apic: opts.x2apic ?? false });
  const io = new IoApic({ bus, clock });
  bus.addEoiListener(io);
  const write = (a: LocalApic, off: number, v: number): void => {
    if (a.mode === 'x2apic') a.writeMsr(0x800 + (off >> 4), BigInt(v));
    else a.writeRegister(off, v);
  };
  for (const a of [apic, other]) write(a, 0xf0, 0x1ff);
  write(apic, 0x80, 0x20); // TPR
  apic.acceptInterrupt(0x45, true);
  apic.acceptInterrupt(0x31, false);
  apic.acknowledge(); // 0x45 in service, PPR 0x40
  apic.acceptInterrupt(0x90, false);
  write(apic, 0x320, (1 << 17) | 0xef); // periodic timer, armed
  write(apic, 0x380, 1_000_000);
  if (apic.mode === 'xapic') apic.readRegister(0x010); // an illegal register: ESR bit 7 latched
  clock.runUntil(123_456);
  const observe = (): unknown => ({
    apic: observeLapic(apic),
    other: observeLapic(other),
    io: observeIoApic(io),
    bus: observeBus(bus),
    clock: observeScheduler(clock),
  });
  return { clock, bus, apic, other, io, observe };
}

/** A platform in a busy state: PIC initialised with a request in service, I/O APIC entries set. */
export function busyPlatform(opts: { cpus?: number; x2apic?: boolean } = {}): { pc: Platform; observe: () => unknown } {
  const pc = new Platform({ cpus: opts.cpus ?? 2, x2apic: opts.x2apic ?? false });
  for (const [port, v] of [[0x20, 0x11], [0x21, 0x08], [0x21, 0x04], [0x21, 0x01], [0xa0, 0x11], [0xa1, 0x70], [0xa1, 0x02], [0xa1, 0x01]] as const) {
    pc.pic.ioWrite(port, v);
  }
  for (const a of pc.lapics) {
    if (a.mode === 'x2apic') a.writeMsr(0x80f, 0x1ffn);
    else a.writeRegister(0xf0, 0x1ff);
  }
  pc.ioapic.writeRegister(0x00, 0x10 + 2 * 16);
  pc.ioapic.writeRegister(0x10, 0xa000 | 0x41); // PCI INTA#: level, active low, vector 0x41
  pc.setIrq(16, true);
  pc.setIrq(1, true); // keyboard on the PIC
  pc.scheduler!.runUntil(1000);
  return { pc, observe: () => observePlatform(pc) };
}
