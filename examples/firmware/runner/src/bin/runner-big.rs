//! Big-MCU (STM32F767ZI / QEMU mps2-an500) runner firmware.
#![no_std]
#![no_main]

use cortex_m_rt::entry;

#[entry]
fn main() -> ! {
    snapuq_runner::run()
}
