// tflm_sys.cc: the C API of tflm_sys.h over TFLM's MicroInterpreter.
//
// The op resolver is built the way a firmware builds it: the builtins by hand, then our three
// ops through snapuq_tflm.h's snapuq::AddOps (the public header users include), so this shim
// exercises the registration path of a real application.
#include "tflm_sys.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>

#include "snapuq_tflm.h"
#include "tensorflow/lite/micro/debug_log.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/schema/schema_generated.h"

namespace {

// The builtins of digits, ResNet-8, DS-CNN, VWW and the AD autoencoder (MLPerf Tiny), plus the
// QUANTIZE/DEQUANTIZE pairs around ResNet-8's and VWW's float I/O variants.
constexpr unsigned int kBuiltinOps = 10;
using Resolver = tflite::MicroMutableOpResolver<kBuiltinOps + snapuq::kNumOps>;

TfLiteStatus FillResolver(Resolver& r) {
  if (r.AddConv2D() != kTfLiteOk || r.AddDepthwiseConv2D() != kTfLiteOk ||
      r.AddAveragePool2D() != kTfLiteOk || r.AddMaxPool2D() != kTfLiteOk ||
      r.AddReshape() != kTfLiteOk || r.AddFullyConnected() != kTfLiteOk ||
      r.AddSoftmax() != kTfLiteOk || r.AddAdd() != kTfLiteOk ||
      r.AddQuantize() != kTfLiteOk || r.AddDequantize() != kTfLiteOk) {
    return kTfLiteError;
  }
  return snapuq::AddOps(r);
}

// TFLM's log (DebugLog is provided here instead of the tree's debug_log.cc, which writes to
// stderr): kept per thread so that parallel tests each see their own interpreter's errors.
thread_local std::string g_log;

}  // namespace

struct tflm_sys_interpreter {
  Resolver resolver;
  tflite::MicroInterpreter* interpreter = nullptr;
  alignas(tflite::MicroInterpreter) unsigned char storage[sizeof(tflite::MicroInterpreter)];
};

extern "C" void DebugLog(const char* format, va_list args) {
  char buf[512];
  va_list copy;
  va_copy(copy, args);
  int n = vsnprintf(buf, sizeof(buf), format, copy);
  va_end(copy);
  if (n > 0) g_log.append(buf, static_cast<size_t>(n) < sizeof(buf) ? n : sizeof(buf) - 1);
}

extern "C" int DebugVsnprintf(char* buffer, size_t buf_size, const char* format,
                              va_list vlist) {
  return vsnprintf(buffer, buf_size, format, vlist);
}

extern "C" int tflm_sys_create(const uint8_t* model, size_t model_len, uint8_t* arena,
                               size_t arena_len, tflm_sys_interpreter** out) {
  *out = nullptr;
  if (model == nullptr || model_len < 8 || arena == nullptr) return 1;
  const tflite::Model* m = tflite::GetModel(model);
  if (m->version() != TFLITE_SCHEMA_VERSION) {
    MicroPrintf("model schema version %d, this TFLM supports %d",
                static_cast<int>(m->version()), TFLITE_SCHEMA_VERSION);
    return 1;
  }
  auto* h = new (std::nothrow) tflm_sys_interpreter;
  if (h == nullptr) return 3;
  if (FillResolver(h->resolver) != kTfLiteOk) {
    delete h;
    return 2;
  }
  h->interpreter = new (h->storage) tflite::MicroInterpreter(m, h->resolver, arena, arena_len);
  *out = h;
  return 0;
}

extern "C" void tflm_sys_destroy(tflm_sys_interpreter* h) {
  if (h == nullptr) return;
  if (h->interpreter != nullptr) h->interpreter->~MicroInterpreter();
  delete h;
}

extern "C" int tflm_sys_allocate_tensors(tflm_sys_interpreter* h) {
  return h->interpreter->AllocateTensors() == kTfLiteOk ? 0 : 1;
}

extern "C" int tflm_sys_invoke(tflm_sys_interpreter* h) {
  return h->interpreter->Invoke() == kTfLiteOk ? 0 : 1;
}

extern "C" size_t tflm_sys_inputs_size(const tflm_sys_interpreter* h) {
  return h->interpreter->inputs_size();
}

extern "C" size_t tflm_sys_outputs_size(const tflm_sys_interpreter* h) {
  return h->interpreter->outputs_size();
}

static int Describe(const TfLiteTensor* t, tflm_sys_tensor* out) {
  if (t == nullptr) return 1;
  std::memset(out, 0, sizeof(*out));
  out->type = static_cast<int32_t>(t->type);
  out->dims = t->dims != nullptr ? t->dims->size : 0;
  for (int i = 0; i < out->dims && i < 8; ++i) out->shape[i] = t->dims->data[i];
  out->data = t->data.data;
  out->bytes = t->bytes;
  return 0;
}

extern "C" int tflm_sys_input(tflm_sys_interpreter* h, size_t index, tflm_sys_tensor* out) {
  if (index >= h->interpreter->inputs_size()) return 1;
  return Describe(h->interpreter->input(index), out);
}

extern "C" int tflm_sys_output(tflm_sys_interpreter* h, size_t index, tflm_sys_tensor* out) {
  if (index >= h->interpreter->outputs_size()) return 1;
  return Describe(h->interpreter->output(index), out);
}

extern "C" size_t tflm_sys_arena_used_bytes(const tflm_sys_interpreter* h) {
  return h->interpreter->arena_used_bytes();
}

extern "C" size_t tflm_sys_registered_ops(void) {
  Resolver r;
  if (FillResolver(r) != kTfLiteOk) return 0;
  return r.GetRegistrationLength();
}

extern "C" size_t tflm_sys_log(char* buf, size_t buf_len) {
  if (buf != nullptr && buf_len > 0) {
    size_t n = g_log.size() < buf_len - 1 ? g_log.size() : buf_len - 1;
    std::memcpy(buf, g_log.data(), n);
    buf[n] = '\0';
  }
  return g_log.size();
}

extern "C" void tflm_sys_clear_log(void) { g_log.clear(); }
