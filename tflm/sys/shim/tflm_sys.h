/* tflm_sys.h: C API of the C++ shim around TFLM's MicroInterpreter (tflite-micro-sys).
 *
 * Every function returns 0 on success and a non-zero code on failure; the text TFLM logged
 * (MicroPrintf / ReportError) since the last tflm_sys_clear_log() is kept per thread and read
 * with tflm_sys_log(). No function throws or aborts on bad input. */
#ifndef TFLM_SYS_H_
#define TFLM_SYS_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tflm_sys_interpreter tflm_sys_interpreter;

/* One input or output tensor as TFLM allocated it. */
typedef struct tflm_sys_tensor {
  int32_t type;      /* TfLiteType code (kTfLiteInt8 = 9, ...). */
  int32_t dims;      /* number of dimensions (<= 8 reported in shape). */
  int32_t shape[8];
  void* data;        /* inside the arena; valid until the interpreter is destroyed. */
  size_t bytes;
} tflm_sys_tensor;

/* Builds a MicroInterpreter with the builtin ops of the MLPerf Tiny models and the SNAP ops.
 * `model` and `arena` must stay valid until tflm_sys_destroy. 1: bad model (schema version),
 * 2: resolver full (should not happen), 3: out of memory. */
int tflm_sys_create(const uint8_t* model, size_t model_len, uint8_t* arena, size_t arena_len,
                    tflm_sys_interpreter** out);
void tflm_sys_destroy(tflm_sys_interpreter* interp);
int tflm_sys_allocate_tensors(tflm_sys_interpreter* interp);
int tflm_sys_invoke(tflm_sys_interpreter* interp);
size_t tflm_sys_inputs_size(const tflm_sys_interpreter* interp);
size_t tflm_sys_outputs_size(const tflm_sys_interpreter* interp);
/* 1 when `index` is out of range or tensors are not allocated. */
int tflm_sys_input(tflm_sys_interpreter* interp, size_t index, tflm_sys_tensor* out);
int tflm_sys_output(tflm_sys_interpreter* interp, size_t index, tflm_sys_tensor* out);
/* MicroInterpreter::arena_used_bytes(), valid after AllocateTensors. */
size_t tflm_sys_arena_used_bytes(const tflm_sys_interpreter* interp);
/* Number of builtin + custom registrations in the resolver. */
size_t tflm_sys_registered_ops(void);

/* Copies the calling thread's log into buf (NUL-terminated, truncated to buf_len); returns
 * the full length. */
size_t tflm_sys_log(char* buf, size_t buf_len);
void tflm_sys_clear_log(void);

#ifdef __cplusplus
}
#endif

#endif /* TFLM_SYS_H_ */
