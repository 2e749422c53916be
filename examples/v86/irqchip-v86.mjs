// Replaces the 8259A pair, local APIC and I/O APIC of the v86 emulator (npm `v86@0.4.0`, installed
// here as `v86-legacy`) with one irqchip Platform. Uses irqchip's public API only.
//
// What v86@0.4.0 does with its own controllers, and what this adapter puts in their place:
// - ports 0x20/0x21/0xA0/0xA1 (8259A pair) and 0x4D0/0x4D1 (ELCR)     -> Platform.pic.ioRead/ioWrite
// - MMIO 0xFEE00000 (local APIC) and 0xFEC00000 (I/O APIC)             -> readRegister/writeRegister
// - cpu.device_raise_irq(n) / cpu.device_lower_irq(n), ISA IRQ n        -> Platform.setIrq(n, level)
// - cpu.pic_acknowledge(): the wasm core calls it when IF = 1           -> cpuHasInterrupt/cpuAcknowledge,
//   and the vector goes to the wasm export cpu.pic_call_irq(vector)
// - the APIC timer, ticked from v86's main loop (devices.apic.timer)   -> Platform.scheduler.runUntil(now)
// - save_state/restore_state (devices.pic/apic/ioapic.get_state)        -> Platform.save/restore
//
// Wiring: v86 wires ISA IRQ n to I/O APIC pin n and its SeaBIOS gets no etc/irq0-override, so the
// firmware tables the guest reads (MADT, MP table) say "IRQ0 is on pin 0". Platform's default puts
// IRQ0 on pin 2 (QEMU/KVM's wiring, which their MADT announces with an override). The adapter asks
// for v86's wiring with `isaOverrides: []`; with the default, a guest that trusts the tables
// programs pin 0 for its timer, and the timer fires once (Linux's check_timer test) and never again.

import { Platform } from 'irqchip';

/** ISA IRQ lines the multiboot test loader of v86@0.4.0 maps to ports 0x2000-0x200F. */
const TEST_PORT_BASE = 0x2000;
/** This adapter adds ports 0x2010-0x2017 for GSIs 16-23 (PCI INTx wires of the I/O APIC). */
const TEST_GSI_FIRST = 16;
const TEST_GSI_LAST = 23;

const PIC_PORTS = [0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1];
const LAPIC_BASE = 0xfee00000;
const LAPIC_WINDOW = 0x100000; // v86 maps the whole MiB; the APIC page is its first 4 KiB
const LAPIC_PAGE = 0x1000;
const IOAPIC_BASE = 0xfec00000;
const IOAPIC_WINDOW = 0x20000; // one v86 MMIO block (128 KiB)
const IOAPIC_DECODE = 0xff; // the 82093AA decodes IOREGSEL 0x00, IOWIN 0x10, EOI 0x40 in the low byte
/** v86@0.4.0 wires ISA IRQ n to I/O APIC pin n, IRQ0 included, and its firmware says so. */
const V86_ISA_OVERRIDES = [];
/** v86's main loop wants "milliseconds until you next need me", at most 100. */
const MAX_SLEEP_MS = 100;

/**
 * The names v86@0.4.0's bundle uses as globals although it only exports them. Under Node,
 * `acpi: true`, `bzimage` and `multiboot` reach code that reads them and throw ReferenceError.
 */
export const V86_GLOBAL_NAMES = [
  'dbg_assert', 'dbg_log', 'dbg_trace', 'h', 'v86', 'v86util', 'load_kernel', 'read_elf', 'DEBUG',
  'LOG_ACPI', 'LOG_APIC', 'LOG_CPU', 'LOG_HPET', 'LOG_VIRTIO', 'APIC_LOG_VERBOSE', 'APIC_TIMER_FREQ',
  'CR4_PAE', 'DELIVERY_MODES', 'DESTINATION_MODES', 'FLAGS_DEFAULT', 'IOAPIC_CONFIG_MASKED',
  'IOAPIC_DELIVERY_FIXED', 'IOAPIC_DELIVERY_INIT', 'IOAPIC_DELIVERY_NMI', 'MMAP_BLOCK_SIZE',
  'REG_EAX', 'REG_EBX', 'VIRTQ_DESC_F_NEXT',
];

