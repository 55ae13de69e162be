//! `libsnapuq_tflm.a` for Cortex-M4F/M7 (`thumbv7em-none-eabihf`): it must build (also with
//! `cmsis-nn`), link into a bare-metal image with `arm-none-eabi-gcc --gc-sections`, contain the
//! SMLAD fast path, and we report the flash each op costs: the `.text + .data` growth of a
//! minimal image that keeps that op's registration, over the same image without it.
mod tflm_common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use tflm_common::*;

const TARGET: &str = "thumbv7em-none-eabihf";
const CFLAGS: [&str; 8] = [
    "-mcpu=cortex-m4",
    "-mthumb",
    "-mfloat-abi=hard",
    "-mfpu=fpv4-sp-d16",
    "-Os",
    "-ffunction-sections",
    "-fdata-sections",
    "-std=c11",
];

/// Links `size_main.c` with `defines` against the library; returns (text, data) in bytes.
fn image(lib: &Path, dir: &Path, tag: &str, defines: &[&str]) -> (u64, u64) {
    let [inc, testing] = include_dirs();
    let elf = dir.join(format!("{tag}.elf"));
    run(Command::new("arm-none-eabi-gcc")
        .args(CFLAGS)
        .args(defines.iter().map(|d| format!("-D{d}")))
        .arg(format!("-I{}", inc.display()))
        .arg(format!("-I{}", testing.display()))
        .arg(ctest("size_main.c"))
        .arg(lib)
        .args([
            "-Wl,--gc-sections",
            "--specs=nosys.specs",
            "--specs=nano.specs",
            "-lm",
            "-o",
        ])
        .arg(&elf));
    let out = run(Command::new("arm-none-eabi-size").arg(&elf));
    let nums: Vec<u64> = out
        .lines()
        .nth(1)
        .unwrap_or("")
        .split_whitespace()
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    assert_eq!(
        nums.len(),
        2,
        "cannot parse arm-none-eabi-size output:\n{out}"
    );
    (nums[0], nums[1])
}

/// Per-op flash cost of one build of the library: (op, grown bytes, text, data).
fn sizes(lib: &Path, tag: &str) -> BTreeMap<&'static str, (u64, u64, u64)> {
    let dir = nested_target_dir().join("size").join(tag);
    std::fs::create_dir_all(&dir).unwrap();
    let base = image(lib, &dir, "base", &[]);
    let mut report = BTreeMap::new();
    for (name, def) in [
        ("SNAP_PROJECT", vec!["USE_PROJECT"]),
        ("SNAP_SURPRISAL", vec!["USE_SURPRISAL"]),
        ("SNAP_CALIBRATE", vec!["USE_CALIBRATE"]),
        (
            "all three",
            vec!["USE_PROJECT", "USE_SURPRISAL", "USE_CALIBRATE"],
        ),
    ] {
        let (text, data) = image(lib, &dir, &name.replace(' ', "_"), &def);
        let grown = (text + data) - (base.0 + base.1);
        assert!(
            grown > 0,
            "{name} adds no code: the registration was not linked"
        );
        report.insert(name, (grown, text - base.0, data - base.1));
    }
    eprintln!("thumbv7em-none-eabihf flash cost, {tag} (image growth over an empty main):");
    for (name, (grown, text, data)) in &report {
        eprintln!("  {name:<15} {grown:>6} bytes (.text {text}, .data {data})");
    }
    report
}

#[test]
fn thumbv7em_staticlib_builds_links_and_reports_op_sizes() {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains(TARGET))
        .unwrap_or(true);
    if !installed {
        assert!(!require("rustup-target-thumbv7em-none-eabihf"));
        return;
    }
    // The CMSIS-NN variant must build too (it links only with the firmware's CMSIS-NN).
    let nn = build_staticlib_profile(Some(TARGET), "firmware", &["cmsis-nn"]);
    let undefined = run(Command::new("nm").args(["-u"]).arg(&nn.path));
    assert!(
        undefined.contains("arm_fully_connected_s8"),
        "cmsis-nn build must call CMSIS-NN"
    );
    let stripped = build_staticlib_profile(Some(TARGET), "firmware", &["strip-error-strings"]);
    let stripped = stripped.path;
    let firmware = build_staticlib_profile(Some(TARGET), "firmware", &[]).path;
    // What `cargo build -p snapuq-tflm --release --target thumbv7em-none-eabihf` produces.
    let release = build_staticlib(Some(TARGET), &[]).path;
    if !require("arm-none-eabi-gcc") {
        return;
    }
    sizes(&release, "release profile");
    let fw = sizes(&firmware, "firmware profile (opt-level s, fat LTO)");
    let st = sizes(&stripped, "firmware profile + strip-error-strings");
    for (name, (grown, _, _)) in &st {
        assert!(
            *grown <= fw[name].0,
            "{name}: stripping messages must not grow the image"
        );
    }
    // The DSP path is what the firmware runs.
    let all = nested_target_dir()
        .join("size")
        .join("firmware profile (opt-level s, fat LTO)")
        .join("all_three.elf");
    let dis = run(Command::new("arm-none-eabi-objdump").arg("-d").arg(&all));
    let smlad = dis.lines().filter(|l| l.contains("\tsmlad")).count();
    eprintln!("  SMLAD instructions in the firmware image: {smlad}");
    assert!(
        smlad > 0,
        "the thumbv7em build must use the SMLAD dot product"
    );
    let syms = run(Command::new("arm-none-eabi-nm")
        .args(["--size-sort", "-S", "-C", "-r"])
        .arg(&all));
    eprintln!("  largest symbols:");
    for l in syms
        .lines()
        .filter(|l| l.contains(" T ") || l.contains(" t "))
        .take(12)
    {
        eprintln!("    {l}");
    }
    let all_three = fw["all three"].0;
    assert!(
        all_three < 64 * 1024,
        "SNAP ops take {all_three} bytes of flash: too big for the small tier"
    );
}
