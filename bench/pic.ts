/**
 * pic-cycle: edge-triggered 8259A interrupts through a programmed PicPair, alternating master and
 * slave IRQs.
 */
import { PicPair } from '../src/pic/pic-pair.js';
import type { Bench } from './common.js';

/** The IRQs the cycle walks through: master 3-7 and slave 8-15 (IRQ2 is the cascade). */
export const PIC_IRQS = [3, 9, 4, 10, 5, 11, 6, 12, 7, 13, 14, 15, 1, 8] as const;

/** PC/AT initialisation as a BIOS does it: edge, cascade, master base 0x08, slave 0x70, unmasked. */
export function picSetup(): PicPair {
  const pic = new PicPair();
  pic.ioWrite(0x20, 0x11); // ICW1: edge, cascade, ICW4 needed
  pic.ioWrite(0x21, 0x08); // ICW2: vector base 0x08
  pic.ioWrite(0x21, 0x04); // ICW3: slave on IR2
  pic.ioWrite(0x21, 0x01); // ICW4: 8086 mode, normal EOI
  pic.ioWrite(0xa0, 0x11);
  pic.ioWrite(0xa1, 0x70);
  pic.ioWrite(0xa1, 0x02); // slave ID 2
  pic.ioWrite(0xa1, 0x01);
  pic.ioWrite(0x21, 0x00); // OCW1: all unmasked
  pic.ioWrite(0xa1, 0x00);
  return pic;
}

/**
 * One op: setIrq(irq, true) (rising edge), acknowledge() (the INTA cycle: vector, IRR -> ISR, on
 * both chips for a slave IRQ), non-specific EOI: ioWrite(0xA0, 0x20) for a slave IRQ, then
 * ioWrite(0x20, 0x20), then setIrq(irq, false) so that the next raise is an edge again.
 */
export function picRun(pic: PicPair, n: number): number {
  let sink = 0;
  let k = 0;
  for (let i = 0; i < n; i++) {
    const irq = PIC_IRQS[k]!;
    k = k === PIC_IRQS.length - 1 ? 0 : k + 1;
    pic.setIrq(irq, true);
    sink += pic.acknowledge();
    if (irq >= 8) pic.ioWrite(0xa0, 0x20);
    pic.ioWrite(0x20, 0x20);
    pic.setIrq(irq, false);
  }
  return sink;
}

/** One op: setIrq(irq, true) then setIrq(irq, false), no INTA (what v86 does with IF clear). */
export function picRaiseLowerRun(pic: PicPair, n: number): number {
  let k = 0;
  for (let i = 0; i < n; i++) {
    const irq = PIC_IRQS[k]!;
    k = k === PIC_IRQS.length - 1 ? 0 : k + 1;
    pic.setIrq(irq, true);
    pic.setIrq(irq, false);
  }
  return pic.master.irr;
}

export const picBenches: Bench<PicPair>[] = [
  {
    name: 'pic-cycle',
    unit: 'cycle',
    ops: 3_000_000,
    does:
      'PicPair.setIrq(irq, true), acknowledge() (INTA), ioWrite(0xA0, 0x20) for slave IRQs, ioWrite(0x20, 0x20) (non-specific EOI), setIrq(irq, false); IRQs 3,9,4,10,5,11,6,12,7,13,14,15,1,8 in turn',
    setup: picSetup,
    run: picRun,
  },
];
