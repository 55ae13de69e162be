//! Single-pass baseline scores of App. C.1 / O.1, computed from logits, probabilities or tap
//! features that the host executor already produced.
//!
//! **Every score is "higher = more uncertain"**: MSP and ODIN-lite return `1 − max p`,
//! entropy is non-negative, energy is `−LSE(z/T)`, Mahalanobis is a distance. Matrices are flat
//! row-major (`n * n_classes` logits, `n * dim` features).

use crate::error::{check_finite, check_len, EvalError, Result};
use crate::metrics::{self, quantile};
use serde::{Deserialize, Serialize};

/// Temperature grid of C.2 (temperature scaling).
pub const TEMPERATURE_GRID: [f64; 7] = [0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0];
/// Energy temperature grid of C.2.
pub const ENERGY_TEMPERATURE_GRID: [f64; 4] = [0.5, 1.0, 1.5, 2.0];
/// ODIN-lite temperature grid (ODIN's usual range, no input perturbation).
pub const ODIN_TEMPERATURE_GRID: [f64; 6] = [1.0, 2.0, 5.0, 10.0, 100.0, 1000.0];
/// Mahalanobis variance shrinkage grid of C.2.
pub const MAHALANOBIS_SHRINKAGE_GRID: [f64; 3] = [0.0, 1e-4, 1e-3];

fn rows(values: &[f64], width: usize, what: &'static str) -> Result<usize> {
    if width == 0 {
        return Err(EvalError::InvalidArgument(format!(
            "{what}: row width must be at least 1"
        )));
    }
    if values.is_empty() {
        return Err(EvalError::Empty(what));
    }
    if !values.len().is_multiple_of(width) {
        return Err(EvalError::InvalidArgument(format!(
            "{what}: {} values are not a whole number of rows of {width}",
            values.len()
        )));
    }
    check_finite(what, values)?;
    Ok(values.len() / width)
}

fn check_temperature(t: f64) -> Result<()> {
    if t.is_finite() && t > 0.0 {
        Ok(())
    } else {
        Err(EvalError::InvalidArgument(format!(
            "temperature {t} must be finite and > 0"
        )))
    }
}

fn lse(row: &[f64], t: f64) -> f64 {
    let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max) / t;
    m + row.iter().map(|z| (z / t - m).exp()).sum::<f64>().ln()
}

/// Row-wise `softmax(z / T)` with the max-shift trick.
pub fn softmax(logits: &[f64], n_classes: usize, temperature: f64) -> Result<Vec<f64>> {
    rows(logits, n_classes, "logits")?;
    check_temperature(temperature)?;
    let mut out = Vec::with_capacity(logits.len());
    for row in logits.chunks_exact(n_classes) {
        let l = lse(row, temperature);
        out.extend(row.iter().map(|z| (z / temperature - l).exp()));
    }
    Ok(out)
}

/// `1 − max_l p_l` from probabilities (Conf of C.1).
pub fn msp_from_probs(probs: &[f64], n_classes: usize) -> Result<Vec<f64>> {
    rows(probs, n_classes, "probabilities")?;
    Ok(probs
        .chunks_exact(n_classes)
        .map(|r| 1.0 - r.iter().copied().fold(f64::NEG_INFINITY, f64::max))
        .collect())
}

/// MSP score `1 − max softmax(z)`.
pub fn msp_score(logits: &[f64], n_classes: usize) -> Result<Vec<f64>> {
    msp_from_probs(&softmax(logits, n_classes, 1.0)?, n_classes)
}

/// Predictive entropy `−Σ p log p` (natural log) from probabilities.
pub fn entropy_from_probs(probs: &[f64], n_classes: usize) -> Result<Vec<f64>> {
    rows(probs, n_classes, "probabilities")?;
    Ok(probs
        .chunks_exact(n_classes)
        .map(|r| r.iter().filter(|&&p| p > 0.0).map(|&p| -p * p.ln()).sum())
        .collect())
}

