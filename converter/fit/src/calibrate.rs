//! The calibrator: from per-tap `ē` and class probabilities to `U(x)` and a threshold `τ`
//! (paper §2.3 eqs. 9–11, App. B.4, J, K, N.3).
//!
//! Everything the device recomputes (`S`, `m`, `U`) is evaluated here with the SNAP_CALIBRATE
//! kernel's own float32 code (`snapuq_ops::calibrate`), so `τ` and the dev coverage/risk
//! reported by the converter are exactly what the device reproduces on the same `ē` values.
//! Fitting itself (logistic Newton steps, PAV) runs in f64.
//!
//! Conventions: the positive class is *wrong prediction* (U estimates the error probability);
//! the device abstains when `U ≥ τ`, so a sample is *accepted* (covered) when `U < τ`.

use serde::{Deserialize, Serialize};
use snapuq_ops::calibrate::{isotonic_lookup, sigmoid, CalibrateOptions, ClassifierKind, Mapping};
use snapuq_ops::controller::ControllerParams;
use snapuq_ops::limits;

use crate::error::{check_array, check_array_f64};
use crate::{FitError, Result};

/// Default α of `m(x)` (eq. 10): equal parts confidence and margin.
pub const DEFAULT_ALPHA: f32 = 0.5;
/// Default cap on isotonic steps stored in the model.
pub const DEFAULT_MAX_STEPS: usize = 64;
/// Clip of isotonic values to `[ε, 1−ε]` (App. J).
pub const ISOTONIC_EPS: f64 = 1e-4;
/// Default L2 strength of the logistic fit (on standardized features).
pub const DEFAULT_L2: f64 = 1e-3;

/// `S = Σ w_ℓ ē_ℓ` per sample, summed in tap order in f32 as the kernel does.
/// `ebar[t]` holds tap `t`'s `ē` for every sample.
pub fn aggregate_score(ebar: &[&[f32]], weights: &[f32]) -> Result<Vec<f32>> {
    if ebar.is_empty() || ebar.len() != weights.len() || ebar.len() > limits::MAX_TAPS {
        return Err(FitError::BadConfig {
            what: "tap weights".into(),
            why: format!(
                "{} ē arrays and {} weights (need the same number, 1..={})",
                ebar.len(),
                weights.len(),
                limits::MAX_TAPS
            ),
        });
    }
    let n = ebar[0].len();
    for (t, e) in ebar.iter().enumerate() {
        check_array(&format!("ē of tap {t}"), e, n)?;
    }
    Ok((0..n)
        .map(|i| {
            let mut s = 0.0f32;
            for (w, e) in weights.iter().zip(ebar) {
                s += w * e[i];
            }
            s
        })
        .collect())
}

/// `m = α(1−C) + (1−α)(1−margin)` per sample (eq. 10) from class probabilities (or logits,
/// through the kernel's softmax), `classes` per row.
pub fn confidence_term(
    values: &[f32],
    classes: usize,
    kind: ClassifierKind,
    alpha: f32,
) -> Result<Vec<f32>> {
    if classes == 0 || !(0.0..=1.0).contains(&alpha) {
        return Err(FitError::BadConfig {
            what: "m(x)".into(),
            why: format!("classes = {classes}, α = {alpha} (need classes ≥ 1 and α in [0, 1])"),
        });
    }
    let n = values.len() / classes;
    check_array("classifier output", values, n * classes)?;
    let data = snapuq_ops::calibrate::ClassifierData::F32(values);
    Ok((0..n)
        .map(|i| {
            let (c, margin) =
                snapuq_ops::calibrate::confidence_margin(kind, &data, i * classes, classes, 1.0, 0);
            alpha * (1.0 - c) + (1.0 - alpha) * (1.0 - margin)
        })
        .collect())
}

/// Dequantizes an int8 classifier output exactly as SNAP_CALIBRATE does
/// (`scale · (q − zp)` in f32), so [`confidence_term`] on the result equals the kernel's `m`.
pub fn dequantize_classifier(q: &[i8], scale: f32, zero_point: i32) -> Vec<f32> {
    q.iter()
        .map(|&v| scale * (v as i32 - zero_point) as f32)
        .collect()
}

