// SNAP-UQ on TensorFlow Lite Micro: runs the augmented flatbuffer (embedded at build time) on a
// handful of embedded inputs and prints, per sample, the class, the uncertainty U, the
// aggregated surprisal S, the abstain flag, and the cost of one Invoke() split into backbone
// ops and SNAP ops. Console: semihosting (QEMU, or a board with a debug probe).
//
// What a firmware adds for snapuq is marked "snapuq:" below; everything else is a plain TFLM
// application.
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/micro/micro_profiler_interface.h"
#include "tensorflow/lite/micro/system_setup.h"
#include "tensorflow/lite/schema/schema_generated.h"

// snapuq: the one header (needs TFLM's include paths, and libsnapuq_tflm.a at link time).
#include "snapuq_tflm.h"

#include "blobs.h"
#include "support.h"

#ifndef SNAPUQ_ARENA_BYTES
#error "SNAPUQ_ARENA_BYTES must be set (make ARENA_BYTES=...)"
#endif
#ifndef SNAPUQ_NUM_SAMPLES
#define SNAPUQ_NUM_SAMPLES 8
#endif

extern "C" void snapuq_platform_init(void);

namespace {

// The TFLite schema version TFLM reads (TFLITE_SCHEMA_VERSION in TFLM).
constexpr uint32_t kSchemaVersion = 3;

// Builtin ops of examples/models/digits_cnn.snap.tflite (`snap-convert inspect` lists them).
// A model with other ops needs the matching Add*() calls and a larger count.
constexpr unsigned int kBuiltinOps = 7;

// snapuq: size the resolver for the model's builtins plus snapuq's custom ops.
using OpResolver = tflite::MicroMutableOpResolver<kBuiltinOps + snapuq::kNumOps>;

TfLiteStatus RegisterOps(OpResolver& resolver) {
  if (resolver.AddConv2D() != kTfLiteOk) return kTfLiteError;
  if (resolver.AddDepthwiseConv2D() != kTfLiteOk) return kTfLiteError;
  if (resolver.AddAdd() != kTfLiteOk) return kTfLiteError;
  if (resolver.AddAveragePool2D() != kTfLiteOk) return kTfLiteError;
  if (resolver.AddReshape() != kTfLiteOk) return kTfLiteError;
  if (resolver.AddFullyConnected() != kTfLiteOk) return kTfLiteError;
  if (resolver.AddSoftmax() != kTfLiteOk) return kTfLiteError;
  // snapuq: SNAP_PROJECT, SNAP_SURPRISAL and SNAP_CALIBRATE in one call.
  return snapuq::AddOps(resolver);
}

// TFLM opens one profiler event per operator Invoke, tagged with the op's name (the custom code
// for custom ops), when built without TF_LITE_STRIP_ERROR_STRINGS. We time each event with the
// board counter and split the sum into SNAP ops (tags "SNAP_*") and the backbone. Only
// outermost events count: kernels may open nested events of their own (weight decompression,
// ops running subgraphs), which are already inside their operator's time.
class OpTimer : public tflite::MicroProfilerInterface {
 public:
  static constexpr uint32_t kMaxEvents = 64;
  static constexpr uint32_t kMaxTags = 24;

  uint32_t BeginEvent(const char* tag) override {
    const bool outermost = depth_++ == 0;
    if (!outermost) return kMaxEvents;
    if (events_ == kMaxEvents) {
      ++dropped_;
      return kMaxEvents;
    }
    tag_[events_] = tag;
    start_[events_] = counter_now();
    end_[events_] = start_[events_];
    return events_++;
  }

  void EndEvent(uint32_t handle) override {
    const uint32_t now = counter_now();
    if (depth_ > 0) --depth_;
    if (handle < events_) end_[handle] = now;
  }

  // Folds this Invoke's events into the per-tag totals and returns its backbone/SNAP split.
  void FinishInvoke(uint64_t* backbone, uint64_t* snap) {
    *backbone = 0;
    *snap = 0;
    for (uint32_t i = 0; i < events_; ++i) {
      uint64_t units = static_cast<uint64_t>(end_[i] - start_[i]) * counter_scale();
      if (std::strncmp(tag_[i], "SNAP_", 5) == 0) {
        *snap += units;
      } else {
        *backbone += units;
      }
      Accumulate(tag_[i], units);
    }
    events_ = 0;
  }

  uint32_t dropped() const { return dropped_; }
  bool saw_events() const { return tags_ != 0; }

  void PrintTotals(uint32_t invokes) const {
    for (uint32_t t = 0; t < tags_; ++t) {
      std::printf("op tag=%s calls=%lu %s_per_invoke=%lu\n", tag_name_[t],
                  static_cast<unsigned long>(calls_[t]), counter_unit(),
                  static_cast<unsigned long>(invokes ? total_[t] / invokes : 0));
    }
  }

