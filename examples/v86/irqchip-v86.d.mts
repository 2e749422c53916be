// Types for irqchip-v86.mjs (the adapter is plain JavaScript so it can be copied as is).
import type { Platform, PlatformOptions } from 'irqchip';

export declare const V86_GLOBAL_NAMES: readonly string[];
export declare function exposeV86Globals(v86module: Record<string, unknown>): void;

export interface IrqchipForV86Options {
  /** v86's clock in ms (`v86module.v86.microtick`, or an InstructionClock's `now`). */
  now: () => number;
  /** Ports 0x2010-0x2017 drive GSIs 16-23 (the guest test kernel's protocol). */
  testPorts?: boolean;
  /** Extra Platform options (the adapter sets cpus: 1 and isaOverrides: []). */
  platform?: Partial<PlatformOptions>;
}

export declare class IrqchipForV86 {
  constructor(cpu: unknown, opts: IrqchipForV86Options);
  readonly platform: Platform;
  readonly stats: { acks: number; lineChanges: number };
  /** FNV-1a over (vector, virtual ns) of every interrupt taken. */
  readonly traceHash: number;
  sync(): void;
  timer(): number;
  poll(): void;
  acknowledge(): void;
  setIrq(gsi: number, level: boolean): void;
  saveState(): [Uint8Array, Float64Array];
  restoreState(state: [Uint8Array, Float64Array]): void;
}
