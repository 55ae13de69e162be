/* See support.h. */
#include "support.h"

#include <string.h>

#if defined(SNAPUQ_TIER_SMALL)
#define TIER "small"
#define PART "STM32L432KC"
#define CORE "cortex-m4f"
#define QEMU_MACHINE "qemu mps2-an386"
#elif defined(SNAPUQ_TIER_BIG)
#define TIER "big"
#define PART "STM32F767ZI"
#define CORE "cortex-m7"
#define QEMU_MACHINE "qemu mps2-an500"
#else
#error "define SNAPUQ_TIER_SMALL or SNAPUQ_TIER_BIG (the Makefile does: TIER=small|big)"
#endif

const char* board_tier(void) { return TIER; }
const char* board_part(void) { return PART; }
const char* board_core(void) { return CORE; }
#if defined(SNAPUQ_QEMU)
const char* board_profile(void) { return QEMU_MACHINE; }
#else
const char* board_profile(void) { return "hardware"; }
#endif

/* ---- counter ---- */

static int g_counter_works;

#if defined(SNAPUQ_QEMU)
/* CMSDK APB timer 0 of the MPS2 FPGA images: CTRL, VALUE (counts down), RELOAD. */
#define TIMER0_CTRL (*(volatile uint32_t*)0x40000000u)
#define TIMER0_VALUE (*(volatile uint32_t*)0x40000004u)
#define TIMER0_RELOAD (*(volatile uint32_t*)0x40000008u)

static void counter_start(void) {
  TIMER0_CTRL = 0;
  TIMER0_RELOAD = 0xFFFFFFFFu;
  TIMER0_VALUE = 0xFFFFFFFFu;
  TIMER0_CTRL = 1u; /* enable, internal clock */
}
uint32_t counter_now(void) { return 0xFFFFFFFFu - TIMER0_VALUE; }
uint32_t counter_scale(void) { return 40u; }
const char* counter_unit(void) { return "instructions"; }
const char* counter_source(void) { return "mps2-timer0"; }
#else
#define DEMCR (*(volatile uint32_t*)0xE000EDFCu)
#define DWT_CTRL (*(volatile uint32_t*)0xE0001000u)
#define DWT_CYCCNT (*(volatile uint32_t*)0xE0001004u)
#define DWT_LAR (*(volatile uint32_t*)0xE0001FB0u)

static void counter_start(void) {
  DEMCR |= 1u << 24; /* TRCENA */
#if defined(SNAPUQ_TIER_BIG)
  DWT_LAR = 0xC5ACCE55u; /* the M7's DWT is locked until this key is written */
#endif
  DWT_CYCCNT = 0;
  DWT_CTRL |= 1u; /* CYCCNTENA */
}
uint32_t counter_now(void) { return DWT_CYCCNT; }
uint32_t counter_scale(void) { return 1u; }
const char* counter_unit(void) { return "cycles"; }
const char* counter_source(void) { return "dwt-cyccnt"; }
#endif

void counter_init(void) {
  counter_start();
  uint32_t t0 = counter_now();
  for (volatile int i = 0; i < 2000; ++i) {
  }
  g_counter_works = counter_now() != t0;
}

int counter_works(void) { return g_counter_works; }

/* ---- numbers ---- */

uint32_t f32_bits(float v) {
  uint32_t b;
  memcpy(&b, &v, sizeof b);
  return b;
}

static size_t put_u32(char* buf, size_t len, uint32_t v, int min_digits) {
  char tmp[12];
  int n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10u);
    v /= 10u;
  } while (v != 0 || n < min_digits);
  size_t w = 0;
  while (n > 0 && w + 1 < len) buf[w++] = tmp[--n];
  buf[w] = '\0';
  return w;
}

void format_f32(char* buf, size_t len, float v) {
  if (len < 24) {
    if (len > 0) buf[0] = '\0';
    return;
  }
  if (v != v) {
    strcpy(buf, "nan");
    return;
  }
  size_t w = 0;
  if (v < 0.0f) {
    buf[w++] = '-';
    v = -v;
  }
  if (v >= 4294967040.0f) {
    strcpy(buf + w, "inf");
    return;
  }
  /* Round to 6 decimals in double precision (exact for every float below 2^32). */
  double d = (double)v;
  uint32_t ip = (uint32_t)d;
  double frac = d - (double)ip;
  uint32_t fp = (uint32_t)(frac * 1000000.0 + 0.5);
  if (fp >= 1000000u) {
    fp -= 1000000u;
    ip += 1u;
  }
  w += put_u32(buf + w, len - w, ip, 1);
  buf[w++] = '.';
  put_u32(buf + w, len - w, fp, 6);
}

/* ---- .npy ---- */

static void set_err(char* err, size_t err_len, const char* msg) {
  if (err_len == 0) return;
  strncpy(err, msg, err_len - 1);
  err[err_len - 1] = '\0';
}