  // TFLM's classes forbid heap deletion the same way (TF_LITE_REMOVE_VIRTUAL_DELETE).
  void operator delete(void*) {}

 private:
  void Accumulate(const char* tag, uint64_t units) {
    for (uint32_t t = 0; t < tags_; ++t) {
      if (tag_name_[t] == tag || std::strcmp(tag_name_[t], tag) == 0) {
        total_[t] += units;
        ++calls_[t];
        return;
      }
    }
    if (tags_ < kMaxTags) {
      tag_name_[tags_] = tag;
      total_[tags_] = units;
      calls_[tags_] = 1;
      ++tags_;
    }
  }

  const char* tag_[kMaxEvents] = {};
  uint32_t start_[kMaxEvents] = {};
  uint32_t end_[kMaxEvents] = {};
  uint32_t events_ = 0;
  uint32_t depth_ = 0;
  uint32_t dropped_ = 0;
  const char* tag_name_[kMaxTags] = {};
  uint64_t total_[kMaxTags] = {};
  uint32_t calls_[kMaxTags] = {};
  uint32_t tags_ = 0;
};

alignas(16) uint8_t g_arena[SNAPUQ_ARENA_BYTES];
OpTimer g_timer;

// "12.34" for 100 * num / den, without printf's float support.
void PrintPercent(const char* key, uint64_t num, uint64_t den) {
  if (den == 0) {
    std::printf(" %s=n/a", key);
    return;
  }
  uint64_t hundredths = (num * 10000u + den / 2) / den;
  std::printf(" %s=%lu.%02lu", key, static_cast<unsigned long>(hundredths / 100),
              static_cast<unsigned long>(hundredths % 100));
}

void PrintFloat(const char* key, float v) {
  char buf[32];
  format_f32(buf, sizeof buf, v);
  std::printf(" %s=%s %s_bits=0x%08lx", key, buf, key, static_cast<unsigned long>(f32_bits(v)));
}

// Real value of element i of a quantized or float classifier output.
float OutputValue(const TfLiteTensor* t, int i) {
  switch (t->type) {
    case kTfLiteInt8:
      return (static_cast<int32_t>(t->data.int8[i]) - t->params.zero_point) * t->params.scale;
    case kTfLiteUInt8:
      return (static_cast<int32_t>(t->data.uint8[i]) - t->params.zero_point) * t->params.scale;
    case kTfLiteFloat32:
      return t->data.f[i];
    default:
      return 0.0f;
  }
}

int ElementCount(const TfLiteTensor* t) {
  int n = 1;
  for (int d = 0; d < t->dims->size; ++d) n *= t->dims->data[d];
  return n;
}

// Fills the input with sample k: from the embedded .npy when it matches the input tensor,
// otherwise with a fixed pseudo-random pattern (so any model runs without data).
bool LoadInput(TfLiteTensor* input, const npy_array* inputs, bool have_inputs, size_t k) {
  if (have_inputs) {
    size_t sample_bytes = npy_sample_elems(inputs) * inputs->item_bytes;
    std::memcpy(input->data.data, inputs->data + k * sample_bytes, sample_bytes);
    return true;
  }
  uint32_t s = 0x9E3779B9u ^ static_cast<uint32_t>(k);
  for (size_t i = 0; i < input->bytes; ++i) {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    input->data.uint8[i] = static_cast<uint8_t>(s);
  }
  return false;
}

int Fail(const char* what) {
  std::printf("result=FAIL reason=%s\n", what);
  return 1;
}

}  // namespace

