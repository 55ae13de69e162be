//! `attach` of the example plan to a mutated model.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    snapuq_fuzz::attach_model(data);
});
