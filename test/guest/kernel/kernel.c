/*
 * irqchip guest test kernel: runs on bare-metal semantics in an x86 emulator (v86) and checks the
 * interrupt controllers from inside the guest. Each check prints one line on COM1:
 *   PASS <name> | FAIL <name>: <detail> | SKIP <name>: <reason>
 * and the kernel exits through port 0xF4 with 0 (all passed) or 1 (something failed).
 *
 * Host protocol (v86's multiboot loader + the irqchip adapter): a byte write to port 0x2000 + n
 * asserts (non-zero) or deasserts ISA IRQ n (0..15); ports 0x2010 + k drive GSI 16 + k (16..23).
 *
 * Facts used: Intel 8259A data sheet (ICW/OCW, EOI, ELCR from the PIIX data sheet), 82093AA I/O
 * APIC data sheet (redirection entries, remote IRR), Intel SDM vol. 3 ch. 10/11 (local APIC:
 * SVR, TPR/PPR, ICR self shorthand, LVT timer modes and divide register, EOI broadcast).
 */
typedef unsigned int u32;
typedef unsigned short u16;
typedef unsigned char u8;
typedef unsigned long long u64;

/* ---- ports, serial, exit ------------------------------------------------------------------ */
static inline void outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
static inline u8 inb(u16 port) { u8 v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline void sti(void) { __asm__ volatile("sti" ::: "memory"); }
static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }
static inline u64 rdtsc(void) { u32 lo, hi; __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi)); return ((u64)hi << 32) | lo; }

#define COM1 0x3f8
#define EXIT_PORT 0xf4
#define ISA_LINE_PORT 0x2000
#define GSI16_LINE_PORT 0x2010

static void putc(char c) {
  while (!(inb(COM1 + 5) & 0x20)) {}
  outb(COM1, (u8)c);
}
static void puts(const char *s) { while (*s) putc(*s++); }
static void puthex(u32 v) {
  puts("0x");
  for (int i = 28; i >= 0; i -= 4) putc("0123456789abcdef"[(v >> i) & 0xf]);
}
static void putdec(u32 v) {
  char buf[12]; int n = 0;
  do { buf[n++] = (char)('0' + v % 10); v /= 10; } while (v);
  while (n) putc(buf[--n]);
}
static void exit_with(u8 code) { outb(EXIT_PORT, code); for (;;) __asm__ volatile("cli; hlt"); }

static void isa_line(int irq, int level) { outb((u16)(ISA_LINE_PORT + irq), (u8)level); }
static void gsi_line(int gsi, int level) { outb((u16)(GSI16_LINE_PORT + gsi - 16), (u8)level); }

/* ---- time: the TSC (v86 derives it from its clock at 1 GHz) -------------------------------- */
#define TSC_PER_MS 1000000ull
/* Runs with IF = 1 for `ms` or until *flag reaches `want`. */
static int wait_for(volatile u32 *flag, u32 want, u32 ms) {
  u64 end = rdtsc() + ms * TSC_PER_MS;
  sti();
  while (rdtsc() < end) {
    if (*flag >= want) { cli(); return 1; }
    /* v86 reads the host clock for each RDTSC and runs the timers only between slices of a fixed
       instruction count: spin on cheap instructions between clock reads. */
    for (int i = 0; i < 2000; i++) __asm__ volatile("pause");
  }
  cli();
  return *flag >= want;
}
/* Sleeps in HLT until *flag reaches `want`: for interrupts that must come (a timer). v86 runs its
   timers on time only while the guest halts; a spinning guest runs long instruction slices. If
   the interrupt never comes the host's time limit reports the hang. */
static void halt_until(volatile u32 *flag, u32 want) {
  while (*flag < want) __asm__ volatile("sti; hlt; cli" ::: "memory");
}
/* One instruction with IF = 1: an interrupt the controllers present now is taken. */
static void window(void) { __asm__ volatile("sti; nop; nop; cli" ::: "memory"); }

