//! Build script of snapuq-tflm.
//!
//! - feature `harness`: compiles `harness/report_error.c` (the variadic `ReportError` of the
//!   test harness; stable Rust cannot define a C variadic function).
//! - feature `bindgen`: when `TFLM_DIR` points at a TFLM checkout, generates the layouts of
//!   `TfLiteContext`, `TfLiteNode`, `TfLiteEvalTensor`, `TfLiteIntArray`, `TfLitePtrUnion` and
//!   `TFLMRegistration` from its headers (with `TF_LITE_STATIC_MEMORY`, for the target being
//!   built) into `$OUT_DIR/tflm_bindings.rs`; `src/ffi/bindgen_check.rs` then compares every
//!   size and member offset with our mirrors at compile time, so any difference fails the build.
//!   Without `TFLM_DIR` the check is skipped with a build warning saying so.
use std::env;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-check-cfg=cfg(snapuq_tflm_bindgen)");
    if env::var_os("CARGO_FEATURE_HARNESS").is_some() {
        harness();
    }
    if env::var_os("CARGO_FEATURE_BINDGEN").is_some() {
        bindgen_check();
    }
}

#[cfg(feature = "harness")]
fn harness() {
    println!("cargo:rerun-if-changed=harness/report_error.c");
    cc::Build::new()
        .file("harness/report_error.c")
        .warnings(true)
        .compile("snapuq_tflm_harness");
}

#[cfg(not(feature = "harness"))]
fn harness() {}

#[cfg(feature = "bindgen")]
fn bindgen_check() {
    use std::path::PathBuf;
    println!("cargo:rerun-if-env-changed=TFLM_DIR");
    let Some(dir) = env::var_os("TFLM_DIR").map(PathBuf::from) else {
        println!(
            "cargo:warning=snapuq-tflm: TFLM layout check SKIPPED: set TFLM_DIR to a \
             tflite-micro checkout to compare our #[repr(C)] mirrors with its headers"
        );
        return;
    };
    let common = dir.join("tensorflow/lite/c/common.h");
    let micro_common = dir.join("tensorflow/lite/micro/micro_common.h");
    for h in [&common, &micro_common] {
        if !h.is_file() {
            panic!(
                "TFLM_DIR={} does not look like a tflite-micro checkout: {} is missing",
                dir.display(),
                h.display()
            );
        }
        println!("cargo:rerun-if-changed={}", h.display());
    }
    let target = env::var("TARGET").expect("cargo sets TARGET");
    let mut builder = bindgen::Builder::default()
        .header_contents(
            "snapuq_tflm_layout.h",
            "#include \"tensorflow/lite/c/common.h\"\n\
             #include \"tensorflow/lite/micro/micro_common.h\"\n",
        )
        .clang_arg("-xc++")
        .clang_arg("-std=c++17")
        .clang_arg("-DTF_LITE_STATIC_MEMORY")
        .clang_arg(format!("-I{}", dir.display()))
        .clang_arg(format!("--target={}", clang_target(&target)))
        .use_core()
        .layout_tests(false)
        .derive_default(false)
        .generate_comments(false);
    if target.starts_with("thumb") && target.contains("-none-") {
        // TFLM firmware is built with arm-none-eabi-gcc, whose default is -fshort-enums.
        builder = builder.clang_arg("-fshort-enums");
        // TFLM's headers include <stdio.h> and, in C++, <utility>: the C++ and newlib headers
        // arm-none-eabi-g++ itself uses (libstdc++-arm-none-eabi-newlib,
        // libnewlib-arm-none-eabi), without GCC's internal ones (clang has its own).
        for inc in arm_gxx_include_dirs() {
            builder = builder.clang_arg(format!("-isystem{inc}"));
        }
    }
    for t in [
        "TfLiteContext",
        "TfLiteNode",
        "TfLiteEvalTensor",
        "TfLiteIntArray",
        "TfLitePtrUnion",
        "TFLMRegistration",
    ] {
        builder = builder.allowlist_type(t);
    }
    let bindings = builder.generate().unwrap_or_else(|e| {
        panic!(
            "bindgen could not parse the TFLM headers under {}: {e} (bindgen needs libclang \
             and clang's builtin headers: apt-get install libclang-dev; Arm targets also need \
             newlib's headers: apt-get install libnewlib-arm-none-eabi)",
            dir.display()
        )
    });
    let out =
        PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("tflm_bindings.rs");
    bindings
        .write_to_file(&out)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
    println!("cargo:rustc-cfg=snapuq_tflm_bindgen");
    println!(
        "cargo:warning=snapuq-tflm: TFLM layout check ON against {} (target {target})",
        dir.display()
    );
}

/// The system include directories of `arm-none-eabi-g++` for Cortex-M4F, minus GCC's own.
#[cfg(feature = "bindgen")]
fn arm_gxx_include_dirs() -> Vec<String> {
    let out = std::process::Command::new("arm-none-eabi-g++")
        .args([
            "-mthumb",
            "-mcpu=cortex-m4",
            "-mfloat-abi=hard",
            "-mfpu=fpv4-sp-d16",
            "-xc++",
            "-E",
            "-v",
            "/dev/null",
        ])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "the bindgen check for Arm needs arm-none-eabi-g++ for its C++ and newlib \
                 headers (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi \
                 libstdc++-arm-none-eabi-newlib): {e}"
            )
        });
    let text = String::from_utf8_lossy(&out.stderr);
    let dirs: Vec<String> = text
        .lines()
        .skip_while(|l| !l.starts_with("#include <...>"))
        .skip(1)
        .take_while(|l| !l.starts_with("End of search list"))
        .map(|l| l.trim().to_string())
        .filter(|d| !d.contains("/lib/gcc/arm-none-eabi/") || d.contains("/../../../"))
        .collect();
    if !dirs.iter().any(|d| d.contains("c++")) {
        panic!(
            "arm-none-eabi-g++ has no C++ headers (needed for TFLM's <utility>): apt-get \
             install libstdc++-arm-none-eabi-newlib"
        );
    }
    dirs
}

/// Rust target triple → clang triple for the ABIs we ship.
#[cfg(feature = "bindgen")]
fn clang_target(rust: &str) -> String {
    match rust {
        "thumbv7em-none-eabihf" => "thumbv7em-none-eabihf".into(),
        "thumbv7em-none-eabi" => "thumbv7em-none-eabi".into(),
        "thumbv8m.main-none-eabihf" => "thumbv8m.main-none-eabihf".into(),
        other => other.into(),
    }
}

#[cfg(not(feature = "bindgen"))]
fn bindgen_check() {}
