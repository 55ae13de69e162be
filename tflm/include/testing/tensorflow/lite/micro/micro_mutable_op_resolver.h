// Test stand-in for TFLM's MicroMutableOpResolver: only the custom-op part, with TFLM's
// AddCustom signature (const TFLMRegistration*) and semantics (copy the registration, keep the
// name pointer, refuse duplicates and overflow with kTfLiteError).
#ifndef SNAPUQ_TESTING_MICRO_MUTABLE_OP_RESOLVER_H_
#define SNAPUQ_TESTING_MICRO_MUTABLE_OP_RESOLVER_H_

#include <string.h>

#include "tensorflow/lite/c/common.h"
#include "tensorflow/lite/micro/micro_common.h"

namespace tflite {

// BuiltinOperator_CUSTOM in the TFLite schema.
constexpr int32_t kBuiltinOperatorCustom = 32;

template <unsigned int tOpCount>
class MicroMutableOpResolver {
 public:
  TfLiteStatus AddCustom(const char* name, const TFLMRegistration* registration) {
    if (registrations_len_ >= tOpCount || FindOp(name) != nullptr) {
      return kTfLiteError;
    }
    TFLMRegistration* slot = &registrations_[registrations_len_++];
    *slot = *registration;
    slot->builtin_code = kBuiltinOperatorCustom;
    slot->custom_name = name;
    return kTfLiteOk;
  }

  const TFLMRegistration* FindOp(const char* op) const {
    for (unsigned int i = 0; i < registrations_len_; ++i) {
      if (registrations_[i].builtin_code == kBuiltinOperatorCustom &&
          strcmp(registrations_[i].custom_name, op) == 0) {
        return &registrations_[i];
      }
    }
    return nullptr;
  }

  unsigned int GetRegistrationLength() const { return registrations_len_; }

 private:
  TFLMRegistration registrations_[tOpCount];
  unsigned int registrations_len_ = 0;
};

}  // namespace tflite

#endif  // SNAPUQ_TESTING_MICRO_MUTABLE_OP_RESOLVER_H_
