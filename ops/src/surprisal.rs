//! `SNAP_SURPRISAL`: per-tap standardized error ē_ℓ from z_ℓ and the realized activation a_ℓ.
//!
//! Inputs: 0 `z` int8 `[N,r]`; 1 `a` int8 `[N,H,W,C_out]` (rank 2..4, GAP'd in-kernel);
//! 2 `W_mu` int8 `[C_out,r]`; 3 `b_mu` int32 `[C_out]`; 4 `W_ls` int8 `[C_out,r]`;
//! 5 `b_ls` int32 `[C_out]`; 6 `lut` int32 `[256]` ([`crate::lut`]); 7 `B` int8 `[C_out,k]`
//! (variant `lowrank` only). Output: 0 `ebar` float32 `[N]` (or `[N,1]`).
//!
//! Per channel i (all integer until the standardized residual):
//! - `g_i = round(Σ_hw (a − a_zp)·2^12 / HW)` (units `a_scale/4096`),
//! - `μ_i = clamp(MBQM(W_mu[i]·(z − z_zp) + b_mu[i], mu_mult, mu_shift), ±2^26)` (same units),
//! - `c_i = clamp(MBQM(W_ls[i]·(z − z_zp) + b_ls[i], ls_mult, ls_shift) + ls_zp, ls_min, ls_max)`
//!   (int8 log σ² code, shared scale `ls_scale`),
//! - `u_i = round((g_i − μ_i)·lut[c_i+128] / 2^lut_frac)` clamped to ±2^27: the
//!   standardized residual (a−μ)/σ in Q12,
//! - variant term: Gaussian `u²` (exact i64 sum), Student-t `(ν+1)/2·ln(1+u²/ν)`, Huber
//!   `ρ_δ(u)`, low-rank `u²` minus the Woodbury correction (f32),
//! - optional `½·log σ²_i` (`log_det`), then ē = Σ terms / C_out.

use crate::dot::DotS8;
use crate::error::{OpError, OpKind, Port};
use crate::flex::{FlexError, FlexMap};
use crate::limits;
use crate::lut;
use crate::quant::{
    gap_channel_fx, multiply_by_quantized_multiplier, shift_round_half_away_i64, MU_FRAC_BITS,
    SHIFT_RANGE,
};
use crate::tensor::{per_sample_batch, ActShape, DType, Dims, TensorDesc};
use crate::Cost;

const OP: OpKind = OpKind::Surprisal;

/// Fractional bits of the standardized residual u.
pub const U_FRAC_BITS: u32 = 12;
/// |u| clamp in Q12 (= 32768 standard deviations).
pub const U_CLAMP_Q12: i64 = 1 << 27;
/// |μ| clamp in units of `a_scale/4096` (= 16384 quantization steps of a).
pub const MU_CLAMP: i32 = 1 << 26;

/// Option keys (see docs/ops.md).
pub mod keys {
    pub const C_OUT: &str = "c_out";
    pub const R: &str = "r";
    pub const VARIANT: &str = "variant";
    pub const NU: &str = "nu";
    pub const DELTA: &str = "delta";
    pub const K: &str = "k";
    pub const B_SCALE: &str = "b_scale";
    pub const Z_ZP: &str = "z_zp";
    pub const A_ZP: &str = "a_zp";
    pub const MU_MULT: &str = "mu_mult";
    pub const MU_SHIFT: &str = "mu_shift";
    pub const LS_MULT: &str = "ls_mult";
    pub const LS_SHIFT: &str = "ls_shift";
    pub const LS_ZP: &str = "ls_zp";
    pub const LS_SCALE: &str = "ls_scale";
    pub const LS_MIN: &str = "ls_min";
    pub const LS_MAX: &str = "ls_max";
    pub const LUT_FRAC: &str = "lut_frac";
    pub const LOG_DET: &str = "log_det";
}

/// Which conditional density the surprisal is computed under (paper §2.1–2.2, App. I).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Variant {
    /// Diagonal Gaussian, eq. 8: ē = mean of u².
    Gaussian,
    /// Student-t with ν degrees of freedom, eq. 6: (ν+1)/2·ln(1 + u²/ν) per channel.
    StudentT { nu: f32 },
    /// Huberized Gaussian, eq. 7: ρ_δ(u) per channel.
    Huber { delta: f32 },
    /// diag(σ²) + B·Bᵀ with B `[C_out,k]`, eq. 3/53: e_diag − Δ (Woodbury).
    LowRank { k: usize },
}

