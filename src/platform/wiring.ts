/**
 * One PC's interrupt wiring as data: where each ISA IRQ enters the I/O APIC (the ACPI MADT's
 * interrupt source overrides) and where the 8259A's INTR output goes. {@link resolveWiring}
 * checks a host's options once and turns them into small typed arrays that `Platform.setIrq`
 * reads without allocating; {@link describeFirmware} turns them back into the entries a host
 * publishes in its MADT and MP table, so the guest sees exactly the wiring the platform uses.
 *
 * Sources: ACPI 6.5 §5.2.12.5 "Interrupt Source Override Structure" and §5.2.12.6/7 (NMI
 * sources), whose "MPS INTI flags" are the MP specification 1.4 §4.3.4 "I/O Interrupt
 * Assignment Entries" polarity/trigger encoding. docs/platform.md has the rules.
 *
 * @module
 */
import { checkInt, checkObject, typeName } from '../errors.js';

/** ISA IRQs 0..15. */
export const ISA_IRQS = 16;
/** The 8259A cascade: ISA IRQ2 reaches the master's IR2 only, never an I/O APIC pin. */
export const PIC_CASCADE_IRQ = 2;
/** The PC's usual override: ISA IRQ0 (the PIT) enters the I/O APIC on pin 2. */
export const ISA_IRQ0_PIN = 2;
/** The 8259A's INTR output reaches the I/O APIC on pin 0 (virtual wire B). */
export const PIC_IOAPIC_PIN = 0;
/** No I/O APIC input (an entry of the ISA-to-pin table). */
export const NO_PIN = -1;

/** MPS INTI flags (MP spec 1.4 table 4-8; the MADT uses the same bits): polarity, bits 1:0. */
export const INTI_POLARITY_CONFORMS = 0b00;
export const INTI_POLARITY_HIGH = 0b01;
export const INTI_POLARITY_LOW = 0b11;
/** MPS INTI flags, trigger mode, bits 3:2. */
export const INTI_TRIGGER_SHIFT = 2;
export const INTI_TRIGGER_CONFORMS = 0b00;
export const INTI_TRIGGER_EDGE = 0b01;
export const INTI_TRIGGER_LEVEL = 0b11;

/** The MP table's "all local APICs" destination ID (MP spec 1.4 §4.3.5). */
export const MP_ALL_APICS = 0xff;

export type IsaPolarity = 'conforms' | 'active-high' | 'active-low';
export type IsaTrigger = 'conforms' | 'edge' | 'level';

/**
 * An ISA IRQ that enters the I/O APIC somewhere other than the pin of its own number, or with a
 * polarity/trigger other than the ISA bus's (active high, edge) — one MADT interrupt source
 * override. `conforms` means "as the ISA bus": active high, edge.
 */
export interface IsaOverride {
  isaIrq: number;
  gsi: number;
  polarity?: IsaPolarity;
  trigger?: IsaTrigger;
}

/** Where the 8259A's INTR output goes, or a host callback that receives its level. */
export type PicOutputRoute = 'lint0-all+ioapic-pin0' | 'lint0-all' | 'lint0-bsp' | 'lint0-bsp+ioapic-pin0' | 'ioapic-pin0';
export type PicOutput = PicOutputRoute | ((level: boolean) => void);

export const PIC_OUTPUT_ROUTES: readonly PicOutputRoute[] = ['lint0-all+ioapic-pin0', 'lint0-all', 'lint0-bsp', 'lint0-bsp+ioapic-pin0', 'ioapic-pin0'];
export const ISA_POLARITIES: readonly IsaPolarity[] = ['conforms', 'active-high', 'active-low'];
export const ISA_TRIGGERS: readonly IsaTrigger[] = ['conforms', 'edge', 'level'];

