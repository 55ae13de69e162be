//! Label-free head fitting with the backbone frozen (paper §2.1–2.3, App. B.3, G).
//!
//! Per tap we get `N` samples of `x = GAP(a_{ℓ-1}) ∈ R^{C_in}` and `y = GAP(a_ℓ) ∈ R^{C_out}`
//! (dequantized floats) and fit, in order:
//!
//! 1. **Projector `P` (r × C_in)** by PCA of the centered `x`: the top-`r` eigenvectors of the
//!    sample covariance, each row divided by `sqrt(λ_k)` so every component of
//!    `z = P x + p_bias` has unit variance and zero mean on the fitting data (`p_bias = −P x̄`).
//!    Whitening makes the heads' weights comparable across components, which keeps a single
//!    Adam learning rate meaningful and gives `z` a known range for its int8 scale. Eigenvalues
//!    below `whiten_floor · λ_max` (default 1e-2) are floored so near-dead directions (dead ReLU
//!    channels) are not blown up: row norms of `P` then differ by at most 10×, which keeps the
//!    per-tensor int8 grid of `P` fine enough for the leading components.
//!    **Identity projector (`r = C_in`).** A square `P` adds nothing the heads cannot absorb
//!    (they are linear in `z`: `W·(P·x) = (W·P)·x`) yet costs `r·C_in` bytes and MACs, so at
//!    full rank there is no `P`: `z = GAP(a_{ℓ-1})` itself, on the previous activation's own
//!    int8 grid (SNAP_PROJECT without its `P` input, docs/ops.md), and the heads are fitted
//!    on it directly. [`TapHeads::is_identity`] tells the two forms apart (`p` is empty).
//! 2. **μ head** `μ = W_μ z + b_μ` by ridge regression of `y` on `z` (closed form).
//! 3. **log σ² head** `s = W_s z + b_s`: closed-form start by ridge regression of
//!    `log(residual² + ε²) + 1.2704` (the `+1.2704 = −E[log χ²₁]` removes the bias of the log of
//!    one squared Gaussian residual; `ε` is the variance floor of B.3), clipped to the clamp
//!    range; then `steps` full-batch Adam steps on the dimension-normalized Gaussian NLL
//!    (eq. 4 / eq. 27) with the clamp `s ∈ [log 1e-4, log 1e2]`, the ℓ1 scale control
//!    `α_var·|s|` and weight decay `α_wd·‖W‖²` (B.3 defaults 1e-4 / 5e-4).
//!
//! **Variance parameterization.** The deployed head must emit `log σ²` linearly from `z` (the
//! SNAP_SURPRISAL kernel quantizes it and indexes a 256-entry `exp(−½ log σ²)` LUT, App. M),
//! so we fit `s = log σ²` directly with G.2's exact gradient (eq. 31) instead of the softplus
//! form: the clamp's lower end `σ² ≥ 1e-4` is itself the variance floor (it dominates
//! `ε² = 1e-8`), and the gradient is passed through the clamp only when it points back inside,
//! so clamped channels can recover.
//!
//! **Int8 awareness** (`fake_quant`, default on; B.3's QAT phase done post hoc). The fit sees
//! what the device computes: `P` is snapped to its int8 grid before `p_bias = −P x̄` is
//! computed, `z` is rounded to its int8 grid (or, with `prev_quant`, computed by SNAP_PROJECT's
//! exact integer path), and after the Adam steps `W_μ` then `W_s` are snapped to their int8
//! grids while the remaining parameters absorb the rounding (a few more Adam steps each). The
//! stored float model is then what the int8 kernels implement up to their own arithmetic
//! (8-bit log σ², LUT, fixed point), and `E[ē] ≈ 1` holds for the deployed model.
//!
//! **Units.** The optimization runs on per-channel standardized `y` (so one learning rate fits
//! every channel); the result is mapped back to activation units, where the clamp lives (the
//! clamp bounds are converted per channel while optimizing). Weight decay therefore acts on
//! standardized weights, and both regularizers are normalized per channel like the NLL, so
//! each output channel is an independent problem with the B.3 coefficients.
//!
//! A deterministic held-out split (every `holdout_every`-th sample) gives the App. G.8 sanity
//! check `E[ē] ≈ 1`, `Var[ē] ≈ 2/d`, and the variance used for the inverse-variance tap weights.

use nalgebra::{DMatrix, DVector, SymmetricEigen};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use snapuq_ops::project::ProjectOptions;
use snapuq_ops::quant::multiply_by_quantized_multiplier;
use snapuq_ops::reference::{affine_params, quantize_bias, quantize_symmetric};

use crate::error::check_array;
use crate::{FitError, Result};

/// `−E[log χ²₁] = −(ψ(½) + log 2)`.
const LOG_CHI2_BIAS: f64 = 1.270_362_845_461_478;

