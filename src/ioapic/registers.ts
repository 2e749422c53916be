/**
 * I/O APIC register layout: MMIO offsets, register indexes and redirection-entry bit fields.
 *
 * Names follow the Intel 82093AA I/O APIC data sheet (order no. 290566), §3 "Register
 * description": §3.1 the two memory-mapped registers IOREGSEL and IOWIN, §3.2 the indirect
 * registers IOAPICID, IOAPICVER, IOAPICARB and IOREDTBL. The EOI register at offset 0x40 is not
 * in the 82093AA; it belongs to the later I/O xAPIC (version 0x20) in Intel ICH/PCH chipsets.
 *
 * Everything here is a plain number so the device can keep each 64-bit redirection entry as two
 * 32-bit halves in typed arrays. Bit positions of the high half are given relative to bit 32.
 *
 * @module
 */

// ---- Memory-mapped registers (§3.1) -------------------------------------------------------

/** MMIO offset of IOREGSEL, the I/O register select (§3.1.1). */
export const IOREGSEL = 0x00;
/** MMIO offset of IOWIN, the I/O window onto the register IOREGSEL selects (§3.1.2). */
export const IOWIN = 0x10;
/** MMIO offset of the EOI register (I/O xAPIC, version 0x20 only; write-only). */
export const IOEOI = 0x40;

/** IOREGSEL bits 7:0 hold the register index; bits 31:8 are reserved (§3.1.1). */
export const IOREGSEL_INDEX_MASK = 0xff;
/** The EOI register compares only bits 7:0 (the vector) with the redirection entries. */
export const IOEOI_VECTOR_MASK = 0xff;

// ---- Indirect register indexes (§3.2) ----------------------------------------------------

/** Index of IOAPICID, the identification register (§3.2.1). */
export const IOAPICID = 0x00;
/** Index of IOAPICVER, the version register (§3.2.2, read-only). */
export const IOAPICVER = 0x01;
/** Index of IOAPICARB, the arbitration register (§3.2.3, read-only). */
export const IOAPICARB = 0x02;
/** Index of the low half of redirection entry 0 (§3.2.4); pin n is at 0x10 + 2n (+1 = high). */
export const IOREDTBL_BASE = 0x10;
/** Bit 0 of a redirection table index selects the high half (bits 63:32) of the entry. */
export const IOREDTBL_HIGH_HALF = 1;

/** Redirection table index of the low (`high = false`) or high half of `pin`'s entry. */
export function redirectionIndex(pin: number, high: boolean): number {
  return IOREDTBL_BASE + 2 * pin + (high ? IOREDTBL_HIGH_HALF : 0);
}

/** The pin whose entry a redirection table index (>= 0x10) addresses. */
export function pinOfRedirectionIndex(index: number): number {
  return (index - IOREDTBL_BASE) >> 1;
}

/** Whether a redirection table index addresses the high half of its entry. */
export function isHighHalf(index: number): boolean {
  return (index & IOREDTBL_HIGH_HALF) !== 0;
}

// ---- IOAPICID / IOAPICARB (§3.2.1, §3.2.3) -----------------------------------------------

/** The 4-bit APIC ID sits in bits 27:24 of IOAPICID (and the arbitration ID in IOAPICARB). */
export const ID_SHIFT = 24;
/** Width mask of the ID field after shifting; every other bit of the register is reserved. */
export const ID_MASK = 0x0f;
/** The largest I/O APIC ID the 4-bit field can hold. */
export const MAX_ID = ID_MASK;

// ---- IOAPICVER (§3.2.2) ------------------------------------------------------------------

/** Bits 7:0: the implementation version. */
export const VERSION_MASK = 0xff;
/** Bits 23:16: maximum redirection entry = number of pins - 1. */
export const MAX_REDIRECTION_ENTRY_SHIFT = 16;
/** Width mask of the maximum-redirection-entry field. */
export const MAX_REDIRECTION_ENTRY_MASK = 0xff;

/** The 82093AA's version number: no EOI register. */
export const VERSION_82093AA = 0x11;
/** The I/O xAPIC version number (ICH/PCH): adds the EOI register at offset 0x40. */
export const VERSION_IOXAPIC = 0x20;
/** The versions this model implements. */
export type IoApicVersion = typeof VERSION_82093AA | typeof VERSION_IOXAPIC;

