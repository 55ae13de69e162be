//! Boots the runner firmware (examples/firmware) on both MCU tiers under QEMU and checks what
//! it prints against the same library functions run on the host.
//!
//! Needs the `thumbv7em-none-eabihf` Rust target and `qemu-system-arm`. When either is missing
//! the tests skip with a message on a developer's machine and fail under CI (`CI=true`), like
//! every test that needs external material (see snapuq-testkit).
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use snapuq_ops::{DotS8, PortableDot};
use snapuq_testkit::{repo_root, seeded_i8, strict};

/// Wall-clock limit for one QEMU run (the firmware exits by itself in well under a second of
/// host time; this only catches a hang).
const QEMU_TIMEOUT: Duration = Duration::from_secs(120);

/// One tier of the runner firmware.
#[derive(Clone, Copy)]
struct Tier {
    feature: &'static str,
    bin: &'static str,
    machine: &'static str,
    name: &'static str,
}

const BIG: Tier = Tier {
    feature: "big",
    bin: "runner-big",
    machine: "mps2-an500",
    name: "Big-MCU",
};
const SMALL: Tier = Tier {
    feature: "small",
    bin: "runner-small",
    machine: "mps2-an386",
    name: "Small-MCU",
};

fn firmware_dir() -> PathBuf {
    repo_root().join("examples").join("firmware")
}

/// Skips (returns false after printing why) or, under CI, fails when a tool is missing.
fn tools_present() -> bool {
    let mut missing = Vec::new();
    let qemu = Command::new("qemu-system-arm")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !qemu {
        missing.push("qemu-system-arm (apt-get install qemu-system-arm)");
    }
    let target = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .args([
            "--print",
            "target-libdir",
            "--target",
            "thumbv7em-none-eabihf",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .is_some_and(|dir| dir.join("libcore.rlib").exists() || has_core_rlib(&dir));
    if !target {
        missing.push(
            "the thumbv7em-none-eabihf Rust target (rustup target add thumbv7em-none-eabihf)",
        );
    }
    if missing.is_empty() {
        return true;
    }
    let msg = format!("firmware QEMU test needs {}", missing.join(" and "));
    if strict() {
        panic!("{msg}; CI requires it");
    }
    eprintln!("SKIPPED: {msg}");
    false
}

fn has_core_rlib(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok).any(|e| {
                let n = e.file_name();
                let n = n.to_string_lossy();
                n.starts_with("libcore-") && n.ends_with(".rlib")
            })
        })
        .unwrap_or(false)
}

/// Builds one tier's QEMU firmware in the firmware workspace (its own target dir, none of the
/// host build's flags) and returns the ELF.
fn build(tier: Tier) -> PathBuf {
    let out = cargo_build(tier, "");
    assert!(
        out.status.success(),
        "firmware build for {} failed:\n{}",
        tier.name,
        String::from_utf8_lossy(&out.stderr)
    );
    let elf = firmware_dir()
        .join("target")
        .join("thumbv7em-none-eabihf")
        .join("release")
        .join(tier.bin);
    assert!(elf.is_file(), "cargo built no {}", elf.display());
    elf
}

/// `cargo build --release` of one tier's QEMU firmware with `extra` features added.
fn cargo_build(tier: Tier, extra: &str) -> std::process::Output {
    let dir = firmware_dir();
    let target_dir = dir.join("target");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&dir)
        .args(["build", "--release", "--bin", tier.bin, "--features"])
        .arg(
            [tier.feature, "qemu", extra]
                .iter()
                .filter(|f| !f.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(","),
        )
        .env("CARGO_TARGET_DIR", &target_dir);
    if let Ok(j) = std::env::var("SNAPUQ_FIRMWARE_JOBS") {
        cmd.args(["-j", &j]);
    }
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_TARGET_DIR",
    ] {
        cmd.env_remove(var);
    }
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot start cargo for the firmware: {e}"))
}

/// Boots the ELF in the tier's QEMU machine and returns (exit code, stdout).
fn run_qemu(tier: Tier, elf: &Path) -> (Option<i32>, String) {
    let run = snapuq_testkit::qemu::run_firmware(tier.machine, elf, QEMU_TIMEOUT)
        .unwrap_or_else(|e| panic!("{} firmware: {e}", tier.name));
    if !run.stderr.trim().is_empty() {
        eprintln!("qemu stderr ({}): {}", tier.name, run.stderr);
    }
    (run.status.code(), run.stdout)
}

