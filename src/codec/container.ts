/**
 * The snapshot container: a self-describing, versioned envelope of named sections.
 *
 * ```
 * u32  magic "IRQS"            u16 format major   u16 format minor
 * str  library version         str kind ("machine", "local-apic", "ioapic", "pic", ...)
 * u32  section count
 * per section: str name, u16 version, u16 flags (bit 0 = optional), u32 length, bytes
 * u32  CRC-32 of everything before it
 * ```
 *
 * A reader can list, skip or reject sections by name and version. Restoring a snapshot of a newer
 * major format fails with a clear error; an unknown optional section is skipped; an unknown
 * required one is an error. The CRC rejects corrupted and truncated snapshots before any field is
 * read; each field is then still range-checked (see StateReader), so a hand-crafted snapshot with
 * a valid CRC cannot smuggle in out-of-range state. (bhyve's own authors criticised its
 * save/restore for a format tied to internal structures, not self-describing and without
 * per-chunk versions; this is the opposite.)
 *
 * @module
 */
import { SnapshotError } from '../errors.js';
import { crc32 } from './crc32.js';
import { RearmQueue, StateReader, StateWriter, type Rearm } from './state.js';

/** "IRQS" in little-endian byte order. */
export const SNAPSHOT_MAGIC = 0x53515249;
export const FORMAT_MAJOR = 1;
export const FORMAT_MINOR = 0;
/** The library version written into snapshots (kept equal to package.json by a test). */
export const LIBRARY_VERSION = '0.1.0';

const FLAG_OPTIONAL = 1;
const MAX_SECTIONS = 4096;

export interface Section {
  name: string;
  version: number;
  optional: boolean;
  payload: Uint8Array;
}

export interface SectionInfo {
  name: string;
  version: number;
  optional: boolean;
  length: number;
}

/** A decoded envelope. */
export class SnapshotContainer {
  constructor(
    readonly kind: string,
    readonly formatMinor: number,
    readonly libraryVersion: string,
    private readonly sections: ReadonlyMap<string, Section>,
  ) {}

  /** Name, version, flags and length of every section, in order. */
  list(): SectionInfo[] {
    return [...this.sections.values()].map((s) => ({ name: s.name, version: s.version, optional: s.optional, length: s.payload.length }));
  }

  has(name: string): boolean {
    return this.sections.has(name);
  }

  /**
   * A reader over a required section whose version this code understands.
   * @throws SnapshotError if it is missing or newer than `maxVersion`.
   */
  reader(name: string, maxVersion: number): StateReader {
    const s = this.sections.get(name);
    if (s === undefined) throw new SnapshotError(`snapshot has no '${name}' section`);
    if (s.version > maxVersion) {
      throw new SnapshotError(`snapshot section '${name}' has version ${s.version}; this library reads up to ${maxVersion}`);
    }
    return new StateReader(s.payload, name);
  }

  /** The version of a section (it must exist). */
  version(name: string): number {
    const s = this.sections.get(name);
    if (s === undefined) throw new SnapshotError(`snapshot has no '${name}' section`);
    return s.version;
  }

  /**
   * Rejects required sections this code does not know (optional ones are skipped).
   * @throws SnapshotError naming the first unknown required section.
   */
  rejectUnknown(known: (name: string) => boolean): void {
    for (const s of this.sections.values()) {
      if (!known(s.name) && !s.optional) throw new SnapshotError(`snapshot section '${s.name}' is required but unknown to this library`);
    }
  }
}

/** Builds a snapshot from sections. */
export function encodeSnapshot(kind: string, sections: readonly Section[]): Uint8Array {
  const w = new StateWriter();
  w.u32(SNAPSHOT_MAGIC).u16(FORMAT_MAJOR).u16(FORMAT_MINOR).str(LIBRARY_VERSION).str(kind).u32(sections.length);
  for (const s of sections) {
    w.str(s.name).u16(s.version).u16(s.optional ? FLAG_OPTIONAL : 0).u32(s.payload.length).bytes(s.payload);
  }
  const body = w.finish();
  const out = new Uint8Array(body.length + 4);
  out.set(body);
  new DataView(out.buffer).setUint32(body.length, crc32(body), true);
  return out;
}

