//! One executor run (SNAP ops included) of a mutated model.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    snapuq_fuzz::run_model(data);
});
