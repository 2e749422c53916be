/*
 * bench/apic_model.c: the native baseline of `npm run bench:compare` (bench/compare.ts compiles
 * it with the machine's C compiler at -O2 into a temporary directory and runs it).
 *
 * A minimal model of the local APIC hot path, in C, over the 4 KiB APIC page as the SDM lays it
 * out (vol. 3A, "Local APIC Register Address Map"): ISR at 0x100, TMR at 0x180, IRR at 0x200,
 * each 256 bits in eight 32-bit registers on a 16-byte stride; TPR at 0x080, PPR at 0x0A0. The
 * processor priority follows the SDM's rule (PPR = TPR if TPR[7:4] >= ISRV[7:4], else
 * ISRV[7:4]:0), a vector is deliverable when its class beats PPR[7:4], and EOI retires the
 * highest in-service vector. Nothing else (no validity checks, no LVTs, no bus): it is the floor
 * that irqchip's LocalApic fast paths are measured against, not a second emulator.
 *
 * Two workloads, the same loops as bench/lapic.ts (`cModelChecksum`), drawing vectors from the
 * same xorshift32 sequence, so that both sides print the same checksum for the same count:
 *   lapic-cycle    accept v = 32 + r % 224 (level-triggered when v % 8 == 0), then if a vector is
 *                  pending: acknowledge it and EOI it; the checksum adds the acknowledged vector
 *                  and the EOI's result (the vector if level-triggered, which would be broadcast
 *                  to the I/O APICs, else -1).
 *   lapic-burst16  accept 16 edge-triggered vectors, acknowledge while one beats PPR (the
 *                  checksum adds each), then EOI until nothing is in service.
 *
 * Usage: apic_model [n]   (n cycles, then n / 16 bursts of 16; default 20000000). Prints
 *   lapic-cycle <ns> ns/op
 *   lapic-burst16 <ns> ns/vector
 *   sink <checksum>
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Register offsets in bytes (SDM vol. 3A, local APIC register address map), as indexes of the
 * page's 32-bit words. Index arithmetic is in int on purpose: unsigned 32-bit arithmetic may wrap,
 * which keeps the compiler from folding base + stride * word into one address computation. */
#define WORD(offset) ((offset) / 4)
#define REG_TPR WORD(0x080)
#define REG_PPR WORD(0x0A0)
#define REG_ISR WORD(0x100)
#define REG_TMR WORD(0x180)
#define REG_IRR WORD(0x200)
#define STRIDE WORD(16) /* a 256-bit register is 8 words, one every 16 bytes */
#define NO_VECTOR (-1)
#define SPURIOUS 0xFF

static uint32_t page[1024]; /* the 4 KiB APIC page, as 32-bit words */

/* The word of a 256-bit register that holds `vector` (32 vectors per word), and its bit. */
static inline uint32_t *word_of(int reg, int vector) { return &page[reg + (vector >> 5) * STRIDE]; }
static inline uint32_t bit_of(int vector) { return 1u << (vector & 31); }

static inline void bit_set(int reg, int vector) { *word_of(reg, vector) |= bit_of(vector); }
static inline void bit_clear(int reg, int vector) { *word_of(reg, vector) &= ~bit_of(vector); }
static inline int bit_get(int reg, int vector) { return (*word_of(reg, vector) & bit_of(vector)) != 0; }

/* Highest set vector of a 256-bit register, or NO_VECTOR: scan words from the top. */
static inline int top_vector(int reg) {
  for (int i = 7; i >= 0; i--) {
    uint32_t bits = page[reg + i * STRIDE];
    if (bits != 0) return i * 32 + (31 - __builtin_clz(bits));
  }
  return NO_VECTOR;
}

static inline void recompute_ppr(void) {
  int isrv = top_vector(REG_ISR);
  uint32_t isr_class = isrv == NO_VECTOR ? 0u : ((uint32_t)isrv & 0xF0u);
  uint32_t tpr = page[REG_TPR];
  page[REG_PPR] = (tpr & 0xF0u) >= isr_class ? tpr : isr_class;
}

/* A fixed interrupt arrives: IRR bit set, TMR bit = its trigger mode. */
static inline void apic_accept(int vector, int level) {
  bit_set(REG_IRR, vector);
  if (level) bit_set(REG_TMR, vector);
  else bit_clear(REG_TMR, vector);
}

/* The highest requested vector if its priority class beats PPR's, else NO_VECTOR. */
static inline int apic_pending(void) {
  int irrv = top_vector(REG_IRR);
  if (irrv == NO_VECTOR) return NO_VECTOR;
  return ((uint32_t)irrv & 0xF0u) > (page[REG_PPR] & 0xF0u) ? irrv : NO_VECTOR;
}

/* INTA: the pending vector moves from IRR to ISR (the spurious vector when none is pending). */
static inline int apic_acknowledge(void) {
  int vector = apic_pending();
  if (vector == NO_VECTOR) return SPURIOUS;
  bit_clear(REG_IRR, vector);
  bit_set(REG_ISR, vector);
  recompute_ppr();
  return vector;
}

/* EOI: retire the highest in-service vector; returns it if level-triggered (to broadcast), else -1. */
static inline int apic_eoi(void) {
  int vector = top_vector(REG_ISR);
  if (vector == NO_VECTOR) return NO_VECTOR;
  bit_clear(REG_ISR, vector);
  recompute_ppr();
  return bit_get(REG_TMR, vector) ? vector : NO_VECTOR;
}

/* Marsaglia's xorshift32 (shifts 13, 17, 5), the same seed as bench/lapic.ts. */
static uint32_t rng_state = 2463534242u;
static inline uint32_t next_random(void) {
  uint32_t x = rng_state;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return rng_state = x;
}
static inline int next_vector(void) { return 32 + (int)(next_random() % 224u); }

static double monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
  long cycles = argc > 1 ? atol(argv[1]) : 20000000L;
  long bursts = cycles / 16;
  volatile long checksum = 0; /* volatile: the loops' results are used, so nothing is optimised away */

  double start = monotonic_ns();
  for (long i = 0; i < cycles; i++) {
    int vector = next_vector();
    apic_accept(vector, (vector & 7) == 0);
    if (apic_pending() != NO_VECTOR) {
      checksum += apic_acknowledge();
      checksum += apic_eoi();
    }
  }
  double mid = monotonic_ns();
  for (long b = 0; b < bursts; b++) {
    for (int k = 0; k < 16; k++) apic_accept(next_vector(), 0);
    while (apic_pending() != NO_VECTOR) checksum += apic_acknowledge();
    do apic_eoi();
    while (top_vector(REG_ISR) != NO_VECTOR);
  }
  double end = monotonic_ns();

  printf("lapic-cycle %.2f ns/op\n", (mid - start) / (double)cycles);
  printf("lapic-burst16 %.2f ns/vector\n", bursts > 0 ? (end - mid) / ((double)bursts * 16.0) : 0.0);
  printf("sink %ld\n", (long)checksum);
  return 0;
}