/// Settings of the head fit. `Default` gives the paper's values (B.3, G.4, G.7).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HeadConfig {
    /// Projector rank `r`.
    pub rank: usize,
    /// Variance floor `ε` (B.3: 1e-4); `ε²` keeps `log(residual²)` finite in the start.
    pub eps: f64,
    /// Lower clamp of `log σ²` (G.7: `log 1e-4`).
    pub logvar_min: f64,
    /// Upper clamp of `log σ²` (G.7: `log 1e2`).
    pub logvar_max: f64,
    /// Ridge strength relative to the sample count (`λ = ridge · N_train`).
    pub ridge: f64,
    /// ℓ1 scale control on `log σ²` (B.3 `α_var`).
    pub alpha_var: f64,
    /// Weight decay on head weights (B.3 `α_wd`).
    pub alpha_wd: f64,
    /// Full-batch Adam steps after the closed-form start (0 = closed form only).
    pub steps: usize,
    /// Adam learning rate (cosine-decayed to 10% over `steps`).
    pub learning_rate: f64,
    /// Every `holdout_every`-th sample is held out for the diagnostics (5 → 20%).
    pub holdout_every: usize,
    /// Relative eigenvalue floor of the whitening (1 = no whitening, orthonormal rows scaled
    /// by `1/sqrt(λ_max)`; see the module docs).
    pub whiten_floor: f64,
    /// Fit the heads on the int8-rounded `P` and `z` the device computes.
    pub fake_quant: bool,
    /// Quantization `(scale, zero_point)` of the previous activation. With `fake_quant`, `z`
    /// is then computed by SNAP_PROJECT's exact integer arithmetic (TFLM's double-rounding
    /// requantization can move `z` by one step near half-way points, which matters for
    /// channels with small σ), so fit, float reference and device see the same `z`.
    pub prev_quant: Option<(f32, i32)>,
}

impl Default for HeadConfig {
    fn default() -> Self {
        HeadConfig {
            rank: 32,
            eps: 1e-4,
            logvar_min: (1e-4f64).ln(),
            logvar_max: (1e2f64).ln(),
            ridge: 1e-3,
            alpha_var: 1e-4,
            alpha_wd: 5e-4,
            steps: 300,
            learning_rate: 1e-2,
            holdout_every: 5,
            whiten_floor: 1e-2,
            fake_quant: true,
            prev_quant: None,
        }
    }
}

/// A fitted tap in float: `z = P x + p_bias`, `μ = W_μ z + b_μ`,
/// `log σ² = clamp(W_s z + b_s)`, `ē = mean_i (y_i − μ_i)² exp(−log σ²_i)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TapHeads {
    pub c_in: usize,
    pub c_out: usize,
    pub rank: usize,
    /// `P`, `r × C_in` row-major; empty for the identity projector (`r = C_in`).
    pub p: Vec<f32>,
    /// `−P x̄`, length `r`; empty for the identity projector.
    pub p_bias: Vec<f32>,
    /// `W_μ`, `C_out × r` row-major.
    pub w_mu: Vec<f32>,
    /// `b_μ`, length `C_out`.
    pub b_mu: Vec<f32>,
    /// `W_s` (the log σ² head), `C_out × r` row-major.
    pub w_logvar: Vec<f32>,
    /// `b_s`, length `C_out`.
    pub b_logvar: Vec<f32>,
    /// Clamp range of `log σ²`.
    pub logvar_min: f32,
    pub logvar_max: f32,
    /// The int8 grid of `z` when the fit used fake quantization: [`TapHeads::project`] rounds
    /// to it, and [`crate::quantize`] reuses it as SNAP_PROJECT's output quantization.
    pub z_quant: Option<ZQuant>,
    /// Quantization of the previous activation when `z` follows the kernel's integer path.
    pub prev_quant: Option<(f32, i32)>,
}

/// Affine int8 quantization of `z`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ZQuant {
    pub scale: f32,
    pub zero_point: i32,
}

impl ZQuant {
    /// Rounds a real value to the nearest int8 code and back.
    pub fn fake(&self, v: f64) -> f64 {
        let s = self.scale as f64;
        let q = ((v / s).round() + self.zero_point as f64).clamp(-128.0, 127.0);
        s * (q - self.zero_point as f64)
    }
}

/// Headroom of the `z` range over what the calibration data shows.
pub const Z_MARGIN: f64 = 1.1;

impl TapHeads {
    /// True when there is no `P`: `z = x` (full rank, `r = C_in`; see the module docs).
    pub fn is_identity(&self) -> bool {
        self.p.is_empty() && self.rank == self.c_in
    }

