//! Tap selection and rank choice (paper §2.5 "Choosing taps and ranks", App. L, App. N.1).
//!
//! A *tap* is a block output `a_ℓ` whose producer also exposes the activation `a_{ℓ-1}` it
//! consumed; SNAP predicts `a_ℓ` from a rank-`r` projection of `GAP(a_{ℓ-1})`. The default set
//! is the paper's M+P: the end of a mid block and the penultimate block (the last block output
//! before the classifier), which App. N.1 found the best accuracy/latency trade-off.
//!
//! Ranks come from {16, 32, 64, 128}: the largest whose added MACs stay within
//! `budget_fraction` (default 1%) of the backbone MACs for that tap, never above `C_in`: a
//! ladder rank ≥ `C_in` becomes `r = C_in`, the identity projector (no `P` stored: a square
//! projector adds nothing the linear heads cannot absorb), and at least 16 (or `C_in` when
//! smaller) even when that exceeds the budget — the choice then records that it is over budget
//! so the report can say so.

use serde::{Deserialize, Serialize};

use snapuq_ops::project::{self, ProjectOptions};
use snapuq_ops::surprisal::{self, SurprisalOptions, Variant};

use crate::{FitError, Result};

/// Ranks the automatic policy chooses from (paper: r ∈ [32, 128], plus 16 for tiny models).
pub const RANK_LADDER: [usize; 4] = [16, 32, 64, 128];

/// Default per-tap budget: 1% of backbone MACs (§2.5).
pub const DEFAULT_BUDGET_FRACTION: f64 = 0.01;

/// One possible tap point, as the CLI finds it in the model (block outputs in execution order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TapCandidate {
    /// Tensor index of the realized activation `a_ℓ`.
    pub tensor: usize,
    /// Tensor name (may be empty).
    pub name: String,
    /// Channels of `a_ℓ` (`C_out`, the head output size `d_ℓ`).
    pub c_out: usize,
    /// Spatial size `H·W` of `a_ℓ` (1 for a vector).
    pub out_hw: usize,
    /// The previous activation `a_{ℓ-1}`, if the producer has a usable one.
    pub previous: Option<PreviousActivation>,
    /// Why there is no usable previous activation (shown when the user asks for this tap).
    pub unusable_reason: Option<String>,
    /// Position in the backbone: index of the producing operator in execution order.
    pub position: usize,
}

/// The activation a tap's projector reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousActivation {
    /// Tensor index of `a_{ℓ-1}`.
    pub tensor: usize,
    /// Channels of `a_{ℓ-1}` (`C_in`).
    pub c_in: usize,
    /// Spatial size `H·W` of `a_{ℓ-1}`.
    pub in_hw: usize,
}

/// How ranks are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum RankPolicy {
    /// Largest rank of [`RANK_LADDER`] within `budget_fraction` of the backbone MACs per tap.
    Budget { budget_fraction: f64 },
    /// The same fixed rank for every tap (validated against `C_in`).
    Fixed(usize),
}

impl Default for RankPolicy {
    fn default() -> Self {
        RankPolicy::Budget {
            budget_fraction: DEFAULT_BUDGET_FRACTION,
        }
    }
}

/// Multiply-accumulates and constant bytes SNAP adds for one tap, from the ops crate's own
/// cost formulas (App. L with GAP first, so the projector costs `HW·C_in + r·C_in` instead of
/// `HW·C_in·r`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TapCost {
    /// SNAP_PROJECT: GAP of `a_{ℓ-1}` (`HW_in·C_in` adds) plus `r·C_in` MACs.
    pub project_macs: u64,
    /// SNAP_SURPRISAL: GAP of `a_ℓ` (`HW_out·C_out` adds) and both heads (`2·r·C_out`).
    pub surprisal_macs: u64,
    /// Int8 weights, int32 biases and the 256-entry int32 LUT of both ops.
    pub param_bytes: u64,
}

impl TapCost {
    /// Total added MACs of the tap.
    pub fn total_macs(&self) -> u64 {
        self.project_macs + self.surprisal_macs
    }
}

