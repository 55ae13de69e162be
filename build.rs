//! Workspace build script: tells the integration tests where the shared reference material
//! lives (models, CIFAR-10 images). `SNAPUQ_SHARED` overrides the default `../shared`.
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=SNAPUQ_SHARED");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets this"));
    let shared = std::env::var("SNAPUQ_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|_| manifest.join("..").join("shared"));
    println!("cargo:rustc-env=SNAPUQ_DEFAULT_SHARED={}", shared.display());
}
