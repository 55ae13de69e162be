//! Metrics of App. F: failure detection (AUROC / AUPRC), calibration (NLL, Brier, ECE),
//! selective prediction (risk–coverage, AURC, risk at coverage, selective NLL) and bootstrap CIs.
//!
//! Scores are "higher = more likely positive" (error / OOD / event). Probability matrices are
//! flat row-major `n * n_classes`.

use crate::error::{check_finite, check_len, EvalError, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Denominator guard of F.1/F.6 (`ε = 1e-12`).
pub const EPS: f64 = 1e-12;
/// Bootstrap resamples used throughout the paper (F.5).
pub const BOOTSTRAP_RESAMPLES: usize = 1000;
/// Adaptive ECE bin count (F.4).
pub const ECE_BINS: usize = 15;
/// Coverage targets reported by O.2.
pub const COVERAGE_TARGETS: [f64; 3] = [0.8, 0.9, 0.95];

/// A binary ranking task: one score and one positive flag per sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BinaryTask {
    /// Higher = more likely positive.
    pub scores: Vec<f64>,
    /// True for positives (error / OOD / event).
    pub positive: Vec<bool>,
}

impl BinaryTask {
    /// Builds a task after checking lengths and finiteness.
    pub fn new(scores: Vec<f64>, positive: Vec<bool>) -> Result<Self> {
        check_len("positive flags", scores.len(), positive.len())?;
        check_finite("scores", &scores)?;
        Ok(Self { scores, positive })
    }
    /// AUROC of the task (see [`auroc`]).
    pub fn auroc(&self) -> Result<f64> {
        auroc(&self.scores, &self.positive)
    }
    /// Average precision of the task (see [`auprc`]).
    pub fn auprc(&self) -> Result<f64> {
        auprc(&self.scores, &self.positive)
    }
    /// FPR at the first threshold reaching `recall` (see [`fpr_at_recall`]).
    pub fn fpr_at_recall(&self, recall: f64) -> Result<OperatingPoint> {
        fpr_at_recall(&self.scores, &self.positive, recall)
    }
}

/// ID✓ vs ID✗ (F.2): positives are wrong predictions, negatives correct ones.
/// Pass ID and CID samples together to get the "over ID+CID" task of the issue.
pub fn id_error_task(scores: &[f64], correct: &[bool]) -> Result<BinaryTask> {
    check_len("correct flags", scores.len(), correct.len())?;
    BinaryTask::new(scores.to_vec(), correct.iter().map(|c| !c).collect())
}

/// ID✓ vs OOD (F.2): positives are OOD samples, negatives are *correct* ID samples;
/// wrong ID samples are dropped so semantic shift is not mixed with hard ID errors.
pub fn id_ood_task(
    id_scores: &[f64],
    id_correct: &[bool],
    ood_scores: &[f64],
) -> Result<BinaryTask> {
    check_len("ID correct flags", id_scores.len(), id_correct.len())?;
    let mut scores = Vec::with_capacity(id_scores.len() + ood_scores.len());
    let mut positive = Vec::with_capacity(scores.capacity());
    for (&s, &c) in id_scores.iter().zip(id_correct) {
        if c {
            scores.push(s);
            positive.push(false);
        }
    }
    scores.extend_from_slice(ood_scores);
    positive.extend(std::iter::repeat_n(true, ood_scores.len()));
    BinaryTask::new(scores, positive)
}

fn class_counts(scores: &[f64], positive: &[bool]) -> Result<(usize, usize)> {
    check_len("positive flags", scores.len(), positive.len())?;
    if scores.is_empty() {
        return Err(EvalError::Empty("scores"));
    }
    check_finite("scores", scores)?;
    let p = positive.iter().filter(|&&b| b).count();
    let n = scores.len() - p;
    if p == 0 || n == 0 {
        return Err(EvalError::Undefined(format!(
            "ranking metric needs both classes but got {p} positives and {n} negatives"
        )));
    }
    Ok((p, n))
}

