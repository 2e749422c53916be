import { describe, expect, it } from 'vitest';
import { runScenario } from '../../src/cli/scenarios/index.js';
import { escapeXml, formatNs, toSvg } from '../../src/trace/svg.js';
import { Trace } from '../../src/trace/trace.js';

/** A minimal XML check: tags balance (self-closing ones aside) and the root is <svg>. */
function checkXml(svg: string): { root: string; tags: number } {
  const stack: string[] = [];
  let root = '';
  let tags = 0;
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
    tags++;
    const [, closing, name, selfClosing] = m;
    if (root === '') root = name!;
    if (selfClosing === '/') continue;
    if (closing === '/') {
      expect(stack.pop()).toBe(name);
    } else {
      stack.push(name!);
    }
  }
  expect(stack).toEqual([]);
  return { root, tags };
}

const count = (s: string, re: RegExp): number => [...s.matchAll(re)].length;

describe('toSvg', () => {
  it('is a self-contained SVG document with one lane per vCPU', () => {
    const run = runScenario('timer-periodic', { cpus: 3, untilNs: 2_000_000 });
    const svg = toSvg(run.machine.trace, { cpus: 3, endNs: run.result.timeNs, title: 'timers' });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(checkXml(svg).root).toBe('svg');
    expect(count(svg, /class="lane"/g)).toBe(3);
    expect([...svg.matchAll(/data-cpu="(\d+)"/g)].map((m) => m[1])).toEqual(['0', '1', '2']);
    expect(svg).toContain('>vCPU 2</text>');
    expect(svg).toContain('>timers</text>');
    expect(svg).not.toMatch(/<script|href=|@import|url\(/); // nothing external, nothing active
    // Handler spans (LAPIC colour) are drawn for the timer ticks.
    expect(count(svg, /fill="#4c78a8"><title>/g)).toBeGreaterThan(3);
  });

  it('marks lost interrupts with the vector', () => {
    const lost = runScenario('lost-ipi', { backend: 'svm-vintr' });
    const svg = toSvg(lost.machine.trace, { endNs: lost.result.timeNs });
    expect(svg).toContain('>lost 0x40: merged into stale IRR bit</text>');
    checkXml(svg);
    const fine = runScenario('lost-ipi', { backend: 'svm-event' });
    expect(toSvg(fine.machine.trace)).not.toContain('>lost 0x40');
  });

  it('merges spans that touch at the drawing scale, so a storm stays small', () => {
    const run = runScenario('level-storm', { untilNs: 3_000_000 });
    expect(run.stats.total.handlerEntries).toBeGreaterThan(1000);
    const svg = toSvg(run.machine.trace, { endNs: run.result.timeNs, width: 800 });
    expect(count(svg, /<rect [^>]*><title>/g)).toBeLessThan(40);
    expect(svg).toMatch(/<title>\d+ spans \(\d+ x IRQ 0x41\): /);
    expect(svg.length).toBeLessThan(20_000);
  });

  it('escapes text and gives the same bytes for the same trace', () => {
    const t = new Trace();
    t.add(0, 0, 'deliver', 0x40);
    t.add(500, 0, 'iret', 0x40);
    const a = toSvg(t.events(), { title: 'a <b> & "c"' });
    expect(a).toContain('a &lt;b&gt; &amp; &quot;c&quot;');
    checkXml(a);
    expect(toSvg(t.events(), { title: 'a <b> & "c"' })).toBe(a);
    expect(escapeXml(`'&'`)).toBe('&apos;&amp;&apos;');
  });

  it('takes a Trace and draws the events it holds (in ring mode the last ones), as it draws the list of them', () => {
    const ring = new Trace({ limit: 2 });
    ring.add(0, 0, 'deliver', 0x40);
    ring.add(500, 0, 'iret', 0x40);
    ring.add(600, 0, 'deliver', 0x41);
    ring.add(900, 0, 'iret', 0x41);
    const svg = toSvg(ring, { endNs: 1000 });
    expect(svg).toBe(toSvg(ring.events(), { endNs: 1000 }));
    expect(svg).toContain('0x41 taken via virtual delivery');
    expect(svg).not.toContain('0x40 taken');
  });

  it('draws an empty trace without failing', () => {
    const svg = toSvg([], { cpus: 2 });
    expect(checkXml(svg).root).toBe('svg');
    expect(count(svg, /class="lane"/g)).toBe(2);
  });

  it('formats virtual times for the axis', () => {
    expect([0, 850, 1000, 12_500, 3_000_000, 1_200_000_000].map(formatNs)).toEqual(['0', '850 ns', '1 us', '12.5 us', '3 ms', '1.2 s']);
  });
});

/**
 * The lost-IPI story drawn by hand, with round times, so positions can be checked: width 1000,
 * window 0..10 us, so x(t) = 70 + t * 914 / 10000 (LABEL_W 70, plot 914 px).
 */
function lostIpiTrace(): Trace {
  const t = new Trace();
  t.add(0, 0, 'entry');
  t.add(0, 1, 'entry');
  t.add(1000, 1, 'exit', 0, 0, 'hlt');
  t.add(1000, 1, 'halt');
  t.add(2000, 0, 'ipi-send', 0x4040, 1);
  t.add(2000, 1, 'request', 0x40);
  t.add(2000, 1, 'wake');
  t.add(2000, 1, 'ipi-receive', 0, 0x40);
  t.add(5000, 1, 'entry');
  t.add(5000, 1, 'vintr', 0x40);
  t.add(5000, 1, 'deliver', 0x40, 0);
  t.add(6000, 0, 'ipi-send', 0x4040, 1);
  t.add(6000, 1, 'lost', 0x40);
  t.add(6000, 1, 'ipi-receive', 0, 0x40);
  t.add(8000, 1, 'exit', 0, 0, 'apic-access');
  t.add(8000, 1, 'isr-set', 0x40, 0x40);
  t.add(9000, 1, 'entry');
  t.add(9000, 1, 'iret', 0x40);
  t.add(10_000, 0, 'done');
  return t;
}
const px = (ns: number): number => Math.round((70 + (ns * 914) / 10_000) * 10) / 10;
const attr = (el: string, name: string): number => Number(new RegExp(`${name}="([-\\d.]+)"`).exec(el)![1]);
/** The elements of a class: a <g> up to its </g> (none nest), a <rect> up to its </rect>. */
const elements = (svg: string, cls: string): string[] =>
  [...svg.matchAll(new RegExp(`<g class="${cls}"[^]*?</g>|<rect class="${cls}"[^]*?</rect>`, 'g'))].map((m) => m[0]);
const legend = (svg: string): string[] => [...svg.matchAll(/<g class="legend-item"[^>]*>.*?<text[^>]*>([^<]*)<\/text><\/g>/g)].map((m) => m[1]!);

describe('toSvg tells the lost-IPI story', () => {
  const svg = toSvg(lostIpiTrace().events(), { endNs: 10_000, title: 'lost IPI' });

  it('draws each IPI as an arrow from the sender lane down to the receiver lane at the send time, labelled with the vector', () => {
    const ipis = elements(svg, 'ipi');
    expect(ipis).toHaveLength(2);
    expect(ipis[0]).toContain('<title>IPI 0x40 sent by vCPU 0 to vCPU 1 at 2 us</title>');
    expect(ipis[1]).toContain('<title>IPI 0x40 sent by vCPU 0 to vCPU 1 at 6 us</title>');
    const d = /d="M([\d.]+) ([\d.]+) L([\d.]+) ([\d.]+)"/.exec(ipis[0]!)!.slice(1).map(Number);
    expect(d[0]).toBe(px(2000));
    expect(d[2]).toBe(px(2000));
    // Lane 0 spans y 44..94 (TITLE_H 22 + AXIS_H 22, LANE_H 50), lane 1 starts at 110 (gap 16).
    expect(d[1]).toBe(94);
    expect(d[3]).toBe(111);
    expect(ipis[0]).toContain('>IPI 0x40 &gt; vCPU 1</text>');
    expect(svg).toContain('marker-end="url(#arrow)"');
  });

  it('says that the handler was entered through V_IRQ without a VM exit', () => {
    const handler = elements(svg, 'handler');
    expect(handler).toHaveLength(1);
    expect(attr(handler[0]!, 'x')).toBe(px(5000));
    expect(handler[0]).toContain('<title>0x40 entered the guest&apos;s handler via V_IRQ without a VM exit at 5 us; the vector stays set in the emulated IRR until the next exit</title>');
    expect(svg).toContain('>0x40 taken via V_IRQ, no exit</text>');
    expect(elements(svg, 'delivery')[0]).toContain(`d="M${px(5000)} `);
  });

  it('draws the IRR bit pending from the request, then stale from the handler entry until the exit that syncs it', () => {
    const pending = elements(svg, 'irr-pending');
    expect(pending).toHaveLength(1);
    expect(attr(pending[0]!, 'x')).toBe(px(2000));
    expect(pending[0]).toContain('<title>IRR 0x40 pending: 2 us - 5 us</title>');
    const stale = elements(svg, 'irr-stale');
    expect(stale).toHaveLength(1);
    expect(attr(stale[0]!, 'x')).toBe(px(5000));
    expect(attr(stale[0]!, 'width')).toBeCloseTo(px(8000) - px(5000), 0);
    expect(stale[0]).toContain('fill="url(#stale)"');
    expect(stale[0]).toContain('<title>IRR 0x40 stale: handler entered at 5 us, bit still set until 8 us</title>');
  });

  it('marks the second IPI lost where it merged into the stale IRR bit', () => {
    const lost = elements(svg, 'lost');
    expect(lost).toHaveLength(1);
    expect(lost[0]).toContain(`M${px(6000) - 5} `);
    expect(lost[0]).toContain('>lost 0x40: merged into stale IRR bit</text>');
    expect(lost[0]).toContain('<title>lost 0x40: merged into stale IRR bit at 6 us</title>');
  });

  it('keeps neighbouring spans apart, labels VM exits with their reason and shows guest running', () => {
    const exits = elements(svg, 'vmexit');
    expect(exits.map((e) => /<title>([^<]*)<\/title>/.exec(e)![1])).toEqual(['vmexit hlt: 1 us - 5 us', 'vmexit apic-access: 8 us - 9 us']);
    expect(svg).toContain('>apic-access</text>');
    const guest = elements(svg, 'guest');
    expect(guest.map((e) => /<title>([^<]*)<\/title>/.exec(e)![1])).toEqual([
      'guest running: 0 - 10 us', 'guest running: 0 - 1 us', 'guest running: 5 us - 8 us', 'guest running: 9 us - 10 us',
    ]);
    // Touching bars keep a one-pixel gap: the guest bar 5-8 us ends a pixel before the exit bar.
    const g = guest[2]!;
    expect(attr(g, 'x') + attr(g, 'width')).toBeCloseTo(px(8000) - 1, 0);
  });

  it('lists in the legend guest running and exactly the kinds the drawing shows', () => {
    expect(legend(svg)).toEqual([
      'handler (LAPIC vector)', 'guest running', 'in hypervisor (VM exit, reason)', 'halted', 'vector pending in IRR',
      'IRR bit stale (taken without exit)', 'taken without VM exit', 'IPI', 'lost / doubled',
    ]);
    checkXml(svg);
  });

  it('draws an ordinary injected delivery without the stale bar or the no-exit label', () => {
    const t = new Trace();
    t.add(0, 0, 'entry');
    t.add(100, 0, 'request', 0x40);
    t.add(100, 0, 'exit', 0, 0, 'external-interrupt');
    t.add(200, 0, 'isr-set', 0x40, 0x40);
    t.add(300, 0, 'entry');
    t.add(300, 0, 'inject', 0x40);
    t.add(300, 0, 'deliver', 0x40, 0);
    t.add(900, 0, 'iret', 0x40);
    const plain = toSvg(t.events(), { endNs: 1000 });
    expect(elements(plain, 'irr-stale')).toEqual([]);
    expect(plain).not.toContain('no exit');
    expect(legend(plain)).not.toContain('taken without VM exit');
    expect(legend(plain)).not.toContain('NMI handler');
    expect(elements(plain, 'irr-pending')[0]).toContain('<title>IRR 0x40 pending: 100 ns - 200 ns</title>');
  });
});

describe('toSvg on the built-in scenarios', () => {
  it('tells the svm-vintr lost IPI: two IPI arrows, V_IRQ without exit, the stale bit and the merge', () => {
    const run = runScenario('lost-ipi', { backend: 'svm-vintr' });
    const svg = toSvg(run.machine.trace, { endNs: run.result.timeNs });
    expect(elements(svg, 'ipi')).toHaveLength(2);
    expect(svg).toContain('0x40 taken via V_IRQ, no exit');
    expect(elements(svg, 'irr-stale')).toHaveLength(1);
    expect(svg).toContain('>lost 0x40: merged into stale IRR bit</text>');
  });

  it('tells L2 guest time apart from L1 in a nested run', () => {
    const run = runScenario('nested-ack-on-exit', { untilNs: 600_000 });
    const svg = toSvg(run.machine.trace, { endNs: run.result.timeNs });
    expect(elements(svg, 'guest-l2').length).toBeGreaterThan(0);
    expect(elements(svg, 'guest-l2')[0]).toContain('<title>guest running (L2): ');
    expect(legend(svg)).toContain('L2 guest running');
    expect(svg).toContain('>L2</text>');
  });

  it('labels the gap where the I/O APIC storm guard backs off', () => {
    const run = runScenario('level-storm', { untilNs: 30_000_000 });
    const svg = toSvg(run.machine.trace, { endNs: run.result.timeNs });
    const gaps = elements(svg, 'storm-gap');
    expect(gaps).toHaveLength(1);
    expect(gaps[0]).toMatch(/<title>storm back-off: pin 16 \(0x41\) quiet for [\d.]+ ms after 10001 re-deliveries \(or the device released the line\)<\/title>/);
    expect(gaps[0]).toContain('>storm back-off');
    expect(legend(svg)).toContain('storm back-off');
    expect(svg.length).toBeLessThan(20_000);
  });
});

