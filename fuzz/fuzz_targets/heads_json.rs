//! A snapuq-heads/1 JSON file, resolved against the example model.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    snapuq_fuzz::heads_json(data);
});