/// Entropy of `softmax(z)`.
pub fn entropy_score(logits: &[f64], n_classes: usize) -> Result<Vec<f64>> {
    entropy_from_probs(&softmax(logits, n_classes, 1.0)?, n_classes)
}

/// Energy score `−log Σ exp(z/T)` (C.1 as printed; Liu et al.'s `−T·LSE(z/T)` ranks the same
/// for a fixed T). Higher = more uncertain.
pub fn energy_score(logits: &[f64], n_classes: usize, temperature: f64) -> Result<Vec<f64>> {
    rows(logits, n_classes, "logits")?;
    check_temperature(temperature)?;
    Ok(logits
        .chunks_exact(n_classes)
        .map(|r| -lse(r, temperature))
        .collect())
}

/// ODIN-lite: `1 − max softmax(z/T)`, temperature only, no input perturbation (O.1).
pub fn odin_lite_score(logits: &[f64], n_classes: usize, temperature: f64) -> Result<Vec<f64>> {
    msp_from_probs(&softmax(logits, n_classes, temperature)?, n_classes)
}

/// A grid choice and the dev AUROC (ID✓ vs ID✗) that selected it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Tuned {
    /// Selected value.
    pub value: f64,
    /// Dev AUROC at that value.
    pub dev_auroc: f64,
}

fn tune_by_auroc<F>(grid: &[f64], dev_correct: &[bool], mut score: F) -> Result<Tuned>
where
    F: FnMut(f64) -> Result<Vec<f64>>,
{
    let errors: Vec<bool> = dev_correct.iter().map(|c| !c).collect();
    let mut best: Option<Tuned> = None;
    for &v in grid {
        let s = score(v)?;
        let a = metrics::auroc(&s, &errors)?;
        if best.is_none_or(|b| a > b.dev_auroc) {
            best = Some(Tuned {
                value: v,
                dev_auroc: a,
            });
        }
    }
    best.ok_or_else(|| EvalError::InvalidArgument("the tuning grid is empty".into()))
}

/// Energy temperature with the best dev AUROC (ID✓ vs ID✗) over `grid`
/// ([`ENERGY_TEMPERATURE_GRID`] in the paper).
pub fn tune_energy_temperature(
    dev_logits: &[f64],
    n_classes: usize,
    dev_correct: &[bool],
    grid: &[f64],
) -> Result<Tuned> {
    tune_by_auroc(grid, dev_correct, |t| {
        energy_score(dev_logits, n_classes, t)
    })
}

/// ODIN-lite temperature with the best dev AUROC over `grid` ([`ODIN_TEMPERATURE_GRID`]).
pub fn tune_odin_temperature(
    dev_logits: &[f64],
    n_classes: usize,
    dev_correct: &[bool],
    grid: &[f64],
) -> Result<Tuned> {
    tune_by_auroc(grid, dev_correct, |t| {
        odin_lite_score(dev_logits, n_classes, t)
    })
}

/// Mean NLL of `softmax(z/T)`.
pub fn nll_at_temperature(
    logits: &[f64],
    n_classes: usize,
    labels: &[usize],
    temperature: f64,
) -> Result<f64> {
    let n = rows(logits, n_classes, "logits")?;
    check_len("labels", n, labels.len())?;
    check_temperature(temperature)?;
    metrics::nll(&softmax(logits, n_classes, temperature)?, n_classes, labels)
}

