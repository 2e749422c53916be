/**
 * Classes off the fast paths keep their state in ES `#private` members (docs/performance.md,
 * "Private members"): an instance's own properties are its public API and nothing else, so a host
 * cannot come to depend on internal state. The lists are the public fields of the .d.ts.
 */
import { describe, expect, it } from 'vitest';
import { DeliveryChecker, Machine, Trace } from '../../src/index.js';

describe('internal state is private (#) outside the fast-path classes', () => {
  const m = new Machine({ cpus: 2, backend: 'vmx-posted' });

  it('Machine exposes only memory, costs, scheduler, platform, trace, vcpus and backend', () => {
    expect(Object.keys(m).sort()).toEqual(['backend', 'costs', 'memory', 'platform', 'scheduler', 'trace', 'vcpus']);
  });

  it('a Vcpu exposes only its documented run state', () => {
    expect(Object.keys(m.vcpus[0]!).sort()).toEqual(
      ['cpu', 'deliveries', 'gif', 'halted', 'idtUnmapped', 'instructions', 'interruptFlag', 'lastOp', 'level', 'nmiBlocked', 'state', 'x2apic'],
    );
  });

  it('Trace and DeliveryChecker expose only their options and counters', () => {
    expect(Object.keys(new Trace()).sort()).toEqual(['enabled', 'limit', 'onEvent']);
    expect(Object.keys(new DeliveryChecker(1))).toEqual(['counts']);
  });
});
