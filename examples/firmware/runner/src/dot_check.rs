//! int8 dot products through `snapuq-ops` (the `DotS8` hook every SNAP kernel uses) with the
//! portable loop and `snapuq-cmsis`'s DSP path, measured; plus the DSP path's own self-check.
//!
//! Prints `dot impl=NAME seed=S len=N value=V count=C`; the host test recomputes `value` with
//! the same library function on `seeded_i8(S, N)` · `seeded_i8(S + 1, N)`.
use crate::board::{hprintln, Meter};
use crate::data::seeded_i8;
use snapuq_cmsis::dsp::USES_SMLAD;
use snapuq_cmsis::{self_check, DspDot};
use snapuq_ops::{DotS8, PortableDot};

/// Longest vector measured (the ops' channel limit is far above; this keeps the stack small).
const MAX_LEN: usize = 1024;

/// The (seed, length) pairs measured: odd lengths exercise the tails of unrolled paths.
const CASES: [(u64, usize); 4] = [(1, 16), (2, 255), (3, 1024), (4, 1021)];

// Never inlined: its two vectors must not stay in the caller's frame while the model runs.
#[inline(never)]
fn one<D: DotS8>(meter: &Meter, name: &str, seed: u64, len: usize) {
    let mut a = [0i8; MAX_LEN];
    let mut b = [0i8; MAX_LEN];
    seeded_i8(seed, &mut a[..len]);
    seeded_i8(seed + 1, &mut b[..len]);
    let mut value = 0i32;
    let count = meter.measure(|| value = D::dot(&a[..len], &b[..len]));
    hprintln!(
        "dot impl={} seed={} len={} value={} count={}",
        name,
        seed,
        len,
        value,
        count
    );
}

/// Runs every case through every dot implementation the firmware has.
/// Prints `dsp smlad=BOOL selfcheck=N` (N comparisons passed) or the first mismatch.
pub fn run(meter: &Meter) -> bool {
    for &(seed, len) in &CASES {
        one::<PortableDot>(meter, "portable", seed, len);
        one::<DspDot>(meter, "dsp", seed, len);
    }
    match self_check(0x5eed, 8) {
        Ok(n) => {
            hprintln!("dsp smlad={} selfcheck={}", USES_SMLAD, n);
            true
        }
        Err(m) => {
            hprintln!(
                "error: DspDot differs from the scalar dot: case={} len={} got={} want={}",
                m.case,
                m.len,
                m.got,
                m.want
            );
            false
        }
    }
}