/** The overrides a PC has when the host names none: IRQ0 -> GSI 2 (QEMU, KVM, bhyve, SeaBIOS). */
export const DEFAULT_ISA_OVERRIDES: readonly IsaOverride[] = Object.freeze([Object.freeze({ isaIrq: 0, gsi: ISA_IRQ0_PIN })]);

/** Which local APICs the 8259A's INTR drives through LINT0: none, every one, the BSP's. */
export const LINT0_NONE = 0;
export const LINT0_ALL = 1;
export const LINT0_BSP = 2;

/** The checked wiring, as the fast paths read it. */
export interface Wiring {
  /** I/O APIC pin of each ISA IRQ, or NO_PIN (IRQ2; or a pin the I/O APIC does not have). */
  readonly isaPin: Int16Array;
  /** 1 where the ISA IRQ's I/O APIC input is active low (the wire idles high). */
  readonly isaActiveLow: Uint8Array;
  /** The ISA IRQ that feeds each I/O APIC pin, or -1. */
  readonly pinOwner: Int8Array;
  /** The overrides as given, with polarity/trigger filled in, sorted by ISA IRQ. */
  readonly overrides: readonly Required<IsaOverride>[];
  readonly lint0: number;
  /** Whether the 8259A's INTR also drives I/O APIC pin 0. */
  readonly pin0: boolean;
  readonly callback: ((level: boolean) => void) | undefined;
  /** The route name, or 'callback'. */
  readonly picOutput: PicOutputRoute | 'callback';
}

/**
 * Checks and resolves the wiring options for an I/O APIC with `pins` pins.
 * @throws TypeError for a non-array `isaOverrides`, a non-object entry or a picOutput of the wrong
 *   type; RangeError for an ISA IRQ outside 0..15, IRQ2, a GSI outside 0..pins-1, an unknown
 *   polarity/trigger/route, the same ISA IRQ twice, two ISA IRQs on one GSI, or a picOutput that
 *   drives pin 0 when an ISA IRQ is wired there.
 */
export function resolveWiring(overridesOpt: unknown, picOutputOpt: unknown, pins: number): Wiring {
  const overrides = checkOverrides(overridesOpt ?? DEFAULT_ISA_OVERRIDES, pins);
  const isaPin = new Int16Array(ISA_IRQS);
  const isaActiveLow = new Uint8Array(ISA_IRQS);
  for (let irq = 0; irq < ISA_IRQS; irq++) isaPin[irq] = irq === PIC_CASCADE_IRQ || irq >= pins ? NO_PIN : irq;
  for (const o of overrides) {
    isaPin[o.isaIrq] = o.gsi;
    isaActiveLow[o.isaIrq] = o.polarity === 'active-low' ? 1 : 0;
  }
  const pinOwner = new Int8Array(pins).fill(-1);
  for (let irq = 0; irq < ISA_IRQS; irq++) {
    const pin = isaPin[irq]!;
    if (pin === NO_PIN) continue;
    const other = pinOwner[pin]!;
    if (other >= 0) {
      throw new RangeError(`isaOverrides: ISA IRQ ${other} and ISA IRQ ${irq} both reach GSI ${pin}; override one of them to a free GSI`);
    }
    pinOwner[pin] = irq;
  }
  const route = checkPicOutput(picOutputOpt, pinOwner[PIC_IOAPIC_PIN]!);
  return {
    isaPin,
    isaActiveLow,
    pinOwner,
    overrides,
    lint0: typeof route === 'function' || route === 'ioapic-pin0' ? LINT0_NONE : route.startsWith('lint0-bsp') ? LINT0_BSP : LINT0_ALL,
    pin0: typeof route === 'string' && route.endsWith('ioapic-pin0'),
    callback: typeof route === 'function' ? route : undefined,
    picOutput: typeof route === 'function' ? 'callback' : route,
  };
}

