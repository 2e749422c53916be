// The README's first example: one local APIC driven by an emulator's own CPU loop.
// Run after `npm run build`:  node examples/quickstart.mjs
import { LocalApic, Scheduler } from 'irqchip';

const clock = new Scheduler(); // virtual time, integer nanoseconds
const apic = new LocalApic({ id: 0, clock, bsp: true });

// The guest enables the APIC (SVR bit 8, spurious vector 0xFF) and programs a periodic timer:
// vector 0x40, divide by 1, 1,000,000 ticks of the 1 GHz timer clock = 1 ms.
apic.writeRegister(0x0f0, 0x1ff);
apic.writeRegister(0x3e0, 0b1011);
apic.writeRegister(0x320, (1 << 17) | 0x40);
apic.writeRegister(0x380, 1_000_000);

// A device interrupt arrives as a fixed, edge-triggered message.
apic.acceptInterrupt(0x31, false);

const taken = [];
for (let t = 0; t < 3_000_000; t += 250_000) {
  clock.runUntil(t); // advance virtual time; the timer fires inside
  const vector = apic.pendingVector(); // what the CPU's INTR would see (IF=1 assumed)
  if (vector < 0) continue;
  apic.acknowledge(); // INTA: IRR -> ISR
  taken.push(`${t / 1000} us: vector 0x${vector.toString(16)}`);
  apic.eoi(); // the handler's EOI write
}
console.log(taken.join('\n'));
