/**
 * The PCI message-signalled interrupt format (SDM "Message Signalled Interrupts": figures
 * "Layout of the MSI Message Address Register" and "Layout of the MSI Message Data Register").
 *
 * Address: bits 31:20 = 0xFEE, destination ID in 19:12, redirection hint (RH) in bit 3,
 * destination mode (DM) in bit 2. Data: vector 7:0, delivery mode 10:8, level (assert) 14,
 * trigger mode 15.
 *
 * @module
 */
import { checkBool, checkBusValue } from '../errors.js';

export const MSI_ADDRESS_BASE = 0xfee0_0000;
export const MSI_ADDRESS_BASE_MASK = 0xfff0_0000;
export const MSI_ADDRESS_DEST_SHIFT = 12;
export const MSI_ADDRESS_DEST_MASK = 0xff;
export const MSI_ADDRESS_REDIRECTION_HINT = 1 << 3;
export const MSI_ADDRESS_DEST_LOGICAL = 1 << 2;
/** Bits 11:5 extend the destination ID to 15 bits on hypervisors that offer it (KVM, Xen). */
export const MSI_ADDRESS_EXT_DEST_SHIFT = 5;
export const MSI_ADDRESS_EXT_DEST_MASK = 0x7f;

export const MSI_DATA_VECTOR_MASK = 0xff;
export const MSI_DATA_DELIVERY_MODE_SHIFT = 8;
export const MSI_DATA_DELIVERY_MODE_MASK = 0x7;
export const MSI_DATA_LEVEL_ASSERT = 1 << 14;
export const MSI_DATA_TRIGGER_LEVEL = 1 << 15;

/** A decoded MSI. */
export interface MsiMessage {
  destination: number;
  logical: boolean;
  redirectionHint: boolean;
  vector: number;
  deliveryMode: number;
  levelTriggered: boolean;
  assert: boolean;
}

/** Whether the address falls in the 0xFEExxxxx interrupt window. */
export function isMsiAddress(address: number): boolean {
  return ((address & MSI_ADDRESS_BASE_MASK) >>> 0) === MSI_ADDRESS_BASE;
}

/** The destination ID, with the optional 7 extended bits above the 8 standard ones. */
export function msiDestination(address: number, extendedDestId: boolean): number {
  const low = (address >>> MSI_ADDRESS_DEST_SHIFT) & MSI_ADDRESS_DEST_MASK;
  if (!extendedDestId) return low;
  return low | (((address >>> MSI_ADDRESS_EXT_DEST_SHIFT) & MSI_ADDRESS_EXT_DEST_MASK) << 8);
}

/**
 * Decodes an MSI address/data pair (for introspection and tests; delivery avoids the object).
 * Any number is register data (taken as its u32 value).
 * @throws TypeError if address or data is not a number, or extendedDestId is not a boolean.
 */
export function decodeMsi(address: number, data: number, extendedDestId = false): MsiMessage {
  checkBusValue('address', address);
  checkBusValue('data', data);
  checkBool('extendedDestId', extendedDestId);
  return {
    destination: msiDestination(address, extendedDestId),
    logical: (address & MSI_ADDRESS_DEST_LOGICAL) !== 0,
    redirectionHint: (address & MSI_ADDRESS_REDIRECTION_HINT) !== 0,
    vector: data & MSI_DATA_VECTOR_MASK,
    deliveryMode: (data >>> MSI_DATA_DELIVERY_MODE_SHIFT) & MSI_DATA_DELIVERY_MODE_MASK,
    levelTriggered: (data & MSI_DATA_TRIGGER_LEVEL) !== 0,
    assert: (data & MSI_DATA_LEVEL_ASSERT) !== 0,
  };
}
