/**
 * Surface: RDMSR / WRMSR of the x2APIC range 0x800-0x8FF, IA32_APIC_BASE (0x1B) and
 * IA32_TSC_DEADLINE (0x6E0), with mode transitions and fabric traffic in between.
 *
 * Besides the shared invariants: a #GP write (writeMsr returns false) changes nothing anywhere;
 * reads return a u64 or undefined; IA32_APIC_BASE only makes the SDM's legal transitions; the
 * xAPIC window is dead outside xAPIC mode.
 */
import fc from 'fast-check';
import { describe, expect } from 'vitest';
import type { ApicMode } from '../../src/apic/local-apic.js';
import { Platform } from '../../src/platform/platform.js';
import { apicBaseValue, lapicGuestValue, lapicOffset, msrNumber, msrValue, someVector, timeStep, sequence } from './arbitraries.js';
import { fuzz } from './config.js';
import { checkIoApic, checkLapic } from './invariants.js';
import { observePlatform } from './observe.js';

type Op =
  | { k: 'wrmsr'; cpu: number; msr: number; v: bigint }
  | { k: 'rdmsr'; cpu: number; msr: number }
  | { k: 'base'; cpu: number; v: bigint }
  | { k: 'mmio'; cpu: number; off: number; v: number }
  | { k: 'accept'; cpu: number; v: number; level: boolean }
  | { k: 'ack'; cpu: number }
  | { k: 'eoi'; cpu: number }
  | { k: 'time'; dt: number };

const cpu = fc.integer({ min: 0, max: 1 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ k: fc.constant('wrmsr' as const), cpu, msr: msrNumber, v: msrValue }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('rdmsr' as const), cpu, msr: msrNumber }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('base' as const), cpu, v: apicBaseValue }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('mmio' as const), cpu, off: lapicOffset, v: lapicGuestValue }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('accept' as const), cpu, v: someVector, level: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('ack' as const), cpu }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('eoi' as const), cpu }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('time' as const), dt: timeStep }) },
);

/** SDM "x2APIC State Transitions": the only mode changes a successful write may make. */
const LEGAL: ReadonlySet<string> = new Set(['disabled>xapic', 'xapic>x2apic', 'x2apic>disabled', 'xapic>disabled']);

function legal(from: ApicMode, to: ApicMode): boolean {
  return from === to || LEGAL.has(`${from}>${to}`);
}

const setupArb = fc.record({ x2apic: fc.boolean(), enable: fc.boolean() });

function run(setup: { x2apic: boolean; enable: boolean }, ops: readonly Op[], check: boolean): Platform {
  const pc = new Platform({ cpus: 2, x2apic: setup.x2apic });
  const clock = pc.scheduler!;
  if (setup.enable) {
    for (const a of pc.lapics) {
      if (a.mode === 'x2apic') a.writeMsr(0x80f, 0x1ffn);
      else a.writeRegister(0xf0, 0x1ff);
    }
  }
  for (const op of ops) {
    const apic = op.k === 'time' ? undefined : pc.lapics[op.cpu]!;
    switch (op.k) {
      case 'wrmsr':
      case 'base': {
        const msr = op.k === 'base' ? 0x1b : op.msr;
        const before = check ? observePlatform(pc) : undefined;
        const from = apic!.mode;
        const ok = apic!.writeMsr(msr, op.v);
        if (!check) break;
        expect(typeof ok).toBe('boolean');
        // #GP: nothing changes, on this CPU or anywhere else.
        if (!ok) expect(observePlatform(pc)).toEqual(before);
        expect(legal(from, apic!.mode), `${from} -> ${apic!.mode} by ${op.v.toString(16)}`).toBe(true);
        if (ok && msr === 0x1b) expect(apic!.apicBaseMsr).toBe(op.v);
        // Any x2APIC MSR outside x2APIC mode is #GP.
        if (msr >= 0x800 && msr <= 0x8ff && from !== 'x2apic') expect(ok).toBe(false);
        break;
      }
      case 'rdmsr': {
        const before = check ? observePlatform(pc) : undefined;
        const value = apic!.readMsr(op.msr);
        if (!check) break;
        if (value !== undefined) {
          expect(typeof value).toBe('bigint');
          expect(value >= 0n && value < 1n << 64n).toBe(true);
          // x2APIC registers other than ICR are 32 bits wide.
          if (op.msr >= 0x800 && op.msr <= 0x8ff && op.msr !== 0x830) expect(value < 1n << 32n).toBe(true);
        }
        if (op.msr >= 0x800 && op.msr <= 0x8ff && apic!.mode !== 'x2apic') expect(value).toBeUndefined();
        // Reads have no side effects.
        expect(observePlatform(pc)).toEqual(before);
        break;
      }
      case 'mmio': {
        const before = check && apic!.mode !== 'xapic' ? observePlatform(pc) : undefined;
        apic!.writeRegister(op.off, op.v);
        const r = apic!.readRegister(op.off);
        if (before) {
          // The xAPIC window is not decoded in x2APIC or disabled mode: reads all ones,
          // writes do nothing.
          expect(r).toBe(0xffff_ffff);
          expect(observePlatform(pc)).toEqual(before);
        }
        break;
      }
      case 'accept':
        apic!.acceptInterrupt(op.v, op.level);
        break;
      case 'ack':
        apic!.acknowledge();
        break;
      case 'eoi':
        apic!.eoi();
        break;
      case 'time':
        clock.runUntil(clock.now() + op.dt);
        break;
    }
    if (check) {
      for (const a of pc.lapics) checkLapic(a);
      checkIoApic(pc.ioapic, clock.pending());
      expect(clock.pending()).toBeLessThanOrEqual(pc.lapics.length + 1);
    }
  }
  return pc;
}

describe('fuzz: x2APIC MSRs and IA32_APIC_BASE', () => {
  fuzz('x2apic msr random sequences never throw, #GP changes nothing, transitions are legal', () =>
    fc.property(setupArb, sequence(opArb, 60), (setup, ops) => {
      run(setup, ops, true);
    }),
  );

  fuzz('x2apic msr the same sequence gives the same state', () =>
    fc.property(setupArb, sequence(opArb, 60), (setup, ops) => {
      expect(observePlatform(run(setup, ops, false))).toEqual(observePlatform(run(setup, ops, false)));
    }),
    { scale: 0.5 },
  );
});
