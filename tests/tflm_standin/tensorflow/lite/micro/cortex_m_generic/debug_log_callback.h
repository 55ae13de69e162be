// Test stand-in (declarations only, not TFLM) for
// tensorflow/lite/micro/cortex_m_generic/debug_log_callback.h.
#ifndef SNAPUQ_STANDIN_DEBUG_LOG_CALLBACK_H_
#define SNAPUQ_STANDIN_DEBUG_LOG_CALLBACK_H_

#ifdef __cplusplus
extern "C" {
#endif

typedef void (*DebugLogCallback)(const char* s);
void RegisterDebugLogCallback(DebugLogCallback callback);

#ifdef __cplusplus
}
#endif

#endif  // SNAPUQ_STANDIN_DEBUG_LOG_CALLBACK_H_