/* ---- IDT and dispatch ---------------------------------------------------------------------- */
struct idt_entry { u16 off_lo, sel; u8 zero, type; u16 off_hi; } __attribute__((packed));
static struct idt_entry idt[256];
extern char isr_stubs[];

enum { EOI_NONE, EOI_LAPIC, EOI_PIC_MASTER, EOI_PIC_BOTH };
static volatile u32 hits[256];
static volatile u8 eoi_kind[256];
static void (*volatile hook[256])(u32 vec);
static volatile u8 seq[64];
static volatile u32 nseq;

static void log_seq(u8 v) { if (nseq < sizeof seq) seq[nseq++] = v; }

static volatile u32 *const lapic = (volatile u32 *)0xfee00000;
static u32 lapic_read(u32 off) { return lapic[off / 4]; }
static void lapic_write(u32 off, u32 v) { lapic[off / 4] = v; }

#define LAPIC_ID 0x020
#define LAPIC_VERSION 0x030
#define LAPIC_TPR 0x080
#define LAPIC_EOI 0x0b0
#define LAPIC_SVR 0x0f0
#define LAPIC_ISR 0x100
#define LAPIC_TMR 0x180
#define LAPIC_IRR 0x200
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_LINT1 0x360
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_CUR 0x390
#define LAPIC_TIMER_DIV 0x3e0
#define LVT_MASKED (1u << 16)
#define LVT_PERIODIC (1u << 17)
#define DELIVERY_EXTINT 0x700
#define DELIVERY_NMI 0x400
#define ICR_SELF (1u << 18)
#define SVR_ENABLE 0x100

static int vector_bit(u32 base, u32 vec) { return (lapic_read(base + 0x10 * (vec / 32)) >> (vec % 32)) & 1; }

void isr_dispatch(u32 vec) {
  if (vec < 32) {
    puts("FAIL exception "); putdec(vec); puts("\n");
    exit_with(2);
  }
  hits[vec]++;
  log_seq((u8)vec);
  if (hook[vec]) hook[vec](vec);
  switch (eoi_kind[vec]) {
  case EOI_LAPIC: lapic_write(LAPIC_EOI, 0); break;
  case EOI_PIC_BOTH: outb(0xa0, 0x20); /* fall through */
  case EOI_PIC_MASTER: outb(0x20, 0x20); break;
  default: break;
  }
}

static void idt_init(void) {
  for (int v = 0; v < 256; v++) {
    u32 addr = (u32)(isr_stubs + 16 * v);
    idt[v] = (struct idt_entry){ (u16)addr, 0x08, 0, 0x8e, (u16)(addr >> 16) };
  }
  struct { u16 limit; u32 base; } __attribute__((packed)) d = { sizeof idt - 1, (u32)idt };
  __asm__ volatile("lidt %0" ::"m"(d));
}

static void reset_log(void) {
  for (int v = 0; v < 256; v++) { hits[v] = 0; hook[v] = 0; eoi_kind[v] = EOI_NONE; }
  nseq = 0;
}

/* ---- reporting ------------------------------------------------------------------------------ */
static u32 passed, failed, skipped;
static void pass(const char *name) { passed++; puts("PASS "); puts(name); puts("\n"); }
static void fail(const char *name, const char *what, u32 got) {
  failed++; puts("FAIL "); puts(name); puts(": "); puts(what); puts(" "); puthex(got); puts("\n");
}
static void skip(const char *name, const char *why) { skipped++; puts("SKIP "); puts(name); puts(": "); puts(why); puts("\n"); }
#define CHECK(name, cond, what, got) do { if (!(cond)) { fail(name, what, got); return; } } while (0)

/* ---- 8259A ---------------------------------------------------------------------------------- */
#define PIC_M_CMD 0x20
#define PIC_M_DATA 0x21
#define PIC_S_CMD 0xa0
#define PIC_S_DATA 0xa1
#define ELCR_M 0x4d0
#define ELCR_S 0x4d1
#define PIC_M_BASE 0x20
#define PIC_S_BASE 0x28
#define OCW3_READ_IRR 0x0a
#define OCW3_READ_ISR 0x0b
#define PIC_EOI 0x20
#define PIC_SPECIFIC_EOI 0x60

