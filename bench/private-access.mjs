/**
 * `node bench/private-access.mjs`: what an ES private member (`#name`) costs against an ordinary
 * property (what a TypeScript `private` member is at run time) in a hot loop, on this Node.
 *
 * Why it exists: the library uses `#private` members everywhere except in the fast-path device
 * classes (LocalApic, ApicPage, ApicTimer, Scheduler, IoApic, Pic8259, PicPair, ApicBus, Platform,
 * HostClock), which keep TypeScript `private` (docs/performance.md, "Private members"). A minifier
 * shortens `#names` but must keep property names whole, so `#` makes bundles smaller; on V8 11.3
 * (Node 20) it also makes each access dearer, which this loop shows in isolation. Timing only: it
 * asserts nothing and is not part of `npm test`.
 *
 * Each class does the same work per call: one method call, a field read-modify-write and a
 * typed-array store, as an interrupt controller's register update does.
 */
const ROUNDS = 6;
const OPS = 50_000_000;

class Ordinary {
  constructor() {
    this.x = 0;
    this.words = new Uint32Array(8);
  }
  op(v) {
    return this.step(v);
  }
  step(v) {
    this.x = (this.x + v) | 0;
    this.words[v & 7] = this.x;
    return this.x;
  }
}

class PrivateFields {
  #x = 0;
  #words = new Uint32Array(8);
  op(v) {
    return this.step(v);
  }
  step(v) {
    this.#x = (this.#x + v) | 0;
    this.#words[v & 7] = this.#x;
    return this.#x;
  }
}

class PrivateMethod {
  constructor() {
    this.x = 0;
    this.words = new Uint32Array(8);
  }
  op(v) {
    return this.#step(v);
  }
  #step(v) {
    this.x = (this.x + v) | 0;
    this.words[v & 7] = this.x;
    return this.x;
  }
}

class PrivateBoth {
  #x = 0;
  #words = new Uint32Array(8);
  op(v) {
    return this.#step(v);
  }
  #step(v) {
    this.#x = (this.#x + v) | 0;
    this.#words[v & 7] = this.#x;
    return this.#x;
  }
}

function loop(o, n) {
  let sink = 0;
  for (let i = 0; i < n; i++) sink = (sink + o.op(i)) | 0;
  return sink;
}

const KINDS = [
  ['ordinary property (TS private)', Ordinary],
  ['#fields', PrivateFields],
  ['#method', PrivateMethod],
  ['#fields + #method', PrivateBoth],
];
const times = new Map(KINDS.map(([name]) => [name, []]));
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, Kind] of KINDS) {
    const o = new Kind();
    loop(o, OPS / 50); // warm-up: let the optimising compiler settle
    const t0 = process.hrtime.bigint();
    loop(o, OPS);
    times.get(name).push(Number(process.hrtime.bigint() - t0) / OPS);
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
console.log(`Node ${process.versions.node} (V8 ${process.versions.v8}), ${OPS} ops x ${ROUNDS} rounds, median ns/op:`);
const base = median(times.get(KINDS[0][0]));
for (const [name] of KINDS) {
  const m = median(times.get(name));
  console.log(`  ${name.padEnd(32)} ${m.toFixed(2)} ns  (${(m / base).toFixed(2)}x)`);
}
