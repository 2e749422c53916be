/**
 * 8259A register layout: I/O ports, initialisation and operation command word bit fields, and the
 * ELCR of the PC chipset.
 *
 * Names follow the Intel 8259A Programmable Interrupt Controller data sheet (order no. 231468),
 * "Programming the 8259A": ICW1-ICW4 (Figure 6 "Initialization command word format") and
 * OCW1-OCW3 (Figure 8 "Operation command word format"). The ELCR (edge/level control register) is
 * not part of the 8259A: it belongs to the PC chipset (PIIX/ICH "ELCR1/ELCR2", ports 0x4D0/0x4D1)
 * and selects the trigger mode per line.
 *
 * @module
 */

// ---- I/O ports of the PC/AT ------------------------------------------------------------

/** Master command port (A0 = 0): ICW1, OCW2, OCW3 writes; IRR/ISR/poll reads. */
export const PIC_MASTER_COMMAND = 0x20;
/** Master data port (A0 = 1): ICW2-ICW4 during initialisation, OCW1 (IMR) otherwise. */
export const PIC_MASTER_DATA = 0x21;
/** Slave command port (A0 = 0). */
export const PIC_SLAVE_COMMAND = 0xa0;
/** Slave data port (A0 = 1). */
export const PIC_SLAVE_DATA = 0xa1;
/** ELCR1: trigger mode of IRQ0-7 (1 = level). */
export const ELCR_MASTER = 0x4d0;
/** ELCR2: trigger mode of IRQ8-15 (1 = level). */
export const ELCR_SLAVE = 0x4d1;
/** The ports the PIC pair answers, listed for error messages. */
export const PIC_PORTS_TEXT = '0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1';

/** The A0 address input of one chip selects between the command (0) and data (1) registers. */
export const A0_COMMAND = 0;
/** A0 = 1: the data register (ICW2-ICW4, OCW1). */
export const A0_DATA = 1;
/** A port's A0 bit: the chips decode only the lowest address line. */
export const A0_MASK = 0x01;

// ---- Chip geometry -----------------------------------------------------------------------

/** Interrupt request inputs IR0-IR7 per chip. */
export const IR_COUNT = 8;
/** Mask of an IR number (0..7). */
export const IR_MASK = 0x07;
/** Every 8259A register is 8 bits wide; guest values are masked to this. */
export const BYTE_MASK = 0xff;
/** "No IR": returned by resolvers when nothing is requesting service. */
export const NO_IR = -1;
/** The IR whose vector a chip returns for a spurious interrupt ("DEFAULT IR7", data sheet). */
export const SPURIOUS_IR = 7;
/** ISA IRQ lines of the pair. */
export const IRQ_COUNT = 16;
/** The first IRQ handled by the slave. */
export const SLAVE_IRQ_BASE = 8;
/** The master input the slave's INT output is wired to on the PC/AT. */
export const CASCADE_IR = 2;
/** What an INTA cycle reads when no chip drives the data bus (pull-ups: all ones). */
export const OPEN_BUS = 0xff;

// ---- ICW1 (A0 = 0, D4 = 1) ---------------------------------------------------------------

/** IC4: 1 = ICW4 will be written. */
export const ICW1_IC4 = 0x01;
/** SNGL: 1 = single chip (no ICW3), 0 = cascade mode. */
export const ICW1_SNGL = 0x02;
/** ADI: call address interval, MCS-80/85 only; stored, no effect in 8086 mode. */
export const ICW1_ADI = 0x04;
/** LTIM: 1 = level-triggered inputs for the whole chip, 0 = edge-triggered. */
export const ICW1_LTIM = 0x08;
/** D4 = 1 marks an A0 = 0 write as ICW1 (and starts the initialisation sequence). */
export const ICW1_INIT = 0x10;

// ---- ICW2 (A0 = 1, first write after ICW1) ------------------------------------------------

/** In 8086 mode ICW2 supplies vector bits T7-T3; bits 2:0 are replaced by the IR number. */
export const ICW2_VECTOR_BASE_MASK = 0xf8;

// ---- ICW3 (A0 = 1, cascade mode only) -----------------------------------------------------

/** On a slave ICW3 bits 2:0 are its ID, the cascade address it answers; bits 7:3 are 0. */
export const ICW3_SLAVE_ID_MASK = 0x07;

// ---- ICW4 (A0 = 1, only when ICW1.IC4 = 1) ------------------------------------------------

