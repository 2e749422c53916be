// The host loop of docs/embedding.md: an emulator's own CPUs around a Platform whose clock is the
// host's instruction counter (HostClock). 2 CPUs, a periodic LAPIC timer, a level-triggered PCI
// line through the I/O APIC, an MSI, an NMI, HLT wake-ups, and a save / restore into a fresh
// Platform halfway. The code below the header is the guide's block, verbatim (test/examples
// checks it, and that the output without the restore is the same).
// Run after `npm run build`:  node examples/emulator-loop.mjs
import { HostClock, Platform, snapshotTime } from 'irqchip';

let icount = 0; // the host's instruction counter; its CPUs run 1e9 instructions per second
const options = { cpus: 2, reset: 'seabios' };
const cpus = [0, 1].map(() => ({ halted: true, woken: false, log: [] }));

/** A Platform whose clock follows the instruction counter (time 0 now), its events recorded. */
function build() {
  const pc = new Platform({ ...options, clock: new HostClock({ read: () => icount, hz: 1_000_000_000 }) });
  pc.onCpuEvent((e) => { cpus[e.cpu].woken = true; }); // record only (see the contract above)
  return pc;
}
let pc = build();

// What the guest kernel would do through the dispatch table: enable both APICs, a periodic
// 250 µs LAPIC timer on CPU 0 (vector 0xEC), PCI INTA# (GSI 16, level, active low) to CPU 1.
for (const apic of pc.lapics) apic.writeRegister(0xf0, 0x1ff);
pc.lapics[0].writeRegister(0x3e0, 0x0b);
pc.lapics[0].writeRegister(0x320, 0x20000 | 0xec);
pc.lapics[0].writeRegister(0x380, 250_000);
pc.ioapic.writeRegister(0x00, 0x10 + 2 * 16 + 1); pc.ioapic.writeRegister(0x10, 1 << 24);
pc.ioapic.writeRegister(0x00, 0x10 + 2 * 16);     pc.ioapic.writeRegister(0x10, 0xa000 | 0x41);

/** The CPU's interrupt check: NMI first, then INTR; the handlers EOI at once. */
function poll(cpu) {
  const c = cpus[cpu];
  if (pc.takeNmi(cpu)) { c.halted = false; c.log.push('NMI'); }
  while (pc.cpuHasInterrupt(cpu)) {
    const vector = pc.cpuAcknowledge(cpu);
    c.halted = false;
    c.log.push(`0x${vector.toString(16)}@${icount / 1000}us`);
    if (vector === 0x41) pc.setIrq(16, false);  // the driver clears its device's condition
    pc.lapics[cpu].writeRegister(0xb0, 0);      // EOI
  }
}

const restoreAt = 600_000; // after this slice: save, and go on with a fresh Platform
for (let t = 100_000; t <= 1_000_000; t += 100_000) {
  icount = t; // ...each CPU ran its guest code up to here; say both ended in HLT:
  for (const c of cpus) c.halted = true;
  if (t === 300_000) pc.setIrq(16, true);           // a PCI device asserts INTA#
  if (t === 500_000) pc.sendMsi(0xfee01000, 0x51);  // an MSI: CPU 1, vector 0x51, fixed, edge
  if (t === 700_000) { pc.setNmiLine(true); pc.setNmiLine(false); } // the NMI button: BSP's LINT1
  pc.clock.sync(); // halted CPUs make no accesses: run the timers due by now (they wake their CPU)
  for (let cpu = 0; cpu < 2; cpu++) {
    if (cpus[cpu].halted && !cpus[cpu].woken) continue; // asleep, nothing reported
    cpus[cpu].woken = false;
    poll(cpu);
  }
  if (t === restoreAt) {
    const bytes = pc.save(); // as a host saving its VM; a new process would restore it
    pc = build();            // the same options, a new clock at 0
    pc.restore(bytes);       // rebased: every timer keeps its remaining time
    console.log(`restored at ${t / 1000}us: saved at ${snapshotTime(bytes) / 1000}us, new clock at ${pc.clock.now()}ns`);
  }
}
cpus.forEach((c, cpu) => console.log(`CPU ${cpu}: ${c.log.join(' ')}`));