static void pic_init(void) {
  outb(PIC_M_CMD, 0x11); outb(PIC_M_DATA, PIC_M_BASE); outb(PIC_M_DATA, 0x04); outb(PIC_M_DATA, 0x01);
  outb(PIC_S_CMD, 0x11); outb(PIC_S_DATA, PIC_S_BASE); outb(PIC_S_DATA, 0x02); outb(PIC_S_DATA, 0x01);
  outb(PIC_M_DATA, 0xff); outb(PIC_S_DATA, 0xff);
}
static u8 pic_isr(void) { outb(PIC_M_CMD, OCW3_READ_ISR); return inb(PIC_M_CMD); }
static u8 pic_irr(void) { outb(PIC_M_CMD, OCW3_READ_IRR); return inb(PIC_M_CMD); }

static void t_pic_init(void) {
  const char *n = "pic.icw-init-and-imr-readback";
  outb(PIC_M_DATA, 0xa5);
  u8 m = inb(PIC_M_DATA);
  outb(PIC_M_DATA, 0xff);
  CHECK(n, m == 0xa5, "IMR read back", m);
  outb(ELCR_S, 0x04);
  u8 e = inb(ELCR_S);
  outb(ELCR_S, 0x00);
  CHECK(n, e == 0x04, "ELCR read back", e);
  pass(n);
}

static void t_pic_virtual_wire(void) {
  const char *n = "pic.virtual-wire-through-lint0-extint";
  reset_log();
  eoi_kind[PIC_M_BASE + 3] = EOI_PIC_MASTER;
  outb(PIC_M_DATA, (u8)~0x08);
  isa_line(3, 1);
  window();
  isa_line(3, 0);
  CHECK(n, hits[PIC_M_BASE + 3] == 1, "IRQ3 deliveries (want 1)", hits[PIC_M_BASE + 3]);
  CHECK(n, pic_isr() == 0, "ISR after non-specific EOI", pic_isr());
  pass(n);
}

static void t_pic_lint0_masked(void) {
  const char *n = "pic.lint0-masked-holds-extint-until-unmasked";
  reset_log();
  eoi_kind[PIC_M_BASE + 3] = EOI_PIC_MASTER;
  lapic_write(LAPIC_LVT_LINT0, LVT_MASKED | DELIVERY_EXTINT);
  isa_line(3, 1);
  window();
  u32 while_masked = hits[PIC_M_BASE + 3];
  lapic_write(LAPIC_LVT_LINT0, DELIVERY_EXTINT);
  window();
  isa_line(3, 0);
  CHECK(n, while_masked == 0, "deliveries while LINT0 masked (want 0)", while_masked);
  CHECK(n, hits[PIC_M_BASE + 3] == 1, "deliveries after unmasking (want 1)", hits[PIC_M_BASE + 3]);
  pass(n);
}

static void t_pic_nonspecific_eoi(void) {
  const char *n = "pic.in-service-blocks-lower-until-nonspecific-eoi";
  reset_log();
  outb(PIC_M_DATA, (u8)~0x18);
  isa_line(3, 1);
  window();
  isa_line(4, 1);
  window();
  u32 irq4_early = hits[PIC_M_BASE + 4];
  u8 isr = pic_isr();
  outb(PIC_M_CMD, PIC_EOI);
  window();
  u32 irq4_after = hits[PIC_M_BASE + 4];
  outb(PIC_M_CMD, PIC_EOI);
  isa_line(3, 0); isa_line(4, 0);
  CHECK(n, hits[PIC_M_BASE + 3] == 1, "IRQ3 deliveries (want 1)", hits[PIC_M_BASE + 3]);
  CHECK(n, irq4_early == 0, "IRQ4 taken while IRQ3 in service", irq4_early);
  CHECK(n, isr == 0x08, "ISR while IRQ3 in service (want 0x08)", isr);
  CHECK(n, irq4_after == 1, "IRQ4 after the EOI (want 1)", irq4_after);
  CHECK(n, pic_isr() == 0, "ISR at the end", pic_isr());
  pass(n);
}

