//! Builds the runner firmware (examples/firmware) for one tier with a given model embedded, and
//! boots it in the tier's QEMU machine with `-icount shift=0`.
use anyhow::{anyhow, bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::memory_map::MemoryMap;
use crate::verdict::BuildFailure;

/// One MCU tier of the runner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tier {
    pub key: &'static str,
    pub name: &'static str,
    pub feature: &'static str,
    pub bin: &'static str,
    pub machine: &'static str,
    /// Board crate folder under boards/ (its `memory-qemu.x` is the link's memory map).
    pub board: &'static str,
}

pub const TIERS: [Tier; 2] = [
    Tier {
        key: "big",
        name: "Big-MCU",
        feature: "big",
        bin: "runner-big",
        machine: "mps2-an500",
        board: "stm32f767zi",
    },
    Tier {
        key: "small",
        name: "Small-MCU",
        feature: "small",
        bin: "runner-small",
        machine: "mps2-an386",
        board: "stm32l432kc",
    },
];

/// Looks a tier up by its key.
pub fn tier(key: &str) -> Result<Tier> {
    TIERS
        .iter()
        .copied()
        .find(|t| t.key == key)
        .ok_or_else(|| anyhow!("unknown tier `{key}`: choose big or small"))
}

impl Tier {
    /// The memory map the QEMU profile links against.
    pub fn memory_map(&self, repo: &Path) -> Result<MemoryMap> {
        MemoryMap::from_file(&repo.join("boards").join(self.board).join("memory-qemu.x"))
    }
}

/// What to embed in one firmware build.
pub struct Embed<'a> {
    pub model: &'a Path,
    pub inputs: &'a Path,
    pub labels: &'a Path,
    pub samples: usize,
}

/// Firmware builder bound to a repo and a target dir.
pub struct Firmware {
    pub dir: PathBuf,
    pub target_dir: PathBuf,
    pub jobs: Option<usize>,
}

impl Firmware {
    /// `cargo build --release --features <tier>,qemu --bin runner-<tier>` with the model
    /// embedded. `Ok(Err(_))` is a build that failed (e.g. does not fit); `Err` means cargo could
    /// not be started. On success returns the ELF path.
    pub fn build(
        &self,
        tier: Tier,
        embed: &Embed,
    ) -> Result<std::result::Result<PathBuf, BuildFailure>> {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(&self.dir)
            .args(["build", "--release", "--bin", tier.bin, "--features"])
            .arg(format!("{},qemu", tier.feature))
            .env("CARGO_TARGET_DIR", &self.target_dir)
            .env("SNAPUQ_MODEL", embed.model)
            .env("SNAPUQ_INPUTS", embed.inputs)
            .env("SNAPUQ_LABELS", embed.labels)
            .env("SNAPUQ_SAMPLES", embed.samples.to_string())
            .stdin(Stdio::null());
        if let Some(j) = self.jobs {
            cmd.args(["-j", &j.to_string()]);
        }
        // The host build's flags and target must not leak into the cross build; the runner
        // sizes its arena exactly unless told otherwise.
        for var in [
            "RUSTFLAGS",
            "CARGO_ENCODED_RUSTFLAGS",
            "CARGO_BUILD_RUSTFLAGS",
            "CARGO_BUILD_TARGET",
            "CARGO_BUILD_TARGET_DIR",
            "SNAPUQ_ARENA_BYTES",
        ] {
            cmd.env_remove(var);
        }
        let out = cmd
            .output()
            .context("cannot start cargo for the firmware build")?;
        if !out.status.success() {
            return Ok(Err(BuildFailure::from_stderr(&String::from_utf8_lossy(
                &out.stderr,
            ))));
        }
        let elf = self
            .target_dir
            .join("thumbv7em-none-eabihf")
            .join("release")
            .join(tier.bin);
        if !elf.is_file() {
            bail!("cargo reported success but built no {}", elf.display());
        }
        Ok(Ok(elf))
    }
}

/// Boots `elf` in the tier's QEMU machine and returns what it printed. Fails when QEMU cannot
/// start, hangs past `timeout`, or exits non-zero (with the output so far).
pub fn run_qemu(tier: Tier, elf: &Path, timeout: Duration) -> Result<String> {
    let run = snapuq_testkit::qemu::run_firmware(tier.machine, elf, timeout)
        .map_err(|e| anyhow!("{} firmware: {e}", tier.name))?;
    if !run.status.success() {
        let tail: Vec<&str> = run.stdout.lines().rev().take(4).collect();
        bail!(
            "{} firmware exited with {}; last lines: {}{}",
            tier.name,
            run.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" | "),
            if run.stderr.trim().is_empty() {
                String::new()
            } else {
                format!("; qemu: {}", run.stderr.trim())
            }
        );
    }
    Ok(run.stdout)
}

/// Checks the tools the table needs and names what to install for each missing one.
pub fn preflight() -> Result<()> {
    let mut missing = Vec::new();
    let qemu = Command::new("qemu-system-arm")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !qemu {
        missing
            .push("qemu-system-arm (Debian/Ubuntu: apt-get install qemu-system-arm)".to_string());
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let libdir = Command::new(&rustc)
        .args([
            "--print",
            "target-libdir",
            "--target",
            "thumbv7em-none-eabihf",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let has_core = libdir.is_some_and(|d| {
        std::fs::read_dir(d)
            .map(|rd| {
                rd.filter_map(Result::ok).any(|e| {
                    let n = e.file_name();
                    let n = n.to_string_lossy();
                    n.starts_with("libcore") && n.ends_with(".rlib")
                })
            })
            .unwrap_or(false)
    });
    if !has_core {
        missing.push(
            "the thumbv7em-none-eabihf Rust target (rustup target add thumbv7em-none-eabihf)"
                .to_string(),
        );
    }
    if missing.is_empty() {
        Ok(())
    } else {
        bail!("the cost table needs {}", missing.join(" and "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_by_key() {
        assert_eq!(tier("small").unwrap().machine, "mps2-an386");
        assert_eq!(tier("big").unwrap().bin, "runner-big");
        assert!(tier("medium").is_err());
    }

    #[test]
    fn each_tier_reads_its_board_memory_map() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..");
        let small = tier("small").unwrap().memory_map(&repo).unwrap();
        let big = tier("big").unwrap().memory_map(&repo).unwrap();
        assert!(small.ram.length < big.ram.length);
        assert!(small.flash.length < big.flash.length);
    }
}
