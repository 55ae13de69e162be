/* C11 user of snapuq.h: fetches the three registrations through the C ABI. */
#include <stdio.h>
#include <string.h>

#include "tensorflow/lite/micro/micro_common.h"
#include "snapuq.h"

static int check(struct TFLMRegistration r, const char* name) {
  if (r.init == NULL || r.free == NULL || r.prepare == NULL || r.invoke == NULL ||
      r.reset == NULL) {
    fprintf(stderr, "%s: missing callback\n", name);
    return 1;
  }
  if (r.custom_name == NULL || strcmp(r.custom_name, name) != 0) {
    fprintf(stderr, "%s: custom_name is %s\n", name, r.custom_name ? r.custom_name : "(null)");
    return 1;
  }
  printf("%s ok\n", name);
  return 0;
}

int main(void) {
  int bad = 0;
  bad += check(snapuq_register_SNAP_PROJECT(), SNAPUQ_SNAP_PROJECT_NAME);
  bad += check(snapuq_register_SNAP_SURPRISAL(), SNAPUQ_SNAP_SURPRISAL_NAME);
  bad += check(snapuq_register_SNAP_CALIBRATE(), SNAPUQ_SNAP_CALIBRATE_NAME);
  printf("abi %u\n", snapuq_abi_version());
  return bad == 0 && snapuq_abi_version() >= 1 ? 0 : 1;
}
