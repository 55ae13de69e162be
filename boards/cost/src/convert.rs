//! Makes the augmented models with the `snap-convert` binary of this workspace.
//!
//! The binary is built once (`cargo build --release -p snap-convert`) into the same target
//! directory as this tool, then called once per (model, rank); `--snap-convert PATH` uses an
//! existing binary instead.
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Builds snap-convert beside the running executable (same target dir and profile) and
/// returns its path.
pub fn build_snap_convert(repo: &Path) -> Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot locate the cost-table executable")?;
    let profile_dir = exe
        .parent()
        .context("the cost-table executable has no folder")?
        .to_path_buf();
    let target_dir = profile_dir
        .parent()
        .context("the cost-table executable is not inside a cargo target dir")?;
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(repo)
        .args(["build", "-q", "-p", "snap-convert", "--target-dir"])
        .arg(target_dir)
        .stdin(Stdio::null());
    if release {
        cmd.arg("--release");
    }
    let out = cmd
        .output()
        .context("cannot start cargo to build snap-convert")?;
    if !out.status.success() {
        bail!(
            "building snap-convert failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let bin = profile_dir.join(format!("snap-convert{}", std::env::consts::EXE_SUFFIX));
    if !bin.is_file() {
        bail!("cargo built no {}", bin.display());
    }
    Ok(bin)
}

/// A default tap of a model and the channel count its projection reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapInfo {
    /// Tensor index of `a_ℓ`.
    pub tensor: u64,
    /// Channels of `a_{ℓ−1}`: the largest valid rank.
    pub c_in: u32,
}

/// The taps `snap-convert` chooses by default (a mid block and the penultimate block).
pub fn default_taps(snap_convert: &Path, model: &Path) -> Result<Vec<TapInfo>> {
    let o = Command::new(snap_convert)
        .arg("taps")
        .arg(model)
        .arg("--json")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot start {}", snap_convert.display()))?;
    if !o.status.success() {
        bail!(
            "snap-convert taps {}: {}",
            model.display(),
            last_line(&String::from_utf8_lossy(&o.stderr))
        );
    }
    parse_taps(&String::from_utf8_lossy(&o.stdout))
}

/// Reads `chosen[].choice.{tensor, c_in}` of `snap-convert taps --json`.
pub fn parse_taps(json: &str) -> Result<Vec<TapInfo>> {
    let v: serde_json::Value =
        serde_json::from_str(json).context("snap-convert taps --json printed no JSON")?;
    let chosen = v
        .get("chosen")
        .and_then(|c| c.as_array())
        .context("snap-convert taps --json has no `chosen` list")?;
    chosen
        .iter()
        .map(|c| {
            let choice = c.get("choice").unwrap_or(c);
            let field = |k: &str| {
                choice
                    .get(k)
                    .and_then(|x| x.as_u64())
                    .with_context(|| format!("a chosen tap has no integer `{k}`"))
            };
            Ok(TapInfo {
                tensor: field("tensor")?,
                c_in: u32::try_from(field("c_in")?).context("c_in out of range")?,
            })
        })
        .collect()
}

/// The rank each tap gets for a requested r: `min(r, C_in)` (a projection cannot have more
/// dimensions than its input; at `r = C_in` the converter uses the identity projector).
pub fn tap_ranks(taps: &[TapInfo], rank: u32) -> Vec<u32> {
    taps.iter().map(|t| rank.min(t.c_in)).collect()
}

