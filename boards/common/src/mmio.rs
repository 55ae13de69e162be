//! Memory-mapped 32-bit registers for the tier crates' bring-up code (clock tree set-up): one
//! `unsafe` promise per register address, where it is declared, and safe read / modify / poll
//! operations after that.
use core::ptr::{read_volatile, write_volatile};

/// A 32-bit device register at a fixed address.
#[derive(Clone, Copy, Debug)]
pub struct Reg(*mut u32);

// SAFETY: a `Reg` is only an address; the single-threaded start-up code is its only user.
unsafe impl Sync for Reg {}

impl Reg {
    /// # Safety
    /// `addr` must be a word-aligned, always-mapped device register of the part the firmware
    /// runs on, whose reads have no side effects, and which only this firmware's start-up
    /// code writes.
    pub const unsafe fn new(addr: usize) -> Self {
        Reg(addr as *mut u32)
    }

    /// The register's value.
    pub fn read(self) -> u32 {
        // SAFETY: `Reg::new`'s contract: a mapped register whose reads have no side effects.
        unsafe { read_volatile(self.0) }
    }

    /// Writes the whole register.
    pub fn write(self, value: u32) {
        // SAFETY: `Reg::new`'s contract: a mapped register that only start-up code writes.
        unsafe { write_volatile(self.0, value) }
    }

    /// Clears the bits of `clear`, then sets those of `set` (read-modify-write).
    pub fn modify(self, clear: u32, set: u32) {
        self.write((self.read() & !clear) | set);
    }

    /// Polls up to `polls` times until `value & mask == want`; false if it never did.
    pub fn wait(self, mask: u32, want: u32, polls: u32) -> bool {
        (0..polls).any(|_| self.read() & mask == want)
    }
}
