/**
 * v86's 8259A pair (Rust, compiled into the npm package's build/v86.wasm), instantiated standalone
 * for `bench:compare`. No v86 code is copied here: the wasm is loaded from the devDependency.
 *
 * Every imported `env` function is a no-op stub and the function table a fresh table. The PICs are
 * programmed the way a BIOS does, through real port writes: v86's OUT imm8,AL handler
 * (`instr_E6`, AL in the register file at byte 64 of wasm memory) dispatches ports 0x20/0x21/0xA0/
 * 0xA1 to its PIC inside the wasm. Guest RAM (1 MiB, for the interrupt vector table and the stack
 * of the real-mode interrupt entry) is allocated with `allocate_memory`, and `memory_size` (byte
 * 812) is set so that those accesses stay in wasm memory instead of calling the MMIO stubs.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { PIC_IRQS } from './pic.js';

/** The few WebAssembly JS API pieces used here (tsconfig's lib has no WebAssembly types). */
interface WasmApi {
  Module: { new (bytes: Uint8Array): object; imports(m: object): { module: string; name: string; kind: string }[] };
  Instance: new (m: object, imports: Record<string, Record<string, unknown>>) => { exports: unknown };
  Table: new (desc: { initial: number; element: 'anyfunc' }) => object;
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

interface V86Exports {
  memory: { buffer: ArrayBuffer };
  instr_E6(port: number): void;
  instr_CD(vector: number): void;
  device_raise_irq(irq: number): void;
  device_lower_irq(irq: number): void;
  handle_irqs(): void;
  update_eflags(flags: number): void;
  get_eflags(): number;
  allocate_memory(size: number): number;
  get_pic_addr_master(): number;
  get_pic_addr_slave(): number;
}

const REG_AL = 64;
const MEMORY_SIZE = 812;
const FLAGS_IF = 0x202;

export interface V86Pic {
  version: string;
  exports: V86Exports;
  out(port: number, value: number): void;
  /** The master/slave state bytes (repr(C): irq_mask, irq_map, isr, irr, ...). */
  state(): { master: number[]; slave: number[] };
}

/** Loads and programs v86's PIC pair, or explains why it cannot. */
export function loadV86Pic(): V86Pic | string {
  let wasmPath: string;
  let version: string;
  try {
    const require = createRequire(import.meta.url);
    const pkgPath = require.resolve('v86/package.json');
    version = (JSON.parse(readFileSync(pkgPath, 'utf8')) as { version: string }).version;
    wasmPath = pkgPath.replace(/package\.json$/, 'build/v86.wasm');
  } catch (e) {
    return `the v86 package is not installed (${(e as Error).message.split('\n')[0]})`;
  }
  try {
    const mod = new WA.Module(readFileSync(wasmPath));
    const env: Record<string, unknown> = {};
    for (const imp of WA.Module.imports(mod)) {
      if (imp.kind === 'function') env[imp.name] = () => 0;
    }
    env.__indirect_function_table = new WA.Table({ initial: 1024, element: 'anyfunc' });
    const exports = new WA.Instance(mod, { env }).exports as V86Exports;
    for (const name of ['instr_E6', 'instr_CD', 'device_raise_irq', 'device_lower_irq', 'handle_irqs', 'update_eflags', 'allocate_memory', 'get_pic_addr_master']) {
      if (typeof (exports as unknown as Record<string, unknown>)[name] !== 'function') return `v86.wasm ${version} does not export ${name}`;
    }
    exports.allocate_memory(1 << 20);
    new Uint32Array(exports.memory.buffer, MEMORY_SIZE, 1)[0] = 1 << 20;
    const out = (port: number, value: number): void => {
      new Uint8Array(exports.memory.buffer)[REG_AL] = value;
      exports.instr_E6(port);
    };
    const state = (): { master: number[]; slave: number[] } => {
      const m = new Uint8Array(exports.memory.buffer);
      const a = exports.get_pic_addr_master();
      const b = exports.get_pic_addr_slave();
      return { master: [...m.slice(a, a + 13)], slave: [...m.slice(b, b + 13)] };
    };
    // The same programming as picSetup(): ICW1-ICW4 on both chips, all IRQs unmasked.
    for (const [port, value] of [
      [0x20, 0x11], [0x21, 0x08], [0x21, 0x04], [0x21, 0x01],
      [0xa0, 0x11], [0xa1, 0x70], [0xa1, 0x02], [0xa1, 0x01],
      [0x21, 0x00], [0xa1, 0x00],
    ] as const) out(port, value);
    const st = state();
    // irq_mask (byte 0) is v86's enable mask (OCW1 inverted), irq_map (byte 1) the vector base.
    if (st.master[0] !== 0xff || st.master[1] !== 0x08 || st.slave[0] !== 0xff || st.slave[1] !== 0x70) {
      return `v86.wasm ${version}: the PIC did not take the initialisation (state ${JSON.stringify(st)})`;
    }
    // Self-check of one full cycle: the INTA must set IS4 and the EOI clear it.
    exports.update_eflags(FLAGS_IF);
    exports.device_raise_irq(4);
    const isr = state().master[2];
    out(0x20, 0x20);
    exports.device_lower_irq(4);
    if (isr !== 0x10 || state().master[2] !== 0) return `v86.wasm ${version}: INTA/EOI self-check failed`;
    return { version, exports, out, state };
  } catch (e) {
    return `v86.wasm could not be instantiated standalone: ${(e as Error).message}`;
  }
}

/**
 * The v86 side of pic-cycle, one op: update_eflags(IF=1); device_raise_irq(irq) (sets IRR; with
 * IF set, v86 runs the INTA at once: IRR -> ISR, and enters the real-mode interrupt: vector table
 * read, FLAGS/CS/IP pushed); OUT 0xA0,0x20 for a slave IRQ; OUT 0x20,0x20 (non-specific EOI);
 * device_lower_irq(irq).
 */
export function v86PicCycle(v: V86Pic, n: number): number {
  const e = v.exports;
  const al = new Uint8Array(e.memory.buffer, REG_AL, 1);
  let k = 0;
  for (let i = 0; i < n; i++) {
    const irq = PIC_IRQS[k]!;
    k = k === PIC_IRQS.length - 1 ? 0 : k + 1;
    e.update_eflags(FLAGS_IF);
    e.device_raise_irq(irq);
    al[0] = 0x20;
    if (irq >= 8) e.instr_E6(0xa0);
    e.instr_E6(0x20);
    e.device_lower_irq(irq);
  }
  return e.get_eflags();
}

/** v86, one op: device_raise_irq(irq) then device_lower_irq(irq) with IF clear (no INTA). */
export function v86PicRaiseLower(v: V86Pic, n: number): number {
  const e = v.exports;
  e.update_eflags(0x2);
  let k = 0;
  for (let i = 0; i < n; i++) {
    const irq = PIC_IRQS[k]!;
    k = k === PIC_IRQS.length - 1 ? 0 : k + 1;
    e.device_raise_irq(irq);
    e.device_lower_irq(irq);
  }
  return e.get_eflags();
}

/** v86's real-mode interrupt entry alone (INT 0x0C via instr_CD, with update_eflags): the CPU work inside v86's INTA path that PicPair does not do. */
export function v86IntEntry(v: V86Pic, n: number): number {
  const e = v.exports;
  for (let i = 0; i < n; i++) {
    e.update_eflags(FLAGS_IF);
    e.instr_CD(0x0c);
  }
  return e.get_eflags();
}
