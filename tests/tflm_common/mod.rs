//! Shared by `tflm_headers.rs` and `tflm_staticlib.rs`: builds `libsnapuq_tflm.a` with cargo in
//! a separate target dir (so the outer `cargo test` lock is never contended) and finds tools.
#![allow(dead_code)]
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Target dir for the nested builds.
pub fn nested_target_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("tflm-staticlib")
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// A built static library and the native libraries a host link needs with it.
pub struct StaticLib {
    pub path: PathBuf,
    pub native_libs: Vec<String>,
}

/// Builds the release staticlib for `target` (None: the host). Panics with cargo's output on
/// failure: the build itself is what these tests check.
pub fn build_staticlib(target: Option<&str>, features: &[&str]) -> StaticLib {
    build_staticlib_profile(target, "release", features)
}

/// As [`build_staticlib`] with a cargo profile (`release` or `firmware`).
pub fn build_staticlib_profile(
    target: Option<&str>,
    profile: &str,
    features: &[&str],
) -> StaticLib {
    // One target dir per feature set: cargo does not re-copy a fresh artifact over one built
    // with other features, so a shared dir could hand back the wrong flavour.
    let flavour = if features.is_empty() {
        "default".to_string()
    } else {
        features.join("+")
    };
    let dir = nested_target_dir().join(flavour);
    let mut cmd = Command::new(cargo());
    cmd.current_dir(repo())
        .env("CARGO_TARGET_DIR", &dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .args(["rustc", "-p", "snapuq-tflm", "--profile", profile, "--lib"])
        .args(["--crate-type", "staticlib"]);
    if let Some(t) = target {
        cmd.args(["--target", t]);
    }
    if !features.is_empty() {
        cmd.args(["--features", &features.join(",")]);
    }
    cmd.args(["--", "--print=native-static-libs"]);
    let out = cmd.output().expect("run cargo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "cargo build of the snapuq-tflm staticlib ({}) failed:\n{stderr}",
        target.unwrap_or("host")
    );
    let native_libs = stderr
        .lines()
        .find_map(|l| l.split("native-static-libs:").nth(1))
        .map(|s| s.split_whitespace().map(String::from).collect())
        .unwrap_or_default();
    let mut path = dir;
    if let Some(t) = target {
        path.push(t);
    }
    path.push(profile);
    path.push("libsnapuq_tflm.a");
    assert!(
        path.is_file(),
        "{} was not produced; cargo said:\n{stderr}",
        path.display()
    );
    StaticLib { path, native_libs }
}

/// True when `tool --version` runs.
pub fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Under CI a missing tool is a failure; locally the check is skipped with a message.
pub fn require(tool: &str) -> bool {
    if have(tool) {
        return true;
    }
    let strict = ["CI", "SNAPUQ_REQUIRE_SHARED"].iter().any(|k| {
        std::env::var(k)
            .map(|v| !v.is_empty() && v != "0" && v != "false")
            .unwrap_or(false)
    });
    assert!(
        !strict,
        "{tool} is required under CI (apt-get install gcc-arm-none-eabi g++)"
    );
    eprintln!("SKIPPED: {tool} not found");
    false
}

/// Runs a command, panicking with its output when it fails; returns stdout.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn include_dirs() -> [PathBuf; 2] {
    let t = repo().join("tflm").join("include");
    [t.clone(), t.join("testing")]
}

pub fn ctest(file: &str) -> PathBuf {
    repo().join("tflm").join("ctest").join(file)
}

pub fn path_str(p: &Path) -> String {
    p.display().to_string()
}
