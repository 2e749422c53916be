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
import { checkObject, SnapshotError } from '../errors.js';
import { crc32 } from './crc32.js';
import { RearmQueue, StateReader, StateWriter, type Rearm, type RestoreTime } from './state.js';

/** "IRQS" in little-endian byte order. */
export const SNAPSHOT_MAGIC = 0x53515249;
export const FORMAT_MAJOR = 1;
/**
 * 1: snapshots carry their virtual time in an optional 'time' section (readers of 1.0 skip it);
 * the 'local-apic' section is version 2 (the timer's time offset).
 */
export const FORMAT_MINOR = 1;
/** The library version written into snapshots (kept equal to package.json by a test). */
export const LIBRARY_VERSION = '0.1.0';

const FLAG_OPTIONAL = 1;
const MAX_SECTIONS = 4096;
/** The optional section that holds a snapshot's virtual time (u64 ns). */
export const TIME_SECTION = 'time';
const TIME_SECTION_VERSION = 1;

/** How a restore treats a snapshot taken at another virtual time than the target clock's. */
export type TimeMode = 'rebase' | 'strict';

/** Options of every device's and the platform's `restore()`. */
export interface RestoreOptions {
  /**
   * `'rebase'` (default): move every armed timer and deferred event by the difference between
   * the target clock and the snapshot's time, so each keeps its remaining time (a fresh process
   * whose clock starts at 0 can restore). `'strict'`: throw a SnapshotError naming both times
   * unless the target clock shows the snapshot's time.
   */
  time?: TimeMode;
}