    /// `z = P x + p_bias` (rounded to the `z` grid when the fit used fake quantization).
    pub fn project(&self, x: &[f32]) -> Vec<f64> {
        if let Some(z) = self.kernel_project(x) {
            return z;
        }
        if self.is_identity() {
            return x
                .iter()
                .take(self.rank)
                .map(|&v| match self.z_quant {
                    Some(q) => q.fake(v as f64),
                    None => v as f64,
                })
                .collect();
        }
        (0..self.rank)
            .map(|j| {
                let row = &self.p[j * self.c_in..(j + 1) * self.c_in];
                let z = row
                    .iter()
                    .zip(x)
                    .map(|(&p, &v)| p as f64 * v as f64)
                    .sum::<f64>()
                    + self.p_bias[j] as f64;
                match self.z_quant {
                    Some(q) => q.fake(z),
                    None => z,
                }
            })
            .collect()
    }

    /// SNAP_PROJECT's integer path (when `z_quant` and `prev_quant` are set): `x` is recoded to
    /// the previous activation's int8 codes, then `P`, the bias and `z` go through the kernel's
    /// own requantization. `None` when the quantization is not set or not representable.
    pub fn kernel_project(&self, x: &[f32]) -> Option<Vec<f64>> {
        let (zq, (a_scale, a_zp)) = (self.z_quant?, self.prev_quant?);
        // The identity is P = I with scale 1 and no bias (SNAP_PROJECT without `P`).
        let (codes, p_scale, bias) = if self.is_identity() {
            let mut eye = vec![0i8; self.rank * self.c_in];
            for j in 0..self.rank {
                eye[j * self.c_in + j] = 1;
            }
            (eye, 1.0, vec![0; self.rank])
        } else {
            let p64: Vec<f64> = self.p.iter().map(|&v| v as f64).collect();
            let (codes, p_scale) = quantize_symmetric(&p64);
            let bias = quantize_bias(
                &self.p_bias.iter().map(|&v| v as f64).collect::<Vec<_>>(),
                a_scale as f64 * p_scale as f64,
            );
            (codes, p_scale, bias)
        };
        let opts = ProjectOptions::from_scales(
            self.c_in,
            self.rank,
            a_scale,
            a_zp,
            p_scale,
            zq.scale,
            zq.zero_point,
        )?;
        let g: Vec<i32> = x
            .iter()
            .map(|&v| ((v / a_scale).round() as i32 + a_zp).clamp(-128, 127) - a_zp)
            .collect();
        Some(
            (0..self.rank)
                .map(|j| {
                    let acc = codes[j * self.c_in..(j + 1) * self.c_in]
                        .iter()
                        .zip(&g)
                        .fold(bias[j], |acc, (&p, &gv)| acc.wrapping_add(p as i32 * gv));
                    let q = multiply_by_quantized_multiplier(acc, opts.z_mult, opts.z_shift)
                        .saturating_add(opts.z_zp)
                        .clamp(-128, 127);
                    zq.scale as f64 * (q - zq.zero_point) as f64
                })
                .collect(),
        )
    }

    /// `(μ, clamped log σ²)` from `z`.
    pub fn heads(&self, z: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let lin = |w: &[f32], b: &[f32], i: usize| {
            let row = &w[i * self.rank..(i + 1) * self.rank];
            row.iter().zip(z).map(|(&w, &z)| w as f64 * z).sum::<f64>() + b[i] as f64
        };
        let mu = (0..self.c_out)
            .map(|i| lin(&self.w_mu, &self.b_mu, i))
            .collect();
        let s = (0..self.c_out)
            .map(|i| {
                lin(&self.w_logvar, &self.b_logvar, i)
                    .clamp(self.logvar_min as f64, self.logvar_max as f64)
            })
            .collect();
        (mu, s)
    }

    /// Mean standardized squared error `ē` (eq. 8) of one sample.
    pub fn surprisal(&self, x: &[f32], y: &[f32]) -> f64 {
        let z = self.project(x);
        let (mu, s) = self.heads(&z);
        let sum: f64 = (0..self.c_out)
            .map(|i| {
                let r = y[i] as f64 - mu[i];
                r * r * (-s[i]).exp()
            })
            .sum();
        sum / self.c_out as f64
    }

    /// `ē` for `n` samples (rows of `x`: `C_in`, rows of `y`: `C_out`), in parallel.
    pub fn surprisal_batch(&self, x: &[f32], y: &[f32]) -> Result<Vec<f64>> {
        let n = x.len() / self.c_in.max(1);
        check_array("x (previous activation)", x, n * self.c_in)?;
        check_array("y (realized activation)", y, n * self.c_out)?;
        Ok((0..n)
            .into_par_iter()
            .map(|i| {
                self.surprisal(
                    &x[i * self.c_in..(i + 1) * self.c_in],
                    &y[i * self.c_out..(i + 1) * self.c_out],
                )
            })
            .collect())
    }
}

