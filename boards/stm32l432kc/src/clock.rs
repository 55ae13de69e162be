//! Clock tree at datasheet nominal: 80 MHz SYSCLK from the PLL, fed by the 4 MHz MSI.
//!
//! The MSI (the reset clock) is the PLL source so the set-up works on any STM32L432KC board,
//! crystal or not. Sequence and limits from RM0394 (STM32L43x reference manual) §3.3.3 (flash
//! wait states: 4 WS for 64–80 MHz in range 1), §5.1.8 (voltage range 1 is the reset default
//! and allows 80 MHz) and §6.4.4 (RCC_PLLCFGR):
//!
//! * VCO in = MSI / PLLM = 4 / 1 = 4 MHz (4–16 MHz allowed),
//! * VCO out = 4 × PLLN = 4 × 40 = 160 MHz (64–344 MHz),
//! * SYSCLK = VCO / PLLR = 160 / 2 = 80 MHz, AHB, APB1 and APB2 ÷1.
//!
//! Flash prefetch and the instruction and data caches of the flash interface are enabled.
//! Under the `qemu` feature nothing is touched: the MPS2 boards have no RCC at these addresses.

pub use crate::{ClockError, Clocks};

/// Sets SYSCLK to 80 MHz (hardware) or does nothing (QEMU). Call once, first thing in `main`.
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

    const RCC: usize = 0x4002_1000;
    const RCC_CR: Reg = reg(RCC);
    const RCC_CFGR: Reg = reg(RCC + 0x08);
    const RCC_PLLCFGR: Reg = reg(RCC + 0x0C);
    const RCC_APB1ENR1: Reg = reg(RCC + 0x58);
    const PWR_CR1: Reg = reg(0x4000_7000);
    const PWR_SR2: Reg = reg(0x4000_7014);
    const FLASH_ACR: Reg = reg(0x4002_2000);

    const CR_PLLON: u32 = 1 << 24;
    const CR_PLLRDY: u32 = 1 << 25;
    const APB1ENR1_PWREN: u32 = 1 << 28;
    const CR1_VOS_MASK: u32 = 0b11 << 9;
    const CR1_VOS_RANGE1: u32 = 0b01 << 9;
    const SR2_VOSF: u32 = 1 << 10;
    const ACR_LATENCY_MASK: u32 = 0b111;
    const WAIT_STATES: u32 = 4;
    const ACR_PRFTEN: u32 = 1 << 8;
    const ACR_ICEN: u32 = 1 << 9;
    const ACR_DCEN: u32 = 1 << 10;
    /// PLLSRC = MSI (0b01), PLLM = ÷1 (0), PLLN = 40, PLLREN, PLLR = ÷2 (0).
    const PLLCFGR: u32 = 0b01 | (40 << 8) | (1 << 24);
    const CFGR_SW_MASK: u32 = 0b11;
    const CFGR_SW_PLL: u32 = 0b11;
    const CFGR_SWS_MASK: u32 = 0b11 << 2;
    const CFGR_SWS_PLL: u32 = 0b11 << 2;
    /// HPRE (bits 7:4), PPRE1 (10:8), PPRE2 (13:11) all ÷1 (0).
    const CFGR_PRESCALER_MASK: u32 = (0xF << 4) | (0b111 << 8) | (0b111 << 11);
    /// Polls before a ready flag counts as stuck.
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
        RCC_APB1ENR1.modify(0, APB1ENR1_PWREN);
        let _ = RCC_APB1ENR1.read(); // the enable takes effect after this read-back
        PWR_CR1.modify(CR1_VOS_MASK, CR1_VOS_RANGE1);
        wait(PWR_SR2, SR2_VOSF, 0, "VOSF")?;

        // Wait states first: the clock only goes up after flash can follow it.
        FLASH_ACR.modify(
            ACR_LATENCY_MASK,
            WAIT_STATES | ACR_PRFTEN | ACR_ICEN | ACR_DCEN,
        );
        if FLASH_ACR.read() & ACR_LATENCY_MASK != WAIT_STATES {
            return Err(ClockError::FlashLatency(WAIT_STATES));
        }

        RCC_CR.modify(CR_PLLON, 0);
        wait(RCC_CR, CR_PLLRDY, 0, "PLL off")?;
        // The PLL is off, so its whole configuration (module comment) may be written.
        RCC_PLLCFGR.write(PLLCFGR);
        RCC_CR.modify(0, CR_PLLON);
        wait(RCC_CR, CR_PLLRDY, CR_PLLRDY, "PLLRDY")?;

        RCC_CFGR.modify(CFGR_PRESCALER_MASK, 0);
        RCC_CFGR.modify(CFGR_SW_MASK, CFGR_SW_PLL);
        wait(RCC_CFGR, CFGR_SWS_MASK, CFGR_SWS_PLL, "SWS=PLL")?;

        Ok(Clocks {
            sysclk_hz: 80_000_000,
            flash_wait_states: WAIT_STATES,
            configured: true,
        })
    }
}
