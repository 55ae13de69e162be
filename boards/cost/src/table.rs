//! The measured cells, the Markdown table and the summary against the targets.
use serde::Serialize;

use crate::footprint::Footprint;
use crate::runlog::RunLog;

/// Target: SNAP instructions at most this % of the backbone's, at r = [`TARGET_RANK`].
pub const TARGET_OVERHEAD_PCT: f64 = 1.0;
/// Target: SNAP flash (augmented minus plain firmware) at most this many bytes at r = 64.
pub const TARGET_FLASH_BYTES: i64 = 12 * 1024;
/// The rank the targets are stated for.
pub const TARGET_RANK: u32 = 64;

/// What one firmware measured.
#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    pub footprint: Footprint,
    pub flash: u64,
    /// Bytes of the SNAP kernels' symbols in the image (see `footprint::snap_symbol_bytes`).
    pub snap_code: u64,
    pub static_ram: u64,
    pub stack: u64,
    /// Static RAM + stack high-water.
    pub ram: u64,
    pub arena_used: u64,
    pub ops: u64,
    pub snap_ops: u64,
    /// Mean instructions per inference.
    pub backbone: u64,
    pub snap: u64,
    pub samples: usize,
    pub unit: String,
}

impl Measured {
    pub fn new(footprint: Footprint, snap_code: u64, log: &RunLog) -> Measured {
        Measured {
            flash: footprint.flash(),
            snap_code,
            static_ram: footprint.static_ram(),
            stack: log.stack_used,
            ram: footprint.static_ram() + log.stack_used,
            footprint,
            arena_used: log.arena_used,
            ops: log.ops,
            snap_ops: log.snap_ops,
            backbone: log.backbone_mean(),
            snap: log.snap_mean(),
            samples: log.inferences.len(),
            unit: log.unit.clone(),
        }
    }

    /// SNAP instructions in % of the backbone's.
    pub fn overhead_pct(&self) -> f64 {
        if self.backbone == 0 {
            return 0.0;
        }
        self.snap as f64 * 100.0 / self.backbone as f64
    }
}

/// How a cell ended.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Measured(Measured),
    /// The linker refused the image for the tier.
    DoesNotFit {
        verdict: String,
    },
    /// Anything else that stopped the cell (build error, firmware error, conversion error).
    Failed {
        error: String,
    },
}

/// One (model, tier, variant) cell.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub model: String,
    pub tier: String,
    /// `None`: the plain (un-augmented) model.
    pub rank: Option<u32>,
    /// The rank of each tap, `min(r, C_in)` (empty for the plain model).
    pub tap_ranks: Vec<u32>,
    /// Bytes of the embedded .tflite.
    pub model_bytes: u64,
    pub outcome: Outcome,
    /// Augmented minus plain firmware of the same model and tier (when both were measured).
    pub snap_flash_delta: Option<i64>,
    /// SNAP's whole flash: the delta plus the SNAP kernels the plain firmware already links
    /// (the runner registers the SNAP ops in every build).
    pub snap_flash: Option<i64>,
    pub snap_ram_delta: Option<i64>,
    /// The firmware sources changed while this cell's group was measured (twice): its delta
    /// against the plain build is not taken.
    pub sources_changed: bool,
}

impl Cell {
    pub fn measured(&self) -> Option<&Measured> {
        match &self.outcome {
            Outcome::Measured(m) => Some(m),
            _ => None,
        }
    }
}

/// Fills the deltas of every augmented cell from the plain cell of its model and tier.
pub fn fill_deltas(cells: &mut [Cell]) {
    let plain: Vec<(String, String, u64, u64, u64)> = cells
        .iter()
        .filter(|c| c.rank.is_none() && !c.sources_changed)
        .filter_map(|c| {
            c.measured()
                .map(|m| (c.model.clone(), c.tier.clone(), m.flash, m.ram, m.snap_code))
        })
        .collect();
    for c in cells
        .iter_mut()
        .filter(|c| c.rank.is_some() && !c.sources_changed)
    {
        let base = plain
            .iter()
            .find(|(m, t, ..)| *m == c.model && *t == c.tier);
        let own = c.measured().map(|m| (m.flash, m.ram));
        if let (Some((_, _, flash, ram, code)), Some((f, r))) = (base, own) {
            let delta = f as i64 - *flash as i64;
            c.snap_flash_delta = Some(delta);
            c.snap_flash = Some(delta + *code as i64);
            c.snap_ram_delta = Some(r as i64 - *ram as i64);
        }
    }
}

fn kb(bytes: u64) -> String {
    format!("{:.1} KB", bytes as f64 / 1024.0)
}

fn kb_i(bytes: i64) -> String {
    format!("{:.1} KB", bytes as f64 / 1024.0)
}

