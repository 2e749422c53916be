/**
 * One Intel 8259A programmable interrupt controller, as a state machine over the registers of the
 * data sheet (order no. 231468): IRR, ISR and IMR, the priority resolver, the initialisation
 * sequence ICW1-ICW4 and the operation commands OCW1-OCW3.
 *
 * The chip knows nothing about ports or about the other chip of a PC: it sees its A0 input, its
 * eight IR input wires and an INTA cycle. `PicPair` (pic-pair.ts) wires two of them into the
 * PC/AT arrangement. Every choice where the data sheet is silent is written down in docs/pic.md.
 *
 * All state lives in plain number/boolean fields, and the methods used per interrupt (setIrq,
 * pendingIr, acknowledgeIr, the EOI commands) allocate nothing.
 *
 * The priority resolver's answer (the IR an INTA would take) is kept in a field and recomputed
 * by every method that changes one of its inputs (IRR, ISR, IMR, the rotation, special mask
 * mode, SFNM, the cascade inputs), so `pendingIr()` and `output` are a field read: the pair asks
 * for both chips' INT outputs after every wire change, INTA and EOI.
 *
 * @module
 */
import type { StateReader, StateWriter } from '../codec/state.js';
import { checkBool, checkInt, checkObject } from '../errors.js';
import {
  A0_DATA,
  BYTE_MASK,
  ICW1_IC4,
  ICW1_INIT,
  ICW1_LTIM,
  ICW1_SNGL,
  ICW3_SLAVE_ID_MASK,
  ICW4_AEOI,
  ICW4_MASK,
  ICW4_SFNM,
  IR_COUNT,
  IR_MASK,
  NO_IR,
  OCW2_COMMAND_SHIFT,
  OCW2_LEVEL_MASK,
  OCW3_ESMM,
  OCW3_P,
  OCW3_RIS,
  OCW3_RR,
  OCW3_SELECT,
  OCW3_SMM,
  Ocw2Command,
  POLL_INTERRUPT,
  SPURIOUS_IR,
} from './registers.js';

/** Whether a chip is wired as a master (SP/EN high) or as a slave (SP/EN low). */
export type PicRole = 'master' | 'slave';

/** Options of {@link Pic8259}. */
export interface Pic8259Options {
  /**
   * The chip's role, fixed by its SP/EN pin in the board wiring (default `'master'`). A master's
   * ICW3 lists the IR inputs that have slaves; a slave's ICW3 is its cascade ID.
   */
  role?: PicRole;
  /**
   * The ICW3 in effect before the guest's first initialisation (default 0). `PicPair` passes
   * the PC/AT wiring (master 0x04, slave 2) so cascading works before any ICW3, as in QEMU/KVM.
   */
  icw3?: number;
}

/** `nextIcw` when the chip is initialised and A0 = 1 writes go to OCW1. */
const READY = 0;
/** `nextIcw` values during the initialisation sequence: the ICW the next A0 = 1 write is. */
const EXPECT_ICW2 = 2;
const EXPECT_ICW3 = 3;
const EXPECT_ICW4 = 4;

/** ICW1 "c. IR7 input is assigned priority 7": IR0 has the highest priority. */
const INITIAL_LOWEST_PRIORITY_IR = 7;

/**
 * Literals for the per-interrupt paths (setIrq, pendingIr, acknowledgeIr, the EOI commands). V8
 * reads an imported constant through a cell with a hole check at every use, which costs more
 * than the 8-bit operation it feeds; `const enum` members are inlined by tsc and esbuild. The
 * named originals are in registers.ts.
 */
const enum K {
  ByteMask = 0xff, // BYTE_MASK
  IrMask = 0x07, // IR_MASK
  IrCount = 8, // IR_COUNT
  LowestIrReset = 7, // INITIAL_LOWEST_PRIORITY_IR
  NoIr = -1, // NO_IR
  Icw1Sngl = 0x02, // ICW1_SNGL
  Icw1Ltim = 0x08, // ICW1_LTIM
  Icw1Init = 0x10, // ICW1_INIT
  Icw2VectorBaseMask = 0xf8, // ICW2_VECTOR_BASE_MASK
  Icw3SlaveIdMask = 0x07, // ICW3_SLAVE_ID_MASK
  Icw4Aeoi = 0x02, // ICW4_AEOI
  Icw4Sfnm = 0x10, // ICW4_SFNM
  Ocw3Select = 0x08, // OCW3_SELECT
  Ocw2LevelMask = 0x07, // OCW2_LEVEL_MASK
  Ocw2CommandShift = 5, // OCW2_COMMAND_SHIFT
  // Ocw2Command values
  RotateInAeoiClear = 0,
  NonSpecificEoi = 1,
  SpecificEoi = 3,
  RotateInAeoiSet = 4,
  RotateOnNonSpecificEoi = 5,
  SetPriority = 6,
  RotateOnSpecificEoi = 7,
}

