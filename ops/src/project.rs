//! `SNAP_PROJECT`: z = requant(P · GAP(a_{ℓ−1}) + bias).
//!
//! Inputs: 0 `a` int8 `[N,H,W,C_in]` (or `[N,C_in]`, `[N,L,C_in]`), 1 `P` int8 `[r,C_in]`
//! (symmetric, per-tensor scale), 2 `bias` int32 `[r]` (optional: absent or TFLM index −1).
//! Outputs: 0 `z` int8 `[N,r]`; 1 `stats` float32 `[N,2]` (optional): the spatial statistics
//! of `a` from [`crate::quant::spatial_stats`] (log spread around the channel means, log
//! neighbour difference), the calibrator's per-sample shift features.
//!
//! `P` is optional when `r == c_in`: an absent `P` is the identity with scale 1 (codes 1,
//! `p_scale = 1`), so `z = requant(GAP(a) − a_zp + bias)`. A square projector adds nothing the
//! heads cannot absorb (they are linear in z), so the converter omits it and saves `r·C_in`
//! bytes and MACs.
//!
//! GAP runs first (exactly equal to a 1×1 projection followed by GAP, at HW·C + C·r instead
//! of HW·C·r MACs): `g_c = round_half_away(Σ_hw q / HW)` stays an int8 code in `a`'s
//! quantization, then `acc_j = Σ_c P[j,c]·(g_c − a_zp) + bias_j` (int32) and
//! `z_j = clamp(MBQM(acc_j, z_mult, z_shift) + z_zp, −128, 127)`.

use crate::dot::DotS8;
use crate::error::{OpError, OpKind, Port};
use crate::flex::FlexMap;
use crate::limits;
use crate::quant::{gap_s8, multiply_by_quantized_multiplier, spatial_stats, SHIFT_RANGE};
use crate::tensor::{ActShape, DType, Dims, TensorDesc};
use crate::Cost;

const OP: OpKind = OpKind::Project;

/// Option keys (see docs/ops.md).
pub mod keys {
    pub const C_IN: &str = "c_in";
    pub const R: &str = "r";
    pub const A_ZP: &str = "a_zp";
    pub const Z_ZP: &str = "z_zp";
    pub const Z_MULT: &str = "z_mult";
    pub const Z_SHIFT: &str = "z_shift";
}

/// Parsed custom options of SNAP_PROJECT (the OpData the TFLM glue keeps).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProjectOptions {
    /// Channels of the input activation.
    pub c_in: usize,
    /// Projection rank (channels of z).
    pub r: usize,
    /// Zero point of `a`.
    pub a_zp: i32,
    /// Zero point of `z`.
    pub z_zp: i32,
    /// Quantized multiplier of `a_scale · p_scale / z_scale`.
    pub z_mult: i32,
    /// Shift of that multiplier (−31..=30).
    pub z_shift: i32,
}

impl ProjectOptions {
    /// Parses and range-checks the custom-options flexbuffer.
    pub fn parse(buf: &[u8]) -> Result<Self, OpError> {
        let m = FlexMap::root(buf).map_err(|err| OpError::Options { op: OP, err })?;
        let f = |e| OpError::Options { op: OP, err: e };
        let o = ProjectOptions {
            c_in: m.usize(keys::C_IN).map_err(f)?,
            r: m.usize(keys::R).map_err(f)?,
            a_zp: m.i32(keys::A_ZP).map_err(f)?,
            z_zp: m.i32(keys::Z_ZP).map_err(f)?,
            z_mult: m.i32(keys::Z_MULT).map_err(f)?,
            z_shift: m.i32(keys::Z_SHIFT).map_err(f)?,
        };
        o.validate()?;
        Ok(o)
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
        if self.c_in == 0 || self.c_in > limits::MAX_CHANNELS {
            return bad(keys::C_IN, "must be in 1..=4096");
        }
        if self.r == 0 || self.r > limits::MAX_RANK {
            return bad(keys::R, "must be in 1..=512");
        }
        if !(-128..=127).contains(&self.a_zp) {
            return bad(keys::A_ZP, "must be an int8 zero point (-128..=127)");
        }
        if !(-128..=127).contains(&self.z_zp) {
            return bad(keys::Z_ZP, "must be an int8 zero point (-128..=127)");
        }
        if self.z_mult < 0 {
            return bad(keys::Z_MULT, "must be a non-negative quantized multiplier");
        }
        if !(SHIFT_RANGE.0..=SHIFT_RANGE.1).contains(&self.z_shift) {
            return bad(keys::Z_SHIFT, "must be in -31..=30");
        }
        Ok(())
    }

