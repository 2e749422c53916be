// Imports the built package by its own name (the exports map) from ES modules.
import assert from 'node:assert/strict';
import { LocalApic, Scheduler, registers } from 'irqchip';

const clock = new Scheduler();
const apic = new LocalApic({ id: 1, clock });
apic.writeRegister(registers.APIC_SVR, 0x1ff);
apic.acceptInterrupt(0x41, false);
assert.equal(apic.acknowledge(), 0x41);
assert.equal(apic.readRegister(registers.APIC_VERSION), 0x01060014);
console.log('esm smoke ok');
