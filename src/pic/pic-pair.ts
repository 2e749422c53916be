/**
 * The PC/AT pair of 8259As: a master at ports 0x20/0x21 and a slave at 0xA0/0xA1 whose INT
 * output drives the master's IR2, plus the chipset's ELCR at 0x4D0/0x4D1 that makes single ISA
 * lines level-triggered.
 *
 * The pair owns the wiring between the chips: it feeds the slave's INT to master IR2 (wire-ORed
 * with the ISA IRQ2 line), runs the cascaded INTA cycle (the master picks the IR, the slave whose
 * ICW3 ID matches supplies the vector) and reports every change of the master's INT output to
 * `onOutput`, which a platform wires to LINT0 and I/O APIC pin 0. Choices: docs/pic.md.
 *
 * @module
 */
import { checkRestoreOptions, decodeDevice, encodeDevice, type RestoreOptions } from '../codec/container.js';
import type { StateReader, StateWriter } from '../codec/state.js';
import { checkBool, checkFunction, checkInt, checkObject } from '../errors.js';
import { Pic8259 } from './pic8259.js';
import {
  A0_MASK,
  CASCADE_IR,
  ELCR_MASTER,
  ELCR_MASTER_WRITABLE,
  ELCR_SLAVE,
  ELCR_SLAVE_WRITABLE,
  IRQ_COUNT,
  NO_IR,
  OPEN_BUS,
  PC_MASTER_ICW3,
  PC_SLAVE_ICW3,
  PIC_MASTER_COMMAND,
  PIC_MASTER_DATA,
  PIC_PORTS_TEXT,
  PIC_SLAVE_COMMAND,
  PIC_SLAVE_DATA,
  SLAVE_IRQ_BASE,
  SPURIOUS_IR,
} from './registers.js';

/** Options of {@link PicPair}. */
export interface PicPairOptions {
  /** Called with the new level whenever the master's INT output changes (never on no change). */
  onOutput?: (level: boolean) => void;
}

/** Version of the 'pic' snapshot section. */
const PIC_STATE_VERSION = 1;

/** Bits per chip in the 16-bit views (`elcr`, `lines`). */
const CHIP_SHIFT = 8;

/**
 * Literals for the per-interrupt paths (setIrq, acknowledge, the port writes of an EOI): V8
 * reads an imported constant through a cell with a hole check at every use, and a `switch` on
 * imported case labels compares through cells too; `const enum` members are inlined by tsc and
 * esbuild. The named originals are in registers.ts.
 */
const enum P {
  MasterCommand = 0x20, // PIC_MASTER_COMMAND
  MasterData = 0x21, // PIC_MASTER_DATA
  SlaveCommand = 0xa0, // PIC_SLAVE_COMMAND
  SlaveData = 0xa1, // PIC_SLAVE_DATA
  ElcrMaster = 0x4d0, // ELCR_MASTER
  ElcrSlave = 0x4d1, // ELCR_SLAVE
  A0Mask = 0x01, // A0_MASK
  CascadeIr = 2, // CASCADE_IR
  SlaveIrqBase = 8, // SLAVE_IRQ_BASE
  IrqMask = 0x0f, // IRQ_COUNT - 1
  IrMask = 0x07, // IR_MASK
  NoIr = -1, // NO_IR
  SpuriousIr = 7, // SPURIOUS_IR
  OpenBus = 0xff, // OPEN_BUS
  ElcrMasterWritable = 0xf8, // ELCR_MASTER_WRITABLE
  ElcrSlaveWritable = 0xde, // ELCR_SLAVE_WRITABLE
}

/**
 * Master and slave 8259A cascaded on master IR2, with the ELCR.
 *
 * The PC's two cascaded 8259As (docs/pic.md): guest port I/O on 0x20/0x21, 0xA0/0xA1 and the ELCR
 * on 0x4D0/0x4D1, device lines by ISA IRQ, and the CPU side (INTR output, INTA).
 *
 * @example
 * ```ts
 * import { PicPair } from 'irqchip';
 *
 * let intr = false;                                 // the CPU's INTR input
 * const pic = new PicPair({ onOutput: (level) => { intr = level; } });
 * pic.ioWrite(0x20, 0x11); pic.ioWrite(0x21, 0x08); pic.ioWrite(0x21, 0x04); pic.ioWrite(0x21, 0x01);
 * pic.ioWrite(0xa0, 0x11); pic.ioWrite(0xa1, 0x70); pic.ioWrite(0xa1, 0x02); pic.ioWrite(0xa1, 0x01);
 * pic.ioWrite(0x21, 0x00); pic.ioWrite(0xa1, 0x00); // OCW1: everything unmasked
 * pic.setIrq(1, true);                               // the keyboard
 * if (pic.hasInterrupt()) pic.acknowledge();         // INTA: 0x09
 * ```
 */
