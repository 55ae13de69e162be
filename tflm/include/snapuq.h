/* snapuq.h: C declarations of the SNAP-UQ custom-op registrations for TensorFlow Lite Micro.
 *
 * Link libsnapuq_tflm.a (built by `cargo build -p snapuq-tflm --release --target <triple>`)
 * and register each op under its custom code, or in C++ simply call snapuq::AddOps(resolver)
 * from snapuq_tflm.h.
 *
 * Each function returns the op's TFLMRegistration by value, like TFLM's own Register_*()
 * functions; the struct is completed by tensorflow/lite/micro/micro_common.h (TFLM's own
 * header), so this file needs nothing from TFLM. The registrations need a TFLM built with
 * TF_LITE_STATIC_MEMORY (its default for microcontrollers) and the TFLMRegistration layout
 * {init, free, prepare, invoke, reset, builtin_code, custom_name} (TFLM 2023 and later).
 *
 * The library allocates only through the context's AllocatePersistentBuffer (in init) and
 * RequestScratchBufferInArena (in prepare): no heap. Every error is reported through
 * ReportError with a message naming the op, the tensor and the problem. */
#ifndef SNAPUQ_H_
#define SNAPUQ_H_

#ifdef __cplusplus
extern "C" {
#endif

struct TFLMRegistration;

/* Custom codes the converter writes into OperatorCode.custom_code. */
#define SNAPUQ_SNAP_PROJECT_NAME "SNAP_PROJECT"
#define SNAPUQ_SNAP_SURPRISAL_NAME "SNAP_SURPRISAL"
#define SNAPUQ_SNAP_CALIBRATE_NAME "SNAP_CALIBRATE"

/* Number of custom ops snapuq adds to an op resolver (size your MicroMutableOpResolver<N>
 * for your model's builtin ops plus this many). */
#define SNAPUQ_NUM_OPS 3

/* GAP + int8 projection z = P * GAP(a). */
struct TFLMRegistration snapuq_register_SNAP_PROJECT(void);
/* Per-tap surprisal (mean squared standardized error) from z and the realized activation. */
struct TFLMRegistration snapuq_register_SNAP_SURPRISAL(void);
/* Tap aggregation, confidence mixing, calibrated U(x), abstain flag, budget controller. */
struct TFLMRegistration snapuq_register_SNAP_CALIBRATE(void);

/* Version of this C ABI (bumped whenever a registration's behaviour or layout changes). */
unsigned int snapuq_abi_version(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SNAPUQ_H_ */
