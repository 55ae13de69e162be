/* Startup for both tiers (Cortex-M4F and Cortex-M7), hardware and QEMU: vector table, FPU on,
 * .data copied from flash, .bss zeroed, newlib's semihosting console (librdimon) opened, C++
 * constructors run, then main(); its return value becomes the semihosting exit status.
 *
 * We link with -nostartfiles and do not use newlib's rdimon-crt0: that crt0 asks the debugger
 * (SYS_HEAPINFO) where the stack and heap go, and QEMU answers with addresses based on the
 * machine's full RAM, not on the tier's 64 KB / 512 KB, so the tier limits would not hold. */
#include <stdint.h>
#include <stdlib.h>

#include "support.h"

extern uint32_t __snapuq_data_start[], __snapuq_data_end[], __snapuq_data_load[];
extern uint32_t __snapuq_bss_start[], __snapuq_bss_end[];
extern uint32_t __snapuq_stack_top[], __snapuq_heap_limit[];

/* librdimon: the top of the heap (_sbrk refuses to grow past it) and the console set-up. */
extern unsigned int __heap_limit;
extern void initialise_monitor_handles(void);
extern void __libc_init_array(void);
extern int main(void);

void Reset_Handler(void);
void snapuq_fault_handler(void);

/* __libc_init_array calls _init after the preinit arrays; crti.o, which would define it, is
 * not linked (-nostartfiles). */
void _init(void) {}
void _fini(void) {}

/* Cortex-M system exceptions (no peripheral interrupts are used). */
__attribute__((section(".isr_vector"), used)) void (*const snapuq_vectors[16])(void) = {
    (void (*)(void))__snapuq_stack_top,
    Reset_Handler,
    snapuq_fault_handler, /* NMI */
    snapuq_fault_handler, /* HardFault */
    snapuq_fault_handler, /* MemManage */
    snapuq_fault_handler, /* BusFault */
    snapuq_fault_handler, /* UsageFault */
    0,
    0,
    0,
    0,
    snapuq_fault_handler, /* SVCall */
    snapuq_fault_handler, /* DebugMonitor */
    0,
    snapuq_fault_handler, /* PendSV */
    snapuq_fault_handler, /* SysTick */
};

#define SCB_CPACR (*(volatile uint32_t*)0xE000ED88u)

void Reset_Handler(void) {
  /* CP10/CP11 full access: the code is built for the hard-float ABI. */
  SCB_CPACR |= 0xFu << 20;
  __asm__ volatile("dsb\n\tisb" ::: "memory");

  uint32_t* src = __snapuq_data_load;
  for (uint32_t* dst = __snapuq_data_start; dst < __snapuq_data_end;) *dst++ = *src++;
  for (uint32_t* dst = __snapuq_bss_start; dst < __snapuq_bss_end;) *dst++ = 0;

  __heap_limit = (unsigned int)(uintptr_t)__snapuq_heap_limit;
  initialise_monitor_handles();
  __libc_init_array();
  exit(main());
}

/* Any fault or unexpected exception: say so on the console (raw semihosting, no newlib state
 * is trusted here) and stop with a failure status. */
void snapuq_fault_handler(void) {
  semihost_write0("FAULT: unexpected exception or fault; stopping\n");
  semihost_exit_failure();
}