/// What the fit saw; printed by the CLI (App. G.8 sanity check).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadDiagnostics {
    pub n_train: usize,
    pub n_holdout: usize,
    /// Fraction of the centered `x` variance the `r` components keep.
    pub explained_variance: f64,
    /// Pooled held-out R² of the μ head: `1 − Σ(y−μ)² / Σ(y−ȳ)²`.
    pub mu_r2_holdout: f64,
    /// Train NLL per channel (eq. 27 without constants) after the closed-form start…
    pub nll_start: f64,
    /// …and after the Adam steps.
    pub nll_end: f64,
    /// `E[ē]` on the training split (≈ 1 at the NLL optimum).
    pub ebar_mean_train: f64,
    /// `E[ē]` on held-out data (G.8: ≈ 1).
    pub ebar_mean_holdout: f64,
    /// `Var[ē]` on held-out data (drives the tap weight).
    pub ebar_var_holdout: f64,
    /// `2/d`, the variance G.8 expects under the model.
    pub ebar_var_expected: f64,
    /// Fraction of held-out (sample, channel) log σ² values at the lower / upper clamp.
    pub clamped_low: f64,
    pub clamped_high: f64,
    /// True when `E[ē]` on held-out data lies in [0.5, 2].
    pub sanity_ok: bool,
}