/// AUROC via Mann–Whitney U with average ranks: a tied (positive, negative) pair gets half
/// credit, which equals the trapezoidal ROC integral over unique thresholds (F.2, F.6).
pub fn auroc(scores: &[f64], positive: &[bool]) -> Result<f64> {
    let (p, n) = class_counts(scores, positive)?;
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum_pos = 0.0;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        // Ranks i+1..=j+1 share their average.
        let avg_rank = (i + j + 2) as f64 / 2.0;
        rank_sum_pos += avg_rank * idx[i..=j].iter().filter(|&&k| positive[k]).count() as f64;
        i = j + 1;
    }
    let (p, n) = (p as f64, n as f64);
    Ok((rank_sum_pos - p * (p + 1.0) / 2.0) / (p * n))
}

/// One point of a precision–recall sweep (threshold `s >= threshold` predicts positive).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PrPoint {
    /// Score threshold.
    pub threshold: f64,
    /// Precision with the `ε` guard.
    pub precision: f64,
    /// Recall (TPR).
    pub recall: f64,
    /// False positive rate.
    pub fpr: f64,
}

/// PR/ROC points at every unique score in descending order; tied scores enter together
/// (right-continuous steps, F.6). `weights` (one per sample, ≥ 0) gives the event-weighted
/// variant of F.7; `None` weighs every sample 1.
pub fn pr_curve(
    scores: &[f64],
    positive: &[bool],
    weights: Option<&[f64]>,
) -> Result<Vec<PrPoint>> {
    class_counts(scores, positive)?;
    if let Some(w) = weights {
        check_len("weights", scores.len(), w.len())?;
        check_finite("weights", w)?;
        if w.iter().any(|&x| x < 0.0) {
            return Err(EvalError::InvalidArgument(
                "weights must be non-negative".into(),
            ));
        }
    }
    let weight = |i: usize| weights.map_or(1.0, |w| w[i]);
    let total_pos: f64 = (0..scores.len()).filter(|&i| positive[i]).map(weight).sum();
    let total_neg: f64 = (0..scores.len())
        .filter(|&i| !positive[i])
        .map(weight)
        .sum();
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut points = Vec::new();
    let mut i = 0;
    while i < idx.len() {
        let t = scores[idx[i]];
        while i < idx.len() && scores[idx[i]] == t {
            if positive[idx[i]] {
                tp += weight(idx[i]);
            } else {
                fp += weight(idx[i]);
            }
            i += 1;
        }
        points.push(PrPoint {
            threshold: t,
            precision: tp / (tp + fp + EPS),
            recall: tp / (total_pos + EPS),
            fpr: fp / (total_neg + EPS),
        });
    }
    Ok(points)
}

/// AUPRC as step-wise average precision `Σ (R_i − R_{i−1}) P_i`, `R_0 = 0`, over unique
/// thresholds in descending order (scikit-learn's `average_precision_score`, which F.6 says
/// the paper matches).
pub fn auprc(scores: &[f64], positive: &[bool]) -> Result<f64> {
    auprc_weighted(scores, positive, None)
}

/// [`auprc`] with per-sample weights (event-weighted PR of F.7 when built by
/// [`crate::streams::event_weights`]).
pub fn auprc_weighted(scores: &[f64], positive: &[bool], weights: Option<&[f64]>) -> Result<f64> {
    let pts = pr_curve(scores, positive, weights)?;
    let mut prev_r = 0.0;
    let mut area = 0.0;
    for p in &pts {
        area += (p.recall - prev_r) * p.precision;
        prev_r = p.recall;
    }
    Ok(area)
}

/// VOC-style interpolated AUPRC: each recall step uses the best precision at that recall or
/// higher (`max_{j ≥ i} P_j`). F.2 prints `max_{j ≤ i}`, which would reward precision seen at
/// *lower* recall; we use the standard VOC envelope and report plain [`auprc`] as the headline.
pub fn auprc_interpolated(scores: &[f64], positive: &[bool]) -> Result<f64> {
    let pts = pr_curve(scores, positive, None)?;
    let mut envelope = vec![0.0; pts.len()];
    let mut best: f64 = 0.0;
    for i in (0..pts.len()).rev() {
        best = best.max(pts[i].precision);
        envelope[i] = best;
    }
    let mut prev_r = 0.0;
    let mut area = 0.0;
    for (p, e) in pts.iter().zip(envelope) {
        area += (p.recall - prev_r) * e;
        prev_r = p.recall;
    }
    Ok(area)
}

