import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectHandledMatches, runScenario, scenario, scenarioWithExceptions } from './scenario.js';
import { propertyRuns } from '../fuzz/config.js';
import { Machine } from '../../src/machine/machine.js';

const RUNS = propertyRuns(25);

describe('random guest programs on 1-4 vCPUs (fast-check)', () => {
  it.each(['svm-event', 'vmx-event', 'vmx-vid', 'vmx-posted'] as const)(
    '%s loses nothing, doubles nothing and keeps the APIC invariants',
    (backend) => {
      fc.assert(
        fc.property(scenario, (s) => {
          const m = runScenario(backend, s);
          const t = m.stats().total;
          expect(t.lost).toBe(0);
          expect(t.doubled).toBe(0);
          expectHandledMatches(m, s.cpus, t.delivered);
        }),
        { numRuns: RUNS },
      );
    },
  );

  it('svm-vintr with the intermediate state loses nothing either', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const m = runScenario('svm-vintr', s, true);
        const t = m.stats().total;
        expect(t.lost).toBe(0);
        expect(t.doubled).toBe(0);
      }),
      { numRuns: RUNS },
    );
  });

  it('plain svm-vintr never doubles, and every loss it has is reported', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const m = runScenario('svm-vintr', s);
        const t = m.stats().total;
        expect(t.doubled).toBe(0);
        expect(m.trace.filter('lost').length).toBe(t.lost);
        expectHandledMatches(m, s.cpus, t.delivered);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('random guest programs with exceptions and deliveries that exit on an unmapped IDT page', () => {
  it.each(['svm-event', 'vmx-event', 'vmx-vid', 'vmx-posted'] as const)(
    '%s re-injects every cut-short delivery: nothing lost, nothing doubled',
    (backend) => {
      fc.assert(
        fc.property(scenarioWithExceptions, (s) => {
          const m = runScenario(backend, s);
          const t = m.stats().total;
          expect(t.lost).toBe(0);
          expect(t.doubled).toBe(0);
          expectHandledMatches(m, s.cpus, t.delivered);
          // Every cut-short delivery was re-injected, except one the run ended before its entry.
          expect(m.trace.filter('vectoring').length - m.trace.filter('reinject').length).toBeLessThanOrEqual(s.cpus);
          // Every queued #GP was injected, except those the run ended before their entry.
          const gpQueued = m.trace.filter('exit').filter((e) => e.label === 'msr').length;
          // (b = 3: an exception; two queued #GPs merge into one #DF.)
          const gpInjected = m.trace.filter('inject').filter((e) => e.b === 3).length;
          if (s.hypervisorExceptions === true) expect(gpQueued - gpInjected).toBeLessThanOrEqual(s.cpus);
          else expect(gpInjected).toBe(0);
        }),
        { numRuns: RUNS },
      );
    },
  );

  it('svm-vintr with the intermediate state re-injects too', () => {
    fc.assert(
      fc.property(scenarioWithExceptions, (s) => {
        const t = runScenario('svm-vintr', s, true).stats().total;
        expect(t.lost).toBe(0);
        expect(t.doubled).toBe(0);
      }),
      { numRuns: RUNS },
    );
  });

  it('the generated programs cut deliveries short, and dropping their re-injection loses interrupts (so the check above can fail)', () => {
    const samples = fc.sample(scenarioWithExceptions, { numRuns: 40, seed: 7 });
    let cut = 0;
    let lost = 0;
    for (const s of samples) {
      cut += runScenario('vmx-event', s).trace.filter('vectoring').length;
      const m = new Machine({ cpus: s.cpus, backend: 'vmx-event', seed: s.seed, costs: { jitter: 0.3 }, dropReinjection: true });
      s.programs.forEach((p, cpu) => m.load(cpu, p));
      for (const [at, action] of s.devices) m.at(at, action);
      m.run(200_000);
      lost += m.stats().total.lost;
    }
    expect(cut).toBeGreaterThan(0);
    expect(lost).toBeGreaterThan(0);
  });
});

describe('the random scenarios exercise queued hypervisor exceptions', () => {
  it('some generated scenarios draw hypervisorExceptions and inject a queued #GP (so the check above can fail)', () => {
    const samples = fc.sample(scenarioWithExceptions, { numRuns: 40, seed: 7 });
    let injected = 0;
    for (const s of samples) {
      if (s.hypervisorExceptions !== true) continue;
      injected += runScenario('vmx-event', s).trace.filter('inject').filter((e) => e.a === 13 && e.b === 3).length;
    }
    expect(injected).toBeGreaterThan(0);
  });
});

describe('the random scenarios exercise the race', () => {
  it('plain svm-vintr loses interrupts in some generated scenarios (so the check above can fail)', () => {
    const samples = fc.sample(scenario, { numRuns: 60, seed: 7 });
    const lossy = samples.filter((s) => runScenario('svm-vintr', s).stats().total.lost > 0).length;
    expect(lossy).toBeGreaterThan(0);
  });
});