impl Variant {
    /// `Some(feature)` when this build of the kernels has the variant compiled out: the
    /// snapuq-ops cargo feature to enable (`robust` or `lowrank`).
    pub const fn missing_feature(&self) -> Option<&'static str> {
        match self {
            Variant::StudentT { .. } | Variant::Huber { .. } if !cfg!(feature = "robust") => {
                Some("robust")
            }
            Variant::LowRank { .. } if !cfg!(feature = "lowrank") => Some("lowrank"),
            _ => None,
        }
    }

    /// The option string.
    pub const fn name(&self) -> &'static str {
        match self {
            Variant::Gaussian => "gaussian",
            Variant::StudentT { .. } => "student_t",
            Variant::Huber { .. } => "huber",
            Variant::LowRank { .. } => "lowrank",
        }
    }
}

/// Parsed custom options of SNAP_SURPRISAL.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SurprisalOptions {
    pub c_out: usize,
    pub r: usize,
    pub variant: Variant,
    /// `s_B / a_scale` (low-rank only; 0 otherwise).
    pub b_scale: f32,
    pub z_zp: i32,
    pub a_zp: i32,
    /// Multiplier of `wmu_scale · z_scale / a_scale · 2^12`.
    pub mu_mult: i32,
    pub mu_shift: i32,
    /// Multiplier of `wls_scale · z_scale / ls_scale`.
    pub ls_mult: i32,
    pub ls_shift: i32,
    /// Quantization of log σ² (shared per head).
    pub ls_zp: i32,
    pub ls_scale: f32,
    /// Clamp codes of log σ² (see [`lut::clamp_codes`]).
    pub ls_min: i32,
    pub ls_max: i32,
    /// Fractional bits of the LUT entries.
    pub lut_frac: u32,
    /// Add ½·log σ² (and ½·log det(I+M) for low-rank) per channel, as in eqs. 6/7/54.
    pub log_det: bool,
}

/// Real-valued quantization parameters the converter knows; [`SurprisalQuant::build`] turns
/// them into options plus the LUT so the converter writes exactly what the kernel reads.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SurprisalQuant {
    pub c_out: usize,
    pub r: usize,
    pub variant: Variant,
    pub z_scale: f32,
    pub z_zp: i32,
    pub a_scale: f32,
    pub a_zp: i32,
    /// Per-tensor scale of W_mu (symmetric); b_mu is quantized with `wmu_scale · z_scale`.
    pub wmu_scale: f32,
    /// Per-tensor scale of W_ls (symmetric); b_ls is quantized with `wls_scale · z_scale`.
    pub wls_scale: f32,
    /// Shared quantization of log σ².
    pub ls_scale: f32,
    pub ls_zp: i32,
    /// Scale of B (low-rank; real units of a); ignored otherwise.
    pub b_real_scale: f32,
    /// Variance floor ε baked into the LUT.
    pub eps: f32,
    pub log_det: bool,
}

impl SurprisalQuant {
    /// Options and LUT. `None` when a scale is not positive/finite.
    pub fn build(&self) -> Option<(SurprisalOptions, [i32; 256])> {
        let pos = |x: f32| x.is_finite() && x > 0.0;
        if !(pos(self.z_scale)
            && pos(self.a_scale)
            && pos(self.wmu_scale)
            && pos(self.wls_scale)
            && pos(self.ls_scale)
            && self.eps >= 0.0)
        {
            return None;
        }
        let mu_real = self.wmu_scale as f64 * self.z_scale as f64 / self.a_scale as f64
            * (1u32 << MU_FRAC_BITS) as f64;
        let (mu_mult, mu_shift) = crate::quant::quantize_multiplier(mu_real)?;
        let ls_real = self.wls_scale as f64 * self.z_scale as f64 / self.ls_scale as f64;
        let (ls_mult, ls_shift) = crate::quant::quantize_multiplier(ls_real)?;
        let (ls_min, ls_max) = lut::clamp_codes(self.ls_scale, self.ls_zp);
        let lut_frac = lut::choose_lut_frac(
            self.ls_scale,
            self.ls_zp,
            ls_min,
            ls_max,
            self.a_scale,
            self.eps,
        );
        let table = lut::build(
            self.ls_scale,
            self.ls_zp,
            ls_min,
            ls_max,
            self.a_scale,
            self.eps,
            lut_frac,
        );
        let b_scale = match self.variant {
            Variant::LowRank { .. } => self.b_real_scale / self.a_scale,
            _ => 0.0,
        };
        let o = SurprisalOptions {
            c_out: self.c_out,
            r: self.r,
            variant: self.variant,
            b_scale,
            z_zp: self.z_zp,
            a_zp: self.a_zp,
            mu_mult,
            mu_shift,
            ls_mult,
            ls_shift,
            ls_zp: self.ls_zp,
            ls_scale: self.ls_scale,
            ls_min,
            ls_max,
            lut_frac,
            log_det: self.log_det,
        };
        o.validate().ok()?;
        Some((o, table))
    }
}