static const char* find(const char* hay, size_t n, const char* needle) {
  size_t m = strlen(needle);
  for (size_t i = 0; i + m <= n; ++i) {
    if (memcmp(hay + i, needle, m) == 0) return hay + i;
  }
  return NULL;
}

int npy_parse(const uint8_t* buf, size_t len, npy_array* out, char* err, size_t err_len) {
  memset(out, 0, sizeof *out);
  if (len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0) {
    set_err(err, err_len, "not an .npy file (no \\x93NUMPY magic)");
    return -1;
  }
  size_t header_len, start;
  if (buf[6] == 1) {
    header_len = (size_t)buf[8] | ((size_t)buf[9] << 8);
    start = 10;
  } else if (buf[6] == 2 || buf[6] == 3) {
    if (len < 12) {
      set_err(err, err_len, ".npy header truncated");
      return -1;
    }
    header_len = (size_t)buf[8] | ((size_t)buf[9] << 8) | ((size_t)buf[10] << 16) |
                 ((size_t)buf[11] << 24);
    start = 12;
  } else {
    set_err(err, err_len, "unsupported .npy format version");
    return -1;
  }
  if (start + header_len > len) {
    set_err(err, err_len, ".npy header longer than the file");
    return -1;
  }
  const char* h = (const char*)buf + start;
  const char* fo = find(h, header_len, "'fortran_order': True");
  if (fo != NULL) {
    set_err(err, err_len, ".npy is Fortran-ordered; save it in C order");
    return -1;
  }
  const char* d = find(h, header_len, "'descr': '");
  if (d == NULL) {
    set_err(err, err_len, ".npy header has no descr");
    return -1;
  }
  d += 10;
  size_t k = 0;
  while (d < h + header_len && *d != '\'' && k + 1 < sizeof out->descr) out->descr[k++] = *d++;
  out->descr[k] = '\0';
  char kind = out->descr[1];
  if (k < 3 || (kind != 'i' && kind != 'u' && kind != 'f' && kind != 'b')) {
    set_err(err, err_len, ".npy dtype is not a plain number type");
    return -1;
  }
  out->item_bytes = (size_t)(out->descr[2] - '0');
  if (out->descr[0] == '>' && out->item_bytes > 1) {
    set_err(err, err_len, ".npy is big-endian; save it little-endian");
    return -1;
  }
  const char* s = find(h, header_len, "'shape': (");
  if (s == NULL) {
    set_err(err, err_len, ".npy header has no shape");
    return -1;
  }
  s += 10;
  const char* end = h + header_len;
  while (s < end && *s != ')') {
    if (*s >= '0' && *s <= '9') {
      if (out->ndim == 8) {
        set_err(err, err_len, ".npy has more than 8 dimensions");
        return -1;
      }
      size_t v = 0;
      while (s < end && *s >= '0' && *s <= '9') v = v * 10u + (size_t)(*s++ - '0');
      out->shape[out->ndim++] = v;
    } else {
      ++s;
    }
  }
  size_t elems = 1;
  for (size_t i = 0; i < out->ndim; ++i) elems *= out->shape[i];
  out->data = buf + start + header_len;
  out->data_bytes = len - start - header_len;
  if (elems * out->item_bytes > out->data_bytes) {
    set_err(err, err_len, ".npy data shorter than its shape says");
    return -1;
  }
  out->data_bytes = elems * out->item_bytes;
  return 0;
}

size_t npy_sample_elems(const npy_array* a) {
  size_t n = 1;
  for (size_t i = 1; i < a->ndim; ++i) n *= a->shape[i];
  return n;
}

int64_t npy_int_at(const npy_array* a, size_t i) {
  const uint8_t* p = a->data + i * a->item_bytes;
  if ((i + 1) * a->item_bytes > a->data_bytes) return 0;
  int is_signed = a->descr[1] == 'i';
  uint64_t u = 0;
  if (a->descr[1] != 'i' && a->descr[1] != 'u') return 0;
  for (size_t b = 0; b < a->item_bytes; ++b) u |= (uint64_t)p[b] << (8u * b);
  if (is_signed && a->item_bytes < 8) {
    uint64_t sign = 1ull << (8u * a->item_bytes - 1u);
    u = (u ^ sign) - sign;
  }
  return (int64_t)u;
}

/* ---- raw semihosting ---- */

static int semihost_call(int op, const void* arg) {
  register int r0 __asm__("r0") = op;
  register const void* r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

void semihost_write0(const char* s) { (void)semihost_call(0x04, s); }

void semihost_exit_failure(void) {
  /* SYS_EXIT with ADP_Stopped_RunTimeErrorUnknown: QEMU exits with status 1. */
  (void)semihost_call(0x18, (const void*)0x20023u);
  for (;;) {
    __asm__ volatile("wfi");
  }
}