/**
 * One 8259A.
 *
 * @example
 * ```ts
 * import { Pic8259 } from 'irqchip';
 *
 * const pic = new Pic8259();              // one chip; PicPair cascades two
 * pic.write(0, 0x13);                     // ICW1 (A0 = 0): edge, single, ICW4 follows
 * pic.write(1, 0x20);                     // ICW2 (A0 = 1): vectors 0x20-0x27
 * pic.write(1, 0x01);                     // ICW4: 8086 mode
 * pic.setIrq(3, true);
 * pic.acknowledge();                      // 0x23
 * ```
 */
export class Pic8259 {
  /** `true` when wired as a master (SP/EN = 1), `false` for a slave. */
  readonly isMaster: boolean;
  private readonly powerOnIcw3: number;

  // The three registers of the data sheet's block diagram.
  private irrBits = 0;
  private isrBits = 0;
  private imrBits = 0;
  /** The current level of each IR wire; the edge-sense memory for edge-triggered inputs. */
  private lineBits = 0;
  /** Per-line level-trigger selection from the chipset's ELCR (1 = level). */
  private elcrBits = 0;
  // Initialisation command words as last written (ICW4 keeps bits 4:0).
  private icw1Value = 0;
  private icw2Value = 0;
  private icw3Value = 0;
  private icw4Value = 0;
  private nextIcw = READY;
  /** The IR with the lowest priority; the one after it (mod 8) has the highest. */
  private lowestIr = INITIAL_LOWEST_PRIORITY_IR;
  private readIsrSelected = false;
  private pollArmed = false;
  private smm = false;
  private rotateAeoi = false;
  // Derived from ICW1, ICW3, ICW4, the ELCR, the rotation and SMM by updateDerived(), so the
  // per-interrupt paths read one field instead of recomputing them.
  /** The lines that are level-triggered: all with ICW1.LTIM, else the ELCR bits (see levelMask). */
  private levelBits = 0;
  /** A master's IR inputs that have slaves: ICW3 in cascade mode, else 0 (and 0 on a slave). */
  private cascadeBits = 0;
  /** The cascade address a slave in cascade mode answers (ICW3 bits 2:0), else -1. */
  private cascadeId = -1;
  /**
   * Plain fully nested mode, what PC operating systems use: IR0 highest (no rotation), no
   * special mask mode, no SFNM. Priority order is then bit order and the resolver is a few bit
   * operations; the other modes take the general path. Kept by updateDerived().
   */
  private plainNested = true;
  /**
   * The priority resolver's result for the current state (an IR, or NO_IR): what `pendingIr()`
   * returns. Every method that changes IRR, ISR, IMR, the rotation or a mode calls `resolve()`
   * (or stores an answer it knows) before it returns, so this is never stale when read.
   * test/pic/pic-resolver-cache.property.test.ts checks it against a from-scratch resolution.
   */
  private resolvedIr: number = K.NoIr;

  /**
   * @throws TypeError if `opts` is not an object (or undefined); RangeError for another role or
   * an `icw3` outside 0..255.
   */
  constructor(opts: Pic8259Options = {}) {
    checkObject('opts', opts);
    const role = opts.role ?? 'master';
    if (role !== 'master' && role !== 'slave') {
      throw new RangeError(`role must be 'master' or 'slave', got ${String(role)}`);
    }
    this.isMaster = role === 'master';
    this.powerOnIcw3 = checkInt('icw3', opts.icw3 ?? 0, 0, BYTE_MASK);
    this.icw3Value = this.powerOnIcw3;
    this.updateDerived();
  }

  // ---- Snapshots -------------------------------------------------------------------------

  /**
   * Writes the chip's state into a snapshot section.
   * @internal
   */
  saveState(w: StateWriter): void {
    w.u8(this.irrBits).u8(this.isrBits).u8(this.imrBits).u8(this.lineBits).u8(this.elcrBits);
    w.u8(this.icw1Value).u8(this.icw2Value).u8(this.icw3Value).u8(this.icw4Value);
    w.u8(this.nextIcw).u8(this.lowestIr);
    w.bool(this.readIsrSelected).bool(this.pollArmed).bool(this.smm).bool(this.rotateAeoi);
  }