/** What {@link inspectSnapshot} tells without restoring. */
export interface SnapshotInfo {
  kind: string;
  formatMajor: number;
  formatMinor: number;
  libraryVersion: string;
  /** The virtual time (ns) the snapshot was taken at; undefined for snapshots without one. */
  timeNs: number | undefined;
  sections: SectionInfo[];
}

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
  /** The virtual time the snapshot was taken at (undefined: made before format 1.1). */
  readonly timeNs: number | undefined;
  #restoreTime: RestoreTime | undefined = undefined;
  readonly #sections: ReadonlyMap<string, Section>;

  constructor(
    readonly kind: string,
    readonly formatMinor: number,
    readonly libraryVersion: string,
    sections: ReadonlyMap<string, Section>,
    readonly formatMajor = FORMAT_MAJOR,
  ) {
    this.#sections = sections;
    this.timeNs = readTime(sections.get(TIME_SECTION));
  }

  /**
   * Sets the target clock's time for the readers opened after this: each then carries the
   * snapshot's time and the target's (see RestoreTime). A snapshot without a time is taken to
   * be at the target's time (what restoring one always required).
   * @throws SnapshotError in `strict` mode when the times differ, naming both.
   */
  setTarget(clockNs: number, mode: TimeMode): void {
    const saved = this.timeNs ?? clockNs;
    if (mode === 'strict' && saved !== clockNs) {
      throw new SnapshotError(`snapshot was taken at virtual time ${saved} ns but the target clock is at ${clockNs} ns (time: 'strict')`);
    }
    this.#restoreTime = { savedNs: saved, clockNs };
  }

  /** Name, version, flags and length of every section, in order. */
  list(): SectionInfo[] {
    return [...this.#sections.values()].map((s) => ({ name: s.name, version: s.version, optional: s.optional, length: s.payload.length }));
  }

  has(name: string): boolean {
    return this.#sections.has(name);
  }

  /**
   * A reader over a required section whose version this code understands.
   * @throws SnapshotError if it is missing or newer than `maxVersion`.
   */
  reader(name: string, maxVersion: number): StateReader {
    const s = this.#sections.get(name);
    if (s === undefined) throw new SnapshotError(`snapshot has no '${name}' section`);
    if (s.version > maxVersion) {
      throw new SnapshotError(`snapshot section '${name}' has version ${s.version}; this library reads up to ${maxVersion}`);
    }
    return new StateReader(s.payload, name, s.version, this.#restoreTime);
  }

  /** The version of a section (it must exist). */
  version(name: string): number {
    const s = this.#sections.get(name);
    if (s === undefined) throw new SnapshotError(`snapshot has no '${name}' section`);
    return s.version;
  }

  /**
   * Rejects required sections this code does not know (optional ones are skipped).
   * @throws SnapshotError naming the first unknown required section.
   */
  rejectUnknown(known: (name: string) => boolean): void {
    for (const s of this.#sections.values()) {
      if (!known(s.name) && !s.optional) throw new SnapshotError(`snapshot section '${s.name}' is required but unknown to this library`);
    }
  }
}

/** The payload of a 'time' section, checked; undefined without one. */
function readTime(s: Section | undefined): number | undefined {
  if (s === undefined) return undefined;
  if (s.version > TIME_SECTION_VERSION) {
    throw new SnapshotError(`snapshot section '${TIME_SECTION}' has version ${s.version}; this library reads up to ${TIME_SECTION_VERSION}`);
  }
  const r = new StateReader(s.payload, TIME_SECTION, s.version);
  const t = r.uint('timeNs');
  r.end();
  return t;
}

/**
 * Builds a snapshot from sections; `timeNs`, the virtual time it is taken at, goes first as the
 * optional 'time' section (omitted for devices without a clock).
 */
export function encodeSnapshot(kind: string, sections: readonly Section[], timeNs?: number): Uint8Array {
  const all = timeNs === undefined ? sections : [timeSection(timeNs), ...sections];
  const w = new StateWriter();
  w.u32(SNAPSHOT_MAGIC).u16(FORMAT_MAJOR).u16(FORMAT_MINOR).str(LIBRARY_VERSION).str(kind).u32(all.length);
  for (const s of all) {
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
  return new SnapshotContainer(kind, minor, libraryVersion, sections, major);
}

function timeSection(timeNs: number): Section {
  return { name: TIME_SECTION, version: TIME_SECTION_VERSION, optional: true, payload: new StateWriter().uint(timeNs).finish() };
}

/** Lists the sections of a snapshot without restoring it. */
export function listSections(bytes: Uint8Array): SectionInfo[] {
  return decodeSnapshot(bytes).list();
}

/**
 * Kind, format, library version, virtual time and sections of a snapshot, without restoring it.
 * @throws SnapshotError for anything malformed.
 */
export function inspectSnapshot(bytes: Uint8Array): SnapshotInfo {
  const c = decodeSnapshot(bytes);
  return {
    kind: c.kind,
    formatMajor: c.formatMajor,
    formatMinor: c.formatMinor,
    libraryVersion: c.libraryVersion,
    timeNs: c.timeNs,
    sections: c.list(),
  };
}

/**
 * The virtual time (ns) a snapshot was taken at, or undefined for a snapshot without one (made
 * before format 1.1, or of a device without a clock).
 * @throws SnapshotError for anything malformed.
 */
export function snapshotTime(bytes: Uint8Array): number | undefined {
  return decodeSnapshot(bytes).timeNs;
}

/**
 * Checks the options of a `restore()`.
 * @throws TypeError / RangeError naming the option.
 */
export function checkRestoreOptions(opts: unknown): TimeMode {
  if (opts === undefined) return 'rebase';
  checkObject('options', opts);
  const time = (opts as { time?: unknown }).time;
  if (time === undefined) return 'rebase';
  if (time !== 'rebase' && time !== 'strict') throw new RangeError(`options.time must be 'rebase' or 'strict', got ${String(time)}`);
  return time;
}

/** A one-section snapshot of a single device (the per-device save()), taken at `timeNs`. */
export function encodeDevice(kind: string, version: number, write: (w: StateWriter) => void, timeNs?: number): Uint8Array {
  const w = new StateWriter();
  write(w);
  return encodeSnapshot(kind, [{ name: kind, version, optional: false, payload: w.finish() }], timeNs);
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
  target?: { clockNs: number; mode: TimeMode },
): void {
  const r = decodeDevice(bytes, kind, maxVersion, target);
  const apply = read(r);
  r.end();
  const q = new RearmQueue();
  apply(q.rearm);
  q.flush();
}

/**
 * Opens the one section of a per-device snapshot; `target`, for a device with a clock, is that
 * clock's time and the restore's time mode (see {@link SnapshotContainer.setTarget}).
 */
export function decodeDevice(bytes: Uint8Array, kind: string, maxVersion: number, target?: { clockNs: number; mode: TimeMode }): StateReader {
  const c = decodeSnapshot(bytes, kind);
  c.rejectUnknown((n) => n === kind || n === TIME_SECTION);
  if (target !== undefined) c.setTarget(target.clockNs, target.mode);
  return c.reader(kind, maxVersion);
}
