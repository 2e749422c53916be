/**
 * Nested virtualization: checks at load that an L1 program's hypervisor instructions belong to
 * the machine's ISA — VMX controls under a VMX backend, SVM controls, V_IRQ and STGI / CLGI under
 * an SVM one. (The shape of the program is checked by validateProgram; this is the host-misuse
 * check that needs the backend.)
 *
 * @module
 */
import { SVM_CONTROLS, VMX_CONTROLS, type GuestProgram, type Instr } from '../guest/program.js';
import type { BackendName } from './backend.js';
import { isaOf } from './nested-controls.js';

/** @throws RangeError naming the instruction and field that does not match `backend`'s ISA. */
export function checkNestedIsa(program: GuestProgram, backend: BackendName): void {
  const isa = isaOf(backend);
  const other = isa === 'vmx' ? 'SVM' : 'VMX';
  const foreign: readonly string[] = isa === 'vmx' ? SVM_CONTROLS : VMX_CONTROLS;
  const mismatch = (at: string, what: string): never => {
    throw new RangeError(`${at}: ${what} is ${other}; backend ${backend} is ${isa.toUpperCase()}`);
  };
  const check = (block: string, code: readonly Instr[] | undefined): void => {
    code?.forEach((instr, i) => {
      const at = `program.${block}[${i}]`;
      if ((instr.op === 'stgi' || instr.op === 'clgi') && isa === 'vmx') mismatch(at, instr.op);
      if (instr.op !== 'vmlaunch' && instr.op !== 'vmresume') return;
      if (instr.vIrq !== undefined && isa === 'vmx') mismatch(`${at}.vIrq`, 'V_IRQ');
      for (const key of Object.keys(instr.controls ?? {})) {
        if (foreign.includes(key)) mismatch(`${at}.controls.${key}`, `the control ${key}`);
      }
    });
  };
  check('main', program.main);
  check('vmexit', program.vmexit);
  for (const [key, code] of Object.entries(program.handlers ?? {})) check(`handlers[${key}]`, code);
  check('nmi', program.nmi);
}