fn signed_kb(bytes: i64) -> String {
    format!("{:+.1} KB", bytes as f64 / 1024.0)
}

/// 24479728 → "24,479,728".
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// The Markdown table of every cell.
pub fn markdown(cells: &[Cell]) -> String {
    let mut s = String::from(
        "| model | tier | r | .tflite | flash | RAM (static + stack) | backbone instr/inf | SNAP instr/inf | SNAP overhead | SNAP flash (Δ + kernels) | SNAP RAM Δ |\n\
         | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for c in cells {
        let r = rank_label(c);
        let head = format!(
            "| {} | {} | {} | {} |",
            c.model,
            c.tier,
            r,
            kb(c.model_bytes)
        );
        let row = match &c.outcome {
            Outcome::Measured(m) => format!(
                " {} | {} ({} + {}) | {} | {} | {} | {} | {} |",
                kb(m.flash),
                kb(m.ram),
                kb(m.static_ram),
                kb(m.stack),
                thousands(m.backbone),
                thousands(m.snap),
                if c.rank.is_some() {
                    format!("{:.2}%", m.overhead_pct())
                } else {
                    "—".into()
                },
                match (c.snap_flash, c.snap_flash_delta) {
                    (Some(t), Some(d)) => format!(
                        "{} ({} + {})",
                        kb_i(t),
                        signed_kb(d),
                        kb(t.saturating_sub(d).max(0) as u64)
                    ),
                    _ => "—".into(),
                },
                c.snap_ram_delta.map_or("—".into(), signed_kb),
            ),
            Outcome::DoesNotFit { verdict } => {
                format!(" {verdict} | — | — | — | — | — | — |")
            }
            Outcome::Failed { error } => {
                format!(" failed: {} | — | — | — | — | — | — |", one_line(error))
            }
        };
        s.push_str(&head);
        s.push_str(&row);
        s.push('\n');
    }
    s
}

