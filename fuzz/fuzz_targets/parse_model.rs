//! Arbitrary bytes through load → validate → queries → write → re-load.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    snapuq_model::fuzzing::parse_model(data);
});
