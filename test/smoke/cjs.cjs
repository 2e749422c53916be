// Imports the built package by its own name (the exports map) from CommonJS.
const assert = require('node:assert/strict');
const { LocalApic, Scheduler, registers } = require('irqchip');

const clock = new Scheduler();
const apic = new LocalApic({ id: 1, clock });
apic.writeRegister(registers.APIC_SVR, 0x1ff);
apic.acceptInterrupt(0x41, false);
assert.equal(apic.acknowledge(), 0x41);
assert.equal(apic.readRegister(registers.APIC_VERSION), 0x01060014);
console.log('cjs smoke ok');
