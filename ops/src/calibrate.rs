//! `SNAP_CALIBRATE`: aggregate the taps' ē into S, blend with the classifier's confidence
//! proxy m, map to U (logistic or isotonic), threshold into an abstain flag (fixed τ or the
//! budgeted controller of App. K).
//!
//! Inputs: 0..T−1 `ebar_ℓ` float32 `[N]`/`[N,1]`; T `cls` int8/uint8/float32 `[N,L]`
//! (probabilities or logits per option `cls`); T+1 `table` float32 `[2,n]` (isotonic only).
//! Outputs (a prefix of): 0 `U` float32 `[N]`; 1 `S` float32 `[N]`; 2 `abstain` uint8/int8/bool
//! `[N]` (0/1); 3 `U_q` uint8 `[N]` (scale 1/255, zero point 0).
//! With mapping `classwise`, input T+1 is the coefficient table float32 `[2, classes + F]` and
//! inputs T+2.. are `stats` SNAP_PROJECT stats tensors float32 `[N,2]` (option `stats`).
//!
//! Float32 throughout (both target MCUs have an FPU): `S = Σ w_ℓ ē_ℓ`,
//! `m = α(1−C) + (1−α)(1−margin)`, `U = σ(β0 + β1 S + β2 m)` or `U = table(γS + (1−γ)m)`,
//! or (classwise) `U = σ(a[ĉ] + b[ĉ]·L + Σ_j (g_j + h_j·L)·f_j)` with `ĉ` the predicted class,
//! `L = ln(1 − C + ε_L)` and features `f = (ln(ē_ℓ + ε_e))_ℓ ++ (stats)_k` — see
//! [`classwise_logit`] and docs/ops.md for why.

use crate::controller::{ControllerParams, ControllerState};
use crate::error::{OpError, OpKind, Port};
use crate::flex::FlexMap;
use crate::limits;
use crate::tensor::{per_sample_batch, DType, Dims, TensorDesc};
use crate::Cost;

const OP: OpKind = OpKind::Calibrate;

/// Option keys (see docs/ops.md).
pub mod keys {
    pub const TAPS: &str = "taps";
    pub const WEIGHTS: &str = "weights";
    pub const CLASSES: &str = "classes";
    pub const CLS: &str = "cls";
    pub const CLS_SCALE: &str = "cls_scale";
    pub const CLS_ZP: &str = "cls_zp";
    pub const ALPHA: &str = "alpha";
    pub const MAPPING: &str = "mapping";
    pub const BETA: &str = "beta";
    pub const GAMMA: &str = "gamma";
    pub const TAU: &str = "tau";
    pub const CTRL: &str = "ctrl";
    pub const BUDGET: &str = "budget";
    pub const ETA: &str = "eta";
    pub const KAPPA: &str = "kappa";
    pub const TAU_MIN: &str = "tau_min";
    pub const TAU_MAX: &str = "tau_max";
    pub const STATS: &str = "stats";
}

/// ε of `L = ln(1 − C + ε_L)` in the classwise mapping.
pub const CLASSWISE_EPS_C: f32 = 1e-4;
/// ε of `ln(ē + ε_e)` in the classwise mapping.
pub const CLASSWISE_EPS_E: f32 = 1e-6;

/// The error for options that need a variant compiled out of this build.
const fn unsupported(key: &'static str, feature: &'static str) -> OpError {
    OpError::Unsupported {
        op: OP,
        key,
        feature,
    }
}

/// What the classifier input holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClassifierKind {
    /// Class probabilities (e.g. a softmax output, int8 scale 1/256 zp −128).
    Probs,
    /// Logits; the kernel applies a softmax.
    Logits,
}

/// The mapping from (S, m) to U.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mapping {
    /// `U = sigmoid(β0 + β1·S + β2·m)` (eq. 11).
    Logistic { beta: [f32; 3] },
    /// `U = table(γ·S + (1−γ)·m)` (App. J), table given as input T+1.
    Isotonic { gamma: f32 },
    /// `U = σ(a[ĉ] + b[ĉ]·L + Σ_j (g_j + h_j·L)·f_j)`: a per-predicted-class logistic on the
    /// log error of the confidence, with each tap's log ē and each stats value as extra
    /// features (and their interaction with L); coefficients as input T+1, `[2, classes + F]`.
    Classwise,
}

/// Parsed custom options of SNAP_CALIBRATE.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CalibrateOptions {
    pub taps: usize,
    /// Tap weights w_ℓ (first `taps` entries used).
    pub weights: [f32; limits::MAX_TAPS],
    pub classes: usize,
    pub cls: ClassifierKind,
    /// Quantization of the classifier input (ignored for float32 input).
    pub cls_scale: f32,
    pub cls_zp: i32,
    /// α of m(x) (eq. 10).
    pub alpha: f32,
    pub mapping: Mapping,
    /// Fixed threshold τ (and τ_0 of the controller).
    pub tau: f32,
    /// Budgeted controller (App. K), if enabled.
    pub controller: Option<ControllerParams>,
    /// SNAP_PROJECT stats inputs (`[N,2]` each) after the coefficient table (classwise only).
    pub stats: usize,
}

