// Test stand-in (declarations only, not TFLM) for
// tensorflow/lite/micro/micro_mutable_op_resolver.h: the members the TFLM example and
// snapuq_tflm.h call, with TFLM's signatures.
#ifndef SNAPUQ_STANDIN_MICRO_MUTABLE_OP_RESOLVER_H_
#define SNAPUQ_STANDIN_MICRO_MUTABLE_OP_RESOLVER_H_

#include "tensorflow/lite/c/common.h"
#include "tensorflow/lite/micro/micro_common.h"

namespace tflite {

TFLMRegistration Register_ADD();
TFLMRegistration Register_AVERAGE_POOL_2D();
TFLMRegistration Register_CONV_2D();
TFLMRegistration Register_DEPTHWISE_CONV_2D();
TFLMRegistration Register_FULLY_CONNECTED();
TFLMRegistration Register_RESHAPE();
TFLMRegistration Register_SOFTMAX();

class MicroOpResolver {
 public:
  virtual ~MicroOpResolver() {}
  virtual const TFLMRegistration* FindOp(const char* op) const = 0;
};

template <unsigned int tOpCount>
class MicroMutableOpResolver : public MicroOpResolver {
 public:
  explicit MicroMutableOpResolver() {}
  const TFLMRegistration* FindOp(const char* op) const override;
  TfLiteStatus AddCustom(const char* name, const TFLMRegistration* registration);
  TfLiteStatus AddAdd(const TFLMRegistration& registration = Register_ADD());
  TfLiteStatus AddAveragePool2D(
      const TFLMRegistration& registration = Register_AVERAGE_POOL_2D());
  TfLiteStatus AddConv2D(const TFLMRegistration& registration = Register_CONV_2D());
  TfLiteStatus AddDepthwiseConv2D(
      const TFLMRegistration& registration = Register_DEPTHWISE_CONV_2D());
  TfLiteStatus AddFullyConnected(
      const TFLMRegistration& registration = Register_FULLY_CONNECTED());
  TfLiteStatus AddReshape(const TFLMRegistration& registration = Register_RESHAPE());
  TfLiteStatus AddSoftmax(const TFLMRegistration& registration = Register_SOFTMAX());
  unsigned int GetRegistrationLength() const;
  void operator delete(void*) {}
};

}  // namespace tflite

#endif  // SNAPUQ_STANDIN_MICRO_MUTABLE_OP_RESOLVER_H_
