/**
 * `irqchip/registers`: the register offsets, MSR numbers and bit fields of the three controllers,
 * named as the manuals name them — the local APIC's (Intel SDM vol. 3, chapter 11), the I/O
 * APIC's (82093AA data sheet) and the 8259A's ports and ICW/OCW fields. The devices take plain
 * numbers; these tables are for code that writes registers by name. A separate entry point
 * because the tables are large (about 3 KB gzip) and a program that uses none of them should not
 * carry them.
 *
 * ```ts
 * import { LocalApic, Scheduler } from 'irqchip';
 * import { registers } from 'irqchip/registers';
 *
 * const apic = new LocalApic({ id: 0, clock: new Scheduler() });
 * apic.writeRegister(registers.APIC_SVR, 0x1ff); // software-enable, spurious vector 0xFF
 * apic.readRegister(registers.APIC_VERSION);      // 0x01060014
 * ```
 *
 * @module irqchip/registers
 */
export * as registers from './apic/registers.js';
export * as ioapicRegisters from './ioapic/registers.js';
export * as picRegisters from './pic/registers.js';