/// Temperature scaling (C.1): the `T > 0` minimizing dev NLL. NLL is convex in `1/T`, hence
/// unimodal in `log T`; golden-section search over `log T ∈ [log 0.05, log 20]` (80
/// iterations) finds it, and the [`TEMPERATURE_GRID`] points are checked too so the result is
/// never worse than the paper's grid choice.
pub fn fit_temperature(dev_logits: &[f64], n_classes: usize, dev_labels: &[usize]) -> Result<f64> {
    let f = |log_t: f64| nll_at_temperature(dev_logits, n_classes, dev_labels, log_t.exp());
    let phi = (5f64.sqrt() - 1.0) / 2.0;
    let (mut a, mut b) = (0.05f64.ln(), 20f64.ln());
    let mut c = b - phi * (b - a);
    let mut d = a + phi * (b - a);
    let (mut fc, mut fd) = (f(c)?, f(d)?);
    for _ in 0..80 {
        if fc < fd {
            b = d;
            d = c;
            fd = fc;
            c = b - phi * (b - a);
            fc = f(c)?;
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + phi * (b - a);
            fd = f(d)?;
        }
    }
    let mut best = ((a + b) / 2.0).exp();
    let mut best_nll = nll_at_temperature(dev_logits, n_classes, dev_labels, best)?;
    for &t in &TEMPERATURE_GRID {
        let v = nll_at_temperature(dev_logits, n_classes, dev_labels, t)?;
        if v < best_nll {
            best = t;
            best_nll = v;
        }
    }
    Ok(best)
}

/// A dense layer `logits = W·a + b` (W is `out_dim × in_dim`, row-major), used to re-apply the
/// model's classifier head to shaped activations for ReAct and ASH.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearHead {
    /// `out_dim × in_dim` row-major weights.
    pub weights: Vec<f64>,
    /// `out_dim` biases.
    pub bias: Vec<f64>,
    /// Input width (tap feature size).
    pub in_dim: usize,
    /// Output width (classes).
    pub out_dim: usize,
}

impl LinearHead {
    /// Checks shapes and finiteness.
    pub fn new(weights: Vec<f64>, bias: Vec<f64>, in_dim: usize, out_dim: usize) -> Result<Self> {
        if in_dim == 0 || out_dim == 0 {
            return Err(EvalError::InvalidArgument(
                "linear head dimensions must be ≥ 1".into(),
            ));
        }
        check_len(
            "head weights (out_dim * in_dim)",
            in_dim * out_dim,
            weights.len(),
        )?;
        check_len("head bias (out_dim)", out_dim, bias.len())?;
        check_finite("head weights", &weights)?;
        check_finite("head bias", &bias)?;
        Ok(Self {
            weights,
            bias,
            in_dim,
            out_dim,
        })
    }

    /// Logits for `n * in_dim` features.
    pub fn logits(&self, features: &[f64]) -> Result<Vec<f64>> {
        rows(features, self.in_dim, "features")?;
        let mut out = Vec::with_capacity(features.len() / self.in_dim * self.out_dim);
        for a in features.chunks_exact(self.in_dim) {
            for (w, b) in self.weights.chunks_exact(self.in_dim).zip(&self.bias) {
                out.push(b + w.iter().zip(a).map(|(w, a)| w * a).sum::<f64>());
            }
        }
        Ok(out)
    }
}

/// Features of one tap: `n * dim` row-major.
#[derive(Debug, Clone, Copy)]
pub struct TapFeatures<'a> {
    /// Flat features.
    pub data: &'a [f64],
    /// Per-sample width.
    pub dim: usize,
}

/// Class means and shared diagonal variance at one tap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TapStats {
    /// Feature width `d_ℓ`.
    pub dim: usize,
    /// `n_classes × dim` means (rows of absent classes are unused).
    pub means: Vec<f64>,
    /// Shared diagonal variance (pooled within-class, plus shrinkage, floored).
    pub var: Vec<f64>,
}

/// Classwise Mahalanobis at taps with shared diagonal covariance (C.1 eq. 14):
/// `min_c Σ_ℓ w_ℓ · (1/d_ℓ) · Σ_j (a_ℓj − μ_ℓcj)² / σ²_ℓj`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mahalanobis {
    /// Per-tap statistics.
    pub taps: Vec<TapStats>,
    /// Tap weights `w_ℓ`.
    pub weights: Vec<f64>,
    /// Classes seen during the fit (others are skipped in the min).
    pub present: Vec<bool>,
}

