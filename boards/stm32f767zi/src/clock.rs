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
    use crate::mmio::Reg;

    const RCC: usize = 0x4002_3800;
    const RCC_CR: Reg = reg(RCC);
    const RCC_PLLCFGR: Reg = reg(RCC + 0x04);
    const RCC_CFGR: Reg = reg(RCC + 0x08);
    const RCC_APB1ENR: Reg = reg(RCC + 0x40);
    const PWR: usize = 0x4000_7000;
    const PWR_CR1: Reg = reg(PWR);
    const PWR_CSR1: Reg = reg(PWR + 0x04);
    const FLASH_ACR: Reg = reg(0x4002_3C00);

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

    /// SAFETY (of every `reg` below): the addresses are this part's RCC, PWR and FLASH
    /// registers from its reference manual, always mapped, side-effect-free to read, and
    /// written only by this start-up code.
    const fn reg(addr: usize) -> Reg {
        // SAFETY: see above; only called with the constants of this module.
        unsafe { Reg::new(addr) }
    }

    fn wait(r: Reg, mask: u32, want: u32, flag: &'static str) -> Result<(), ClockError> {
        if r.wait(mask, want, POLLS) {
            Ok(())
        } else {
            Err(ClockError::NotReady(flag))
        }
    }

    pub fn init() -> Result<Clocks, ClockError> {
        RCC_APB1ENR.modify(0, APB1ENR_PWREN);
        let _ = RCC_APB1ENR.read(); // the enable takes effect after this read-back
        PWR_CR1.modify(0b11 << 14, CR1_VOS_SCALE1);

        // The PLL must be off while PLLCFGR changes (it is, out of reset; be explicit).
        RCC_CR.modify(CR_PLLON, 0);
        wait(RCC_CR, CR_PLLRDY, 0, "PLL off")?;
        // The PLL is off, so its whole configuration (module comment) may be written.
        RCC_PLLCFGR.write(PLLCFGR);
        RCC_CR.modify(0, CR_PLLON);
        wait(RCC_CR, CR_PLLRDY, CR_PLLRDY, "PLLRDY")?;

        PWR_CR1.modify(0, CR1_ODEN);
        wait(PWR_CSR1, CSR1_ODRDY, CSR1_ODRDY, "ODRDY")?;
        PWR_CR1.modify(0, CR1_ODSWEN);
        wait(PWR_CSR1, CSR1_ODSWRDY, CSR1_ODSWRDY, "ODSWRDY")?;

        FLASH_ACR.modify(ACR_LATENCY_MASK, WAIT_STATES | ACR_PRFTEN | ACR_ARTEN);
        if FLASH_ACR.read() & ACR_LATENCY_MASK != WAIT_STATES {
            return Err(ClockError::FlashLatency(WAIT_STATES));
        }

        RCC_CFGR.modify(CFGR_PRESCALER_MASK, CFGR_PRESCALERS);
        RCC_CFGR.modify(CFGR_SW_MASK, CFGR_SW_PLL);
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
