#![no_std]
//! The runner firmware's body, shared by the `runner-big` and `runner-small` binaries.
//!
//! It prints one `key=value` line per result so the host test (tests/firmware_qemu.rs) can
//! parse them and compare with the same library functions run on the host, then exits QEMU
//! with status 0 only if every step succeeded.

#[cfg(all(feature = "big", feature = "small"))]
compile_error!("enable exactly one tier feature: `big` or `small`, not both");
#[cfg(not(any(feature = "big", feature = "small")))]
compile_error!(
    "enable a tier feature: `--features big` (STM32F767ZI) or `--features small` (STM32L432KC)"
);

#[cfg(feature = "big")]
pub use snapuq_board_stm32f767zi as board;
#[cfg(all(feature = "small", not(feature = "big")))]
pub use snapuq_board_stm32l432kc as board;

// Panics (including refused allocations) print through semihosting and exit with failure.
use panic_semihosting as _;

mod data;
mod dot_check;
mod meter_check;
mod model;
mod snap;

use board::{hprintln, Meter, RefuseAlloc};

/// Our code never allocates; any dependency that tries fails loudly instead of growing a heap.
#[global_allocator]
static ALLOCATOR: RefuseAlloc = RefuseAlloc;

/// With `ballast`, a static that (with the arena and the interpreter) leaves about 1 KB of the
/// tier's RAM, less than either tier's stack reserve: it fits the RAM region, so only the
/// stack-reserve assertion of the tier's memory map can (and must) stop the link.
#[cfg(feature = "ballast")]
#[used]
static mut BALLAST: [u8; BALLAST_BYTES] = [0; BALLAST_BYTES];
#[cfg(feature = "ballast")]
const BALLAST_BYTES: usize = board::TIER.ram_bytes as usize - 1024 - model::STATIC_BYTES - 256;

/// A fault (e.g. the stack running into .bss) prints and exits with failure instead of hanging.
#[cortex_m_rt::exception]
unsafe fn HardFault(frame: &cortex_m_rt::ExceptionFrame) -> ! {
    hprintln!("error: hard fault at pc={:#010x}", frame.pc());
    board::exit(false)
}

/// Runs every step and exits QEMU (status 0 when all passed).
pub fn run() -> ! {
    // The datasheet nominal clock first (a no-op under QEMU), before the meter takes the core
    // peripherals; on failure the core keeps its reset clock and the counts stay valid.
    match board::clock::init() {
        Ok(c) => hprintln!(
            "clock sysclk={}MHz flash_ws={} configured={}",
            c.sysclk_hz / 1_000_000,
            c.flash_wait_states,
            c.configured
        ),
        Err(e) => hprintln!("warning: {}", e),
    }
    board::TIER.print_banner();
    let meter = match Meter::new() {
        Ok(m) => m,
        Err(e) => {
            hprintln!("error: {}", e);
            board::exit(false);
        }
    };
    hprintln!(
        "meter unit={} resolution={}",
        meter.unit().label(),
        meter.resolution()
    );
    let mut ok = true;
    ok &= meter_check::run(&meter);
    ok &= dot_check::run(&meter);
    ok &= model::run(&meter);
    hprintln!(
        "stack used={} reserve={}",
        board::stack::high_water_bytes(),
        board::stack::reserve_bytes()
    );
    hprintln!("done {}", if ok { "ok" } else { "failed" });
    board::exit(ok)
}