/// Predicted class (first maximum, like TFLM's ARG_MAX) of each row.
pub fn predictions(values: &[f32], classes: usize) -> Vec<usize> {
    values
        .chunks_exact(classes.max(1))
        .map(|row| {
            let mut best = 0;
            for (j, v) in row.iter().enumerate() {
                if *v > row[best] {
                    best = j;
                }
            }
            best
        })
        .collect()
}

/// One source of labeled dev samples (the ID split, or one synthetic shift of it).
#[derive(Debug, Clone, Copy)]
pub struct DevPart<'a> {
    /// `ē` per tap (`ebar[t][i]`).
    pub ebar: &'a [&'a [f32]],
    /// Classifier output, `classes` per sample (probabilities, or logits per `kind`).
    pub classifier: &'a [f32],
    pub classes: usize,
    pub kind: ClassifierKind,
    /// True labels.
    pub labels: &'a [usize],
    /// Whether this part is shifted (CID/OOD) data; only recorded for the report.
    pub shifted: bool,
    /// SNAP_PROJECT stats per stats input (`[N, 2]` each; the classwise mapping's features).
    pub stats: &'a [&'a [f32]],
}

/// The labeled dev mix the calibrator is fitted on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DevSet {
    /// `S` per sample (kernel f32).
    pub s: Vec<f32>,
    /// `m` per sample (kernel f32).
    pub m: Vec<f32>,
    /// Prediction wrong (the positive class of `U`).
    pub wrong: Vec<bool>,
    /// From a shifted part.
    pub shifted: Vec<bool>,
    /// MSP `C` per sample (for baselines in the report).
    pub msp: Vec<f32>,
    /// Predicted class per sample (classwise mapping).
    #[serde(default)]
    pub class: Vec<u32>,
    /// `L = ln(1 − C + ε)` per sample, kernel f32 (classwise mapping).
    #[serde(default)]
    pub l: Vec<f32>,
    /// Classwise features per sample, row-major: ln ē per tap, then the stats values.
    #[serde(default)]
    pub feats: Vec<f32>,
    /// Features per sample in `feats`.
    #[serde(default)]
    pub features: usize,
}

impl DevSet {
    pub fn len(&self) -> usize {
        self.s.len()
    }

    pub fn is_empty(&self) -> bool {
        self.s.is_empty()
    }

    /// Number of wrong predictions.
    pub fn n_wrong(&self) -> usize {
        self.wrong.iter().filter(|w| **w).count()
    }
}

/// Builds the dev set: `S` from the tap weights, `m` with `alpha`, and correct/wrong flags from
/// predictions vs labels, for the ID part and any shifted parts.
pub fn assemble_dev_set(parts: &[DevPart<'_>], weights: &[f32], alpha: f32) -> Result<DevSet> {
    let mut dev = DevSet::default();
    let n_stats = parts.first().map_or(0, |p| p.stats.len());
    if parts.iter().any(|p| p.stats.len() != n_stats) {
        return Err(FitError::BadConfig {
            what: "dev parts".into(),
            why: "every part needs the same number of stats inputs".into(),
        });
    }
    dev.features = weights.len() + snapuq_ops::project::STATS_PER_SAMPLE * n_stats;
    for (k, p) in parts.iter().enumerate() {
        let n = p.labels.len();
        let s = aggregate_score(p.ebar, weights)?;
        if s.len() != n {
            return Err(FitError::ShapeMismatch {
                what: format!("dev part {k}: ē values vs labels"),
                expected: n,
                got: s.len(),
            });
        }
        check_array(
            &format!("dev part {k}: classifier output"),
            p.classifier,
            n * p.classes,
        )?;
        if let Some(i) = p.labels.iter().position(|&l| l >= p.classes) {
            return Err(FitError::BadConfig {
                what: format!("dev part {k} labels"),
                why: format!(
                    "label {} at sample {i} is not below the {} classes of the model",
                    p.labels[i], p.classes
                ),
            });
        }
        let m = confidence_term(p.classifier, p.classes, p.kind, alpha)?;
        let msp = confidence_term(p.classifier, p.classes, p.kind, 1.0)?;
        let pred = predictions(p.classifier, p.classes);
        let per = snapuq_ops::project::STATS_PER_SAMPLE;
        for (k, st) in p.stats.iter().enumerate() {
            check_array(&format!("dev part {k}: stats"), st, n * per)?;
        }
        let data = snapuq_ops::calibrate::ClassifierData::F32(p.classifier);
        for i in 0..n {
            let (c, _) = snapuq_ops::calibrate::confidence_margin(
                p.kind,
                &data,
                i * p.classes,
                p.classes,
                1.0,
                0,
            );
            dev.l.push(snapuq_ops::calibrate::classwise_l(c));
            dev.class.push(
                snapuq_ops::calibrate::predicted_class(&data, i * p.classes, p.classes) as u32,
            );
            for e in p.ebar {
                dev.feats
                    .push(snapuq_ops::calibrate::classwise_ln_ebar(e[i]));
            }
            for st in p.stats {
                dev.feats.extend_from_slice(&st[i * per..(i + 1) * per]);
            }
        }
        dev.s.extend_from_slice(&s);
        dev.m.extend_from_slice(&m);
        dev.msp.extend(msp.iter().map(|v| 1.0 - v));
        dev.wrong
            .extend(pred.iter().zip(p.labels).map(|(a, b)| a != b));
        dev.shifted.extend(std::iter::repeat_n(p.shifted, n));
    }
    Ok(dev)
}

/// Logistic map `U = σ(β0 + β1 S + β2 m)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LogisticFit {
    /// `[β0, β1, β2]` in raw feature units (β2 = 0 in label-free mode).
    pub beta: [f64; 3],
    /// Fitted on `S` only (β2 = 0).
    pub label_free: bool,
    /// Class-balanced weights were used.
    pub balanced: bool,
    pub iterations: usize,
    pub converged: bool,
}

