/**
 * The 4 KiB APIC page as real hardware lays it out, with 256-bit vector operations.
 *
 * IRR, ISR and TMR are each eight 32-bit words at a 16-byte stride (SDM figure "IRR, ISR and
 * TMR Registers"): vector `v` lives in word `base/4 + (v >> 5) * 4`, bit `v & 31`. The page is
 * a plain `Uint32Array` so a backend can treat it as a VMX virtual-APIC page and a snapshot can
 * copy it byte for byte.
 *
 * Finding the highest set vector is the hot path of every pending check, acknowledge and EOI.
 * For IRR and ISR the page keeps the highest set vector itself (so those reads are one field
 * load) and an 8-bit *summary* (bit w set iff word w is non-zero), so that finding the next one
 * when the highest is cleared is two `Math.clz32` calls instead of a scan of eight words. Code
 * that writes IRR/ISR words of {@link ApicPage.words} directly must call {@link ApicPage.resync}
 * afterwards.
 *
 * @module
 */
import { APIC_IRR, APIC_ISR, APIC_PAGE_WORDS, APIC_TMR } from './registers.js';

/** Word index of the first word of each 256-bit register. */
export const IRR_WORD = APIC_IRR >> 2;
export const ISR_WORD = APIC_ISR >> 2;
export const TMR_WORD = APIC_TMR >> 2;

/**
 * The same word indexes for the hot methods below. A `const enum` is inlined as a literal by
 * tsc and esbuild; V8 reads an imported or module-level constant through a cell or context slot
 * with a hole check at every use, which costs more than the bit operation it feeds.
 */
const enum W {
  Isr = 0x100 >> 2, // ISR_WORD
  Tmr = 0x180 >> 2, // TMR_WORD
  Irr = 0x200 >> 2, // IRR_WORD
}

/** Word index of vector `v` within a 256-bit register starting at word `base`. */
export function vectorWord(base: number, v: number): number {
  return base + ((v >> 5) << 2);
}

/** Highest set vector of a 256-bit register by a plain scan, or -1. */
export function highestVector(words: Uint32Array, base: number): number {
  for (let w = 7; w >= 0; w--) {
    const x = words[base + (w << 2)]!;
    if (x !== 0) return (w << 5) + 31 - Math.clz32(x);
  }
  return -1;
}

/** Recomputes the 8-bit summary of a 256-bit register. */
function summarize(words: Uint32Array, base: number): number {
  let s = 0;
  for (let w = 0; w < 8; w++) if (words[base + (w << 2)] !== 0) s |= 1 << w;
  return s;
}

/** The highest set vector of the register at `base` whose summary is `summary`, or -1. */
function highestBySummary(words: Uint32Array, base: number, summary: number): number {
  if (summary === 0) return -1;
  const w = 31 - Math.clz32(summary);
  return (w << 5) + 31 - Math.clz32(words[base + (w << 2)]!);
}

/**
 * The APIC page plus the IRR/ISR summaries and highest vectors that make searches O(1).
 *
 * @example
 * ```ts
 * import { ApicPage } from 'irqchip';
 * import { registers } from 'irqchip/registers';
 *
 * const page = new ApicPage();
 * page.setIrr(0x41);
 * page.setIrr(0x30);
 * page.highestIrr();                     // 0x41
 * page.moveIrrToIsr(0x41);
 * page.get(registers.APIC_IRR + 0x10);   // IRR bits 32-63 (registers 16 bytes apart): 0x00010000, vector 0x30
 * ```
 */
export class ApicPage {
  /** 1024 words = the 4 KiB page, real layout. */
  readonly words: Uint32Array;
  /**
   * The highest vector set in IRR, or -1. Stored as `v | 0`: a caller's integer can arrive as a
   * heap number (unoptimised `(x >>> 0) % 224` yields one), and a single heap number stored here
   * would turn the field into a boxed double for every ApicPage (and every hot read with it).
   */
  private irrTop = -1;
  /** The highest vector set in ISR (the one being serviced), or -1. */
  private isrTop = -1;
  private irrSummary = 0;
  private isrSummary = 0;

  constructor(words: Uint32Array = new Uint32Array(APIC_PAGE_WORDS)) {
    this.words = words;
    this.resync();
  }

  /** Recomputes the summaries after the words were changed behind the page's back. */
  resync(): void {
    this.irrSummary = summarize(this.words, IRR_WORD);
    this.isrSummary = summarize(this.words, ISR_WORD);
    this.irrTop = highestBySummary(this.words, IRR_WORD, this.irrSummary);
    this.isrTop = highestBySummary(this.words, ISR_WORD, this.isrSummary);
  }

  /** Reads the 32-bit register at a byte offset. */
  get(offset: number): number {
    return this.words[offset >> 2]!;
  }

  /** Writes the 32-bit register at a byte offset (not for IRR/ISR: they have summaries). */
  set(offset: number, value: number): void {
    this.words[offset >> 2] = value;
  }

  // --- IRR ---------------------------------------------------------------------------------

  /** Sets IRR bit `v`. @returns true if it was already set (the request coalesced). */
  setIrr(v: number): boolean {
    const words = this.words;
    const i = W.Irr + ((v >> 5) << 2);
    const bit = 1 << (v & 31);
    const old = words[i]!;
    words[i] = old | bit;
    this.irrSummary |= 1 << (v >> 5);
    if (v > this.irrTop) this.irrTop = v | 0;
    return (old & bit) !== 0;
  }