static void t_pic_specific_eoi(void) {
  const char *n = "pic.specific-eoi-clears-the-named-level";
  reset_log();
  outb(PIC_M_DATA, (u8)~0x28);
  isa_line(5, 1);
  window();
  isa_line(3, 1); /* higher priority: nests over IRQ5 (fully nested mode) */
  window();
  u8 both = pic_isr();
  outb(PIC_M_CMD, PIC_SPECIFIC_EOI | 5);
  u8 after5 = pic_isr();
  outb(PIC_M_CMD, PIC_SPECIFIC_EOI | 3);
  u8 after3 = pic_isr();
  isa_line(3, 0); isa_line(5, 0);
  CHECK(n, hits[PIC_M_BASE + 5] == 1 && hits[PIC_M_BASE + 3] == 1, "IRQ5/IRQ3 deliveries", hits[PIC_M_BASE + 5] << 8 | hits[PIC_M_BASE + 3]);
  CHECK(n, both == 0x28, "ISR with IRQ3 nested in IRQ5 (want 0x28)", both);
  CHECK(n, after5 == 0x08, "ISR after specific EOI 5 (want 0x08)", after5);
  CHECK(n, after3 == 0, "ISR after specific EOI 3", after3);
  pass(n);
}

static void t_pic_mask(void) {
  const char *n = "pic.masked-edge-stays-in-irr-until-unmasked";
  reset_log();
  eoi_kind[PIC_M_BASE + 4] = EOI_PIC_MASTER;
  outb(PIC_M_DATA, 0xff);
  isa_line(4, 1);
  window();
  u32 masked_hits = hits[PIC_M_BASE + 4];
  u8 irr = pic_irr();
  outb(PIC_M_DATA, (u8)~0x10);
  window();
  isa_line(4, 0);
  CHECK(n, masked_hits == 0, "deliveries while masked", masked_hits);
  CHECK(n, irr & 0x10, "IRR while masked (want bit 4)", irr);
  CHECK(n, hits[PIC_M_BASE + 4] == 1, "deliveries after unmask (want 1)", hits[PIC_M_BASE + 4]);
  pass(n);
}

static void t_pic_cascade(void) {
  const char *n = "pic.slave-irq10-through-cascade";
  reset_log();
  eoi_kind[PIC_S_BASE + 2] = EOI_PIC_BOTH;
  outb(PIC_M_DATA, (u8)~0x04);
  outb(PIC_S_DATA, (u8)~0x04);
  isa_line(10, 1);
  window();
  isa_line(10, 0);
  CHECK(n, hits[PIC_S_BASE + 2] == 1, "vector 0x2a deliveries (want 1)", hits[PIC_S_BASE + 2]);
  pass(n);
}

static void lower_irq10_on_third(u32 vec) { if (hits[vec] == 3) isa_line(10, 0); }
static void t_pic_level(void) {
  const char *n = "pic.level-elcr-redelivered-while-asserted";
  reset_log();
  eoi_kind[PIC_S_BASE + 2] = EOI_PIC_BOTH;
  hook[PIC_S_BASE + 2] = lower_irq10_on_third;
  outb(ELCR_S, 0x04);
  isa_line(10, 1);
  wait_for(&hits[PIC_S_BASE + 2], 4, 20);
  outb(ELCR_S, 0x00);
  outb(PIC_S_DATA, 0xff);
  outb(PIC_M_DATA, 0xff);
  CHECK(n, hits[PIC_S_BASE + 2] == 3, "deliveries (want 3: the handler deasserts on the third)", hits[PIC_S_BASE + 2]);
  pass(n);
}