function checkOverrides(value: unknown, pins: number): Required<IsaOverride>[] {
  if (!Array.isArray(value)) throw new TypeError(`isaOverrides must be an array of { isaIrq, gsi, polarity?, trigger? }, got ${typeof value}`);
  const seen = new Set<number>();
  const out: Required<IsaOverride>[] = [];
  value.forEach((entry: unknown, i) => {
    const name = `isaOverrides[${i}]`;
    checkObject(name, entry);
    const e = entry as Record<string, unknown>;
    const isaIrq = checkInt(`${name}.isaIrq`, e.isaIrq, 0, ISA_IRQS - 1);
    if (isaIrq === PIC_CASCADE_IRQ) throw new RangeError(`${name}.isaIrq: ISA IRQ2 is the 8259A cascade and has no I/O APIC input`);
    const gsi = checkInt(`${name}.gsi`, e.gsi, 0, pins - 1);
    const polarity = checkChoice(`${name}.polarity`, e.polarity ?? 'conforms', ISA_POLARITIES);
    const trigger = checkChoice(`${name}.trigger`, e.trigger ?? 'conforms', ISA_TRIGGERS);
    if (seen.has(isaIrq)) throw new RangeError(`${name}.isaIrq: ISA IRQ ${isaIrq} is overridden twice`);
    seen.add(isaIrq);
    out.push({ isaIrq, gsi, polarity, trigger });
  });
  return out.sort((a, b) => a.isaIrq - b.isaIrq);
}

/**
 * The PIC output route. Left unset it is 'lint0-all+ioapic-pin0', or 'lint0-all' when an ISA IRQ
 * already uses pin 0 (identity wiring); named explicitly, a route through pin 0 then throws.
 */
function checkPicOutput(value: unknown, pin0Owner: number): PicOutputRoute | ((level: boolean) => void) {
  if (value === undefined) return pin0Owner >= 0 ? 'lint0-all' : 'lint0-all+ioapic-pin0';
  if (typeof value === 'function') return value as (level: boolean) => void;
  if (typeof value !== 'string') throw new TypeError(`picOutput must be a route name or a function, got ${typeName(value)}`);
  const route = checkChoice('picOutput', value, PIC_OUTPUT_ROUTES);
  if (route.endsWith('ioapic-pin0') && pin0Owner >= 0) {
    throw new RangeError(`picOutput '${route}' drives I/O APIC pin 0, but ISA IRQ ${pin0Owner} is wired to GSI 0; override ISA IRQ ${pin0Owner} elsewhere or pick a route without ioapic-pin0`);
  }
  return route;
}

function checkChoice<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string') throw new TypeError(`${name} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${typeof value}`);
  if (!allowed.includes(value as T)) throw new RangeError(`${name} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got '${value}'`);
  return value as T;
}

/** MPS INTI flags (MADT and MP table) of a polarity and trigger. */
export function intiFlags(polarity: IsaPolarity, trigger: IsaTrigger): number {
  const p = polarity === 'active-high' ? INTI_POLARITY_HIGH : polarity === 'active-low' ? INTI_POLARITY_LOW : INTI_POLARITY_CONFORMS;
  const t = trigger === 'edge' ? INTI_TRIGGER_EDGE : trigger === 'level' ? INTI_TRIGGER_LEVEL : INTI_TRIGGER_CONFORMS;
  return p | (t << INTI_TRIGGER_SHIFT);
}

// ---- firmware description ----------------------------------------------------------------

/** One MADT Interrupt Source Override (type 2), bus 0 = ISA. */
export interface MadtOverride {
  isaIrq: number;
  gsi: number;
  /** MPS INTI flags: polarity bits 1:0, trigger bits 3:2. */
  flags: number;
}

/** One MP table I/O Interrupt Assignment entry (type 3), source bus ISA. */
export interface MpIoInterrupt {
  type: 'INT' | 'ExtINT';
  /** MPS INTI flags. */
  flags: number;
  /** The ISA IRQ (source bus IRQ). */
  isaIrq: number;
  /** The I/O APIC input (INTINn). */
  pin: number;
}