  /**
   * Reads and checks a chip state; returns the function that applies it. `elcrWritable`: the
   * ELCR bits the board implements for this chip (PicPair: IRQ0-2 and IRQ8/13 are always edge).
   * @internal
   */
  readState(r: StateReader, prefix: string, elcrWritable: number = K.ByteMask): (chip?: Pic8259) => void {
    const f = (name: string): string => `${prefix}.${name}`;
    const irr = r.u8(f('irr'));
    const isr = r.u8(f('isr'));
    const imr = r.u8(f('imr'));
    const lines = r.u8(f('lines'));
    const elcr = r.u8(f('elcr'));
    const icw1 = r.u8(f('icw1'));
    const icw2 = r.u8(f('icw2'));
    const icw3 = r.u8(f('icw3'));
    const icw4 = r.u8(f('icw4'));
    if ((elcr & ~elcrWritable) !== 0) r.fail(f('elcr'), `reserved bits set in ${elcr} (writable: ${elcrWritable})`);
    const nextIcw = r.u8(f('nextIcw'), EXPECT_ICW4);
    checkIcwState(r, f, icw1, icw4, nextIcw);
    const lowestIr = r.u8(f('lowestIr'), IR_MASK);
    const readIsr = r.bool(f('readIsr'));
    const poll = r.bool(f('pollArmed'));
    const smm = r.bool(f('specialMaskMode'));
    const rotateAeoi = r.bool(f('rotateAeoi'));
    // Level-triggered requests follow their wire (ICW1.LTIM makes every line level-triggered).
    const level = (icw1 & ICW1_LTIM) !== 0 ? K.ByteMask : elcr;
    if ((irr & level) !== (lines & level)) r.fail(f('irr'), `level-triggered requests ${irr & level} do not follow the wires ${lines & level}`);
    // `chip`: where to apply (PicPair first applies to scratch chips to check the cascade).
    return (chip = this) => {
      chip.irrBits = irr;
      chip.isrBits = isr;
      chip.imrBits = imr;
      chip.lineBits = lines;
      chip.elcrBits = elcr;
      chip.icw1Value = icw1;
      chip.icw2Value = icw2;
      chip.icw3Value = icw3;
      chip.icw4Value = icw4;
      chip.nextIcw = nextIcw;
      chip.lowestIr = lowestIr;
      chip.readIsrSelected = readIsr;
      chip.pollArmed = poll;
      chip.smm = smm;
      chip.rotateAeoi = rotateAeoi;
      chip.updateDerived();
      chip.resolve();
    };
  }

  // ---- Introspection ---------------------------------------------------------------------

  /** Interrupt request register: edge requests latched, level requests following their line. */
  get irr(): number {
    return this.irrBits;
  }
  /** In-service register. */
  get isr(): number {
    return this.isrBits;
  }
  /** Interrupt mask register (OCW1). */
  get imr(): number {
    return this.imrBits;
  }
  /** The current level of the eight IR wires, bit n = IRn. */
  get lines(): number {
    return this.lineBits;
  }
  /** The ELCR byte this chip uses (1 = level-triggered line). */
  get elcr(): number {
    return this.elcrBits;
  }
  /** The lines that are level-triggered now: all of them with ICW1.LTIM, else the ELCR bits. */
  get levelMask(): number {
    return this.levelBits;
  }
  /** ICW1 as last written (0 before the first initialisation). */
  get icw1(): number {
    return this.icw1Value;
  }
  /** ICW2 as last written. */
  get icw2(): number {
    return this.icw2Value;
  }
  /** ICW3 as last written (or the power-on value). */
  get icw3(): number {
    return this.icw3Value;
  }
  /** ICW4 bits 4:0 as last written (0 when ICW1.IC4 = 0: "all functions set to zero"). */
  get icw4(): number {
    return this.icw4Value;
  }
  /** Vector bits 7:3 from ICW2; an INTA for IRn returns `vectorBase | n`. */
  get vectorBase(): number {
    return this.icw2Value & K.Icw2VectorBaseMask;
  }
  /** The IR that currently has the lowest priority (7 after initialisation). */
  get lowestPriority(): number {
    return this.lowestIr;
  }
  /** `true` while an ICW1 has been written and ICW2-ICW4 are still expected. */
  get initialising(): boolean {
    return this.nextIcw !== READY;
  }
  /** The ICW the next A0 = 1 write is taken as (2, 3 or 4), or 0 when it is OCW1. */
  get expectedIcw(): number {
    return this.nextIcw;
  }
  /** OCW3 read-register selection: `true` = ISR, `false` = IRR at A0 = 0. */
  get readsIsr(): boolean {
    return this.readIsrSelected;
  }
  /** A poll command was issued and the next read returns the poll word. */
  get pollPending(): boolean {
    return this.pollArmed;
  }
  /** Special mask mode (OCW3 ESMM/SMM). */
  get specialMaskMode(): boolean {
    return this.smm;
  }
  /** Rotate in automatic EOI mode (OCW2 100 sets it, 000 clears it). */
  get rotateInAeoi(): boolean {
    return this.rotateAeoi;
  }
  /** ICW4.AEOI. */
  get autoEoi(): boolean {
    return (this.icw4Value & ICW4_AEOI) !== 0;
  }
  /** ICW4.SFNM. */
  get specialFullyNested(): boolean {
    return (this.icw4Value & ICW4_SFNM) !== 0;
  }
  /** ICW1.SNGL: a single chip, no cascading and no ICW3. */
  get singleMode(): boolean {
    return (this.icw1Value & ICW1_SNGL) !== 0;
  }
  /** A slave's cascade ID (ICW3 bits 2:0). */
  get slaveId(): number {
    return this.icw3Value & ICW3_SLAVE_ID_MASK;
  }
  /** The INT output pin: some unmasked request beats everything in service. */
  get output(): boolean {
    return this.resolvedIr !== K.NoIr;
  }

