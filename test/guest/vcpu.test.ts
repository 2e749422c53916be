import { describe, expect, it } from 'vitest';
import { validateProgram, type GuestProgram, type Instr } from '../../src/guest/program.js';
import { Vcpu, type VcpuEnv } from '../../src/guest/vcpu.js';

/** A recording environment: APIC writes and faults are logged, memory is a map. */
function env() {
  const log: string[] = [];
  const memory = new Map<string, number>();
  const e: VcpuEnv = {
    instructionNs: 1,
    mmioRead: () => 0,
    mmioWrite: (_c, off, v) => void log.push(`mmio ${off.toString(16)}=${v.toString(16)}`),
    msrRead: () => 0n,
    msrWrite: (_c, msr, v) => (log.push(`msr ${msr.toString(16)}=${v.toString(16)}`), true),
    cr8Read: () => 0,
    cr8Write: () => true,
    halt: () => void log.push('halt'),
    spin: (_c, name) => void log.push(`spin ${name}`),
    read: (n) => memory.get(n) ?? 0,
    write: (n, v) => void memory.set(n, v),
    record: (_c, l, v) => void log.push(`record ${l} ${v}`),
    finished: () => void log.push('finished'),
    fault: (_c, what) => void log.push(`fault ${what}`),
  };
  return { e, log, memory };
}

function cpu(main: Instr[], extra: Partial<GuestProgram> = {}): Vcpu {
  const v = new Vcpu(0);
  v.load({ main, ...extra });
  return v;
}

describe('Vcpu: RFLAGS.IF and the interrupt shadow (SDM "STI", "MOV SS")', () => {
  it('a vCPU starts with IF = 0', () => {
    const v = cpu([{ op: 'nop' }]);
    expect(v.interruptFlag).toBe(false);
    expect(v.interruptible()).toBe(false);
  });

  it('STI with IF = 0 blocks interrupts until after the next instruction', () => {
    const { e } = env();
    const v = cpu([{ op: 'sti' }, { op: 'nop' }, { op: 'nop' }]);
    v.step(e);
    expect(v.interruptFlag).toBe(true);
    expect(v.interruptible()).toBe(false);
    v.step(e);
    expect(v.interruptible()).toBe(true);
  });

  it('a second STI right after the first does not extend the shadow', () => {
    const { e } = env();
    const v = cpu([{ op: 'sti' }, { op: 'sti' }, { op: 'nop' }]);
    v.step(e);
    v.step(e);
    expect(v.interruptible()).toBe(true);
  });

  it('STI with IF already 1 creates no shadow', () => {
    const { e } = env();
    const v = cpu([{ op: 'sti' }, { op: 'nop' }, { op: 'sti' }, { op: 'nop' }]);
    v.step(e);
    v.step(e);
    v.step(e);
    expect(v.interruptible()).toBe(true);
  });

  it('MOV SS blocks interrupts and NMIs for one instruction', () => {
    const { e } = env();
    const v = cpu([{ op: 'sti' }, { op: 'nop' }, { op: 'movss' }, { op: 'nop' }]);
    v.step(e);
    v.step(e);
    v.step(e);
    expect(v.interruptible()).toBe(false);
    expect(v.nmiAllowed()).toBe(false);
    v.step(e);
    expect(v.interruptible()).toBe(true);
    expect(v.nmiAllowed()).toBe(true);
  });

  it('the STI shadow does not block NMIs', () => {
    const { e } = env();
    const v = cpu([{ op: 'sti' }, { op: 'nop' }]);
    v.step(e);
    expect(v.nmiAllowed()).toBe(true);
  });

  it('CLI clears IF', () => {
    const { e } = env();
    const v = cpu([{ op: 'sti' }, { op: 'nop' }, { op: 'cli' }]);
    v.step(e);
    v.step(e);
    v.step(e);
    expect(v.interruptFlag).toBe(false);
  });
});

