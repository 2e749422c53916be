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
    const svg = run.machine.trace.toSvg({ cpus: 3, endNs: run.result.timeNs, title: 'timers' });
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
    const svg = lost.machine.trace.toSvg({ endNs: lost.result.timeNs });
    expect(svg).toContain('>lost 0x40</text>');
    checkXml(svg);
    const fine = runScenario('lost-ipi', { backend: 'svm-event' });
    expect(fine.machine.trace.toSvg()).not.toContain('lost 0x40</text>');
  });

  it('merges spans that touch at the drawing scale, so a storm stays small', () => {
    const run = runScenario('level-storm', { untilNs: 3_000_000 });
    expect(run.stats.total.handlerEntries).toBeGreaterThan(1000);
    const svg = run.machine.trace.toSvg({ endNs: run.result.timeNs, width: 800 });
    expect(count(svg, /<rect [^>]*><title>/g)).toBeLessThan(40);
    expect(svg).toMatch(/<title>\d+ spans<\/title>/);
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

  it('draws an empty trace without failing', () => {
    const svg = toSvg([], { cpus: 2 });
    expect(checkXml(svg).root).toBe('svg');
    expect(count(svg, /class="lane"/g)).toBe(2);
  });

  it('formats virtual times for the axis', () => {
    expect([0, 850, 1000, 12_500, 3_000_000, 1_200_000_000].map(formatNs)).toEqual(['0', '850 ns', '1 us', '12.5 us', '3 ms', '1.2 s']);
  });
});