/// Threshold and rates at an operating point.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OperatingPoint {
    /// Predict positive when `score >= threshold`.
    pub threshold: f64,
    /// Recall reached.
    pub recall: f64,
    /// False positive rate at that threshold.
    pub fpr: f64,
    /// Precision at that threshold.
    pub precision: f64,
}

/// FPR at the highest threshold whose recall reaches `target_recall` (e.g. 0.9). The PR
/// curve is read at its first point at or above the target rather than interpolated, so the
/// reported recall is ≥ the target.
pub fn fpr_at_recall(
    scores: &[f64],
    positive: &[bool],
    target_recall: f64,
) -> Result<OperatingPoint> {
    if !(0.0..=1.0).contains(&target_recall) {
        return Err(EvalError::InvalidArgument(format!(
            "target recall {target_recall} must be in [0, 1]"
        )));
    }
    let pts = pr_curve(scores, positive, None)?;
    let p = pts
        .iter()
        .find(|p| p.recall >= target_recall - 1e-9)
        .or(pts.last())
        .copied()
        .ok_or(EvalError::Empty("scores"))?;
    Ok(OperatingPoint {
        threshold: p.threshold,
        recall: p.recall,
        fpr: p.fpr,
        precision: p.precision,
    })
}

fn check_probs(probs: &[f64], n_classes: usize, labels: &[usize]) -> Result<()> {
    if n_classes == 0 {
        return Err(EvalError::InvalidArgument(
            "n_classes must be at least 1".into(),
        ));
    }
    if labels.is_empty() {
        return Err(EvalError::Empty("labels"));
    }
    check_len(
        "probabilities (n * n_classes)",
        labels.len() * n_classes,
        probs.len(),
    )?;
    check_finite("probabilities", probs)?;
    if let Some(&bad) = labels.iter().find(|&&l| l >= n_classes) {
        return Err(EvalError::InvalidArgument(format!(
            "label {bad} is out of range for {n_classes} classes"
        )));
    }
    Ok(())
}

/// Row-wise argmax of a flat `n * n_classes` matrix (first maximum wins).
pub fn argmax_rows(values: &[f64], n_classes: usize) -> Result<Vec<usize>> {
    if n_classes == 0 || !values.len().is_multiple_of(n_classes) {
        return Err(EvalError::InvalidArgument(format!(
            "{} values do not form rows of {n_classes} classes",
            values.len()
        )));
    }
    Ok(values
        .chunks_exact(n_classes)
        .map(|row| {
            row.iter()
                .enumerate()
                .fold((0, f64::NEG_INFINITY), |(bi, bv), (i, &v)| {
                    if v > bv {
                        (i, v)
                    } else {
                        (bi, bv)
                    }
                })
                .0
        })
        .collect())
}

/// `c_i = [argmax p_i == y_i]` (F.1).
pub fn correctness(probs: &[f64], n_classes: usize, labels: &[usize]) -> Result<Vec<bool>> {
    check_probs(probs, n_classes, labels)?;
    Ok(argmax_rows(probs, n_classes)?
        .into_iter()
        .zip(labels)
        .map(|(p, &y)| p == y)
        .collect())
}

/// Mean negative log-likelihood `−log p_{i,y_i}` (F.4, eq. 22); probabilities are floored at
/// `ε` so a hard zero gives a large finite value instead of infinity.
pub fn nll(probs: &[f64], n_classes: usize, labels: &[usize]) -> Result<f64> {
    check_probs(probs, n_classes, labels)?;
    let total: f64 = labels
        .iter()
        .enumerate()
        .map(|(i, &y)| -probs[i * n_classes + y].max(EPS).ln())
        .sum();
    Ok(total / labels.len() as f64)
}