  // ---- Host side: wires and INTA --------------------------------------------------------

  /**
   * Drives input IR`ir` to `level` (the wire level).
   *
   * Edge-triggered inputs latch a request on the rising edge and keep it in IRR until an INTA or
   * poll takes it, even if the wire falls first (QEMU and KVM; the data sheet asks the wire to stay
   * high until the first INTA). Level-triggered inputs make IRR follow the wire.
   * @throws RangeError if `ir` is not an integer 0..7; TypeError if `level` is not a boolean.
   */
  setIrq(ir: number, level: boolean): void {
    if (typeof ir !== 'number' || (ir & K.IrMask) !== ir) checkInt('ir', ir, 0, IR_COUNT - 1);
    if (level !== true && level !== false) checkBool('level', level);
    this.setLine(ir, level);
  }

  /**
   * {@link setIrq} without the argument checks, for `PicPair`, which has checked them.
   * @returns whether IRR changed (if not, neither did the INT output).
   * @internal
   */
  setLine(ir: number, level: boolean): boolean {
    const bit = 1 << ir;
    const lines = this.lineBits;
    const irr = this.irrBits;
    // `=== true`: V8 does not know `level` is a boolean, and a bare `level ?` is a full ToBoolean.
    const high = level === true ? bit : 0;
    const levelTriggered = this.levelBits & bit;
    this.lineBits = (lines & ~bit) | high;
    // Level-triggered: the IRR bit follows the wire. Edge-triggered: set on a rising edge (high
    // now, low before), otherwise left alone.
    const next = (irr & ~levelTriggered) | (high & (levelTriggered | ~lines));
    if (next === irr) return false;
    this.irrBits = next;
    this.resolve();
    return true;
  }

  /**
   * Sets the per-line level-trigger bits (the chipset's ELCR byte for this chip). The chip itself
   * reserves no bit; `PicPair` applies the PC's reserved-bit masks. Lines that are now
   * level-triggered take their IRR bit from the wire at once; lines switched to edge keep a
   * request that is already in IRR (as QEMU/KVM, which do not touch IRR on an ELCR write).
   * @throws RangeError if `value` is not an integer 0..255 (TypeError if not a number).
   */
  setElcr(value: number): void {
    if (typeof value !== 'number' || (value & K.ByteMask) !== value) checkInt('value', value, 0, BYTE_MASK);
    this.elcrBits = value & K.ByteMask; // -0 -> 0
    this.updateDerived();
    this.syncLevelRequests();
    this.resolve();
  }

