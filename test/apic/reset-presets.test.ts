import { describe, expect, it } from 'vitest';
import { LocalApic } from '../../src/apic/local-apic.js';
import { Platform } from '../../src/platform/platform.js';
import { Scheduler } from '../../src/time/scheduler.js';

const SVR = 0xf0;
const LVT_TIMER = 0x320;
const LVT_THERMAL = 0x330;
const LVT_PERF = 0x340;
const LINT0 = 0x350;
const LINT1 = 0x360;
const LVT_ERROR = 0x370;
const MASKED = 0x10000;

/** ICW1-4 on the master 8259A (vector base 0x08), every IRQ unmasked. */
function initMaster(pc: Platform): void {
  for (const [port, v] of [[0x20, 0x11], [0x21, 0x08], [0x21, 0x04], [0x21, 0x01], [0x21, 0x00]] as const) pc.pic.ioWrite(port, v);
}

describe("reset preset 'power-on' (SDM: Local APIC State After Power-Up or Reset)", () => {
  it('SVR is 0xFF and every LVT entry is masked on every CPU', () => {
    const pc = new Platform({ cpus: 2 });
    for (const a of pc.lapics) {
      expect(a.readRegister(SVR)).toBe(0xff);
      for (const off of [LVT_TIMER, LVT_THERMAL, LVT_PERF, LINT0, LINT1, LVT_ERROR]) expect(a.readRegister(off)).toBe(MASKED);
    }
  });
});

describe("reset preset 'seabios' (SeaBIOS src/fw/smp.c smp_setup, run on the BSP)", () => {
  const pc = new Platform({ cpus: 2, reset: 'seabios' });
  const [bsp, ap] = pc.lapics as [LocalApic, LocalApic];

  it('BSP SVR = 0x1FF (0xFF | APIC_ENABLED): software-enabled', () => {
    expect(bsp.readRegister(SVR)).toBe(0x1ff);
    expect(bsp.softwareEnabled).toBe(true);
  });
  it('BSP LINT0 = 0x8700 (ExtINT, level triggered)', () => expect(bsp.readRegister(LINT0)).toBe(0x8700));
  it('BSP LINT1 = 0x8400 (NMI, level triggered)', () => expect(bsp.readRegister(LINT1)).toBe(0x8400));
  it('the BSP timer, thermal, perf and error entries stay masked', () => {
    for (const off of [LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_ERROR]) expect(bsp.readRegister(off)).toBe(MASKED);
  });
  it('APs are left as power-on: SeaBIOS programs only the BSP', () => {
    expect(ap.readRegister(SVR)).toBe(0xff);
    expect(ap.readRegister(LINT0)).toBe(MASKED);
    expect(ap.readRegister(LINT1)).toBe(MASKED);
  });
  it('the 8259A reaches the BSP through LINT0 with no guest APIC write', () => {
    const p = new Platform({ cpus: 2, reset: 'seabios' });
    initMaster(p);
    p.setIrq(1, true);
    expect(p.cpuHasInterrupt(0)).toBe(true);
    expect(p.cpuHasInterrupt(1)).toBe(false);
    expect(p.cpuAcknowledge(0)).toBe(0x09);
  });
  it('an NMI on LINT1 reaches the BSP', () => {
    const p = new Platform({ cpus: 1, reset: 'seabios' });
    p.setNmiLine(true);
    expect(p.takeNmi(0)).toBe(true);
  });
});

