//! Self-check of the meter: a loop of known length measured at three sizes. The counts must
//! grow by exactly the loop's instruction count (within the meter's resolution); the host test
//! re-checks the printed numbers.
use crate::board::{hprintln, Meter};

/// Instructions per iteration of `spin` (`subs` + taken `bne`).
const SPIN_INSNS: u64 = 2;

#[inline(never)]
fn spin(iterations: u32) {
    if iterations == 0 {
        return;
    }
    // SAFETY: a register-only count-down loop; it touches no memory and ends at zero.
    unsafe {
        core::arch::asm!(
            "2:",
            "subs {n}, {n}, #1",
            "bne 2b",
            n = inout(reg) iterations => _,
            options(nomem, nostack),
        );
    }
}

/// Prints `calib iters=N count=C` for three sizes and whether the slope is as expected.
pub fn run(meter: &Meter) -> bool {
    let sizes = [1_000u32, 2_000, 4_000];
    let mut counts = [0u64; 3];
    for (c, &n) in counts.iter_mut().zip(&sizes) {
        *c = meter.measure(|| spin(n));
        hprintln!("calib iters={} count={}", n, c);
    }
    let tol = 2 * meter.resolution() + 8;
    let mut ok = true;
    for w in 0..2 {
        let got = counts[w + 1].abs_diff(counts[w]);
        let want = u64::from(sizes[w + 1] - sizes[w]) * SPIN_INSNS;
        // On hardware a cycle count may exceed the instruction count (pipeline, flash wait
        // states), so only the QEMU instruction count is held to the exact slope.
        if meter.unit() == crate::board::Unit::Instructions && got.abs_diff(want) > tol {
            hprintln!("error: meter slope {} for {} instructions", got, want);
            ok = false;
        }
    }
    ok
}