  /**
   * The IR an INTA would acknowledge now, or -1 (NO_IR) when the INT output is low. Pure.
   *
   * Fully nested mode: the highest-priority unmasked request wins if it has higher priority than
   * every IS bit. Special fully nested mode (a master's ICW4.SFNM): a request on an input that has
   * a slave is not locked out by its own IS bit, so higher-priority slave requests nest. Special
   * mask mode: "enables interrupts from all other levels (lower as well as higher) that are not
   * masked" - the ISR blocks only its own levels (data sheet; bhyve and Bochs agree).
   *
   * The answer is computed whenever the state changes (see `resolve`), so this is a field read.
   */
  pendingIr(): number {
    return this.resolvedIr;
  }

  /** Runs the priority resolver on the current state and stores the result for `pendingIr`. */
  private resolve(): void {
    // No unmasked request: the usual state right after an INTA or EOI, decided without ranks.
    // (Kept tiny so that V8 inlines it at every state change.)
    this.resolvedIr = (this.irrBits & ~this.imrBits) === 0 ? K.NoIr : this.resolveRequests();
  }

  /** The priority resolver proper, when there is some unmasked request. Pure. */
  private resolveRequests(): number {
    const requests = this.irrBits & ~this.imrBits;
    if (this.plainNested === false) return this.resolveGeneral(requests);
    // Plain fully nested mode: priority order is bit order, so the lowest set request bit wins,
    // and it is pending when no IS bit is at that bit or below it (the same or a higher priority).
    const winner = requests & -requests;
    return (this.isrBits & ((winner << 1) - 1)) === 0 ? 31 - Math.clz32(winner) : K.NoIr;
  }

  /**
   * The resolver for any mode: rotated priorities, special mask mode (the ISR blocks only its
   * own levels) and special fully nested mode (a request on an input with a slave is not blocked
   * by its own IS bit).
   */
  private resolveGeneral(requests: number): number {
    const cascadeShield = (this.icw4Value & K.Icw4Sfnm) !== 0 ? this.cascadeInputs() : 0;
    if (this.smm === true) return this.highestIr(requests & ~(this.isrBits & ~cascadeShield));
    const rank = this.rankOf(requests);
    const ir = this.irAtRank(rank);
    const inService = this.isrBits & ~(cascadeShield & (1 << ir));
    return rank < this.rankOf(inService) ? ir : K.NoIr;
  }

  /**
   * The chip's part of an INTA cycle: resolves, sets the IS bit (or, in AEOI mode, performs the
   * automatic EOI and the AEOI rotation), clears an edge request from IRR (a level request keeps
   * following its wire) and returns the IR. Returns -1 (NO_IR) and changes nothing when no request
   * is pending: the caller then reads the spurious "DEFAULT IR7" vector.
   */
  acknowledgeIr(): number {
    const ir = this.resolvedIr;
    if (ir === K.NoIr) return K.NoIr;
    const bit = 1 << ir;
    this.irrBits &= ~(bit & ~this.levelBits); // an edge request leaves IRR; a level one stays
    if ((this.icw4Value & K.Icw4Aeoi) === 0) {
      this.isrBits |= bit;
      // In fully nested mode the new IS bit has the highest priority of every request left (the
      // winner was the highest), so it blocks them all; SMM and SFNM may let some through.
      if (this.smm === false && (this.icw4Value & K.Icw4Sfnm) === 0) {
        this.resolvedIr = K.NoIr;
        return ir;
      }
    } else if (this.rotateAeoi === true) {
      this.lowestIr = ir;
      this.updateDerived();
    }
    this.resolve();
    return ir;
  }

  /**
   * A complete INTA cycle of this chip on its own: the vector `vectorBase | IR`, or
   * `vectorBase | 7` with no IS bit set when nothing is pending (spurious IR7). A lone chip has
   * no slaves to hand the cycle to; `PicPair` does the cascade.
   */
  acknowledge(): number {
    const ir = this.acknowledgeIr();
    return (this.icw2Value & K.Icw2VectorBaseMask) | (ir === NO_IR ? SPURIOUS_IR : ir);
  }

  /**
   * The vector this chip supplies for `ir` in 8086 mode: ICW2 bits 7:3 and the IR number.
   * @throws RangeError if `ir` is not an integer 0..7 (TypeError if not a number).
   */
  vectorFor(ir: number): number {
    if (typeof ir !== 'number' || (ir & K.IrMask) !== ir) checkInt('ir', ir, 0, IR_COUNT - 1);
    return (this.icw2Value & K.Icw2VectorBaseMask) | ir;
  }