/// Cost of a tap at rank `r` (Gaussian variant, projector with bias; at `r = C_in` the
/// identity projector, which stores no `P` and no bias).
pub fn tap_cost(prev: &PreviousActivation, c_out: usize, out_hw: usize, r: usize) -> TapCost {
    let po = ProjectOptions {
        c_in: prev.c_in,
        r,
        a_zp: 0,
        z_zp: 0,
        z_mult: 0,
        z_shift: 0,
    };
    let so = SurprisalOptions {
        c_out,
        r,
        variant: Variant::Gaussian,
        b_scale: 0.0,
        z_zp: 0,
        a_zp: 0,
        mu_mult: 0,
        mu_shift: 0,
        ls_mult: 0,
        ls_shift: 0,
        ls_zp: 0,
        ls_scale: 1.0,
        ls_min: -128,
        ls_max: 127,
        lut_frac: 16,
        log_det: false,
    };
    // r = C_in: the identity projector (no P, no bias; see `heads`).
    let p = if r == prev.c_in {
        project::identity_cost(&po, prev.in_hw, false)
    } else {
        project::cost(&po, prev.in_hw, true)
    };
    let s = surprisal::cost(&so, out_hw);
    TapCost {
        project_macs: p.macs,
        surprisal_macs: s.macs,
        param_bytes: p.param_bytes + s.param_bytes,
    }
}

/// A chosen tap with its rank.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TapChoice {
    /// Tensor index of `a_ℓ`.
    pub tensor: usize,
    /// Tensor name.
    pub name: String,
    /// Tensor index of `a_{ℓ-1}`.
    pub previous_tensor: usize,
    /// `C_in`.
    pub c_in: usize,
    /// `C_out`.
    pub c_out: usize,
    /// Projector rank `r`.
    pub rank: usize,
    /// Added cost at that rank.
    pub cost: TapCost,
    /// Per-tap MAC budget (`None` for a fixed rank policy).
    pub budget_macs: Option<u64>,
    /// True if even the smallest admissible rank exceeds the budget.
    pub over_budget: bool,
    /// Human-readable notes (over budget, rank capped by `C_in`, …).
    pub notes: Vec<String>,
}

/// Picks the default taps: the penultimate block (last usable candidate) and the end of a mid
/// block (the usable candidate closest to the middle of the backbone, excluding the penultimate
/// one). Returns indices into `candidates`, in backbone order; one tap if only one is usable.
pub fn default_taps(candidates: &[TapCandidate]) -> Result<Vec<usize>> {
    let mut usable: Vec<usize> = (0..candidates.len())
        .filter(|&i| candidates[i].previous.is_some())
        .collect();
    usable.sort_by_key(|&i| candidates[i].position);
    let Some(&penultimate) = usable.last() else {
        return Err(FitError::NoUsableTap);
    };
    let first = candidates[usable[0]].position as f64;
    let last = candidates[penultimate].position as f64;
    let middle = 0.5 * (first + last);
    let mid = usable[..usable.len() - 1].iter().copied().min_by(|&a, &b| {
        let da = (candidates[a].position as f64 - middle).abs();
        let db = (candidates[b].position as f64 - middle).abs();
        // Ties go to the later block: deeper features separate shifts better (App. N.1).
        da.total_cmp(&db)
            .then(candidates[b].position.cmp(&candidates[a].position))
    });
    Ok(match mid {
        Some(m) => vec![m, penultimate],
        None => vec![penultimate],
    })
}

/// Resolves user overrides (tensor names or decimal tensor indices) to candidate indices, in the
/// order given. Refuses unknown taps, duplicates and taps without a previous activation.
pub fn resolve_taps(candidates: &[TapCandidate], requested: &[String]) -> Result<Vec<usize>> {
    let mut chosen: Vec<usize> = Vec::with_capacity(requested.len());
    for req in requested {
        let req_trim = req.trim();
        let by_index = req_trim.parse::<usize>().ok();
        let found = candidates
            .iter()
            .position(|c| c.name == req_trim)
            .or_else(|| by_index.and_then(|t| candidates.iter().position(|c| c.tensor == t)));
        let Some(i) = found else {
            let available = candidates
                .iter()
                .map(|c| format!("{} (tensor {})", display_name(c), c.tensor))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(FitError::UnknownTap {
                requested: req_trim.to_string(),
                available: if available.is_empty() {
                    "none".into()
                } else {
                    available
                },
            });
        };
        let c = &candidates[i];
        if c.previous.is_none() {
            return Err(FitError::TapWithoutPrevious {
                name: display_name(c),
                tensor: c.tensor,
                why: c
                    .unusable_reason
                    .clone()
                    .unwrap_or_else(|| "its producer reads no activation tensor".into()),
            });
        }
        if chosen.contains(&i) {
            return Err(FitError::DuplicateTap {
                name: display_name(c),
                tensor: c.tensor,
            });
        }
        chosen.push(i);
    }
    if chosen.is_empty() {
        return Err(FitError::BadConfig {
            what: "--taps".into(),
            why: "the list is empty; name at least one tap or omit the option".into(),
        });
    }
    Ok(chosen)
}

