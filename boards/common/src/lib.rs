#![no_std]
//! What the two STM32 tier crates share: the instruction/cycle meter, the console, exiting
//! QEMU with a status, an allocator that refuses every request, and the stack high-water mark.
//!
//! The tier crates (`snapuq-board-stm32f767zi`, `snapuq-board-stm32l432kc`) add their memory
//! map (chosen at link time, so an image that does not fit the tier fails to link) and their
//! datasheet constants, and re-export this crate.

pub mod alloc_guard;
pub mod clock;
pub mod console;
pub mod meter;
pub mod mmio;
pub mod once;
pub mod stack;

pub use alloc_guard::RefuseAlloc;
pub use clock::{ClockError, Clocks};
pub use console::exit;
pub use cortex_m_semihosting::{hprint, hprintln};
pub use meter::{Meter, MeterError, Stamp, Unit};
pub use once::{Aligned, TakeOnce};

/// Datasheet facts about one MCU tier, printed by the firmware so every log says what it ran on.
#[derive(Debug, Clone, Copy)]
pub struct Tier {
    /// Tier name used in the paper and the cost table ("Big-MCU", "Small-MCU").
    pub name: &'static str,
    /// Part number of the reference board.
    pub mcu: &'static str,
    /// CPU core.
    pub core: &'static str,
    /// On-chip flash in bytes (the FLASH region length of both memory maps).
    pub flash_bytes: u32,
    /// On-chip SRAM in bytes (the RAM region length of both memory maps).
    pub ram_bytes: u32,
    /// Maximum system clock at datasheet nominal (after PLL set-up).
    pub sysclk_hz: u32,
    /// Clock the core runs at out of reset, before any clock tree set-up.
    pub reset_clk_hz: u32,
    /// QEMU machine that emulates this tier's core (`qemu-system-arm -M ...`).
    pub qemu_machine: &'static str,
    /// QEMU CPU model matching the tier's core (`-cpu ...`).
    pub qemu_cpu: &'static str,
}

impl Tier {
    /// Prints the tier line every firmware log starts with.
    pub fn print_banner(&self) {
        hprintln!(
            "tier={} mcu={} core={} flash={}K ram={}K sysclk={}MHz profile={}",
            self.name,
            self.mcu,
            self.core,
            self.flash_bytes / 1024,
            self.ram_bytes / 1024,
            self.sysclk_hz / 1_000_000,
            if cfg!(feature = "qemu") {
                self.qemu_machine
            } else {
                "hardware"
            }
        );
    }
}
