/**
 * Interrupt Command Register decoding and the SDM's table of valid ICR combinations.
 *
 * The SDM (table "Valid Combinations for the Pentium 4 and Intel Xeon Processors' Local xAPIC
 * Interrupt Command Register") lists which delivery mode / trigger mode / shorthand
 * combinations a local APIC sends; the others are "invalid" and the model ignores them (bhyve
 * and illumos validate ICR writes the same way, vlapic_is_icr_valid). The rules:
 *
 * - Fixed: any shorthand. Level-triggered with "assert" is sent as edge (Intel converts it,
 *   AMD sends it); level "de-assert" is invalid.
 * - Lowest priority, SMI, NMI, INIT: only with no shorthand or all-excluding-self; edge, or level
 *   assert. Sending them to self (shorthand self or all-including-self) is invalid, so an INIT
 *   cannot reset its own sender through a shorthand.
 * - INIT level de-assert: the 82489DX's "synchronise arbitration IDs" message. Pentium 4 and later
 *   do not support it; it is accepted and does nothing.
 * - Start-up: only with no shorthand or all-excluding-self.
 * - Delivery mode 011 (reserved; remote read on the 82489DX) and 111 (ExtINT, not an ICR mode):
 *   invalid.
 *
 * @module
 */
import { DeliveryMode } from './message.js';
import {
  ICR_DELIVERY_MODE_MASK,
  ICR_DELIVERY_MODE_SHIFT,
  ICR_DEST_LOGICAL,
  ICR_LEVEL_ASSERT,
  ICR_SHORTHAND_MASK,
  ICR_SHORTHAND_SHIFT,
  ICR_TRIGGER_LEVEL,
  ICR_VECTOR_MASK,
  Shorthand,
} from './registers.js';

/** Outcome of checking an ICR write against the SDM's table. */
export const IcrCheck = {
  /** A message is sent. */
  Send: 0,
  /** The combination is invalid: nothing is sent. */
  Invalid: 1,
  /** An INIT level de-assert: valid, but there is nothing to do. */
  InitDeassert: 2,
} as const;
export type IcrCheck = (typeof IcrCheck)[keyof typeof IcrCheck];

export function icrVector(low: number): number {
  return low & ICR_VECTOR_MASK;
}
export function icrDeliveryMode(low: number): number {
  return (low & ICR_DELIVERY_MODE_MASK) >>> ICR_DELIVERY_MODE_SHIFT;
}
export function icrShorthand(low: number): number {
  return (low & ICR_SHORTHAND_MASK) >>> ICR_SHORTHAND_SHIFT;
}
export function icrLogical(low: number): boolean {
  return (low & ICR_DEST_LOGICAL) !== 0;
}
export function icrLevelTriggered(low: number): boolean {
  return (low & ICR_TRIGGER_LEVEL) !== 0;
}
export function icrAssert(low: number): boolean {
  return (low & ICR_LEVEL_ASSERT) !== 0;
}

/** Checks an ICR low word against the valid-combination table. */
export function checkIcr(low: number): IcrCheck {
  const mode = icrDeliveryMode(low);
  const shorthand = icrShorthand(low);
  const level = icrLevelTriggered(low);
  const deassert = level && !icrAssert(low);
  const toOthersOnly = shorthand === Shorthand.None || shorthand === Shorthand.AllExcludingSelf;
  switch (mode) {
    case DeliveryMode.Fixed:
      return deassert ? IcrCheck.Invalid : IcrCheck.Send;
    case DeliveryMode.Init:
      if (deassert) return toOthersOnly ? IcrCheck.InitDeassert : IcrCheck.Invalid;
      return toOthersOnly ? IcrCheck.Send : IcrCheck.Invalid;
    case DeliveryMode.LowestPriority:
    case DeliveryMode.Smi:
    case DeliveryMode.Nmi:
      return toOthersOnly && !deassert ? IcrCheck.Send : IcrCheck.Invalid;
    case DeliveryMode.StartUp:
      return toOthersOnly ? IcrCheck.Send : IcrCheck.Invalid;
    default:
      // Reserved (3) and ExtINT (7) are not ICR delivery modes.
      return IcrCheck.Invalid;
  }
}
