//! Small-MCU (STM32L432KC / QEMU mps2-an386) runner firmware.
#![no_std]
#![no_main]

use cortex_m_rt::entry;

#[entry]
fn main() -> ! {
    snapuq_runner::run()
}