impl SurprisalOptions {
    /// Parses and range-checks the custom-options flexbuffer.
    pub fn parse(buf: &[u8]) -> Result<Self, OpError> {
        // One conversion of reader errors for all keys (smaller code than one per key).
        let o = Self::read(buf)
            .map_err(|err| OpError::Options { op: OP, err })?
            .ok_or(OpError::OptionValue {
                op: OP,
                key: keys::VARIANT,
                problem: "must be one of gaussian, student_t, huber, lowrank",
            })?;
        o.validate()?;
        Ok(o)
    }

    /// Reads every key (`None`: unknown variant name).
    fn read(buf: &[u8]) -> Result<Option<Self>, FlexError> {
        let m = FlexMap::root(buf)?;
        let variant = match m.bytes_opt(keys::VARIANT)? {
            None | Some(b"gaussian") => Variant::Gaussian,
            Some(b"student_t") => Variant::StudentT {
                nu: m.f32(keys::NU)?,
            },
            Some(b"huber") => Variant::Huber {
                delta: m.f32(keys::DELTA)?,
            },
            Some(b"lowrank") => Variant::LowRank {
                k: m.usize(keys::K)?,
            },
            Some(_) => return Ok(None),
        };
        let lut_frac = m.usize(keys::LUT_FRAC)?;
        Ok(Some(SurprisalOptions {
            c_out: m.usize(keys::C_OUT)?,
            r: m.usize(keys::R)?,
            variant,
            b_scale: match variant {
                Variant::LowRank { .. } => m.f32(keys::B_SCALE)?,
                _ => 0.0,
            },
            z_zp: m.i32(keys::Z_ZP)?,
            a_zp: m.i32(keys::A_ZP)?,
            mu_mult: m.i32(keys::MU_MULT)?,
            mu_shift: m.i32(keys::MU_SHIFT)?,
            ls_mult: m.i32(keys::LS_MULT)?,
            ls_shift: m.i32(keys::LS_SHIFT)?,
            ls_zp: m.i32(keys::LS_ZP)?,
            ls_scale: m.f32(keys::LS_SCALE)?,
            ls_min: m.i32(keys::LS_MIN)?,
            ls_max: m.i32(keys::LS_MAX)?,
            lut_frac: u32::try_from(lut_frac).unwrap_or(u32::MAX),
            log_det: m.bool_or(keys::LOG_DET, false)?,
        }))
    }

    /// Range checks of the option values alone.
    pub fn validate(&self) -> Result<(), OpError> {
        let bad = |key, problem| {
            Err(OpError::OptionValue {
                op: OP,
                key,
                problem,
            })
        };
        let zp = |v: i32| (-128..=127).contains(&v);
        let shift = |v: i32| (SHIFT_RANGE.0..=SHIFT_RANGE.1).contains(&v);
        if self.c_out == 0 || self.c_out > limits::MAX_CHANNELS {
            return bad(keys::C_OUT, "must be in 1..=4096");
        }
        if self.r == 0 || self.r > limits::MAX_RANK {
            return bad(keys::R, "must be in 1..=512");
        }
        if let Some(feature) = self.variant.missing_feature() {
            return Err(OpError::Unsupported {
                op: OP,
                key: keys::VARIANT,
                feature,
            });
        }
        match self.variant {
            Variant::StudentT { nu } if !(nu > 0.0 && nu.is_finite()) => {
                return bad(
                    keys::NU,
                    "must be a positive finite degrees-of-freedom value",
                )
            }
            Variant::Huber { delta } if !(delta > 0.0 && delta.is_finite()) => {
                return bad(keys::DELTA, "must be positive and finite")
            }
            Variant::LowRank { k } if k == 0 || k > limits::MAX_LOWRANK_K => {
                return bad(keys::K, "must be in 1..=8")
            }
            Variant::LowRank { .. } if !(self.b_scale > 0.0 && self.b_scale.is_finite()) => {
                return bad(keys::B_SCALE, "must be positive (s_B / a_scale)")
            }
            _ => {}
        }
        if !zp(self.z_zp) {
            return bad(keys::Z_ZP, "must be an int8 zero point (-128..=127)");
        }
        if !zp(self.a_zp) {
            return bad(keys::A_ZP, "must be an int8 zero point (-128..=127)");
        }
        if !zp(self.ls_zp) {
            return bad(keys::LS_ZP, "must be an int8 zero point (-128..=127)");
        }
        if self.mu_mult < 0 || !shift(self.mu_shift) {
            return bad(
                keys::MU_MULT,
                "must be a non-negative multiplier with shift -31..=30",
            );
        }
        if self.ls_mult < 0 || !shift(self.ls_shift) {
            return bad(
                keys::LS_MULT,
                "must be a non-negative multiplier with shift -31..=30",
            );
        }
        if !(self.ls_scale > 0.0 && self.ls_scale.is_finite()) {
            return bad(keys::LS_SCALE, "must be positive and finite");
        }
        if !(-128 <= self.ls_min && self.ls_min <= self.ls_max && self.ls_max <= 127) {
            return bad(
                keys::LS_MIN,
                "ls_min..=ls_max must be a non-empty int8 code range",
            );
        }
        if !(lut::LUT_FRAC_RANGE.0..=lut::LUT_FRAC_RANGE.1).contains(&self.lut_frac) {
            return bad(keys::LUT_FRAC, "must be in 4..=60");
        }
        Ok(())
    }

