/**
 * The interrupt message that travels on the APIC bus (SDM vol. 3 §11.6 "Issuing
 * interprocessor interrupts", §11.11 "Message signalled interrupts"; 82093AA data sheet §3.2.4).
 *
 * Every source of interrupts above the 8259A speaks this one format: a local APIC's ICR, an I/O
 * APIC redirection entry and a PCI MSI all name a destination, a destination mode, a delivery
 * mode, a vector and a trigger mode. Devices declare that they need an {@link InterruptRouter}
 * and the bus layer (src/bus/) implements it, so no device imports the bus.
 *
 * @module
 */

/** Delivery modes, as encoded in ICR[10:8], redirection entry bits 10:8 and MSI data bits 10:8. */
export const DeliveryMode = {
  Fixed: 0,
  LowestPriority: 1,
  Smi: 2,
  /** Encoding 3 is reserved (it was "remote read" on the 82489DX). */
  Reserved3: 3,
  Nmi: 4,
  Init: 5,
  StartUp: 6,
  ExtInt: 7,
} as const;
export type DeliveryMode = (typeof DeliveryMode)[keyof typeof DeliveryMode];

/** Destination modes (ICR bit 11, redirection entry bit 11, MSI address bit 2). */
export const DestMode = { Physical: 0, Logical: 1 } as const;
export type DestMode = (typeof DestMode)[keyof typeof DestMode];

/** The all-ones xAPIC destination that means "every local APIC" in physical and logical modes. */
export const XAPIC_BROADCAST = 0xff;
/** The all-ones x2APIC destination that means "every local APIC". */
export const X2APIC_BROADCAST = 0xffff_ffff;

/**
 * Where the I/O APIC and MSI sources hand their messages (implemented by `ApicBus`).
 *
 * The call takes plain numbers so that delivery allocates nothing.
 */
export interface InterruptRouter {
  /**
   * Delivers one interrupt message from an I/O APIC or an MSI.
   *
   * @param destination 8-bit xAPIC-format destination (0xFF broadcasts), or a 32-bit x2APIC
   *   destination when the source can address one.
   * @param logical destination mode: `false` = physical, `true` = logical.
   * @param deliveryMode one of {@link DeliveryMode}.
   * @param vector 0..255 (ignored for NMI, INIT, SMI and ExtINT).
   * @param level trigger mode: `true` = level-triggered, `false` = edge.
   * @returns how many local APICs accepted the message (0 when nobody matched).
   */
  routeMessage(destination: number, logical: boolean, deliveryMode: number, vector: number, level: boolean): number;
}