  /**
   * Whether an INTA for `ir` is handed to a slave: master, cascade mode and ICW3 bit `ir`.
   * @throws RangeError if `ir` is not an integer 0..7 (TypeError if not a number).
   */
  hasSlaveOn(ir: number): boolean {
    if (typeof ir !== 'number' || (ir & K.IrMask) !== ir) checkInt('ir', ir, 0, IR_COUNT - 1);
    return ((this.cascadeBits >>> ir) & 1) !== 0;
  }

  /**
   * Whether this chip, as a slave in cascade mode, answers cascade address `id` (its ICW3).
   * @throws RangeError if `id` is not an integer 0..7 (TypeError if not a number).
   */
  respondsToCascade(id: number): boolean {
    if (typeof id !== 'number' || (id & K.IrMask) !== id) checkInt('id', id, 0, IR_COUNT - 1);
    return this.answersCascade(id);
  }

  /**
   * The IR inputs an INTA hands to a slave (ICW3 on a master in cascade mode, else 0), for
   * `PicPair`, which tests the bit of an IR it got from `acknowledgeIr`.
   * @internal
   */
  get slaveInputs(): number {
    return this.cascadeBits;
  }

  /** {@link respondsToCascade} without the argument check, for `PicPair`. @internal */
  answersCascade(id: number): boolean {
    return this.cascadeId === id;
  }

  /**
   * Back to the power-on state (see docs/pic.md): initialised, vector base 0, IMR/ISR/IRR
   * clear, IR0 highest priority, IRR selected, ELCR all edge. The wires keep their levels.
   */
  reset(): void {
    this.icw1Value = 0;
    this.icw2Value = 0;
    this.icw3Value = this.powerOnIcw3;
    this.icw4Value = 0;
    this.nextIcw = READY;
    this.elcrBits = 0;
    this.resetOperatingState(); // updates the derived fields
    this.irrBits = this.lineBits & this.levelBits; // all edge now: no request until a new edge
    this.resolve();
  }

  // ---- Guest side: the A0 register pair ------------------------------------------------

  /**
   * A guest read at A0 = `a0`. After a poll command the read is the poll word, at either address
   * ("the next RD pulse"); otherwise A0 = 0 gives IRR or ISR as OCW3 selected, A0 = 1 the IMR.
   * @throws RangeError if `a0` is not 0 or 1 (host misuse).
   */
  read(a0: number): number {
    checkInt('a0', a0, 0, 1);
    if (this.pollArmed) {
      this.pollArmed = false;
      return this.pollWord();
    }
    if (a0 === A0_DATA) return this.imrBits;
    return this.readIsrSelected ? this.isrBits : this.irrBits;
  }

  /**
   * A guest write of `value` (masked to 8 bits) at A0 = `a0`. A0 = 0: D4 = 1 is ICW1, else D3
   * selects OCW3 (1) or OCW2 (0). A0 = 1: the expected ICW during initialisation, else OCW1.
   * @throws RangeError if `a0` is not 0 or 1 (host misuse). Never for any value.
   */
  write(a0: number, value: number): void {
    if (a0 === 0) {
      const byte = value & K.ByteMask;
      if ((byte & (K.Icw1Init | K.Ocw3Select)) === 0) {
        this.writeOcw2(byte); // the EOIs: the command word written per interrupt
      } else if ((byte & K.Icw1Init) !== 0) {
        this.writeIcw1(byte);
      } else {
        this.writeOcw3(byte);
      }
    } else if (a0 === 1) {
      this.writeData(value & K.ByteMask);
    } else {
      checkInt('a0', a0, 0, 1); // throws: nothing has changed
    }
    // Any command word may change an input of the resolver (IMR, ISR, rotation, SMM, ICW1/3/4).
    this.resolve();
  }

  // ---- Command words -----------------------------------------------------------------------

  private writeData(byte: number): void {
    switch (this.nextIcw) {
      case EXPECT_ICW2:
        this.icw2Value = byte;
        // ICW3 only in cascade mode, ICW4 only when ICW1.IC4 asked for it.
        this.nextIcw = !this.singleMode ? EXPECT_ICW3 : this.afterIcw3();
        return;
      case EXPECT_ICW3:
        this.icw3Value = byte;
        this.updateDerived();
        this.nextIcw = this.afterIcw3();
        return;
      case EXPECT_ICW4:
        this.icw4Value = byte & ICW4_MASK;
        this.updateDerived();
        this.nextIcw = READY;
        return;
      default:
        this.imrBits = byte; // OCW1
    }
  }

  private afterIcw3(): number {
    return (this.icw1Value & ICW1_IC4) !== 0 ? EXPECT_ICW4 : READY;
  }

