import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectHandledMatches, runScenario, scenario } from './scenario.js';
import { propertyRuns } from '../fuzz/config.js';

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

describe('the random scenarios exercise the race', () => {
  it('plain svm-vintr loses interrupts in some generated scenarios (so the check above can fail)', () => {
    const samples = fc.sample(scenario, { numRuns: 60, seed: 7 });
    const lossy = samples.filter((s) => runScenario('svm-vintr', s).stats().total.lost > 0).length;
    expect(lossy).toBeGreaterThan(0);
  });
});