/// Class-balanced logistic regression of `wrong` on `(S, m)` by Newton/IRLS with an L2 penalty
/// `½·l2·‖β_{1,2}‖²` on standardized features (the intercept is free). `use_m = false` gives the
/// label-free mapping (β2 = 0). With `balanced`, each class carries half the total weight.
pub fn fit_logistic(
    s: &[f32],
    m: &[f32],
    wrong: &[bool],
    use_m: bool,
    balanced: bool,
    l2: f64,
) -> Result<LogisticFit> {
    let n = wrong.len();
    check_array("S", s, n)?;
    if use_m {
        check_array("m", m, n)?;
    }
    let n_wrong = wrong.iter().filter(|w| **w).count();
    if n_wrong == 0 || n_wrong == n {
        return Err(FitError::OneClassDev {
            wrong: n_wrong,
            correct: n - n_wrong,
        });
    }
    if !(l2.is_finite() && l2 >= 0.0) {
        return Err(FitError::BadConfig {
            what: "logistic L2".into(),
            why: format!("{l2} must be finite and non-negative"),
        });
    }
    let k = if use_m { 3 } else { 2 };
    // Standardized features.
    let feats: Vec<Vec<f64>> = if use_m {
        vec![
            s.iter().map(|&v| v as f64).collect(),
            m.iter().map(|&v| v as f64).collect(),
        ]
    } else {
        vec![s.iter().map(|&v| v as f64).collect()]
    };
    let stats: Vec<(f64, f64)> = feats
        .iter()
        .map(|f| {
            let mean = f.iter().sum::<f64>() / n as f64;
            let var = f.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
            (mean, if var > 0.0 { var.sqrt() } else { 1.0 })
        })
        .collect();
    let row = |i: usize| -> [f64; 3] {
        let mut r = [1.0, 0.0, 0.0];
        for (j, f) in feats.iter().enumerate() {
            r[j + 1] = (f[i] - stats[j].0) / stats[j].1;
        }
        r
    };
    let (w_pos, w_neg) = if balanced {
        (
            n as f64 / (2.0 * n_wrong as f64),
            n as f64 / (2.0 * (n - n_wrong) as f64),
        )
    } else {
        (1.0, 1.0)
    };
    let total_w = w_pos * n_wrong as f64 + w_neg * (n - n_wrong) as f64;
    let mut beta = [0.0f64; 3];
    let (mut iterations, mut converged) = (0, false);
    for it in 0..100 {
        iterations = it + 1;
        let mut g = [0.0f64; 3];
        let mut h = [[0.0f64; 3]; 3];
        for (i, &y) in wrong.iter().enumerate() {
            let x = row(i);
            let eta: f64 = (0..k).map(|j| beta[j] * x[j]).sum();
            let p = 1.0 / (1.0 + (-eta).exp());
            let w = if y { w_pos } else { w_neg } / total_w;
            let resid = p - y as u8 as f64;
            let curv = (p * (1.0 - p)).max(1e-12);
            for a in 0..k {
                g[a] += w * resid * x[a];
                for b in 0..k {
                    h[a][b] += w * curv * x[a] * x[b];
                }
            }
        }
        for a in 1..k {
            g[a] += l2 * beta[a];
            h[a][a] += l2;
        }
        h[0][0] += 1e-12;
        let step = solve_small(&h, &g, k).ok_or_else(|| FitError::Numerical {
            what: "logistic regression".into(),
            why: "singular Hessian".into(),
        })?;
        let mut max_step = 0.0f64;
        for a in 0..k {
            // Damped Newton: cap the step so separable data cannot overshoot wildly.
            let st = step[a].clamp(-5.0, 5.0);
            beta[a] -= st;
            max_step = max_step.max(st.abs());
        }
        if max_step < 1e-10 {
            converged = true;
            break;
        }
    }
    // Back to raw units.
    let mut raw = [beta[0], 0.0, 0.0];
    for j in 1..k {
        raw[j] = beta[j] / stats[j - 1].1;
        raw[0] -= beta[j] * stats[j - 1].0 / stats[j - 1].1;
    }
    if raw.iter().any(|v| !v.is_finite()) {
        return Err(FitError::Numerical {
            what: "logistic regression".into(),
            why: "coefficients are not finite".into(),
        });
    }
    Ok(LogisticFit {
        beta: raw,
        label_free: !use_m,
        balanced,
        iterations,
        converged,
    })
}

