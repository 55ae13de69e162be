//! Float references (f64) of every SNAP computation, for tests and for the converter's
//! fitting/reporting. They follow the paper's formulas directly, with no fixed-point steps:
//! the int8 kernels are tested against them (see `tests/` and docs/ops.md for tolerances).

use crate::calibrate::ClassifierKind;
use crate::lut::{LOG_VAR_MAX, LOG_VAR_MIN};
use crate::surprisal::Variant;

/// Dequantizes int8 codes: `scale · (q − zp)`.
pub fn dequantize(q: &[i8], scale: f32, zp: i32) -> Vec<f64> {
    q.iter()
        .map(|&v| scale as f64 * (v as i32 - zp) as f64)
        .collect()
}

/// Global average pooling of one sample `[spatial, channels]` (channels last).
pub fn gap(sample: &[f64], channels: usize) -> Vec<f64> {
    let mut out = vec![0.0; channels];
    if channels == 0 {
        return out;
    }
    let spatial = sample.len() / channels;
    for px in sample.chunks_exact(channels) {
        for (o, v) in out.iter_mut().zip(px) {
            *o += v;
        }
    }
    for o in &mut out {
        *o /= spatial.max(1) as f64;
    }
    out
}

/// `y = W·x + b` with W row-major `[rows, x.len()]` (`b` may be empty = no bias).
pub fn linear(w: &[f64], b: &[f64], x: &[f64]) -> Vec<f64> {
    let cols = x.len();
    let rows = w.len().checked_div(cols).unwrap_or(0);
    (0..rows)
        .map(|j| {
            let dot: f64 = w[j * cols..(j + 1) * cols]
                .iter()
                .zip(x)
                .map(|(a, b)| a * b)
                .sum();
            dot + b.get(j).copied().unwrap_or(0.0)
        })
        .collect()
}

/// SNAP_PROJECT in float: `z = P · GAP(a) + bias` for one sample.
pub fn project(sample: &[f64], channels: usize, p: &[f64], bias: &[f64]) -> Vec<f64> {
    linear(p, bias, &gap(sample, channels))
}

/// The heads: `(μ, log σ²)` with log σ² clamped to `[ln 1e-4, ln 1e2]`.
pub fn heads(
    z: &[f64],
    w_mu: &[f64],
    b_mu: &[f64],
    w_ls: &[f64],
    b_ls: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    let mu = linear(w_mu, b_mu, z);
    let ls = linear(w_ls, b_ls, z)
        .into_iter()
        .map(|v| v.clamp(LOG_VAR_MIN as f64, LOG_VAR_MAX as f64))
        .collect();
    (mu, ls)
}

/// Huber's ρ_δ.
pub fn huber(u: f64, delta: f64) -> f64 {
    let a = u.abs();
    if a <= delta {
        0.5 * u * u
    } else {
        delta * a - 0.5 * delta * delta
    }
}