/** Makes v86@0.4.0's exported-but-used-as-global names global (only those not defined yet). */
export function exposeV86Globals(v86module) {
  for (const name of V86_GLOBAL_NAMES) {
    if (!(name in globalThis) && name in v86module) globalThis[name] = v86module[name];
  }
}

/**
 * Stands in for a v86 device in `cpu.devices`. v86's state writer asserts that no device is a plain
 * object, so this is a class: v86 calls get_state() on save and set_state(array) on restore.
 */
class V86DeviceSlot {
  constructor(get, set) {
    this.get_state = get;
    this.set_state = set;
  }
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
function fnv1a(hash, word) {
  for (let i = 0; i < 4; i++) hash = Math.imul(hash ^ ((word >>> (i * 8)) & 0xff), FNV_PRIME) >>> 0;
  return hash;
}

export class IrqchipForV86 {
  /**
   * @param {object} cpu `emulator.v86.cpu` of a V86Starter made with `acpi: true`, after
   *   `emulator-loaded` and before it runs.
   * @param {object} opts
   * @param {() => number} opts.now v86's clock in ms (`v86module.v86.microtick`)
   * @param {boolean} [opts.testPorts] ports 0x2010-0x2017 drive GSIs 16-23 (the test kernel's protocol)
   * @param {object} [opts.platform] extra Platform options
   */
  constructor(cpu, opts) {
    if (!cpu || !cpu.io || !cpu.devices) throw new TypeError('cpu must be emulator.v86.cpu');
    if (!cpu.devices.apic || !cpu.devices.ioapic) throw new TypeError('the emulator needs acpi: true (it has no APIC otherwise)');
    if (typeof opts?.now !== 'function') throw new TypeError('opts.now must be a function returning ms');
    this.cpu = cpu;
    this.nowMs = opts.now;
    this.platformOptions = { cpus: 1, isaOverrides: V86_ISA_OVERRIDES, ...opts.platform };
    this.platform = new Platform(this.platformOptions);
    this.originMs = this.nowMs();
    this.lastNs = 0;
    this.stats = { acks: 0, lineChanges: 0 };
    /** FNV-1a over (vector, virtual ns) of every interrupt the CPU took: equal hashes, equal traces. */
    this.traceHash = FNV_OFFSET;
    this.installPorts();
    this.installMmio();
    this.installCpuHooks();
    this.installStateHooks();
    if (opts.testPorts) this.installGsiTestPorts();
  }

  // ---- time --------------------------------------------------------------------------------

  /** Brings irqchip's virtual time up to v86's clock (integer ns, never backwards). */
  sync() {
    const ns = Math.floor((this.nowMs() - this.originMs) * 1e6);
    if (ns > this.lastNs) {
      this.lastNs = ns;
      this.platform.scheduler.runUntil(ns);
    }
  }

  /** v86's main loop ticks this as `devices.apic.timer(now)`: run due timers, say when to come back. */
  timer() {
    this.sync();
    const next = this.platform.scheduler.nextEventTime();
    if (next === undefined) return MAX_SLEEP_MS;
    return Math.min(MAX_SLEEP_MS, Math.max(0, (next - this.lastNs) / 1e6));
  }

  // ---- the CPU's side ----------------------------------------------------------------------

  /**
   * After anything that can make an interrupt deliverable (a line change, an EOI, a TPR or mask
   * write, an IPI) v86's own devices call cpu.handle_irqs() at once; so do we. It checks IF and
   * then calls pic_acknowledge below.
   */
  poll() {
    if (this.platform.cpuHasInterrupt(0)) this.cpu.handle_irqs();
  }

  /** INTA: v86 calls this when IF = 1. The CPU takes whatever the controllers hand it. */
  acknowledge() {
    if (!this.platform.cpuHasInterrupt(0)) return;
    this.sync();
    const vector = this.platform.cpuAcknowledge(0);
    this.stats.acks++;
    this.traceHash = fnv1a(fnv1a(fnv1a(this.traceHash, vector), this.lastNs >>> 0), Math.floor(this.lastNs / 2 ** 32));
    this.cpu.pic_call_irq(vector);
  }

  setIrq(gsi, level) {
    this.stats.lineChanges++;
    this.platform.setIrq(gsi, level);
    this.poll();
  }

  installCpuHooks() {
    const cpu = this.cpu;
    // Instance properties shadow the CPU prototype's methods; the wasm imports call them by name.
    cpu.device_raise_irq = (irq) => this.setIrq(irq, true);
    cpu.device_lower_irq = (irq) => this.setIrq(irq, false);
    cpu.pic_acknowledge = () => this.acknowledge();
  }

