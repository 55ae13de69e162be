//! A snapuq-plan/1 JSON file, attached to the example model.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    snapuq_fuzz::plan_json(data);
});
