// Imports the built package by its own name (the exports map) from ES modules: each entry point.
import assert from 'node:assert/strict';
import { LocalApic, Machine, Scheduler } from 'irqchip';
import { registers } from 'irqchip/registers';
import { runScenario } from 'irqchip/scenarios';
import { toSvg } from 'irqchip/svg';

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
console.log('esm smoke ok');
