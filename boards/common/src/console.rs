//! Console and exit through Arm semihosting.
//!
//! Under QEMU (`-semihosting-config enable=on,target=native`) output goes to QEMU's stdout and
//! `exit` ends QEMU with status 0 or 1. On a real board semihosting needs an attached debug
//! probe with semihosting enabled (probe-rs, OpenOCD); without one the first `BKPT` faults.
//! See boards/README.md for the ITM/UART alternative.

/// Ends the program: QEMU exits with status 0 when `ok`, 1 otherwise. On hardware the probe
/// reports the exit; without a probe the core parks in a loop.
pub fn exit(ok: bool) -> ! {
    let status = if ok {
        cortex_m_semihosting::debug::EXIT_SUCCESS
    } else {
        cortex_m_semihosting::debug::EXIT_FAILURE
    };
    cortex_m_semihosting::debug::exit(status);
    loop {
        cortex_m::asm::wfi();
    }
}
