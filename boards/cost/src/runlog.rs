//! Parses what the runner firmware prints (`key=value` lines, see
//! examples/firmware/runner/src/model.rs) into the numbers the cost table needs.
use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;
use std::collections::HashMap;

/// Backbone and SNAP instruction counts of one inference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Inference {
    pub backbone: u64,
    pub snap: u64,
}

/// What one firmware run reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunLog {
    /// Operators of subgraph 0 and how many of them are SNAP ops.
    pub ops: u64,
    pub snap_ops: u64,
    /// Arena bytes the planned model uses.
    pub arena_used: u64,
    /// Stack high-water mark of the whole run (painted-stack scan).
    pub stack_used: u64,
    /// The meter's unit (`insns` under QEMU).
    pub unit: String,
    /// One entry per embedded sample.
    pub inferences: Vec<Inference>,
}

impl RunLog {
    /// Parses a complete run. Fails with the firmware's own `error:` line when it printed one,
    /// and when the run did not end with `done ok`.
    pub fn parse(out: &str) -> Result<RunLog> {
        if let Some(e) = out.lines().find(|l| l.trim_start().starts_with("error:")) {
            bail!("the firmware reported `{}`", e.trim());
        }
        if !out.lines().any(|l| l.trim() == "done ok") {
            let last = out
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            bail!(
                "the firmware did not finish with `done ok` (last line: `{}`)",
                last.trim()
            );
        }
        let interp = one(out, "interpreter")?;
        let stack = one(out, "stack")?;
        let unit = one(out, "meter")
            .ok()
            .and_then(|m| m.get("unit").cloned())
            .unwrap_or_else(|| "?".into());
        let inferences = records(out, "infer")
            .iter()
            .map(|r| {
                Ok(Inference {
                    backbone: num(r, "backbone", "infer")?,
                    snap: num(r, "snap", "infer")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        if inferences.is_empty() {
            bail!("the firmware printed no `infer` line");
        }
        Ok(RunLog {
            ops: num(&interp, "ops", "interpreter")?,
            snap_ops: num(&interp, "snap_ops", "interpreter")?,
            arena_used: num(&interp, "arena_used", "interpreter")?,
            stack_used: num(&stack, "used", "stack")?,
            unit,
            inferences,
        })
    }

    /// Mean backbone instructions per inference, rounded.
    pub fn backbone_mean(&self) -> u64 {
        mean(self.inferences.iter().map(|i| i.backbone))
    }

    /// Mean SNAP instructions per inference, rounded.
    pub fn snap_mean(&self) -> u64 {
        mean(self.inferences.iter().map(|i| i.snap))
    }
}

fn mean(v: impl ExactSizeIterator<Item = u64>) -> u64 {
    let n = v.len() as u64;
    if n == 0 {
        return 0;
    }
    (v.sum::<u64>() + n / 2) / n
}

/// The `key=value` fields of every line starting with `tag `.
fn records(out: &str, tag: &str) -> Vec<HashMap<String, String>> {
    out.lines()
        .filter_map(|l| l.trim().strip_prefix(tag)?.strip_prefix(' '))
        .map(|rest| {
            rest.split_whitespace()
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

fn one(out: &str, tag: &str) -> Result<HashMap<String, String>> {
    records(out, tag)
        .into_iter()
        .next()
        .ok_or_else(|| anyhow!("the firmware printed no `{tag}` line"))
}

fn num(r: &HashMap<String, String>, key: &str, tag: &str) -> Result<u64> {
    let v = r
        .get(key)
        .ok_or_else(|| anyhow!("the `{tag}` line has no `{key}=`"))?;
    v.parse()
        .with_context(|| format!("`{tag}` {key}={v} is not a count"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUN: &str = "tier=Big-MCU mcu=STM32F767ZI core=Cortex-M7\n\
meter unit=insns resolution=4\n\
calib iters=1000 count=2008\n\
model source=m.tflite bytes=53936 inputs=x.npy samples=2 arena_capacity=25408\n\
interpreter ops=16 snap_ops=3 tensors=35 outputs=4 arena_used=25408 interpreter_bytes=3884\n\
infer sample=0 label=-1 class=9 backbone=24479728 snap=20000 out0=8080\n\
infer sample=1 label=3 class=11 backbone=24482116 snap=20004 out0=8081\n\
stack used=11440 reserve=494960\n\
done ok\n";

    #[test]
    fn parses_a_complete_run() {
        let r = RunLog::parse(RUN).unwrap();
        assert_eq!(r.ops, 16);
        assert_eq!(r.snap_ops, 3);
        assert_eq!(r.arena_used, 25408);
        assert_eq!(r.stack_used, 11440);
        assert_eq!(r.unit, "insns");
        assert_eq!(r.inferences.len(), 2);
        assert_eq!(
            r.inferences[1],
            Inference {
                backbone: 24482116,
                snap: 20004
            }
        );
        assert_eq!(r.backbone_mean(), 24480922);
        assert_eq!(r.snap_mean(), 20002);
    }

    #[test]
    fn a_failed_run_is_an_error_with_the_firmware_message() {
        let bad = RUN.replace("done ok", "error: sample 1: arena too small\ndone failed");
        let err = RunLog::parse(&bad).unwrap_err().to_string();
        assert!(err.contains("arena too small"), "{err}");
    }

    #[test]
    fn a_truncated_run_is_an_error() {
        let cut = &RUN[..RUN.find("stack used").unwrap()];
        let err = RunLog::parse(cut).unwrap_err().to_string();
        assert!(err.contains("done ok"), "{err}");
    }

    #[test]
    fn a_non_numeric_count_is_an_error() {
        let bad = RUN.replace("snap=20004", "snap=lots");
        assert!(RunLog::parse(&bad).is_err());
    }
}
