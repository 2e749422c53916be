import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeSnapshot, encodeSnapshot, FORMAT_MAJOR, LIBRARY_VERSION, listSections } from '../../src/codec/container.js';
import { crc32 } from '../../src/codec/crc32.js';
import { SnapshotError } from '../../src/errors.js';
import type { BackendName } from '../../src/inject/backend.js';
import { Machine } from '../../src/machine/machine.js';
import { buildScenario, checkApic, RUN_NS, scenario } from '../machine/scenario.js';
import pkg from '../../package.json' with { type: 'json' };
import { propertyRuns } from '../fuzz/config.js';

const RUNS = propertyRuns(15);
const BACKENDS: BackendName[] = ['svm-event', 'svm-vintr', 'vmx-event', 'vmx-vid', 'vmx-posted'];

/** Re-signs a snapshot whose body was edited, so the CRC passes and field validation is tested. */
function resign(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  new DataView(out.buffer).setUint32(out.length - 4, crc32(out, 0, out.length - 4), true);
  return out;
}

function lostIpiMachine(): Machine {
  const m = new Machine({ cpus: 2, backend: 'svm-vintr' });
  const enable = { op: 'mmio-write', offset: 0xf0, value: 0x1ff } as const;
  m.load(0, { main: [enable, { op: 'ipi', dest: 1, vector: 0x40 }, { op: 'wait', var: 'ack', cmp: 'ge', value: 1 }, { op: 'ipi', dest: 1, vector: 0x40 }, { op: 'done' }] });
  m.load(1, {
    main: [enable, { op: 'sti' }, { op: 'hlt' }, { op: 'jump', to: 2 }],
    handlers: { 0x40: [{ op: 'inc', var: 'ack' }, { op: 'work', ns: 5000 }, { op: 'eoi' }, { op: 'iret' }] },
  });
  return m;
}

describe('Machine snapshots: round trip', () => {
  it('restore in the middle of the lost-IPI race continues exactly like the original', () => {
    const a = lostIpiMachine();
    a.run(2_100); // V_IRQ delivered, not yet synced
    const b = Machine.restore(a.snapshot());
    a.run(1_000_000);
    b.run(1_000_000);
    expect(b.trace.hash()).toBe(a.trace.hash());
    expect(b.stats()).toEqual(a.stats());
    expect(b.memory.get('ack')).toBe(1);
    expect(b.stats().cpus[1]!.lost).toBe(1);
  });

  it.each(BACKENDS)('%s: snapshot at any time -> restore -> run gives the same trace as running on (fast-check)', (backend) => {
    fc.assert(
      fc.property(scenario, fc.integer({ min: 0, max: RUN_NS }), (s, cut) => {
        const a = buildScenario(backend, s);
        a.run(cut);
        const b = Machine.restore(a.snapshot());
        a.run(RUN_NS);
        b.run(RUN_NS);
        expect(b.trace.hash()).toBe(a.trace.hash());
        expect(b.stats()).toEqual(a.stats());
        expect([...b.memory]).toEqual([...a.memory]);
      }),
      { numRuns: RUNS },
    );
  });

  it('a restored machine snapshots and restores again without drifting', () => {
    const a = lostIpiMachine();
    a.run(3_000);
    const twice = Machine.restore(Machine.restore(a.snapshot()).snapshot());
    a.run(1_000_000);
    twice.run(1_000_000);
    expect(twice.trace.hash()).toBe(a.trace.hash());
  });
});

