//! Int8 quantization of a fitted tap into exactly what the SNAP kernels read (docs/ops.md),
//! and the measured int8-vs-float error of `ē` (paper §2.5 "Integer-friendly arithmetic",
//! App. G.6, M, N.2).
//!
//! - `P`, `W_μ`, `W_s` (log σ² head): int8, symmetric per-tensor (`scale = max|w|/127`).
//! - Biases: int32 at `in_scale · w_scale` (`P`: `a_{ℓ-1}` scale; heads: `z` scale).
//! - `z`: affine int8 over the range `z` takes on the calibration data (widened by
//!   `z_margin`; the fit whitens `z`, so this is a few units either side of 0).
//! - log σ²: affine int8 with one shared scale covering the clamp range `[ln 1e-4, ln 1e2]`
//!   (≈ 0.0542 per step, zero point 42), as docs/ops.md recommends.
//! - Multipliers, shifts, clamp codes and the `exp(−½ log σ²)` LUT come from the ops crate's
//!   own builders ([`ProjectOptions::from_scales`], [`SurprisalQuant::build`]), so the options
//!   written into the model are the ones the kernels were tested with.

use serde::{Deserialize, Serialize};
use snapuq_ops::project::{self, ProjectOptions};
use snapuq_ops::quant::gap_s8;
use snapuq_ops::reference::{affine_params, quantize_bias, quantize_symmetric};
use snapuq_ops::surprisal::{self, SurprisalOptions, SurprisalQuant, Variant};
use snapuq_ops::{lut, Cost, DType, PortableDot, TensorDesc};

use crate::error::check_array;
use crate::heads::TapHeads;
use crate::{FitError, Result};

/// Quantization parameters of an int8 activation tensor (`real = scale · (q − zero_point)`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ActQuant {
    pub scale: f32,
    pub zero_point: i32,
}

impl ActQuant {
    fn check(&self, what: &str) -> Result<()> {
        if !self.scale.is_finite() || self.scale <= 0.0 || !(-128..=127).contains(&self.zero_point)
        {
            return Err(FitError::BadConfig {
                what: what.into(),
                why: format!(
                    "int8 quantization (scale {}, zero point {}) is not valid: need scale > 0 and zero point in -128..=127",
                    self.scale, self.zero_point
                ),
            });
        }
        Ok(())
    }
}

/// Settings of the quantization.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QuantConfig {
    /// Widening of the observed `z` range (1.1 = 10% headroom).
    pub z_margin: f64,
    /// Variance floor ε baked into the LUT (B.3: 1e-4).
    pub eps: f32,
}

impl Default for QuantConfig {
    fn default() -> Self {
        QuantConfig {
            z_margin: 1.1,
            eps: lut::DEFAULT_EPS,
        }
    }
}

/// One tap, quantized: the options and constant tensors of its SNAP_PROJECT and
/// SNAP_SURPRISAL (Gaussian variant).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantizedTap {
    pub c_in: usize,
    pub c_out: usize,
    pub rank: usize,
    /// Quantization of `a_{ℓ-1}` and `a_ℓ` (from the model).
    pub prev: ActQuant,
    pub act: ActQuant,
    /// `z` (output of SNAP_PROJECT).
    pub z: ActQuant,
    /// SNAP_PROJECT input 1, `[r, C_in]`; empty for the identity projector (`r = C_in`: the
    /// op gets no `P`, see [`QuantizedTap::is_identity`]).
    pub p: Vec<i8>,
    /// Scale of `P` (1 for the identity).
    pub p_scale: f32,
    /// SNAP_PROJECT input 2, `[r]`, scale `prev.scale · p_scale`; empty when absent.
    pub p_bias: Vec<i32>,
    /// SNAP_SURPRISAL inputs 2–6.
    pub w_mu: Vec<i8>,
    pub wmu_scale: f32,
    pub b_mu: Vec<i32>,
    pub w_ls: Vec<i8>,
    pub wls_scale: f32,
    pub b_ls: Vec<i32>,
    pub lut: Vec<i32>,
    /// Shared int8 quantization of log σ².
    pub logvar: ActQuant,
    pub eps: f32,
    #[serde(skip)]
    project_opts: Option<ProjectOptions>,
    #[serde(skip)]
    surprisal_opts: Option<SurprisalOptions>,
}

impl QuantizedTap {
    /// True when SNAP_PROJECT runs without `P` (and without bias): `z = GAP(a_{ℓ-1})` on the
    /// previous activation's grid, because `r = C_in` (docs/ops.md, SNAP_PROJECT).
    pub fn is_identity(&self) -> bool {
        self.p.is_empty() && self.rank == self.c_in
    }

