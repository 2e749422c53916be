/**
 * Local APIC register map: every xAPIC MMIO offset, x2APIC MSR number and bit field, named as
 * in the Intel SDM vol. 3, chapter "Advanced Programmable Interrupt Controller (APIC)"
 * (§11.4 in the 2023+ numbering, §10.4 in older editions; the figures and tables cited below
 * use the section names, which do not change between editions).
 *
 * Nothing in the device logic uses a raw number for a register or a bit: it is named here once.
 *
 * @module
 */

// ---------------------------------------------------------------------------------------------
// xAPIC MMIO offsets (SDM Table "Local APIC Register Address Map"). Each register occupies the
// first 32 bits of a 16-byte slot of the 4 KiB APIC page.

export const APIC_ID = 0x020;
export const APIC_VERSION = 0x030;
export const APIC_TPR = 0x080;
export const APIC_APR = 0x090;
export const APIC_PPR = 0x0a0;
export const APIC_EOI = 0x0b0;
export const APIC_RRD = 0x0c0;
export const APIC_LDR = 0x0d0;
export const APIC_DFR = 0x0e0;
export const APIC_SVR = 0x0f0;
/** In-service register, eight 32-bit words at 0x100, 0x110, ... 0x170. */
export const APIC_ISR = 0x100;
/** Trigger mode register, eight words at 0x180 .. 0x1F0. */
export const APIC_TMR = 0x180;
/** Interrupt request register, eight words at 0x200 .. 0x270. */
export const APIC_IRR = 0x200;
export const APIC_ESR = 0x280;
export const APIC_LVT_CMCI = 0x2f0;
export const APIC_ICR_LOW = 0x300;
export const APIC_ICR_HIGH = 0x310;
export const APIC_LVT_TIMER = 0x320;
export const APIC_LVT_THERMAL = 0x330;
export const APIC_LVT_PERF = 0x340;
export const APIC_LVT_LINT0 = 0x350;
export const APIC_LVT_LINT1 = 0x360;
export const APIC_LVT_ERROR = 0x370;
export const APIC_TIMER_INITIAL_COUNT = 0x380;
export const APIC_TIMER_CURRENT_COUNT = 0x390;
export const APIC_TIMER_DIVIDE = 0x3e0;
/** SELF IPI exists only in x2APIC mode (MSR 0x83F). */
export const APIC_SELF_IPI = 0x3f0;

/** Size of the APIC page in bytes and in 32-bit words. */
export const APIC_PAGE_BYTES = 0x1000;
export const APIC_PAGE_WORDS = APIC_PAGE_BYTES >> 2;
/** Registers sit at 16-byte strides; the 256-bit registers use 8 of them. */
export const APIC_REG_STRIDE = 0x10;
/** The highest register offset the xAPIC MMIO window decodes. */
export const APIC_LAST_OFFSET = 0xff0;

// ---------------------------------------------------------------------------------------------
// Register fields.

/** xAPIC ID lives in bits 31:24 of the ID register (SDM "Local APIC ID Register"). */
export const XAPIC_ID_SHIFT = 24;
export const XAPIC_ID_MASK = 0xff;

/** Version register: version in 7:0, max LVT entry in 23:16, EOI-broadcast suppression in 24. */
export const VERSION_INTEGRATED_APIC = 0x14;
/** Seven LVT entries: timer, thermal, perf, LINT0, LINT1, error and CMCI. */
export const VERSION_MAX_LVT = 6;
export const VERSION_MAX_LVT_SHIFT = 16;
export const VERSION_DIRECTED_EOI = 1 << 24;

/** TPR/PPR/APR: the priority class is bits 7:4, the sub-class bits 3:0. */
export const PRIORITY_MASK = 0xff;
export const PRIORITY_CLASS_MASK = 0xf0;

/** LDR: xAPIC logical ID in bits 31:24 (SDM "Logical Destination Register"). */
export const LDR_XAPIC_SHIFT = 24;
/** DFR model field, bits 31:28; bits 27:0 read as ones. */
export const DFR_MODEL_MASK = 0xf000_0000;
export const DFR_RESERVED_ONES = 0x0fff_ffff;
export const DFR_MODEL_FLAT = 0xf;
export const DFR_MODEL_CLUSTER = 0x0;
export const DFR_RESET = 0xffff_ffff;

