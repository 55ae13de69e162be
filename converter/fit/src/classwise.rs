//! The classwise calibrator (SNAP_CALIBRATE mapping `classwise`, docs/ops.md):
//! `U = σ(a[ĉ] + b[ĉ]·L + Σ_j (g_j + h_j·L)·f_j)`, `L = ln(1 − C + ε)`, features
//! `f = (ln ē_ℓ)_ℓ ++ SNAP_PROJECT stats`.
//!
//! Why it exists (measured, docs/converter.md "Calibrator"): the paper's 3-parameter map
//! `σ(β0 + β1·S + β2·m)` adds `S` to the softmax term with one global weight, so a sample's
//! rank inside one condition moves with the per-sample noise of `S`, and on ResNet-8 it ranks
//! below plain MSP inside every condition. The error rate at a given confidence depends far
//! more on *which* class was predicted (and, under shift, on the classes the network collapses
//! onto) than on `S`; a per-class intercept and slope on `L` capture that, and the surprisal
//! and spatial statistics enter with their own interaction with `L`.
//!
//! Fitting: L2-regularized logistic regression (Newton/IRLS, f64) on standardized columns
//! `[onehot(ĉ), onehot(ĉ)·L, f, L·f]` with a free intercept, mapped back to raw units and
//! folded into the `[2, classes + F]` table the kernel reads. `U` for τ and the report is then
//! computed with the kernel's own f32 code ([`ClasswiseFit::u`]), so the device reproduces it
//! bit for bit.
use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};
use snapuq_ops::calibrate::{classwise_logit, sigmoid};

use crate::{FitError, Result};

/// Default L2 strength (on standardized columns; `1/C` of scikit-learn's `C = 1`).
pub const DEFAULT_CLASSWISE_L2: f64 = 1.0;
/// Newton iterations at most.
const MAX_ITER: usize = 100;

/// A fitted classwise map: the table SNAP_CALIBRATE reads as input `T+1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClasswiseFit {
    pub classes: usize,
    /// Features `F` (taps + 2·stats).
    pub features: usize,
    /// SNAP_PROJECT stats inputs (each gives 2 features), taken from the first taps.
    pub stats: usize,
    /// `[2, classes + F]` row-major: row 0 `a ++ g`, row 1 `b ++ h`.
    pub table: Vec<f32>,
    pub l2: f64,
    pub iterations: usize,
    pub converged: bool,
}

impl ClasswiseFit {
    /// Table width `classes + F`.
    pub fn width(&self) -> usize {
        self.classes + self.features
    }

    /// `U` with the kernel's f32 arithmetic (NaN → 1, clamped to [0, 1]).
    pub fn u(&self, class: usize, l: f32, feats: &[f32]) -> f32 {
        let u = sigmoid(classwise_logit(&self.table, self.classes, class, l, feats));
        if u.is_nan() {
            1.0
        } else {
            u.clamp(0.0, 1.0)
        }
    }
}

/// The per-sample inputs of the classwise fit.
#[derive(Debug, Clone, Copy)]
pub struct ClasswiseData<'a> {
    /// Predicted class per sample.
    pub class: &'a [u32],
    /// `L = ln(1 − C + ε)` per sample (kernel f32).
    pub l: &'a [f32],
    /// `F` features per sample, row-major.
    pub feats: &'a [f32],
    pub features: usize,
    pub wrong: &'a [bool],
}