/* ---- I/O APIC ----------------------------------------------------------------------------- */
static volatile u32 *const ioapic = (volatile u32 *)0xfec00000;
static u32 ioapic_read(u32 reg) { ioapic[0] = reg; return ioapic[4]; }
static void ioapic_write(u32 reg, u32 v) { ioapic[0] = reg; ioapic[4] = v; }
static void redir(int pin, u32 lo) { ioapic_write(0x11 + 2 * pin, 0); ioapic_write(0x10 + 2 * pin, lo); }
static u32 redir_lo(int pin) { return ioapic_read(0x10 + 2 * pin); }
#define RED_MASKED (1u << 16)
#define RED_LEVEL (1u << 15)
#define RED_REMOTE_IRR (1u << 14)
#define RED_ACTIVE_LOW (1u << 13)

static void t_ioapic_version(void) {
  const char *n = "ioapic.version-and-24-entries";
  u32 v = ioapic_read(1);
  CHECK(n, ((v >> 16) & 0xff) == 23, "max redirection entry (want 23)", v);
  CHECK(n, (v & 0xff) == 0x11 || (v & 0xff) == 0x20, "version (want 0x11 or 0x20)", v);
  pass(n);
}

static void t_ioapic_edge(void) {
  const char *n = "ioapic.edge-delivers-on-rising-edge-only";
  reset_log();
  eoi_kind[0x43] = EOI_LAPIC;
  redir(3, 0x43);
  isa_line(3, 1);
  window();
  u32 first = hits[0x43];
  isa_line(3, 1); /* still high: no edge */
  window();
  u32 no_edge = hits[0x43];
  isa_line(3, 0);
  isa_line(3, 1);
  window();
  isa_line(3, 0);
  CHECK(n, first == 1, "first edge deliveries (want 1)", first);
  CHECK(n, no_edge == 1, "deliveries after a write with no edge (want 1)", no_edge);
  CHECK(n, hits[0x43] == 2, "deliveries after a second edge (want 2)", hits[0x43]);
  pass(n);
}

static void t_ioapic_masked_edge(void) {
  const char *n = "ioapic.masked-edge-is-lost";
  reset_log();
  eoi_kind[0x43] = EOI_LAPIC;
  redir(3, RED_MASKED | 0x43);
  isa_line(3, 1);
  window();
  isa_line(3, 0);
  redir(3, 0x43);
  window();
  redir(3, RED_MASKED | 0x43);
  CHECK(n, hits[0x43] == 0, "deliveries (want 0)", hits[0x43]);
  pass(n);
}

static void t_ioapic_level(void) {
  const char *n1 = "ioapic.level-sets-remote-irr-and-tmr";
  const char *n2 = "ioapic.level-redelivered-after-eoi-while-asserted";
  const char *n3 = "ioapic.eoi-broadcast-clears-remote-irr";
  reset_log();
  redir(16, RED_LEVEL | RED_ACTIVE_LOW | 0x50);
  gsi_line(16, 1);
  window();
  window();
  u32 once = hits[0x50];
  u32 lo = redir_lo(16);
  int tmr = vector_bit(LAPIC_TMR, 0x50);
  int ok1 = once == 1 && (lo & RED_REMOTE_IRR) && tmr;
  if (ok1) pass(n1); else fail(n1, "deliveries<<16 | remote IRR<<8 | TMR", once << 16 | !!(lo & RED_REMOTE_IRR) << 8 | tmr);
  lapic_write(LAPIC_EOI, 0); /* still asserted */
  window();
  u32 twice = hits[0x50];
  if (twice == 2) pass(n2); else fail(n2, "deliveries (want 2)", twice);
  gsi_line(16, 0);
  lapic_write(LAPIC_EOI, 0);
  window();
  lo = redir_lo(16);
  redir(16, RED_MASKED | RED_LEVEL | RED_ACTIVE_LOW | 0x50);
  if (!(lo & RED_REMOTE_IRR) && hits[0x50] == 2) pass(n3);
  else fail(n3, "remote IRR<<8 | deliveries", !!(lo & RED_REMOTE_IRR) << 8 | hits[0x50]);
}

