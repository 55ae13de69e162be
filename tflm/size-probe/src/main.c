/* Keeps the probes selected by -DUSE_PROJECT / -DUSE_SURPRISAL / -DUSE_CALIBRATE alive. */
#include <stddef.h>
struct Io;
int probe_project(const struct Io *);
int probe_surprisal(const struct Io *);
int probe_calibrate(const struct Io *);
volatile const struct Io *probe_io;
volatile int probe_sink;
int main(void) {
#ifdef USE_PROJECT
  probe_sink = probe_project((const struct Io *)probe_io);
#endif
#ifdef USE_SURPRISAL
  probe_sink = probe_surprisal((const struct Io *)probe_io);
#endif
#ifdef USE_CALIBRATE
  probe_sink = probe_calibrate((const struct Io *)probe_io);
#endif
  return 0;
}
