//! `.npy` data for --calib / --dev / run --input (selector byte + file).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    snapuq_fuzz::npy(data);
});