/// Augments `model` at rank `r` with the default taps and returns the rank of each tap.
///
/// When every tap takes the same rank this is one `snap-convert convert --rank …`. When the taps'
/// ranks differ (the converter refuses a fixed rank above `C_in` and takes one rank), each
/// tap's heads are fitted on their own (`snap-convert fit --taps T --rank min(r, C_in)`), the
/// heads files are merged, and `convert --heads` quantizes, calibrates and attaches them.
pub fn augment(
    snap_convert: &Path,
    model: &Path,
    data_args: &[String],
    convert_args: &[String],
    taps: &[TapInfo],
    rank: u32,
    out: &Path,
) -> Result<Vec<u32>> {
    let ranks = tap_ranks(taps, rank);
    let mut extra: Vec<String> = Vec::new();
    if let Some(&first) = ranks.first().filter(|&&f| ranks.iter().all(|&r| r == f)) {
        // One rank for every tap (r itself, or the same C_in cap): the converter's own path.
        extra.extend(["--rank".to_string(), first.to_string()]);
    } else {
        let mut merged = Vec::new();
        let mut format = serde_json::Value::Null;
        for (tap, &r) in taps.iter().zip(&ranks) {
            let heads = out.with_extension(format!("tap{}.heads.json", tap.tensor));
            let o = Command::new(snap_convert)
                .arg("fit")
                .arg(model)
                .args(data_args)
                .args(["--taps", &tap.tensor.to_string(), "--rank", &r.to_string()])
                .arg("-o")
                .arg(&heads)
                .stdin(Stdio::null())
                .output()
                .with_context(|| format!("cannot start {}", snap_convert.display()))?;
            if !o.status.success() {
                bail!(
                    "snap-convert fit (tap {}, r={r}): {}",
                    tap.tensor,
                    last_line(&String::from_utf8_lossy(&o.stderr))
                );
            }
            let v: serde_json::Value = serde_json::from_slice(
                &std::fs::read(&heads)
                    .with_context(|| format!("snap-convert fit wrote no {}", heads.display()))?,
            )
            .with_context(|| format!("{} is not JSON", heads.display()))?;
            format = v.get("format").cloned().unwrap_or(format);
            let tap_list = v
                .get("taps")
                .and_then(|t| t.as_array())
                .with_context(|| format!("{} has no `taps` list", heads.display()))?;
            merged.extend(tap_list.iter().cloned());
        }
        let heads = out.with_extension("heads.json");
        let doc = serde_json::json!({ "format": format, "taps": merged });
        std::fs::write(&heads, serde_json::to_string_pretty(&doc)?)
            .with_context(|| format!("cannot write {}", heads.display()))?;
        extra.extend(["--heads".to_string(), heads.to_string_lossy().into_owned()]);
    }
    let report = out.with_extension("json");
    let o = Command::new(snap_convert)
        .arg("convert")
        .arg(model)
        .args(data_args)
        .args(convert_args)
        .args(&extra)
        .arg("-o")
        .arg(out)
        .arg("--json")
        .arg(&report)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot start {}", snap_convert.display()))?;
    if !o.status.success() {
        bail!(
            "snap-convert convert (r={rank}): {}",
            last_line(&String::from_utf8_lossy(&o.stderr))
        );
    }
    std::fs::write(out.with_extension("log"), &o.stdout)
        .with_context(|| format!("cannot write the converter log beside {}", out.display()))?;
    if !out.is_file() {
        bail!("snap-convert wrote no {}", out.display());
    }
    Ok(ranks)
}

/// The last non-empty line of a tool's stderr (where our CLIs put the error).
fn last_line(s: &str) -> String {
    s.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("(no message)")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taps_json_and_capped_ranks() {
        let json = r#"{"backbone_macs": 1, "candidates": [],
            "chosen": [
              {"choice": {"tensor": 29, "c_in": 16, "c_out": 32, "rank": 16}, "project_at": 4},
              {"choice": {"tensor": 33, "c_in": 32, "c_out": 64, "rank": 32}}
            ]}"#;
        let taps = parse_taps(json).unwrap();
        assert_eq!(
            taps,
            vec![
                TapInfo {
                    tensor: 29,
                    c_in: 16
                },
                TapInfo {
                    tensor: 33,
                    c_in: 32
                }
            ]
        );
        assert_eq!(tap_ranks(&taps, 8), vec![8, 8]);
        assert_eq!(tap_ranks(&taps, 32), vec![16, 32]);
        assert_eq!(tap_ranks(&taps, 128), vec![16, 32]);
    }

    #[test]
    fn taps_json_without_chosen_is_an_error() {
        assert!(parse_taps(r#"{"candidates": []}"#).is_err());
        assert!(parse_taps("not json").is_err());
    }

    #[test]
    fn last_line_skips_blank_lines() {
        assert_eq!(
            last_line("progress\nerror: bad rank\n\n"),
            "error: bad rank"
        );
    }
}