export class PicPair {
  /** The master chip (IRQ0-7, ports 0x20/0x21). */
  readonly master: Pic8259;
  /** The slave chip (IRQ8-15, ports 0xA0/0xA1), its INT wired to master IR2. */
  readonly slave: Pic8259;
  private readonly onOutput: ((level: boolean) => void) | undefined;
  /** The ISA IRQ2 wire, ORed with the slave's INT on master IR2. */
  private irq2Level = false;
  private tracer: ((masterIr: number, vector: number) => void) | undefined = undefined;
  /** The master's INT output as last reported to `onOutput`. */
  private outputLevel = false;

  /**
   * @throws TypeError if `opts` is not an object (or undefined), or `onOutput` is given and is not a function.
   *
   * Builds both chips in their power-on state; `opts.onOutput` hears every change of the INTR output.
   */
  constructor(opts: PicPairOptions = {}) {
    checkObject('opts', opts);
    checkFunction('onOutput', opts.onOutput, true);
    this.onOutput = opts.onOutput;
    this.master = new Pic8259({ role: 'master', icw3: PC_MASTER_ICW3 });
    this.slave = new Pic8259({ role: 'slave', icw3: PC_SLAVE_ICW3 });
  }

  /** ELCR2:ELCR1 as one 16-bit value, bit n = IRQn level-triggered (reserved bits read 0). */
  get elcr(): number {
    return this.master.elcr | (this.slave.elcr << CHIP_SHIFT);
  }

  /** The wire level of ISA IRQ0-15 as last set by {@link PicPair.setIrq}, bit n = IRQn. */
  get lines(): number {
    // Master IR2's wire carries the slave's INT too; report only the ISA IRQ2 line there.
    const cascadeBit = 1 << CASCADE_IR;
    const master = (this.master.lines & ~cascadeBit) | (this.irq2Level ? cascadeBit : 0);
    return master | (this.slave.lines << CHIP_SHIFT);
  }

  /** The master's INT output. */
  get output(): boolean {
    return this.outputLevel;
  }

  /**
   * Drives ISA line `irq` (0..15) to wire level `level`. IRQ2 is wired-OR with the slave's INT on
   * master IR2, so asserting it makes the master hand an INTA to the slave as usual.
   * @throws RangeError if `irq` is not an integer 0..15; TypeError if `level` is not a boolean.
   *
   * @example
   * ```ts
   * import { PicPair } from 'irqchip';
   *
   * const pic = new PicPair();
   * pic.ioWrite(0x4d1, 0x08); // ELCR: IRQ 11 level-triggered
   * pic.setIrq(11, true);     // a PCI device holds its line
   * ```
   */
  setIrq(irq: number, level: boolean): void {
    if (typeof irq !== 'number' || (irq & P.IrqMask) !== irq) checkInt('irq', irq, 0, IRQ_COUNT - 1);
    if (level !== true && level !== false) checkBool('level', level);
    if (irq === P.CascadeIr) {
      this.setIrq2(level);
      return;
    }
    // A wire change that leaves IRR alone (an edge line falling, a request already latched)
    // cannot change any INT output: the outputs are only re-evaluated when a request changed.
    // One setLine call site for both chips keeps this method small enough for V8 to inline.
    const onSlave = irq >= P.SlaveIrqBase;
    if (!(onSlave ? this.slave : this.master).setLine(irq & P.IrMask, level)) return;
    if (onSlave && !this.syncCascade()) return;
    this.syncOutput();
  }

  /** setIrq(2, level): the ISA IRQ2 wire, wire-ORed with the slave's INT on master IR2. */
  private setIrq2(level: boolean): void {
    if (level === this.irq2Level) return;
    this.irq2Level = level;
    if (this.syncCascade()) this.syncOutput();
  }

  /** Whether the master's INT output is high: an INTA now would find an interrupt. */
  hasInterrupt(): boolean {
    return this.master.output;
  }