/// Fits `P`, the μ head and the log σ² head of one tap from `n` samples.
pub fn fit_tap(
    x: &[f32],
    y: &[f32],
    c_in: usize,
    c_out: usize,
    cfg: &HeadConfig,
) -> Result<(TapHeads, HeadDiagnostics)> {
    validate_config(cfg, c_in)?;
    if c_out == 0 {
        return Err(FitError::BadConfig {
            what: "C_out".into(),
            why: "the tapped activation has no channels".into(),
        });
    }
    let n = x.len() / c_in;
    check_array("x (previous activation)", x, n * c_in)?;
    check_array("y (realized activation)", y, n * c_out)?;
    let r = cfg.rank;
    let (train, hold): (Vec<usize>, Vec<usize>) =
        (0..n).partition(|i| i % cfg.holdout_every != cfg.holdout_every - 1);
    let need_train = 2 * (r + 1).max(10);
    if train.len() < need_train || hold.len() < 10 {
        return Err(FitError::TooFewSamples {
            what: format!("a rank-{r} tap"),
            got: n,
            need: (need_train * cfg.holdout_every)
                .div_ceil(cfg.holdout_every - 1)
                .max(10 * cfg.holdout_every),
        });
    }
    let nt = train.len();
    let xt = DMatrix::<f64>::from_fn(nt, c_in, |i, j| x[train[i] * c_in + j] as f64);
    let yt = DMatrix::<f64>::from_fn(nt, c_out, |i, j| y[train[i] * c_out + j] as f64);

    // 1. PCA projector with whitening.
    let x_mean = xt.row_mean();
    let mut xc = xt.clone();
    for mut row in xc.row_iter_mut() {
        row -= &x_mean;
    }
    let cov = (xc.transpose() * &xc) / (nt as f64 - 1.0);
    let eig = SymmetricEigen::new(cov);
    let mut order: Vec<usize> = (0..c_in).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
    let lam_max = eig.eigenvalues[order[0]].max(0.0);
    let total_var: f64 = eig.eigenvalues.iter().map(|v| v.max(0.0)).sum();
    if lam_max <= 0.0 || lam_max.is_nan() {
        return Err(FitError::Numerical {
            what: "projector PCA".into(),
            why: "the previous activation is constant over the calibration set (no variance to project); choose another tap".into(),
        });
    }
    let floor = (lam_max * cfg.whiten_floor).max(f64::MIN_POSITIVE);
    let identity = r == c_in;
    let mut p = DMatrix::<f64>::zeros(r, c_in);
    let mut kept = 0.0;
    if identity {
        kept = total_var;
    }
    for (k, &idx) in order.iter().take(if identity { 0 } else { r }).enumerate() {
        let lam = eig.eigenvalues[idx].max(0.0);
        kept += lam;
        let v = eig.eigenvectors.column(idx);
        // Sign convention: largest-magnitude entry positive (deterministic output).
        let (imax, _) = v.iamax_full();
        let sign = if v[imax] < 0.0 { -1.0 } else { 1.0 };
        let scale = sign / lam.max(floor).sqrt();
        for j in 0..c_in {
            p[(k, j)] = v[j] * scale;
        }
    }
    // Fake quantization (B.3 "QAT phase", applied post hoc since the backbone is frozen): P on
    // its int8 grid, the bias recomputed from that P so its rounding error multiplies only the
    // centered x (activations after ReLU have large means), and z rounded to the int8 grid
    // SNAP_PROJECT will emit. The heads are then fitted on the z the device computes.
    let mut z_quant = None;
    if identity {
        // z = x on the previous activation's own grid (exact when x comes from the kernel's
        // pooling, `quantize::pooled_previous`): nothing to whiten, centre or round.
        p = DMatrix::identity(r, c_in);
        if cfg.fake_quant {
            z_quant = cfg
                .prev_quant
                .map(|(scale, zero_point)| ZQuant { scale, zero_point });
        }
    } else if cfg.fake_quant {
        let pmax = p.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        if pmax > 0.0 {
            let step = pmax / 127.0;
            p.apply(|v| *v = (*v / step).round().clamp(-127.0, 127.0) * step);
        }
    }
    let p_bias: DVector<f64> = if identity {
        DVector::zeros(r)
    } else {
        -(&p * x_mean.transpose())
    };
    let mut zt = if identity {
        xt.clone()
    } else {
        &xc * p.transpose() // nt × r, centered, ≈ unit variance
    };
    if let (true, Some(zq)) = (identity, z_quant) {
        zt.apply(|v| *v = zq.fake(*v));
    } else if cfg.fake_quant && !identity {
        let (lo, hi) = zt
            .iter()
            .fold((0.0f64, 0.0f64), |(a, b), &v| (a.min(v), b.max(v)));
        let (scale, zp) = affine_params(lo * Z_MARGIN, hi * Z_MARGIN);
        z_quant = Some(ZQuant {
            scale,
            zero_point: zp,
        });
        let zq = ZQuant {
            scale,
            zero_point: zp,
        };
        // p_bias is folded into the kernel's int32 accumulator, so z = x·Pᵀ + p_bias is what
        // gets requantized.
        zt.apply(|v| *v = zq.fake(*v));
        if cfg.prev_quant.is_some() {
            let probe = TapHeads {
                c_in,
                c_out: 0,
                rank: r,
                p: p.transpose().iter().map(|&v| v as f32).collect(),
                p_bias: p_bias.iter().map(|&v| v as f32).collect(),
                w_mu: vec![],
                b_mu: vec![],
                w_logvar: vec![],
                b_logvar: vec![],
                logvar_min: 0.0,
                logvar_max: 0.0,
                z_quant,
                prev_quant: cfg.prev_quant,
            };
            for (i, &s) in train.iter().enumerate() {
                let z = probe
                    .kernel_project(&x[s * c_in..(s + 1) * c_in])
                    .ok_or_else(|| FitError::BadConfig {
                        what: "prev_quant".into(),
                        why: "the previous activation's quantization gives no valid SNAP_PROJECT multiplier".into(),
                    })?;
                for (k, v) in z.into_iter().enumerate() {
                    zt[(i, k)] = v;
                }
            }
        }
    }

    // Standardize y per channel.
    let y_mean = yt.row_mean();
    let y_sd: Vec<f64> = (0..c_out)
        .map(|i| {
            let m = y_mean[i];
            let v = yt.column(i).iter().map(|v| (v - m) * (v - m)).sum::<f64>() / nt as f64;
            // A constant channel keeps unit scale; its residual is 0 and log σ² sits at the floor.
            if v > 1e-20 {
                v.sqrt()
            } else {
                1.0
            }
        })
        .collect();
    let ys = DMatrix::<f64>::from_fn(nt, c_out, |i, j| (yt[(i, j)] - y_mean[j]) / y_sd[j]);
    let lo: Vec<f64> = y_sd
        .iter()
        .map(|sd| cfg.logvar_min - 2.0 * sd.ln())
        .collect();
    let hi: Vec<f64> = y_sd
        .iter()
        .map(|sd| cfg.logvar_max - 2.0 * sd.ln())
        .collect();

    // 2. μ head by ridge (bias = mean, since z is centered).
    let z1 = augment(&zt);
    let lambda = cfg.ridge * nt as f64;
    let mut theta_mu = ridge(&z1, &ys, lambda)?; // c_out × (r+1)

    // 3. log σ² start: ridge on the bias-corrected log squared residual.
    let resid = &ys - &z1 * theta_mu.transpose();
    let eps2 = cfg.eps * cfg.eps;
    let target = DMatrix::<f64>::from_fn(nt, c_out, |i, j| {
        let e2 = eps2 / (y_sd[j] * y_sd[j]);
        ((resid[(i, j)].powi(2) + e2).ln() + LOG_CHI2_BIAS).clamp(lo[j], hi[j])
    });
    let mut theta_s = ridge(&z1, &target, lambda)?;

    let obj = Objective {
        z1: &z1,
        y: &ys,
        lo: &lo,
        hi: &hi,
        alpha_var: cfg.alpha_var,
        alpha_wd: cfg.alpha_wd,
    };
    let nll_start = obj.nll(&theta_mu, &theta_s, &y_sd);
    adam(
        &obj,
        &mut theta_mu,
        &mut theta_s,
        cfg.steps,
        cfg.learning_rate,
        (false, false),
    );
    if cfg.fake_quant {
        // QAT for the heads (B.3): put W_μ on its int8 grid and let the biases and the log σ²
        // head absorb the rounding, then the same for W_s. The stored float model is then the
        // one the int8 kernels implement, up to their own arithmetic.
        snap_to_int8_grid(&mut theta_mu, &y_sd);
        adam(
            &obj,
            &mut theta_mu,
            &mut theta_s,
            cfg.steps / 2,
            cfg.learning_rate * 0.5,
            (true, false),
        );
        snap_to_int8_grid(&mut theta_s, &vec![1.0; c_out]);
        adam(
            &obj,
            &mut theta_mu,
            &mut theta_s,
            cfg.steps / 4,
            cfg.learning_rate * 0.25,
            (true, true),
        );
    }
    let nll_end = obj.nll(&theta_mu, &theta_s, &y_sd);

    // Back to activation units.
    let mut w_mu = vec![0f32; c_out * r];
    let mut b_mu = vec![0f32; c_out];
    let mut w_s = vec![0f32; c_out * r];
    let mut b_s = vec![0f32; c_out];
    for i in 0..c_out {
        for k in 0..r {
            w_mu[i * r + k] = (theta_mu[(i, k)] * y_sd[i]) as f32;
            w_s[i * r + k] = theta_s[(i, k)] as f32;
        }
        b_mu[i] = (theta_mu[(i, r)] * y_sd[i] + y_mean[i]) as f32;
        b_s[i] = (theta_s[(i, r)] + 2.0 * y_sd[i].ln()) as f32;
    }
    let heads = TapHeads {
        c_in,
        c_out,
        rank: r,
        p: if identity {
            Vec::new()
        } else {
            p.transpose().iter().map(|&v| v as f32).collect()
        },
        p_bias: if identity {
            Vec::new()
        } else {
            p_bias.iter().map(|&v| v as f32).collect()
        },
        w_mu,
        b_mu,
        w_logvar: w_s,
        b_logvar: b_s,
        logvar_min: cfg.logvar_min as f32,
        logvar_max: cfg.logvar_max as f32,
        z_quant,
        prev_quant: if cfg.fake_quant { cfg.prev_quant } else { None },
    };

    // Diagnostics.
    let gather = |idx: &[usize], src: &[f32], c: usize| -> Vec<f32> {
        idx.iter()
            .flat_map(|&i| src[i * c..(i + 1) * c].iter().copied())
            .collect()
    };
    let (xh, yh) = (gather(&hold, x, c_in), gather(&hold, y, c_out));
    let (xtr, ytr) = (gather(&train, x, c_in), gather(&train, y, c_out));
    let e_hold = heads.surprisal_batch(&xh, &yh)?;
    let e_train = heads.surprisal_batch(&xtr, &ytr)?;
    let (mean_h, var_h) = mean_var(&e_hold);
    let (mean_t, _) = mean_var(&e_train);
    let (mut ss_res, mut ss_tot, mut low, mut high) = (0.0, 0.0, 0usize, 0usize);
    for (k, _) in hold.iter().enumerate() {
        let xs = &xh[k * c_in..(k + 1) * c_in];
        let ysmp = &yh[k * c_out..(k + 1) * c_out];
        let z = heads.project(xs);
        let (mu, _) = heads.heads(&z);
        for i in 0..c_out {
            let raw = (0..r)
                .map(|q| heads.w_logvar[i * r + q] as f64 * z[q])
                .sum::<f64>()
                + heads.b_logvar[i] as f64;
            low += (raw <= cfg.logvar_min) as usize;
            high += (raw >= cfg.logvar_max) as usize;
            ss_res += (ysmp[i] as f64 - mu[i]).powi(2);
            ss_tot += (ysmp[i] as f64 - y_mean[i]).powi(2);
        }
    }
    let cells = (hold.len() * c_out) as f64;
    let diag = HeadDiagnostics {
        n_train: nt,
        n_holdout: hold.len(),
        explained_variance: if total_var > 0.0 {
            kept / total_var
        } else {
            0.0
        },
        mu_r2_holdout: if ss_tot > 0.0 {
            1.0 - ss_res / ss_tot
        } else {
            0.0
        },
        nll_start,
        nll_end,
        ebar_mean_train: mean_t,
        ebar_mean_holdout: mean_h,
        ebar_var_holdout: var_h,
        ebar_var_expected: 2.0 / c_out as f64,
        clamped_low: low as f64 / cells,
        clamped_high: high as f64 / cells,
        sanity_ok: (0.5..=2.0).contains(&mean_h),
    };
    Ok((heads, diag))
}

