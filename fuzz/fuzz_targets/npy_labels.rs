//! `.npy` integer labels (--dev-labels).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    snapuq_fuzz::npy_labels(data);
});