  // ---- guest accesses ----------------------------------------------------------------------

  installPorts() {
    const io = this.cpu.io;
    const pic = this.platform.pic;
    for (const port of PIC_PORTS) {
      const read8 = () => pic.ioRead(port);
      const write8 = (value) => {
        pic.ioWrite(port, value & 0xff);
        this.poll();
      };
      // A 16-bit access to port p is two byte accesses, to p and p + 1.
      const read16 = () => read8() | (io.port_read8(port + 1) << 8);
      const write16 = (value) => {
        write8(value);
        io.port_write8(port + 1, (value >>> 8) & 0xff);
      };
      io.register_read(port, this, read8, read16);
      io.register_write(port, this, write8, write16);
    }
  }

  installMmio() {
    const io = this.cpu.io;
    const lapic = this.platform.lapics[0];
    const ioapic = this.platform.ioapic;
    const lapicRead32 = (addr) => {
      const offset = (addr - LAPIC_BASE) >>> 0;
      if (offset >= LAPIC_PAGE) return 0;
      this.sync(); // the current count and IRR must reflect v86's present time
      return lapic.readRegister(offset & ~3);
    };
    const lapicWrite32 = (addr, value) => {
      const offset = (addr - LAPIC_BASE) >>> 0;
      if (offset >= LAPIC_PAGE) return;
      this.sync();
      lapic.writeRegister(offset, value >>> 0);
      this.poll();
    };
    io.mmap_register(
      LAPIC_BASE,
      LAPIC_WINDOW,
      (addr) => (lapicRead32(addr & ~3) >>> ((addr & 3) * 8)) & 0xff,
      () => {}, // byte writes to the APIC page are not defined (SDM 10.4.1: 32-bit aligned accesses)
      lapicRead32,
      lapicWrite32,
    );
    const ioapicRead32 = (addr) => ioapic.readRegister((addr - IOAPIC_BASE) & IOAPIC_DECODE);
    const ioapicWrite32 = (addr, value) => {
      ioapic.writeRegister((addr - IOAPIC_BASE) & IOAPIC_DECODE, value >>> 0);
      this.poll();
    };
    io.mmap_register(
      IOAPIC_BASE,
      IOAPIC_WINDOW,
      (addr) => (ioapicRead32(addr & ~3) >>> ((addr & 3) * 8)) & 0xff,
      () => {},
      ioapicRead32,
      ioapicWrite32,
    );
  }

  /** The test kernel's protocol: a byte write to 0x2010 + n asserts (non-zero) or deasserts GSI 16 + n. */
  installGsiTestPorts() {
    for (let gsi = TEST_GSI_FIRST; gsi <= TEST_GSI_LAST; gsi++) {
      const write = (value) => this.setIrq(gsi, value !== 0);
      this.cpu.io.register_write(TEST_PORT_BASE + gsi, this, write, write, write);
    }
  }

  // ---- v86's device table and its save/restore ---------------------------------------------

  /**
   * v86 ticks `devices.apic.timer` and saves `devices.{apic,pic,ioapic}.get_state()`. One
   * stand-in carries the whole Platform snapshot (in the `pic` slot); the other two are empty.
   */
  installStateHooks() {
    const devices = this.cpu.devices;
    devices.apic = new V86DeviceSlot(() => [], () => {});
    devices.apic.timer = () => this.timer();
    devices.ioapic = new V86DeviceSlot(() => [], () => {});
    devices.pic = new V86DeviceSlot(
      () => this.saveState(),
      (state) => this.restoreState(state),
    );
  }

  saveState() {
    this.sync();
    return [this.platform.save(), new Float64Array([this.lastNs])];
  }

  /**
   * A snapshot restores onto a fresh Platform whose scheduler first advances to the snapshot's
   * time; from then on v86's clock maps to that time.
   */
  restoreState([bytes, time]) {
    const atNs = time[0];
    const platform = new Platform(this.platformOptions);
    platform.scheduler.runUntil(atNs);
    platform.restore(bytes);
    this.platform = platform;
    this.lastNs = atNs;
    this.originMs = this.nowMs() - atNs / 1e6;
    this.installPorts();
    this.installMmio();
  }
}