/** SVR (SDM "Spurious-Interrupt Vector Register"). */
export const SVR_VECTOR_MASK = 0xff;
export const SVR_APIC_ENABLE = 1 << 8;
/** 1 = focus-processor checking disabled. */
export const SVR_FOCUS_DISABLE = 1 << 9;
/** 1 = EOI broadcast suppressed for level-triggered interrupts (directed EOI). */
export const SVR_SUPPRESS_EOI_BROADCAST = 1 << 12;
export const SVR_RESET = 0xff;

/** ESR bits (SDM "Error Status Register"). */
export const ESR_SEND_CHECKSUM = 1 << 0;
export const ESR_RECEIVE_CHECKSUM = 1 << 1;
export const ESR_SEND_ACCEPT = 1 << 2;
export const ESR_RECEIVE_ACCEPT = 1 << 3;
export const ESR_REDIRECTABLE_IPI = 1 << 4;
export const ESR_SEND_ILLEGAL_VECTOR = 1 << 5;
export const ESR_RECEIVE_ILLEGAL_VECTOR = 1 << 6;
export const ESR_ILLEGAL_REGISTER = 1 << 7;
export const ESR_VALID_BITS = 0xff;

/** ICR low word (SDM "Interrupt Command Register"). */
export const ICR_VECTOR_MASK = 0xff;
export const ICR_DELIVERY_MODE_SHIFT = 8;
export const ICR_DELIVERY_MODE_MASK = 0x7 << ICR_DELIVERY_MODE_SHIFT;
export const ICR_DEST_LOGICAL = 1 << 11;
export const ICR_DELIVERY_STATUS = 1 << 12;
export const ICR_LEVEL_ASSERT = 1 << 14;
export const ICR_TRIGGER_LEVEL = 1 << 15;
export const ICR_SHORTHAND_SHIFT = 18;
export const ICR_SHORTHAND_MASK = 0x3 << ICR_SHORTHAND_SHIFT;
/** Bits an xAPIC guest can write in ICR low (the rest are reserved or read-only). */
export const ICR_LOW_WRITABLE = 0x000c_cfff;
/** xAPIC destination field: ICR high bits 31:24. */
export const ICR_HIGH_DEST_SHIFT = 24;
export const ICR_HIGH_WRITABLE = 0xff00_0000;
/** x2APIC ICR low reserved bits: 12 (delivery status is gone), 13, 16-17, 20-31. */
export const X2APIC_ICR_LOW_RESERVED = 0xfff3_3000;

/** Destination shorthands, ICR bits 19:18. */
export const Shorthand = {
  None: 0,
  Self: 1,
  AllIncludingSelf: 2,
  AllExcludingSelf: 3,
} as const;
export type Shorthand = (typeof Shorthand)[keyof typeof Shorthand];

// ---------------------------------------------------------------------------------------------
// Local vector table (SDM "Local Vector Table", figure "Local Vector Table (LVT)").

export const LVT_VECTOR_MASK = 0xff;
export const LVT_DELIVERY_MODE_SHIFT = 8;
export const LVT_DELIVERY_MODE_MASK = 0x7 << LVT_DELIVERY_MODE_SHIFT;
export const LVT_DELIVERY_STATUS = 1 << 12;
/** LINT0/LINT1 only: 1 = active low. */
export const LVT_POLARITY_LOW = 1 << 13;
/** LINT0/LINT1 only, read-only: set while a level-triggered fixed interrupt is in service. */
export const LVT_REMOTE_IRR = 1 << 14;
/** LINT0/LINT1 only: 1 = level. */
export const LVT_TRIGGER_LEVEL = 1 << 15;
export const LVT_MASKED = 1 << 16;
/** Timer only: bits 18:17. */
export const LVT_TIMER_MODE_SHIFT = 17;
export const LVT_TIMER_MODE_MASK = 0x3 << LVT_TIMER_MODE_SHIFT;
/** Reset value of every LVT entry: masked, everything else zero. */
export const LVT_RESET = LVT_MASKED;

// ---- Firmware reset presets (docs/local-apic.md, "Reset presets") ---------------------------

/** SeaBIOS smp_setup() (src/fw/smp.c) on the BSP: SVR |= APIC_ENABLED, from 0xFF. */
export const SEABIOS_SVR = 0x1ff;
/** SeaBIOS: LINT0 "as Ext_INT, level triggered" (delivery mode 111b, bit 15). */
export const SEABIOS_LINT0 = 0x8700;
/** SeaBIOS: LINT1 "as NMI, level triggered" (delivery mode 100b, bit 15). */
export const SEABIOS_LINT1 = 0x8400;
/** KVM kvm_lapic_reset() with KVM_X86_QUIRK_LINT0_REENABLED, BSP only: LVT0 = ExtINT, unmasked. */
export const KVM_QUIRK_LINT0 = 0x700;

