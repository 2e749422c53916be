import { expect, it } from 'vitest';
import { Machine } from '../../src/machine/machine.js';

it('Machine.explain checks the vector before asking the backend', () => {
  for (const backend of ['svm-event', 'svm-vintr', 'vmx-event', 'vmx-vid', 'vmx-posted'] as const) {
    const m = new Machine({ cpus: 1, backend });
    m.load(0, { main: [{ op: 'mmio-write', offset: 0xf0, value: 0x1ff }, { op: 'sti' }, { op: 'hlt' }] });
    m.run(10_000);
    const hash = m.trace.hash();
    for (const v of [-1, 256, 48.5, Number.NaN]) expect(() => m.explain(0, v)).toThrow(/^vector must be an integer in 0\.\.255/);
    for (const v of [undefined, null, 5n, '0x41']) expect(() => m.explain(0, v as never)).toThrow(/^vector must be a number/);
    expect(m.trace.hash()).toBe(hash);
  }
});

it('costs.instructionNs must be at least 1 ns, so a guest loop cannot stop virtual time', () => {
  expect(() => new Machine({ cpus: 1, backend: 'vmx-vid', costs: { instructionNs: 0 } })).toThrow(/costs\.instructionNs must be an integer in 1\.\./);
  expect(() => new Machine({ cpus: 1, backend: 'vmx-vid', costs: { deliveryNs: 0 } })).not.toThrow();
});