fn tap_rows(taps: &[TapFeatures<'_>]) -> Result<usize> {
    let first = taps.first().ok_or(EvalError::Empty("taps"))?;
    let n = rows(first.data, first.dim, "tap features")?;
    for t in taps {
        check_len("tap features (n * dim)", n * t.dim, t.data.len())?;
        check_finite("tap features", t.data)?;
    }
    Ok(n)
}

impl Mahalanobis {
    /// Fits means and pooled diagonal variance on the ID training set (not dev, C.1).
    /// `shrinkage` is added to every variance; variances are floored at `1e-6 · mean variance`
    /// so constant channels cannot divide by zero. Tap weights start uniform (`1/|S|`).
    pub fn fit(
        taps: &[TapFeatures<'_>],
        labels: &[usize],
        n_classes: usize,
        shrinkage: f64,
    ) -> Result<Self> {
        let n = tap_rows(taps)?;
        check_len("labels", n, labels.len())?;
        if n_classes == 0 || labels.iter().any(|&y| y >= n_classes) {
            return Err(EvalError::InvalidArgument(format!(
                "labels must be in 0..{n_classes}"
            )));
        }
        if !(shrinkage >= 0.0 && shrinkage.is_finite()) {
            return Err(EvalError::InvalidArgument(format!(
                "shrinkage {shrinkage} must be ≥ 0"
            )));
        }
        let mut counts = vec![0usize; n_classes];
        labels.iter().for_each(|&y| counts[y] += 1);
        let mut stats = Vec::with_capacity(taps.len());
        for t in taps {
            let d = t.dim;
            let mut means = vec![0.0; n_classes * d];
            for (row, &y) in t.data.chunks_exact(d).zip(labels) {
                for (m, a) in means[y * d..(y + 1) * d].iter_mut().zip(row) {
                    *m += a;
                }
            }
            for (c, &k) in counts.iter().enumerate() {
                if k > 0 {
                    means[c * d..(c + 1) * d]
                        .iter_mut()
                        .for_each(|m| *m /= k as f64);
                }
            }
            let mut var = vec![0.0; d];
            for (row, &y) in t.data.chunks_exact(d).zip(labels) {
                for j in 0..d {
                    let e = row[j] - means[y * d + j];
                    var[j] += e * e;
                }
            }
            let mean_var = var.iter().sum::<f64>() / (n * d) as f64;
            let floor = 1e-6 * mean_var + 1e-12;
            var.iter_mut()
                .for_each(|v| *v = (*v / n as f64 + shrinkage).max(floor));
            stats.push(TapStats { dim: d, means, var });
        }
        let w = 1.0 / taps.len() as f64;
        Ok(Self {
            weights: vec![w; taps.len()],
            taps: stats,
            present: counts.iter().map(|&k| k > 0).collect(),
        })
    }

    /// Replaces the tap weights (one per tap, ≥ 0).
    pub fn with_weights(mut self, weights: Vec<f64>) -> Result<Self> {
        check_len("tap weights", self.taps.len(), weights.len())?;
        if weights.iter().any(|w| !(w.is_finite() && *w >= 0.0)) {
            return Err(EvalError::InvalidArgument(
                "tap weights must be finite and ≥ 0".into(),
            ));
        }
        self.weights = weights;
        Ok(self)
    }

    /// Scores `n` samples given the same taps (same order and widths) as the fit.
    pub fn score(&self, taps: &[TapFeatures<'_>]) -> Result<Vec<f64>> {
        check_len("taps", self.taps.len(), taps.len())?;
        let n = tap_rows(taps)?;
        for (s, t) in self.taps.iter().zip(taps) {
            check_len("tap width", s.dim, t.dim)?;
        }
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let mut best = f64::INFINITY;
            for c in (0..self.present.len()).filter(|&c| self.present[c]) {
                let mut total = 0.0;
                for ((s, t), w) in self.taps.iter().zip(taps).zip(&self.weights) {
                    let a = &t.data[i * s.dim..(i + 1) * s.dim];
                    let mu = &s.means[c * s.dim..(c + 1) * s.dim];
                    let q: f64 = a
                        .iter()
                        .zip(mu)
                        .zip(&s.var)
                        .map(|((a, m), v)| (a - m) * (a - m) / v)
                        .sum();
                    total += w * q / s.dim as f64;
                }
                best = best.min(total);
            }
            out.push(best);
        }
        Ok(out)
    }

    /// C.2 grid search: shrinkage over [`MAHALANOBIS_SHRINKAGE_GRID`] × tap weights (one-hot
    /// per tap plus uniform), fit on `fit_*` (ID train), selected by dev AUROC (ID✓ vs ID✗).
    pub fn tune(
        fit_taps: &[TapFeatures<'_>],
        fit_labels: &[usize],
        n_classes: usize,
        dev_taps: &[TapFeatures<'_>],
        dev_correct: &[bool],
    ) -> Result<(Self, f64)> {
        let k = fit_taps.len();
        let mut weight_grid: Vec<Vec<f64>> = vec![vec![1.0 / k.max(1) as f64; k]];
        if k > 1 {
            for j in 0..k {
                let mut w = vec![0.0; k];
                w[j] = 1.0;
                weight_grid.push(w);
            }
        }
        let errors: Vec<bool> = dev_correct.iter().map(|c| !c).collect();
        let mut best: Option<(Self, f64)> = None;
        for &lambda in &MAHALANOBIS_SHRINKAGE_GRID {
            let base = Self::fit(fit_taps, fit_labels, n_classes, lambda)?;
            for w in &weight_grid {
                let m = base.clone().with_weights(w.clone())?;
                let a = metrics::auroc(&m.score(dev_taps)?, &errors)?;
                if best.as_ref().is_none_or(|(_, b)| a > *b) {
                    best = Some((m, a));
                }
            }
        }
        best.ok_or(EvalError::Empty("taps"))
    }
}

/// ReAct clipping thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Clip {
    /// One threshold for the whole tap (Sun et al.).
    PerTensor(f64),
    /// One threshold per channel (O.1's variant).
    PerChannel(Vec<f64>),
}

/// ReAct (Sun et al., 2021): clip tap activations at a dev percentile, re-apply the head,
/// score by energy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReAct {
    /// Clip thresholds.
    pub clip: Clip,
    /// Head mapping tap features to logits.
    pub head: LinearHead,
    /// Energy temperature.
    pub temperature: f64,
}

impl ReAct {
    /// Sets the clip at the `percentile` (0–100, ReAct uses 90) of dev activations, over the
    /// whole tensor or per channel.
    pub fn fit(
        dev_features: &[f64],
        head: LinearHead,
        percentile: f64,
        per_channel: bool,
        temperature: f64,
    ) -> Result<Self> {
        let d = head.in_dim;
        rows(dev_features, d, "dev features")?;
        check_temperature(temperature)?;
        if !(0.0..=100.0).contains(&percentile) {
            return Err(EvalError::InvalidArgument(format!(
                "percentile {percentile} must be in [0, 100]"
            )));
        }
        let q = percentile / 100.0;
        let clip = if per_channel {
            let mut c = Vec::with_capacity(d);
            for j in 0..d {
                let col: Vec<f64> = dev_features.iter().skip(j).step_by(d).copied().collect();
                c.push(quantile(&col, q)?);
            }
            Clip::PerChannel(c)
        } else {
            Clip::PerTensor(quantile(dev_features, q)?)
        };
        Ok(Self {
            clip,
            head,
            temperature,
        })
    }

    /// `min(a, c)` per element.
    pub fn rectify(&self, features: &[f64]) -> Result<Vec<f64>> {
        let d = self.head.in_dim;
        rows(features, d, "features")?;
        Ok(features
            .iter()
            .enumerate()
            .map(|(k, &a)| match &self.clip {
                Clip::PerTensor(c) => a.min(*c),
                Clip::PerChannel(c) => a.min(c[k % d]),
            })
            .collect())
    }

    /// Energy of the head on rectified features (higher = more uncertain).
    pub fn score(&self, features: &[f64]) -> Result<Vec<f64>> {
        let logits = self.head.logits(&self.rectify(features)?)?;
        energy_score(&logits, self.head.out_dim, self.temperature)
    }
}

/// ASH variant (Djurisic et al., 2023).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AshVariant {
    /// ASH-p: zero all but the top `(100 − p)%` activations per sample.
    Prune,
    /// ASH-s: prune, then scale survivors by `exp(s1 / s2)` (sums before / after pruning).
    Scale,
}

/// ASH at one tap: per-sample activation shaping, then head and energy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ash {
    /// Pruning percentile `p` in [0, 100) (ASH uses 60–90).
    pub percentile: f64,
    /// Prune-only or prune + rescale.
    pub variant: AshVariant,
    /// Head mapping tap features to logits.
    pub head: LinearHead,
    /// Energy temperature.
    pub temperature: f64,
}

