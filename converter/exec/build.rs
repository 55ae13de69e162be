//! Enables the AVX-512 VNNI conv tile (`cfg(snapuq_avx512)`) when the compiler has the AVX-512
//! intrinsics (stable since Rust 1.89); older compilers (the workspace's 1.88 floor) build the
//! AVX2 and portable paths only.
use std::process::Command;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(snapuq_avx512)");
    println!("cargo:rerun-if-changed=build.rs");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let minor = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|v| {
            let mut parts = v.split_whitespace().nth(1)?.split('.');
            let major: u32 = parts.next()?.parse().ok()?;
            let minor: u32 = parts.next()?.parse().ok()?;
            Some(if major > 1 { u32::MAX } else { minor })
        })
        .unwrap_or(0);
    if minor >= 89 {
        println!("cargo:rustc-cfg=snapuq_avx512");
    }
}