/**
 * Parses and checks a snapshot envelope.
 * @param expectedKind reject a snapshot of another kind (e.g. an IoApic snapshot given to a LocalApic).
 * @throws SnapshotError for anything malformed.
 */
export function decodeSnapshot(bytes: Uint8Array, expectedKind?: string): SnapshotContainer {
  if (!(bytes instanceof Uint8Array)) throw new SnapshotError('snapshot must be a Uint8Array');
  if (bytes.length < 4 + 4 + 4) throw new SnapshotError(`snapshot is truncated (${bytes.length} bytes)`);
  const body = bytes.subarray(0, bytes.length - 4);
  const stored = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(bytes.length - 4, true);
  const r = new StateReader(body, 'header');
  if (r.u32('magic') !== SNAPSHOT_MAGIC) throw new SnapshotError('not an irqchip snapshot (bad magic)');
  const major = r.u16('formatMajor');
  const minor = r.u16('formatMinor');
  if (major > FORMAT_MAJOR) {
    throw new SnapshotError(`snapshot format ${major}.${minor} is newer than this library reads (${FORMAT_MAJOR}.x); upgrade irqchip`);
  }
  if (crc32(body) !== stored) throw new SnapshotError('snapshot checksum mismatch: the bytes are corrupted or truncated');
  const libraryVersion = r.str('libraryVersion', 64);
  const kind = r.str('kind', 64);
  if (expectedKind !== undefined && kind !== expectedKind) {
    throw new SnapshotError(`snapshot is of a '${kind}', not a '${expectedKind}'`);
  }
  const count = r.count('sectionCount', MAX_SECTIONS);
  const sections = new Map<string, Section>();
  for (let i = 0; i < count; i++) {
    const name = r.str(`section[${i}].name`, 256);
    const version = r.u16(`${name}.version`);
    const flags = r.u16(`${name}.flags`, FLAG_OPTIONAL);
    const length = r.u32(`${name}.length`);
    const payload = r.bytes(`${name}.payload`, length);
    if (sections.has(name)) r.fail(name, 'appears twice');
    sections.set(name, { name, version, optional: (flags & FLAG_OPTIONAL) !== 0, payload });
  }
  r.end();
  return new SnapshotContainer(kind, minor, libraryVersion, sections);
}

/** Lists the sections of a snapshot without restoring it. */
export function listSections(bytes: Uint8Array): SectionInfo[] {
  return decodeSnapshot(bytes).list();
}

/** A one-section snapshot of a single device (the per-device save()). */
export function encodeDevice(kind: string, version: number, write: (w: StateWriter) => void): Uint8Array {
  const w = new StateWriter();
  write(w);
  return encodeSnapshot(kind, [{ name: kind, version, optional: false, payload: w.finish() }]);
}

/**
 * The per-device restore(): opens the section, lets `read` check every field and return the
 * function that applies them, then applies and re-arms the device's timed events in order.
 * Nothing changes unless every field passed.
 */
export function restoreDevice(
  bytes: Uint8Array,
  kind: string,
  maxVersion: number,
  read: (r: StateReader) => (rearm: Rearm) => void,
): void {
  const r = decodeDevice(bytes, kind, maxVersion);
  const apply = read(r);
  r.end();
  const q = new RearmQueue();
  apply(q.rearm);
  q.flush();
}

/** Opens the one section of a per-device snapshot. */
export function decodeDevice(bytes: Uint8Array, kind: string, maxVersion: number): StateReader {
  const c = decodeSnapshot(bytes, kind);
  c.rejectUnknown((n) => n === kind);
  return c.reader(kind, maxVersion);
}