/// Solves the `k×k` system `h x = g` (k ≤ 3) by Gaussian elimination with partial pivoting.
fn solve_small(h: &[[f64; 3]; 3], g: &[f64; 3], k: usize) -> Option<[f64; 3]> {
    let mut a = *h;
    let mut b = *g;
    for c in 0..k {
        let p = (c..k).max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))?;
        if a[p][c].abs() < 1e-300 {
            return None;
        }
        a.swap(c, p);
        b.swap(c, p);
        for r in c + 1..k {
            let f = a[r][c] / a[c][c];
            for cc in c..k {
                a[r][cc] -= f * a[c][cc];
            }
            b[r] -= f * b[c];
        }
    }
    let mut x = [0.0; 3];
    for c in (0..k).rev() {
        let mut acc = b[c];
        for cc in c + 1..k {
            acc -= a[c][cc] * x[cc];
        }
        x[c] = acc / a[c][c];
    }
    Some(x)
}

/// Pool-adjacent-violators: the weighted least-squares nondecreasing fit of `y` (already in
/// the order of the feature). Returns one fitted value per input.
pub fn pav(y: &[f64], w: &[f64]) -> Vec<f64> {
    // Blocks: (mean, weight, count).
    let mut blocks: Vec<(f64, f64, usize)> = Vec::with_capacity(y.len());
    for (&v, &wt) in y.iter().zip(w) {
        blocks.push((v, wt, 1));
        while blocks.len() > 1 {
            let (m2, w2, c2) = blocks[blocks.len() - 1];
            let (m1, w1, c1) = blocks[blocks.len() - 2];
            if m1 <= m2 {
                break;
            }
            blocks.pop();
            let wsum = w1 + w2;
            let mean = if wsum > 0.0 {
                (m1 * w1 + m2 * w2) / wsum
            } else {
                0.5 * (m1 + m2)
            };
            if let Some(last) = blocks.last_mut() {
                *last = (mean, wsum, c1 + c2);
            }
        }
    }
    blocks
        .iter()
        .flat_map(|&(m, _, c)| std::iter::repeat_n(m, c))
        .collect()
}

/// Isotonic step table in the kernel's layout: `U = values[j]` for the largest `j` with
/// `thresholds[j] ≤ ψ` (`values[0]` below the first threshold), `ψ = γ S + (1−γ) m`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IsotonicTable {
    pub gamma: f32,
    pub thresholds: Vec<f32>,
    pub values: Vec<f32>,
}

impl IsotonicTable {
    /// The `[2, n]` float32 constant tensor SNAP_CALIBRATE reads (thresholds then values).
    pub fn tensor(&self) -> Vec<f32> {
        self.thresholds
            .iter()
            .chain(&self.values)
            .copied()
            .collect()
    }