describe('Vcpu: interrupt gates, IRET and nesting', () => {
  it('delivery enters the handler with IF cleared; IRET restores IF and resumes', () => {
    const { e, log } = env();
    const v = cpu([{ op: 'sti' }, { op: 'nop' }, { op: 'record', label: 'main' }], {
      handlers: { 0x40: [{ op: 'record', label: 'h' }, { op: 'iret' }] },
    });
    v.step(e);
    v.step(e);
    v.deliverInterrupt(0x40);
    expect(v.interruptFlag).toBe(false);
    expect(v.depth).toBe(1);
    v.step(e);
    v.step(e);
    expect(v.interruptFlag).toBe(true);
    v.step(e);
    expect(log).toEqual(['record h 0', 'record main 0']);
  });

  it('nested handlers: a handler that sets IF can be interrupted and resumes after', () => {
    const { e, log } = env();
    const v = cpu([{ op: 'nop' }], {
      handlers: {
        0x40: [{ op: 'sti' }, { op: 'nop' }, { op: 'record', label: 'outer' }, { op: 'iret' }],
        0x80: [{ op: 'record', label: 'inner' }, { op: 'iret' }],
      },
    });
    v.deliverInterrupt(0x40);
    v.step(e);
    v.step(e);
    expect(v.interruptible()).toBe(true);
    v.deliverInterrupt(0x80);
    expect(v.handlerStack()).toEqual([0x40, 0x80]);
    v.step(e);
    v.step(e);
    v.step(e);
    v.step(e);
    expect(log).toEqual(['record inner 0', 'record outer 0']);
    expect(v.depth).toBe(0);
  });

  it('a vector without a handler runs EOI; IRET', () => {
    const { e, log } = env();
    const v = cpu([{ op: 'nop' }]);
    v.deliverInterrupt(0x55);
    v.step(e);
    v.step(e);
    expect(log).toEqual(['mmio b0=0']);
    expect(v.depth).toBe(0);
  });

  it('a handler running off its end gets an implicit IRET and a fault', () => {
    const { e, log } = env();
    const v = cpu([{ op: 'nop' }], { handlers: { 0x41: [{ op: 'nop' }] } });
    v.deliverInterrupt(0x41);
    v.step(e);
    v.step(e);
    expect(v.depth).toBe(0);
    expect(log[0]).toMatch(/fault handler 65 ran off its end/);
  });

  it('IRET without a frame is a fault and continues', () => {
    const { e, log } = env();
    const v = cpu([{ op: 'iret' }, { op: 'record', label: 'after' }]);
    v.step(e);
    v.step(e);
    expect(log).toEqual(['fault IRET without an interrupt frame', 'record after 0']);
  });
});

describe('Vcpu: NMI blocking (SDM "NMI Handling")', () => {
  it('an NMI blocks further NMIs until IRET', () => {
    const { e } = env();
    const v = cpu([{ op: 'nop' }], { nmi: [{ op: 'nop' }, { op: 'iret' }] });
    v.deliverNmi();
    expect(v.nmiAllowed()).toBe(false);
    v.step(e);
    expect(v.nmiAllowed()).toBe(false);
    v.step(e);
    expect(v.nmiAllowed()).toBe(true);
  });

  it('any IRET unblocks NMIs, even one ending an interrupt handler nested in the NMI handler', () => {
    const { e } = env();
    const v = cpu([{ op: 'nop' }], {
      nmi: [{ op: 'sti' }, { op: 'nop' }, { op: 'nop' }, { op: 'iret' }],
      handlers: { 0x40: [{ op: 'iret' }] },
    });
    v.deliverNmi();
    v.step(e);
    v.step(e);
    v.deliverInterrupt(0x40);
    v.step(e);
    expect(v.depth).toBe(1); // still in the NMI handler
    expect(v.nmiAllowed()).toBe(true);
  });
});

describe('Vcpu: HLT, done, SIPI', () => {
  it('HLT halts and continues after the HLT once a handler returns', () => {
    const { e, log } = env();
    const v = cpu([{ op: 'sti' }, { op: 'hlt' }, { op: 'record', label: 'woke' }], { handlers: { 0x40: [{ op: 'iret' }] } });
    v.step(e);
    v.step(e);
    expect(v.halted).toBe(true);
    expect(log).toEqual(['halt']);
    expect(v.step(e)).toBe(0); // a halted CPU executes nothing
    v.deliverInterrupt(0x40);
    expect(v.halted).toBe(false);
    v.step(e);
    v.step(e);
    expect(log).toEqual(['halt', 'record woke 0']);
  });

  it('running off the end of main or DONE ends the program', () => {
    const { e, log } = env();
    const v = cpu([{ op: 'nop' }]);
    v.step(e);
    v.step(e);
    expect(v.state).toBe('done');
    expect(log).toEqual(['finished']);
  });

  it('an AP program waits for SIPI; INIT parks it again', () => {
    const { e } = env();
    const v = new Vcpu(1);
    v.load({ main: [{ op: 'nop' }], waitForSipi: true });
    expect(v.state).toBe('wait-for-sipi');
    expect(v.step(e)).toBe(0);
    expect(v.sipi()).toBe(true);
    expect(v.state).toBe('running');
    expect(v.sipi()).toBe(false);
    v.init(false);
    expect(v.state).toBe('wait-for-sipi');
    v.init(true);
    expect(v.state).toBe('running');
  });
});

