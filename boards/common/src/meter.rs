//! Measuring work: core clock cycles on hardware, retired instructions under QEMU.
//!
//! * Hardware: the DWT cycle counter (CYCCNT, 32 bits: wraps after 2^32 cycles, about 20 s at
//!   216 MHz and 53 s at 80 MHz; longer regions are reported modulo 2^32).
//! * QEMU (`qemu` feature): QEMU does not emulate CYCCNT, but with `-icount shift=0` every
//!   instruction advances virtual time by exactly 1 ns, and MMIO reads are made exact at the
//!   instruction that issues them. The MPS2 boards' CMSDK APB timer 0 (0x4000_0000) counts
//!   down at the 25 MHz peripheral clock, i.e. one tick per 40 instructions. A plain
//!   before/after read therefore has a resolution of 40 instructions; we refine it with a
//!   vernier: before the work we wait for a tick edge, and after it we count 4-instruction
//!   spin iterations until the next edge, which brings the resolution to 4 instructions. The
//!   meter's own cost (measured once on an empty closure) is subtracted. Results are
//!   deterministic for a given ELF and input (the whole emulation is), and linear in work.
//!   Without `-icount` the same timer runs on host time and numbers are meaningless.

/// What a [`Meter`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Core clock cycles (DWT CYCCNT on hardware).
    Cycles,
    /// Retired instructions (QEMU `-icount shift=0`).
    Instructions,
}

impl Unit {
    /// Short name printed next to every count ("cycles" / "insns").
    pub fn label(self) -> &'static str {
        match self {
            Unit::Cycles => "cycles",
            Unit::Instructions => "insns",
        }
    }
}

/// Why a meter could not be set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeterError {
    /// `cortex_m::Peripherals::take()` was already called elsewhere.
    PeripheralsTaken,
    /// The core has no DWT cycle counter (DWT_CTRL.NOCYCCNT set).
    NoCycleCounter,
    /// The QEMU timer does not count: QEMU is not an MPS2 board, or was started without a clock.
    TimerNotRunning,
}

impl core::fmt::Display for MeterError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            MeterError::PeripheralsTaken => {
                "core peripherals were already taken; create the Meter before anything else takes them"
            }
            MeterError::NoCycleCounter => "this core has no DWT cycle counter (DWT_CTRL.NOCYCCNT)",
            MeterError::TimerNotRunning => {
                "CMSDK timer 0 at 0x40000000 does not count: run on qemu-system-arm -M mps2-an500/mps2-an386 with -icount shift=0"
            }
        })
    }
}

/// Measures closures. Create one with [`Meter::new`] at start-up.
pub struct Meter {
    overhead: u64,
}

impl Meter {
    /// Starts the counter (DWT on hardware, CMSDK timer under QEMU) and measures the meter's
    /// own overhead so that [`Meter::measure`] reports the closure alone.
    pub fn new() -> Result<Self, MeterError> {
        source::start()?;
        let mut m = Meter { overhead: 0 };
        // The smallest of a few empty measurements: the vernier phase makes single ones vary
        // by up to one spin iteration.
        let mut best = u64::MAX;
        for _ in 0..4 {
            best = best.min(m.raw(|| {}));
        }
        m.overhead = best;
        Ok(m)
    }

    /// What the counts mean.
    pub fn unit(&self) -> Unit {
        source::UNIT
    }

    /// Resolution of one measurement in [`Meter::unit`]s.
    pub fn resolution(&self) -> u64 {
        source::RESOLUTION
    }

    /// Runs `f` once and returns the cycles (hardware) or instructions (QEMU) it took.
    pub fn measure(&self, f: impl FnOnce()) -> u64 {
        self.raw(f).saturating_sub(self.overhead)
    }

    /// Starts a measurement that [`Meter::stop`] ends, for regions that do not fit a closure
    /// (e.g. between an executor's per-op callbacks). Same overhead correction as `measure`,
    /// but the compiler may move unrelated caller code between `start` and `stop`; `measure`
    /// keeps the region to the closure alone.
    #[inline(never)]
    pub fn start(&self) -> Stamp {
        Stamp(source::begin())
    }

    /// Cycles or instructions since `stamp` was taken.
    #[inline(never)]
    pub fn stop(&self, stamp: Stamp) -> u64 {
        source::end(stamp.0).saturating_sub(self.overhead)
    }

    /// Not inlined: the region between the two counter reads is exactly the closure's code
    /// (when inlined, the optimiser was seen moving caller arithmetic into it).
    #[inline(never)]
    fn raw(&self, f: impl FnOnce()) -> u64 {
        let t0 = source::begin();
        f();
        source::end(t0)
    }
}

