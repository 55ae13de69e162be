//! What eval needs to know about the model and what one executor pass per record gives:
//! classifier values, logits, `U`/`S` (augmented models), pooled features at the SNAP taps
//! (for Mahalanobis) and the penultimate features in front of the final FULLY_CONNECTED
//! (for ReAct/ASH, together with that layer's dequantized weights as a [`LinearHead`]).
use anyhow::{anyhow, bail, Result};
use snapuq_eval::baselines::LinearHead;
use snapuq_exec::batch::run_batch;
use snapuq_model::{BuiltinOperator, Model, OpCode, TensorType};

use crate::pipeline::{self, Backbone};

/// Records per executor batch (bounds the raw tap bytes held at once).
const CHUNK: usize = 256;

/// An activation tensor read from every record, dequantized (and globally pooled if spatial).
#[derive(Debug, Clone)]
pub struct Tap {
    pub tensor: usize,
    pub name: String,
    /// Features per record after pooling (the channel count).
    pub dim: usize,
    /// Spatial positions averaged (1 for `[1, C]` tensors).
    spatial: usize,
    dtype: TensorType,
    scale: f32,
    zero_point: i32,
}

impl Tap {
    fn of(model: &Model, t: usize) -> Result<Tap> {
        let shape = model.tensor_shape(t);
        let dim = shape.last().copied().unwrap_or(1).max(1) as usize;
        let total: usize = shape.iter().map(|&d| d.max(1) as usize).product();
        let dtype = model
            .tensor_type(t)
            .ok_or_else(|| anyhow!("tensor {t} has no type"))?;
        let (scale, zero_point) = match dtype {
            TensorType::INT8 => {
                let q = model
                    .quantization(t)
                    .filter(|q| !q.scale.is_empty())
                    .ok_or_else(|| {
                        anyhow!("int8 tensor `{}` has no quantization", model.tensor_name(t))
                    })?;
                (
                    q.scale[0],
                    q.zero_point.first().copied().unwrap_or(0) as i32,
                )
            }
            TensorType::FLOAT32 => (1.0, 0),
            other => bail!(
                "tensor `{}` is {}; eval reads int8 or float32 activations",
                model.tensor_name(t),
                snapuq_model::dtype_name(other)
            ),
        };
        Ok(Tap {
            tensor: t,
            name: model.tensor_name(t).to_string(),
            dim,
            spatial: total / dim,
            dtype,
            scale,
            zero_point,
        })
    }

    /// Dequantized per-channel mean over spatial positions (NHWC: channel is the last axis).
    fn pooled(&self, raw: &[u8]) -> Vec<f64> {
        let vals: Vec<f64> = match self.dtype {
            TensorType::FLOAT32 => raw
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
                .collect(),
            _ => raw
                .iter()
                .map(|&b| self.scale as f64 * ((b as i8) as i32 - self.zero_point) as f64)
                .collect(),
        };
        let mut out = vec![0.0; self.dim];
        for row in vals.chunks_exact(self.dim) {
            for (o, v) in out.iter_mut().zip(row) {
                *o += v;
            }
        }
        out.iter_mut()
            .for_each(|o| *o /= self.spatial.max(1) as f64);
        out
    }
}

/// The final FULLY_CONNECTED: its input (penultimate features), output (logits) and weights.
#[derive(Debug, Clone)]
pub struct Head {
    pub features: Tap,
    pub logits: Tap,
    pub linear: LinearHead,
}

/// Model facts for eval.
pub struct ModelFacts {
    pub bb: Backbone,
    /// Output indices of `snapuq/U` and `snapuq/S`.
    pub u_output: Option<usize>,
    pub s_output: Option<usize>,
    /// Tap activations the SNAP_SURPRISAL ops read (`a_ℓ`), in model order.
    pub snap_taps: Vec<Tap>,
    pub head: Option<Head>,
}