describe('Vcpu: memory, branches, waits and APIC instructions', () => {
  it('set, inc, branch and jump run a counted loop', () => {
    const { e, memory } = env();
    const v = cpu([
      { op: 'set', var: 'i', value: 0 },
      { op: 'inc', var: 'i' },
      { op: 'branch', var: 'i', cmp: 'lt', value: 3, to: 1 },
      { op: 'inc', var: 'n', by: 10 },
    ]);
    for (let k = 0; k < 20 && v.state === 'running'; k++) v.step(e);
    expect(memory.get('i')).toBe(3);
    expect(memory.get('n')).toBe(10);
  });

  it('a wait inside an STI shadow checks once more before it may sleep', () => {
    const { e, log } = env();
    const v = cpu([{ op: 'sti' }, { op: 'wait', var: 'go', cmp: 'eq', value: 1 }]);
    v.step(e);
    v.step(e);
    expect(log).toEqual([]);
    v.step(e);
    expect(log).toEqual(['spin go']);
  });

  it('wait spins while its condition is false', () => {
    const { e, log, memory } = env();
    const v = cpu([{ op: 'wait', var: 'go', cmp: 'eq', value: 1 }, { op: 'record', label: 'went' }]);
    v.step(e);
    expect(log).toEqual(['spin go']);
    memory.set('go', 1);
    v.step(e);
    v.step(e);
    expect(log).toEqual(['spin go', 'record went 0']);
  });

  it('xAPIC ipi writes ICR high, then ICR low in a second step', () => {
    const { e, log } = env();
    const v = cpu([{ op: 'ipi', dest: 3, vector: 0x40, mode: 'nmi', logical: true }]);
    v.step(e);
    expect(log).toEqual(['mmio 310=3000000']);
    v.step(e);
    expect(log).toEqual(['mmio 310=3000000', 'mmio 300=4c40']);
  });

  it('x2APIC ipi, self-ipi and eoi use the MSRs', () => {
    const { e, log } = env();
    const v = cpu([{ op: 'ipi', dest: 0x123, vector: 0x41, shorthand: 'others' }, { op: 'self-ipi', vector: 0x42 }, { op: 'eoi' }]);
    v.x2apic = true;
    v.step(e);
    v.step(e);
    v.step(e);
    expect(log).toEqual(['msr 830=123000c4041', 'msr 83f=42', 'msr 80b=0']);
  });

  it('xAPIC self-ipi uses the ICR self shorthand', () => {
    const { e, log } = env();
    const v = cpu([{ op: 'self-ipi', vector: 0x42 }]);
    v.step(e);
    expect(log).toEqual(['mmio 300=40042']);
  });

  it('work costs its nanoseconds, and an interrupted work resumes with what is left', () => {
    const { e } = env();
    const v = cpu([{ op: 'work', ns: 1000 }, { op: 'nop' }]);
    expect(v.step(e)).toBe(1000);
    v.interruptWork(400);
    expect(v.step(e)).toBe(400);
    expect(v.step(e)).toBe(1);
  });

  it("a handler entered at an interrupted work runs its own work at full length; the interrupted one resumes with its rest", () => {
    const { e } = env();
    const v = cpu([{ op: 'work', ns: 1000 }, { op: 'nop' }], { handlers: { 0x40: [{ op: 'work', ns: 30 }, { op: 'iret' }] } });
    expect(v.step(e)).toBe(1000);
    v.interruptWork(400);
    v.deliverInterrupt(0x40);
    expect(v.workRemaining).toBe(-1); // the handler's frame has nothing left over
    expect(v.step(e)).toBe(30);
    expect(v.step(e)).toBe(1); // IRET
    expect(v.workRemaining).toBe(400);
    expect(v.step(e)).toBe(400);
    expect(v.step(e)).toBe(1);
  });
});

describe('program validation (host misuse)', () => {
  it('rejects unknown instructions and bad fields with the place named', () => {
    expect(() => validateProgram({ main: [{ op: 'fly' } as never] })).toThrow(/program\.main\[0\]/);
    expect(() => validateProgram({ main: [{ op: 'work', ns: -1 }] })).toThrow(/ns/);
    expect(() => validateProgram({ main: [{ op: 'ipi', dest: 1, vector: 300 }] })).toThrow(/vector/);
    expect(() => validateProgram({ main: [{ op: 'jump', to: 5 }] })).toThrow(/to/);
    expect(() => validateProgram({ main: [], handlers: { 3: [] } })).toThrow(/16\.\.255/);
    expect(() => validateProgram({ main: [{ op: 'wait', var: 'x', cmp: 'is' as never, value: 1 }] })).toThrow(/cmp/);
    expect(() => validateProgram({ main: 'nop' as never })).toThrow(TypeError);
    expect(() => validateProgram({ main: [{ op: 'nop' }], nmi: [{ op: 'iret' }], waitForSipi: true })).not.toThrow();
  });

  it('programs are plain data that survive JSON', () => {
    const p: GuestProgram = { main: [{ op: 'ipi', dest: 1, vector: 0x40 }], handlers: { 0x40: [{ op: 'iret' }] } };
    const back = JSON.parse(JSON.stringify(p)) as GuestProgram;
    expect(() => validateProgram(back)).not.toThrow();
    expect(back).toEqual(p);
  });
});