/// Multi-class Brier score `(1/L)‖p − e_y‖²` averaged over samples (F.4, eq. 23).
pub fn brier(probs: &[f64], n_classes: usize, labels: &[usize]) -> Result<f64> {
    check_probs(probs, n_classes, labels)?;
    let mut total = 0.0;
    for (i, &y) in labels.iter().enumerate() {
        let row = &probs[i * n_classes..(i + 1) * n_classes];
        let sq: f64 = row
            .iter()
            .enumerate()
            .map(|(l, &p)| {
                let t = if l == y { 1.0 } else { 0.0 };
                (p - t) * (p - t)
            })
            .sum();
        total += sq / n_classes as f64;
    }
    Ok(total / labels.len() as f64)
}

/// One adaptive (equal-mass) reliability bin.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityBin {
    /// Smallest confidence in the bin.
    pub lo: f64,
    /// Largest confidence in the bin.
    pub hi: f64,
    /// Samples in the bin.
    pub count: usize,
    /// Mean confidence `conf(b)`.
    pub confidence: f64,
    /// Accuracy `acc(b)`.
    pub accuracy: f64,
}

/// ECE with its bins (for the reliability diagram).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ece {
    /// `Σ |I_b|/n · |acc(b) − conf(b)|`.
    pub ece: f64,
    /// Non-empty bins in ascending confidence.
    pub bins: Vec<ReliabilityBin>,
}

/// ECE with `n_bins` equal-mass bins over `q_i = max_l p_{i,l}` (F.4; the paper uses 15,
/// [`ECE_BINS`]). Samples are sorted by confidence and bin `b` takes sorted positions
/// `⌊b·n/B⌋ .. ⌊(b+1)·n/B⌋`; empty bins (n < B) are skipped.
pub fn ece(probs: &[f64], n_classes: usize, labels: &[usize], n_bins: usize) -> Result<Ece> {
    check_probs(probs, n_classes, labels)?;
    if n_bins == 0 {
        return Err(EvalError::InvalidArgument(
            "ECE needs at least one bin".into(),
        ));
    }
    let correct = correctness(probs, n_classes, labels)?;
    let conf: Vec<f64> = probs
        .chunks_exact(n_classes)
        .map(|r| r.iter().copied().fold(f64::NEG_INFINITY, f64::max))
        .collect();
    let n = labels.len();
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| conf[a].total_cmp(&conf[b]));
    let mut bins = Vec::new();
    let mut total = 0.0;
    for b in 0..n_bins {
        let (s, e) = (b * n / n_bins, (b + 1) * n / n_bins);
        if s == e {
            continue;
        }
        let members = &idx[s..e];
        let count = members.len();
        let confidence = members.iter().map(|&i| conf[i]).sum::<f64>() / count as f64;
        let accuracy = members.iter().filter(|&&i| correct[i]).count() as f64 / count as f64;
        total += count as f64 / n as f64 * (accuracy - confidence).abs();
        bins.push(ReliabilityBin {
            lo: conf[members[0]],
            hi: conf[members[count - 1]],
            count,
            confidence,
            accuracy,
        });
    }
    Ok(Ece { ece: total, bins })
}

/// Risk–coverage curve (F.3): accepting every sample with `score <= thresholds[k]` gives
/// `coverage[k]` and `risk[k]` (error rate among accepted). Tied scores are accepted together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskCoverage {
    /// Acceptance thresholds (ascending unique scores).
    pub thresholds: Vec<f64>,
    /// Fraction accepted.
    pub coverage: Vec<f64>,
    /// Error rate among the accepted.
    pub risk: Vec<f64>,
}

/// Sweeps acceptance thresholds over the unique scores (lower uncertainty accepted first).
pub fn risk_coverage(scores: &[f64], errors: &[bool]) -> Result<RiskCoverage> {
    check_len("error flags", scores.len(), errors.len())?;
    if scores.is_empty() {
        return Err(EvalError::Empty("scores"));
    }
    check_finite("scores", scores)?;
    let n = scores.len();
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rc = RiskCoverage {
        thresholds: Vec::new(),
        coverage: Vec::new(),
        risk: Vec::new(),
    };
    let (mut k, mut err) = (0usize, 0usize);
    while k < n {
        let t = scores[idx[k]];
        while k < n && scores[idx[k]] == t {
            err += usize::from(errors[idx[k]]);
            k += 1;
        }
        rc.thresholds.push(t);
        rc.coverage.push(k as f64 / n as f64);
        rc.risk.push(err as f64 / (k as f64 + EPS));
    }
    Ok(rc)
}