fn validate_config(cfg: &HeadConfig, c_in: usize) -> Result<()> {
    let bad = |what: &str, why: String| {
        Err(FitError::BadConfig {
            what: what.into(),
            why,
        })
    };
    if c_in == 0 {
        return bad("C_in", "the previous activation has no channels".into());
    }
    if cfg.rank == 0 || cfg.rank > c_in {
        return bad(
            "rank",
            format!("{} must be between 1 and C_in = {c_in}", cfg.rank),
        );
    }
    if cfg.holdout_every < 2 {
        return bad("holdout_every", "must be at least 2".into());
    }
    if cfg.logvar_min >= cfg.logvar_max
        || !cfg.logvar_min.is_finite()
        || !cfg.logvar_max.is_finite()
    {
        return bad(
            "log σ² clamp",
            format!("[{}, {}] is not a range", cfg.logvar_min, cfg.logvar_max),
        );
    }
    for (name, v) in [
        ("eps", cfg.eps),
        ("ridge", cfg.ridge),
        ("alpha_var", cfg.alpha_var),
        ("alpha_wd", cfg.alpha_wd),
        ("learning_rate", cfg.learning_rate),
        ("whiten_floor", cfg.whiten_floor),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            return bad(name, format!("{v} must be finite and non-negative"));
        }
    }
    Ok(())
}