    /// `U` for one sample, with the kernel's own arithmetic.
    pub fn eval(&self, s: f32, m: f32) -> f32 {
        let psi = self.gamma * s + (1.0 - self.gamma) * m;
        isotonic_lookup(&self.tensor(), self.thresholds.len(), psi)
    }
}

/// `ψ = γ S + (1−γ) m` in kernel f32.
pub fn blend(s: &[f32], m: &[f32], gamma: f32) -> Vec<f32> {
    s.iter()
        .zip(m)
        .map(|(&s, &m)| gamma * s + (1.0 - gamma) * m)
        .collect()
}

/// Isotonic regression (PAV) of `wrong` on `ψ`, merged down to at most `max_steps` steps
/// (adjacent blocks whose merge adds the least squared error go first, so the table stays
/// monotone), values clipped to `[ε, 1−ε]`. Equal `ψ` values are pooled first, so the result is
/// a function of `ψ`.
pub fn fit_isotonic(
    psi: &[f32],
    wrong: &[bool],
    gamma: f32,
    max_steps: usize,
) -> Result<IsotonicTable> {
    let n = wrong.len();
    check_array("ψ", psi, n)?;
    if n == 0 {
        return Err(FitError::TooFewSamples {
            what: "the isotonic calibrator".into(),
            got: 0,
            need: 2,
        });
    }
    if max_steps == 0 || max_steps > limits::MAX_ISOTONIC {
        return Err(FitError::BadConfig {
            what: "isotonic steps".into(),
            why: format!("{max_steps} must be in 1..={}", limits::MAX_ISOTONIC),
        });
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| psi[a].total_cmp(&psi[b]));
    // Pool ties.
    let mut xs: Vec<f32> = Vec::new();
    let mut ys: Vec<f64> = Vec::new();
    let mut ws: Vec<f64> = Vec::new();
    for &i in &order {
        let y = wrong[i] as u8 as f64;
        if xs.last() == Some(&psi[i]) {
            let k = ys.len() - 1;
            ys[k] = (ys[k] * ws[k] + y) / (ws[k] + 1.0);
            ws[k] += 1.0;
        } else {
            xs.push(psi[i]);
            ys.push(y);
            ws.push(1.0);
        }
    }
    let fitted = pav(&ys, &ws);
    // Blocks of equal fitted value: (left ψ, mean, weight).
    let mut blocks: Vec<(f32, f64, f64)> = Vec::new();
    for ((&x, &f), &w) in xs.iter().zip(&fitted).zip(&ws) {
        match blocks.last_mut() {
            Some(b) if b.1 == f => b.2 += w,
            _ => blocks.push((x, f, w)),
        }
    }
    while blocks.len() > max_steps {
        let (mut best, mut cost) = (0, f64::INFINITY);
        for j in 0..blocks.len() - 1 {
            let (a, b) = (blocks[j], blocks[j + 1]);
            let c = a.2 * b.2 / (a.2 + b.2) * (a.1 - b.1).powi(2);
            if c < cost {
                best = j;
                cost = c;
            }
        }
        let (a, b) = (blocks[best], blocks[best + 1]);
        blocks[best] = (a.0, (a.1 * a.2 + b.1 * b.2) / (a.2 + b.2), a.2 + b.2);
        blocks.remove(best + 1);
    }
    Ok(IsotonicTable {
        gamma,
        thresholds: blocks.iter().map(|b| b.0).collect(),
        values: blocks
            .iter()
            .map(|b| b.1.clamp(ISOTONIC_EPS, 1.0 - ISOTONIC_EPS) as f32)
            .collect(),
    })
}

/// AUROC of `score` for the positive class (Mann–Whitney, ties count ½). Used to pick γ;
/// the evaluation crate owns the reported metrics.
pub fn auroc(score: &[f32], positive: &[bool]) -> Option<f64> {
    let n = score.len();
    let n_pos = positive.iter().filter(|p| **p).count();
    let n_neg = n - n_pos;
    if n_pos == 0 || n_neg == 0 || positive.len() != n {
        return None;
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| score[a].total_cmp(&score[b]));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && score[order[j + 1]] == score[order[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            if positive[k] {
                rank_sum += avg_rank;
            }
        }
        i = j + 1;
    }
    Some((rank_sum - (n_pos * (n_pos + 1)) as f64 / 2.0) / (n_pos as f64 * n_neg as f64))
}

