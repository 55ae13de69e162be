//! The serde report of a conversion (issue 4 step 6): everything the CLI prints as text or
//! writes with `--json`. The fitting crate fills what it computes; fields it cannot know (the
//! arena estimate, dev AUROCs from the evaluation crate) are `Option`s the CLI sets.

use serde::{Deserialize, Serialize};

use crate::calibrate::{Calibrator, OperatingPoint};
use crate::heads::HeadDiagnostics;
use crate::quantize::{QuantError, QuantizedTap};
use crate::taps::TapChoice;
use crate::Result;

/// One tap in the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TapReport {
    pub choice: TapChoice,
    /// Inverse-variance weight `w_ℓ` in `S`.
    pub weight: f64,
    /// Fit diagnostics, including the G.8 check `E[ē] ≈ 1` on held-out data.
    pub diagnostics: HeadDiagnostics,
    /// Int8 kernels vs float heads on held-out samples.
    pub int8_error: Option<QuantError>,
    /// MACs and constant bytes SNAP_PROJECT + SNAP_SURPRISAL add (ops crate cost formulas).
    pub added_macs: u64,
    pub added_param_bytes: u64,
}

/// Dev-set AUROCs for correct-vs-wrong (filled by the CLI from the evaluation crate).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DevAuroc {
    pub u: f64,
    pub msp: f64,
    pub entropy: f64,
}

/// Arena sizes before/after augmentation (filled by the CLI).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArenaEstimate {
    pub before_bytes: u64,
    pub after_bytes: u64,
}

/// The whole conversion report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitReport {
    pub taps: Vec<TapReport>,
    /// Backbone MACs per inference.
    pub backbone_macs: u64,
    /// Sum over taps plus SNAP_CALIBRATE.
    pub added_macs: u64,
    /// `100 · added_macs / backbone_macs`.
    pub added_macs_percent: f64,
    /// Constant bytes added (weights, biases, LUTs, isotonic table).
    pub added_param_bytes: u64,
    pub calibrator: Calibrator,
    /// α of `m(x)`.
    pub alpha: f32,
    /// τ and its dev coverage / selective risk.
    pub operating_point: OperatingPoint,
    /// Dev samples (ID + shifted) and wrong predictions among them.
    pub dev_samples: usize,
    pub dev_wrong: usize,
    pub dev_auroc: Option<DevAuroc>,
    pub arena: Option<ArenaEstimate>,
    /// Anything the user should know (over-budget taps, failed sanity checks, …).
    pub notes: Vec<String>,
}

/// One tap's ingredients for [`FitReport::new`].
pub struct TapParts<'a> {
    pub choice: &'a TapChoice,
    pub weight: f64,
    pub diagnostics: &'a HeadDiagnostics,
    pub quantized: &'a QuantizedTap,
    pub int8_error: Option<QuantError>,
    /// `H·W` of `a_{ℓ-1}` and of `a_ℓ`.
    pub spatial_in: usize,
    pub spatial_out: usize,
}