    /// Low-rank k (0 for the diagonal variants).
    pub const fn k(&self) -> usize {
        match self.variant {
            Variant::LowRank { k } => k,
            _ => 0,
        }
    }

    /// Number of inputs the op takes with these options (7, or 8 for low-rank).
    pub const fn num_inputs(&self) -> usize {
        if self.k() > 0 {
            8
        } else {
            7
        }
    }

    /// Writes the options exactly as [`SurprisalOptions::parse`] reads them.
    #[cfg(feature = "std")]
    pub fn to_flexbuffer(&self) -> Vec<u8> {
        let mut b = flexbuffers::Builder::default();
        let mut m = b.start_map();
        m.push(keys::C_OUT, self.c_out as i64);
        m.push(keys::R, self.r as i64);
        m.push(keys::VARIANT, self.variant.name());
        match self.variant {
            Variant::StudentT { nu } => m.push(keys::NU, nu),
            Variant::Huber { delta } => m.push(keys::DELTA, delta),
            Variant::LowRank { k } => {
                m.push(keys::K, k as i64);
                m.push(keys::B_SCALE, self.b_scale);
            }
            Variant::Gaussian => {}
        }
        m.push(keys::Z_ZP, self.z_zp);
        m.push(keys::A_ZP, self.a_zp);
        m.push(keys::MU_MULT, self.mu_mult);
        m.push(keys::MU_SHIFT, self.mu_shift);
        m.push(keys::LS_MULT, self.ls_mult);
        m.push(keys::LS_SHIFT, self.ls_shift);
        m.push(keys::LS_ZP, self.ls_zp);
        m.push(keys::LS_SCALE, self.ls_scale);
        m.push(keys::LS_MIN, self.ls_min);
        m.push(keys::LS_MAX, self.ls_max);
        m.push(keys::LUT_FRAC, self.lut_frac as i64);
        m.push(keys::LOG_DET, self.log_det);
        m.end_map();
        b.view().to_vec()
    }
}

/// Shapes resolved by [`prepare`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SurprisalPlan {
    pub act: ActShape,
}

pub const INPUT_Z: usize = 0;
pub const INPUT_A: usize = 1;
pub const INPUT_W_MU: usize = 2;
pub const INPUT_B_MU: usize = 3;
pub const INPUT_W_LS: usize = 4;
pub const INPUT_B_LS: usize = 5;
pub const INPUT_LUT: usize = 6;
pub const INPUT_B_LOWRANK: usize = 7;
pub const OUTPUT_EBAR: usize = 0;

/// (input index, name, dtype, dtype name, dims, rank) of a constant input.
type ConstInputCheck = (usize, &'static str, DType, &'static str, [i32; 2], usize);