/// γ ∈ {0, 0.1, …, 1} maximizing the dev AUROC of `ψ = γS + (1−γ)m` (App. B.4 "γ tuned on
/// dev"; AUROC is rank-based, so the choice does not overfit the PAV fit). Ties prefer larger γ.
pub fn tune_gamma(s: &[f32], m: &[f32], wrong: &[bool]) -> Result<f32> {
    let mut best = (f64::NEG_INFINITY, 1.0f32);
    for k in (0..=10).rev() {
        let g = k as f32 / 10.0;
        let a = auroc(&blend(s, m, g), wrong).ok_or(FitError::OneClassDev {
            wrong: wrong.iter().filter(|w| **w).count(),
            correct: wrong.iter().filter(|w| !**w).count(),
        })?;
        if a > best.0 + 1e-12 {
            best = (a, g);
        }
    }
    Ok(best.1)
}

/// The mapping stored in SNAP_CALIBRATE.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Calibrator {
    Logistic(LogisticFit),
    Isotonic(IsotonicTable),
    Classwise(crate::classwise::ClasswiseFit),
}

impl Calibrator {
    /// `U` of dev sample `i` with the kernel's arithmetic (f32, NaN → 1, clamped to [0, 1]).
    pub fn u_of(&self, dev: &DevSet, i: usize) -> f32 {
        match self {
            Calibrator::Classwise(c) => {
                let f = dev.features;
                c.u(
                    dev.class[i] as usize,
                    dev.l[i],
                    &dev.feats[i * f..(i + 1) * f],
                )
            }
            _ => self.u(dev.s[i], dev.m[i]),
        }
    }

    /// `U` from `(S, m)` with the kernel's arithmetic (f32, NaN → 1, clamped to [0, 1]); the
    /// classwise map needs more than `(S, m)`: use [`Calibrator::u_of`] (this gives NaN → 1).
    pub fn u(&self, s: f32, m: f32) -> f32 {
        let u = match self {
            Calibrator::Logistic(f) => {
                let b = f.beta.map(|v| v as f32);
                sigmoid(b[0] + b[1] * s + b[2] * m)
            }
            Calibrator::Isotonic(t) => t.eval(s, m),
            Calibrator::Classwise(_) => f32::NAN,
        };
        if u.is_nan() {
            1.0
        } else {
            u.clamp(0.0, 1.0)
        }
    }

    /// `U` for every dev sample.
    pub fn u_all(&self, dev: &DevSet) -> Vec<f32> {
        (0..dev.len()).map(|i| self.u_of(dev, i)).collect()
    }
}

/// How the classifier output reaches SNAP_CALIBRATE (from the model).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassifierInput {
    pub classes: usize,
    pub kind: ClassifierKind,
    /// Quantization of an int8/uint8 output (ignored by the kernel for float32).
    pub scale: f32,
    pub zero_point: i32,
}

/// SNAP_CALIBRATE options for a fitted calibrator (write with `to_flexbuffer()`); for an
/// isotonic map the op also needs [`IsotonicTable::tensor`] as its last input.
pub fn calibrate_options(
    weights: &[f64],
    classifier: ClassifierInput,
    alpha: f32,
    calibrator: &Calibrator,
    tau: f32,
    controller: Option<ControllerParams>,
) -> Result<CalibrateOptions> {
    if weights.is_empty() || weights.len() > limits::MAX_TAPS {
        return Err(FitError::BadConfig {
            what: "tap weights".into(),
            why: format!(
                "{} taps (SNAP_CALIBRATE takes 1..={})",
                weights.len(),
                limits::MAX_TAPS
            ),
        });
    }
    let mut w = [0f32; limits::MAX_TAPS];
    for (d, s) in w.iter_mut().zip(weights) {
        *d = *s as f32;
    }
    let opts = CalibrateOptions {
        stats: match calibrator {
            Calibrator::Classwise(c) => c.stats,
            _ => 0,
        },
        taps: weights.len(),
        weights: w,
        classes: classifier.classes,
        cls: classifier.kind,
        cls_scale: classifier.scale,
        cls_zp: classifier.zero_point,
        alpha,
        mapping: match calibrator {
            Calibrator::Logistic(f) => Mapping::Logistic {
                beta: f.beta.map(|v| v as f32),
            },
            Calibrator::Isotonic(t) => Mapping::Isotonic { gamma: t.gamma },
            Calibrator::Classwise(_) => Mapping::Classwise,
        },
        tau,
        controller,
    };
    opts.validate().map_err(|e| FitError::BadConfig {
        what: "SNAP_CALIBRATE options".into(),
        why: e.message().as_str().to_string(),
    })?;
    Ok(opts)
}

