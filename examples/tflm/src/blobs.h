/* Symbols of blobs.S: the embedded model and (optional, size 0 when absent) inputs/labels. */
#ifndef SNAPUQ_EXAMPLE_BLOBS_H_
#define SNAPUQ_EXAMPLE_BLOBS_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

extern const uint8_t snapuq_model_data[];
extern const uint32_t snapuq_model_data_size;
extern const uint8_t snapuq_inputs_npy[];
extern const uint32_t snapuq_inputs_npy_size;
extern const uint8_t snapuq_labels_npy[];
extern const uint32_t snapuq_labels_npy_size;

#ifdef __cplusplus
}
#endif

#endif /* SNAPUQ_EXAMPLE_BLOBS_H_ */
