/**
 * Test helpers that edit a field inside a real snapshot and re-sign its CRC, so restore's field
 * validation (not the checksum) is what sees the edit.
 */
import { crc32 } from '../../src/codec/crc32.js';

/** Byte offset and length of a named section's payload inside a snapshot. */
export function sectionPayload(bytes: Uint8Array, name: string): { offset: number; length: number } {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = 8;
  const str = (): string => {
    const n = v.getUint32(p, true);
    const s = new TextDecoder().decode(bytes.subarray(p + 4, p + 4 + n));
    p += 4 + n;
    return s;
  };
  str(); // library version
  str(); // kind
  const count = v.getUint32(p, true);
  p += 4;
  for (let i = 0; i < count; i++) {
    const n = str();
    p += 4; // version, flags
    const length = v.getUint32(p, true);
    p += 4;
    if (n === name) return { offset: p, length };
    p += length;
  }
  throw new Error(`no section ${name}`);
}

/** Re-signs a snapshot whose body was edited. */
export function resign(bytes: Uint8Array): Uint8Array {
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).setUint32(bytes.length - 4, crc32(bytes, 0, bytes.length - 4), true);
  return bytes;
}

/** A copy of `bytes` with `edit` applied to section `name`'s payload (a DataView), re-signed. */
export function editSection(bytes: Uint8Array, name: string, edit: (payload: DataView) => void): Uint8Array {
  const out = bytes.slice();
  const { offset, length } = sectionPayload(out, name);
  edit(new DataView(out.buffer, offset, length));
  return resign(out);
}

/**
 * Offsets inside a 'local-apic' (version 2) payload: id u32, apicBase u64, mode u8, the page
 * (u32 count + 1024 u32), esrPending u32, sipiVector i32, 7 booleans, 14 u64 counters, then the
 * timer fields.
 */
export const LAPIC = (() => {
  const page = 4 + 8 + 1 + 4; // first page word
  const timer = page + 4096 + 4 + 4 + 7 + 14 * 8;
  return {
    page,
    esrPending: page + 4096,
    timerMode: timer,
    initialCount: timer + 1,
    divide: timer + 5,
    counting: timer + 6,
    baseNs: timer + 7,
    baseLag: timer + 15,
    countAtBase: timer + 23,
    expiryLag: timer + 31,
    deadline: timer + 39,
    armed: timer + 47,
    eventAt: timer + 48,
    order: timer + 56,
    timeOffset: timer + 64,
    end: timer + 72,
  };
})();