impl CalibrateOptions {
    /// Parses and range-checks the custom-options flexbuffer.
    pub fn parse(buf: &[u8]) -> Result<Self, OpError> {
        let m = FlexMap::root(buf).map_err(|err| OpError::Options { op: OP, err })?;
        let f = |e| OpError::Options { op: OP, err: e };
        let taps = m.usize(keys::TAPS).map_err(f)?;
        let mut weights = [0f32; limits::MAX_TAPS];
        let nw = m.f32_vec(keys::WEIGHTS, &mut weights).map_err(f)?;
        if nw != taps {
            return Err(OpError::OptionValue {
                op: OP,
                key: keys::WEIGHTS,
                problem: "must have exactly `taps` entries",
            });
        }
        let cls = match m.bytes_opt(keys::CLS).map_err(f)? {
            None | Some(b"probs") => ClassifierKind::Probs,
            Some(b"logits") => ClassifierKind::Logits,
            Some(_) => {
                return Err(OpError::OptionValue {
                    op: OP,
                    key: keys::CLS,
                    problem: "must be \"probs\" or \"logits\"",
                })
            }
        };
        let mapping = match m.bytes_opt(keys::MAPPING).map_err(f)? {
            None | Some(b"logistic") => {
                let mut beta = [0f32; 3];
                let n = m.f32_vec(keys::BETA, &mut beta).map_err(f)?;
                if n != 3 {
                    return Err(OpError::OptionValue {
                        op: OP,
                        key: keys::BETA,
                        problem: "must have 3 entries [b0, b1, b2]",
                    });
                }
                Mapping::Logistic { beta }
            }
            #[cfg(feature = "isotonic")]
            Some(b"isotonic") => Mapping::Isotonic {
                gamma: m.f32_or(keys::GAMMA, 1.0).map_err(f)?,
            },
            #[cfg(not(feature = "isotonic"))]
            Some(b"isotonic") => return Err(unsupported(keys::MAPPING, "isotonic")),
            Some(b"classwise") => Mapping::Classwise,
            Some(_) => {
                return Err(OpError::OptionValue {
                    op: OP,
                    key: keys::MAPPING,
                    problem: "must be \"logistic\", \"isotonic\" or \"classwise\"",
                })
            }
        };
        let controller = if m.bool_or(keys::CTRL, false).map_err(f)? {
            #[cfg(not(feature = "controller"))]
            return Err(unsupported(keys::CTRL, "controller"));
            #[cfg(feature = "controller")]
            Some(ControllerParams {
                budget: m.f32(keys::BUDGET).map_err(f)?,
                eta: m.f32_or(keys::ETA, 0.01).map_err(f)?,
                kappa: m.f32_or(keys::KAPPA, 0.01).map_err(f)?,
                tau_min: m.f32_or(keys::TAU_MIN, 0.0).map_err(f)?,
                tau_max: m.f32_or(keys::TAU_MAX, 1.0).map_err(f)?,
            })
        } else {
            None
        };
        let o = CalibrateOptions {
            taps,
            weights,
            classes: m.usize(keys::CLASSES).map_err(f)?,
            cls,
            cls_scale: m.f32_or(keys::CLS_SCALE, 1.0 / 256.0).map_err(f)?,
            cls_zp: m.i32_or(keys::CLS_ZP, -128).map_err(f)?,
            alpha: m.f32_or(keys::ALPHA, 0.5).map_err(f)?,
            mapping,
            tau: m.f32_or(keys::TAU, 0.5).map_err(f)?,
            controller,
            stats: m.usize_or(keys::STATS, 0).map_err(f)?,
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
        if self.taps == 0 || self.taps > limits::MAX_TAPS {
            return bad(keys::TAPS, "must be in 1..=8");
        }
        if self.weights[..self.taps]
            .iter()
            .any(|w| !(w.is_finite() && *w >= 0.0))
        {
            return bad(keys::WEIGHTS, "must be finite and non-negative");
        }
        if self.classes == 0 || self.classes > limits::MAX_CLASSES {
            return bad(keys::CLASSES, "must be in 1..=4096");
        }
        if !(self.cls_scale > 0.0 && self.cls_scale.is_finite()) {
            return bad(keys::CLS_SCALE, "must be positive and finite");
        }
        if !(-128..=255).contains(&self.cls_zp) {
            return bad(keys::CLS_ZP, "must be an int8/uint8 zero point");
        }
        if !(0.0..=1.0).contains(&self.alpha) {
            return bad(keys::ALPHA, "must be in [0,1]");
        }
        if !cfg!(feature = "isotonic") && matches!(self.mapping, Mapping::Isotonic { .. }) {
            return Err(unsupported(keys::MAPPING, "isotonic"));
        }
        if !cfg!(feature = "controller") && self.controller.is_some() {
            return Err(unsupported(keys::CTRL, "controller"));
        }
        match self.mapping {
            Mapping::Logistic { beta } if beta.iter().any(|b| !b.is_finite()) => {
                return bad(keys::BETA, "must be finite")
            }
            Mapping::Isotonic { gamma } if !(0.0..=1.0).contains(&gamma) => {
                return bad(keys::GAMMA, "must be in [0,1]")
            }
            _ => {}
        }
        if !self.tau.is_finite() {
            return bad(keys::TAU, "must be finite");
        }
        if self.stats > limits::MAX_TAPS {
            return bad(keys::STATS, "must be in 0..=8");
        }
        if self.stats > 0 && !matches!(self.mapping, Mapping::Classwise) {
            return bad(
                keys::STATS,
                "needs mapping \"classwise\" (only it reads stats)",
            );
        }
        if let Some(p) = &self.controller {
            if let Some((key, problem)) = p.check() {
                return bad(key, problem);
            }
        }
        Ok(())
    }

    /// Inputs the op takes: T taps + classifier (+ isotonic or classwise table, + stats).
    pub const fn num_inputs(&self) -> usize {
        self.taps
            + 1
            + match self.mapping {
                Mapping::Isotonic { .. } => 1,
                Mapping::Classwise => 1 + self.stats,
                Mapping::Logistic { .. } => 0,
            }
    }

    /// Features `F` of the classwise mapping: one per tap plus two per stats input.
    pub const fn classwise_features(&self) -> usize {
        self.taps + crate::project::STATS_PER_SAMPLE * self.stats
    }

    /// Initial controller state (if the controller is enabled).
    pub fn initial_state(&self) -> Option<ControllerState> {
        if !cfg!(feature = "controller") {
            return None;
        }
        self.controller
            .as_ref()
            .map(|p| ControllerState::new(self.tau, p))
    }

    /// Writes the options exactly as [`CalibrateOptions::parse`] reads them.
    #[cfg(feature = "std")]
    pub fn to_flexbuffer(&self) -> Vec<u8> {
        let mut b = flexbuffers::Builder::default();
        let mut m = b.start_map();
        m.push(keys::TAPS, self.taps as i64);
        let mut v = m.start_vector(keys::WEIGHTS);
        for w in &self.weights[..self.taps.min(limits::MAX_TAPS)] {
            v.push(*w);
        }
        v.end_vector();
        m.push(keys::CLASSES, self.classes as i64);
        m.push(
            keys::CLS,
            match self.cls {
                ClassifierKind::Probs => "probs",
                ClassifierKind::Logits => "logits",
            },
        );
        m.push(keys::CLS_SCALE, self.cls_scale);
        m.push(keys::CLS_ZP, self.cls_zp);
        m.push(keys::ALPHA, self.alpha);
        match self.mapping {
            Mapping::Logistic { beta } => {
                m.push(keys::MAPPING, "logistic");
                let mut v = m.start_vector(keys::BETA);
                for b in beta {
                    v.push(b);
                }
                v.end_vector();
            }
            Mapping::Isotonic { gamma } => {
                m.push(keys::MAPPING, "isotonic");
                m.push(keys::GAMMA, gamma);
            }
            Mapping::Classwise => {
                m.push(keys::MAPPING, "classwise");
                m.push(keys::STATS, self.stats as i64);
            }
        }
        m.push(keys::TAU, self.tau);
        m.push(keys::CTRL, self.controller.is_some());
        if let Some(p) = &self.controller {
            m.push(keys::BUDGET, p.budget);
            m.push(keys::ETA, p.eta);
            m.push(keys::KAPPA, p.kappa);
            m.push(keys::TAU_MIN, p.tau_min);
            m.push(keys::TAU_MAX, p.tau_max);
        }
        m.end_map();
        b.view().to_vec()
    }
}

/// Which outputs are present and what [`prepare`] resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CalibratePlan {
    pub batch: usize,
    /// Element type of the classifier input.
    pub cls_dtype: DType,
    /// Steps of the isotonic table (0 for logistic).
    pub table_len: usize,
    /// Number of outputs (1..=4: U, S, abstain, U_q).
    pub num_outputs: usize,
}

