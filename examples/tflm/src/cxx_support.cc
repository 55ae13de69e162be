// The few C++ runtime hooks a -fno-exceptions -fno-rtti TFLM image needs, kept minimal so the
// linker does not pull libstdc++'s exception machinery into the tier's flash.
#include <cstddef>
#include <cstdlib>

#include "support.h"

extern "C" void __cxa_pure_virtual() {
  semihost_write0("FAULT: pure virtual function called\n");
  semihost_exit_failure();
}

// Nothing here allocates with new; these only satisfy the references of virtual destructors.
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
