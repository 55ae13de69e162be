//! What the tier crates' `clock::init` report: the clock they set up, or why they could not.
//! The register sequences themselves are per part (`stm32f767zi::clock`, `stm32l432kc::clock`).

/// What a tier's `clock::init` set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clocks {
    /// Core clock after set-up, Hz.
    pub sysclk_hz: u32,
    /// Flash wait states programmed.
    pub flash_wait_states: u32,
    /// False under QEMU (emulated core, no clock tree).
    pub configured: bool,
}

impl Clocks {
    /// What `init` returns under QEMU: nothing configured, the tier's nominal clock assumed.
    pub const fn emulated(sysclk_hz: u32) -> Self {
        Clocks {
            sysclk_hz,
            flash_wait_states: 0,
            configured: false,
        }
    }
}

/// Why the clock tree could not be set up; the core then stays on its reset clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockError {
    /// A ready flag did not rise within the poll budget (named: "PLLRDY", "ODRDY", ...).
    NotReady(&'static str),
    /// FLASH_ACR did not read back the programmed number of wait states.
    FlashLatency(u32),
}

impl core::fmt::Display for ClockError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ClockError::NotReady(flag) => write!(
                f,
                "clock set-up: {flag} did not become ready; the core stays on its reset clock"
            ),
            ClockError::FlashLatency(ws) => write!(
                f,
                "clock set-up: FLASH_ACR did not accept {ws} wait states; the core stays on its reset clock"
            ),
        }
    }
}