static void t_ioapic_masked_level(void) {
  const char *n = "ioapic.masked-level-pending-until-unmasked";
  reset_log();
  redir(17, RED_MASKED | RED_LEVEL | RED_ACTIVE_LOW | 0x51);
  gsi_line(17, 1);
  window();
  u32 masked = hits[0x51];
  redir(17, RED_LEVEL | RED_ACTIVE_LOW | 0x51);
  window();
  gsi_line(17, 0);
  lapic_write(LAPIC_EOI, 0);
  redir(17, RED_MASKED | RED_LEVEL | RED_ACTIVE_LOW | 0x51);
  CHECK(n, masked == 0, "deliveries while masked", masked);
  CHECK(n, hits[0x51] == 1, "deliveries after unmask (want 1)", hits[0x51]);
  pass(n);
}

/* ---- local APIC ---------------------------------------------------------------------------- */
static void self_ipi(u32 vec) { lapic_write(LAPIC_ICR_HI, 0); lapic_write(LAPIC_ICR_LO, ICR_SELF | vec); }

static void t_lapic_version(void) {
  const char *n = "lapic.version-register";
  u32 v = lapic_read(LAPIC_VERSION);
  CHECK(n, (v & 0xff) >= 0x10 && (v & 0xff) <= 0x15, "version (want an integrated APIC, 0x1x)", v);
  CHECK(n, ((v >> 16) & 0xff) >= 4, "max LVT entry (want >= 4)", v);
  pass(n);
}

static void t_self_ipi(void) {
  const char *n = "lapic.self-ipi";
  reset_log();
  eoi_kind[0x52] = EOI_LAPIC;
  self_ipi(0x52);
  int pending = vector_bit(LAPIC_IRR, 0x52);
  window();
  CHECK(n, pending, "IRR bit before STI", pending);
  CHECK(n, hits[0x52] == 1, "deliveries (want 1)", hits[0x52]);
  CHECK(n, !vector_bit(LAPIC_ISR, 0x52), "ISR after EOI", 1);
  pass(n);
}

static void t_tpr(void) {
  const char *n = "lapic.tpr-blocks-then-unblocks";
  reset_log();
  eoi_kind[0x53] = EOI_LAPIC;
  lapic_write(LAPIC_TPR, 0x60);
  self_ipi(0x53);
  window();
  u32 blocked = hits[0x53];
  int in_irr = vector_bit(LAPIC_IRR, 0x53);
  lapic_write(LAPIC_TPR, 0x40);
  window();
  lapic_write(LAPIC_TPR, 0);
  CHECK(n, blocked == 0, "deliveries with TPR 0x60", blocked);
  CHECK(n, in_irr, "IRR while blocked", in_irr);
  CHECK(n, hits[0x53] == 1, "deliveries with TPR 0x40 (want 1)", hits[0x53]);
  pass(n);
}

static void t_priority_order(void) {
  const char *n = "lapic.pending-vectors-taken-highest-first";
  reset_log();
  eoi_kind[0x61] = eoi_kind[0x71] = eoi_kind[0x91] = EOI_LAPIC;
  self_ipi(0x61); self_ipi(0x91); self_ipi(0x71);
  window();
  window();
  window();
  CHECK(n, nseq == 3, "deliveries (want 3)", nseq);
  CHECK(n, seq[0] == 0x91 && seq[1] == 0x71 && seq[2] == 0x61, "order (want 91 71 61)", seq[0] << 16 | seq[1] << 8 | seq[2]);
  pass(n);
}

