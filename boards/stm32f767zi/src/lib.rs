#![no_std]
//! Big-MCU tier: STM32F767ZI (Cortex-M7 with double-precision FPU, 2 MB flash, 512 KB SRAM,
//! 216 MHz). Linking this crate selects the tier's memory map (`memory.x`, or with the `qemu`
//! feature the mps2-an500 map with the same sizes), so an image that does not fit fails to link.
//!
//! [`clock::init`] brings the core to the datasheet nominal 216 MHz (PLL from the HSI, 7 flash
//! wait states, ART and L1 caches on); under QEMU it does nothing.

pub mod clock;

pub use snapuq_board_common::*;

/// Datasheet facts of the Big-MCU tier.
pub const TIER: Tier = Tier {
    name: "Big-MCU",
    mcu: "STM32F767ZI",
    core: "Cortex-M7",
    flash_bytes: 2048 * 1024,
    ram_bytes: 512 * 1024,
    sysclk_hz: 216_000_000,
    reset_clk_hz: 16_000_000,
    qemu_machine: "mps2-an500",
    qemu_cpu: "cortex-m7",
};