impl RiskCoverage {
    /// Area under the risk–coverage step curve, `Σ (cov_k − cov_{k−1}) · risk_k`; with no ties
    /// this is the usual AURC, the mean over k of the risk of the k most certain samples.
    pub fn aurc(&self) -> f64 {
        let mut prev = 0.0;
        let mut area = 0.0;
        for (c, r) in self.coverage.iter().zip(&self.risk) {
            area += (c - prev) * r;
            prev = *c;
        }
        area
    }

    /// The operating point with the smallest coverage at or above `target` ("closest coverage
    /// from above", F.3).
    pub fn at_coverage(&self, target: f64) -> Result<SelectivePoint> {
        if !(0.0..=1.0).contains(&target) {
            return Err(EvalError::InvalidArgument(format!(
                "coverage target {target} must be in [0, 1]"
            )));
        }
        let k = self
            .coverage
            .iter()
            .position(|&c| c >= target - 1e-12)
            .unwrap_or(self.coverage.len().saturating_sub(1));
        let (threshold, coverage, risk) = match (
            self.thresholds.get(k),
            self.coverage.get(k),
            self.risk.get(k),
        ) {
            (Some(&t), Some(&c), Some(&r)) => (t, c, r),
            _ => return Err(EvalError::Empty("risk–coverage curve")),
        };
        Ok(SelectivePoint {
            target,
            threshold,
            coverage,
            risk,
        })
    }
}

/// A selective-prediction operating point.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SelectivePoint {
    /// Requested coverage.
    pub target: f64,
    /// Accept samples with `score <= threshold`.
    pub threshold: f64,
    /// Coverage achieved (≥ target).
    pub coverage: f64,
    /// Error rate among accepted.
    pub risk: f64,
}

/// AURC of [`risk_coverage`].
pub fn aurc(scores: &[f64], errors: &[bool]) -> Result<f64> {
    Ok(risk_coverage(scores, errors)?.aurc())
}

/// Risk at `target` coverage (O.2 uses 0.8 / 0.9 / 0.95, [`COVERAGE_TARGETS`]).
pub fn risk_at_coverage(scores: &[f64], errors: &[bool], target: f64) -> Result<SelectivePoint> {
    risk_coverage(scores, errors)?.at_coverage(target)
}

/// Selective NLL (F.3, eq. 21) on the samples accepted at `target` coverage.
pub fn selective_nll(
    scores: &[f64],
    probs: &[f64],
    n_classes: usize,
    labels: &[usize],
    target: f64,
) -> Result<f64> {
    check_probs(probs, n_classes, labels)?;
    check_len("scores", labels.len(), scores.len())?;
    let errors = correctness(probs, n_classes, labels)?
        .into_iter()
        .map(|c| !c)
        .collect::<Vec<_>>();
    let op = risk_at_coverage(scores, &errors, target)?;
    let (mut sum, mut count) = (0.0, 0.0);
    for (i, &y) in labels.iter().enumerate() {
        if scores[i] <= op.threshold {
            sum += -probs[i * n_classes + y].max(EPS).ln();
            count += 1.0;
        }
    }
    Ok(sum / (count + EPS))
}

/// Linear-interpolated quantile (`q` in [0, 1], numpy's default method) of unsorted values.
pub fn quantile(values: &[f64], q: f64) -> Result<f64> {
    if values.is_empty() {
        return Err(EvalError::Empty("values"));
    }
    if !(0.0..=1.0).contains(&q) {
        return Err(EvalError::InvalidArgument(format!(
            "quantile {q} must be in [0, 1]"
        )));
    }
    check_finite("values", values)?;
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let pos = q * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    Ok(v[lo] + (v[hi] - v[lo]) * (pos - lo as f64))
}