    /// Writes the options exactly as [`ProjectOptions::parse`] reads them.
    #[cfg(feature = "std")]
    pub fn to_flexbuffer(&self) -> Vec<u8> {
        let mut b = flexbuffers::Builder::default();
        let mut m = b.start_map();
        m.push(keys::C_IN, self.c_in as i64);
        m.push(keys::R, self.r as i64);
        m.push(keys::A_ZP, self.a_zp);
        m.push(keys::Z_ZP, self.z_zp);
        m.push(keys::Z_MULT, self.z_mult);
        m.push(keys::Z_SHIFT, self.z_shift);
        m.end_map();
        b.view().to_vec()
    }

    /// Options from real-valued quantization parameters (what the converter knows).
    /// `None` when a scale is not positive and finite.
    pub fn from_scales(
        c_in: usize,
        r: usize,
        a_scale: f32,
        a_zp: i32,
        p_scale: f32,
        z_scale: f32,
        z_zp: i32,
    ) -> Option<Self> {
        if !(a_scale > 0.0 && p_scale > 0.0 && z_scale > 0.0) {
            return None;
        }
        let real = a_scale as f64 * p_scale as f64 / z_scale as f64;
        let (z_mult, z_shift) = crate::quant::quantize_multiplier(real)?;
        Some(ProjectOptions {
            c_in,
            r,
            a_zp,
            z_zp,
            z_mult,
            z_shift,
        })
    }
}

/// Shapes resolved by [`prepare`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProjectPlan {
    /// The input activation as batch × spatial × channels.
    pub act: ActShape,
    /// Whether the bias input is present.
    pub has_bias: bool,
    /// `P` is absent: the identity (only with `r == c_in`).
    pub identity: bool,
    /// Output 1 (`stats`) is present.
    pub stats: bool,
}

/// Input indices.
pub const INPUT_A: usize = 0;
pub const INPUT_P: usize = 1;
pub const INPUT_BIAS: usize = 2;
pub const OUTPUT_Z: usize = 0;
pub const OUTPUT_STATS: usize = 1;
/// Values per sample of output 1 (`stats`).
pub const STATS_PER_SAMPLE: usize = 2;