impl FitReport {
    /// Assembles the report; costs come from the ops crate (`calibrate_cost` is SNAP_CALIBRATE's
    /// `(macs, param_bytes)`), notes from the tap choices and the sanity checks.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        taps: &[TapParts<'_>],
        backbone_macs: u64,
        calibrate_cost: (u64, u64),
        calibrator: Calibrator,
        alpha: f32,
        operating_point: OperatingPoint,
        dev_samples: usize,
        dev_wrong: usize,
    ) -> Result<FitReport> {
        let mut notes = Vec::new();
        let mut out = Vec::with_capacity(taps.len());
        let (mut macs, mut bytes) = calibrate_cost;
        for t in taps {
            let (cp, cs) = t.quantized.cost(t.spatial_in, t.spatial_out)?;
            let tap_macs = cp.macs + cs.macs;
            let tap_bytes = cp.param_bytes + cs.param_bytes;
            macs += tap_macs;
            bytes += tap_bytes;
            for n in &t.choice.notes {
                notes.push(format!("tap {}: {n}", t.choice.name));
            }
            if !t.diagnostics.sanity_ok {
                notes.push(format!(
                    "tap {}: held-out E[ē] = {:.3}, far from 1 (App. G.8): the heads under- or over-disperse; more calibration data or another tap may help",
                    t.choice.name, t.diagnostics.ebar_mean_holdout
                ));
            }
            out.push(TapReport {
                choice: t.choice.clone(),
                weight: t.weight,
                diagnostics: t.diagnostics.clone(),
                int8_error: t.int8_error,
                added_macs: tap_macs,
                added_param_bytes: tap_bytes,
            });
        }
        Ok(FitReport {
            taps: out,
            backbone_macs,
            added_macs: macs,
            added_macs_percent: if backbone_macs > 0 {
                100.0 * macs as f64 / backbone_macs as f64
            } else {
                0.0
            },
            added_param_bytes: bytes,
            calibrator,
            alpha,
            operating_point,
            dev_samples,
            dev_wrong,
            dev_auroc: None,
            arena: None,
            notes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calibrate::{choose_threshold, LogisticFit, ThresholdRule};
    use crate::heads::{fit_tap, HeadConfig};
    use crate::quantize::{quantize_tap, ActQuant, QuantConfig};
    use crate::taps::{choose_rank, PreviousActivation, RankPolicy, TapCandidate};

    #[test]
    fn report_sums_costs_and_serializes() {
        let syn = crate::heads::tests::Synthetic::new(16, 8, 4, 0.0, 51);
        let s = syn.sample(800, 0.0, 52);
        let cand = TapCandidate {
            tensor: 7,
            name: "mid".into(),
            c_out: 8,
            out_hw: 4,
            previous: Some(PreviousActivation {
                tensor: 6,
                c_in: 16,
                in_hw: 4,
            }),
            unusable_reason: None,
            position: 3,
        };
        let choice = choose_rank(&cand, 1_000_000, RankPolicy::Fixed(4)).unwrap();
        let cfg = HeadConfig {
            rank: 4,
            ..HeadConfig::default()
        };
        let (heads, diag) = fit_tap(&s.x, &s.y, 16, 8, &cfg).unwrap();
        let q = ActQuant {
            scale: 0.05,
            zero_point: 0,
        };
        let qt = quantize_tap(&heads, q, q, &s.x, &QuantConfig::default()).unwrap();
        let u = [0.1f32, 0.2, 0.9, 0.8];
        let wrong = [false, false, true, false];
        let op = choose_threshold(&u, &wrong, ThresholdRule::Coverage(0.75)).unwrap();
        let cal = Calibrator::Logistic(LogisticFit {
            beta: [-1.0, 0.5, 0.0],
            label_free: true,
            balanced: true,
            iterations: 3,
            converged: true,
        });
        let parts = [TapParts {
            choice: &choice,
            weight: 1.0,
            diagnostics: &diag,
            quantized: &qt,
            int8_error: None,
            spatial_in: 4,
            spatial_out: 4,
        }];
        let r = FitReport::new(&parts, 1_000_000, (10, 0), cal, 0.5, op, 4, 1).unwrap();
        // Project: HW·C_in + r·C_in; surprisal: HW·C_out + 2·r·C_out; plus calibrate's 10.
        assert_eq!(r.added_macs, (4 * 16 + 4 * 16) + (4 * 8 + 2 * 4 * 8) + 10);
        assert!((r.added_macs_percent - 100.0 * r.added_macs as f64 / 1e6).abs() < 1e-12);
        assert_eq!(r.added_param_bytes, r.taps[0].added_param_bytes);
        let json = serde_json::to_string(&r).unwrap();
        let back: FitReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back.taps[0].choice, r.taps[0].choice);
        assert_eq!(back.operating_point, r.operating_point);
    }
}