#define MARK_BEFORE_EOI 0xee
static void nest_in_61(u32 vec) {
  (void)vec;
  sti();
  self_ipi(0x91); /* higher class: preempts at once */
  __asm__ volatile("nop; nop");
  self_ipi(0x65); /* same class as 0x61 in service: waits for its EOI */
  __asm__ volatile("nop; nop");
  cli();
  log_seq(MARK_BEFORE_EOI);
}
static void t_nested(void) {
  const char *n = "lapic.nested-higher-class-preempts-same-class-waits";
  reset_log();
  eoi_kind[0x61] = eoi_kind[0x65] = eoi_kind[0x91] = EOI_LAPIC;
  hook[0x61] = nest_in_61;
  self_ipi(0x61);
  window();
  window();
  CHECK(n, nseq == 4, "events (want 4)", nseq);
  CHECK(n, seq[0] == 0x61 && seq[1] == 0x91 && seq[2] == MARK_BEFORE_EOI && seq[3] == 0x65,
        "order (want 61 91 ee 65)", (u32)seq[0] << 24 | seq[1] << 16 | seq[2] << 8 | seq[3]);
  pass(n);
}

static void t_timer_one_shot(void) {
  const char *n = "lapic.timer-one-shot-fires-once";
  reset_log();
  eoi_kind[0xe0] = EOI_LAPIC;
  lapic_write(LAPIC_TIMER_DIV, 0x0b); /* divide by 1 */
  lapic_write(LAPIC_LVT_TIMER, 0xe0);
  lapic_write(LAPIC_TIMER_INIT, 1000000); /* 1 ms at a 1 GHz timer clock */
  halt_until(&hits[0xe0], 1);
  wait_for(&hits[0xe0], 2, 5);
  u32 cur = lapic_read(LAPIC_TIMER_CUR);
  lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | 0xe0);
  CHECK(n, hits[0xe0] == 1, "deliveries (want 1)", hits[0xe0]);
  CHECK(n, cur == 0, "current count after expiry (want 0)", cur);
  pass(n);
}

static volatile u64 tsc_at[32];
static void stamp(u32 vec) { u32 k = hits[vec]; if (k < 32) tsc_at[k] = rdtsc(); }
static void t_timer_periodic(void) {
  const char *n = "lapic.timer-periodic-at-programmed-rate";
  reset_log();
  eoi_kind[0xe1] = EOI_LAPIC;
  hook[0xe1] = stamp;
  lapic_write(LAPIC_TIMER_DIV, 0x03); /* divide by 16 */
  lapic_write(LAPIC_LVT_TIMER, LVT_PERIODIC | 0xe1);
  lapic_write(LAPIC_TIMER_INIT, 625000); /* 10 ms at 1 GHz / 16: longer than the host wake-up latency */
  halt_until(&hits[0xe1], 25);
  lapic_write(LAPIC_TIMER_INIT, 0);
  lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | 0xe1);
  CHECK(n, hits[0xe1] >= 25, "deliveries (want 25)", hits[0xe1]);
  /* The median of 20 intervals between deliveries 5..25: a host that stalls now and then makes
     single intervals long (and the LAPIC coalesces expiries), the median stays at the period. */
  u32 iv[20];
  for (int i = 0; i < 20; i++) iv[i] = (u32)(tsc_at[6 + i] - tsc_at[5 + i]) / (u32)(TSC_PER_MS / 1000);
  for (int i = 1; i < 20; i++)
    for (int j = i; j > 0 && iv[j - 1] > iv[j]; j--) { u32 t = iv[j]; iv[j] = iv[j - 1]; iv[j - 1] = t; }
  u32 us = iv[10];
  puts("  periodic: median interval "); putdec(us); puts(" us (programmed 10000), min "); putdec(iv[0]);
  puts(", max "); putdec(iv[19]); puts("\n");
  CHECK(n, us >= 7500 && us <= 12500, "median interval in us (want 10000 +- 25 %)", us);
  pass(n);
}

static void t_timer_masked_counts(void) {
  const char *n = "lapic.timer-masked-still-counts";
  reset_log();
  lapic_write(LAPIC_TIMER_DIV, 0x0b);
  lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | 0xe2);
  lapic_write(LAPIC_TIMER_INIT, 2000000); /* 2 ms */
  u32 first = lapic_read(LAPIC_TIMER_CUR);
  wait_for(&hits[0xe2], 1, 10);
  u32 later = lapic_read(LAPIC_TIMER_CUR);
  CHECK(n, hits[0xe2] == 0, "deliveries while masked", hits[0xe2]);
  CHECK(n, first != 0 && later == 0, "current count reached 0 (first, later)", later);
  pass(n);
}