    /// SNAP_PROJECT options (write with `to_flexbuffer()`).
    pub fn project_options(&self) -> Result<ProjectOptions> {
        match self.project_opts {
            Some(o) => Ok(o),
            None => ProjectOptions::from_scales(
                self.c_in,
                self.rank,
                self.prev.scale,
                self.prev.zero_point,
                self.p_scale,
                self.z.scale,
                self.z.zero_point,
            )
            .ok_or_else(|| bad_scale("SNAP_PROJECT multiplier")),
        }
    }

    /// SNAP_SURPRISAL options (write with `to_flexbuffer()`).
    pub fn surprisal_options(&self) -> Result<SurprisalOptions> {
        match self.surprisal_opts {
            Some(o) => Ok(o),
            None => Ok(self
                .surprisal_quant()
                .build()
                .ok_or_else(|| bad_scale("SNAP_SURPRISAL multipliers"))?
                .0),
        }
    }

    fn surprisal_quant(&self) -> SurprisalQuant {
        SurprisalQuant {
            c_out: self.c_out,
            r: self.rank,
            variant: Variant::Gaussian,
            z_scale: self.z.scale,
            z_zp: self.z.zero_point,
            a_scale: self.act.scale,
            a_zp: self.act.zero_point,
            wmu_scale: self.wmu_scale,
            wls_scale: self.wls_scale,
            ls_scale: self.logvar.scale,
            ls_zp: self.logvar.zero_point,
            b_real_scale: 0.0,
            eps: self.eps,
            log_det: false,
        }
    }

    /// Per-sample cost of both ops (the ops crate's own formulas).
    pub fn cost(&self, spatial_in: usize, spatial_out: usize) -> Result<(Cost, Cost)> {
        let po = self.project_options()?;
        let has_bias = !self.p_bias.is_empty();
        Ok((
            if self.is_identity() {
                project::identity_cost(&po, spatial_in, has_bias)
            } else {
                project::cost(&po, spatial_in, has_bias)
            },
            surprisal::cost(&self.surprisal_options()?, spatial_out),
        ))
    }

    /// Runs SNAP_PROJECT then SNAP_SURPRISAL (the device kernels) on `n` samples of int8
    /// activations: `a_prev` `[n, spatial_in, C_in]`, `a` `[n, spatial_out, C_out]`.
    pub fn run(
        &self,
        a_prev: &[i8],
        spatial_in: usize,
        a: &[i8],
        spatial_out: usize,
    ) -> Result<Vec<f32>> {
        let per_in = spatial_in * self.c_in;
        let per_out = spatial_out * self.c_out;
        if per_in == 0 || per_out == 0 {
            return Err(FitError::BadConfig {
                what: "spatial size".into(),
                why: "must be at least 1".into(),
            });
        }
        let n = a_prev.len() / per_in;
        for (what, got, want) in [
            ("a_prev", a_prev.len(), n * per_in),
            ("a", a.len(), n * per_out),
        ] {
            if got != want || n == 0 {
                return Err(FitError::ShapeMismatch {
                    what: format!("int8 {what}"),
                    expected: want.max(1),
                    got,
                });
            }
        }
        let po = self.project_options()?;
        let so = self.surprisal_options()?;
        let (ni, si, ci) = (n as i32, spatial_in as i32, self.c_in as i32);
        let (so_, co, r) = (spatial_out as i32, self.c_out as i32, self.rank as i32);
        let dims_a_prev = [ni, si, ci];
        let dims_p = [r, ci];
        let dims_pb = [r];
        let dims_z = [ni, r];
        let dims_a = [ni, so_, co];
        let dims_w = [co, r];
        let dims_b = [co];
        let dims_lut = [256];
        let dims_e = [ni];
        let op_err = |e: snapuq_ops::OpError| FitError::Numerical {
            what: "running the SNAP kernels".into(),
            why: e.message().as_str().to_string(),
        };
        // Exactly the inputs attach writes: no P for the identity, no bias when empty.
        let a_desc = Some(TensorDesc::new(DType::Int8, &dims_a_prev));
        let p_desc = (!self.is_identity()).then_some(TensorDesc::new(DType::Int8, &dims_p));
        let b_desc = (!self.p_bias.is_empty()).then_some(TensorDesc::new(DType::Int32, &dims_pb));
        let ins = [a_desc, p_desc, b_desc];
        let n_ins = if b_desc.is_some() {
            3
        } else if p_desc.is_some() {
            2
        } else {
            1
        };
        let plan = project::prepare(&po, &ins[..n_ins], &[TensorDesc::new(DType::Int8, &dims_z)])
            .map_err(op_err)?;
        let mut z = vec![0i8; n * self.rank];
        let mut scratch = vec![0i8; project::scratch_bytes(&po)];
        project::eval::<PortableDot>(
            &po,
            &plan,
            a_prev,
            &self.p,
            (!self.p_bias.is_empty()).then_some(&self.p_bias[..]),
            &mut z,
            &mut scratch,
        )
        .map_err(op_err)?;
        let splan = surprisal::prepare(
            &so,
            &[
                Some(TensorDesc::new(DType::Int8, &dims_z)),
                Some(TensorDesc::new(DType::Int8, &dims_a)),
                Some(TensorDesc::new(DType::Int8, &dims_w)),
                Some(TensorDesc::new(DType::Int32, &dims_b)),
                Some(TensorDesc::new(DType::Int8, &dims_w)),
                Some(TensorDesc::new(DType::Int32, &dims_b)),
                Some(TensorDesc::new(DType::Int32, &dims_lut)),
            ],
            &[TensorDesc::new(DType::Float32, &dims_e)],
        )
        .map_err(op_err)?;
        let mut out = vec![0f32; n];
        surprisal::eval::<PortableDot>(
            &so,
            &splan,
            &surprisal::SurprisalInputs {
                z: &z,
                a,
                w_mu: &self.w_mu,
                b_mu: &self.b_mu,
                w_ls: &self.w_ls,
                b_ls: &self.b_ls,
                lut: &self.lut,
                b_lowrank: None,
            },
            &mut out,
        )
        .map_err(op_err)?;
        Ok(out)
    }
}

