/* Self-test of our part of the TFLM example, built and run without any TFLM: the startup code,
 * the tier's linker script, the semihosting console, the counter, the embedded model and
 * inputs, and libsnapuq_tflm.a linked by the C toolchain (registrations fetched through the C
 * ABI). `make selftest` builds it; `make run-selftest QEMU=1` boots it in QEMU. Exit status 0
 * when every check passed. */
#include <stdio.h>
#include <string.h>

#include "blobs.h"
#include "snapuq.h"
#include "support.h"

/* snapuq.h leaves TFLMRegistration incomplete (TFLM's micro_common.h completes it). Without
 * TFLM we complete it here with the layout snapuq.h documents: {init, free, prepare, invoke,
 * reset, builtin_code, custom_name}. */
struct TFLMRegistration {
  void* (*init)(void* context, const char* buffer, size_t length);
  void (*free)(void* context, void* buffer);
  int (*prepare)(void* context, void* node);
  int (*invoke)(void* context, void* node);
  void (*reset)(void* context, void* buffer);
  int32_t builtin_code;
  const char* custom_name;
};

static int g_failures;

static void check(int ok, const char* what) {
  if (!ok) {
    ++g_failures;
    printf("check FAILED: %s\n", what);
  }
}

static void registration(const char* name, struct TFLMRegistration r) {
  printf("op=%s init=%d prepare=%d invoke=%d free=%d reset=%d\n", name, r.init != NULL,
         r.prepare != NULL, r.invoke != NULL, r.free != NULL, r.reset != NULL);
  check(r.init != NULL && r.prepare != NULL && r.invoke != NULL, name);
}

/* A loop whose instruction count per iteration is fixed (subs + bne). */
static uint32_t measure_loop(uint32_t iterations) {
  uint32_t t0 = counter_now();
  __asm__ volatile(
      "1: subs %0, %0, #1\n\t"
      "bne 1b"
      : "+r"(iterations)
      :
      : "cc");
  return (counter_now() - t0) * counter_scale();
}

extern char end;
extern char __snapuq_stack_top;
extern char __snapuq_heap_limit;

int main(void) {
  counter_init();
  printf("snapuq-selftest tier=%s part=%s core=%s profile=%s\n", board_tier(), board_part(),
         board_core(), board_profile());

  unsigned int abi = snapuq_abi_version();
  printf("snapuq_abi=%u\n", abi);
  check(abi >= 1, "snapuq_abi_version() >= 1");
  registration(SNAPUQ_SNAP_PROJECT_NAME, snapuq_register_SNAP_PROJECT());
  registration(SNAPUQ_SNAP_SURPRISAL_NAME, snapuq_register_SNAP_SURPRISAL());
  registration(SNAPUQ_SNAP_CALIBRATE_NAME, snapuq_register_SNAP_CALIBRATE());

  uint32_t model_bytes = snapuq_model_data_size;
  int tfl3 = model_bytes >= 8 && memcmp(snapuq_model_data + 4, "TFL3", 4) == 0;
  printf("model bytes=%lu identifier=%s aligned16=%d\n", (unsigned long)model_bytes,
         tfl3 ? "TFL3" : "none", ((uintptr_t)snapuq_model_data & 15u) == 0);
  check(tfl3, "model is a TFLite flatbuffer (identifier TFL3)");

  char err[96];
  if (snapuq_inputs_npy_size != 0) {
    npy_array a;
    int rc = npy_parse(snapuq_inputs_npy, snapuq_inputs_npy_size, &a, err, sizeof err);
    if (rc != 0) printf("inputs error=%s\n", err);
    check(rc == 0, "inputs .npy parses");
    if (rc == 0) {
      printf("inputs samples=%lu sample_bytes=%lu dtype=%s\n", (unsigned long)a.shape[0],
             (unsigned long)(npy_sample_elems(&a) * a.item_bytes), a.descr);
    }
  } else {
    printf("inputs none\n");
  }
  if (snapuq_labels_npy_size != 0) {
    npy_array l;
    int rc = npy_parse(snapuq_labels_npy, snapuq_labels_npy_size, &l, err, sizeof err);
    if (rc != 0) printf("labels error=%s\n", err);
    check(rc == 0, "labels .npy parses");
    if (rc == 0) {
      printf("labels count=%lu dtype=%s first=%ld\n", (unsigned long)l.shape[0], l.descr,
             (long)npy_int_at(&l, 0));
    }
  } else {
    printf("labels none\n");
  }

  char buf[32];
  format_f32(buf, sizeof buf, -1.0f / 3.0f);
  printf("format f32(-1/3)=%s bits=0x%08lx\n", buf, (unsigned long)f32_bits(-1.0f / 3.0f));

  printf("counter unit=%s source=%s scale=%lu works=%d\n", counter_unit(), counter_source(),
         (unsigned long)counter_scale(), counter_works());
  if (counter_works()) {
    uint32_t a = measure_loop(1000), b = measure_loop(2000), c = measure_loop(4000);
    printf("counter loop1000=%lu loop2000=%lu loop4000=%lu\n", (unsigned long)a,
           (unsigned long)b, (unsigned long)c);
    check(a < b && b < c, "counter grows with the work measured");
  }

  printf("ram static_end=0x%08lx heap_limit=0x%08lx stack_top=0x%08lx\n",
         (unsigned long)(uintptr_t)&end, (unsigned long)(uintptr_t)&__snapuq_heap_limit,
         (unsigned long)(uintptr_t)&__snapuq_stack_top);

  printf("selftest=%s failures=%d\n", g_failures == 0 ? "pass" : "FAIL", g_failures);
  return g_failures == 0 ? 0 : 1;
}