/// Fits the classwise map on `data` (see the module doc).
pub fn fit_classwise(
    data: ClasswiseData<'_>,
    classes: usize,
    stats: usize,
    l2: f64,
) -> Result<ClasswiseFit> {
    let n = data.wrong.len();
    let f = data.features;
    let bad = |why: String| FitError::BadConfig {
        what: "classwise calibrator".into(),
        why,
    };
    if data.class.len() != n || data.l.len() != n || data.feats.len() != n * f {
        return Err(bad(format!(
            "{n} labels but {} classes, {} L values and {} features ({f} per sample)",
            data.class.len(),
            data.l.len(),
            data.feats.len()
        )));
    }
    if classes == 0 || data.class.iter().any(|&c| c as usize >= classes) {
        return Err(bad(format!("predicted classes must be below {classes}")));
    }
    if !(l2.is_finite() && l2 > 0.0) {
        return Err(bad(format!("L2 {l2} must be finite and positive")));
    }
    if let Some(i) = data.l.iter().chain(data.feats).position(|v| !v.is_finite()) {
        return Err(bad(format!(
            "a non-finite feature value (position {i}): check the dev data for NaN/Inf"
        )));
    }
    let n_wrong = data.wrong.iter().filter(|w| **w).count();
    if n_wrong == 0 || n_wrong == n {
        return Err(FitError::OneClassDev {
            wrong: n_wrong,
            correct: n - n_wrong,
        });
    }
    // Raw columns: [onehot (C), onehot·L (C), f (F), L·f (F)].
    let p = 2 * classes + 2 * f;
    let raw = |i: usize, k: usize| -> f64 {
        let c = data.class[i] as usize;
        let l = data.l[i] as f64;
        if k < classes {
            (k == c) as u8 as f64
        } else if k < 2 * classes {
            if k - classes == c {
                l
            } else {
                0.0
            }
        } else if k < 2 * classes + f {
            data.feats[i * f + (k - 2 * classes)] as f64
        } else {
            l * data.feats[i * f + (k - 2 * classes - f)] as f64
        }
    };
    let mut mean = vec![0f64; p];
    let mut sd = vec![0f64; p];
    for i in 0..n {
        for k in 0..p {
            mean[k] += raw(i, k);
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    for i in 0..n {
        for k in 0..p {
            let d = raw(i, k) - mean[k];
            sd[k] += d * d;
        }
    }
    // A constant column (a class never predicted) gets no weight: σ = 1 keeps it at zero.
    sd.iter_mut().for_each(|s| {
        *s = if *s > 0.0 {
            (*s / n as f64).sqrt()
        } else {
            1.0
        }
    });
    // Design matrix with the intercept last.
    let x = DMatrix::from_fn(n, p + 1, |i, k| {
        if k == p {
            1.0
        } else {
            (raw(i, k) - mean[k]) / sd[k]
        }
    });
    let y = DVector::from_iterator(n, data.wrong.iter().map(|&w| w as u8 as f64));
    let mut w = DVector::<f64>::zeros(p + 1);
    let mut converged = false;
    let mut iterations = 0;
    for it in 0..MAX_ITER {
        iterations = it + 1;
        let z = &x * &w;
        let prob = z.map(|v| 1.0 / (1.0 + (-v).exp()));
        let mut grad = x.tr_mul(&(&prob - &y));
        let wts = prob.map(|q| (q * (1.0 - q)).max(1e-12));
        let mut hess = x.tr_mul(&DMatrix::from_fn(n, p + 1, |i, k| x[(i, k)] * wts[i]));
        for k in 0..p {
            grad[k] += l2 * w[k];
            hess[(k, k)] += l2;
        }
        let step = hess
            .cholesky()
            .ok_or_else(|| bad("the Newton system is singular".into()))?
            .solve(&grad);
        w -= &step;
        if step.amax() < 1e-9 {
            converged = true;
            break;
        }
    }
    // Back to raw units: w_k / σ_k, intercept − Σ w_k μ_k / σ_k.
    let coef: Vec<f64> = (0..p).map(|k| w[k] / sd[k]).collect();
    let intercept = w[p] - (0..p).map(|k| coef[k] * mean[k]).sum::<f64>();
    let width = classes + f;
    let mut table = vec![0f32; 2 * width];
    for c in 0..classes {
        table[c] = (coef[c] + intercept) as f32;
        table[width + c] = coef[classes + c] as f32;
    }
    for j in 0..f {
        table[classes + j] = coef[2 * classes + j] as f32;
        table[width + classes + j] = coef[2 * classes + f + j] as f32;
    }
    if table.iter().any(|v| !v.is_finite()) {
        return Err(bad("the fit diverged (non-finite coefficients)".into()));
    }
    Ok(ClasswiseFit {
        classes,
        features: f,
        stats,
        table,
        l2,
        iterations,
        converged,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two classes with different error rates at the same confidence, one informative feature:
    /// the fit must find both, and the table must reproduce the raw-unit logit.
    #[test]
    fn recovers_class_offsets_and_feature_slope() {
        let mut class = Vec::new();
        let mut l = Vec::new();
        let mut feats = Vec::new();
        let mut wrong = Vec::new();
        let mut state = 12345u64;
        let mut rnd = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 11) as f64) / ((1u64 << 53) as f64)
        };
        for i in 0..6000 {
            let c = (i % 2) as u32;
            let li = -(rnd() * 6.0) as f32;
            let fi = (rnd() * 2.0 - 1.0) as f32;
            let z = if c == 0 { -1.0 } else { 1.0 } + 0.8 * li as f64 + 1.5 * fi as f64;
            let pw = 1.0 / (1.0 + (-z).exp());
            class.push(c);
            l.push(li);
            feats.push(fi);
            wrong.push(rnd() < pw);
        }
        let data = ClasswiseData {
            class: &class,
            l: &l,
            feats: &feats,
            features: 1,
            wrong: &wrong,
        };
        let fit = fit_classwise(data, 2, 0, 1e-3).unwrap();
        assert!(fit.converged);
        let t = &fit.table;
        // a = [a0, a1, g0], b = [b0, b1, h0].
        assert!((t[1] - t[0] - 2.0).abs() < 0.4, "{t:?}");
        assert!(
            (t[3] - 0.8).abs() < 0.2 && (t[4] - 0.8).abs() < 0.2,
            "{t:?}"
        );
        assert!((t[2] - 1.5).abs() < 0.3 && t[5].abs() < 0.3, "{t:?}");
        // The kernel's U equals σ of the raw-unit logit.
        let u = fit.u(1, -2.0, &[0.5]);
        let z = t[1] + t[4] * -2.0 + (t[2] + t[5] * -2.0) * 0.5;
        assert!((u - 1.0 / (1.0 + (-z).exp())).abs() < 1e-6);
        // Bad input: NaN features, out-of-range classes, one-class dev.
        let mut nan = feats.clone();
        nan[3] = f32::NAN;
        let bad = ClasswiseData {
            feats: &nan,
            ..data
        };
        assert!(fit_classwise(bad, 2, 0, 1.0).is_err());
        assert!(fit_classwise(data, 1, 0, 1.0).is_err());
        let all_wrong = vec![true; wrong.len()];
        let one = ClasswiseData {
            wrong: &all_wrong,
            ..data
        };
        assert!(matches!(
            fit_classwise(one, 2, 0, 1.0),
            Err(FitError::OneClassDev { .. })
        ));
    }
}