/// Validates tensor descriptors against the options.
pub fn prepare(
    opts: &SurprisalOptions,
    inputs: &[Option<TensorDesc<'_>>],
    outputs: &[TensorDesc<'_>],
) -> Result<SurprisalPlan, OpError> {
    opts.validate()?;
    let n_in = opts.num_inputs();
    if inputs.len() != n_in {
        return Err(OpError::Count {
            op: OP,
            outputs: false,
            got: inputs.len(),
            min: n_in,
            max: n_in,
        });
    }
    if outputs.len() != 1 {
        return Err(OpError::Count {
            op: OP,
            outputs: true,
            got: outputs.len(),
            min: 1,
            max: 1,
        });
    }
    let (c, r) = (opts.c_out as i32, opts.r as i32);
    let a = required(inputs, INPUT_A, "a")?;
    dtype(Port::Input(1), "a", a.dtype, DType::Int8, "int8")?;
    let act = ActShape::from_dims(a.dims)
        .filter(|s| s.channels == opts.c_out)
        .ok_or(OpError::Shape {
            op: OP,
            port: Port::Input(1),
            name: "a",
            got: Dims::from_slice(a.dims),
            expected: Dims::from_slice(&[-1, -1, -1, c]),
            why: "rank 2..4, channels last = c_out from options",
        })?;
    if act.spatial > limits::MAX_SPATIAL {
        return Err(OpError::Limit {
            op: OP,
            what: "H*W of input 1 (a)",
            value: act.spatial,
            max: limits::MAX_SPATIAL,
        });
    }
    let nb = act.batch as i32;
    let z = required(inputs, INPUT_Z, "z")?;
    dtype(Port::Input(0), "z", z.dtype, DType::Int8, "int8")?;
    crate::error::check_dims(OP, Port::Input(0), "z", z.dims, &[nb, r], "batch of a × r")?;
    let checks: [ConstInputCheck; 5] = [
        (INPUT_W_MU, "W_mu", DType::Int8, "int8", [c, r], 2),
        (INPUT_B_MU, "b_mu", DType::Int32, "int32", [c, 0], 1),
        (INPUT_W_LS, "W_ls", DType::Int8, "int8", [c, r], 2),
        (INPUT_B_LS, "b_ls", DType::Int32, "int32", [c, 0], 1),
        (INPUT_LUT, "lut", DType::Int32, "int32", [256, 0], 1),
    ];
    for (i, name, dt, dts, want, rank) in checks {
        let t = required(inputs, i, name)?;
        let port = Port::Input(i as u8);
        dtype(port, name, t.dtype, dt, dts)?;
        let why = match i {
            INPUT_LUT => "256-entry LUT",
            INPUT_B_MU | INPUT_B_LS => "c_out from options",
            _ => "c_out × r from options",
        };
        crate::error::check_dims(OP, port, name, t.dims, &want[..rank], why)?;
    }
    if opts.k() > 0 {
        let t = required(inputs, INPUT_B_LOWRANK, "B")?;
        dtype(Port::Input(7), "B", t.dtype, DType::Int8, "int8")?;
        crate::error::check_dims(
            OP,
            Port::Input(7),
            "B",
            t.dims,
            &[c, opts.k() as i32],
            "c_out × k from options",
        )?;
    }
    let e = outputs[OUTPUT_EBAR];
    dtype(Port::Output(0), "ebar", e.dtype, DType::Float32, "float32")?;
    if per_sample_batch(e.dims) != Some(act.batch) {
        return Err(OpError::Shape {
            op: OP,
            port: Port::Output(0),
            name: "ebar",
            got: Dims::from_slice(e.dims),
            expected: Dims::from_slice(&[nb]),
            why: "one value per sample ([N] or [N,1])",
        });
    }
    Ok(SurprisalPlan { act })
}

fn required<'a>(
    inputs: &[Option<TensorDesc<'a>>],
    i: usize,
    name: &'static str,
) -> Result<TensorDesc<'a>, OpError> {
    inputs.get(i).copied().flatten().ok_or(OpError::Data {
        op: OP,
        port: Port::Input(i as u8),
        name,
        problem: "is required but absent",
    })
}

fn dtype(
    port: Port,
    name: &'static str,
    got: DType,
    want: DType,
    expected: &'static str,
) -> Result<(), OpError> {
    if got == want {
        Ok(())
    } else {
        Err(OpError::DType {
            op: OP,
            port,
            name,
            got,
            expected,
        })
    }
}

/// Tensor data for [`eval`].
#[derive(Clone, Copy, Debug)]
pub struct SurprisalInputs<'a> {
    pub z: &'a [i8],
    pub a: &'a [i8],
    pub w_mu: &'a [i8],
    pub b_mu: &'a [i32],
    pub w_ls: &'a [i8],
    pub b_ls: &'a [i32],
    pub lut: &'a [i32],
    /// Low-rank factor B `[C_out,k]` (required for the low-rank variant).
    pub b_lowrank: Option<&'a [i8]>,
}

/// Scratch bytes [`eval`] needs from the caller: none (work buffers are fixed-size stack
/// arrays: at most 8 + 64 f32 for the low-rank variant).
pub const fn scratch_bytes(_opts: &SurprisalOptions) -> usize {
    0
}

/// Per-channel integer quantities of one sample (exposed for tests and diagnostics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ChannelFx {
    /// Pooled activation, units `a_scale/4096`, centred on a_zp.
    pub g: i32,
    /// Predicted mean, same units.
    pub mu: i32,
    /// Clamped int8 log σ² code.
    pub ls_code: i32,
    /// Standardized residual in Q12.
    pub u: i64,
}