/// A started measurement (see [`Meter::start`]).
#[derive(Debug, Clone, Copy)]
pub struct Stamp(u32);

#[cfg(not(feature = "qemu"))]
mod source {
    use super::{MeterError, Unit};
    use cortex_m::peripheral::DWT;

    pub const UNIT: Unit = Unit::Cycles;
    pub const RESOLUTION: u64 = 1;

    pub fn start() -> Result<(), MeterError> {
        let mut cp = cortex_m::Peripherals::take().ok_or(MeterError::PeripheralsTaken)?;
        cp.DCB.enable_trace();
        // The Cortex-M7 DWT has a software lock; writing the key is harmless on the M4.
        DWT::unlock();
        if !DWT::has_cycle_counter() {
            return Err(MeterError::NoCycleCounter);
        }
        cp.DWT.set_cycle_count(0);
        cp.DWT.enable_cycle_counter();
        Ok(())
    }

    #[inline(always)]
    pub fn begin() -> u32 {
        DWT::cycle_count()
    }

    #[inline(always)]
    pub fn end(t0: u32) -> u64 {
        u64::from(DWT::cycle_count().wrapping_sub(t0))
    }
}

#[cfg(feature = "qemu")]
mod source {
    use super::{MeterError, Unit};
    use core::ptr::{read_volatile, write_volatile};

    pub const UNIT: Unit = Unit::Instructions;
    pub const RESOLUTION: u64 = SPIN_INSNS;

    /// CMSDK APB timer 0 on the MPS2 FPGA images (AN386, AN500).
    const TIMER0: usize = 0x4000_0000;
    const CTRL: *mut u32 = TIMER0 as *mut u32;
    const VALUE: *mut u32 = (TIMER0 + 0x4) as *mut u32;
    const RELOAD: *mut u32 = (TIMER0 + 0x8) as *mut u32;
    /// 1 GHz of virtual time (icount shift=0) over the 25 MHz peripheral clock.
    const INSNS_PER_TICK: u64 = 40;
    /// Instructions in one iteration of `spin_until_change`.
    const SPIN_INSNS: u64 = 4;

    pub fn start() -> Result<(), MeterError> {
        // SAFETY: fixed MMIO registers of the MPS2 CMSDK timer 0; this crate is their only user
        // and the writes only configure a free-running down counter (no interrupt).
        unsafe {
            write_volatile(CTRL, 0);
            write_volatile(RELOAD, u32::MAX);
            write_volatile(VALUE, u32::MAX);
            write_volatile(CTRL, 1);
        }
        let a = read();
        let mut n = 0u32;
        while read() == a {
            n += 1;
            if n > 1_000 {
                return Err(MeterError::TimerNotRunning);
            }
        }
        Ok(())
    }

    #[inline(always)]
    fn read() -> u32 {
        // SAFETY: reading the timer's VALUE register has no side effects.
        unsafe { read_volatile(VALUE) }
    }

    /// Spins until the timer leaves `from`; returns the new value and the iterations taken.
    /// Written in assembly so that one iteration is exactly `SPIN_INSNS` instructions.
    #[inline(always)]
    fn spin_until_change(from: u32) -> (u32, u32) {
        let mut n: u32 = 0;
        let v: u32;
        // SAFETY: the loop only loads the timer's VALUE register (side-effect free MMIO) and
        // touches the named registers; it ends because the timer counts (checked in `start`).
        unsafe {
            core::arch::asm!(
                "2:",
                "ldr {v}, [{addr}]",
                "adds {n}, {n}, #1",
                "cmp {v}, {from}",
                "beq 2b",
                addr = in(reg) VALUE,
                from = in(reg) from,
                v = out(reg) v,
                n = inout(reg) n,
                options(nostack, readonly),
            );
        }
        (v, n)
    }

    /// Waits for a tick edge so the work starts at a known phase of the 40-instruction tick.
    #[inline(always)]
    pub fn begin() -> u32 {
        spin_until_change(read()).0
    }

    /// Ticks since `t0`'s edge, converted to instructions, minus the instructions between the
    /// end of the work and the next edge (counted by the spin loop).
    #[inline(always)]
    pub fn end(t0: u32) -> u64 {
        let t1 = read();
        let (_, n) = spin_until_change(t1);
        // The counter goes down: the edge after `t1` is tick number t0 - t1 + 1 since `t0`.
        let ticks = u64::from(t0.wrapping_sub(t1)) + 1;
        (ticks * INSNS_PER_TICK).saturating_sub(u64::from(n) * SPIN_INSNS)
    }
}