fn display_name(c: &TapCandidate) -> String {
    if c.name.is_empty() {
        format!("#{}", c.tensor)
    } else {
        c.name.clone()
    }
}

/// Chooses the rank of one tap.
pub fn choose_rank(
    candidate: &TapCandidate,
    backbone_macs: u64,
    policy: RankPolicy,
) -> Result<TapChoice> {
    let name = display_name(candidate);
    let prev = candidate
        .previous
        .as_ref()
        .ok_or_else(|| FitError::TapWithoutPrevious {
            name: name.clone(),
            tensor: candidate.tensor,
            why: candidate
                .unusable_reason
                .clone()
                .unwrap_or_else(|| "its producer reads no activation tensor".into()),
        })?;
    if prev.c_in == 0 || candidate.c_out == 0 {
        return Err(FitError::BadConfig {
            what: format!("tap `{name}`"),
            why: "zero channels".into(),
        });
    }
    let mut notes = Vec::new();
    let (rank, budget_macs, over_budget) = match policy {
        RankPolicy::Fixed(r) => {
            if r == 0 || r > prev.c_in {
                return Err(FitError::BadRank {
                    name,
                    rank: r,
                    max: prev.c_in,
                });
            }
            (r, None, false)
        }
        RankPolicy::Budget { budget_fraction } => {
            if !(budget_fraction > 0.0 && budget_fraction <= 1.0) {
                return Err(FitError::BadConfig {
                    what: "rank budget".into(),
                    why: format!("fraction {budget_fraction} must be in (0, 1]"),
                });
            }
            let budget = (budget_fraction * backbone_macs as f64).floor() as u64;
            // Ladder ranks ≥ C_in all mean the identity projector at r = C_in (a square P
            // adds nothing the heads cannot absorb), so C_in itself is a candidate.
            let mut admissible: Vec<usize> =
                RANK_LADDER.iter().map(|&r| r.min(prev.c_in)).collect();
            admissible.dedup();
            let smallest = admissible[0];
            if admissible.len() < RANK_LADDER.len() {
                notes.push(format!(
                    "ranks ≥ C_in = {} use the identity projector (r = C_in, no P stored)",
                    prev.c_in
                ));
            }
            let fitting = admissible.iter().copied().rev().find(|&r| {
                tap_cost(prev, candidate.c_out, candidate.out_hw, r).total_macs() <= budget
            });
            match fitting {
                Some(r) => (r, Some(budget), false),
                None => {
                    let cost = tap_cost(prev, candidate.c_out, candidate.out_hw, smallest);
                    let share = 100.0 * cost.total_macs() as f64 / backbone_macs.max(1) as f64;
                    notes.push(format!(
                        "tap {name}: even the smallest rank r = {smallest} costs {} MACs ({share:.1}% of the backbone's {backbone_macs}), over the budget of {budget} MACs ({:.2}%); using r = {smallest} anyway. To keep the heads small, choose a tap with fewer channels or a smaller feature map (--taps, see `snap-convert taps`); to accept the cost and silence this note, pass --rank-budget {:.3}",
                        cost.total_macs(),
                        100.0 * budget_fraction,
                        (share / 100.0 * 1000.0).ceil() / 1000.0
                    ));
                    (smallest, Some(budget), true)
                }
            }
        }
    };
    Ok(TapChoice {
        tensor: candidate.tensor,
        name,
        previous_tensor: prev.tensor,
        c_in: prev.c_in,
        c_out: candidate.c_out,
        rank,
        cost: tap_cost(prev, candidate.c_out, candidate.out_hw, rank),
        budget_macs,
        over_budget,
        notes,
    })
}

