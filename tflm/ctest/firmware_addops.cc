// What a TFLM firmware adds to register the SNAP-UQ ops: one include and one call.
#include "snapuq_tflm.h"

namespace {
tflite::MicroMutableOpResolver<8 + snapuq::kNumOps> resolver;
}

extern "C" int snapuq_firmware_setup(void) {
  return snapuq::AddOps(resolver) == kTfLiteOk ? 0 : 1;
}