/// The integer pipeline of channel `i` of one sample.
pub(crate) fn channel_fx<D: DotS8>(
    opts: &SurprisalOptions,
    z: &[i8],
    a_sample: &[i8],
    i: usize,
    inp: &SurprisalInputs<'_>,
) -> ChannelFx {
    let r = opts.r;
    let g = gap_channel_fx(a_sample, opts.c_out, i, opts.a_zp);
    let acc_mu =
        D::dot_offset(z, -opts.z_zp, &inp.w_mu[i * r..(i + 1) * r]).wrapping_add(inp.b_mu[i]);
    let mu = multiply_by_quantized_multiplier(acc_mu, opts.mu_mult, opts.mu_shift)
        .clamp(-MU_CLAMP, MU_CLAMP);
    let acc_ls =
        D::dot_offset(z, -opts.z_zp, &inp.w_ls[i * r..(i + 1) * r]).wrapping_add(inp.b_ls[i]);
    let ls_code = multiply_by_quantized_multiplier(acc_ls, opts.ls_mult, opts.ls_shift)
        .saturating_add(opts.ls_zp)
        .clamp(opts.ls_min, opts.ls_max);
    let inv = inp.lut[(ls_code + 128) as usize] as i64;
    let v = g as i64 - mu as i64;
    let shift = opts.lut_frac + MU_FRAC_BITS - U_FRAC_BITS;
    let u = shift_round_half_away_i64(v * inv, shift).clamp(-U_CLAMP_Q12, U_CLAMP_Q12);
    ChannelFx { g, mu, ls_code, u }
}

/// Runs the op: one ē per sample into `out`.
pub fn eval<D: DotS8>(
    opts: &SurprisalOptions,
    plan: &SurprisalPlan,
    inp: &SurprisalInputs<'_>,
    out: &mut [f32],
) -> Result<(), OpError> {
    opts.validate()?;
    let (c, r) = (opts.c_out, opts.r);
    #[cfg(feature = "lowrank")]
    let k = opts.k();
    let nb = plan.act.batch;
    let per_sample = plan.act.spatial.saturating_mul(c);
    crate::error::check_len(OP, "input 0 (z)", inp.z.len(), nb.saturating_mul(r))?;
    crate::error::check_len(
        OP,
        "input 1 (a)",
        inp.a.len(),
        nb.saturating_mul(per_sample),
    )?;
    crate::error::check_len(OP, "input 2 (W_mu)", inp.w_mu.len(), c * r)?;
    crate::error::check_len(OP, "input 3 (b_mu)", inp.b_mu.len(), c)?;
    crate::error::check_len(OP, "input 4 (W_ls)", inp.w_ls.len(), c * r)?;
    crate::error::check_len(OP, "input 5 (b_ls)", inp.b_ls.len(), c)?;
    crate::error::check_len(OP, "input 6 (lut)", inp.lut.len(), 256)?;
    crate::error::check_len(OP, "output 0 (ebar)", out.len(), nb)?;
    #[cfg(feature = "lowrank")]
    let b_lr = if k > 0 {
        let b = inp.b_lowrank.ok_or(OpError::Data {
            op: OP,
            port: Port::Input(7),
            name: "B",
            problem: "is required by variant lowrank but absent",
        })?;
        crate::error::check_len(OP, "input 7 (B)", b.len(), c * k)?;
        Some(b)
    } else {
        None
    };
    #[cfg(feature = "lowrank")]
    let lut_scale = libm::ldexpf(1.0, -(opts.lut_frac as i32));
    let inv_u = 1.0f32 / (1u32 << U_FRAC_BITS) as f32;
    for (n, o) in out.iter_mut().enumerate().take(nb) {
        let z = &inp.z[n * r..(n + 1) * r];
        let a = &inp.a[n * per_sample..(n + 1) * per_sample];
        let mut sq: i64 = 0;
        #[cfg(feature = "robust")]
        let mut robust: f32 = 0.0;
        let mut ls_sum: i64 = 0;
        // Low-rank accumulators: w = Σ b̃_i u_i (k), M = Σ b̃_i b̃_iᵀ (k×k, lower triangle).
        #[cfg(feature = "lowrank")]
        let mut w = [0f32; limits::MAX_LOWRANK_K];
        #[cfg(feature = "lowrank")]
        let mut m = [0f32; limits::MAX_LOWRANK_K * limits::MAX_LOWRANK_K];
        for i in 0..c {
            let ch = channel_fx::<D>(opts, z, a, i, inp);
            ls_sum += (ch.ls_code - opts.ls_zp) as i64;
            match opts.variant {
                Variant::Gaussian => sq = sq.saturating_add(ch.u * ch.u),
                #[cfg(feature = "robust")]
                Variant::StudentT { nu } => {
                    let u = ch.u as f32 * inv_u;
                    robust += 0.5 * (nu + 1.0) * libm::log1pf(u * u / nu);
                }
                #[cfg(feature = "robust")]
                Variant::Huber { delta } => {
                    let u = libm::fabsf(ch.u as f32 * inv_u);
                    robust += if u <= delta {
                        0.5 * u * u
                    } else {
                        delta * u - 0.5 * delta * delta
                    };
                }
                #[cfg(feature = "lowrank")]
                Variant::LowRank { .. } => {
                    sq = sq.saturating_add(ch.u * ch.u);
                    if let Some(b) = b_lr {
                        let u = ch.u as f32 * inv_u;
                        // b̃_ij = B_ij · (s_B/s_a) · (s_a/σ_i)
                        let inv_sigma = inp.lut[(ch.ls_code + 128) as usize] as f32 * lut_scale;
                        let f = opts.b_scale * inv_sigma;
                        let row = &b[i * k..(i + 1) * k];
                        for j in 0..k {
                            let bj = row[j] as f32 * f;
                            w[j] += bj * u;
                            for l in 0..=j {
                                m[j * k + l] += bj * row[l] as f32 * f;
                            }
                        }
                    }
                }
                // Compiled-out variants: rejected by `validate` above.
                #[allow(unreachable_patterns)]
                _ => {}
            }
        }
        let mut total = match opts.variant {
            #[cfg(feature = "robust")]
            Variant::StudentT { .. } | Variant::Huber { .. } => robust,
            #[cfg(feature = "lowrank")]
            Variant::LowRank { .. } => {
                let (delta, logdet) = woodbury(&mut m, &w, k);
                let e = sq as f32 * inv_u * inv_u - delta;
                if opts.log_det {
                    e + 0.5 * logdet
                } else {
                    e
                }
            }
            _ => sq as f32 * inv_u * inv_u,
        };
        if opts.log_det {
            total += 0.5 * opts.ls_scale * ls_sum as f32;
        }
        *o = total / c as f32;
    }
    Ok(())
}