static void t_svr_disable(void) {
  const char *n = "lapic.software-disabled-drops-fixed-and-masks-lvts";
  reset_log();
  lapic_write(LAPIC_SVR, 0xff); /* software disabled */
  self_ipi(0x54);
  int in_irr = vector_bit(LAPIC_IRR, 0x54);
  lapic_write(LAPIC_LVT_TIMER, 0xe3); /* the unmask does not stick while disabled */
  u32 lvt = lapic_read(LAPIC_LVT_TIMER);
  lapic_write(LAPIC_SVR, SVR_ENABLE | 0xff);
  window();
  lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | 0xe3);
  CHECK(n, !in_irr, "IRR bit of a fixed IPI while disabled", in_irr);
  CHECK(n, lvt & LVT_MASKED, "LVT timer while disabled (want masked)", lvt);
  CHECK(n, hits[0x54] == 0, "deliveries after re-enabling", hits[0x54]);
  pass(n);
}

static void t_spurious_register(void) {
  const char *n = "lapic.spurious-vector-register";
  lapic_write(LAPIC_SVR, SVR_ENABLE | 0xcf);
  u32 v = lapic_read(LAPIC_SVR);
  lapic_write(LAPIC_SVR, SVR_ENABLE | 0xff);
  CHECK(n, (v & 0x1ff) == (SVR_ENABLE | 0xcf), "SVR read back (want 0x1cf)", v);
  pass(n);
}

void kmain(void) {
  idt_init();
  outb(COM1 + 1, 0x00); /* no UART interrupts */
  outb(COM1 + 3, 0x03); /* 8N1, DLAB clear */
  puts("\nirqchip guest test kernel\n");
  pic_init();
  /* What firmware leaves: the local APIC on, the 8259A on LINT0 as ExtINT (virtual wire), NMI on LINT1. */
  lapic_write(LAPIC_SVR, SVR_ENABLE | 0xff);
  lapic_write(LAPIC_LVT_LINT0, DELIVERY_EXTINT);
  lapic_write(LAPIC_LVT_LINT1, DELIVERY_NMI);
  lapic_write(LAPIC_TPR, 0);

  t_pic_init();
  t_pic_virtual_wire();
  t_pic_lint0_masked();
  t_pic_nonspecific_eoi();
  t_pic_specific_eoi();
  t_pic_mask();
  t_pic_cascade();
  t_pic_level();
  skip("pic.spurious-irq7", "v86 samples INTR and runs INTA in one call; a request cannot vanish in between");

  /* Symmetric I/O mode: the 8259A masked and off LINT0, interrupts through the I/O APIC. */
  outb(PIC_M_DATA, 0xff); outb(PIC_S_DATA, 0xff);
  lapic_write(LAPIC_LVT_LINT0, LVT_MASKED | DELIVERY_EXTINT);
  t_ioapic_version();
  t_ioapic_edge();
  t_ioapic_masked_edge();
  t_ioapic_level();
  t_ioapic_masked_level();

  t_lapic_version();
  t_self_ipi();
  t_tpr();
  t_priority_order();
  t_nested();
  t_timer_one_shot();
  t_timer_periodic();
  t_timer_masked_counts();
  t_svr_disable();
  t_spurious_register();
  skip("lapic.nmi-lint1", "v86@0.4.0's CPU has no NMI input (unit tests cover NMI)");
  skip("lapic.x2apic-msrs", "v86@0.4.0 keeps MSRs and CPUID in its wasm core (unit tests cover x2APIC)");
  skip("lapic.timer-tsc-deadline", "v86@0.4.0 keeps MSRs in its wasm core (unit tests cover TSC-deadline)");

  puts("RESULT pass="); putdec(passed); puts(" fail="); putdec(failed); puts(" skip="); putdec(skipped); puts("\n");
  exit_with(failed ? 1 : 0);
}
