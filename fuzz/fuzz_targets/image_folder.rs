//! A folder of images / class subfolders, built from the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    snapuq_fuzz::image_folder(data);
});