/** µPM: 1 = 8086/8088 mode, 0 = MCS-80/85 mode. Stored; vectors are always 8086 format here. */
export const ICW4_UPM = 0x01;
/** AEOI: automatic end of interrupt at the end of the INTA sequence. */
export const ICW4_AEOI = 0x02;
/** M/S: in buffered mode, 1 = master, 0 = slave. Stored; the role comes from the wiring. */
export const ICW4_MS = 0x04;
/** BUF: buffered mode (SP/EN becomes a buffer enable). Stored only. */
export const ICW4_BUF = 0x08;
/** SFNM: special fully nested mode. */
export const ICW4_SFNM = 0x10;
/** ICW4 bits 7:5 must be 0; the chip keeps bits 4:0. */
export const ICW4_MASK = 0x1f;

// ---- OCW2 (A0 = 0, D4 = 0, D3 = 0) ---------------------------------------------------------

/** OCW2 and OCW3 share port A0 = 0 with ICW1; D3 = 1 selects OCW3, D3 = 0 OCW2. */
export const OCW3_SELECT = 0x08;
/** OCW2 L2-L0: the IR level a specific command acts on. */
export const OCW2_LEVEL_MASK = 0x07;
/** OCW2 bits 7:5 (R, SL, EOI) form the command code. */
export const OCW2_COMMAND_SHIFT = 5;

/** OCW2 commands, by the value of R·SL·EOI (bits 7:5), as in the data sheet's OCW2 table. */
export const Ocw2Command = {
  /** 000: rotate in automatic EOI mode (clear). */
  RotateInAeoiClear: 0,
  /** 001: non-specific EOI command. */
  NonSpecificEoi: 1,
  /** 010: no operation. */
  Nop: 2,
  /** 011: specific EOI command (L2-L0). */
  SpecificEoi: 3,
  /** 100: rotate in automatic EOI mode (set). */
  RotateInAeoiSet: 4,
  /** 101: rotate on non-specific EOI command. */
  RotateOnNonSpecificEoi: 5,
  /** 110: set priority command (L2-L0 becomes the lowest priority). */
  SetPriority: 6,
  /** 111: rotate on specific EOI command (L2-L0 cleared and made lowest priority). */
  RotateOnSpecificEoi: 7,
} as const;
export type Ocw2Command = (typeof Ocw2Command)[keyof typeof Ocw2Command];

// ---- OCW3 (A0 = 0, D4 = 0, D3 = 1) ---------------------------------------------------------

/** RIS: with RR = 1, 1 = read ISR, 0 = read IRR on the next A0 = 0 read. */
export const OCW3_RIS = 0x01;
/** RR: 1 = the RIS bit selects the register read at A0 = 0; 0 = keep the previous choice. */
export const OCW3_RR = 0x02;
/** P: poll command; the next read is an interrupt acknowledge returning the poll word. */
export const OCW3_P = 0x04;
/** SMM: with ESMM = 1, 1 = set special mask mode, 0 = reset it. */
export const OCW3_SMM = 0x20;
/** ESMM: 1 = the SMM bit is valid; 0 = leave special mask mode as it is. */
export const OCW3_ESMM = 0x40;

/** Poll word bit 7 ("I"): 1 = an interrupt was pending and is now in service. */
export const POLL_INTERRUPT = 0x80;

// ---- ELCR (PIIX/ICH ELCR1 at 0x4D0, ELCR2 at 0x4D1) ------------------------------------------

/**
 * Writable ELCR1 bits: IRQ0 (timer), IRQ1 (keyboard) and IRQ2 (cascade) must be edge-triggered,
 * so bits 0-2 are reserved and read 0 (as the PIIX/ICH data sheets, QEMU, KVM and bhyve have it).
 */
export const ELCR_MASTER_WRITABLE = 0xf8;
/**
 * Writable ELCR2 bits: IRQ8 (RTC) and IRQ13 (FPU error) must be edge-triggered, so bits 0 and 5
 * are reserved and read 0.
 */
export const ELCR_SLAVE_WRITABLE = 0xde;

// ---- Power-on wiring of the PC/AT -----------------------------------------------------------

/** ICW3 the pair's master is taken to hold before the guest's first ICW3: a slave on IR2. */
export const PC_MASTER_ICW3 = 1 << CASCADE_IR;
/** ICW3 the pair's slave is taken to hold before the guest's first ICW3: ID 2. */
export const PC_SLAVE_ICW3 = CASCADE_IR;