/// A point estimate with a bootstrap 95% interval (2.5 / 97.5 percentiles, F.5).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Ci {
    /// Statistic on the full sample.
    pub estimate: f64,
    /// 2.5th percentile of the bootstrap distribution.
    pub lo: f64,
    /// 97.5th percentile of the bootstrap distribution.
    pub hi: f64,
    /// Resamples where the statistic was defined (e.g. both classes present).
    pub resamples: usize,
}

/// Nonparametric bootstrap: draws `resamples` index vectors of length `n` with replacement
/// from a ChaCha8 stream seeded by `seed` and evaluates `statistic` on each. Resamples where
/// the statistic is undefined (`None`) are skipped and not counted.
pub fn bootstrap_ci<F>(n: usize, resamples: usize, seed: u64, mut statistic: F) -> Result<Ci>
where
    F: FnMut(&[usize]) -> Option<f64>,
{
    if n == 0 {
        return Err(EvalError::Empty("bootstrap sample"));
    }
    let all: Vec<usize> = (0..n).collect();
    let estimate = statistic(&all)
        .filter(|v| v.is_finite())
        .ok_or_else(|| EvalError::Undefined("statistic is undefined on the full sample".into()))?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut idx = vec![0usize; n];
    let mut values = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        for slot in idx.iter_mut() {
            *slot = rng.gen_range(0..n);
        }
        if let Some(v) = statistic(&idx).filter(|v| v.is_finite()) {
            values.push(v);
        }
    }
    if values.is_empty() {
        return Err(EvalError::Undefined(
            "statistic was undefined on every bootstrap resample".into(),
        ));
    }
    Ok(Ci {
        estimate,
        lo: quantile(&values, 0.025)?,
        hi: quantile(&values, 0.975)?,
        resamples: values.len(),
    })
}

fn resampled_task(scores: &[f64], positive: &[bool], idx: &[usize]) -> (Vec<f64>, Vec<bool>) {
    (
        idx.iter().map(|&i| scores[i]).collect(),
        idx.iter().map(|&i| positive[i]).collect(),
    )
}

/// AUROC with a 1000-resample bootstrap CI (examples resampled, F.5).
pub fn auroc_ci(scores: &[f64], positive: &[bool], seed: u64) -> Result<Ci> {
    class_counts(scores, positive)?;
    bootstrap_ci(scores.len(), BOOTSTRAP_RESAMPLES, seed, |idx| {
        let (s, p) = resampled_task(scores, positive, idx);
        auroc(&s, &p).ok()
    })
}

