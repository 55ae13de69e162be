// Plays the TFLM interpreter for one SNAP node, through the public headers only.
//
//   e2e SPEC OUT
//
// SPEC (little-endian): "SNQ1", u32 name_len + name, u32 options_len + options,
// u32 n_tensors + per tensor {i32 type, u32 rank, i32 dims[rank], u32 bytes, data},
// u32 n_inputs + i32[], u32 n_outputs + i32[], u32 invokes, u32 reset_before_last.
// OUT: the outputs' bytes, concatenated. Exit 0 ok, 2 prepare failed, 3 invoke failed,
// 4 bad spec or resolver failure; every ReportError message goes to stderr.
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <string>
#include <vector>

#include "snapuq_tflm.h"

namespace {

struct Tensor {
  std::vector<int> dims;  // TfLiteIntArray storage: size, then dims
  std::vector<uint64_t> data;
  uint32_t bytes = 0;
};

struct Runtime {
  alignas(16) unsigned char arena[64 * 1024];
  size_t persistent_used = 0;
  std::vector<size_t> scratch_sizes;
  std::vector<std::vector<uint64_t>> scratch;
  std::vector<Tensor> tensors;
  std::vector<TfLiteEvalTensor> eval;
  int reports = 0;
};

Runtime* rt(const TfLiteContext* context) { return static_cast<Runtime*>(context->impl_); }

void ReportError(TfLiteContext* context, const char* format, ...) {
  va_list args;
  va_start(args, format);
  vfprintf(stderr, format, args);
  va_end(args);
  fputc('\n', stderr);
  rt(context)->reports++;
}

void* AllocatePersistentBuffer(TfLiteContext* context, size_t bytes) {
  Runtime* r = rt(context);
  size_t rounded = (bytes + 15) & ~static_cast<size_t>(15);
  if (rounded > sizeof(r->arena) - r->persistent_used) return nullptr;
  r->persistent_used += rounded;
  return r->arena + sizeof(r->arena) - r->persistent_used;
}

TfLiteStatus RequestScratchBufferInArena(TfLiteContext* context, size_t bytes, int* index) {
  Runtime* r = rt(context);
  r->scratch_sizes.push_back(bytes);
  *index = static_cast<int>(r->scratch_sizes.size()) - 1;
  return kTfLiteOk;
}

void* GetScratchBuffer(TfLiteContext* context, int index) {
  Runtime* r = rt(context);
  if (index < 0 || static_cast<size_t>(index) >= r->scratch.size()) return nullptr;
  return r->scratch[index].data();
}

TfLiteEvalTensor* GetEvalTensor(const TfLiteContext* context, int index) {
  Runtime* r = rt(context);
  if (index < 0 || static_cast<size_t>(index) >= r->eval.size()) return nullptr;
  return &r->eval[index];
}

struct Reader {
  const unsigned char* p;
  const unsigned char* end;
  bool ok = true;
  uint32_t u32() {
    if (end - p < 4) {
      ok = false;
      return 0;
    }
    uint32_t v;
    memcpy(&v, p, 4);
    p += 4;
    return v;
  }
  const unsigned char* take(uint32_t n) {
    if (static_cast<size_t>(end - p) < n) {
      ok = false;
      return p;
    }
    const unsigned char* q = p;
    p += n;
    return q;
  }
};

std::vector<int> IntArray(const std::vector<int>& values) {
  std::vector<int> a;
  a.push_back(static_cast<int>(values.size()));
  a.insert(a.end(), values.begin(), values.end());
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) return 4;
  FILE* f = fopen(argv[1], "rb");
  if (!f) return 4;
  std::vector<unsigned char> spec;
  unsigned char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) spec.insert(spec.end(), buf, buf + n);
  fclose(f);

  // The firmware's one line, plus the resolver's refusal cases.
  static tflite::MicroMutableOpResolver<snapuq::kNumOps> resolver;
  if (snapuq::AddOps(resolver) != kTfLiteOk) return 4;
  if (snapuq::AddOps(resolver) != kTfLiteError) return 4;  // full, and duplicates
  tflite::MicroMutableOpResolver<snapuq::kNumOps - 1> small;
  if (snapuq::AddOps(small) != kTfLiteError) return 4;

  Reader rd{spec.data(), spec.data() + spec.size()};
  if (memcmp(rd.take(4), "SNQ1", 4) != 0) return 4;
  uint32_t name_len = rd.u32();
  std::string name(reinterpret_cast<const char*>(rd.take(name_len)), name_len);
  uint32_t options_len = rd.u32();
  const unsigned char* options = rd.take(options_len);
  static Runtime runtime;
  uint32_t n_tensors = rd.u32();
  for (uint32_t i = 0; i < n_tensors && rd.ok; ++i) {
    Tensor t;
    int type = static_cast<int>(rd.u32());
    uint32_t rank = rd.u32();
    std::vector<int> dims;
    for (uint32_t d = 0; d < rank; ++d) dims.push_back(static_cast<int>(rd.u32()));
    t.dims = IntArray(dims);
    t.bytes = rd.u32();
    t.data.assign(t.bytes / 8 + 1, 0);
    memcpy(t.data.data(), rd.take(t.bytes), t.bytes);
    runtime.tensors.push_back(t);
    TfLiteEvalTensor e;
    e.type = static_cast<TfLiteType>(type);
    runtime.eval.push_back(e);
  }
  for (size_t i = 0; i < runtime.tensors.size(); ++i) {
    runtime.eval[i].data.data = runtime.tensors[i].data.data();
    runtime.eval[i].dims = reinterpret_cast<TfLiteIntArray*>(runtime.tensors[i].dims.data());
  }
  std::vector<int> ins, outs;
  uint32_t n_in = rd.u32();
  for (uint32_t i = 0; i < n_in; ++i) ins.push_back(static_cast<int>(rd.u32()));
  uint32_t n_out = rd.u32();
  for (uint32_t i = 0; i < n_out; ++i) outs.push_back(static_cast<int>(rd.u32()));
  uint32_t invokes = rd.u32();
  uint32_t reset_before_last = rd.u32();
  if (!rd.ok) return 4;

  const TFLMRegistration* reg = resolver.FindOp(name.c_str());
  if (reg == nullptr) {
    fprintf(stderr, "op %s not registered\n", name.c_str());
    return 4;
  }

  TfLiteContext context;
  memset(&context, 0, sizeof context);
  context.impl_ = &runtime;
  context.ReportError = ReportError;
  context.AllocatePersistentBuffer = AllocatePersistentBuffer;
  context.RequestScratchBufferInArena = RequestScratchBufferInArena;
  context.GetScratchBuffer = GetScratchBuffer;
  context.GetEvalTensor = GetEvalTensor;

  std::vector<int> in_array = IntArray(ins), out_array = IntArray(outs);
  TfLiteNode node;
  memset(&node, 0, sizeof node);
  node.inputs = reinterpret_cast<TfLiteIntArray*>(in_array.data());
  node.outputs = reinterpret_cast<TfLiteIntArray*>(out_array.data());
  node.custom_initial_data = options_len ? options : nullptr;
  node.custom_initial_data_size = static_cast<int>(options_len);

  node.user_data = reg->init(&context, reinterpret_cast<const char*>(node.custom_initial_data),
                             options_len);
  if (reg->prepare(&context, &node) != kTfLiteOk) {
    reg->free(&context, node.user_data);
    return 2;
  }
  for (size_t bytes : runtime.scratch_sizes) runtime.scratch.emplace_back(bytes / 8 + 1, 0);
  for (uint32_t k = 0; k < invokes; ++k) {
    if (reset_before_last && k + 1 == invokes) reg->reset(&context, node.user_data);
    if (reg->invoke(&context, &node) != kTfLiteOk) {
      reg->free(&context, node.user_data);
      return 3;
    }
  }
  reg->free(&context, node.user_data);

  FILE* out = fopen(argv[2], "wb");
  if (!out) return 4;
  for (int o : outs) {
    const Tensor& t = runtime.tensors[static_cast<size_t>(o)];
    fwrite(t.data.data(), 1, t.bytes, out);
  }
  fclose(out);
  printf("ok: %s, %d messages, %zu persistent bytes\n", name.c_str(), runtime.reports,
         runtime.persistent_used);
  return 0;
}
