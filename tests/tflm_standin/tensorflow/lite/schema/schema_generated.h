// Test stand-in (declarations only, not TFLM) for tensorflow/lite/schema/schema_generated.h:
// only the two members of the flatc-generated API the TFLM example calls.
#ifndef SNAPUQ_STANDIN_SCHEMA_GENERATED_H_
#define SNAPUQ_STANDIN_SCHEMA_GENERATED_H_

#include <cstdint>

namespace tflite {

struct Model {
  uint32_t version() const;
};

const Model* GetModel(const void* buf);

}  // namespace tflite

#endif  // SNAPUQ_STANDIN_SCHEMA_GENERATED_H_