/// Follows SOFTMAX / RESHAPE / (DE)QUANTIZE back from the classifier output to the
/// FULLY_CONNECTED that produces the logits.
fn final_fc(model: &Model, classifier: usize) -> Option<usize> {
    let mut t = classifier;
    for _ in 0..8 {
        let p = model.producer(t)?;
        match model.op_code(p)? {
            OpCode::Builtin(BuiltinOperator::FULLY_CONNECTED) => return Some(p),
            OpCode::Builtin(
                BuiltinOperator::SOFTMAX
                | BuiltinOperator::RESHAPE
                | BuiltinOperator::QUANTIZE
                | BuiltinOperator::DEQUANTIZE,
            ) => t = usize::try_from(*model.op_inputs(p).first()?).ok()?,
            _ => return None,
        }
    }
    None
}

fn head_of(model: &Model, fc: usize) -> Result<Head> {
    let ins = model.op_inputs(fc);
    let (x, w) = match ins {
        [x, w, ..] if *x >= 0 && *w >= 0 => (*x as usize, *w as usize),
        _ => bail!("the final FULLY_CONNECTED has no input/weights"),
    };
    let b = ins.get(2).copied().filter(|&b| b >= 0).map(|b| b as usize);
    let out = *model
        .op_outputs(fc)
        .first()
        .ok_or_else(|| anyhow!("the final FULLY_CONNECTED has no output"))? as usize;
    let features = Tap::of(model, x)?;
    let logits = Tap::of(model, out)?;
    let wshape = model.tensor_shape(w);
    let [out_dim, in_dim] = wshape else {
        bail!("final FULLY_CONNECTED weights have shape {wshape:?}, expected [out, in]");
    };
    let (out_dim, in_dim) = (*out_dim as usize, *in_dim as usize);
    let features = Tap {
        dim: in_dim,
        spatial: 1,
        ..features
    };
    let wdata = model
        .tensor_data(w)
        .ok_or_else(|| anyhow!("the final FULLY_CONNECTED weights are not constant"))?;
    let weights: Vec<f64> = match model.tensor_type(w) {
        Some(TensorType::INT8) => {
            let q = model
                .quantization(w)
                .ok_or_else(|| anyhow!("int8 FC weights without quantization"))?;
            wdata
                .iter()
                .enumerate()
                .map(|(k, &v)| {
                    let s = if q.scale.len() == out_dim {
                        q.scale[k / in_dim]
                    } else {
                        q.scale[0]
                    };
                    s as f64 * (v as i8) as f64
                })
                .collect()
        }
        Some(TensorType::FLOAT32) => wdata
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
            .collect(),
        _ => bail!("final FULLY_CONNECTED weights are neither int8 nor float32"),
    };
    let bias: Vec<f64> = match b {
        None => vec![0.0; out_dim],
        Some(b) => {
            let data = model.tensor_data(b).unwrap_or(&[]);
            match model.tensor_type(b) {
                Some(TensorType::INT32) => {
                    let q = model.quantization(b).unwrap_or_default();
                    data.chunks_exact(4)
                        .enumerate()
                        .map(|(c, v)| {
                            let s = q.scale.get(c).or(q.scale.first()).copied().unwrap_or(1.0);
                            s as f64 * i32::from_le_bytes([v[0], v[1], v[2], v[3]]) as f64
                        })
                        .collect()
                }
                Some(TensorType::FLOAT32) => data
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
                    .collect(),
                _ => bail!("final FULLY_CONNECTED bias is neither int32 nor float32"),
            }
        }
    };
    if weights.len() != out_dim * in_dim || bias.len() != out_dim {
        bail!("final FULLY_CONNECTED weights/bias sizes do not match its shape");
    }
    let linear = LinearHead::new(weights, bias, in_dim, out_dim).map_err(|e| anyhow!("{e}"))?;
    Ok(Head {
        features,
        logits,
        linear,
    })
}

impl ModelFacts {
    pub fn load(path: &std::path::Path) -> Result<ModelFacts> {
        let bb = Backbone::load(path)?;
        let m = &bb.model;
        let find = |name: &str| {
            m.outputs()
                .iter()
                .position(|&t| t >= 0 && m.tensor_name(t as usize) == name)
        };
        let (u_output, s_output) = (find("snapuq/U"), find("snapuq/S"));
        let mut snap_taps = Vec::new();
        for op in 0..m.operators().len() {
            if matches!(m.op_code(op), Some(OpCode::Custom(c)) if c == snapuq_model::SNAP_SURPRISAL)
            {
                if let Some(&t) = m.op_inputs(op).get(1).filter(|&&t| t >= 0) {
                    snap_taps.push(Tap::of(m, t as usize)?);
                }
            }
        }
        let head = match final_fc(m, bb.classifier.tensor) {
            Some(fc) => Some(head_of(m, fc)?),
            None => None,
        };
        Ok(ModelFacts {
            bb,
            u_output,
            s_output,
            snap_taps,
            head,
        })
    }