/** The IOAPICVER value for `version` with `pins` redirection entries. */
export function versionRegister(version: IoApicVersion, pins: number): number {
  const maxEntry = (pins - 1) & MAX_REDIRECTION_ENTRY_MASK;
  return ((maxEntry << MAX_REDIRECTION_ENTRY_SHIFT) | (version & VERSION_MASK)) >>> 0;
}

// ---- Pin count ---------------------------------------------------------------------------

/** The 82093AA has 24 pins; it is also what KVM, QEMU, crosvm and Bochs model. */
export const DEFAULT_PINS = 24;
/** At least one redirection entry. */
export const MIN_PINS = 1;
/**
 * The most pins an I/O APIC can expose: the high half of the last entry, 0x10 + 2 * 119 + 1 =
 * 0xFF, is the largest index IOREGSEL's 8 bits can select (ACRN uses the same limit).
 */
export const MAX_PINS = (IOREGSEL_INDEX_MASK + 1 - IOREDTBL_BASE) / 2;

// ---- Redirection entry, low half: bits 31:0 (§3.2.4) -------------------------------------

/** Bits 7:0: interrupt vector (R/W; the data sheet asks for 0x10..0xFE but stores any value). */
export const RTE_VECTOR_MASK = 0xff;
/** Bits 10:8: delivery mode (R/W), one of `DeliveryMode`. */
export const RTE_DELIVERY_MODE_SHIFT = 8;
/** Width mask of the delivery-mode field after shifting. */
export const RTE_DELIVERY_MODE_MASK = 0x7;
/** Bit 11: destination mode, 1 = logical, 0 = physical (R/W). */
export const RTE_DEST_MODE_LOGICAL = 1 << 11;
/** Bit 12: delivery status, 1 = send pending (read-only). */
export const RTE_DELIVERY_STATUS = 1 << 12;
/** Bit 13: interrupt input pin polarity, 1 = active low (R/W). */
export const RTE_POLARITY_LOW = 1 << 13;
/** Bit 14: remote IRR (read-only; meaningful for level-triggered entries only). */
export const RTE_REMOTE_IRR = 1 << 14;
/** Bit 15: trigger mode, 1 = level sensitive, 0 = edge sensitive (R/W). */
export const RTE_TRIGGER_LEVEL = 1 << 15;
/** Bit 16: interrupt mask, 1 = masked (R/W). */
export const RTE_MASKED = 1 << 16;
/** Bits 31:17 of the low half are reserved (bits 55:17 of the entry). */
export const RTE_LOW_RESERVED = 0xfffe_0000;

/** The bits a guest write to the low half cannot change. */
export const RTE_LOW_READ_ONLY = RTE_DELIVERY_STATUS | RTE_REMOTE_IRR;

// ---- Redirection entry, high half: bits 63:32 (§3.2.4) -----------------------------------

/** Bits 63:56 (= bits 31:24 of the high half): destination field. */
export const RTE_DEST_SHIFT = 24;
/** Width mask of the destination field after shifting. */
export const RTE_DEST_MASK = 0xff;
/** Bits 55:32 (= bits 23:0 of the high half) are reserved. */
export const RTE_HIGH_RESERVED = 0x00ff_ffff;

// ---- Reset values ------------------------------------------------------------------------

/** After reset every entry is masked with all other bits 0 (§3.2.4, bit 16). */
export const RTE_RESET_LOW = RTE_MASKED;
/** After reset the destination and the reserved high bits are 0. */
export const RTE_RESET_HIGH = 0;

// ---- Field accessors ---------------------------------------------------------------------

/** The delivery mode (bits 10:8) of a low half. */
export function deliveryModeOf(low: number): number {
  return (low >>> RTE_DELIVERY_MODE_SHIFT) & RTE_DELIVERY_MODE_MASK;
}

/** The vector (bits 7:0) of a low half. */
export function vectorOf(low: number): number {
  return low & RTE_VECTOR_MASK;
}

/** The destination (bits 63:56) of a high half. */
export function destinationOf(high: number): number {
  return (high >>> RTE_DEST_SHIFT) & RTE_DEST_MASK;
}
