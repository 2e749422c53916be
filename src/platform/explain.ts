/**
 * "Why is my interrupt not delivered?" — the controller-level part of the answer.
 *
 * Each reason is a stable code (for tools and tests) plus a sentence with the numbers that
 * decided it (for people). The checks run in the order the hardware applies them, so the first
 * obstacle found is the one that matters now. The Machine layer adds the vCPU's reasons
 * (RFLAGS.IF, interrupt shadow, NMI blocking) and the backend's.
 *
 * @module
 */
import { checkInt, typeName } from '../errors.js';
import type { LocalApic } from '../apic/local-apic.js';
import { IRR_WORD, ISR_WORD, vectorWord } from '../apic/page.js';
import { FIRST_LEGAL_VECTOR, PRIORITY_CLASS_MASK } from '../apic/registers.js';
import { LVT_MASKED, LVT_OFFSETS, LVT_VECTOR_MASK, LvtIndex } from '../apic/registers.js';
import type { IoApic } from '../ioapic/ioapic.js';
import { RTE_MASKED, RTE_POLARITY_LOW, RTE_REMOTE_IRR, vectorOf } from '../ioapic/registers.js';
import type { Pic8259 } from '../pic/pic8259.js';
import type { PicPair } from '../pic/pic-pair.js';

/** The answer to "is this vector deliverable now, and if not, why?" */
export interface Explanation {
  deliverable: boolean;
  /** A stable code: see {@link ExplainReason}. */
  reason: ExplainReason;
  message: string;
}

export type ExplainReason =
  | 'deliverable'
  | 'illegal-vector'
  | 'apic-disabled'
  | 'extint-first'
  | 'in-service'
  | 'blocked-by-tpr'
  | 'blocked-by-isr'
  | 'higher-vector-first'
  | 'ioapic-masked'
  | 'ioapic-remote-irr'
  | 'ioapic-polarity-inactive'
  | 'pic-masked'
  | 'pic-in-service'
  | 'pic-cascade-blocked'
  | 'pic-lint0-masked'
  | 'pic-deliverable'
  | 'lvt-masked'
  | 'apic-software-disabled'
  | 'not-requested'
  // Reasons the Machine adds (vCPU and backend):
  | 'vcpu-not-running'
  | 'halted-if-clear'
  | 'guest-if-clear'
  | 'interrupt-shadow'
  | 'waiting-for-window'
  | 'posted-not-synced'
  | 'vintr-pending'
  | 'vintr-taken-unsynced'
  | 'pending-reinjection'
  | 'reinjection-dropped';

const hex = (v: number): string => `0x${v.toString(16).padStart(2, '0')}`;

function answer(deliverable: boolean, reason: ExplainReason, message: string): Explanation {
  return { deliverable, reason, message };
}

/**
 * Explains the fate of `vector` at one CPU's local APIC (and the I/O APIC feeding it).
 * Reads state only: it never changes anything.
 * @throws TypeError if `apic` is not a LocalApic or `ioapic` is given and is not an IoApic;
 *   RangeError (TypeError if not a number) if `vector` is not an integer in 0..255.
 */
export function explainVector(apic: LocalApic, vector: number, ioapic?: IoApic, pic?: PicPair): Explanation {
  if (!isLocalApic(apic)) throw new TypeError(`apic must be a LocalApic, got ${typeName(apic)}`);
  checkInt('vector', vector, 0, 255);
  if (ioapic !== undefined && !isIoApic(ioapic)) {
    throw new TypeError(`ioapic must be an IoApic or undefined, got ${typeName(ioapic)}`);
  }
  if (vector < FIRST_LEGAL_VECTOR) {
    return answer(false, 'illegal-vector', `vector ${hex(vector)} is 0-15: the APIC never delivers it (ESR "illegal vector")`);
  }
  if (apic.mode === 'disabled') {
    const viaPic = pic ? explainPic(pic, apic, vector) : undefined;
    if (viaPic) return viaPic;
    return answer(false, 'apic-disabled', 'the local APIC is globally disabled (IA32_APIC_BASE.EN = 0)');
  }
  const page = apic.page;
  const bit = (base: number): boolean => ((page[vectorWord(base, vector)]! >>> (vector & 31)) & 1) === 1;
  if (bit(IRR_WORD)) return explainPending(apic, vector);
  if (bit(ISR_WORD)) {
    return answer(false, 'in-service', `vector ${hex(vector)} is in service (ISR); it can be requested again but waits for its EOI`);
  }
  const source = (ioapic ? explainIoApic(ioapic, vector) : undefined) ?? (pic ? explainPic(pic, apic, vector) : undefined);
  if (source) return source;
  const lvt = explainLvt(apic, vector);
  if (lvt) return lvt;
  if (!apic.softwareEnabled) {
    return answer(false, 'apic-software-disabled', 'the local APIC is software-disabled (SVR bit 8 = 0): fixed interrupts are dropped on arrival');
  }
  return answer(false, 'not-requested', `vector ${hex(vector)} is not in IRR: nothing has requested it`);
}

