/**
 * The one MMIO access rule shared by the local APIC and the I/O APIC (docs/embedding.md, "MMIO
 * widths"): a host passes the byte offset inside the device's 4 KiB window and the access size.
 *
 * - Reads of 1, 2 or 4 bytes at any offset return exactly the bytes a dword read would show in
 *   those lanes (a read that crosses a dword boundary takes its bytes from both dwords): what KVM
 *   does for both devices. Offsets with no register read 0.
 * - A write takes effect only when it starts at a register's offset and covers the register's
 *   significant bytes: every local APIC register and IOWIN need an aligned dword (SDM: sub-dword
 *   local APIC accesses are model-specific, KVM ignores them; 82093AA data sheet §3.1.2: IOWIN
 *   "must be accessed as a Dword quantity", QEMU ignores other sizes); IOREGSEL (an 8-bit
 *   register loaded with a byte write, data sheet §3.1.1) and the I/O xAPIC EOI register (vector
 *   in bits 7:0; KVM takes any length, QEMU only 4) take any size. Every other write is ignored.
 * - Bytes past the end of the window (a 2- or 4-byte access at 0xFFD..0xFFF) read 0: they belong
 *   to whatever the host maps next; a host that cares splits such an access.
 * - Host misuse: an offset that is not an integer in 0..0xFFF or a size other than 1, 2 or 4 is a
 *   RangeError (TypeError for a non-number).
 *
 * @module
 */
import { checkInt } from '../errors.js';

/** Access sizes in bytes. */
export type MmioSize = 1 | 2 | 4;
/** Both devices decode a 4 KiB window. */
export const MMIO_WINDOW_BYTES = 0x1000;
/** Bytes per dword. */
const DWORD = 4;

/** Checks a host's (offset, size) pair. */
export function checkMmio(offset: unknown, size: unknown): void {
  if (size !== 4 && size !== 1 && size !== 2) {
    if (typeof size !== 'number') throw new TypeError(`size must be a number (1, 2 or 4), got ${typeof size}`);
    throw new RangeError(`size must be 1, 2 or 4, got ${String(size)}`);
  }
  if (typeof offset !== 'number' || (offset >>> 0) !== offset || offset >= MMIO_WINDOW_BYTES) checkInt('offset', offset, 0, MMIO_WINDOW_BYTES - 1);
}

/** Whether an access reaches into the next dword of the window (past the window it reads 0). */
export function crossesDword(offset: number, size: number): boolean {
  return (offset & (DWORD - 1)) + size > DWORD && (offset | (DWORD - 1)) + 1 < MMIO_WINDOW_BYTES;
}

/**
 * The `size` bytes at `offset` out of the dword holding it (`lo`, at offset & ~3) and the next
 * one (`hi`, read only when the access crosses into it).
 */
export function laneBytes(lo: number, hi: number, offset: number, size: number): number {
  const shift = (offset & (DWORD - 1)) * 8;
  const v = shift === 0 ? lo : (lo >>> shift) | (hi << (32 - shift));
  return size === DWORD ? v >>> 0 : v & ((1 << (size * 8)) - 1);
}