int main() {
  tflite::InitializeTarget();
  snapuq_platform_init();
  counter_init();

  std::printf("snapuq-tflm-example tier=%s part=%s core=%s profile=%s\n", board_tier(),
              board_part(), board_core(), board_profile());
  std::printf("model bytes=%lu arena_bytes=%lu snapuq_abi=%u\n",
              static_cast<unsigned long>(snapuq_model_data_size),
              static_cast<unsigned long>(sizeof g_arena), snapuq_abi_version());
  std::printf("counter unit=%s source=%s works=%d\n", counter_unit(), counter_source(),
              counter_works());

  const tflite::Model* model = tflite::GetModel(snapuq_model_data);
  if (model->version() != kSchemaVersion) return Fail("model schema version is not 3");

  static OpResolver resolver;
  if (RegisterOps(resolver) != kTfLiteOk) {
    return Fail("op registration failed (resolver too small or an op added twice)");
  }

  tflite::MicroInterpreter interpreter(model, resolver, g_arena, sizeof g_arena,
                                       /*resource_variables=*/nullptr, &g_timer);
  if (interpreter.AllocateTensors() != kTfLiteOk) {
    return Fail("AllocateTensors failed (arena too small? raise ARENA_BYTES; TFLM said why above)");
  }
  std::printf("arena used=%lu of %lu\n", static_cast<unsigned long>(interpreter.arena_used_bytes()),
              static_cast<unsigned long>(sizeof g_arena));

  // snapuq: snap-convert appends three outputs after the model's own: U (float32),
  // S (float32) and abstain (uint8, 1 = abstain). The classifier output stays output 0.
  const size_t outputs = interpreter.outputs_size();
  if (outputs < 4) {
    return Fail("model has fewer than 4 outputs: not converted by snap-convert?");
  }
  TfLiteTensor* input = interpreter.input(0);
  const TfLiteTensor* scores = interpreter.output(0);
  const TfLiteTensor* u_out = interpreter.output(outputs - 3);
  const TfLiteTensor* s_out = interpreter.output(outputs - 2);
  const TfLiteTensor* abstain_out = interpreter.output(outputs - 1);
  if (u_out->type != kTfLiteFloat32 || s_out->type != kTfLiteFloat32) {
    return Fail("the last three outputs are not U (float32), S (float32), abstain");
  }
  const int classes = ElementCount(scores);
  std::printf("outputs=%lu classes=%d input_bytes=%lu\n", static_cast<unsigned long>(outputs),
              classes, static_cast<unsigned long>(input->bytes));

  npy_array inputs = {};
  npy_array labels = {};
  char err[96];
  bool have_inputs =
      snapuq_inputs_npy_size != 0 &&
      npy_parse(snapuq_inputs_npy, snapuq_inputs_npy_size, &inputs, err, sizeof err) == 0 &&
      inputs.ndim >= 1 && npy_sample_elems(&inputs) * inputs.item_bytes == input->bytes;
  bool have_labels =
      have_inputs && snapuq_labels_npy_size != 0 &&
      npy_parse(snapuq_labels_npy, snapuq_labels_npy_size, &labels, err, sizeof err) == 0 &&
      labels.shape[0] >= inputs.shape[0];
  size_t samples = SNAPUQ_NUM_SAMPLES;
  if (have_inputs && inputs.shape[0] < samples) samples = inputs.shape[0];
  std::printf("inputs source=%s samples=%lu\n", have_inputs ? "embedded-npy" : "pseudo-random",
              static_cast<unsigned long>(samples));

  uint64_t sum_total = 0, sum_backbone = 0, sum_snap = 0;
  unsigned correct = 0, abstained = 0;
  for (size_t k = 0; k < samples; ++k) {
    LoadInput(input, &inputs, have_inputs, k);

    const uint32_t t0 = counter_now();
    const TfLiteStatus status = interpreter.Invoke();
    const uint32_t t1 = counter_now();
    if (status != kTfLiteOk) return Fail("Invoke failed (TFLM said why above)");
    uint64_t backbone = 0, snap = 0;
    g_timer.FinishInvoke(&backbone, &snap);
    const uint64_t total = static_cast<uint64_t>(t1 - t0) * counter_scale();

    int best = 0;
    for (int c = 1; c < classes; ++c) {
      if (OutputValue(scores, c) > OutputValue(scores, best)) best = c;
    }
    const float u = u_out->data.f[0];
    const float s = s_out->data.f[0];
    const int abstain = abstain_out->data.uint8[0] != 0;

    std::printf("sample=%lu class=%d", static_cast<unsigned long>(k), best);
    if (have_labels) {
      const long label = static_cast<long>(npy_int_at(&labels, k));
      std::printf(" label=%ld", label);
      correct += label == best;
    }
    PrintFloat("score", OutputValue(scores, best));
    PrintFloat("U", u);
    PrintFloat("S", s);
    std::printf(" abstain=%d total=%lu backbone=%lu snap=%lu", abstain,
                static_cast<unsigned long>(total), static_cast<unsigned long>(backbone),
                static_cast<unsigned long>(snap));
    PrintPercent("snap_pct", snap, backbone);
    std::printf("\n");

    abstained += abstain;
    sum_total += total;
    sum_backbone += backbone;
    sum_snap += snap;
  }

  g_timer.PrintTotals(static_cast<uint32_t>(samples));
  if (!g_timer.saw_events()) {
    std::printf("note=no per-op events (TFLM built with TF_LITE_STRIP_ERROR_STRINGS): "
                "only the Invoke total is measured\n");
  }
  std::printf("summary samples=%lu", static_cast<unsigned long>(samples));
  if (have_labels) std::printf(" correct=%u", correct);
  std::printf(" abstained=%u unit=%s mean_total=%lu mean_backbone=%lu mean_snap=%lu", abstained,
              counter_unit(), static_cast<unsigned long>(samples ? sum_total / samples : 0),
              static_cast<unsigned long>(samples ? sum_backbone / samples : 0),
              static_cast<unsigned long>(samples ? sum_snap / samples : 0));
  PrintPercent("snap_pct", sum_snap, sum_backbone);
  std::printf("\n");
  if (g_timer.dropped() != 0) std::printf("note=profiler dropped %lu events\n",
                                          static_cast<unsigned long>(g_timer.dropped()));
  std::printf("result=pass\n");
  return 0;
}