    pub fn classes(&self) -> usize {
        self.bb.classifier.classes
    }
}

/// Everything one pass over the records produced (flat row-major per record).
pub struct Outputs {
    /// Classifier output values (probabilities or logits, as the model emits them).
    pub classifier: Vec<f64>,
    /// Logits: the final FC output when found, else the classifier values (logits models) or
    /// `ln p` (probability models without a recognisable FC).
    pub logits: Vec<f64>,
    pub u: Option<Vec<f64>>,
    pub s: Option<Vec<f64>>,
    /// Pooled features per SNAP tap (`n * dim`).
    pub taps: Vec<Vec<f64>>,
    /// Penultimate features (`n * in_dim`) when the head was found.
    pub penultimate: Option<Vec<f64>>,
}

fn f32_at(b: &[u8]) -> f64 {
    b.get(..4).map_or(f64::NAN, |c| {
        f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64
    })
}

/// Runs the model once per input, keeping only what eval needs.
pub fn collect(facts: &ModelFacts, inputs: &[Vec<u8>]) -> Result<Outputs> {
    let per = facts.bb.input.elements();
    if let Some((i, s)) = inputs.iter().enumerate().find(|(_, s)| s.len() != per) {
        bail!(
            "record {i} has {} input values but the model input {:?} needs {per}",
            s.len(),
            facts.bb.input.shape
        );
    }
    let resolver = pipeline::resolver()?;
    let mut tensors: Vec<usize> = facts.snap_taps.iter().map(|t| t.tensor).collect();
    if let Some(h) = &facts.head {
        tensors.push(h.features.tensor);
        tensors.push(h.logits.tensor);
    }
    let n = inputs.len();
    let classes = facts.classes();
    let mut out = Outputs {
        classifier: Vec::with_capacity(n * classes),
        logits: Vec::with_capacity(n * classes),
        u: facts.u_output.map(|_| Vec::with_capacity(n)),
        s: facts.s_output.map(|_| Vec::with_capacity(n)),
        taps: vec![Vec::new(); facts.snap_taps.len()],
        penultimate: facts.head.as_ref().map(|_| Vec::new()),
    };
    let bar = pipeline::progress(n as u64, "eval");
    for chunk in inputs.chunks(CHUNK) {
        let res = run_batch(&facts.bb.bytes, &resolver, chunk, &tensors)
            .map_err(|e| anyhow!("executor failed: {e}"))?;
        for r in res {
            let cls = r
                .outputs
                .get(facts.bb.classifier.output)
                .ok_or_else(|| anyhow!("the executor returned no classifier output"))?;
            let values: Vec<f64> = facts
                .bb
                .classifier
                .values(cls)
                .into_iter()
                .map(f64::from)
                .collect();
            if let (Some(k), Some(u)) = (facts.u_output, out.u.as_mut()) {
                u.push(f32_at(&r.outputs[k]));
            }
            if let (Some(k), Some(s)) = (facts.s_output, out.s.as_mut()) {
                s.push(f32_at(&r.outputs[k]));
            }
            for (k, tap) in facts.snap_taps.iter().enumerate() {
                out.taps[k].extend(tap.pooled(&r.taps[k]));
            }
            match &facts.head {
                Some(h) => {
                    let k = facts.snap_taps.len();
                    if let Some(p) = out.penultimate.as_mut() {
                        p.extend(h.features.pooled(&r.taps[k]));
                    }
                    out.logits.extend(h.logits.pooled(&r.taps[k + 1]));
                }
                None if facts.bb.classifier.probs => {
                    out.logits.extend(values.iter().map(|p| p.max(1e-6).ln()))
                }
                None => out.logits.extend(values.iter().copied()),
            }
            out.classifier.extend(values);
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    if out.logits.len() != n * classes {
        bail!(
            "the logits tensor has {} values per sample but the classifier has {classes} classes",
            out.logits.len() / n.max(1)
        );
    }
    Ok(out)
}