/// `[Z | 1]`.
fn augment(z: &DMatrix<f64>) -> DMatrix<f64> {
    let (n, r) = z.shape();
    DMatrix::from_fn(n, r + 1, |i, j| if j < r { z[(i, j)] } else { 1.0 })
}

/// Ridge regression of every column of `t` on `z1 = [Z | 1]` (bias not penalized); returns
/// `C × (r+1)` coefficients.
fn ridge(z1: &DMatrix<f64>, t: &DMatrix<f64>, lambda: f64) -> Result<DMatrix<f64>> {
    let k = z1.ncols();
    let mut gram = z1.transpose() * z1;
    for j in 0..k - 1 {
        gram[(j, j)] += lambda;
    }
    // A tiny jitter keeps the bias row positive definite whatever the data.
    gram[(k - 1, k - 1)] += 1e-9;
    let rhs = z1.transpose() * t;
    let chol = gram.cholesky().ok_or_else(|| FitError::Numerical {
        what: "ridge regression".into(),
        why: "normal equations are not positive definite".into(),
    })?;
    Ok(chol.solve(&rhs).transpose())
}

fn mean_var(v: &[f64]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0).max(1.0);
    (m, var)
}

/// The training objective on standardized `y`.
struct Objective<'a> {
    z1: &'a DMatrix<f64>,
    y: &'a DMatrix<f64>,
    lo: &'a [f64],
    hi: &'a [f64],
    alpha_var: f64,
    alpha_wd: f64,
}

impl Objective<'_> {
    /// Per-channel Gaussian NLL (eq. 27 without ½log 2π) in activation units: adds `log sd²`
    /// back so the number does not depend on the standardization.
    fn nll(&self, tm: &DMatrix<f64>, ts: &DMatrix<f64>, sd: &[f64]) -> f64 {
        let mu = self.z1 * tm.transpose();
        let s = self.z1 * ts.transpose();
        let (n, d) = mu.shape();
        let mut acc = 0.0;
        for j in 0..d {
            for i in 0..n {
                let sv = s[(i, j)].clamp(self.lo[j], self.hi[j]);
                let r = self.y[(i, j)] - mu[(i, j)];
                acc += 0.5 * (r * r * (-sv).exp() + sv + 2.0 * sd[j].ln());
            }
        }
        acc / (n * d) as f64
    }

    /// Gradients of the regularized objective w.r.t. both heads.
    fn grad(&self, tm: &DMatrix<f64>, ts: &DMatrix<f64>) -> (DMatrix<f64>, DMatrix<f64>) {
        let mu = self.z1 * tm.transpose();
        let s = self.z1 * ts.transpose();
        let (n, d) = mu.shape();
        let norm = 1.0 / (n as f64);
        let mut g_mu = DMatrix::<f64>::zeros(n, d);
        let mut g_s = DMatrix::<f64>::zeros(n, d);
        for j in 0..d {
            for i in 0..n {
                let raw = s[(i, j)];
                let sv = raw.clamp(self.lo[j], self.hi[j]);
                let inv = (-sv).exp();
                let r = self.y[(i, j)] - mu[(i, j)];
                g_mu[(i, j)] = -r * inv * norm;
                // eq. 31 plus the ℓ1 scale control; through the clamp only when it points inside.
                let g = (0.5 * (1.0 - r * r * inv) + self.alpha_var * sv.signum()) * norm;
                let pass = (raw > self.lo[j] && raw < self.hi[j])
                    || (raw <= self.lo[j] && g < 0.0)
                    || (raw >= self.hi[j] && g > 0.0);
                g_s[(i, j)] = if pass { g } else { 0.0 };
            }
        }
        let mut gm = g_mu.transpose() * self.z1;
        let mut gs = g_s.transpose() * self.z1;
        let r = tm.ncols() - 1;
        for i in 0..d {
            for k in 0..r {
                gm[(i, k)] += 2.0 * self.alpha_wd * tm[(i, k)];
                gs[(i, k)] += 2.0 * self.alpha_wd * ts[(i, k)];
            }
        }
        (gm, gs)
    }
}