/// The `key=value` fields of every output line starting with `tag `.
fn records(out: &str, tag: &str) -> Vec<HashMap<String, String>> {
    out.lines()
        .filter_map(|l| l.strip_prefix(tag)?.strip_prefix(' '))
        .map(|rest| {
            rest.split_whitespace()
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

fn field<T: std::str::FromStr>(r: &HashMap<String, String>, key: &str, line: &str) -> T {
    r.get(key)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("`{line}` line without a numeric {key}: {r:?}"))
}

fn check_tier(tier: Tier) {
    if !tools_present() {
        return;
    }
    let elf = build(tier);
    let (code, out) = run_qemu(tier, &elf);
    println!("{} firmware output:\n{out}", tier.name);
    assert_eq!(
        code,
        Some(0),
        "{} firmware exited with {code:?}; output:\n{out}",
        tier.name
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("tier=") && l.contains(tier.name)),
        "no banner for {}",
        tier.name
    );
    assert!(
        out.lines().any(|l| l == "done ok"),
        "firmware did not report `done ok`"
    );

    // The meter counts instructions with a 4-instruction resolution: a 2-instruction loop
    // measured at 1000, 2000 and 4000 iterations must grow by exactly 2 per iteration.
    let meter = records(&out, "meter");
    assert_eq!(meter.len(), 1, "one meter line expected");
    assert_eq!(meter[0].get("unit").map(String::as_str), Some("insns"));
    let res: u64 = field(&meter[0], "resolution", "meter");
    let calib = records(&out, "calib");
    assert_eq!(calib.len(), 3, "three calib lines expected");
    let pts: Vec<(u64, u64)> = calib
        .iter()
        .map(|r| (field(r, "iters", "calib"), field(r, "count", "calib")))
        .collect();
    for w in pts.windows(2) {
        let got = w[1].1 - w[0].1;
        let want = 2 * (w[1].0 - w[0].0);
        assert!(
            got.abs_diff(want) <= 2 * res,
            "meter not linear: {pts:?} (slope {got} for {want} instructions)"
        );
    }

    // Dot products: bit-exact with the host's library function on the same seeded inputs.
    let dots = records(&out, "dot");
    assert!(!dots.is_empty(), "firmware printed no dot products");
    for r in &dots {
        let seed: u64 = field(r, "seed", "dot");
        let len: usize = field(r, "len", "dot");
        let value: i32 = field(r, "value", "dot");
        let a = seeded_i8(seed, len);
        let b = seeded_i8(seed + 1, len);
        let want = PortableDot::dot(&a, &b);
        assert_eq!(
            value, want,
            "{}: dot impl={} seed={seed} len={len}: firmware {value}, host {want}",
            tier.name, r["impl"]
        );
        let count: u64 = field(r, "count", "dot");
        assert!(
            count > 0,
            "dot of {len} elements measured as 0 instructions"
        );
    }

    check_model(tier, &out);

    // The DSP path's own battery ran on the target and passed.
    let dsp = records(&out, "dsp");
    assert_eq!(dsp.len(), 1, "one dsp self-check line expected");
    let checked: u64 = field(&dsp[0], "selfcheck", "dsp");
    assert!(checked > 0, "the DSP self-check compared nothing");
    assert_eq!(
        dsp[0].get("smlad").map(String::as_str),
        Some("true"),
        "snapuq-cmsis did not select its SMLAD path on thumbv7em"
    );
    // ... and on long vectors it retires fewer instructions than the portable loop.
    for r in dots.iter().filter(|r| r["impl"] == "dsp") {
        let len: usize = field(r, "len", "dot");
        let seed: u64 = field(r, "seed", "dot");
        let portable = dots
            .iter()
            .find(|p| p["impl"] == "portable" && p["seed"] == r["seed"])
            .map(|p| field::<u64>(p, "count", "dot"))
            .expect("a portable run for every dsp run");
        let dsp_count: u64 = field(r, "count", "dot");
        if len >= 64 {
            assert!(
                dsp_count < portable,
                "seed={seed} len={len}: SMLAD path {dsp_count} insns, portable {portable}"
            );
        }
    }
}

/// The int8 samples of a C-order `|i1` .npy (what the firmware's build.rs embeds).
fn npy_i8(path: &Path) -> (Vec<usize>, Vec<u8>) {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&b[..6], b"\x93NUMPY", "{} is not an .npy", path.display());
    let (hlen, start) = match b[6] {
        1 => (usize::from(u16::from_le_bytes([b[8], b[9]])), 10),
        _ => (u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize, 12),
    };
    let header = String::from_utf8_lossy(&b[start..start + hlen]).to_string();
    assert!(header.contains("'|i1'"), "{}: not int8", path.display());
    let shape: Vec<usize> = header
        .split("'shape':")
        .nth(1)
        .and_then(|s| s.split('(').nth(1))
        .and_then(|s| s.split(')').next())
        .expect("shape")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().expect("shape dims"))
        .collect();
    (shape, b[start + hlen..].to_vec())
}