/// ē of one sample for a variant (eqs. 6, 7, 8, 53/54): `a` pooled realized activation,
/// `mu`/`ls` head outputs (ls already clamped), `eps` the variance floor (σ² + ε²),
/// `b` the low-rank factor `[C,k]` in real units (low-rank only), `log_det` adds
/// ½·log σ² (and ½·log det(I+M)) per channel.
pub fn ebar(
    a: &[f64],
    mu: &[f64],
    ls: &[f64],
    variant: Variant,
    b: Option<&[f64]>,
    eps: f64,
    log_det: bool,
) -> f64 {
    let d = a.len();
    let mut total = 0.0;
    let mut std_res = Vec::with_capacity(d);
    let mut inv_sigma = Vec::with_capacity(d);
    for i in 0..d {
        let var = ls[i].exp() + eps * eps;
        let is = 1.0 / var.sqrt();
        let u = (a[i] - mu[i]) * is;
        std_res.push(u);
        inv_sigma.push(is);
        total += match variant {
            Variant::Gaussian | Variant::LowRank { .. } => u * u,
            Variant::StudentT { nu } => {
                let nu = nu as f64;
                0.5 * (nu + 1.0) * (u * u / nu).ln_1p()
            }
            Variant::Huber { delta } => huber(u, delta as f64),
        };
        if log_det {
            total += 0.5 * ls[i];
        }
    }
    if let (Variant::LowRank { k }, Some(b)) = (variant, b) {
        // M = B̃ᵀB̃, w = B̃ᵀu with B̃ = D^{-1/2} B.
        let mut m = vec![0.0; k * k];
        let mut w = vec![0.0; k];
        for i in 0..d {
            for j in 0..k {
                let bj = b[i * k + j] * inv_sigma[i];
                w[j] += bj * std_res[i];
                for l in 0..k {
                    m[j * k + l] += bj * b[i * k + l] * inv_sigma[i];
                }
            }
        }
        for j in 0..k {
            m[j * k + j] += 1.0;
        }
        let (delta, logdet) = spd_quad_logdet(&m, &w, k);
        total -= delta;
        if log_det {
            total += 0.5 * logdet;
        }
    }
    total / d.max(1) as f64
}

/// `(wᵀA⁻¹w, log det A)` for SPD A (k×k row-major) by Cholesky.
pub fn spd_quad_logdet(a: &[f64], w: &[f64], k: usize) -> (f64, f64) {
    let mut l = vec![0.0; k * k];
    let mut logdet = 0.0;
    for j in 0..k {
        let mut s = a[j * k + j];
        for p in 0..j {
            s -= l[j * k + p] * l[j * k + p];
        }
        let d = s.max(1e-300).sqrt();
        l[j * k + j] = d;
        logdet += 2.0 * d.ln();
        for i in j + 1..k {
            let mut s = a[i * k + j];
            for p in 0..j {
                s -= l[i * k + p] * l[j * k + p];
            }
            l[i * k + j] = s / d;
        }
    }
    let mut y = vec![0.0; k];
    let mut q = 0.0;
    for i in 0..k {
        let mut s = w[i];
        for p in 0..i {
            s -= l[i * k + p] * y[p];
        }
        y[i] = s / l[i * k + i];
        q += y[i] * y[i];
    }
    (q, logdet)
}

/// Dense `(a−μ)ᵀ Σ⁻¹ (a−μ) / d` with Σ = diag(σ²) + BBᵀ, by Gaussian elimination (checks
/// the Woodbury path independently; O(d³), tests only).
pub fn ebar_lowrank_dense(a: &[f64], mu: &[f64], ls: &[f64], b: &[f64], k: usize, eps: f64) -> f64 {
    let d = a.len();
    let mut s = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..d {
            let mut v: f64 = (0..k).map(|l| b[i * k + l] * b[j * k + l]).sum();
            if i == j {
                v += ls[i].exp() + eps * eps;
            }
            s[i * d + j] = v;
        }
    }
    let v: Vec<f64> = a.iter().zip(mu).map(|(x, m)| x - m).collect();
    // Solve S x = v (S is SPD; no pivoting needed).
    let mut x = v.clone();
    for c in 0..d {
        let p = s[c * d + c];
        for r in c + 1..d {
            let f = s[r * d + c] / p;
            for cc in c..d {
                s[r * d + cc] -= f * s[c * d + cc];
            }
            x[r] -= f * x[c];
        }
    }
    for c in (0..d).rev() {
        let mut acc = x[c];
        for cc in c + 1..d {
            acc -= s[c * d + cc] * x[cc];
        }
        x[c] = acc / s[c * d + c];
    }
    v.iter().zip(&x).map(|(a, b)| a * b).sum::<f64>() / d as f64
}

/// `S = Σ w_ℓ ē_ℓ` (eq. 9).
pub fn score(ebars: &[f64], weights: &[f64]) -> f64 {
    ebars.iter().zip(weights).map(|(e, w)| e * w).sum()
}