function explainPending(apic: LocalApic, vector: number): Explanation {
  if (apic.extIntPending()) {
    return answer(false, 'extint-first', 'an ExtINT (8259A virtual wire) is pending and is taken before any IRR vector');
  }
  const ppr = apic.processorPriority;
  const tpr = apic.getTpr();
  if ((vector & PRIORITY_CLASS_MASK) <= (ppr & PRIORITY_CLASS_MASK)) {
    if ((tpr & PRIORITY_CLASS_MASK) >= (ppr & PRIORITY_CLASS_MASK)) {
      return answer(false, 'blocked-by-tpr', `vector ${hex(vector)} (class ${vector >> 4}) does not beat TPR ${hex(tpr)} (class ${tpr >> 4})`);
    }
    return answer(false, 'blocked-by-isr', `vector ${hex(vector)} (class ${vector >> 4}) does not beat the in-service class ${ppr >> 4} (PPR ${hex(ppr)})`);
  }
  const pending = apic.pendingVector();
  if (pending !== vector) {
    return answer(false, 'higher-vector-first', `vector ${hex(pending)} is higher and will be delivered first`);
  }
  return answer(true, 'deliverable', `vector ${hex(vector)} is the highest in IRR and beats PPR ${hex(ppr)}`);
}

/** An I/O APIC entry with this vector that is holding it back, if any. */
function explainIoApic(ioapic: IoApic, vector: number): Explanation | undefined {
  for (let pin = 0; pin < ioapic.pins; pin++) {
    const low = Number(ioapic.redirection(pin) & 0xffff_ffffn);
    if (vectorOf(low) !== vector) continue;
    if ((low & RTE_MASKED) !== 0 && ioapic.pinActive(pin)) {
      return answer(false, 'ioapic-masked', `I/O APIC pin ${pin} (vector ${hex(vector)}) is asserted but masked`);
    }
    if ((low & RTE_POLARITY_LOW) !== 0 && ioapic.pinLevel(pin) && !ioapic.pinActive(pin)) {
      return answer(false, 'ioapic-polarity-inactive', `I/O APIC pin ${pin} (vector ${hex(vector)}) is programmed active low and its wire is high: the line reads inactive`);
    }
    if ((low & RTE_REMOTE_IRR) !== 0) {
      return answer(false, 'ioapic-remote-irr', `I/O APIC pin ${pin} (vector ${hex(vector)}) has remote IRR set: it waits for an EOI before delivering again`);
    }
  }
  return undefined;
}

// ---- Argument checks (structural, so that a second copy of the package still passes) --------


function isLocalApic(value: unknown): value is LocalApic {
  const a = value as LocalApic;
  return (
    typeof value === 'object' &&
    value !== null &&
    a.page instanceof Uint32Array &&
    typeof a.pendingVector === 'function' &&
    typeof a.extIntPending === 'function' &&
    typeof a.getTpr === 'function'
  );
}

function isIoApic(value: unknown): value is IoApic {
  const io = value as IoApic;
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof io.pins === 'number' &&
    typeof io.redirection === 'function' &&
    typeof io.pinActive === 'function'
  );
}

/** LVT entries whose vector is this one and that are masked. */
function explainLvt(apic: LocalApic, vector: number): Explanation | undefined {
  const names = ['timer', 'thermal', 'performance', 'LINT0', 'LINT1', 'error', 'CMCI'];
  for (const index of [LvtIndex.Timer, LvtIndex.Thermal, LvtIndex.Perf, LvtIndex.Lint0, LvtIndex.Lint1, LvtIndex.Error, LvtIndex.Cmci]) {
    const lvt = apic.page[LVT_OFFSETS[index]! >> 2]!;
    if ((lvt & LVT_VECTOR_MASK) === vector && (lvt & LVT_MASKED) !== 0) {
      return answer(false, 'lvt-masked', `the ${names[index]} LVT entry carries vector ${hex(vector)} but is masked (bit 16)`);
    }
  }
  return undefined;
}

/**
 * The 8259A path (ExtINT): a vector in a chip's range whose request is held back by the IMR, an
 * equal or higher priority in service, a blocked cascade, or a masked LINT0.
 */
function explainPic(pair: PicPair, apic: LocalApic, vector: number): Explanation | undefined {
  const chips: Array<[Pic8259, string, number]> = [
    [pair.master, 'master', 0],
    [pair.slave, 'slave', 8],
  ];
  for (const [chip, name, irqBase] of chips) {
    if (chip.icw1 === 0 || (vector & ~7) !== chip.vectorBase) continue;
    const ir = vector & 7;
    const bit = 1 << ir;
    const irq = irqBase + ir;
    if ((chip.irr & bit) === 0) continue;
    if ((chip.imr & bit) !== 0) return answer(false, 'pic-masked', `IRQ${irq} is requested at the ${name} 8259A but masked in its IMR`);
    if (chip.pendingIr() !== ir) {
      return answer(false, 'pic-in-service', `IRQ${irq} waits at the ${name} 8259A: an equal or higher priority request is in service or pending (ISR 0x${chip.isr.toString(16)})`);
    }
    if (name === 'slave') {
      const m = pair.master;
      if ((m.imr & 4) !== 0 || m.pendingIr() !== 2) {
        return answer(false, 'pic-cascade-blocked', `IRQ${irq} is ready at the slave 8259A but the master's IR2 (cascade) is masked or outranked`);
      }
    }
    if (apic.mode !== 'disabled' && !apic.extIntPending()) {
      return answer(false, 'pic-lint0-masked', `IRQ${irq} is ready at the 8259A but the CPU does not see it: LINT0 is masked, not in ExtINT mode or not wired to the 8259A (picOutput), and no I/O APIC ExtINT entry forwards it`);
    }
    return answer(true, 'pic-deliverable', `IRQ${irq} is the 8259A's next vector (${hex(vector)}): the next INTA returns it`);
  }
  return undefined;
}