/// "plain", "64", or "64 (taps 16, 32)" when some tap has fewer input channels than r.
fn rank_label(c: &Cell) -> String {
    match c.rank {
        None => "plain".into(),
        Some(r) if c.tap_ranks.iter().all(|&t| t == r) => r.to_string(),
        Some(r) => format!(
            "{r} (taps {})",
            c.tap_ranks
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn one_line(s: &str) -> String {
    let first = s.lines().next().unwrap_or("").replace('|', "/");
    if first.chars().count() > 120 {
        format!("{}…", first.chars().take(120).collect::<String>())
    } else {
        first
    }
}

/// Pass/fail lines against the targets, and the overhead of every augmented cell.
pub fn summary(cells: &[Cell]) -> String {
    let mut s = String::new();
    s.push_str("SNAP overhead (SNAP instructions in % of the backbone's):\n");
    for c in cells.iter().filter(|c| c.rank.is_some()) {
        let v = match &c.outcome {
            Outcome::Measured(m) => format!("{:.3}%", m.overhead_pct()),
            Outcome::DoesNotFit { verdict } => verdict.clone(),
            Outcome::Failed { error } => format!("failed: {}", one_line(error)),
        };
        s.push_str(&format!(
            "  {} {} r={}: {}\n",
            c.model,
            c.tier,
            rank_label(c),
            v
        ));
    }
    s.push_str(&format!(
        "Targets at r = {TARGET_RANK} (overhead ≤ {TARGET_OVERHEAD_PCT:.1}%, SNAP flash ≤ {} KB):\n",
        TARGET_FLASH_BYTES / 1024
    ));
    for c in cells.iter().filter(|c| c.rank == Some(TARGET_RANK)) {
        let line = match c.measured() {
            Some(m) => {
                let pct = m.overhead_pct();
                let o = pass(pct <= TARGET_OVERHEAD_PCT);
                let f = match (c.snap_flash, c.snap_flash_delta) {
                    (Some(t), Some(d)) => format!(
                        "{} = {} over the plain firmware + {} SNAP kernels ({}; the delta alone {})",
                        kb_i(t),
                        signed_kb(d),
                        kb_i(t - d),
                        pass(t <= TARGET_FLASH_BYTES),
                        pass(d <= TARGET_FLASH_BYTES)
                    ),
                    _ => "no plain baseline".into(),
                };
                format!("overhead {pct:.3}% ({o}), SNAP flash {f}")
            }
            None => "not measured (FAIL)".into(),
        };
        s.push_str(&format!("  {} {}: {line}\n", c.model, c.tier));
    }
    if cells.iter().any(|c| c.sources_changed) {
        s.push_str(
            "WARNING: the firmware sources changed while some groups were measured (twice); \
             their SNAP deltas are left out. Run again on a quiet tree.\n",
        );
    }
    let small_resnet: Vec<&Cell> = cells
        .iter()
        .filter(|c| c.model == "ResNet-8" && c.tier == "Small-MCU" && c.rank.is_some())
        .collect();
    if !small_resnet.is_empty() {
        s.push_str("Small-MCU links ResNet-8 + SNAP within 256 KB / 64 KB:\n");
        for c in small_resnet {
            let v = match &c.outcome {
                Outcome::Measured(m) => format!(
                    "PASS (flash {}, static RAM {}, + stack {})",
                    kb(m.flash),
                    kb(m.static_ram),
                    kb(m.stack)
                ),
                Outcome::DoesNotFit { verdict } => format!("FAIL ({verdict})"),
                Outcome::Failed { error } => format!("FAIL ({})", one_line(error)),
            };
            s.push_str(&format!("  r={}: {v}\n", rank_label(c)));
        }
    }
    s
}

fn pass(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "FAIL"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runlog::Inference;

    fn measured(model: &str, tier: &str, rank: Option<u32>, flash: u64, snap: u64) -> Cell {
        let fp = Footprint {
            flash_code_rodata: flash,
            data: 0,
            bss: 1000,
        };
        let log = RunLog {
            ops: 10,
            snap_ops: rank.map_or(0, |_| 3),
            arena_used: 900,
            stack_used: 24,
            unit: "insns".into(),
            inferences: vec![Inference {
                backbone: 1_000_000,
                snap,
            }],
        };
        Cell {
            model: model.into(),
            tier: tier.into(),
            rank,
            tap_ranks: rank.map_or(vec![], |r| vec![r, r]),
            model_bytes: 2048,
            outcome: Outcome::Measured(Measured::new(fp, 2048, &log)),
            snap_flash_delta: None,
            snap_flash: None,
            snap_ram_delta: None,
            sources_changed: false,
        }
    }

    #[test]
    fn deltas_come_from_the_plain_cell_of_the_same_model_and_tier() {
        let mut cells = vec![
            measured("DS-CNN", "Big-MCU", None, 100_000, 0),
            measured("DS-CNN", "Small-MCU", None, 90_000, 0),
            measured("DS-CNN", "Big-MCU", Some(64), 110_000, 5_000),
            measured("DS-CNN", "Small-MCU", Some(64), 93_000, 12_000),
        ];
        fill_deltas(&mut cells);
        assert_eq!(cells[2].snap_flash_delta, Some(10_000));
        assert_eq!(cells[2].snap_flash, Some(12_048));
        assert_eq!(cells[3].snap_flash_delta, Some(3_000));
        assert_eq!(cells[2].snap_ram_delta, Some(0));
        let sum = summary(&cells);
        assert!(
            sum.contains("DS-CNN Big-MCU: overhead 0.500% (PASS)"),
            "{sum}"
        );
        assert!(
            sum.contains("DS-CNN Small-MCU: overhead 1.200% (FAIL)"),
            "{sum}"
        );
        let md = markdown(&cells);
        assert!(
            md.contains("| DS-CNN | Big-MCU | 64 | 2.0 KB | 107.4 KB |"),
            "{md}"
        );
        assert!(md.contains("11.8 KB (+9.8 KB + 2.0 KB)"), "{md}");
    }

    #[test]
    fn a_cell_that_does_not_fit_prints_the_verdict() {
        let cells = vec![Cell {
            model: "ResNet-8".into(),
            tier: "Small-MCU".into(),
            rank: Some(64),
            tap_ranks: vec![16, 32],
            model_bytes: 100_000,
            outcome: Outcome::DoesNotFit {
                verdict: "does not fit: RAM overflow by 10 bytes".into(),
            },
            snap_flash_delta: None,
            snap_flash: None,
            snap_ram_delta: None,
            sources_changed: false,
        }];
        let md = markdown(&cells);
        assert!(
            md.contains("does not fit: RAM overflow by 10 bytes"),
            "{md}"
        );
        let sum = summary(&cells);
        assert!(
            sum.contains("r=64 (taps 16, 32): FAIL (does not fit"),
            "{sum}"
        );
        assert!(md.contains("| 64 (taps 16, 32) |"), "{md}");
        assert!(sum.contains("not measured (FAIL)"), "{sum}");
    }

    #[test]
    fn no_delta_across_changed_sources() {
        let mut cells = vec![
            measured("DS-CNN", "Big-MCU", None, 100_000, 0),
            measured("DS-CNN", "Big-MCU", Some(64), 110_000, 5_000),
        ];
        cells[1].sources_changed = true;
        fill_deltas(&mut cells);
        assert_eq!(cells[1].snap_flash_delta, None);
        assert!(summary(&cells).contains("WARNING"));
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(24479728), "24,479,728");
    }
}
