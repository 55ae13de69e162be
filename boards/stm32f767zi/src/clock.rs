//! Clock tree at datasheet nominal: 216 MHz SYSCLK from the PLL, fed by the 16 MHz HSI.
//!
//! The HSI is used (not the Nucleo's 8 MHz ST-LINK MCO on HSE bypass) so the set-up works on
//! any STM32F767ZI board without knowing its crystal. Sequence and limits from RM0410 (STM32F76x
//! reference manual) §3.3.2 (flash wait states: 7 WS for 210–216 MHz at 2.7–3.6 V), §4.1.4
//! (over-drive: VOS scale 1, then ODEN/ODSWEN before SYSCLK > 180 MHz) and §5.3.2 (PLLCFGR):
//!
//! * VCO in = HSI / PLLM = 16 / 8 = 2 MHz (1–2 MHz allowed; 2 MHz lowers jitter),
//! * VCO out = 2 × PLLN = 2 × 216 = 432 MHz (100–432 MHz),
//! * SYSCLK = VCO / PLLP = 432 / 2 = 216 MHz, 48 MHz domain = 432 / PLLQ = 432 / 9,
//! * AHB ÷1 (216 MHz), APB1 ÷4 (54 MHz, max 54), APB2 ÷2 (108 MHz, max 108).
//!
//! The ART accelerator and prefetch are enabled (flash at 7 WS is otherwise the bottleneck),
//! and the Cortex-M7 L1 instruction and data caches are switched on, as a product would.
//!
//! Under the `qemu` feature nothing is touched: the MPS2 boards have no RCC at these addresses
//! (an access would fault) and QEMU's timing does not depend on a clock tree.

pub use crate::{ClockError, Clocks};

/// Sets SYSCLK to 216 MHz (hardware) or does nothing (QEMU). Call once, first thing in
/// `main`, before [`crate::Meter::new`] (which takes the core peripherals).
pub fn init() -> Result<Clocks, ClockError> {
    #[cfg(feature = "qemu")]
    {
        Ok(Clocks::emulated(crate::TIER.sysclk_hz))
    }
    #[cfg(not(feature = "qemu"))]
    {
        hw::init()
    }
}

#[cfg(not(feature = "qemu"))]
mod hw {
    use super::{ClockError, Clocks};
    use core::ptr::{read_volatile, write_volatile};

    const RCC: usize = 0x4002_3800;
    const RCC_CR: *mut u32 = RCC as *mut u32;
    const RCC_PLLCFGR: *mut u32 = (RCC + 0x04) as *mut u32;
    const RCC_CFGR: *mut u32 = (RCC + 0x08) as *mut u32;
    const RCC_APB1ENR: *mut u32 = (RCC + 0x40) as *mut u32;
    const PWR: usize = 0x4000_7000;
    const PWR_CR1: *mut u32 = PWR as *mut u32;
    const PWR_CSR1: *mut u32 = (PWR + 0x04) as *mut u32;
    const FLASH_ACR: *mut u32 = 0x4002_3C00 as *mut u32;

    const CR_PLLON: u32 = 1 << 24;
    const CR_PLLRDY: u32 = 1 << 25;
    const APB1ENR_PWREN: u32 = 1 << 28;
    const CR1_VOS_SCALE1: u32 = 0b11 << 14;
    const CR1_ODEN: u32 = 1 << 16;
    const CR1_ODSWEN: u32 = 1 << 17;
    const CSR1_ODRDY: u32 = 1 << 16;
    const CSR1_ODSWRDY: u32 = 1 << 17;
    const ACR_LATENCY_MASK: u32 = 0xF;
    const WAIT_STATES: u32 = 7;
    const ACR_PRFTEN: u32 = 1 << 8;
    const ACR_ARTEN: u32 = 1 << 9;
    /// PLLM = 8, PLLN = 216, PLLP = ÷2 (code 0), PLLSRC = HSI, PLLQ = 9, PLLR = 2 (unused).
    const PLLCFGR: u32 = 8 | (216 << 6) | (9 << 24) | (2 << 28);
    const CFGR_SW_MASK: u32 = 0b11;
    const CFGR_SW_PLL: u32 = 0b10;
    const CFGR_SWS_PLL: u32 = 0b10 << 2;
    const CFGR_SWS_MASK: u32 = 0b11 << 2;
    /// HPRE ÷1 (0), PPRE1 ÷4 (0b101 at bit 10), PPRE2 ÷2 (0b100 at bit 13).
    const CFGR_PRESCALERS: u32 = (0b101 << 10) | (0b100 << 13);
    const CFGR_PRESCALER_MASK: u32 = (0xF << 4) | (0b111 << 10) | (0b111 << 13);
    /// Polls before a ready flag counts as stuck (the slowest, PLL lock, takes ~100 µs).
    const POLLS: u32 = 1_000_000;