/// AUPRC (average precision) with a 1000-resample bootstrap CI.
pub fn auprc_ci(scores: &[f64], positive: &[bool], seed: u64) -> Result<Ci> {
    class_counts(scores, positive)?;
    bootstrap_ci(scores.len(), BOOTSTRAP_RESAMPLES, seed, |idx| {
        let (s, p) = resampled_task(scores, positive, idx);
        auprc(&s, &p).ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;

    #[test]
    fn auroc_hand_cases() {
        let s = [0.1, 0.4, 0.35, 0.8];
        let p = [false, false, true, true];
        assert_abs_diff_eq!(auroc(&s, &p).unwrap(), 0.75, epsilon = 1e-12);
        // One tied pos/neg pair gets half credit: (1 + 0.5 + 1 + 1) / 4.
        let s = [1.0, 2.0, 2.0, 3.0];
        let p = [false, true, false, true];
        assert_abs_diff_eq!(auroc(&s, &p).unwrap(), 0.875, epsilon = 1e-12);
        assert_abs_diff_eq!(
            auroc(&[0.5, 0.5], &[true, false]).unwrap(),
            0.5,
            epsilon = 1e-12
        );
        // Perfectly inverted ranking.
        assert_abs_diff_eq!(
            auroc(&[3.0, 2.0, 1.0], &[false, true, true]).unwrap(),
            0.0,
            epsilon = 1e-12
        );
    }

    #[test]
    fn auroc_rejects_bad_input() {
        assert!(matches!(
            auroc(&[1.0, 2.0], &[true, true]),
            Err(EvalError::Undefined(_))
        ));
        assert!(matches!(
            auroc(&[1.0], &[true, false]),
            Err(EvalError::LengthMismatch { .. })
        ));
        assert!(auroc(&[f64::NAN, 1.0], &[true, false]).is_err());
        assert!(auroc(&[], &[]).is_err());
    }

    #[test]
    fn auprc_hand_cases() {
        // scikit-learn's documented example: AP = 0.8333.
        let s = [0.1, 0.4, 0.35, 0.8];
        let p = [false, false, true, true];
        assert_abs_diff_eq!(
            auprc(&s, &p).unwrap(),
            0.5 + 0.5 * 2.0 / 3.0,
            epsilon = 1e-9
        );
        // Points (P, R): (0, 0), (1/2, 1/2), (2/3, 1) → AP = 1/4 + 1/3; VOC envelope 1/3 + 1/3.
        let s = [0.9, 0.8, 0.7];
        let p = [false, true, true];
        assert_abs_diff_eq!(auprc(&s, &p).unwrap(), 0.25 + 1.0 / 3.0, epsilon = 1e-9);
        assert_abs_diff_eq!(
            auprc_interpolated(&s, &p).unwrap(),
            2.0 / 3.0,
            epsilon = 1e-9
        );
        // Ties enter together: one point at 0.5 with P = R = 1/2.
        let s = [0.5, 0.5, 0.2];
        let p = [true, false, true];
        assert_abs_diff_eq!(auprc(&s, &p).unwrap(), 0.25 + 1.0 / 3.0, epsilon = 1e-9);
    }

    #[test]
    fn weighted_auprc_matches_duplication() {
        // Weight 2 on a sample equals listing it twice.
        let s = [0.9, 0.8, 0.7, 0.6];
        let p = [true, false, true, false];
        let w = [2.0, 1.0, 1.0, 1.0];
        let dup_s = [0.9, 0.9, 0.8, 0.7, 0.6];
        let dup_p = [true, true, false, true, false];
        assert_abs_diff_eq!(
            auprc_weighted(&s, &p, Some(&w)).unwrap(),
            auprc(&dup_s, &dup_p).unwrap(),
            epsilon = 1e-9
        );
    }

    #[test]
    fn task_construction() {
        let t = id_error_task(&[0.1, 0.9], &[true, false]).unwrap();
        assert_eq!(t.positive, vec![false, true]);
        assert_abs_diff_eq!(t.auroc().unwrap(), 1.0);
        let t = id_ood_task(&[0.1, 0.95, 0.2], &[true, false, true], &[0.9]).unwrap();
        assert_eq!(t.scores, vec![0.1, 0.2, 0.9]);
        assert_eq!(t.positive, vec![false, false, true]);
    }

    #[test]
    fn fpr_at_recall_hand_case() {
        let s = [0.9, 0.8, 0.7, 0.6, 0.5];
        let p = [true, false, true, true, false];
        let op = fpr_at_recall(&s, &p, 0.9).unwrap();
        assert_abs_diff_eq!(op.threshold, 0.6);
        assert_abs_diff_eq!(op.recall, 1.0, epsilon = 1e-9);
        assert_abs_diff_eq!(op.fpr, 0.5, epsilon = 1e-9);
        let op = fpr_at_recall(&s, &p, 0.5).unwrap();
        assert_abs_diff_eq!(op.threshold, 0.7);
    }

    #[test]
    fn nll_brier_hand_cases() {
        let probs = [0.7, 0.3, 0.2, 0.8];
        let labels = [0, 0];
        let want = (-(0.7f64).ln() - (0.2f64).ln()) / 2.0;
        assert_abs_diff_eq!(nll(&probs, 2, &labels).unwrap(), want, epsilon = 1e-12);
        assert_abs_diff_eq!(
            brier(&probs, 2, &labels).unwrap(),
            (0.09 + 0.64) / 2.0,
            epsilon = 1e-12
        );
        assert!(nll(&probs, 2, &[0, 2]).is_err());
        assert!(nll(&probs, 3, &[0, 0]).is_err());
    }

    #[test]
    fn ece_hand_case() {
        // Confidences 0.6, 0.7, 0.8, 0.9 (class 0), correctness T F T T, two bins of two.
        let probs = [0.6, 0.4, 0.3, 0.7, 0.8, 0.2, 0.1, 0.9];
        let labels = [0, 0, 0, 1];
        let e = ece(&probs, 2, &labels, 2).unwrap();
        assert_eq!(e.bins.len(), 2);
        assert_abs_diff_eq!(e.bins[0].accuracy, 0.5);
        assert_abs_diff_eq!(e.bins[0].confidence, 0.65, epsilon = 1e-12);
        assert_abs_diff_eq!(e.ece, 0.15, epsilon = 1e-12);
        // 15 bins over 4 samples: empty bins skipped, every sample in its own bin.
        let e = ece(&probs, 2, &labels, ECE_BINS).unwrap();
        assert_eq!(e.bins.iter().map(|b| b.count).sum::<usize>(), 4);
        let want = (0.4 + 0.7 + 0.2 + 0.1) / 4.0;
        assert_abs_diff_eq!(e.ece, want, epsilon = 1e-12);
    }

    #[test]
    fn risk_coverage_hand_case() {
        let s = [0.1, 0.2, 0.3, 0.4];
        let err = [false, true, false, true];
        let rc = risk_coverage(&s, &err).unwrap();
        assert_eq!(rc.coverage, vec![0.25, 0.5, 0.75, 1.0]);
        assert_abs_diff_eq!(rc.risk[1], 0.5, epsilon = 1e-9);
        assert_abs_diff_eq!(rc.risk[2], 1.0 / 3.0, epsilon = 1e-9);
        assert_abs_diff_eq!(rc.aurc(), 0.25 * (0.5 + 1.0 / 3.0 + 0.5), epsilon = 1e-9);
        let op = rc.at_coverage(0.7).unwrap();
        assert_abs_diff_eq!(op.coverage, 0.75);
        assert_abs_diff_eq!(op.threshold, 0.3);
        let op = rc.at_coverage(0.8).unwrap();
        assert_abs_diff_eq!(op.risk, 0.5, epsilon = 1e-9);
        // Ties accepted together.
        let rc = risk_coverage(&[0.1, 0.1, 0.3], &[true, false, false]).unwrap();
        assert_eq!(rc.coverage.len(), 2);
        assert_abs_diff_eq!(rc.coverage[0], 2.0 / 3.0);
    }

    #[test]
    fn selective_nll_hand_case() {
        // Sample 2 is most uncertain; 2/3 coverage drops it.
        let probs = [0.9, 0.1, 0.6, 0.4, 0.2, 0.8];
        let labels = [0, 0, 0];
        let scores = [0.1, 0.2, 0.9];
        let want = (-(0.9f64).ln() - (0.6f64).ln()) / 2.0;
        let got = selective_nll(&scores, &probs, 2, &labels, 0.6).unwrap();
        assert_abs_diff_eq!(got, want, epsilon = 1e-9);
    }

    #[test]
    fn quantile_matches_numpy_linear() {
        assert_abs_diff_eq!(quantile(&[4.0, 1.0, 3.0, 2.0], 0.5).unwrap(), 2.5);
        assert_abs_diff_eq!(
            quantile(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.025).unwrap(),
            1.1,
            epsilon = 1e-12
        );
    }

    #[test]
    fn bootstrap_is_seeded_and_brackets_estimate() {
        let scores: Vec<f64> = (0..200).map(|i| ((i * 37) % 101) as f64).collect();
        let pos: Vec<bool> = (0..200)
            .map(|i| (i * 37) % 101 > 40 && i % 3 != 0)
            .collect();
        let a = auroc_ci(&scores, &pos, 7).unwrap();
        let b = auroc_ci(&scores, &pos, 7).unwrap();
        let c = auroc_ci(&scores, &pos, 8).unwrap();
        assert_eq!(a, b);
        assert_ne!(a.lo, c.lo);
        assert!(a.lo < a.estimate && a.estimate < a.hi, "{a:?}");
        assert_eq!(a.resamples, BOOTSTRAP_RESAMPLES);
        // A constant statistic has a zero-width interval.
        let k = bootstrap_ci(10, 100, 1, |_| Some(3.0)).unwrap();
        assert_eq!((k.lo, k.hi), (3.0, 3.0));
    }
}
