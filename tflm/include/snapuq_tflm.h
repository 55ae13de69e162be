// snapuq_tflm.h: one-line registration of the SNAP-UQ ops in a TFLM op resolver.
//
//   #include "snapuq_tflm.h"
//   static tflite::MicroMutableOpResolver<kMyBuiltinOps + SNAPUQ_NUM_OPS> resolver;
//   ... resolver.AddConv2D(); ...
//   if (snapuq::AddOps(resolver) != kTfLiteOk) { /* resolver too small or op added twice */ }
//
// Needs TFLM's include paths (as any TFLM application has) and libsnapuq_tflm.a at link time.
#ifndef SNAPUQ_TFLM_H_
#define SNAPUQ_TFLM_H_

#include "snapuq.h"
#include "tensorflow/lite/micro/micro_common.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"

namespace snapuq {

// Number of custom ops AddOps registers.
constexpr unsigned int kNumOps = SNAPUQ_NUM_OPS;

// Registers SNAP_PROJECT, SNAP_SURPRISAL and SNAP_CALIBRATE with `resolver`.
// AddCustom copies the registration and keeps the name pointer (a string literal here), so the
// local copies below may go out of scope.
template <unsigned int tOpCount>
TfLiteStatus AddOps(tflite::MicroMutableOpResolver<tOpCount>& resolver) {
  TFLMRegistration project = snapuq_register_SNAP_PROJECT();
  if (resolver.AddCustom(SNAPUQ_SNAP_PROJECT_NAME, &project) != kTfLiteOk) {
    return kTfLiteError;
  }
  TFLMRegistration surprisal = snapuq_register_SNAP_SURPRISAL();
  if (resolver.AddCustom(SNAPUQ_SNAP_SURPRISAL_NAME, &surprisal) != kTfLiteOk) {
    return kTfLiteError;
  }
  TFLMRegistration calibrate = snapuq_register_SNAP_CALIBRATE();
  if (resolver.AddCustom(SNAPUQ_SNAP_CALIBRATE_NAME, &calibrate) != kTfLiteOk) {
    return kTfLiteError;
  }
  return kTfLiteOk;
}

}  // namespace snapuq

#endif  // SNAPUQ_TFLM_H_
