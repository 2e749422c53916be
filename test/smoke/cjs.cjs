// Imports the built package by its own name (the exports map) from CommonJS: each entry point.
const assert = require('node:assert/strict');
const { LocalApic, Machine, Scheduler } = require('irqchip');
const { registers } = require('irqchip/registers');
const { runScenario } = require('irqchip/scenarios');
const { toSvg } = require('irqchip/svg');

const clock = new Scheduler();
const apic = new LocalApic({ id: 1, clock });
apic.writeRegister(registers.APIC_SVR, 0x1ff);
apic.acceptInterrupt(0x41, false);
assert.equal(apic.acknowledge(), 0x41);
assert.equal(apic.readRegister(registers.APIC_VERSION), 0x01060014);
const run = runScenario('lost-ipi', { backend: 'svm-vintr' });
assert.equal(run.lost, 1);
assert.ok(run.machine instanceof Machine, 'irqchip/scenarios runs the Machine of irqchip');
assert.match(toSvg(run.machine.trace), /^<svg /);
console.log('cjs smoke ok');
