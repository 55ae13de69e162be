//! SNAP_PROJECT's flexbuffer custom options.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    snapuq_fuzz::project_options(data);
});