/// Full-batch Adam with a cosine-decayed learning rate (G.6).
/// Full-batch Adam with a cosine-decayed learning rate (G.6). `frozen.0` / `frozen.1` keep the
/// weight columns (not the bias column) of the μ / log σ² head fixed.
fn adam(
    obj: &Objective<'_>,
    tm: &mut DMatrix<f64>,
    ts: &mut DMatrix<f64>,
    steps: usize,
    learning_rate: f64,
    frozen: (bool, bool),
) {
    let (b1, b2, eps) = (0.9, 0.999, 1e-8);
    let shape = tm.shape();
    let bias_start = shape.0 * (shape.1 - 1); // column-major: the last column is the bias
    let zeros = || DMatrix::<f64>::zeros(shape.0, shape.1);
    let (mut m1, mut v1, mut m2, mut v2) = (zeros(), zeros(), zeros(), zeros());
    for t in 1..=steps {
        let progress = (t - 1) as f64 / steps.max(1) as f64;
        let lr =
            learning_rate * (0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()));
        let (gm, gs) = obj.grad(tm, ts);
        let c1 = 1.0 - b1f(b1, t);
        let c2 = 1.0 - b1f(b2, t);
        for (theta, g, m, v, freeze) in [
            (&mut *tm, &gm, &mut m1, &mut v1, frozen.0),
            (&mut *ts, &gs, &mut m2, &mut v2, frozen.1),
        ] {
            let first = if freeze { bias_start } else { 0 };
            for idx in first..g.len() {
                m[idx] = b1 * m[idx] + (1.0 - b1) * g[idx];
                v[idx] = b2 * v[idx] + (1.0 - b2) * g[idx] * g[idx];
                let mh = m[idx] / c1;
                let vh = v[idx] / c2;
                theta[idx] -= lr * mh / (vh.sqrt() + eps);
            }
        }
    }
}

/// Snaps the weight columns of a head to a per-tensor symmetric int8 grid in activation units
/// (`row_scale[i]` converts row `i` of the standardized head to those units).
fn snap_to_int8_grid(theta: &mut DMatrix<f64>, row_scale: &[f64]) {
    let (rows, cols) = theta.shape();
    let mut max = 0.0f64;
    for i in 0..rows {
        for k in 0..cols - 1 {
            max = max.max((theta[(i, k)] * row_scale[i]).abs());
        }
    }
    if max == 0.0 {
        return;
    }
    let step = max / 127.0;
    for i in 0..rows {
        for k in 0..cols - 1 {
            let q = (theta[(i, k)] * row_scale[i] / step)
                .round()
                .clamp(-127.0, 127.0);
            theta[(i, k)] = q * step / row_scale[i];
        }
    }
}

fn b1f(b: f64, t: usize) -> f64 {
    b.powi(t as i32)
}

/// One tap's data for [`fit_taps`].
#[derive(Debug, Clone, Copy)]
pub struct TapData<'a> {
    /// Pooled previous activation, `[n, c_in]` (see [`crate::quantize::pooled_previous`]).
    pub x: &'a [f32],
    /// Pooled realized activation, `[n, c_out]` (see [`crate::quantize::pooled_realized`]).
    pub y: &'a [f32],
    pub c_in: usize,
    pub c_out: usize,
    pub config: HeadConfig,
}

/// Fits every tap, in parallel across taps.
pub fn fit_taps(taps: &[TapData<'_>]) -> Vec<Result<(TapHeads, HeadDiagnostics)>> {
    taps.par_iter()
        .map(|t| fit_tap(t.x, t.y, t.c_in, t.c_out, &t.config))
        .collect()
}

/// Inverse-variance tap weights `w_ℓ ∝ 1/Var(ē_ℓ)` (§2.5), normalized to sum 1. A tap with zero
/// or non-finite variance gets an error, since its weight would be undefined.
pub fn tap_weights(ebar_var: &[f64]) -> Result<Vec<f64>> {
    if ebar_var.is_empty() {
        return Err(FitError::NoUsableTap);
    }
    if let Some(index) = ebar_var.iter().position(|v| !(v.is_finite() && *v > 0.0)) {
        return Err(FitError::Numerical {
            what: "tap weights".into(),
            why: format!(
                "Var(ē) of tap {index} is {} (must be positive and finite)",
                ebar_var[index]
            ),
        });
    }
    let inv: Vec<f64> = ebar_var.iter().map(|v| 1.0 / v).collect();
    let total: f64 = inv.iter().sum();
    Ok(inv.iter().map(|v| v / total).collect())
}

#[cfg(test)]
pub(crate) mod tests;