  /**
   * One INTA cycle; returns the vector the CPU reads.
   *
   * The master acknowledges its highest request. If that IR has a slave (cascade mode, ICW3), the
   * slave whose ID matches acknowledges its own highest request and supplies the vector; both
   * ISRs are updated and each chip applies its own AEOI. Spurious cases, when the request went
   * away before the INTA: nothing on the master gives the master's IR7 vector with no IS bit set;
   * nothing on the slave gives the slave's IR7 vector (IRQ15) with master IS2 set and no slave IS
   * bit. When no slave answers the cascade address the data bus floats: 0xFF.
   *
   * @example
   * ```ts
   * import { PicPair } from 'irqchip';
   *
   * const pic = new PicPair();
   * pic.setIrq(0, true);
   * const vector = pic.hasInterrupt() ? pic.acknowledge() : -1; // the INTA cycle
   * pic.ioWrite(0x20, 0x20);                                    // the handler's non-specific EOI
   * ```
   */
  acknowledge(): number {
    const master = this.master;
    const ir = master.acknowledgeIr();
    let vector: number;
    if (ir === P.NoIr) {
      vector = master.vectorBase | P.SpuriousIr;
    } else if (((master.slaveInputs >>> ir) & 1) !== 0) {
      // The slave's half re-syncs the cascade line itself when its acknowledge changed it
      // (cascadeAfterSlaveAcknowledge); the master's half cannot change it.
      vector = this.slaveCycle(ir);
    } else {
      vector = master.vectorBase | ir;
    }
    this.syncOutput();
    if (this.tracer !== undefined) this.tracer(ir, vector);
    return vector;
  }

  /**
   * Installs (or removes) a tracer of INTA cycles: called with the master IR acknowledged (-1 when
   * none, giving the spurious vector) and the vector returned.
   * @internal
   */
  setTracer(fn: ((masterIr: number, vector: number) => void) | undefined): void {
    checkFunction('fn', fn, true);
    this.tracer = fn;
  }

  /**
   * A guest IN from `port`: 0x20/0x21 master, 0xA0/0xA1 slave, 0x4D0/0x4D1 ELCR1/ELCR2.
   * @throws RangeError (TypeError for a non-number) if `port` is not one of the pair's ports.
   */
  ioRead(port: number): number {
    switch (port) {
      case PIC_MASTER_COMMAND:
      case PIC_MASTER_DATA:
        return this.readMaster(port & A0_MASK);
      case PIC_SLAVE_COMMAND:
      case PIC_SLAVE_DATA:
        return this.readSlave(port & A0_MASK);
      case ELCR_MASTER:
        return this.master.elcr;
      case ELCR_SLAVE:
        return this.slave.elcr;
      default:
        throw portError(port);
    }
  }

  /**
   * A guest OUT of `value` (masked to 8 bits; never throws for any value) to `port`. ELCR writes
   * store the value with the reserved bits cleared (0xF8 for ELCR1, 0xDE for ELCR2).
   * @throws RangeError (TypeError for a non-number) if `port` is not one of the pair's ports.
   *
   * @example
   * ```ts
   * import { PicPair } from 'irqchip';
   *
   * const pic = new PicPair();
   * pic.ioWrite(0x21, 0xfb);  // OCW1 on the master: mask all but IR2 (the cascade)
   * pic.ioRead(0x21);         // 0xfb
   * ```
   */
  ioWrite(port: number, value: number): void {
    // One call site for the chips' write (so V8 compiles one copy of it into this method), and
    // the ELCR ports and the error out of the way.
    let chip: Pic8259;
    switch (port) {
      case P.MasterCommand:
      case P.MasterData:
        chip = this.master;
        break;
      case P.SlaveCommand:
      case P.SlaveData:
        chip = this.slave;
        break;
      default:
        this.writeElcr(port, value);
        return;
    }
    chip.write(port & P.A0Mask, value);
    if (chip === this.slave) this.syncCascade();
    this.syncOutput();
  }

  /** ioWrite for the ELCR ports (and the error for a port the pair does not own). */
  private writeElcr(port: number, value: number): void {
    if (port === P.ElcrMaster) {
      this.master.setElcr(value & P.ElcrMasterWritable);
    } else if (port === P.ElcrSlave) {
      this.slave.setElcr(value & P.ElcrSlaveWritable);
      this.syncCascade();
    } else {
      throw portError(port);
    }
    this.syncOutput();
  }

  /** The state of both chips and the ELCR as a snapshot. */
  save(): Uint8Array {
    return encodeDevice('pic', PIC_STATE_VERSION, (w) => this.saveState(w));
  }

  /**
   * Restores a snapshot made by {@link save}; on a SnapshotError nothing changes. The 8259A pair
   * has no timed state, so `opts.time` (accepted for uniformity with the other devices) has
   * nothing to rebase.
   * @throws TypeError / RangeError for malformed options.
   */
  restore(bytes: Uint8Array, opts?: RestoreOptions): void {
    checkRestoreOptions(opts);
    const r = decodeDevice(bytes, 'pic', PIC_STATE_VERSION);
    const apply = this.readState(r);
    r.end();
    apply();
  }

