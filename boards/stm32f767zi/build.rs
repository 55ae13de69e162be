//! Puts the memory map for this tier where cortex-m-rt's `link.x` looks for `memory.x`:
//! `memory.x` (the real part) or, with the `qemu` feature, `memory-qemu.x` (the MPS2 map with
//! the same sizes). Only one board crate is linked into a firmware, so only one `memory.x`
//! is ever on the search path.
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets this"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets this"));
    let src = if std::env::var_os("CARGO_FEATURE_QEMU").is_some() {
        "memory-qemu.x"
    } else {
        "memory.x"
    };
    if let Err(e) = std::fs::copy(manifest.join(src), out.join("memory.x")) {
        panic!("cannot copy {src} into {}: {e}", out.display());
    }
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=memory-qemu.x");
    println!("cargo:rerun-if-changed=build.rs");
}
