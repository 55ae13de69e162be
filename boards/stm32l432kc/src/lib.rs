#![no_std]
//! Small-MCU tier: STM32L432KC (Cortex-M4F, 256 KB flash, 64 KB SRAM, 80 MHz). Linking this
//! crate selects the tier's memory map (`memory.x`, or with the `qemu` feature the mps2-an386
//! map with the same sizes), so an image that does not fit fails to link.
//!
//! [`clock::init`] brings the core to the datasheet nominal 80 MHz (PLL from the MSI, 4 flash
//! wait states, prefetch and flash caches on); under QEMU it does nothing.

pub mod clock;

pub use snapuq_board_common::*;

/// Datasheet facts of the Small-MCU tier.
pub const TIER: Tier = Tier {
    name: "Small-MCU",
    mcu: "STM32L432KC",
    core: "Cortex-M4F",
    flash_bytes: 256 * 1024,
    ram_bytes: 64 * 1024,
    sysclk_hz: 80_000_000,
    reset_clk_hz: 4_000_000,
    qemu_machine: "mps2-an386",
    qemu_cpu: "cortex-m4",
};
