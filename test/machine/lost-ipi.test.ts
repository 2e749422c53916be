import { describe, expect, it } from 'vitest';
import type { GuestProgram } from '../../src/guest/program.js';
import type { BackendName } from '../../src/inject/backend.js';
import { Machine } from '../../src/machine/machine.js';

const VECTOR = 0x40;

/** vCPU 0 sends an IPI, waits until vCPU 1's handler acknowledges it through memory, sends again. */
const sender: GuestProgram = {
  main: [
    { op: 'mmio-write', offset: 0xf0, value: 0x1ff },
    { op: 'ipi', dest: 1, vector: VECTOR },
    { op: 'wait', var: 'ack', cmp: 'ge', value: 1 },
    { op: 'ipi', dest: 1, vector: VECTOR },
    { op: 'done' },
  ],
};

/** vCPU 1 idles with interrupts on; its handler acknowledges (no exit), works, then EOIs. */
const receiver: GuestProgram = {
  main: [
    { op: 'mmio-write', offset: 0xf0, value: 0x1ff },
    { op: 'sti' },
    { op: 'hlt' },
    { op: 'jump', to: 2 },
  ],
  handlers: {
    [VECTOR]: [{ op: 'inc', var: 'ack' }, { op: 'work', ns: 5000 }, { op: 'eoi' }, { op: 'iret' }],
  },
};

function race(backend: BackendName, intermediateState = false): Machine {
  const m = new Machine({ cpus: 2, backend, svmVintr: { intermediateState } });
  m.load(1, receiver);
  m.load(0, sender);
  m.run(1_000_000);
  return m;
}

describe('the lost-IPI race (bhyve PR 215972)', () => {
  it('svm-vintr loses the second IPI and the checker reports it', () => {
    const m = race('svm-vintr');
    expect(m.memory.get('ack')).toBe(1);
    const s = m.stats();
    expect(s.cpus[1]!.lost).toBe(1);
    expect(s.cpus[1]!.doubled).toBe(0);
    expect(m.trace.filter('lost', 1).map((e) => e.a)).toEqual([VECTOR]);
    // The first IPI went through V_IRQ without an exit.
    expect(s.cpus[1]!.virtualDeliveries).toBe(1);
  });

  it.each(['svm-event', 'vmx-event', 'vmx-vid', 'vmx-posted'] as const)('%s handles both IPIs', (backend) => {
    const m = race(backend);
    expect(m.memory.get('ack')).toBe(2);
    const s = m.stats();
    expect(s.cpus[1]!.lost).toBe(0);
    expect(s.cpus[1]!.doubled).toBe(0);
    expect(s.cpus[1]!.delivered).toBe(2);
  });

  it('svm-vintr with the intermediate V_IRQ state (review D13828) handles both IPIs', () => {
    const m = race('svm-vintr', true);
    expect(m.memory.get('ack')).toBe(2);
    expect(m.stats().cpus[1]!.lost).toBe(0);
  });
});
