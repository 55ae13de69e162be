//! Decides whether the `SMLAD` path is compiled.
//!
//! Stable Rust does not expose Arm's (unstable) `dsp` target feature to `cfg`, so we derive it
//! from the target triple: every Armv7E-M core (`thumbv7em-*`: Cortex-M4, M7) has the DSP
//! extension. `SNAPUQ_DSP=0` forces the portable path, `SNAPUQ_DSP=1` forces the DSP path
//! (e.g. for a custom Armv8-M Mainline target whose core has DSP).
fn main() {
    println!("cargo:rerun-if-env-changed=SNAPUQ_DSP");
    println!("cargo:rustc-check-cfg=cfg(snapuq_dsp)");
    let target = std::env::var("TARGET").unwrap_or_default();
    let arm = std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("arm");
    let dsp = match std::env::var("SNAPUQ_DSP").as_deref() {
        Ok("0") => false,
        Ok("1") => arm,
        _ => target.starts_with("thumbv7em-"),
    };
    if dsp {
        println!("cargo:rustc-cfg=snapuq_dsp");
    }
}
