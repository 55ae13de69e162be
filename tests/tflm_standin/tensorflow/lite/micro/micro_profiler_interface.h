// Test stand-in (declarations only, not TFLM) for
// tensorflow/lite/micro/micro_profiler_interface.h.
#ifndef SNAPUQ_STANDIN_MICRO_PROFILER_INTERFACE_H_
#define SNAPUQ_STANDIN_MICRO_PROFILER_INTERFACE_H_

#include <cstdint>

namespace tflite {
namespace micro {

class MicroProfilerInterface {
 public:
  virtual ~MicroProfilerInterface() {}
  virtual uint32_t BeginEvent(const char* tag) = 0;
  virtual void EndEvent(uint32_t event_handle) = 0;
};

}  // namespace micro

using micro::MicroProfilerInterface;

}  // namespace tflite

#endif  // SNAPUQ_STANDIN_MICRO_PROFILER_INTERFACE_H_