/// Validates tensor descriptors against the options. `inputs[2]` may be omitted (no bias);
/// `inputs[1]` may be omitted when `r == c_in` (identity projector).
pub fn prepare(
    opts: &ProjectOptions,
    inputs: &[Option<TensorDesc<'_>>],
    outputs: &[TensorDesc<'_>],
) -> Result<ProjectPlan, OpError> {
    opts.validate()?;
    if !(1..=3).contains(&inputs.len()) {
        return Err(OpError::Count {
            op: OP,
            outputs: false,
            got: inputs.len(),
            min: 1,
            max: 3,
        });
    }
    if !(1..=2).contains(&outputs.len()) {
        return Err(OpError::Count {
            op: OP,
            outputs: true,
            got: outputs.len(),
            min: 1,
            max: 2,
        });
    }
    let a = required(inputs, INPUT_A, "a")?;
    expect_dtype(Port::Input(0), "a", a.dtype, DType::Int8, "int8")?;
    let act = ActShape::from_dims(a.dims).ok_or(OpError::Shape {
        op: OP,
        port: Port::Input(0),
        name: "a",
        got: Dims::from_slice(a.dims),
        expected: Dims::from_slice(&[-1, -1, -1, opts.c_in as i32]),
        why: "rank 2..4, channels last, all dims positive",
    })?;
    if act.channels != opts.c_in {
        return Err(OpError::Shape {
            op: OP,
            port: Port::Input(0),
            name: "a",
            got: Dims::from_slice(a.dims),
            expected: Dims::from_slice(&[-1, -1, -1, opts.c_in as i32]),
            why: "last dim must equal option c_in",
        });
    }
    if act.spatial > limits::MAX_SPATIAL {
        return Err(OpError::Limit {
            op: OP,
            what: "H*W of input 0 (a)",
            value: act.spatial,
            max: limits::MAX_SPATIAL,
        });
    }
    let identity = match inputs.get(INPUT_P).copied().flatten() {
        Some(p) => {
            expect_dtype(Port::Input(1), "P", p.dtype, DType::Int8, "int8")?;
            crate::error::check_dims(
                OP,
                Port::Input(1),
                "P",
                p.dims,
                &[opts.r as i32, opts.c_in as i32],
                "r × c_in from options",
            )?;
            false
        }
        None if opts.r == opts.c_in => true,
        None => return Err(absent_p()),
    };
    let has_bias = match inputs.get(INPUT_BIAS).copied().flatten() {
        Some(b) => {
            expect_dtype(Port::Input(2), "bias", b.dtype, DType::Int32, "int32")?;
            crate::error::check_dims(
                OP,
                Port::Input(2),
                "bias",
                b.dims,
                &[opts.r as i32],
                "r from options",
            )?;
            true
        }
        None => false,
    };
    let z = outputs[OUTPUT_Z];
    expect_dtype(Port::Output(0), "z", z.dtype, DType::Int8, "int8")?;
    crate::error::check_dims(
        OP,
        Port::Output(0),
        "z",
        z.dims,
        &[act.batch as i32, opts.r as i32],
        "batch of input 0 × r",
    )?;
    let stats = match outputs.get(OUTPUT_STATS) {
        Some(t) => {
            expect_dtype(Port::Output(1), "stats", t.dtype, DType::Float32, "float32")?;
            crate::error::check_dims(
                OP,
                Port::Output(1),
                "stats",
                t.dims,
                &[act.batch as i32, STATS_PER_SAMPLE as i32],
                "batch of input 0 × 2",
            )?;
            true
        }
        None => false,
    };
    Ok(ProjectPlan {
        act,
        has_bias,
        identity,
        stats,
    })
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

/// `P` omitted although `r != c_in`.
const fn absent_p() -> OpError {
    OpError::Data {
        op: OP,
        port: Port::Input(INPUT_P as u8),
        name: "P",
        problem: "is required but absent (it may be omitted only when r == c_in)",
    }
}

fn expect_dtype(
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

/// Scratch the caller provides to [`eval`]: `c_in` bytes (the pooled int8 vector).
pub const fn scratch_bytes(opts: &ProjectOptions) -> usize {
    opts.c_in
}

/// Runs the op. Slices are the tensors' data in TFLite layout; `scratch` holds at least
/// [`scratch_bytes`] bytes. Short slices give [`OpError::Buffer`] (never a panic). With
/// `plan.identity` (no `P` in the model) `p` is ignored (pass `&[]`).
pub fn eval<D: DotS8>(
    opts: &ProjectOptions,
    plan: &ProjectPlan,
    a: &[i8],
    p: &[i8],
    bias: Option<&[i32]>,
    z: &mut [i8],
    scratch: &mut [i8],
) -> Result<(), OpError> {
    eval_with_stats::<D>(opts, plan, a, p, bias, z, None, scratch)
}

/// [`eval`] that also writes output 1 (`stats`, `[N,2]` float32) when `stats` is given; the
/// statistics reuse the pooled means, so they cost one more pass over `a` and no scratch.
#[allow(clippy::too_many_arguments)]
pub fn eval_with_stats<D: DotS8>(
    opts: &ProjectOptions,
    plan: &ProjectPlan,
    a: &[i8],
    p: &[i8],
    bias: Option<&[i32]>,
    z: &mut [i8],
    mut stats: Option<&mut [f32]>,
    scratch: &mut [i8],
) -> Result<(), OpError> {
    opts.validate()?;
    let (c, r) = (opts.c_in, opts.r);
    let per_sample = plan.act.spatial.saturating_mul(c);
    crate::error::check_len(
        OP,
        "input 0 (a)",
        a.len(),
        plan.act.batch.saturating_mul(per_sample),
    )?;
    if plan.identity {
        if r != c {
            return Err(absent_p());
        }
    } else {
        crate::error::check_len(OP, "input 1 (P)", p.len(), r * c)?;
    }
    if let Some(b) = bias {
        crate::error::check_len(OP, "input 2 (bias)", b.len(), r)?;
    }
    crate::error::check_len(
        OP,
        "output 0 (z)",
        z.len(),
        plan.act.batch.saturating_mul(r),
    )?;
    if let Some(st) = &stats {
        crate::error::check_len(
            OP,
            "output 1 (stats)",
            st.len(),
            plan.act.batch.saturating_mul(STATS_PER_SAMPLE),
        )?;
    }
    crate::error::check_len(OP, "scratch", scratch.len(), c)?;
    let g = &mut scratch[..c];
    for n in 0..plan.act.batch {
        let sample = &a[n * per_sample..(n + 1) * per_sample];
        gap_s8(sample, g);
        if let Some(st) = stats.as_deref_mut() {
            let v = spatial_stats(sample, g);
            st[n * STATS_PER_SAMPLE..(n + 1) * STATS_PER_SAMPLE].copy_from_slice(&v);
        }
        let zrow = &mut z[n * r..(n + 1) * r];
        for (j, zj) in zrow.iter_mut().enumerate() {
            let mut acc = if plan.identity {
                g[j] as i32 - opts.a_zp
            } else {
                D::dot_offset(g, -opts.a_zp, &p[j * c..(j + 1) * c])
            };
            if let Some(b) = bias {
                acc = acc.wrapping_add(b[j]);
            }
            let q = multiply_by_quantized_multiplier(acc, opts.z_mult, opts.z_shift)
                .saturating_add(opts.z_zp);
            *zj = q.clamp(-128, 127) as i8;
        }
    }
    Ok(())
}

/// Output 1 (`stats`) alone, for runtimes that compute `z` elsewhere (the CMSIS-NN path):
/// pools each sample into `scratch` ([`scratch_bytes`]) and writes its two statistics.
pub fn eval_stats(
    opts: &ProjectOptions,
    plan: &ProjectPlan,
    a: &[i8],
    stats: &mut [f32],
    scratch: &mut [i8],
) -> Result<(), OpError> {
    opts.validate()?;
    let c = opts.c_in;
    let per_sample = plan.act.spatial.saturating_mul(c);
    let batch = plan.act.batch;
    crate::error::check_len(OP, "input 0 (a)", a.len(), batch.saturating_mul(per_sample))?;
    crate::error::check_len(
        OP,
        "output 1 (stats)",
        stats.len(),
        batch.saturating_mul(STATS_PER_SAMPLE),
    )?;
    crate::error::check_len(OP, "scratch", scratch.len(), c)?;
    let g = &mut scratch[..c];
    for n in 0..batch {
        let sample = &a[n * per_sample..(n + 1) * per_sample];
        gap_s8(sample, g);
        let v = spatial_stats(sample, g);
        stats[n * STATS_PER_SAMPLE..(n + 1) * STATS_PER_SAMPLE].copy_from_slice(&v);
    }
    Ok(())
}

/// Cost per sample: `HW·C_in` pooling adds + `r·C_in` MACs; parameters `r·C_in + 4r` bytes
/// (4r only with bias); scratch `C_in` bytes.
pub const fn cost(opts: &ProjectOptions, spatial: usize, has_bias: bool) -> Cost {
    let (c, r) = (opts.c_in as u64, opts.r as u64);
    Cost {
        macs: spatial as u64 * c + r * c,
        param_bytes: r * c + if has_bias { 4 * r } else { 0 },
        scratch_bytes: c,
        state_bytes: 0,
    }
}

/// [`cost`] of the identity projector (no `P`): `HW·C_in` pooling adds + `C_in`
/// requantizations; parameters `4r` bytes with bias, else none.
pub const fn identity_cost(opts: &ProjectOptions, spatial: usize, has_bias: bool) -> Cost {
    let c = opts.c_in as u64;
    Cost {
        macs: spatial as u64 * c + c,
        param_bytes: if has_bias { 4 * c } else { 0 },
        scratch_bytes: c,
        state_bytes: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PortableDot;

    #[test]
    fn hand_computed_projection() {
        // Two spatial positions, two channels: ch0 = [3,5] → 4, ch1 = [-1,-2] → -1.5 → -2.
        let (z_mult, z_shift) = crate::quant::quantize_multiplier(1.0).unwrap();
        let o = ProjectOptions {
            c_in: 2,
            r: 2,
            a_zp: 1,
            z_zp: 3,
            z_mult,
            z_shift,
        };
        let plan = prepare(
            &o,
            &[
                Some(TensorDesc::new(DType::Int8, &[1, 2, 2])),
                Some(TensorDesc::new(DType::Int8, &[2, 2])),
                Some(TensorDesc::new(DType::Int32, &[2])),
            ],
            &[TensorDesc::new(DType::Int8, &[1, 2])],
        )
        .unwrap();
        let a = [3i8, -1, 5, -2];
        let p = [1i8, 2, -3, 0];
        let mut z = [0i8; 2];
        let mut scratch = [0i8; 2];
        eval::<PortableDot>(&o, &plan, &a, &p, Some(&[10, -200]), &mut z, &mut scratch).unwrap();
        // row 0: 1·(4−1) + 2·(−2−1) + 10 = 7 → 7 + 3 ; row 1: −3·3 − 200 = −209 → clamp −128
        assert_eq!(z, [10, -128]);
        // No bias.
        eval::<PortableDot>(&o, &plan, &a, &p, None, &mut z, &mut scratch).unwrap();
        assert_eq!(z, [0, -6]);
    }

    #[test]
    fn absent_p_is_the_identity_when_square() {
        let o = ProjectOptions::from_scales(3, 3, 0.1, -5, 1.0, 0.05, 2).unwrap();
        let a_desc = Some(TensorDesc::new(DType::Int8, &[2, 2, 3]));
        let z_desc = [TensorDesc::new(DType::Int8, &[2, 3])];
        let plan = prepare(&o, &[a_desc], &z_desc).unwrap();
        assert!(plan.identity && !plan.has_bias);
        let bias = Some(TensorDesc::new(DType::Int32, &[3]));
        let with_bias = prepare(&o, &[a_desc, None, bias], &z_desc).unwrap();
        assert!(with_bias.identity && with_bias.has_bias);
        // The same as an explicit P = I with scale 1 (codes 1).
        let eye = [1i8, 0, 0, 0, 1, 0, 0, 0, 1];
        let dense = prepare(
            &o,
            &[a_desc, Some(TensorDesc::new(DType::Int8, &[3, 3])), bias],
            &z_desc,
        )
        .unwrap();
        assert!(!dense.identity);
        let a = [10i8, -20, 30, 13, 22, -31, -5, 0, 127, -128, 3, 9];
        let b = [7i32, -300, 0];
        let (mut z1, mut z2, mut s) = ([0i8; 6], [0i8; 6], [0i8; 3]);
        eval::<PortableDot>(&o, &with_bias, &a, &[], Some(&b), &mut z1, &mut s).unwrap();
        eval::<PortableDot>(&o, &dense, &a, &eye, Some(&b), &mut z2, &mut s).unwrap();
        assert_eq!(z1, z2);
        // a_scale / z_scale = 2: g − a_zp doubled, plus z_zp (ch0 of sample 0: (12+5)·2+14+2).
        assert_eq!(z1[0], (((10 + 13 + 1) / 2 + 5) * 2 + 14 + 2) as i8);
        // Not square: P stays required, at prepare and at eval.
        let o4 = ProjectOptions { r: 2, ..o };
        let e = prepare(&o4, &[a_desc], &[TensorDesc::new(DType::Int8, &[2, 2])]).unwrap_err();
        assert!(e.message().as_str().contains("only when r == c_in"), "{e}");
        let forged = ProjectPlan {
            identity: true,
            ..plan
        };
        assert!(eval::<PortableDot>(&o4, &forged, &a, &[], None, &mut z1, &mut s).is_err());
        assert_eq!(identity_cost(&o, 4, false).param_bytes, 0);
        assert_eq!(identity_cost(&o, 4, true).macs, 4 * 3 + 3);
    }

    #[test]
    fn batches_are_independent_and_cost_formula() {
        let o = ProjectOptions::from_scales(3, 2, 0.1, 0, 0.02, 0.05, 0).unwrap();
        let plan = ProjectPlan {
            act: ActShape {
                batch: 2,
                spatial: 2,
                channels: 3,
            },
            has_bias: false,
            identity: false,
            stats: false,
        };
        let a = [10i8, 20, 30, 12, 22, 32, -5, 0, 5, -7, 2, 9];
        let p = [50i8, -60, 70, 1, 2, 3];
        let mut z2 = [0i8; 4];
        let mut s = [0i8; 3];
        eval::<PortableDot>(&o, &plan, &a, &p, None, &mut z2, &mut s).unwrap();
        let one = ProjectPlan {
            act: ActShape {
                batch: 1,
                ..plan.act
            },
            has_bias: false,
            identity: false,
            stats: false,
        };
        let mut z = [0i8; 2];
        eval::<PortableDot>(&o, &one, &a[6..], &p, None, &mut z, &mut s).unwrap();
        assert_eq!(&z2[2..], &z);
        let c = cost(&o, 49, true);
        assert_eq!(c.macs, 49 * 3 + 2 * 3);
        assert_eq!(c.param_bytes, 6 + 8);
        assert_eq!(c.scratch_bytes, 3);
    }

    #[test]
    fn stats_output_matches_hand_computation() {
        let o = ProjectOptions::from_scales(2, 2, 0.1, 0, 0.1, 0.1, 0).unwrap();
        let a_desc = TensorDesc::new(DType::Int8, &[1, 3, 2]);
        let plan = prepare(
            &o,
            &[Some(a_desc)],
            &[
                TensorDesc::new(DType::Int8, &[1, 2]),
                TensorDesc::new(DType::Float32, &[1, 2]),
            ],
        )
        .unwrap();
        assert!(plan.stats);
        // Three positions × two channels; channel means 2 and −2 (exact).
        let a = [0i8, 0, 2, -2, 4, -4];
        let (mut z, mut st, mut s) = ([0i8; 2], [0f32; 2], [0i8; 2]);
        eval_with_stats::<PortableDot>(&o, &plan, &a, &[], None, &mut z, Some(&mut st), &mut s)
            .unwrap();
        // Squares: ch0 (4,0,4), ch1 (4,0,4) → rms = sqrt(16/6); |Δ| = 2,2,2,2 → tv = 2.
        let rms = (16.0f32 / 6.0).sqrt();
        assert!((st[0] - (rms + 0.01).ln()).abs() < 1e-6, "{st:?}");
        assert!((st[1] - (2.0f32 + 0.01).ln()).abs() < 1e-6, "{st:?}");
        // z is the same as without the stats output.
        let mut z2 = [0i8; 2];
        eval::<PortableDot>(&o, &plan, &a, &[], None, &mut z2, &mut s).unwrap();
        assert_eq!(z, z2);
        // A wrong stats shape or dtype is refused, and a short stats buffer is an error.
        let bad = prepare(
            &o,
            &[Some(a_desc)],
            &[
                TensorDesc::new(DType::Int8, &[1, 2]),
                TensorDesc::new(DType::Float32, &[1, 3]),
            ],
        );
        assert!(bad.is_err());
        let mut short = [0f32; 1];
        assert!(eval_with_stats::<PortableDot>(
            &o,
            &plan,
            &a,
            &[],
            None,
            &mut z,
            Some(&mut short),
            &mut s
        )
        .is_err());
    }
}