fn bad_scale(what: &str) -> FitError {
    FitError::Numerical {
        what: what.into(),
        why: "a scale is zero, negative or not finite (constant weights or activations?)".into(),
    }
}

/// The pooled previous activation exactly as SNAP_PROJECT sees it (int8 GAP rounding, then
/// dequantized): feed this to [`crate::heads::fit_tap`] so the fit and the device agree.
/// `a` is `[n, spatial, channels]` int8.
pub fn pooled_previous(a: &[i8], spatial: usize, channels: usize, q: ActQuant) -> Vec<f32> {
    let per = (spatial * channels).max(1);
    let mut g = vec![0i8; channels];
    let mut out = Vec::with_capacity(a.len() / per * channels);
    for sample in a.chunks_exact(per) {
        gap_s8(sample, &mut g);
        out.extend(
            g.iter()
                .map(|&v| q.scale * (v as i32 - q.zero_point) as f32),
        );
    }
    out
}

/// The pooled realized activation as SNAP_SURPRISAL sees it (exact mean, 12 fractional bits
/// kept; here in float): `a` is `[n, spatial, channels]` int8.
pub fn pooled_realized(a: &[i8], spatial: usize, channels: usize, q: ActQuant) -> Vec<f32> {
    let per = (spatial * channels).max(1);
    let mut out = Vec::with_capacity(a.len() / per * channels);
    for sample in a.chunks_exact(per) {
        for c in 0..channels {
            let sum: i64 = sample[c..]
                .iter()
                .step_by(channels)
                .map(|&v| v as i64 - q.zero_point as i64)
                .sum();
            out.push((q.scale as f64 * sum as f64 / spatial as f64) as f32);
        }
    }
    out
}

fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// Quantizes one fitted tap. `x_calib` (`[n, C_in]`, the pooled previous activation the heads
/// were fitted on) sets the `z` range when the fit did not already fix it (`heads.z_quant`).
pub fn quantize_tap(
    heads: &TapHeads,
    prev: ActQuant,
    act: ActQuant,
    x_calib: &[f32],
    cfg: &QuantConfig,
) -> Result<QuantizedTap> {
    prev.check("quantization of the previous activation")?;
    act.check("quantization of the tapped activation")?;
    let n = x_calib.len() / heads.c_in.max(1);
    check_array("calibration x", x_calib, n * heads.c_in)?;
    if n == 0 {
        return Err(FitError::TooFewSamples {
            what: "the z range".into(),
            got: 0,
            need: 1,
        });
    }
    if !(cfg.z_margin >= 1.0 && cfg.z_margin.is_finite()) {
        return Err(FitError::BadConfig {
            what: "z_margin".into(),
            why: format!("{} must be ≥ 1", cfg.z_margin),
        });
    }
    // z quantization: the grid the heads were fitted on, else (identity: z is the pooled
    // previous activation itself) its own grid, else the calibration range.
    let (z_scale, z_zp) = match heads.z_quant {
        Some(zq) => (zq.scale, zq.zero_point),
        None if heads.is_identity() => (prev.scale, prev.zero_point),
        None => {
            let (mut lo, mut hi) = (0.0f64, 0.0f64);
            for x in x_calib.chunks_exact(heads.c_in) {
                for v in heads.project(x) {
                    lo = lo.min(v);
                    hi = hi.max(v);
                }
            }
            affine_params(lo * cfg.z_margin, hi * cfg.z_margin)
        }
    };

    let (p, p_scale, p_bias) = if heads.is_identity() {
        (Vec::new(), 1.0, Vec::new())
    } else {
        let (p, p_scale) = quantize_symmetric(&to_f64(&heads.p));
        let p_bias = quantize_bias_checked(
            &to_f64(&heads.p_bias),
            prev.scale as f64 * p_scale as f64,
            "projector bias",
        )?;
        (p, p_scale, p_bias)
    };
    let (w_mu, wmu_scale) = quantize_symmetric(&to_f64(&heads.w_mu));
    let b_mu = quantize_bias_checked(
        &to_f64(&heads.b_mu),
        wmu_scale as f64 * z_scale as f64,
        "μ head bias",
    )?;
    let (w_ls, wls_scale) = quantize_symmetric(&to_f64(&heads.w_logvar));
    let b_ls = quantize_bias_checked(
        &to_f64(&heads.b_logvar),
        wls_scale as f64 * z_scale as f64,
        "log σ² head bias",
    )?;
    let (ls_scale, ls_zp) = affine_params(lut::LOG_VAR_MIN as f64, lut::LOG_VAR_MAX as f64);
    let mut q = QuantizedTap {
        c_in: heads.c_in,
        c_out: heads.c_out,
        rank: heads.rank,
        prev,
        act,
        z: ActQuant {
            scale: z_scale,
            zero_point: z_zp,
        },
        p,
        p_scale,
        p_bias,
        w_mu,
        wmu_scale,
        b_mu,
        w_ls,
        wls_scale,
        b_ls,
        lut: Vec::new(),
        logvar: ActQuant {
            scale: ls_scale,
            zero_point: ls_zp,
        },
        eps: cfg.eps,
        project_opts: None,
        surprisal_opts: None,
    };
    let po = q.project_options()?;
    let (so, table) = q
        .surprisal_quant()
        .build()
        .ok_or_else(|| bad_scale("SNAP_SURPRISAL multipliers"))?;
    q.lut = table.to_vec();
    q.project_opts = Some(po);
    q.surprisal_opts = Some(so);
    Ok(q)
}

fn quantize_bias_checked(b: &[f64], scale: f64, what: &str) -> Result<Vec<i32>> {
    if let Some(i) = b.iter().position(|v| (v / scale).abs() > i32::MAX as f64) {
        return Err(FitError::Numerical {
            what: what.into(),
            why: format!("entry {i} ({}) does not fit int32 at scale {scale:e}", b[i]),
        });
    }
    Ok(quantize_bias(b, scale))
}

/// Int8-vs-float error of `ē` on a set of samples.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QuantError {
    pub samples: usize,
    /// `max |ē_int8 − ē_float| / ē_float`.
    pub max_rel: f64,
    /// Mean of the same.
    pub mean_rel: f64,
    /// `E[ē]` of the int8 kernels and of the float heads.
    pub mean_ebar_int8: f64,
    pub mean_ebar_float: f64,
}

/// Runs the int8 kernels and the float heads on the same int8 activations (the float side
/// sees exactly the pooled vectors the kernels see, dequantized) and compares `ē`.
pub fn quant_error(
    heads: &TapHeads,
    q: &QuantizedTap,
    a_prev: &[i8],
    spatial_in: usize,
    a: &[i8],
    spatial_out: usize,
) -> Result<QuantError> {
    let e_int = q.run(a_prev, spatial_in, a, spatial_out)?;
    let x = pooled_previous(a_prev, spatial_in, q.c_in, q.prev);
    let y = pooled_realized(a, spatial_out, q.c_out, q.act);
    let e_float = heads.surprisal_batch(&x, &y)?;
    let mut rel = Vec::with_capacity(e_int.len());
    for (&i, &f) in e_int.iter().zip(&e_float) {
        rel.push((i as f64 - f).abs() / f.max(1e-12));
    }
    let n = rel.len().max(1) as f64;
    Ok(QuantError {
        samples: rel.len(),
        max_rel: rel.iter().copied().fold(0.0, f64::max),
        mean_rel: rel.iter().sum::<f64>() / n,
        mean_ebar_int8: e_int.iter().map(|&v| v as f64).sum::<f64>() / n,
        mean_ebar_float: e_float.iter().sum::<f64>() / n,
    })
}

#[cfg(test)]
mod tests;