/// Softmax (max-subtracted).
pub fn softmax(logits: &[f64]) -> Vec<f64> {
    let mx = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = logits.iter().map(|l| (l - mx).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|v| v / s).collect()
}

/// `(C, margin)` from class probabilities or logits.
pub fn confidence_margin(kind: ClassifierKind, values: &[f64]) -> (f64, f64) {
    let p = match kind {
        ClassifierKind::Probs => values.to_vec(),
        ClassifierKind::Logits => softmax(values),
    };
    let mut sorted = p;
    sorted.sort_by(|a, b| b.total_cmp(a));
    let c = sorted.first().copied().unwrap_or(0.0);
    let p2 = sorted.get(1).copied().unwrap_or(0.0);
    (c, c - p2)
}

/// `m = α(1−C) + (1−α)(1−margin)` (eq. 10).
pub fn blend_m(c: f64, margin: f64, alpha: f64) -> f64 {
    alpha * (1.0 - c) + (1.0 - alpha) * (1.0 - margin)
}

/// `U = sigmoid(β0 + β1 S + β2 m)` (eq. 11).
pub fn logistic(beta: [f64; 3], s: f64, m: f64) -> f64 {
    1.0 / (1.0 + (-(beta[0] + beta[1] * s + beta[2] * m)).exp())
}

/// Right-continuous isotonic step function (see `calibrate::isotonic_lookup`).
pub fn isotonic(thresholds: &[f64], values: &[f64], x: f64) -> f64 {
    let cnt = thresholds.partition_point(|&t| t <= x);
    values[cnt.saturating_sub(1)]
}

/// The App. K controller in f64 over a sequence of U: returns the abstain flags and the
/// final τ.
pub fn controller_run(
    us: &[f64],
    tau0: f64,
    budget: f64,
    eta: f64,
    kappa: f64,
    tau_min: f64,
    tau_max: f64,
) -> (Vec<bool>, f64) {
    let mut tau = tau0.clamp(tau_min, tau_max);
    let mut abar = 0.0;
    let flags = us
        .iter()
        .map(|&u| {
            let a = u >= tau;
            abar = eta * (a as u8 as f64) + (1.0 - eta) * abar;
            tau = (tau + kappa * (abar - budget)).clamp(tau_min, tau_max);
            a
        })
        .collect();
    (flags, tau)
}

/// Symmetric per-tensor int8 quantization: `(codes, scale)` with `scale = max|w| / 127`.
pub fn quantize_symmetric(w: &[f64]) -> (Vec<i8>, f32) {
    let mx = w.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let scale = if mx > 0.0 { mx / 127.0 } else { 1.0 };
    let q = w
        .iter()
        .map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8)
        .collect();
    (q, scale as f32)
}

/// Asymmetric int8 quantization parameters covering `[lo, hi]` (TFLite style, 0 exact).
pub fn affine_params(lo: f64, hi: f64) -> (f32, i32) {
    let lo = lo.min(0.0);
    let hi = hi.max(0.0);
    let scale = ((hi - lo) / 255.0).max(1e-12);
    let zp = (-128.0 - lo / scale).round().clamp(-128.0, 127.0) as i32;
    (scale as f32, zp)
}

/// Quantizes to int8 with (scale, zp).
pub fn quantize(x: &[f64], scale: f32, zp: i32) -> Vec<i8> {
    x.iter()
        .map(|v| ((v / scale as f64).round() + zp as f64).clamp(-128.0, 127.0) as i8)
        .collect()
}

/// Quantizes a bias to int32 with `scale` (= weight scale × input scale).
pub fn quantize_bias(b: &[f64], scale: f64) -> Vec<i32> {
    b.iter()
        .map(|v| (v / scale).round().clamp(i32::MIN as f64, i32::MAX as f64) as i32)
        .collect()
}