#[cfg(feature = "lowrank")]
/// Given M (lower triangle, row-major k×k) and w, returns (Δ = wᵀ(I+M)⁻¹w, log det(I+M))
/// by an in-place Cholesky of I+M (SPD by construction; tiny pivots are floored).
fn woodbury(m: &mut [f32], w: &[f32], k: usize) -> (f32, f32) {
    for j in 0..k {
        m[j * k + j] += 1.0;
    }
    let mut logdet = 0.0f32;
    for j in 0..k {
        let mut d = m[j * k + j];
        for p in 0..j {
            d -= m[j * k + p] * m[j * k + p];
        }
        let d = libm::sqrtf(d.max(1e-12));
        m[j * k + j] = d;
        logdet += 2.0 * libm::logf(d);
        for i in j + 1..k {
            let mut s = m[i * k + j];
            for p in 0..j {
                s -= m[i * k + p] * m[j * k + p];
            }
            m[i * k + j] = s / d;
        }
    }
    // Forward solve L y = w; Δ = |y|².
    let mut y = [0f32; limits::MAX_LOWRANK_K];
    let mut delta = 0.0f32;
    for i in 0..k {
        let mut s = w[i];
        for p in 0..i {
            s -= m[i * k + p] * y[p];
        }
        y[i] = s / m[i * k + i];
        delta += y[i] * y[i];
    }
    (delta, logdet)
}