/// Full tap step: default or user taps, then a rank per tap.
pub fn select_taps(
    candidates: &[TapCandidate],
    requested: Option<&[String]>,
    backbone_macs: u64,
    policy: RankPolicy,
) -> Result<Vec<TapChoice>> {
    let idx = match requested {
        Some(r) => resolve_taps(candidates, r)?,
        None => default_taps(candidates)?,
    };
    idx.into_iter()
        .map(|i| choose_rank(&candidates[i], backbone_macs, policy))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(tensor: usize, pos: usize, c_in: usize, c_out: usize, hw: usize) -> TapCandidate {
        TapCandidate {
            tensor,
            name: format!("block{pos}"),
            c_out,
            out_hw: hw,
            previous: Some(PreviousActivation {
                tensor: tensor - 1,
                c_in,
                in_hw: hw,
            }),
            unusable_reason: None,
            position: pos,
        }
    }

    fn resnet_like() -> Vec<TapCandidate> {
        let mut first = cand(1, 0, 3, 16, 1024);
        first.previous = None;
        first.unusable_reason = Some("the input image is not an activation".into());
        vec![
            first,
            cand(10, 3, 16, 16, 1024),
            cand(20, 6, 16, 32, 256),
            cand(30, 9, 32, 64, 64),
            cand(40, 11, 64, 64, 64),
        ]
    }

    #[test]
    fn default_is_mid_plus_penultimate() {
        let c = resnet_like();
        let t = default_taps(&c).unwrap();
        // usable positions 3, 6, 9, 11 → middle 7 → position 6; penultimate = 11.
        assert_eq!(t, vec![2, 4]);
    }

    #[test]
    fn single_usable_candidate_gives_one_tap_and_none_errors() {
        let mut c = resnet_like();
        c.truncate(2);
        assert_eq!(default_taps(&c).unwrap(), vec![1]);
        c.truncate(1);
        assert_eq!(default_taps(&c), Err(FitError::NoUsableTap));
    }

    #[test]
    fn overrides_validate() {
        let c = resnet_like();
        assert_eq!(
            resolve_taps(&c, &["block9".into(), "20".into()]).unwrap(),
            vec![3, 2]
        );
        let e = resolve_taps(&c, &["nope".into()]).unwrap_err();
        assert!(matches!(e, FitError::UnknownTap { .. }));
        assert!(e.to_string().contains("block9 (tensor 30)"));
        let e = resolve_taps(&c, &["1".into()]).unwrap_err();
        assert!(e.to_string().contains("input image"), "{e}");
        let e = resolve_taps(&c, &["block9".into(), "30".into()]).unwrap_err();
        assert!(matches!(e, FitError::DuplicateTap { .. }));
    }

    #[test]
    fn rank_respects_budget() {
        let c = resnet_like();
        for backbone in [200_000u64, 1_000_000, 5_000_000, 12_500_000, 100_000_000] {
            for cand in &c[1..] {
                let ch = choose_rank(cand, backbone, RankPolicy::default()).unwrap();
                let budget = backbone / 100;
                assert!(RANK_LADDER.contains(&ch.rank));
                assert!(ch.rank <= ch.c_in);
                if ch.over_budget {
                    assert_eq!(ch.rank, 16);
                    assert!(ch.cost.total_macs() > budget);
                } else {
                    assert!(ch.cost.total_macs() <= budget);
                    // The next rank up either exceeds C_in or the budget.
                    if let Some(&next) = RANK_LADDER.iter().find(|&&r| r > ch.rank) {
                        let prev = cand.previous.as_ref().unwrap();
                        assert!(
                            next > prev.c_in
                                || tap_cost(prev, cand.c_out, cand.out_hw, next).total_macs()
                                    > budget
                        );
                    }
                }
            }
        }
        // A tiny backbone: even r = 16 is over, and it is reported.
        let ch = choose_rank(&c[3], 10_000, RankPolicy::default()).unwrap();
        assert!(ch.over_budget);
        assert!(ch.notes.iter().any(|n| n.contains("over the budget")));
        // A large one reaches the C_in cap.
        let ch = choose_rank(&c[4], 1_000_000_000, RankPolicy::default()).unwrap();
        assert_eq!(ch.rank, 64);
    }

    #[test]
    fn cost_follows_app_l_with_gap_first() {
        let prev = PreviousActivation {
            tensor: 0,
            c_in: 32,
            in_hw: 64,
        };
        let c = tap_cost(&prev, 64, 64, 16);
        assert_eq!(c.project_macs, 64 * 32 + 16 * 32);
        assert_eq!(c.surprisal_macs, 64 * 64 + 2 * 16 * 64);
        // P + its int32 bias, both heads + int32 biases, the int32 LUT.
        assert_eq!(
            c.param_bytes,
            (16 * 32 + 4 * 16) + (2 * 16 * 64 + 8 * 64 + 1024)
        );
    }

    #[test]
    fn fixed_rank_is_validated() {
        let c = resnet_like();
        assert_eq!(
            choose_rank(&c[3], 1, RankPolicy::Fixed(24)).unwrap().rank,
            24
        );
        assert!(matches!(
            choose_rank(&c[3], 1, RankPolicy::Fixed(33)),
            Err(FitError::BadRank { max: 32, .. })
        ));
    }
}