  /**
   * ICW1 starts the initialisation sequence. The data sheet lists what it does: (a) the edge
   * sense circuit is reset, so an input must make a new low-to-high transition; (b) the IMR is
   * cleared; (c) IR7 gets the lowest priority; (e) special mask mode is cleared and status read
   * is set to IRR; (f) without IC4, all ICW4 functions are zero. The ISR, the poll command and
   * rotate-in-AEOI are cleared too (the data sheet is silent; QEMU does so).
   */
  private writeIcw1(byte: number): void {
    this.icw1Value = byte;
    this.icw4Value = 0;
    this.nextIcw = EXPECT_ICW2;
    this.resetOperatingState(); // updates the derived fields (levelBits for LTIM)
    // (a): latched edge requests are dropped and a wire that is already high must fall and rise
    // again (lineBits keeps its level, so a repeated "high" is no edge); level requests follow
    // the wire under the new LTIM.
    this.irrBits = this.lineBits & this.levelBits;
  }

  private resetOperatingState(): void {
    this.imrBits = 0;
    this.isrBits = 0;
    this.lowestIr = INITIAL_LOWEST_PRIORITY_IR;
    this.smm = false;
    this.readIsrSelected = false;
    this.pollArmed = false;
    this.rotateAeoi = false;
    this.updateDerived();
  }

  private writeOcw2(byte: number): void {
    // The two EOIs a guest writes per interrupt first; the other commands out of the way.
    const command = byte >>> K.Ocw2CommandShift;
    if (command === K.NonSpecificEoi) {
      // Plain fully nested mode: the highest-priority IS bit is the lowest set bit.
      if (this.plainNested === true) this.isrBits &= this.isrBits - 1;
      else this.nonSpecificEoi(false);
    } else if (command === K.SpecificEoi) {
      this.isrBits &= ~(1 << (byte & K.Ocw2LevelMask));
    } else {
      this.writeOtherOcw2(command, byte & K.Ocw2LevelMask);
    }
  }

  /** OCW2 commands other than non-specific and specific EOI. */
  private writeOtherOcw2(command: number, level: number): void {
    this.applyOtherOcw2(command, level);
    this.updateDerived(); // the priority may have rotated
  }

  private applyOtherOcw2(command: number, level: number): void {
    // Cases are the Ocw2Command values (registers.ts) as literals.
    switch (command) {
      case K.RotateOnNonSpecificEoi:
        this.nonSpecificEoi(true);
        return;
      case K.RotateOnSpecificEoi:
        // L2-L0 is cleared and becomes the lowest priority, whether or not its IS bit was set.
        this.isrBits &= ~(1 << level);
        this.lowestIr = level;
        return;
      case K.SetPriority:
        this.lowestIr = level;
        return;
      case K.RotateInAeoiSet:
        this.rotateAeoi = true;
        return;
      case K.RotateInAeoiClear:
        this.rotateAeoi = false;
        return;
      default:
        return; // Ocw2Command.Nop
    }
  }

  /**
   * Clears the highest-priority IS bit. In special mask mode "an IS bit that is masked by an IMR
   * bit will not be cleared by a non-specific EOI" (data sheet). With `rotate`, the cleared IR
   * becomes the lowest priority; with nothing in service, nothing happens (no rotation either).
   */
  private nonSpecificEoi(rotate: boolean): void {
    const isr = this.isrBits;
    const candidates = this.smm === true ? isr & ~this.imrBits : isr;
    if (candidates === 0) return;
    const ir = this.highestIr(candidates);
    this.isrBits = isr & ~(1 << ir);
    if (rotate === true) this.lowestIr = ir;
  }

  private writeOcw3(byte: number): void {
    // ESMM = 0 and RR = 0 mean "no action" for their fields, so earlier choices persist.
    if ((byte & OCW3_ESMM) !== 0) this.smm = (byte & OCW3_SMM) !== 0;
    if ((byte & OCW3_RR) !== 0) this.readIsrSelected = (byte & OCW3_RIS) !== 0;
    // P overrides the status read for the next read only ("polling overrides status read").
    if ((byte & OCW3_P) !== 0) this.pollArmed = true;
    this.updateDerived();
  }

  /**
   * The poll command treats the read as an interrupt acknowledge: the highest request goes in
   * service (AEOI and its rotation apply, as for INTA) and the word is 0x80 | level, or 0 when
   * nothing is pending (QEMU and bhyve return 0; the data sheet defines only bit 7 then).
   */
  private pollWord(): number {
    const ir = this.acknowledgeIr();
    return ir === NO_IR ? 0 : POLL_INTERRUPT | ir;
  }

