//! Build script of cmsis-nn-sys.
//!
//! - `CMSIS_NN_DIR`: a CMSIS-NN tree (`Include/arm_nnfunctions.h`, `Source/`); default
//!   `../shared/tflm/cmsis-nn/third_party/cmsis_nn` beside the workspace (the copy inside the
//!   TFLM CMSIS-NN export). Missing: the build fails naming `CMSIS_NN_DIR`.
//! - Always: bindgen generates the declarations of `arm_nnfunctions.h` for the target being
//!   built (so Rust's view of every signature comes from the header and cannot drift, the way
//!   the hand-written `arm_vector_sum_s8` did).
//! - Feature `build`: compiles `Source/FullyConnectedFunctions` and `Source/NNSupportFunctions`
//!   (what `arm_fully_connected_s8` and `arm_vector_sum_s8` need) with `cc` for the target:
//!   the host compiler on hosts (CMSIS-NN's portable C paths), `arm-none-eabi-gcc` for
//!   `thumbv7em-*` (its DSP paths, `__ARM_FEATURE_DSP`).
use std::env;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CMSIS_NN_DIR");
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let dir = cmsis_nn_dir(&manifest.join("../.."));
    println!("cargo:rerun-if-changed={}", dir.join("Include").display());
    println!("cargo:rerun-if-changed={}", dir.join("Source").display());
    let target = env::var("TARGET").expect("cargo sets TARGET");
    let bare_arm = target.starts_with("thumb") && target.contains("-none-");
    if env::var_os("CARGO_FEATURE_BUILD").is_some() {
        compile(&dir, bare_arm);
    }
    bindings(&dir, &target, bare_arm);
}

fn cmsis_nn_dir(workspace: &Path) -> PathBuf {
    let (dir, from_env) = match env::var_os("CMSIS_NN_DIR") {
        Some(d) if !d.is_empty() => (PathBuf::from(d), true),
        _ => (
            workspace.join("../shared/tflm/cmsis-nn/third_party/cmsis_nn"),
            false,
        ),
    };
    let probe = dir.join("Include/arm_nnfunctions.h");
    if !probe.is_file() {
        let what = if from_env {
            format!("CMSIS_NN_DIR={} is not CMSIS-NN", dir.display())
        } else {
            format!(
                "CMSIS_NN_DIR is not set and the default CMSIS-NN tree {} does not exist",
                dir.display()
            )
        };
        panic!(
            "cmsis-nn-sys: {what} ({} is missing). Set CMSIS_NN_DIR to a CMSIS-NN tree \
             (https://github.com/ARM-software/CMSIS-NN, or third_party/cmsis_nn of a TFLM \
             export made with OPTIMIZED_KERNEL_DIR=cmsis_nn)",
            probe.display()
        );
    }
    dir.canonicalize().unwrap_or(dir)
}

#[cfg(feature = "build")]
fn compile(dir: &Path, bare_arm: bool) {
    let mut b = cc::Build::new();
    b.include(dir.join("Include"))
        .include(dir)
        .opt_level(2)
        .debug(false)
        .warnings(false)
        .flag("-std=c11");
    if bare_arm {
        b.flag("-ffunction-sections").flag("-fdata-sections");
    }
    let mut n = 0;
    for sub in ["FullyConnectedFunctions", "NNSupportFunctions"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("Source").join(sub))
            .unwrap_or_else(|e| {
                panic!(
                    "cmsis-nn-sys: cannot read {}/Source/{sub}: {e}",
                    dir.display()
                )
            })
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "c"))
            .collect();
        files.sort();
        n += files.len();
        b.files(files);
    }
    b.compile("cmsis_nn");
    println!(
        "cargo:warning=cmsis-nn-sys: compiled {n} CMSIS-NN sources from {}",
        dir.display()
    );
}

#[cfg(not(feature = "build"))]
fn compile(_: &Path, _: bool) {}

fn bindings(dir: &Path, target: &str, bare_arm: bool) {
    let mut b = bindgen::Builder::default()
        .header(dir.join("Include/arm_nnfunctions.h").to_string_lossy())
        .clang_arg(format!("-I{}", dir.join("Include").display()))
        .clang_arg(format!("-I{}", dir.display()))
        .allowlist_function("arm_fully_connected_s8")
        .allowlist_function("arm_fully_connected_s8_get_buffer_size")
        .allowlist_function("arm_vector_sum_s8")
        .allowlist_type("cmsis_nn_.*")
        .allowlist_type("arm_cmsis_nn_status")
        .use_core()
        .layout_tests(false)
        .derive_default(true)
        .derive_eq(true)
        .generate_comments(false);
    if bare_arm {
        // What a firmware compiles CMSIS-NN with: arm-none-eabi-gcc (short enums) and newlib.
        b = b
            .clang_arg(format!("--target={target}"))
            .clang_arg("-fshort-enums")
            .clang_arg("-ffreestanding");
        for inc in [
            "/usr/lib/arm-none-eabi/include",
            "/usr/arm-none-eabi/include",
        ] {
            if Path::new(inc).is_dir() {
                b = b.clang_arg(format!("-isystem{inc}"));
            }
        }
    }
    let out = b.generate().unwrap_or_else(|e| {
        panic!(
            "cmsis-nn-sys: bindgen could not parse {}/Include/arm_nnfunctions.h for {target}: \
             {e}. bindgen needs libclang and clang's builtin headers (apt-get install \
             libclang-dev); Arm targets also need newlib's headers (libnewlib-arm-none-eabi)",
            dir.display()
        )
    });
    let path = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("bindings.rs");
    out.write_to_file(&path)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}
