// Test stand-in (declarations only, not TFLM) for tensorflow/lite/micro/system_setup.h.
#ifndef SNAPUQ_STANDIN_SYSTEM_SETUP_H_
#define SNAPUQ_STANDIN_SYSTEM_SETUP_H_

namespace tflite {
void InitializeTarget();
}  // namespace tflite

#endif  // SNAPUQ_STANDIN_SYSTEM_SETUP_H_