describe('Machine snapshots: format', () => {
  it('is self-describing: a header with format and library version, then named, versioned sections', () => {
    const bytes = lostIpiMachine().snapshot();
    const c = decodeSnapshot(bytes);
    expect(c.kind).toBe('machine');
    expect(c.libraryVersion).toBe(LIBRARY_VERSION);
    const names = listSections(bytes).map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(['machine', 'platform', 'bus', 'lapic.0', 'lapic.1', 'ioapic', 'pic', 'vcpu.0', 'vcpu.1', 'events', 'memory', 'backend', 'checker', 'trace']));
    expect(listSections(bytes).find((s) => s.name === 'trace')!.optional).toBe(true);
  });

  it('the library version in snapshots is the package version', () => {
    expect(LIBRARY_VERSION).toBe(pkg.version);
  });

  it('a newer major format is rejected with a clear error', () => {
    const bytes = lostIpiMachine().snapshot().slice();
    new DataView(bytes.buffer).setUint16(4, FORMAT_MAJOR + 1, true);
    expect(() => Machine.restore(resign(bytes))).toThrow(/newer than this library reads/);
  });

  it('an unknown optional section is skipped; an unknown required section is rejected', () => {
    const m = lostIpiMachine();
    m.run(1_000);
    const c = decodeSnapshot(m.snapshot());
    const sections = c.list().map((info) => ({ ...info, payload: sectionBytes(m.snapshot(), info.name) }));
    const extra = { name: 'future-thing', version: 1, optional: true, payload: new Uint8Array([1, 2, 3]) };
    const withOptional = encodeSnapshot('machine', [...sections, extra]);
    expect(() => Machine.restore(withOptional)).not.toThrow();
    const withRequired = encodeSnapshot('machine', [...sections, { ...extra, optional: false }]);
    expect(() => Machine.restore(withRequired)).toThrow(/'future-thing' is required but unknown/);
  });

  it('a section of a newer version is rejected naming the section', () => {
    const m = lostIpiMachine();
    const bytes = m.snapshot();
    const sections = decodeSnapshot(bytes).list().map((info) => ({ ...info, payload: sectionBytes(bytes, info.name) }));
    const bumped = sections.map((s) => (s.name === 'ioapic' ? { ...s, version: 9 } : s));
    expect(() => Machine.restore(encodeSnapshot('machine', bumped))).toThrow(/'ioapic' has version 9/);
  });
});

/** The payload of one section (test helper going through the public decoder). */
function sectionBytes(bytes: Uint8Array, name: string): Uint8Array {
  const r = decodeSnapshot(bytes).reader(name, 0xffff);
  const info = decodeSnapshot(bytes).list().find((s) => s.name === name)!;
  return r.bytes('all', info.length);
}

describe('Machine snapshots: hostile input', () => {
  const base = (() => {
    const m = buildScenario('vmx-posted', fc.sample(scenario, { numRuns: 1, seed: 3 })[0]!);
    m.run(20_000);
    return m.snapshot();
  })();

  /** Either a SnapshotError, or a machine whose state passes the invariants and keeps running. */
  function restoreOrReject(bytes: Uint8Array): void {
    let m: Machine;
    try {
      m = Machine.restore(bytes);
    } catch (e) {
      expect(e).toBeInstanceOf(SnapshotError);
      return;
    }
    for (const apic of m.platform.lapics) checkApic(apic);
    m.run(m.scheduler.now() + 10_000);
    for (const apic of m.platform.lapics) checkApic(apic);
  }

  it('truncated snapshots are rejected with SnapshotError', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: base.length - 1 }), (n) => {
        expect(() => Machine.restore(base.slice(0, n))).toThrow(SnapshotError);
      }),
      { numRuns: RUNS * 4 },
    );
  });

  it('bit flips anywhere either fail with SnapshotError or restore a valid machine', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 7 })), { minLength: 1, maxLength: 4 }), (flips) => {
        const bytes = base.slice();
        for (const [i, bit] of flips) bytes[i] ^= 1 << bit;
        restoreOrReject(bytes);
      }),
      { numRuns: RUNS * 4 },
    );
  });

  it('hand-crafted snapshots with a valid checksum are validated field by field', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(base.length - 5), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), (edits) => {
        const bytes = base.slice();
        for (const [i, v] of edits) bytes[i] = v;
        restoreOrReject(resign(bytes));
      }),
      { numRuns: RUNS * 6 },
    );
  });

  it('prototype-polluting keys in the embedded JSON are rejected', () => {
    const text = JSON.stringify({ cpus: 1, backend: 'vmx-vid' });
    const evil = text.replace('{', '{"__proto__":{"polluted":1},');
    const w = encodeSnapshot('machine', [
      { name: 'machine', version: 1, optional: false, payload: machineSection(evil) },
    ]);
    expect(() => Machine.restore(w)).toThrow(/__proto__/);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('non-Uint8Array input is a SnapshotError', () => {
    expect(() => Machine.restore('snapshot' as never)).toThrow(SnapshotError);
    expect(() => Machine.restore(new Uint8Array(3))).toThrow(/truncated/);
  });
});

function machineSection(optionsJson: string): Uint8Array {
  const enc = new TextEncoder().encode(optionsJson);
  const out = new Uint8Array(4 + enc.length + 4 + 8);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, enc.length, true);
  out.set(enc, 4);
  return out;
}