/** One MP table Local Interrupt Assignment entry (type 4). */
export interface MpLocalInterrupt {
  type: 'ExtINT' | 'NMI';
  flags: number;
  /** Destination local APIC ID; 0xFF = all. */
  apicId: number;
  lint: 0 | 1;
}

/** What the guest's firmware tables must say for this wiring (see Platform.firmware). */
export interface FirmwareWiring {
  /** MADT flags bit 0 (PCAT_COMPAT): a dual 8259A is present — always true here. */
  pcatCompat: true;
  /** The I/O APIC's ID register value at reset and its first GSI (always 0: one I/O APIC). */
  ioapic: { id: number; gsiBase: 0; pins: number; version: number };
  /** The local APICs: processor index and initial APIC ID, BSP first. */
  cpus: Array<{ cpu: number; apicId: number; bsp: boolean }>;
  /** MADT type 2 entries (the same as Platform.isaOverrides(), with flags). */
  madtOverrides: MadtOverride[];
  /** MADT type 4 Local APIC NMI: LINT1 of every processor (ACPI processor UID 0xFF = all). */
  madtLocalNmi: { processorUid: 0xff; lint: 1; flags: number };
  /** MP table type 3 entries: one per ISA IRQ that reaches the I/O APIC, plus ExtINT on pin 0. */
  mpIoInterrupts: MpIoInterrupt[];
  /** MP table type 4 entries: ExtINT on LINT0 (where picOutput sends it), NMI on LINT1. */
  mpLocalInterrupts: MpLocalInterrupt[];
  /** Where the 8259A's INTR goes (the picOutput route, or 'callback'). */
  picOutput: PicOutputRoute | 'callback';
}

/** The firmware-table view of a resolved wiring. */
export function describeFirmware(
  w: Wiring,
  ioapic: { id: number; pins: number; version: number },
  cpus: ReadonlyArray<{ apicId: number; bsp: boolean }>,
): FirmwareWiring {
  const mpIo: MpIoInterrupt[] = [];
  if (w.pin0) mpIo.push({ type: 'ExtINT', flags: 0, isaIrq: 0, pin: PIC_IOAPIC_PIN });
  for (let irq = 0; irq < ISA_IRQS; irq++) {
    const pin = w.isaPin[irq]!;
    if (pin === NO_PIN) continue;
    const o = w.overrides.find((x) => x.isaIrq === irq);
    mpIo.push({ type: 'INT', flags: o === undefined ? 0 : intiFlags(o.polarity, o.trigger), isaIrq: irq, pin });
  }
  const mpLocal: MpLocalInterrupt[] = [];
  const bsp = cpus.find((c) => c.bsp);
  if (w.lint0 === LINT0_ALL) mpLocal.push({ type: 'ExtINT', flags: 0, apicId: MP_ALL_APICS, lint: 0 });
  else if (w.lint0 === LINT0_BSP && bsp !== undefined) mpLocal.push({ type: 'ExtINT', flags: 0, apicId: bsp.apicId, lint: 0 });
  mpLocal.push({ type: 'NMI', flags: 0, apicId: MP_ALL_APICS, lint: 1 });
  return {
    pcatCompat: true,
    ioapic: { id: ioapic.id, gsiBase: 0, pins: ioapic.pins, version: ioapic.version },
    cpus: cpus.map((c, cpu) => ({ cpu, apicId: c.apicId, bsp: c.bsp })),
    madtOverrides: w.overrides.map((o) => ({ isaIrq: o.isaIrq, gsi: o.gsi, flags: intiFlags(o.polarity, o.trigger) })),
    madtLocalNmi: { processorUid: 0xff, lint: 1, flags: 0 },
    mpIoInterrupts: mpIo,
    mpLocalInterrupts: mpLocal,
    picOutput: w.picOutput,
  };
}