/// Runs the embedded model (the runner's default: the repo's digits CNN augmented by
/// snap-convert) on the host executor over the same inputs and compares every output byte —
/// the class scores and the SNAP outputs U, S and abstain — with what the firmware printed.
fn check_model(tier: Tier, out: &str) {
    let models = repo_root().join("examples").join("models");
    let model = std::fs::read(models.join("digits_cnn.snap.tflite"))
        .expect("examples/models/digits_cnn.snap.tflite (make it with snap-convert)");
    let (shape, data) = npy_i8(&models.join("digits_test.npy"));
    let sample: usize = shape[1..].iter().product();
    let mut resolver = snapuq_exec::OpResolver::new();
    snapuq_exec::snap::register(&mut resolver).expect("SNAP ops register");
    let opts = snapuq_exec::Options::default();
    let need = snapuq_exec::arena_bytes_needed(&model, &resolver, opts).expect("host plan");
    let mut arena = vec![0u8; need + 16];
    let mut it: snapuq_exec::Interpreter =
        snapuq_exec::Interpreter::new(&model, &mut arena, &resolver, opts).expect("host prepare");
    let infers = records(out, "infer");
    assert!(
        !infers.is_empty(),
        "{}: firmware ran no inference",
        tier.name
    );
    assert!(
        it.output_count() >= 4,
        "the default model has no SNAP outputs (U, S, abstain): is it augmented?"
    );
    let uncertainties = records(out, "uncertainty");
    assert_eq!(
        uncertainties.len(),
        infers.len(),
        "{}: one `uncertainty` line per sample expected",
        tier.name
    );
    for r in &infers {
        let s: usize = field(r, "sample", "infer");
        it.input_bytes_mut(0)
            .expect("input 0")
            .copy_from_slice(&data[s * sample..(s + 1) * sample]);
        it.invoke().expect("host invoke");
        for k in 0..it.output_count() {
            let host: String = it
                .output(k)
                .expect("output")
                .data
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            let dev = r
                .get(&format!("out{k}"))
                .unwrap_or_else(|| panic!("infer line without out{k}: {r:?}"));
            assert_eq!(
                dev, &host,
                "{}: sample {s} output {k}: firmware {dev}, host {host}",
                tier.name
            );
        }
        let backbone: u64 = field(r, "backbone", "infer");
        assert!(backbone > 0, "no backbone instructions measured");
        let snap: u64 = field(r, "snap", "infer");
        assert!(snap > 0, "no SNAP-op instructions measured");

        // U: the printed f32 bits are the host's U (output count − 3) exactly.
        let ur = uncertainties
            .iter()
            .find(|u| u.get("sample") == r.get("sample"))
            .unwrap_or_else(|| panic!("no uncertainty line for sample {s}"));
        let bits = u32::from_str_radix(&ur["u"], 16)
            .unwrap_or_else(|_| panic!("uncertainty u={} is not hex f32 bits", ur["u"]));
        let u = f32::from_bits(bits);
        let host_u = it
            .output(it.output_count() - 3)
            .expect("U output")
            .as_f32()
            .and_then(|v| v.first().copied())
            .expect("U is one float32");
        assert_eq!(
            u.to_bits(),
            host_u.to_bits(),
            "{}: sample {s}: firmware U {u}, host U {host_u}",
            tier.name
        );
        assert!((0.0..=1.0).contains(&u), "U = {u} outside [0, 1]");
        println!(
            "{}: sample {s} class {} U {u:.6} backbone {backbone} snap {snap}",
            tier.name, r["class"]
        );
    }
}

#[test]
fn big_mcu_firmware_matches_host() {
    check_tier(BIG);
}

#[test]
fn small_mcu_firmware_matches_host() {
    check_tier(SMALL);
}

/// An image whose statics leave less than the tier's stack reserve must fail to link: the
/// memory map enforces the tier's limits (a plain overflow is caught by the linker itself).
#[test]
fn oversized_image_fails_to_link() {
    if !tools_present() {
        return;
    }
    let out = cargo_build(SMALL, "ballast");
    assert!(
        !out.status.success(),
        "a firmware whose statics leave 4 KB of the Small-MCU RAM linked"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("stack reserve of the Small-MCU tier"),
        "link failed, but not at the tier's stack-reserve check:\n{err}"
    );
}

/// Two runs of the same ELF print the same counts: the emulation is deterministic.
#[test]
fn instruction_counts_are_deterministic() {
    if !tools_present() {
        return;
    }
    let elf = build(SMALL);
    let (c1, o1) = run_qemu(SMALL, &elf);
    let (c2, o2) = run_qemu(SMALL, &elf);
    assert_eq!((c1, c2), (Some(0), Some(0)));
    assert_eq!(
        o1, o2,
        "two runs of the same firmware printed different output"
    );
}