export const TimerMode = {
  OneShot: 0,
  Periodic: 1,
  TscDeadline: 2,
  /** Encoding 3 is reserved; it is stored as written and counts as one-shot. */
  Reserved: 3,
} as const;
export type TimerMode = (typeof TimerMode)[keyof typeof TimerMode];

/**
 * The guest-writable bits of each LVT entry. Everything else is reserved (ignored in xAPIC
 * mode, #GP in x2APIC mode) or read-only (delivery status, remote IRR).
 */
export const LVT_WRITABLE_TIMER = LVT_VECTOR_MASK | LVT_MASKED | LVT_TIMER_MODE_MASK;
export const LVT_WRITABLE_THERMAL = LVT_VECTOR_MASK | LVT_DELIVERY_MODE_MASK | LVT_MASKED;
export const LVT_WRITABLE_PERF = LVT_WRITABLE_THERMAL;
export const LVT_WRITABLE_CMCI = LVT_WRITABLE_THERMAL;
export const LVT_WRITABLE_LINT =
  LVT_VECTOR_MASK | LVT_DELIVERY_MODE_MASK | LVT_POLARITY_LOW | LVT_TRIGGER_LEVEL | LVT_MASKED;
export const LVT_WRITABLE_ERROR = LVT_VECTOR_MASK | LVT_MASKED;

/** Indexes of the seven LVT entries, in the order of their offsets' use in this library. */
export const LvtIndex = {
  Timer: 0,
  Thermal: 1,
  Perf: 2,
  Lint0: 3,
  Lint1: 4,
  Error: 5,
  Cmci: 6,
} as const;
export type LvtIndex = (typeof LvtIndex)[keyof typeof LvtIndex];
export const LVT_COUNT = 7;

/** MMIO offset of each LVT entry, indexed by {@link LvtIndex}. */
export const LVT_OFFSETS: readonly number[] = [
  APIC_LVT_TIMER,
  APIC_LVT_THERMAL,
  APIC_LVT_PERF,
  APIC_LVT_LINT0,
  APIC_LVT_LINT1,
  APIC_LVT_ERROR,
  APIC_LVT_CMCI,
];
/** Writable mask of each LVT entry, indexed by {@link LvtIndex}. */
export const LVT_WRITABLE: readonly number[] = [
  LVT_WRITABLE_TIMER,
  LVT_WRITABLE_THERMAL,
  LVT_WRITABLE_PERF,
  LVT_WRITABLE_LINT,
  LVT_WRITABLE_LINT,
  LVT_WRITABLE_ERROR,
  LVT_WRITABLE_CMCI,
];

/** Timer divide configuration: bits 0, 1 and 3 (SDM "Divide Configuration Register"). */
export const TIMER_DIVIDE_WRITABLE = 0xb;

// ---------------------------------------------------------------------------------------------
// MSRs.

export const MSR_IA32_APIC_BASE = 0x1b;
export const MSR_IA32_TSC_DEADLINE = 0x6e0;
/** x2APIC register MSRs are 0x800 + (xAPIC offset >> 4). */
export const MSR_X2APIC_BASE = 0x800;
export const MSR_X2APIC_LAST = 0x8ff;
export const MSR_X2APIC_ICR = MSR_X2APIC_BASE + (APIC_ICR_LOW >> 4);
export const MSR_X2APIC_SELF_IPI = MSR_X2APIC_BASE + (APIC_SELF_IPI >> 4);

/** IA32_APIC_BASE fields (SDM "IA32_APIC_BASE MSR"). */
export const APIC_BASE_BSP = 1n << 8n;
export const APIC_BASE_EXTD = 1n << 10n;
export const APIC_BASE_ENABLE = 1n << 11n;
export const APIC_BASE_ADDRESS_SHIFT = 12n;
/** The architectural default base, 0xFEE00000. */
export const APIC_BASE_DEFAULT_ADDRESS = 0xfee0_0000n;

/** x2APIC logical ID: cluster = ID[19:4] in LDR[31:16], bit (ID[3:0]) in LDR[15:0]. */
export const X2APIC_CLUSTER_SHIFT = 16;
export const X2APIC_CLUSTER_ID_SHIFT = 4;
export const X2APIC_LOGICAL_ID_MASK = 0xf;

/** Interrupt vectors 0-15 are reserved for exceptions and illegal in APIC messages. */
export const FIRST_LEGAL_VECTOR = 16;
export const VECTOR_COUNT = 256;