  /**
   * Writes the state into a snapshot section.
   * @internal
   */
  saveState(w: StateWriter): void {
    this.master.saveState(w);
    this.slave.saveState(w);
    w.bool(this.irq2Level).bool(this.outputLevel);
  }

  /**
   * Reads and checks a state; returns the function that applies it. The output level is restored
   * as it was (no `onOutput` call): the devices it drives restore their own input levels.
   * @internal
   */
  readState(r: StateReader): () => void {
    const master = this.master.readState(r, 'master', P.ElcrMasterWritable);
    const slave = this.slave.readState(r, 'slave', P.ElcrSlaveWritable);
    const irq2 = r.bool('irq2');
    const output = r.bool('output');
    // The wiring must agree with the chips' state: master IR2 = slave INT OR the IRQ2 wire, and
    // the pair's output = the master's INT. Resolve both on scratch chips to check.
    const m = new Pic8259({ role: 'master', icw3: PC_MASTER_ICW3 });
    const s = new Pic8259({ role: 'slave', icw3: PC_SLAVE_ICW3 });
    master(m);
    slave(s);
    const ir2 = (m.lines & (1 << P.CascadeIr)) !== 0;
    if (ir2 !== (irq2 || s.output)) r.fail('master.lines', `IR2 is ${ir2} but the slave's INT is ${s.output} and IRQ2 ${irq2}`);
    if (output !== m.output) r.fail('output', `is ${output} but the master's INT is ${m.output}`);
    return () => {
      master();
      slave();
      this.irq2Level = irq2;
      this.outputLevel = output;
    };
  }

  /** Both chips and the ELCR back to the power-on state (docs/pic.md); wire levels are kept. */
  reset(): void {
    this.master.reset();
    this.slave.reset();
    this.syncCascade();
    this.syncOutput();
  }

  // ---- Wiring ----------------------------------------------------------------------------

  private readMaster(a0: number): number {
    const value = this.master.read(a0);
    this.syncOutput(); // a poll read is an acknowledge
    return value;
  }

  private readSlave(a0: number): number {
    const polled = this.slave.pollPending;
    const value = this.slave.read(a0);
    if (polled) this.cascadeAfterSlaveAcknowledge();
    this.syncOutput();
    return value;
  }

  /** The slave's half of a cascaded INTA for cascade address `cascadeId`. */
  private slaveCycle(cascadeId: number): number {
    const slave = this.slave;
    if (!slave.answersCascade(cascadeId)) return P.OpenBus;
    const ir = slave.acknowledgeIr();
    if (ir === P.NoIr) return slave.vectorBase | P.SpuriousIr;
    this.cascadeAfterSlaveAcknowledge();
    return slave.vectorBase | ir;
  }

  /**
   * The slave's INT falls while its acknowledge sets the IS bit (and, in AEOI mode, rises again
   * when the automatic EOI clears it). If the slave still requests afterwards, the master's
   * edge-triggered IR2 therefore sees a new rising edge and latches a new request; without this,
   * a second slave request pending across an AEOI acknowledge would never reach the CPU. KVM and
   * bhyve get the same effect by pulsing master IR2 whenever the slave requests.
   */
  private cascadeAfterSlaveAcknowledge(): void {
    const master = this.master;
    // With the ISA IRQ2 wire high, master IR2 stays high throughout: no edge.
    if (this.irq2Level === true) {
      master.setLine(P.CascadeIr, true);
      return;
    }
    master.setLine(P.CascadeIr, false);
    if (this.slave.output) master.setLine(P.CascadeIr, true);
  }

  /** Master IR2 = slave INT OR the ISA IRQ2 wire. @returns whether the master's IRR changed. */
  private syncCascade(): boolean {
    return this.master.setLine(P.CascadeIr, this.irq2Level || this.slave.output);
  }

  /** Reports a change of the master's INT output. Kept tiny so that V8 inlines it everywhere. */
  private syncOutput(): void {
    if (this.master.output !== this.outputLevel) this.outputChanged();
  }

  private outputChanged(): void {
    const level = !this.outputLevel;
    this.outputLevel = level; // before the callback, which may re-enter (e.g. acknowledge)
    if (this.onOutput !== undefined) this.onOutput(level);
  }
}

/** The host routed a port the pair does not own. */
function portError(port: unknown): Error {
  if (typeof port !== 'number') {
    return new TypeError(`port must be a number (one of ${PIC_PORTS_TEXT}), got ${typeof port}`);
  }
  const shown = Number.isInteger(port) && port >= 0 ? `0x${port.toString(16)}` : String(port);
  return new RangeError(`port must be one of ${PIC_PORTS_TEXT}, got ${shown}`);
}
