/* The augmented model and the example inputs, embedded in flash as they are on disk.
 * The Makefile passes the paths as quoted strings:
 *   SNAPUQ_MODEL_FILE (required), SNAPUQ_INPUTS_FILE and SNAPUQ_LABELS_FILE (optional .npy).
 * Each blob gets a 16-byte aligned start (TFLM reads the flatbuffer in place) and a 32-bit
 * size word, so C code needs no linker-symbol arithmetic. */
#ifndef SNAPUQ_MODEL_FILE
#error "SNAPUQ_MODEL_FILE must name the .tflite to embed (make MODEL=...)"
#endif

#define BLOB(name, file)                \
  .section .rodata.name, "a", %progbits; \
  .balign 16;                           \
  .global name;                         \
  .type name, %object;                  \
name:                                   \
  .incbin file;                         \
name##_end:                             \
  .balign 4;                            \
  .global name##_size;                  \
  .type name##_size, %object;           \
name##_size:                            \
  .word name##_end - name

#define EMPTY(name)                     \
  .section .rodata.name, "a", %progbits; \
  .balign 16;                           \
  .global name;                         \
name:                                   \
  .word 0;                              \
  .global name##_size;                  \
name##_size:                            \
  .word 0

BLOB(snapuq_model_data, SNAPUQ_MODEL_FILE)

#ifdef SNAPUQ_INPUTS_FILE
BLOB(snapuq_inputs_npy, SNAPUQ_INPUTS_FILE)
#else
EMPTY(snapuq_inputs_npy)
#endif

#ifdef SNAPUQ_LABELS_FILE
BLOB(snapuq_labels_npy, SNAPUQ_LABELS_FILE)
#else
EMPTY(snapuq_labels_npy)
#endif