describe("reset preset 'kvm' (kvm_lapic_reset with KVM_X86_QUIRK_LINT0_REENABLED)", () => {
  it('BSP LINT0 = 0x700 (ExtINT, edge, unmasked) while SVR stays 0xFF (software-disabled)', () => {
    const pc = new Platform({ cpus: 2, reset: 'kvm' });
    expect(pc.lapics[0]!.readRegister(LINT0)).toBe(0x700);
    expect(pc.lapics[0]!.readRegister(SVR)).toBe(0xff);
    expect(pc.lapics[0]!.softwareEnabled).toBe(false);
  });
  it('BSP LINT1 stays masked', () => expect(new Platform({ cpus: 1, reset: 'kvm' }).lapics[0]!.readRegister(LINT1)).toBe(MASKED));
  it('APs keep LINT0 masked (the quirk applies to the reset BSP only)', () => {
    expect(new Platform({ cpus: 2, reset: 'kvm' }).lapics[1]!.readRegister(LINT0)).toBe(MASKED);
  });
  it('the 8259A reaches the software-disabled BSP through LINT0 (KVM kvm_apic_accept_pic_intr checks only LVT0)', () => {
    const pc = new Platform({ cpus: 1, reset: 'kvm' });
    initMaster(pc);
    pc.setIrq(1, true);
    expect(pc.cpuHasInterrupt(0)).toBe(true);
    expect(pc.cpuAcknowledge(0)).toBe(0x09);
  });
  it('a guest LVT write while software-disabled is still forced masked (SDM; KVM kvm_lapic_reg_write)', () => {
    const pc = new Platform({ cpus: 2, reset: 'kvm' });
    pc.lapics[1]!.writeRegister(LINT0, 0x700);
    expect(pc.lapics[1]!.readRegister(LINT0)).toBe(0x10700);
    pc.lapics[0]!.writeRegister(LINT0, 0x700);
    expect(pc.lapics[0]!.readRegister(LINT0)).toBe(0x10700);
  });
  it('a guest SVR write with bit 8 clear masks LINT0 even though the APIC was already disabled (KVM APIC_SPIV)', () => {
    const pc = new Platform({ cpus: 1, reset: 'kvm' });
    pc.lapics[0]!.writeRegister(SVR, 0xff);
    expect(pc.lapics[0]!.readRegister(LINT0)).toBe(0x10700);
  });
  it('enabling the APIC keeps the preset LINT0 (Linux then finds virtual wire mode set up)', () => {
    const pc = new Platform({ cpus: 1, reset: 'kvm' });
    pc.lapics[0]!.writeRegister(SVR, 0x1ff);
    expect(pc.lapics[0]!.readRegister(LINT0)).toBe(0x700);
  });
});

describe('choosing a preset', () => {
  it('Platform.reset(preset) applies another preset; reset() goes back to the option', () => {
    const pc = new Platform({ cpus: 1, reset: 'kvm' });
    pc.reset('seabios');
    expect(pc.lapics[0]!.readRegister(LINT0)).toBe(0x8700);
    pc.reset('power-on');
    expect(pc.lapics[0]!.readRegister(LINT0)).toBe(MASKED);
    pc.reset();
    expect(pc.lapics[0]!.readRegister(LINT0)).toBe(0x700);
  });
  it('LocalApic takes the same reset option and reset(preset)', () => {
    const clock = new Scheduler();
    const a = new LocalApic({ id: 0, clock, bsp: true, reset: 'seabios' });
    expect(a.readRegister(SVR)).toBe(0x1ff);
    a.reset('kvm');
    expect(a.readRegister(SVR)).toBe(0xff);
    expect(a.readRegister(LINT0)).toBe(0x700);
  });
  it('INIT still leaves the SDM state (the presets are reset states, not INIT states)', () => {
    const a = new LocalApic({ id: 0, clock: new Scheduler(), bsp: true, reset: 'seabios' });
    a.init();
    expect(a.readRegister(SVR)).toBe(0xff);
    expect(a.readRegister(LINT0)).toBe(MASKED);
  });
  it('an unknown preset is a RangeError and changes nothing', () => {
    const pc = new Platform({ cpus: 1, reset: 'seabios' });
    expect(() => pc.reset('bios' as never)).toThrow(/preset must be one of power-on, seabios, kvm/);
    expect(pc.lapics[0]!.readRegister(LINT0)).toBe(0x8700);
    expect(() => new Platform({ cpus: 1, reset: 'ovmf' as never })).toThrow(RangeError);
    expect(() => new LocalApic({ id: 0, clock: new Scheduler(), reset: 1 as never })).toThrow(TypeError);
  });
});

describe('preset states survive a snapshot', () => {
  it("a Platform in the 'kvm' state (LINT0 unmasked while software-disabled) restores exactly", () => {
    const a = new Platform({ cpus: 2, reset: 'kvm' });
    // The same options (a snapshot records the preset and refuses another), from another state.
    const b = new Platform({ cpus: 2, reset: 'kvm' });
    b.reset('power-on');
    expect(b.lapics[0]!.readRegister(LINT0)).toBe(MASKED);
    b.restore(a.save());
    expect(b.lapics[0]!.readRegister(LINT0)).toBe(0x700);
    expect(b.lapics[0]!.readRegister(SVR)).toBe(0xff);
    expect(b.save()).toEqual(a.save());
  });
});