/// How `τ` is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum ThresholdRule {
    /// Accept (U < τ) at least this fraction of dev samples, with the smallest such τ.
    Coverage(f64),
    /// Abstain on at most this fraction of dev samples (App. K budget b): the smallest τ with
    /// abstention ≤ b (larger τ only abstains less, so "largest τ" in §2.3 can only mean the
    /// tightest threshold within the budget).
    Budget(f64),
    /// A fixed τ.
    Fixed(f64),
}

/// τ with its dev coverage and selective risk.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OperatingPoint {
    pub rule: ThresholdRule,
    pub tau: f32,
    /// Fraction accepted (`U < τ`).
    pub coverage: f64,
    /// Fraction abstained (`U ≥ τ`).
    pub abstain_rate: f64,
    /// Error rate among accepted samples (0 when none is accepted).
    pub selective_risk: f64,
    /// Error rate with no abstention.
    pub full_risk: f64,
}

/// Coverage and selective risk at `τ`.
pub fn operating_point(u: &[f32], wrong: &[bool], tau: f32, rule: ThresholdRule) -> OperatingPoint {
    let n = u.len().max(1) as f64;
    let (mut acc, mut acc_wrong) = (0usize, 0usize);
    for (&v, &w) in u.iter().zip(wrong) {
        if v < tau {
            acc += 1;
            acc_wrong += w as usize;
        }
    }
    OperatingPoint {
        rule,
        tau,
        coverage: acc as f64 / n,
        abstain_rate: 1.0 - acc as f64 / n,
        selective_risk: if acc > 0 {
            acc_wrong as f64 / acc as f64
        } else {
            0.0
        },
        full_risk: wrong.iter().filter(|w| **w).count() as f64 / n,
    }
}

/// Chooses τ on the dev `U` values.
pub fn choose_threshold(u: &[f32], wrong: &[bool], rule: ThresholdRule) -> Result<OperatingPoint> {
    check_array("U", u, wrong.len())?;
    if u.is_empty() {
        return Err(FitError::TooFewSamples {
            what: "threshold selection".into(),
            got: 0,
            need: 1,
        });
    }
    let coverage = match rule {
        ThresholdRule::Coverage(c) => c,
        ThresholdRule::Budget(b) => 1.0 - b,
        ThresholdRule::Fixed(t) => {
            check_array_f64("τ", &[t], 1)?;
            return Ok(operating_point(u, wrong, t as f32, rule));
        }
    };
    if !(0.0..=1.0).contains(&coverage) {
        return Err(FitError::BadConfig {
            what: "threshold".into(),
            why: format!("{rule:?} must give a fraction in [0, 1]"),
        });
    }
    let mut sorted = u.to_vec();
    sorted.sort_by(f32::total_cmp);
    let n = sorted.len();
    let k = ((coverage * n as f64) - 1e-9).ceil().max(0.0) as usize;
    let tau = if k == 0 {
        sorted[0]
    } else if k >= n {
        next_up(sorted[n - 1])
    } else {
        let last_accepted = sorted[k - 1];
        sorted[k..]
            .iter()
            .copied()
            .find(|&v| v > last_accepted)
            .unwrap_or_else(|| next_up(last_accepted))
    };
    Ok(operating_point(u, wrong, tau, rule))
}

/// Smallest f32 above `x` (finite `x`; +∞ stays +∞).
fn next_up(x: f32) -> f32 {
    if x.is_nan() || (x.is_infinite() && x > 0.0) {
        x
    } else if x == 0.0 {
        f32::from_bits(1)
    } else if x > 0.0 {
        f32::from_bits(x.to_bits() + 1)
    } else {
        f32::from_bits(x.to_bits() - 1)
    }
}

#[cfg(test)]
mod tests;