impl Ash {
    /// Validates the parameters.
    pub fn new(
        percentile: f64,
        variant: AshVariant,
        head: LinearHead,
        temperature: f64,
    ) -> Result<Self> {
        check_temperature(temperature)?;
        if !(0.0..100.0).contains(&percentile) {
            return Err(EvalError::InvalidArgument(format!(
                "ASH percentile {percentile} must be in [0, 100)"
            )));
        }
        Ok(Self {
            percentile,
            variant,
            head,
            temperature,
        })
    }

    /// Shapes each sample: keeps its `ceil(d·(1 − p/100))` largest activations. ASH-s scales by
    /// `exp(s1/s2)` with the ratio clamped to ±50 (ASH assumes non-negative post-ReLU
    /// activations; the clamp keeps other taps finite) and skipped when `s2 ≤ 0`.
    pub fn shape(&self, features: &[f64]) -> Result<Vec<f64>> {
        let d = self.head.in_dim;
        rows(features, d, "features")?;
        let keep = ((d as f64) * (1.0 - self.percentile / 100.0))
            .ceil()
            .max(1.0) as usize;
        let mut out = Vec::with_capacity(features.len());
        let mut order: Vec<usize> = (0..d).collect();
        for row in features.chunks_exact(d) {
            order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
            let mut shaped = vec![0.0; d];
            for &j in &order[..keep] {
                shaped[j] = row[j];
            }
            if self.variant == AshVariant::Scale {
                let s1: f64 = row.iter().sum();
                let s2: f64 = shaped.iter().sum();
                if s2 > 0.0 {
                    let f = (s1 / s2).clamp(-50.0, 50.0).exp();
                    shaped.iter_mut().for_each(|v| *v *= f);
                }
            }
            out.extend(shaped);
        }
        Ok(out)
    }

