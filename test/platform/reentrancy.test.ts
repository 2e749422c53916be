/**
 * The callback contract (docs/embedding.md, "Callbacks and re-entrancy"): callbacks run
 * synchronously inside the call that caused them; they may read state — which already includes
 * the event they are told about — and record; the host acts after the call returns. These tests
 * call back into the platform from inside callbacks on purpose, with the reads the contract allows.
 */
import { describe, expect, it } from 'vitest';
import { Platform, type CpuEvent } from '../../src/platform/platform.js';
import { enableAll, initPic, rte } from './helpers.js';

describe('callbacks run synchronously and see the state of the event they report', () => {
  it('an interrupt listener inside setIrq already sees the vector requested and INTR asserted', () => {
    const pc = new Platform({ cpus: 1 });
    enableAll(pc);
    rte(pc, 5, 0x35);
    const seen: Array<[boolean, boolean, number]> = [];
    pc.onCpuEvent((e) => {
      if (e.kind === 'interrupt') seen.push([pc.lapics[e.cpu]!.isRequested(e.vector), pc.cpuHasInterrupt(e.cpu), pc.lapics[e.cpu]!.pendingVector()]);
    });
    pc.setIrq(5, true);
    expect(seen).toEqual([[true, true, 0x35]]);
  });

  it('an nmi listener sees the NMI latched before takeNmi', () => {
    const pc = new Platform({ cpus: 1, reset: 'seabios' });
    const latched: boolean[] = [];
    pc.onCpuEvent((e) => {
      if (e.kind === 'nmi') latched.push(pc.lapics[e.cpu]!.nmiLatched);
    });
    pc.setNmiLine(true);
    expect(latched).toEqual([true]);
    expect(pc.takeNmi(0)).toBe(true);
  });

  it('an extint listener sees INTR asserted; the 8259A vector comes from cpuAcknowledge after setIrq returns', () => {
    const pc = new Platform({ cpus: 1, reset: 'seabios' });
    initPic(pc);
    const during: boolean[] = [];
    pc.onCpuEvent((e) => {
      if (e.kind === 'extint') during.push(pc.cpuHasInterrupt(e.cpu));
    });
    pc.setIrq(3, true);
    expect(during).toEqual([true]);
    expect(pc.cpuAcknowledge(0)).toBe(0x23);
  });

  it('a picOutput callback sees pic.hasInterrupt() equal to the level it is given', () => {
    const seen: Array<[boolean, boolean]> = [];
    const pc: Platform = new Platform({ cpus: 1, picOutput: (level) => seen.push([level, pc.pic.hasInterrupt()]) });
    initPic(pc);
    pc.setIrq(4, true);
    pc.pic.acknowledge();
    expect(seen).toEqual([
      [true, true],
      [false, false],
    ]);
  });

  it('a listener runs inside the guest ICR write: the broadcast is still going round the bus when it is called', () => {
    const pc = new Platform({ cpus: 3 });
    enableAll(pc);
    const requestedWhenToldOf: number[][] = [];
    pc.onCpuEvent((e) => {
      if (e.kind === 'interrupt') requestedWhenToldOf.push(pc.lapics.map((a) => (a.isRequested(0x50) ? 1 : 0)));
    });
    pc.lapics[0]!.writeRegister(0x300, 0x00080050); // fixed 0x50, all including self
    // Each notification came before the later CPUs had the vector: the operation was unfinished.
    expect(requestedWhenToldOf).toEqual([
      [1, 0, 0],
      [1, 1, 0],
      [1, 1, 1],
    ]);
  });

  it('the recommended pattern (record in the listener, acknowledge after the call) takes each CPU\'s interrupt exactly once', () => {
    const pc = new Platform({ cpus: 3 });
    enableAll(pc);
    const woken = new Set<number>();
    pc.onCpuEvent((e: CpuEvent) => woken.add(e.cpu)); // copy what you keep: the event object is reused
    pc.lapics[0]!.writeRegister(0x300, 0x00080050);
    const taken = [...woken].sort().map((cpu) => [cpu, pc.cpuAcknowledge(cpu), pc.cpuHasInterrupt(cpu)]);
    expect(taken).toEqual([
      [0, 0x50, false],
      [1, 0x50, false],
      [2, 0x50, false],
    ]);
  });
});