pub const OUTPUT_U: usize = 0;
pub const OUTPUT_S: usize = 1;
pub const OUTPUT_ABSTAIN: usize = 2;
pub const OUTPUT_U_Q: usize = 3;

/// Validates tensor descriptors against the options.
pub fn prepare(
    opts: &CalibrateOptions,
    inputs: &[Option<TensorDesc<'_>>],
    outputs: &[TensorDesc<'_>],
) -> Result<CalibratePlan, OpError> {
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
    if !(1..=4).contains(&outputs.len()) {
        return Err(OpError::Count {
            op: OP,
            outputs: true,
            got: outputs.len(),
            min: 1,
            max: 4,
        });
    }
    let cls = required(inputs, opts.taps, "classifier")?;
    let cls_port = Port::Input(opts.taps as u8);
    if !matches!(cls.dtype, DType::Int8 | DType::UInt8 | DType::Float32) {
        return Err(OpError::DType {
            op: OP,
            port: cls_port,
            name: "classifier",
            got: cls.dtype,
            expected: "int8, uint8 or float32",
        });
    }
    let batch = match cls.dims {
        [n, l] | [n, 1, 1, l] if *n > 0 && *l as usize == opts.classes => *n as usize,
        [l] if *l as usize == opts.classes => 1,
        _ => {
            return Err(OpError::Shape {
                op: OP,
                port: cls_port,
                name: "classifier",
                got: Dims::from_slice(cls.dims),
                expected: Dims::from_slice(&[-1, opts.classes as i32]),
                why: "[N, classes] with classes from options",
            })
        }
    };
    for i in 0..opts.taps {
        let t = required(inputs, i, "ebar")?;
        if t.dtype != DType::Float32 {
            return Err(OpError::DType {
                op: OP,
                port: Port::Input(i as u8),
                name: "ebar",
                got: t.dtype,
                expected: "float32 (output of SNAP_SURPRISAL)",
            });
        }
        if per_sample_batch(t.dims) != Some(batch) {
            return Err(OpError::Shape {
                op: OP,
                port: Port::Input(i as u8),
                name: "ebar",
                got: Dims::from_slice(t.dims),
                expected: Dims::from_slice(&[batch as i32]),
                why: "one value per sample of the classifier input",
            });
        }
    }
    let table_len = match opts.mapping {
        Mapping::Isotonic { .. } => {
            let t = required(inputs, opts.taps + 1, "isotonic table")?;
            let port = Port::Input((opts.taps + 1) as u8);
            if t.dtype != DType::Float32 {
                return Err(OpError::DType {
                    op: OP,
                    port,
                    name: "isotonic table",
                    got: t.dtype,
                    expected: "float32",
                });
            }
            match t.dims {
                [2, n] if *n >= 1 && *n as usize <= limits::MAX_ISOTONIC => *n as usize,
                _ => {
                    return Err(OpError::Shape {
                        op: OP,
                        port,
                        name: "isotonic table",
                        got: Dims::from_slice(t.dims),
                        expected: Dims::from_slice(&[2, -1]),
                        why: "[2, n]: thresholds row then values row, 1 <= n <= 1024",
                    })
                }
            }
        }
        Mapping::Classwise => {
            let t = required(inputs, opts.taps + 1, "classwise table")?;
            let port = Port::Input((opts.taps + 1) as u8);
            if t.dtype != DType::Float32 {
                return Err(OpError::DType {
                    op: OP,
                    port,
                    name: "classwise table",
                    got: t.dtype,
                    expected: "float32",
                });
            }
            let width = (opts.classes + opts.classwise_features()) as i32;
            crate::error::check_dims(
                OP,
                port,
                "classwise table",
                t.dims,
                &[2, width],
                "[2, classes + taps + 2·stats]",
            )?;
            for k in 0..opts.stats {
                let i = opts.taps + 2 + k;
                let st = required(inputs, i, "stats")?;
                if st.dtype != DType::Float32 {
                    return Err(OpError::DType {
                        op: OP,
                        port: Port::Input(i as u8),
                        name: "stats",
                        got: st.dtype,
                        expected: "float32 (output 1 of SNAP_PROJECT)",
                    });
                }
                crate::error::check_dims(
                    OP,
                    Port::Input(i as u8),
                    "stats",
                    st.dims,
                    &[batch as i32, crate::project::STATS_PER_SAMPLE as i32],
                    "[N, 2] from SNAP_PROJECT",
                )?;
            }
            width as usize
        }
        Mapping::Logistic { .. } => 0,
    };
    let names = ["U", "S", "abstain", "U_q"];
    for (i, t) in outputs.iter().enumerate() {
        let ok = match i {
            OUTPUT_U | OUTPUT_S => t.dtype == DType::Float32,
            OUTPUT_ABSTAIN => matches!(t.dtype, DType::UInt8 | DType::Int8 | DType::Bool),
            _ => t.dtype == DType::UInt8,
        };
        if !ok {
            return Err(OpError::DType {
                op: OP,
                port: Port::Output(i as u8),
                name: names[i],
                got: t.dtype,
                expected: match i {
                    OUTPUT_U | OUTPUT_S => "float32",
                    OUTPUT_ABSTAIN => "uint8, int8 or bool",
                    _ => "uint8",
                },
            });
        }
        if per_sample_batch(t.dims) != Some(batch) {
            return Err(OpError::Shape {
                op: OP,
                port: Port::Output(i as u8),
                name: names[i],
                got: Dims::from_slice(t.dims),
                expected: Dims::from_slice(&[batch as i32]),
                why: "one value per sample",
            });
        }
    }
    Ok(CalibratePlan {
        batch,
        cls_dtype: cls.dtype,
        table_len,
        num_outputs: outputs.len(),
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

/// Classifier output data by element type.
#[derive(Clone, Copy, Debug)]
pub enum ClassifierData<'a> {
    I8(&'a [i8]),
    U8(&'a [u8]),
    F32(&'a [f32]),
}

impl ClassifierData<'_> {
    fn len(&self) -> usize {
        match self {
            ClassifierData::I8(s) => s.len(),
            ClassifierData::U8(s) => s.len(),
            ClassifierData::F32(s) => s.len(),
        }
    }

    fn real(&self, i: usize, scale: f32, zp: i32) -> f32 {
        match self {
            ClassifierData::I8(s) => scale * (s[i] as i32 - zp) as f32,
            ClassifierData::U8(s) => scale * (s[i] as i32 - zp) as f32,
            ClassifierData::F32(s) => s[i],
        }
    }
}

/// Output buffers (absent ones are skipped).
#[derive(Debug)]
pub struct CalibrateOutputs<'a> {
    pub u: &'a mut [f32],
    pub s: Option<&'a mut [f32]>,
    pub abstain: Option<&'a mut [u8]>,
    pub u_q: Option<&'a mut [u8]>,
}

/// Confidence C and margin p(1) − p(2) of one sample, from probabilities or from logits
/// through a softmax (max-subtracted).
pub fn confidence_margin(
    kind: ClassifierKind,
    cls: &ClassifierData<'_>,
    start: usize,
    classes: usize,
    scale: f32,
    zp: i32,
) -> (f32, f32) {
    // Out-of-range windows are cut to the data (eval has checked the lengths already).
    let end = start.saturating_add(classes).min(cls.len());
    let start = start.min(end);
    let classes = end - start;
    let mut top1 = f32::NEG_INFINITY;
    let mut top2 = f32::NEG_INFINITY;
    for i in start..end {
        let v = cls.real(i, scale, zp);
        if v > top1 {
            top2 = top1;
            top1 = v;
        } else if v > top2 {
            top2 = v;
        }
    }
    match kind {
        ClassifierKind::Probs => {
            let p2 = if classes > 1 { top2 } else { 0.0 };
            (top1, top1 - p2)
        }
        ClassifierKind::Logits => {
            let mut sum = 0.0f32;
            for i in start..end {
                sum += libm::expf(cls.real(i, scale, zp) - top1);
            }
            let c = 1.0 / sum;
            let p2 = if classes > 1 {
                libm::expf(top2 - top1) * c
            } else {
                0.0
            };
            (c, c - p2)
        }
    }
}

/// Checks an isotonic table `[2,n]` (thresholds then values): thresholds non-decreasing and
/// finite, values non-decreasing in [0,1].
pub fn check_isotonic_table(table: &[f32], n: usize) -> Result<(), OpError> {
    let bad = |problem| {
        Err(OpError::Data {
            op: OP,
            port: Port::Input(u8::MAX),
            name: "isotonic table",
            problem,
        })
    };
    if table.len() < n.saturating_mul(2) || n == 0 {
        return bad("is shorter than [2, n]");
    }
    let (t, v) = (&table[..n], &table[n..2 * n]);
    if t.iter().any(|x| !x.is_finite()) || t.windows(2).any(|w| w[1] < w[0]) {
        return bad("thresholds must be finite and non-decreasing");
    }
    if v.iter().any(|x| !(0.0..=1.0).contains(x)) || v.windows(2).any(|w| w[1] < w[0]) {
        return bad("values must be in [0,1] and non-decreasing");
    }
    Ok(())
}

/// Right-continuous step function: `values[j]` for the largest j with `thresholds[j] ≤ x`,
/// `values[0]` below the first threshold.
/// `n` is limited to `table.len() / 2`; an empty table gives NaN (which eval maps to U = 1).
pub fn isotonic_lookup(table: &[f32], n: usize, x: f32) -> f32 {
    let n = n.min(table.len() / 2);
    if n == 0 {
        return f32::NAN;
    }
    let t = &table[..n];
    // Number of thresholds ≤ x (binary search; NaN x counts as below everything).
    let cnt = t.partition_point(|&th| th <= x);
    table[n + cnt.saturating_sub(1)]
}

/// The logistic sigmoid, stable for large |x|.
pub fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + libm::expf(-x))
    } else {
        let e = libm::expf(x);
        e / (1.0 + e)
    }
}

/// The classwise logit `a[ĉ] + b[ĉ]·L + Σ_j (g_j + h_j·L)·f_j` of one sample.
///
/// Why this form: on real data the softmax's error rate at a given confidence depends on the
/// predicted class (a "cat" at C = 0.9 is wrong far more often than a "truck" at C = 0.9), and
/// under a shift the classes the network collapses onto become suspect. A per-class intercept
/// and slope on `L = ln(1 − C + ε)` capture that at `2·classes` floats; the surprisal and the
/// spatial statistics enter as features with their own slope on `L`, so they can raise the
/// error estimate of confident predictions under a shift without reordering the confident
/// clean ones. `table` is `[2, classes + F]`: row 0 `a ++ g`, row 1 `b ++ h`; `feats` holds F
/// values (ln ē per tap, then the stats values). Out-of-range windows give NaN (U = 1).
pub fn classwise_logit(table: &[f32], classes: usize, class: usize, l: f32, feats: &[f32]) -> f32 {
    let width = classes + feats.len();
    if class >= classes || table.len() < 2 * width {
        return f32::NAN;
    }
    let (row_a, row_b) = (&table[..width], &table[width..2 * width]);
    let mut z = row_a[class] + row_b[class] * l;
    for (j, f) in feats.iter().enumerate() {
        z += (row_a[classes + j] + row_b[classes + j] * l) * f;
    }
    z
}

/// `L = ln(1 − C + ε_L)` of the classwise mapping (kernel f32; the converter calls this too).
pub fn classwise_l(c: f32) -> f32 {
    libm::logf((1.0 - c).max(0.0) + CLASSWISE_EPS_C)
}

/// The classwise feature of one tap's ē: `ln(max(ē, 0) + ε_e)`.
pub fn classwise_ln_ebar(e: f32) -> f32 {
    libm::logf(e.max(0.0) + CLASSWISE_EPS_E)
}

/// Index of the largest classifier value of one sample (the first on ties, as argmax does).
pub fn predicted_class(cls: &ClassifierData<'_>, start: usize, classes: usize) -> usize {
    let end = start.saturating_add(classes).min(cls.len());
    let mut best = 0;
    let mut top = f32::NEG_INFINITY;
    for (k, i) in (start.min(end)..end).enumerate() {
        // Ordering on the raw codes equals ordering on the dequantized values (scale > 0).
        let v = cls.real(i, 1.0, 0);
        if v > top {
            top = v;
            best = k;
        }
    }
    best
}

/// Runs the op. `ebar[ℓ]` is tap ℓ's ē tensor; `state` must be given when the controller is
/// enabled (persistent between invocations).
pub fn eval(
    opts: &CalibrateOptions,
    plan: &CalibratePlan,
    ebar: &[&[f32]],
    cls: ClassifierData<'_>,
    table: Option<&[f32]>,
    state: Option<&mut ControllerState>,
    out: CalibrateOutputs<'_>,
) -> Result<(), OpError> {
    eval_with_stats(opts, plan, ebar, cls, table, &[], state, out)
}

/// [`eval`] with the SNAP_PROJECT stats inputs the classwise mapping reads (`stats[k]` is
/// `[N,2]`; pass `&[]` for the other mappings).
#[allow(clippy::too_many_arguments)]
pub fn eval_with_stats(
    opts: &CalibrateOptions,
    plan: &CalibratePlan,
    ebar: &[&[f32]],
    cls: ClassifierData<'_>,
    table: Option<&[f32]>,
    stats: &[&[f32]],
    mut state: Option<&mut ControllerState>,
    out: CalibrateOutputs<'_>,
) -> Result<(), OpError> {
    opts.validate()?;
    // Only read by the variants compiled in.
    #[cfg(not(feature = "isotonic"))]
    let _ = table;
    #[cfg(not(feature = "controller"))]
    let _ = &mut state;
    let nb = plan.batch;
    let l = opts.classes;
    crate::error::check_len(OP, "ebar inputs (count)", ebar.len(), opts.taps)?;
    for e in &ebar[..opts.taps] {
        crate::error::check_len(OP, "ebar input", e.len(), nb)?;
    }
    crate::error::check_len(OP, "classifier input", cls.len(), nb.saturating_mul(l))?;
    #[cfg(feature = "isotonic")]
    if let Mapping::Isotonic { .. } = opts.mapping {
        let t = table.ok_or(OpError::Data {
            op: OP,
            port: Port::Input((opts.taps + 1) as u8),
            name: "isotonic table",
            problem: "is required by mapping isotonic but absent",
        })?;
        check_isotonic_table(t, plan.table_len)?;
    }
    if let Mapping::Classwise = opts.mapping {
        let t = table.ok_or(OpError::Data {
            op: OP,
            port: Port::Input((opts.taps + 1) as u8),
            name: "classwise table",
            problem: "is required by mapping classwise but absent",
        })?;
        let width = l + opts.classwise_features();
        crate::error::check_len(OP, "classwise table", t.len(), 2 * width)?;
        if plan.table_len != width || t[..2 * width].iter().any(|v| !v.is_finite()) {
            return Err(OpError::Data {
                op: OP,
                port: Port::Input((opts.taps + 1) as u8),
                name: "classwise table",
                problem: "must be [2, classes + taps + 2·stats] of finite values",
            });
        }
        crate::error::check_len(OP, "stats inputs (count)", stats.len(), opts.stats)?;
        for st in &stats[..opts.stats] {
            crate::error::check_len(
                OP,
                "stats input",
                st.len(),
                nb.saturating_mul(crate::project::STATS_PER_SAMPLE),
            )?;
        }
    }
    crate::error::check_len(OP, "output 0 (U)", out.u.len(), nb)?;
    if let Some(s) = &out.s {
        crate::error::check_len(OP, "output 1 (S)", s.len(), nb)?;
    }
    if let Some(a) = &out.abstain {
        crate::error::check_len(OP, "output 2 (abstain)", a.len(), nb)?;
    }
    if let Some(q) = &out.u_q {
        crate::error::check_len(OP, "output 3 (U_q)", q.len(), nb)?;
    }
    #[cfg(feature = "controller")]
    if opts.controller.is_some() && state.is_none() {
        return Err(OpError::Data {
            op: OP,
            port: Port::Output(OUTPUT_ABSTAIN as u8),
            name: "controller state",
            problem: "is required when option ctrl is true but was not provided",
        });
    }
    let CalibrateOutputs {
        u: u_out,
        mut s,
        mut abstain,
        mut u_q,
    } = out;
    for n in 0..nb {
        let mut score = 0.0f32;
        for (w, e) in opts.weights[..opts.taps].iter().zip(ebar.iter()) {
            score += w * e[n];
        }
        let (c, margin) = confidence_margin(opts.cls, &cls, n * l, l, opts.cls_scale, opts.cls_zp);
        let m = opts.alpha * (1.0 - c) + (1.0 - opts.alpha) * (1.0 - margin);
        let u = match opts.mapping {
            Mapping::Logistic { beta } => sigmoid(beta[0] + beta[1] * score + beta[2] * m),
            #[cfg(feature = "isotonic")]
            Mapping::Isotonic { gamma } => {
                let psi = gamma * score + (1.0 - gamma) * m;
                // Checked above: table is Some and valid.
                table.map_or(0.0, |t| isotonic_lookup(t, plan.table_len, psi))
            }
            // Compiled out: rejected by `validate` above (NaN would mean "abstain").
            #[cfg(not(feature = "isotonic"))]
            Mapping::Isotonic { .. } => f32::NAN,
            Mapping::Classwise => {
                let mut feats = [0f32; limits::MAX_TAPS * (1 + crate::project::STATS_PER_SAMPLE)];
                let mut k = 0;
                for e in &ebar[..opts.taps] {
                    feats[k] = classwise_ln_ebar(e[n]);
                    k += 1;
                }
                for st in &stats[..opts.stats] {
                    let at = n * crate::project::STATS_PER_SAMPLE;
                    for v in &st[at..at + crate::project::STATS_PER_SAMPLE] {
                        feats[k] = *v;
                        k += 1;
                    }
                }
                let class = predicted_class(&cls, n * l, l);
                let lc = classwise_l(c);
                // Checked above: the table is Some with 2·width finite values.
                table.map_or(f32::NAN, |t| {
                    sigmoid(classwise_logit(t, l, class, lc, &feats[..k]))
                })
            }
        };
        let u = if u.is_nan() {
            1.0
        } else {
            crate::quant::clamp_f32(u, 0.0, 1.0)
        };
        #[cfg(feature = "controller")]
        let flag = match (&opts.controller, state.as_deref_mut()) {
            (Some(p), Some(st)) => st.step(u, p),
            _ => u >= opts.tau,
        };
        #[cfg(not(feature = "controller"))]
        let flag = u >= opts.tau;
        u_out[n] = u;
        if let Some(s) = s.as_deref_mut() {
            s[n] = score;
        }
        if let Some(a) = abstain.as_deref_mut() {
            a[n] = flag as u8;
        }
        if let Some(q) = u_q.as_deref_mut() {
            q[n] = libm::roundf(u * 255.0) as u8;
        }
    }
    Ok(())
}

/// Cost per sample: `T + L` MACs (+ L exps for logits, + log2 n compares for isotonic, + 2F
/// MACs and T logs for classwise); parameters `8n` bytes (isotonic or classwise table of width
/// n); state 12 bytes with the controller.
pub const fn cost(opts: &CalibrateOptions, table_len: usize) -> Cost {
    Cost {
        macs: (opts.taps
            + opts.classes
            + 4
            + match opts.mapping {
                Mapping::Classwise => 2 * opts.classwise_features(),
                _ => 0,
            }) as u64,
        param_bytes: match opts.mapping {
            Mapping::Isotonic { .. } | Mapping::Classwise => 8 * table_len as u64,
            Mapping::Logistic { .. } => 0,
        },
        scratch_bytes: 0,
        state_bytes: if opts.controller.is_some() {
            crate::controller::STATE_BYTES as u64
        } else {
            0
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(mapping: Mapping, ctrl: Option<ControllerParams>) -> CalibrateOptions {
        let mut weights = [0f32; limits::MAX_TAPS];
        weights[0] = 0.75;
        weights[1] = 0.25;
        CalibrateOptions {
            stats: 0,
            taps: 2,
            weights,
            classes: 2,
            cls: ClassifierKind::Probs,
            cls_scale: 1.0 / 256.0,
            cls_zp: -128,
            alpha: 0.5,
            mapping,
            tau: 0.5,
            controller: ctrl,
        }
    }

    #[test]
    fn hand_computed_logistic_and_outputs() {
        let o = opts(
            Mapping::Logistic {
                beta: [-1.0, 2.0, 4.0],
            },
            None,
        );
        let plan = CalibratePlan {
            batch: 1,
            cls_dtype: DType::Int8,
            table_len: 0,
            num_outputs: 4,
        };
        // p = [0.75, 0.25] → C = 0.75, margin = 0.5, m = 0.5·0.25 + 0.5·0.5 = 0.375.
        let cls = [64i8, -64];
        let (e0, e1) = ([1.0f32], [3.0f32]);
        let (mut u, mut s, mut a, mut q) = ([0f32], [0f32], [9u8], [0u8]);
        eval(
            &o,
            &plan,
            &[&e0, &e1],
            ClassifierData::I8(&cls),
            None,
            None,
            CalibrateOutputs {
                u: &mut u,
                s: Some(&mut s),
                abstain: Some(&mut a),
                u_q: Some(&mut q),
            },
        )
        .unwrap();
        assert_eq!(s[0], 1.5);
        let want = 1.0 / (1.0 + (-(-1.0 + 3.0 + 1.5f64)).exp());
        assert!((u[0] as f64 - want).abs() < 1e-6);
        assert_eq!(a[0], 1);
        assert_eq!(q[0], (want * 255.0).round() as u8);
    }

    #[test]
    fn logits_and_float_classifier_agree() {
        let l = [2.0f32, 0.5, -1.0];
        let (c, m) = confidence_margin(
            ClassifierKind::Logits,
            &ClassifierData::F32(&l),
            0,
            3,
            1.0,
            0,
        );
        let e: [f64; 3] = [2.0f64.exp(), 0.5f64.exp(), (-1.0f64).exp()];
        let sum: f64 = e.iter().sum();
        assert!((c as f64 - e[0] / sum).abs() < 1e-6);
        assert!((m as f64 - (e[0] - e[1]) / sum).abs() < 1e-6);
        // Same logits quantized as uint8 with scale 0.5, zp 100.
        let q = [104u8, 101, 98];
        let (c2, m2) = confidence_margin(
            ClassifierKind::Logits,
            &ClassifierData::U8(&q),
            0,
            3,
            0.5,
            100,
        );
        assert!((c - c2).abs() < 1e-6 && (m - m2).abs() < 1e-6);
    }

    #[test]
    #[cfg(not(all(feature = "isotonic", feature = "controller")))]
    fn compiled_out_mapping_and_controller_name_their_feature() {
        let p = ControllerParams {
            budget: 0.1,
            eta: 0.5,
            kappa: 0.5,
            tau_min: 0.0,
            tau_max: 1.0,
        };
        let logistic = Mapping::Logistic {
            beta: [0.0, 1.0, 0.0],
        };
        for (o, key, feature) in [
            (
                opts(Mapping::Isotonic { gamma: 1.0 }, None),
                keys::MAPPING,
                "isotonic",
            ),
            (opts(logistic, Some(p)), keys::CTRL, "controller"),
        ] {
            if (feature == "isotonic" && cfg!(feature = "isotonic"))
                || (feature == "controller" && cfg!(feature = "controller"))
            {
                continue;
            }
            let want = OpError::Unsupported {
                op: OP,
                key,
                feature,
            };
            assert_eq!(o.validate(), Err(want));
            // The options a converter writes for it (`to_flexbuffer` needs `std`, which turns
            // every feature on).
            let mut b = flexbuffers::Builder::default();
            let mut m = b.start_map();
            m.push(keys::TAPS, 2);
            let mut v = m.start_vector(keys::WEIGHTS);
            v.push(0.75f32);
            v.push(0.25f32);
            v.end_vector();
            m.push(keys::CLASSES, 2);
            let mut v = m.start_vector(keys::BETA);
            for x in [0.0f32, 1.0, 0.0] {
                v.push(x);
            }
            v.end_vector();
            if feature == "isotonic" {
                m.push(keys::MAPPING, "isotonic");
            } else {
                m.push(keys::CTRL, true);
                m.push(keys::BUDGET, 0.1f32);
            }
            m.end_map();
            assert_eq!(CalibrateOptions::parse(b.view()), Err(want));
            assert!(want.message().as_str().contains(feature));
        }
    }

    #[test]
    #[cfg(all(feature = "isotonic", feature = "controller"))]
    fn isotonic_steps_and_controller_state_persist() {
        let table = [0.0f32, 1.0, 2.0, 0.1, 0.5, 0.9];
        assert_eq!(isotonic_lookup(&table, 3, -1.0), 0.1);
        assert_eq!(isotonic_lookup(&table, 3, 0.0), 0.1);
        assert_eq!(isotonic_lookup(&table, 3, 1.0), 0.5);
        assert_eq!(isotonic_lookup(&table, 3, 1.5), 0.5);
        assert_eq!(isotonic_lookup(&table, 3, 7.0), 0.9);
        let p = ControllerParams {
            budget: 0.1,
            eta: 0.5,
            kappa: 0.5,
            tau_min: 0.0,
            tau_max: 1.0,
        };
        let o = opts(Mapping::Isotonic { gamma: 1.0 }, Some(p));
        let plan = CalibratePlan {
            batch: 2,
            cls_dtype: DType::Int8,
            table_len: 3,
            num_outputs: 3,
        };
        let mut st = o.initial_state().unwrap();
        let e = [5.0f32, 5.0]; // S = 5 → U = 0.9 for both samples
        let cls = [0i8, 0, 0, 0];
        let mut flags = [0u8; 2];
        let mut u = [0f32; 2];
        let mut run = |st: &mut ControllerState, flags: &mut [u8; 2]| {
            eval(
                &o,
                &plan,
                &[&e, &e],
                ClassifierData::I8(&cls),
                Some(&table),
                Some(st),
                CalibrateOutputs {
                    u: &mut u,
                    s: None,
                    abstain: Some(flags),
                    u_q: None,
                },
            )
            .unwrap();
        };
        run(&mut st, &mut flags);
        // τ0 = 0.5: abstain; Ā = 0.5, τ = 0.5 + 0.5·0.4 = 0.7; abstain; Ā = 0.75, τ = 1.0.
        assert_eq!(flags, [1, 1]);
        assert!((st.tau - 1.0).abs() < 1e-6);
        run(&mut st, &mut flags);
        // τ = 1.0 > 0.9: no abstention while Ā decays.
        assert_eq!(flags, [0, 0]);
        assert_eq!(st.steps, 4);
        st.reset(o.tau, &p);
        run(&mut st, &mut flags);
        assert_eq!(flags, [1, 1]);
        // Without state the controller refuses to run.
        let err = eval(
            &o,
            &plan,
            &[&e, &e],
            ClassifierData::I8(&cls),
            Some(&table),
            None,
            CalibrateOutputs {
                u: &mut u,
                s: None,
                abstain: None,
                u_q: None,
            },
        )
        .unwrap_err();
        assert!(err.message().as_str().contains("controller state"));
    }

    #[test]
    fn hand_computed_classwise_with_stats() {
        let mut o = opts(Mapping::Classwise, None);
        o.stats = 1;
        assert_eq!(o.num_inputs(), 2 + 1 + 1 + 1);
        assert_eq!(o.classwise_features(), 4);
        #[cfg(feature = "std")]
        assert_eq!(CalibrateOptions::parse(&o.to_flexbuffer()).unwrap(), o);
        // Width 2 classes + 4 features: row a = [a0, a1, g0..g3], row b = [b0, b1, h0..h3].
        let table = [
            0.5f32, -1.0, 0.1, 0.2, 0.3, 0.4, //
            2.0, 3.0, 0.0, 0.5, 0.0, -0.25,
        ];
        let descs = [
            Some(TensorDesc::new(DType::Float32, &[1])),
            Some(TensorDesc::new(DType::Float32, &[1])),
            Some(TensorDesc::new(DType::Int8, &[1, 2])),
            Some(TensorDesc::new(DType::Float32, &[2, 6])),
            Some(TensorDesc::new(DType::Float32, &[1, 2])),
        ];
        let plan = prepare(&o, &descs, &[TensorDesc::new(DType::Float32, &[1])]).unwrap();
        assert_eq!(plan.table_len, 6);
        // Class 1 wins (p = [0.25, 0.75]): C = 0.75, L = ln(0.25 + 1e-4).
        let cls = [-64i8, 64];
        let (e0, e1, st) = ([1.0f32], [3.0f32], [0.5f32, -2.0]);
        // U of the one sample with a given table (Err when the kernel refuses it).
        let run = |table: &[f32]| -> Result<f32, OpError> {
            let mut u = [0f32];
            eval_with_stats(
                &o,
                &plan,
                &[&e0, &e1],
                ClassifierData::I8(&cls),
                Some(table),
                &[&st],
                None,
                CalibrateOutputs {
                    u: &mut u,
                    s: None,
                    abstain: None,
                    u_q: None,
                },
            )
            .map(|()| u[0])
        };
        let u = [run(&table).unwrap()];
        let l = (0.25f64 + 1e-4).ln();
        let f = [(1.0f64 + 1e-6).ln(), (3.0f64 + 1e-6).ln(), 0.5, -2.0];
        let (g, h) = ([0.1, 0.2, 0.3, 0.4], [0.0, 0.5, 0.0, -0.25]);
        let mut z = -1.0 + 3.0 * l;
        for j in 0..4 {
            z += (g[j] + h[j] * l) * f[j];
        }
        let want = 1.0 / (1.0 + (-z).exp());
        assert!((u[0] as f64 - want).abs() < 1e-5, "{} vs {want}", u[0]);
        // A table of the wrong width, stats without classwise, and a missing stats input fail.
        let mut short = descs;
        short[3] = Some(TensorDesc::new(DType::Float32, &[2, 5]));
        assert!(prepare(&o, &short, &[TensorDesc::new(DType::Float32, &[1])]).is_err());
        let mut lg = opts(Mapping::Logistic { beta: [0.0; 3] }, None);
        lg.stats = 1;
        assert!(lg.validate().is_err());
        let missing = [descs[0], descs[1], descs[2], descs[3], None];
        assert!(prepare(&o, &missing, &[TensorDesc::new(DType::Float32, &[1])]).is_err());
        let mut nan = table;
        nan[7] = f32::NAN;
        assert!(run(&nan).is_err());
    }
}