  // ---- Priority resolver ----------------------------------------------------------------

  /** A master's IR inputs that have slaves: ICW3 in cascade mode, none otherwise. */
  private cascadeInputs(): number {
    return this.cascadeBits;
  }

  /**
   * Recomputes the derived fields (`levelBits`, `cascadeBits`, `cascadeId`, `plainNested`) after
   * a change of ICW1, ICW3, ICW4, the ELCR, the rotation or special mask mode.
   */
  private updateDerived(): void {
    const icw1 = this.icw1Value;
    const cascade = (icw1 & K.Icw1Sngl) === 0;
    this.levelBits = (icw1 & K.Icw1Ltim) !== 0 ? K.ByteMask : this.elcrBits;
    this.cascadeBits = this.isMaster === true && cascade ? this.icw3Value : 0;
    this.cascadeId = this.isMaster === false && cascade ? this.icw3Value & K.Icw3SlaveIdMask : -1;
    this.plainNested = this.lowestIr === K.LowestIrReset && this.smm === false && (this.icw4Value & K.Icw4Sfnm) === 0;
  }

  /** After an LTIM or ELCR change, level-triggered IRR bits follow their wires again. */
  private syncLevelRequests(): void {
    const level = this.levelBits;
    this.irrBits = (this.irrBits & ~level) | (this.lineBits & level);
  }

  /**
   * Priority rank (0 = highest) of the highest-priority bit of an 8-bit mask, or 8 when empty.
   * Rotating the mask right by the highest-priority IR puts priority order in bit order, so the
   * lowest set bit is the winner.
   */
  private rankOf(mask: number): number {
    const top = (this.lowestIr + 1) & K.IrMask;
    const rotated = ((mask >>> top) | (mask << (K.IrCount - top))) & K.ByteMask;
    if (rotated === 0) return K.IrCount;
    return 31 - Math.clz32(rotated & -rotated);
  }

  /** The highest-priority IR in `mask`, or NO_IR. */
  private highestIr(mask: number): number {
    // IR0 highest (no rotation, the usual case): the lowest set bit (31 - clz32(0) = -1 = NO_IR).
    if (this.lowestIr === K.LowestIrReset) return 31 - Math.clz32(mask & -mask);
    return this.highestIrRotated(mask);
  }

  /** {@link highestIr} with rotated priorities: rankOf, then irAtRank, in one piece. */
  private highestIrRotated(mask: number): number {
    const top = (this.lowestIr + 1) & K.IrMask;
    const rotated = ((mask >>> top) | (mask << (K.IrCount - top))) & K.ByteMask;
    if (rotated === 0) return K.NoIr;
    return (31 - Math.clz32(rotated & -rotated) + top) & K.IrMask;
  }

  /** The IR that has priority rank `rank` (0..7) under the current rotation. */
  private irAtRank(rank: number): number {
    return (rank + this.lowestIr + 1) & K.IrMask;
  }
}

/**
 * The initialisation sequence a restored chip is in must be one ICW1 could have started
 * (8259A data sheet, "Initialization Command Words"): ICW1 always has D4 set (0 = never
 * initialised since power-on), ICW3 is expected only in cascade mode, ICW4 only when ICW1.IC4
 * asked for it, and ICW4 holds its five defined bits.
 */
function checkIcwState(r: StateReader, f: (name: string) => string, icw1: number, icw4: number, nextIcw: number): void {
  if (icw1 !== 0 && (icw1 & ICW1_INIT) === 0) r.fail(f('icw1'), `${icw1} lacks the ICW1 bit D4`);
  if ((icw4 & ~ICW4_MASK) !== 0) r.fail(f('icw4'), `undefined bits set in ${icw4}`);
  if (nextIcw === 1) r.fail(f('nextIcw'), 'is not an initialisation step');
  if (nextIcw !== READY && icw1 === 0) r.fail(f('nextIcw'), 'an initialisation step without an ICW1');
  if (nextIcw === EXPECT_ICW3 && (icw1 & ICW1_SNGL) !== 0) r.fail(f('nextIcw'), 'expects ICW3 in single mode');
  if (nextIcw === EXPECT_ICW4 && (icw1 & ICW1_IC4) === 0) r.fail(f('nextIcw'), 'expects ICW4 although ICW1 did not ask for it');
}
