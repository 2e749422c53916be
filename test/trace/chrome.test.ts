import { describe, expect, it } from 'vitest';
import { runScenario } from '../../src/cli/scenarios/index.js';
import { toChromeTrace, type ChromeTrace, type ChromeTraceEvent } from '../../src/trace/chrome.js';
import { buildSpans, irrIsrCounters } from '../../src/trace/spans.js';
import { Trace } from '../../src/trace/trace.js';

/** vCPU 0 halts, is woken by vector 0x40, takes it by event injection, EOIs (an exit), IRETs. */
function sampleTrace(): Trace {
  const t = new Trace();
  t.add(0, 0, 'exit', 0, 0, 'hlt');
  t.add(0, 0, 'halt');
  t.add(100, 0, 'request', 0x40);
  t.add(100, 0, 'wake');
  t.add(3100, 0, 'entry');
  t.add(3100, 0, 'inject', 0x40);
  t.add(3100, 0, 'deliver', 0x40);
  t.add(3150, 0, 'exit', 0, 0, 'apic-access');
  t.add(3150, 0, 'eoi');
  t.add(4150, 0, 'entry');
  t.add(4151, 0, 'iret', 0x40);
  t.add(5000, 1, 'record', 7, 0, 'hello');
  return t;
}

const spans = (c: ChromeTrace): ChromeTraceEvent[] => c.traceEvents.filter((e) => e.ph === 'X');
const instants = (c: ChromeTrace): ChromeTraceEvent[] => c.traceEvents.filter((e) => e.ph === 'i');
const counters = (c: ChromeTrace): ChromeTraceEvent[] => c.traceEvents.filter((e) => e.ph === 'C');

/** Spans of a thread that are not strictly nested (one overlaps another's end), as names. */
function nestingViolations(c: ChromeTrace): string[] {
  const bad: string[] = [];
  const byTid = new Map<number, ChromeTraceEvent[]>();
  for (const e of spans(c)) byTid.set(e.tid, [...(byTid.get(e.tid) ?? []), e]);
  const eps = 1e-9;
  for (const list of byTid.values()) {
    const stack: ChromeTraceEvent[] = [];
    const endOf = (e: ChromeTraceEvent): number => e.ts + (e.dur ?? 0);
    for (const e of list) {
      // Spans that ended by the time this one starts are siblings, not parents.
      while (stack.length > 0 && endOf(stack[stack.length - 1]!) <= e.ts + eps) stack.pop();
      const parent = stack[stack.length - 1];
      if (parent !== undefined && endOf(e) > endOf(parent) + eps) bad.push(`${e.name}@${e.ts} overlaps ${parent.name}@${parent.ts}`);
      stack.push(e);
    }
  }
  return bad;
}

function expectProperNesting(c: ChromeTrace): void {
  expect(nestingViolations(c)).toEqual([]);
}

