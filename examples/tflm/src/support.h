/* Board support shared by main.cc (the TFLM example) and selftest.c (our part without TFLM):
 * the tier's facts, a cycle/instruction counter, number printing without printf's float
 * support, a reader for the embedded .npy inputs, and raw semihosting for fault paths. */
#ifndef SNAPUQ_EXAMPLE_SUPPORT_H_
#define SNAPUQ_EXAMPLE_SUPPORT_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* "small" or "big", the part, the core and the run profile ("qemu mps2-an386", "hardware"). */
const char* board_tier(void);
const char* board_part(void);
const char* board_core(void);
const char* board_profile(void);

/* Up-counting time base for measuring regions.
 * Hardware: DWT CYCCNT, core clock cycles (resolution 1).
 * QEMU (built with QEMU=1): QEMU has no CYCCNT; the MPS2 CMSDK APB timer 0 counts at 25 MHz
 * and, with `-icount shift=0`, one instruction is 1 ns of virtual time, so one tick is 40
 * retired instructions. counter_scale() is the unit per raw tick (1 or 40). */
void counter_init(void);
uint32_t counter_now(void);
uint32_t counter_scale(void);
const char* counter_unit(void);   /* "cycles" or "instructions" */
const char* counter_source(void); /* "dwt-cyccnt" or "mps2-timer0" */
/* 1 when the counter advanced across a busy loop at init (0: e.g. no DWT on this core). */
int counter_works(void);

/* Writes v as [-]I.FFFFFF (6 decimals, rounded) into buf (at least 24 bytes); "nan"/"inf". */
void format_f32(char* buf, size_t len, float v);
/* The IEEE-754 bits of v, for bit-exact comparison with the host. */
uint32_t f32_bits(float v);

/* A C-ordered .npy array held in memory. */
typedef struct {
  const uint8_t* data; /* first element */
  size_t data_bytes;
  char descr[8];       /* e.g. "|i1", "<i8" */
  size_t item_bytes;   /* bytes per element */
  size_t ndim;
  size_t shape[8];
} npy_array;

/* Parses an .npy (format 1.x or 2.x, C order, at most 8 dims). Returns 0 on success, else
 * writes why into err and returns -1. */
int npy_parse(const uint8_t* buf, size_t len, npy_array* out, char* err, size_t err_len);
/* Elements per leading-axis entry (product of shape[1..]); 1 for 1-D arrays. */
size_t npy_sample_elems(const npy_array* a);
/* Element i of an integer array (|i1 |u1 <i2 <i4 <i8), widened; 0 for other dtypes. */
int64_t npy_int_at(const npy_array* a, size_t i);

/* Raw semihosting (safe in fault handlers). */
void semihost_write0(const char* s);
void semihost_exit_failure(void) __attribute__((noreturn));

#ifdef __cplusplus
}
#endif

#endif /* SNAPUQ_EXAMPLE_SUPPORT_H_ */
