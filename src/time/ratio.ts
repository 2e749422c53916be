/**
 * Exact integer scaling between time bases (nanoseconds, APIC timer ticks, TSC cycles).
 *
 * `a * b / c` must be exact for determinism: floating-point drift would make two machines that
 * ran the same inputs disagree after enough timer periods. Products below 2^53 stay on plain
 * numbers (`%` on integral doubles is exact); larger ones fall back to BigInt.
 *
 * @module
 */

/** floor(a * b / c) for non-negative safe integers a, b and positive c. */
export function mulDivFloor(a: number, b: number, c: number): number {
  const p = a * b;
  if (p <= Number.MAX_SAFE_INTEGER) {
    const r = p % c;
    return (p - r) / c;
  }
  return Number((BigInt(a) * BigInt(b)) / BigInt(c));
}

/** ceil(a * b / c) for non-negative safe integers a, b and positive c. */
export function mulDivCeil(a: number, b: number, c: number): number {
  const p = a * b;
  if (p <= Number.MAX_SAFE_INTEGER) {
    const r = p % c;
    return (p - r) / c + (r === 0 ? 0 : 1);
  }
  const bc = BigInt(c);
  return Number((BigInt(a) * BigInt(b) + bc - 1n) / bc);
}

/**
 * floor((a * b + add) / c) for non-negative safe integers a, b, add and positive c.
 * Exact like {@link mulDivFloor}; used to count whole ticks from a base that lies a fraction of a
 * nanosecond before an integer time.
 */
export function mulAddDivFloor(a: number, b: number, add: number, c: number): number {
  const p = a * b + add;
  if (p <= Number.MAX_SAFE_INTEGER) {
    const r = p % c;
    return (p - r) / c;
  }
  return Number((BigInt(a) * BigInt(b) + BigInt(add)) / BigInt(c));
}

/** (a * b) mod c for non-negative safe integers a, b and positive c, exactly. */
export function mulMod(a: number, b: number, c: number): number {
  const p = a * b;
  if (p <= Number.MAX_SAFE_INTEGER) return p % c;
  return Number((BigInt(a) * BigInt(b)) % BigInt(c));
}

/** The greatest common divisor of two non-negative integers (Euclid), for reducing time-base ratios. */
export function gcd(a: number, b: number): number {
  while (b !== 0) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}