describe('toChromeTrace', () => {
  it('(the nesting check itself finds overlapping spans)', () => {
    const x = (name: string, ts: number, dur: number): ChromeTraceEvent => ({ name, ph: 'X', ts, dur, pid: 1, tid: 1 });
    const trace = (list: ChromeTraceEvent[]): ChromeTrace => ({ traceEvents: list, displayTimeUnit: 'ns', otherData: {} });
    expect(nestingViolations(trace([x('a', 0, 10), x('b', 5, 10)]))).toEqual(['b@5 overlaps a@0']);
    expect(nestingViolations(trace([x('a', 0, 10), x('b', 5, 5), x('c', 10, 3)]))).toEqual([]);
  });

  it('names one track per vCPU and the process', () => {
    const c = toChromeTrace(sampleTrace().events(), { cpus: 3, title: 'test' });
    const meta = c.traceEvents.filter((e) => e.ph === 'M');
    expect(meta.find((e) => e.name === 'process_name')?.args).toEqual({ name: 'test' });
    const threads = meta.filter((e) => e.name === 'thread_name');
    expect(threads.map((e) => [e.tid, e.args?.name])).toEqual([
      [1, 'vCPU 0'],
      [2, 'vCPU 1'],
      [3, 'vCPU 2'],
    ]);
    expect(c.displayTimeUnit).toBe('ns');
    expect(c.otherData.cpus).toBe(3);
  });

  it('turns handlers, VM exits and HLT into nested spans in microseconds', () => {
    const c = toChromeTrace(sampleTrace().events());
    const s = spans(c).map((e) => [e.name, e.tid, e.ts, e.dur, e.cat]);
    expect(s).toEqual([
      ['vmexit hlt', 1, 0, 3.1, 'vmexit'],
      ['halted', 1, 0, 0.1, 'halted'],
      ['IRQ 0x40', 1, 3.1, 1.051, 'handler'],
      ['vmexit apic-access', 1, 3.15, 1, 'vmexit'],
    ]);
    const handler = spans(c).find((e) => e.name === 'IRQ 0x40')!;
    expect(handler.args).toMatchObject({ vector: '0x40', source: 'lapic', depth: 0 });
    expectProperNesting(c);
  });

  it('marks exits, requests, injections, EOIs and records as instants', () => {
    const c = toChromeTrace(sampleTrace().events());
    const names = instants(c).map((e) => e.name);
    expect(names).toEqual(['exit hlt', 'request 0x40', 'wake', 'inject 0x40', 'exit apic-access', 'EOI', 'hello']);
    expect(instants(c).every((e) => e.s === 't')).toBe(true);
    expect(instants(c).find((e) => e.name === 'hello')?.args).toEqual({ value: 7 });
    expect(instants(c).filter((e) => e.cat === 'exit').map((e) => e.args?.reason)).toEqual(['hlt', 'apic-access']);
  });

  it('counts the IRR and ISR population of each vCPU', () => {
    const c = toChromeTrace(sampleTrace().events());
    const series = counters(c).map((e) => [e.name, e.ts, e.args?.IRR, e.args?.ISR]);
    expect(series).toEqual([
      ['IRR/ISR vCPU 0', 0, 0, 0],
      ['IRR/ISR vCPU 1', 0, 0, 0],
      ['IRR/ISR vCPU 0', 0.1, 1, 0],
      ['IRR/ISR vCPU 0', 3.1, 0, 1],
      ['IRR/ISR vCPU 0', 3.15, 0, 0],
    ]);
    expect(counters(toChromeTrace(sampleTrace().events(), { counters: false }))).toEqual([]);
  });

  it('ends open spans at endNs, and INIT ends the handlers of its vCPU', () => {
    const t = new Trace();
    t.add(10, 0, 'deliver', 0x31);
    t.add(20, 0, 'exit', 0, 0, 'msr');
    t.add(30, 0, 'init');
    t.add(40, 1, 'nmi');
    const c = toChromeTrace(t.events(), { endNs: 1000 });
    expect(spans(c).map((e) => [e.name, e.tid, e.ts * 1000, (e.dur ?? 0) * 1000])).toEqual([
      ['IRQ 0x31', 1, 10, 20],
      ['vmexit msr', 1, 20, 10],
      ['INIT', 1, 30, 970],
      ['NMI', 2, 40, 960],
    ]);
    expectProperNesting(c);
  });

  it('a real run: every exit is an instant, spans nest, lost interrupts show, JSON is stable', () => {
    const run = runScenario('lost-ipi', { backend: 'svm-vintr' });
    const c = run.machine.trace.toChromeTrace({ cpus: 2, endNs: run.result.timeNs });
    expect(c).toEqual(toChromeTrace(run.machine.trace.events(), { cpus: 2, endNs: run.result.timeNs }));
    const exits = instants(c).filter((e) => e.cat === 'exit');
    expect(exits.length).toBe(run.stats.total.exitCount);
    expect(instants(c).filter((e) => e.name === 'LOST 0x40').map((e) => e.tid)).toEqual([2]);
    expect(spans(c).filter((e) => e.name === 'IRQ 0x40').length).toBe(1);
    expectProperNesting(c);
    const again = runScenario('lost-ipi', { backend: 'svm-vintr' });
    expect(JSON.stringify(again.machine.trace.toChromeTrace({ cpus: 2, endNs: again.result.timeNs }))).toBe(JSON.stringify(c));
  });

  it.each(['svm-event', 'svm-vintr', 'vmx-vid', 'vmx-posted'] as const)('linux-boot-irq-setup on %s: spans nest on every track', (backend) => {
    const run = runScenario('linux-boot-irq-setup', { backend, cpus: 3, untilNs: 4_000_000 });
    const c = run.machine.trace.toChromeTrace({ endNs: run.result.timeNs });
    expectProperNesting(c);
    // Every handler entry is a span; ExtINT-free boot: all of them LAPIC vectors.
    expect(spans(c).filter((e) => e.cat === 'handler').length).toBe(run.stats.total.handlerEntries);
    // Every handler ran to its IRET and EOIed, so both populations end at zero.
    const last = new Map<string, ChromeTraceEvent>();
    for (const e of counters(c)) last.set(e.name, e);
    for (const e of last.values()) expect(e.args).toEqual({ IRR: 0, ISR: 0 });
  });
});

describe('buildSpans / irrIsrCounters', () => {
  it('names ExtINT, spurious and NMI handlers', () => {
    const t = new Trace();
    t.add(0, 0, 'deliver', 0x20, 1);
    t.add(5, 0, 'iret', 0x20);
    t.add(6, 0, 'deliver', 0xff, 2);
    t.add(7, 0, 'iret', 0xff);
    t.add(8, 0, 'nmi');
    t.add(9, 0, 'iret', 2, 1);
    expect(buildSpans(t.events()).map((s) => [s.name, s.detail, s.startNs, s.endNs])).toEqual([
      ['ExtINT 0x20', 'extint', 0, 5],
      ['spurious 0xff', 'spurious', 6, 7],
      ['NMI', 'nmi', 8, 9],
    ]);
    // ExtINT and spurious vectors are not the local APIC's.
    expect(irrIsrCounters(t.events()).length).toBe(1);
  });

  it('an EOI retires the highest in-service vector; INIT clears both', () => {
    const t = new Trace();
    t.add(0, 0, 'request', 0x30);
    t.add(0, 0, 'request', 0x50);
    t.add(1, 0, 'deliver', 0x50);
    t.add(2, 0, 'deliver', 0x30);
    t.add(3, 0, 'eoi');
    t.add(4, 0, 'request', 0x60);
    t.add(5, 0, 'init');
    expect(irrIsrCounters(t.events()).map((c) => [c.timeNs, c.irr, c.isr])).toEqual([
      [0, 0, 0],
      [0, 1, 0],
      [0, 2, 0],
      [1, 1, 1],
      [2, 0, 2],
      [3, 0, 1],
      [4, 1, 1],
      [5, 0, 0],
    ]);
  });
});