    fn read(r: *mut u32) -> u32 {
        // SAFETY: `r` is one of the fixed, always-mapped RCC/PWR/FLASH registers above; reading
        // them has no side effect.
        unsafe { read_volatile(r) }
    }

    fn modify(r: *mut u32, clear: u32, set: u32) {
        let v = (read(r) & !clear) | set;
        // SAFETY: as in `read`; the caller changes only the documented fields of the register,
        // in the order RM0410 prescribes, from the single thread that runs before `main`'s work.
        unsafe { write_volatile(r, v) }
    }

    fn wait(r: *mut u32, mask: u32, want: u32, flag: &'static str) -> Result<(), ClockError> {
        for _ in 0..POLLS {
            if read(r) & mask == want {
                return Ok(());
            }
        }
        Err(ClockError::NotReady(flag))
    }

    pub fn init() -> Result<Clocks, ClockError> {
        modify(RCC_APB1ENR, 0, APB1ENR_PWREN);
        let _ = read(RCC_APB1ENR); // the enable takes effect after this read-back
        modify(PWR_CR1, 0b11 << 14, CR1_VOS_SCALE1);

        // The PLL must be off while PLLCFGR changes (it is, out of reset; be explicit).
        modify(RCC_CR, CR_PLLON, 0);
        wait(RCC_CR, CR_PLLRDY, 0, "PLL off")?;
        // SAFETY: RCC_PLLCFGR is a fixed RCC register; the PLL is off, so writing its whole
        // configuration (documented in the module comment) is allowed.
        unsafe { write_volatile(RCC_PLLCFGR, PLLCFGR) };
        modify(RCC_CR, 0, CR_PLLON);
        wait(RCC_CR, CR_PLLRDY, CR_PLLRDY, "PLLRDY")?;

        modify(PWR_CR1, 0, CR1_ODEN);
        wait(PWR_CSR1, CSR1_ODRDY, CSR1_ODRDY, "ODRDY")?;
        modify(PWR_CR1, 0, CR1_ODSWEN);
        wait(PWR_CSR1, CSR1_ODSWRDY, CSR1_ODSWRDY, "ODSWRDY")?;

        modify(
            FLASH_ACR,
            ACR_LATENCY_MASK,
            WAIT_STATES | ACR_PRFTEN | ACR_ARTEN,
        );
        if read(FLASH_ACR) & ACR_LATENCY_MASK != WAIT_STATES {
            return Err(ClockError::FlashLatency(WAIT_STATES));
        }

        modify(RCC_CFGR, CFGR_PRESCALER_MASK, CFGR_PRESCALERS);
        modify(RCC_CFGR, CFGR_SW_MASK, CFGR_SW_PLL);
        wait(RCC_CFGR, CFGR_SWS_MASK, CFGR_SWS_PLL, "SWS=PLL")?;

        // SAFETY: called once at start-up, before `Meter::new` takes the core peripherals, and
        // only the SCB/CPUID cache-maintenance registers are used here.
        let mut cp = unsafe { cortex_m::Peripherals::steal() };
        cp.SCB.enable_icache();
        cp.SCB.enable_dcache(&mut cp.CPUID);

        Ok(Clocks {
            sysclk_hz: 216_000_000,
            flash_wait_states: WAIT_STATES,
            configured: true,
        })
    }
}