    /// Energy of the head on shaped features (higher = more uncertain).
    pub fn score(&self, features: &[f64]) -> Result<Vec<f64>> {
        let logits = self.head.logits(&self.shape(features)?)?;
        energy_score(&logits, self.head.out_dim, self.temperature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn softmax_family_hand_cases() {
        let z = [0.0, 3f64.ln()];
        let p = softmax(&z, 2, 1.0).unwrap();
        assert_abs_diff_eq!(p[0], 0.25, epsilon = 1e-12);
        assert_abs_diff_eq!(msp_score(&z, 2).unwrap()[0], 0.25, epsilon = 1e-12);
        let h = -(0.25f64 * 0.25f64.ln() + 0.75 * 0.75f64.ln());
        assert_abs_diff_eq!(entropy_score(&z, 2).unwrap()[0], h, epsilon = 1e-12);
        assert_abs_diff_eq!(
            energy_score(&z, 2, 1.0).unwrap()[0],
            -(4f64.ln()),
            epsilon = 1e-12
        );
        assert_abs_diff_eq!(
            energy_score(&z, 2, 2.0).unwrap()[0],
            -(1.0 + 3f64.sqrt()).ln(),
            epsilon = 1e-12
        );
        // Uniform logits: maximal uncertainty.
        let u = [5.0; 4];
        assert_abs_diff_eq!(msp_score(&u, 4).unwrap()[0], 0.75, epsilon = 1e-12);
        assert_abs_diff_eq!(entropy_score(&u, 4).unwrap()[0], 4f64.ln(), epsilon = 1e-12);
        // ODIN-lite: hotter temperature flattens, raising the score.
        assert!(odin_lite_score(&z, 2, 10.0).unwrap()[0] > msp_score(&z, 2).unwrap()[0]);
        assert!(softmax(&z, 2, 0.0).is_err());
        assert!(softmax(&z, 3, 1.0).is_err());
        // Huge logits stay finite.
        assert!(energy_score(&[1e4, -1e4], 2, 1.0).unwrap()[0].is_finite());
    }

    fn synthetic_logits(n: usize, t_true: f64, seed: u64) -> (Vec<f64>, Vec<usize>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut logits = Vec::new();
        let mut labels = Vec::new();
        for _ in 0..n {
            let row: Vec<f64> = (0..3).map(|_| rng.gen_range(-3.0..3.0)).collect();
            let p = softmax(&row, 3, t_true).unwrap();
            let u: f64 = rng.gen();
            let y = if u < p[0] {
                0
            } else if u < p[0] + p[1] {
                1
            } else {
                2
            };
            logits.extend(row);
            labels.push(y);
        }
        (logits, labels)
    }

    #[test]
    fn temperature_fit_recovers_generating_temperature() {
        for t_true in [0.6, 2.5] {
            let (logits, labels) = synthetic_logits(6000, t_true, 42);
            let t = fit_temperature(&logits, 3, &labels).unwrap();
            assert!((t - t_true).abs() < 0.2 * t_true, "fitted {t} for {t_true}");
            let at = nll_at_temperature(&logits, 3, &labels, t).unwrap();
            for g in TEMPERATURE_GRID {
                assert!(at <= nll_at_temperature(&logits, 3, &labels, g).unwrap() + 1e-12);
            }
        }
    }

    #[test]
    fn energy_tuning_picks_grid_max() {
        let (logits, labels) = synthetic_logits(500, 1.0, 3);
        let pred = metrics::argmax_rows(&logits, 3).unwrap();
        let correct: Vec<bool> = pred.iter().zip(&labels).map(|(p, y)| p == y).collect();
        let errors: Vec<bool> = correct.iter().map(|c| !c).collect();
        let tuned =
            tune_energy_temperature(&logits, 3, &correct, &ENERGY_TEMPERATURE_GRID).unwrap();
        for t in ENERGY_TEMPERATURE_GRID {
            let a = metrics::auroc(&energy_score(&logits, 3, t).unwrap(), &errors).unwrap();
            assert!(a <= tuned.dev_auroc + 1e-12);
        }
        assert!(tune_energy_temperature(&logits, 3, &correct, &[]).is_err());
    }

    #[test]
    fn mahalanobis_hand_case() {
        let feats = [-1.0, -1.0, 1.0, 1.0, 9.0, -1.0, 11.0, 1.0];
        let labels = [0, 0, 1, 1];
        let tap = TapFeatures {
            data: &feats,
            dim: 2,
        };
        let m = Mahalanobis::fit(&[tap], &labels, 2, 0.0).unwrap();
        assert_eq!(m.taps[0].means, vec![0.0, 0.0, 10.0, 0.0]);
        assert_eq!(m.taps[0].var, vec![1.0, 1.0]);
        let q = [0.0, 2.0, 5.0, 0.0];
        let s = m.score(&[TapFeatures { data: &q, dim: 2 }]).unwrap();
        assert_abs_diff_eq!(s[0], 2.0, epsilon = 1e-12);
        assert_abs_diff_eq!(s[1], 12.5, epsilon = 1e-12);
        // Shrinkage adds to the variance.
        let m = Mahalanobis::fit(&[tap], &labels, 2, 1.0).unwrap();
        assert_eq!(m.taps[0].var, vec![2.0, 2.0]);
        assert!(m.score(&[TapFeatures { data: &q, dim: 3 }]).is_err());
        assert!(Mahalanobis::fit(&[tap], &[0, 0, 1, 5], 2, 0.0).is_err());
    }

    #[test]
    fn mahalanobis_two_taps_and_tuning() {
        // Tap A separates classes, tap B is noise-free constant: tuning must keep A's weight.
        let a = [0.0, 0.2, 10.0, 10.2];
        let b = [1.0, 1.0, 1.0, 1.0];
        let labels = [0, 0, 1, 1];
        let taps = [
            TapFeatures { data: &a, dim: 1 },
            TapFeatures { data: &b, dim: 1 },
        ];
        let dev_a = [0.1, 5.0, 10.1, 4.0];
        let dev_b = [1.0, 1.0, 1.0, 1.0];
        let dev = [
            TapFeatures {
                data: &dev_a,
                dim: 1,
            },
            TapFeatures {
                data: &dev_b,
                dim: 1,
            },
        ];
        let correct = [true, false, true, false];
        let (m, auc) = Mahalanobis::tune(&taps, &labels, 2, &dev, &correct).unwrap();
        assert_abs_diff_eq!(auc, 1.0);
        assert!(m.weights[0] > 0.0);
    }

    #[test]
    fn react_clips_then_energy() {
        let head = LinearHead::new(vec![1.0, 0.0, 0.0, 1.0], vec![0.0, 0.0], 2, 2).unwrap();
        let dev = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0];
        let r = ReAct::fit(&dev, head.clone(), 50.0, false, 1.0).unwrap();
        assert_eq!(r.clip, Clip::PerTensor(2.5));
        let s = r.score(&[10.0, 0.0]).unwrap();
        assert_abs_diff_eq!(s[0], -(2.5f64.exp() + 1.0).ln(), epsilon = 1e-12);
        let r = ReAct::fit(&dev, head, 50.0, true, 1.0).unwrap();
        assert_eq!(r.clip, Clip::PerChannel(vec![2.0, 3.0]));
        assert_eq!(r.rectify(&[10.0, 10.0]).unwrap(), vec![2.0, 3.0]);
    }

    #[test]
    fn ash_prunes_and_scales() {
        let head = LinearHead::new(vec![1.0; 4], vec![0.0], 4, 1).unwrap();
        let p = Ash::new(50.0, AshVariant::Prune, head.clone(), 1.0).unwrap();
        assert_eq!(
            p.shape(&[1.0, 4.0, 2.0, 3.0]).unwrap(),
            vec![0.0, 4.0, 0.0, 3.0]
        );
        let s = Ash::new(50.0, AshVariant::Scale, head, 1.0).unwrap();
        let f = (10.0f64 / 7.0).exp();
        let got = s.shape(&[1.0, 4.0, 2.0, 3.0]).unwrap();
        assert_abs_diff_eq!(got[1], 4.0 * f, epsilon = 1e-9);
        // One output logit: energy is minus the logit.
        assert_abs_diff_eq!(
            s.score(&[1.0, 4.0, 2.0, 3.0]).unwrap()[0],
            -7.0 * f,
            epsilon = 1e-9
        );
        assert!(LinearHead::new(vec![1.0; 3], vec![0.0], 4, 1).is_err());
    }
}