  clearIrr(v: number): void {
    const words = this.words;
    const i = W.Irr + ((v >> 5) << 2);
    const x = words[i]! & ~(1 << (v & 31));
    words[i] = x;
    if (x === 0) this.irrSummary &= ~(1 << (v >> 5));
    if (v === this.irrTop) this.irrTop = highestBySummary(words, W.Irr, this.irrSummary);
  }

  testIrr(v: number): boolean {
    return ((this.words[W.Irr + ((v >> 5) << 2)]! >>> (v & 31)) & 1) !== 0;
  }

  /**
   * One fixed-interrupt acceptance: writes TMR bit `v` by the trigger mode (set when `level`,
   * cleared otherwise) and sets IRR bit `v`; both words are found with one index computation and
   * a request that coalesces writes nothing to IRR.
   * @returns true if the IRR bit was already set (the request coalesced).
   */
  accept(v: number, level: boolean): boolean {
    // Kept small in bytecode (V8 inlines it into callers' loops within a cumulative budget), and
    // writes only what changes: most acceptances repeat the trigger mode TMR already holds, and
    // a coalescing one finds its IRR bit (and so the summary bit) already set.
    const words = this.words;
    const k = (v >> 5) << 2;
    const bit = 1 << (v & 31);
    const t = W.Tmr + k;
    const tmr = words[t]!;
    if (((tmr & bit) !== 0) !== level) words[t] = tmr ^ bit;
    const i = W.Irr + k;
    const old = words[i]!;
    if ((old & bit) !== 0) return true;
    words[i] = old | bit;
    this.irrSummary |= 1 << (v >> 5);
    if (v > this.irrTop) this.irrTop = v | 0;
    return false;
  }

  /** Highest vector in IRR, or -1. */
  highestIrr(): number {
    return this.irrTop;
  }

  // --- ISR ---------------------------------------------------------------------------------

  setIsr(v: number): void {
    this.words[W.Isr + ((v >> 5) << 2)]! |= 1 << (v & 31);
    this.isrSummary |= 1 << (v >> 5);
    if (v > this.isrTop) this.isrTop = v | 0;
  }

  clearIsr(v: number): void {
    const words = this.words;
    const i = W.Isr + ((v >> 5) << 2);
    const x = words[i]! & ~(1 << (v & 31));
    words[i] = x;
    if (x === 0) this.isrSummary &= ~(1 << (v >> 5));
    if (v === this.isrTop) this.isrTop = highestBySummary(words, W.Isr, this.isrSummary);
  }

  /**
   * Clears the highest ISR bit (an EOI).
   * @returns its vector, or -1 if ISR was empty.
   */
  popIsr(): number {
    const v = this.isrTop;
    if (v < 0) return -1;
    const words = this.words;
    const i = W.Isr + ((v >> 5) << 2);
    const rest = words[i]! & ~(1 << (v & 31));
    words[i] = rest;
    if (rest === 0) this.isrSummary &= ~(1 << (v >> 5));
    this.isrTop = highestBySummary(words, W.Isr, this.isrSummary);
    return v;
  }

  /** Moves vector `v` from IRR to ISR (an INTA). */
  moveIrrToIsr(v: number): void {
    const words = this.words;
    const k = (v >> 5) << 2;
    const bit = 1 << (v & 31);
    const i = W.Irr + k;
    const irr = words[i]! & ~bit;
    words[i] = irr;
    if (irr === 0) this.irrSummary &= ~(1 << (v >> 5));
    if (v === this.irrTop) this.irrTop = highestBySummary(words, W.Irr, this.irrSummary);
    const j = W.Isr + k;
    words[j] = words[j]! | bit;
    this.isrSummary |= 1 << (v >> 5);
    if (v > this.isrTop) this.isrTop = v | 0;
  }

  testIsr(v: number): boolean {
    return ((this.words[W.Isr + ((v >> 5) << 2)]! >>> (v & 31)) & 1) !== 0;
  }

  /** Highest vector in ISR (the one being serviced), or -1. */
  highestIsr(): number {
    return this.isrTop;
  }

  // --- TMR ---------------------------------------------------------------------------------

  /** Sets TMR bit `v` when `level`, clears it otherwise. */
  writeTmr(v: number, level: boolean): void {
    const words = this.words;
    const i = W.Tmr + ((v >> 5) << 2);
    const bit = 1 << (v & 31);
    words[i] = level ? words[i]! | bit : words[i]! & ~bit;
  }

  testTmr(v: number): boolean {
    return ((this.words[W.Tmr + ((v >> 5) << 2)]! >>> (v & 31)) & 1) !== 0;
  }

  /** Clears IRR, ISR and TMR (INIT and reset). */
  clearVectors(): void {
    for (let w = 0; w < 8; w++) {
      const k = w << 2;
      this.words[IRR_WORD + k] = 0;
      this.words[ISR_WORD + k] = 0;
      this.words[TMR_WORD + k] = 0;
    }
    this.irrSummary = 0;
    this.isrSummary = 0;
    this.irrTop = -1;
    this.isrTop = -1;
  }
}
