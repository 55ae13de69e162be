//! Deterministic inputs generated on the device.
//!
//! The generator is SplitMix64 exactly as `snapuq_testkit::seeded_i8` computes it on the host,
//! so the host test can rebuild every input from the seed the firmware prints.

/// Fills `out` with the int8 sequence `snapuq_testkit::seeded_i8(seed, out.len())` returns.
pub fn seeded_i8(seed: u64, out: &mut [i8]) {
    let mut s = seed;
    for v in out.iter_mut() {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        *v = (z ^ (z >> 31)) as i8;
    }
}
