// TFLM platform hooks the example may have to supply, depending on which TFLM port was built.
//
// - SNAPUQ_TFLM_DEBUG_LOG_CALLBACK (set by the Makefile when TFLM's cortex_m_generic
//   debug_log.cc is compiled): that port formats MicroPrintf messages and hands them to a
//   registered callback; we send them to stderr (semihosting). The portable debug_log.cc
//   needs nothing (it calls vfprintf(stderr, ...) itself).
// - SNAPUQ_PROVIDE_MICRO_TIME (set when the cortex_m_generic micro_time.cc was left out because
//   it needs a CMSIS device header): TFLM's tick functions on the example's counter.
#include <cstdint>
#include <cstdio>

#include "support.h"

#if defined(SNAPUQ_TFLM_DEBUG_LOG_CALLBACK)
#include "tensorflow/lite/micro/cortex_m_generic/debug_log_callback.h"

static void snapuq_debug_log(const char* s) { std::fputs(s, stderr); }
#endif

#if defined(SNAPUQ_PROVIDE_MICRO_TIME)
namespace tflite {
uint32_t ticks_per_second() { return 0; }  // unknown clock: TFLM then reports ticks only
uint32_t GetCurrentTimeTicks() { return counter_now(); }
}  // namespace tflite
#endif

extern "C" void snapuq_platform_init(void) {
#if defined(SNAPUQ_TFLM_DEBUG_LOG_CALLBACK)
  RegisterDebugLogCallback(snapuq_debug_log);
#endif
}