/// Cost per sample: `HW·C_out` pooling adds + `2·r·C_out` head MACs (+ `C_out·k(k+3)/2`
/// low-rank MACs + k³ Cholesky); parameters `2·r·C_out + 8·C_out + 1024` (+ `C_out·k`) bytes.
pub const fn cost(opts: &SurprisalOptions, spatial: usize) -> Cost {
    let (c, r, k) = (opts.c_out as u64, opts.r as u64, opts.k() as u64);
    let lowrank_macs = if k > 0 {
        c * k * (k + 3) / 2 + k * k * k
    } else {
        0
    };
    Cost {
        macs: spatial as u64 * c + 2 * r * c + lowrank_macs,
        param_bytes: 2 * r * c + 8 * c + 256 * 4 + c * k,
        scratch_bytes: 0,
        state_bytes: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PortableDot;

    /// μ = 0, log σ² = 0 (σ = 1), a = [1, −2] in real units: u = [1, −2].
    fn hand_case(variant: Variant, log_det: bool) -> f32 {
        let (o, table) = SurprisalQuant {
            c_out: 2,
            r: 1,
            variant,
            z_scale: 0.1,
            z_zp: 0,
            a_scale: 0.5,
            a_zp: 0,
            wmu_scale: 0.01,
            wls_scale: 0.01,
            ls_scale: 0.05,
            ls_zp: 0,
            b_real_scale: 0.5,
            eps: 0.0,
            log_det,
        }
        .build()
        .unwrap();
        let k = o.k();
        let b = [2i8; 16];
        let plan = SurprisalPlan {
            act: ActShape {
                batch: 1,
                spatial: 1,
                channels: 2,
            },
        };
        let mut out = [0f32];
        eval::<PortableDot>(
            &o,
            &plan,
            &SurprisalInputs {
                z: &[7],
                a: &[2, -4],
                w_mu: &[0, 0],
                b_mu: &[0, 0],
                w_ls: &[0, 0],
                b_ls: &[0, 0],
                lut: &table,
                b_lowrank: (k > 0).then_some(&b[..2 * k]),
            },
            &mut out,
        )
        .unwrap();
        out[0]
    }

    #[test]
    fn hand_computed_variants() {
        let close = |a: f32, b: f64| (a as f64 - b).abs() < 1e-4;
        assert!(close(hand_case(Variant::Gaussian, false), 2.5));
        // log σ² = 0: the log-det term adds nothing.
        assert!(close(hand_case(Variant::Gaussian, true), 2.5));
    }

    #[test]
    #[cfg(all(feature = "robust", feature = "lowrank"))]
    fn hand_computed_robust_and_lowrank_variants() {
        let close = |a: f32, b: f64| (a as f64 - b).abs() < 1e-4;
        let t = hand_case(Variant::StudentT { nu: 1.0 }, false);
        assert!(close(t, (2f64.ln() + 5f64.ln()) / 2.0), "{t}");
        assert!(close(hand_case(Variant::Huber { delta: 1.0 }, false), 1.0));
        // Low-rank, k = 1, B = [1, 1] (real): Σ = I + 11ᵀ, v = [1, −2]:
        // vᵀΣ⁻¹v = |v|² − (1ᵀv)²/(1 + 2) = 5 − 1/3; ē = (5 − 1/3)/2.
        let lr = hand_case(Variant::LowRank { k: 1 }, false);
        assert!(close(lr, (5.0 - 1.0 / 3.0) / 2.0), "{lr}");
        // log det(I + 11ᵀ) = ln 3.
        let lrd = hand_case(Variant::LowRank { k: 1 }, true);
        assert!(
            close(lrd, (5.0 - 1.0 / 3.0 + 0.5 * 3f64.ln()) / 2.0),
            "{lrd}"
        );
    }

    /// A build without `robust`/`lowrank` rejects those variants at parse, prepare and eval
    /// with an error naming the feature (never a panic, never a silent Gaussian).
    #[test]
    #[cfg(not(all(feature = "robust", feature = "lowrank")))]
    fn compiled_out_variants_name_their_feature() {
        let mut o = SurprisalOptions {
            c_out: 2,
            r: 1,
            variant: Variant::Gaussian,
            b_scale: 0.5,
            z_zp: 0,
            a_zp: 0,
            mu_mult: 1 << 30,
            mu_shift: 0,
            ls_mult: 1 << 30,
            ls_shift: 0,
            ls_zp: 0,
            ls_scale: 0.05,
            ls_min: -100,
            ls_max: 100,
            lut_frac: 20,
            log_det: false,
        };
        o.validate().unwrap();
        for (v, feature) in [
            (Variant::StudentT { nu: 3.0 }, "robust"),
            (Variant::Huber { delta: 1.0 }, "robust"),
            (Variant::LowRank { k: 2 }, "lowrank"),
        ] {
            if v.missing_feature().is_none() {
                continue;
            }
            o.variant = v;
            let want = OpError::Unsupported {
                op: OP,
                key: keys::VARIANT,
                feature,
            };
            assert_eq!(o.validate(), Err(want));
            let msg = want.message();
            assert!(
                msg.as_str().contains(&format!("feature \"{feature}\"")),
                "{msg}"
            );
            let plan = SurprisalPlan {
                act: ActShape {
                    batch: 1,
                    spatial: 1,
                    channels: 2,
                },
            };
            let lut = [1i32; 256];
            let inp = SurprisalInputs {
                z: &[0],
                a: &[0, 0],
                w_mu: &[0, 0],
                b_mu: &[0, 0],
                w_ls: &[0, 0],
                b_ls: &[0, 0],
                lut: &lut,
                b_lowrank: Some(&[0; 4]),
            };
            let mut out = [0f32];
            assert_eq!(eval::<PortableDot>(&o, &plan, &inp, &mut out), Err(want));
        }
    }

    #[test]
    #[cfg(feature = "lowrank")]
    fn cost_formula() {
        let (o, _) = SurprisalQuant {
            c_out: 64,
            r: 32,
            variant: Variant::LowRank { k: 4 },
            z_scale: 0.1,
            z_zp: 0,
            a_scale: 0.5,
            a_zp: 0,
            wmu_scale: 0.01,
            wls_scale: 0.01,
            ls_scale: 0.05,
            ls_zp: 0,
            b_real_scale: 0.5,
            eps: 1e-4,
            log_det: false,
        }
        .build()
        .unwrap();
        let c = cost(&o, 16);
        assert_eq!(c.macs, 16 * 64 + 2 * 32 * 64 + 64 * 4 * 7 / 2 + 64);
        assert_eq!(c.param_bytes, 2 * 32 * 64 + 8 * 64 + 1024 + 64 * 4);
        assert_eq!(c.scratch_bytes, 0);
    }
}
