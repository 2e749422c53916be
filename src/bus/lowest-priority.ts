/**
 * Lowest-priority arbitration: which one of the APICs addressed by a lowest-priority message
 * gets it.
 *
 * The SDM ("Lowest Priority Delivery Mode") describes the hardware rule: the *focus processor*
 * (one that already has the vector pending or in service) wins if focus checking is enabled;
 * otherwise the processor with the lowest arbitration priority (APR) wins. It leaves ties to the
 * chipset. Real systems disagree (research notes): Bochs does focus + APR, Xen/crosvm lowest PPR,
 * KVM hashes the vector, QEMU and FreeBSD take the first match. Each is offered as a policy so a
 * guest can be tested against each, and every policy is deterministic.
 *
 * @module
 */

/** How a lowest-priority message picks its target among the addressed APICs. */
export type LowestPriorityPolicy = 'arbitration' | 'lowest-ppr' | 'vector-hash' | 'first';

export const LOWEST_PRIORITY_POLICIES: readonly LowestPriorityPolicy[] = [
  'arbitration',
  'lowest-ppr',
  'vector-hash',
  'first',
];

/** What arbitration needs to know about a candidate. */
export interface ArbitrationCandidate {
  arbitrationPriority(): number;
  readonly processorPriority: number;
  readonly focusChecking: boolean;
  isFocusFor(vector: number): boolean;
}

/**
 * Picks the winner among `candidates[0..count)`.
 *
 * - `arbitration` (default, SDM): a focus processor (focus checking enabled on it and the vector
 *   in its IRR or ISR) wins; otherwise the lowest APR. Ties go round-robin: the first tied
 *   candidate at or after `rotor` in candidate order, so repeated messages spread over equals.
 * - `lowest-ppr` (Xen, crosvm, ACRN): the lowest PPR; ties round-robin as above.
 * - `vector-hash` (KVM's default): candidate `vector % count`.
 * - `first` (QEMU, FreeBSD bhyve): the first candidate.
 *
 * @returns the index of the winner in `candidates`.
 */
export function arbitrate<T extends ArbitrationCandidate>(
  policy: LowestPriorityPolicy,
  candidates: readonly T[],
  count: number,
  vector: number,
  rotor: number,
): number {
  if (count <= 1 || policy === 'first') return 0;
  if (policy === 'vector-hash') return vector % count;
  if (policy === 'arbitration') {
    for (let i = 0; i < count; i++) {
      const c = candidates[i]!;
      if (c.focusChecking && c.isFocusFor(vector)) return i;
    }
  }
  let best = Infinity;
  for (let i = 0; i < count; i++) {
    const p = priorityOf(policy, candidates[i]!);
    if (p < best) best = p;
  }
  const start = rotor % count;
  for (let k = 0; k < count; k++) {
    const i = (start + k) % count;
    if (priorityOf(policy, candidates[i]!) === best) return i;
  }
  return 0;
}

function priorityOf(policy: LowestPriorityPolicy, c: ArbitrationCandidate): number {
  return policy === 'lowest-ppr' ? c.processorPriority : c.arbitrationPriority();
}
