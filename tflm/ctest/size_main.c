/* Minimal Cortex-M image for measuring the flash cost of each SNAP op: keeps the registration
 * tables of the ops selected by -DUSE_PROJECT / -DUSE_SURPRISAL / -DUSE_CALIBRATE alive so that
 * --gc-sections keeps exactly the code they reach. */
#include "tensorflow/lite/micro/micro_common.h"
#include "snapuq.h"

volatile struct TFLMRegistration snapuq_size_sink[3];

int main(void) {
#ifdef USE_PROJECT
  snapuq_size_sink[0] = snapuq_register_SNAP_PROJECT();
#endif
#ifdef USE_SURPRISAL
  snapuq_size_sink[1] = snapuq_register_SNAP_SURPRISAL();
#endif
#ifdef USE_CALIBRATE
  snapuq_size_sink[2] = snapuq_register_SNAP_CALIBRATE();
#endif
  return 0;
}
