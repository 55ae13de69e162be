//! Cost figures and tap-point discovery for reports and for the converter's budget.
//!
//! MACs count multiply-accumulates of the operators that have weights:
//! CONV_2D `out_elems × kh × kw × cin_per_group`, DEPTHWISE_CONV_2D `out_elems × kh × kw`,
//! FULLY_CONNECTED `batch × units × in_features` (= out_elems × in_features). Custom operators
//! count one MAC per element of each constant int8 matrix (rank ≥ 2) they take, which is what
//! the SNAP projection and heads cost per sample. Everything else has 0 MACs and reports its
//! arithmetic as element operations (`ops`): pooling `out_elems × window`, MEAN the input
//! elements, element-wise and activation operators their output elements, data movement
//! (RESHAPE, PAD, CONCATENATION) 0.
use crate::opcode::OpCode;
use crate::query::element_count;
use crate::Model;
use snapuq_schema::tflite::{BuiltinOperator as B, BuiltinOptionsT, TensorType};
use std::collections::{BTreeSet, HashSet};

/// Arithmetic cost of one operator for one inference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OpCost {
    /// Multiply-accumulates (weighted operators only).
    pub macs: u64,
    /// Other element operations (see the module doc).
    pub ops: u64,
}

/// A tensor where a SNAP tap can be attached: the end of a block.
#[derive(Debug, Clone, PartialEq)]
pub struct TapCandidate {
    /// The block's output activation a_ℓ.
    pub tensor: usize,
    pub name: String,
    pub shape: Vec<i32>,
    /// Channels of a_ℓ (last dimension).
    pub channels: usize,
    /// Operator that writes a_ℓ.
    pub producer: usize,
    pub producer_name: String,
    /// Why it qualifies: `residual` (ADD of two activations), `block` (weighted or pooling
    /// operator whose consumer starts a new block), `branch` (read by several operators) or
    /// `dense` (FULLY_CONNECTED feeding another one).
    pub kind: &'static str,
    /// The activation that enters the block, a_{ℓ-1}, which SNAP_PROJECT reads.
    pub prev_tensor: usize,
    pub prev_channels: usize,
}

fn dims(s: &[i32]) -> u64 {
    element_count(s).unwrap_or(0) as u64
}

impl Model {
    /// Cost of operator `op` (see the module doc for the formulas).
    pub fn op_cost(&self, op: usize) -> OpCost {
        let ins = self.op_inputs(op);
        let outs = self.op_outputs(op);
        let shape = |i: Option<&i32>| match i {
            Some(&i) if i >= 0 => self.tensor_shape(i as usize),
            _ => &[],
        };
        let out_elems = dims(shape(outs.first()));
        let w = shape(ins.get(1));
        let code = self.op_code(op);
        let mut c = OpCost::default();
        match code {
            Some(OpCode::Builtin(b)) => match b {
                B::CONV_2D if w.len() == 4 => {
                    c.macs = out_elems.saturating_mul(dims(&w[1..4]));
                }
                B::DEPTHWISE_CONV_2D if w.len() == 4 => {
                    c.macs = out_elems.saturating_mul(dims(&w[1..3]));
                }
                B::FULLY_CONNECTED if w.len() == 2 => {
                    c.macs = out_elems.saturating_mul(w[1].max(0) as u64);
                }
                B::AVERAGE_POOL_2D | B::MAX_POOL_2D => {
                    let window = match self.op_options(op) {
                        Some(BuiltinOptionsT::Pool2DOptions(p)) => {
                            (p.filter_height.max(0) as u64) * (p.filter_width.max(0) as u64)
                        }
                        _ => 1,
                    };
                    c.ops = out_elems.saturating_mul(window);
                }
                B::MEAN => c.ops = dims(shape(ins.first())),
                B::RESHAPE | B::PAD | B::CONCATENATION => {}
                _ => c.ops = out_elems,
            },
            Some(OpCode::Custom(_)) => {
                for &i in ins.iter().filter(|&&i| i >= 0) {
                    let s = self.tensor_shape(i as usize);
                    if self.is_constant(i as usize)
                        && s.len() >= 2
                        && self.tensor_type(i as usize) == Some(TensorType::INT8)
                    {
                        c.macs = c.macs.saturating_add(dims(s));
                    }
                }
                c.ops = out_elems;
            }
            None => {}
        }
        c
    }

    /// Sum of [`Model::op_cost`] over the main graph.
    pub fn total_cost(&self) -> OpCost {
        (0..self.operators().len()).fold(OpCost::default(), |acc, op| {
            let c = self.op_cost(op);
            OpCost {
                macs: acc.macs.saturating_add(c.macs),
                ops: acc.ops.saturating_add(c.ops),
            }
        })
    }

    /// Bytes of constant data the main graph uses (each buffer counted once).
    pub fn parameter_bytes(&self) -> usize {
        let buffers: BTreeSet<u32> = (0..self.tensors().len())
            .filter(|&i| self.is_constant(i))
            .filter_map(|i| self.tensor(i).map(|t| t.buffer))
            .collect();
        buffers
            .iter()
            .filter_map(|&b| self.buffer_data(b as usize))
            .map(<[u8]>::len)
            .sum()
    }

    /// Constant bytes read by operator `op`.
    pub fn op_parameter_bytes(&self, op: usize) -> usize {
        self.op_inputs(op)
            .iter()
            .filter(|&&i| i >= 0)
            .filter_map(|&i| self.tensor_data(i as usize))
            .map(<[u8]>::len)
            .sum()
    }

    /// First non-constant input of `op`.
    fn activation_input(&self, op: usize) -> Option<usize> {
        self.op_inputs(op)
            .iter()
            .filter(|&&i| i >= 0)
            .map(|&i| i as usize)
            .find(|&i| !self.is_constant(i))
    }

    /// Activation tensors `t` depends on, itself included.
    fn ancestors(&self, t: usize) -> HashSet<usize> {
        let mut seen = HashSet::new();
        let mut stack = vec![t];
        while let Some(x) = stack.pop() {
            if !seen.insert(x) {
                continue;
            }
            if let Some(p) = self.producer(x) {
                for &i in self.op_inputs(p) {
                    if i >= 0 && !self.is_constant(i as usize) {
                        stack.push(i as usize);
                    }
                }
            }
        }
        seen
    }

    /// Input of a residual block ending in ADD `op`: the latest activation both addends depend
    /// on (the tensor where the block forks into the main and the skip path).
    fn residual_input(&self, op: usize) -> Option<usize> {
        let ins: Vec<usize> = self
            .op_inputs(op)
            .iter()
            .filter(|&&i| i >= 0)
            .map(|&i| i as usize)
            .collect();
        let (a, b) = (*ins.first()?, *ins.get(1)?);
        let common: Vec<usize> = self
            .ancestors(a)
            .intersection(&self.ancestors(b))
            .copied()
            .collect();
        common
            .into_iter()
            .max_by_key(|&t| self.producer(t).map_or(-1, |p| p as i64))
    }

    /// Candidate tap points, in execution order. The heuristic, for int8 activations:
    /// - `residual`: the output of an ADD of two activations ends a residual block; its block
    ///   input is where the two paths fork.
    /// - `block`: the output of CONV_2D, DEPTHWISE_CONV_2D or a pooling operator whose only
    ///   consumer starts a new block: a DEPTHWISE_CONV_2D (depthwise-separable stacks), a pooling
    ///   operator or MEAN (downsampling, or the classifier head's global pool).
    /// - `branch`: such an output that several operators read (e.g. a stem feeding both paths
    ///   of a residual block).
    /// - `dense`: a FULLY_CONNECTED output feeding another FULLY_CONNECTED (MLP stacks).
    ///
    /// For non-residual candidates the block input is the producer's activation input.
    pub fn tap_candidates(&self) -> Vec<TapCandidate> {
        let mut out = Vec::new();
        for op in 0..self.operators().len() {
            let Some(OpCode::Builtin(b)) = self.op_code(op) else {
                continue;
            };
            let Some(&t) = self.op_outputs(op).first() else {
                continue;
            };
            let t = t as usize;
            if self.tensor_type(t) != Some(TensorType::INT8) {
                continue;
            }
            let consumers = self.consumers(t);
            let consumer_codes: Vec<Option<B>> = consumers
                .iter()
                .map(|&c| self.op_code(c).and_then(|c| c.builtin()))
                .collect();
            let (kind, prev) = match b {
                B::ADD => {
                    let ins = self.op_inputs(op);
                    let both_act = ins.len() == 2
                        && ins.iter().all(|&i| i >= 0 && !self.is_constant(i as usize));
                    if !both_act {
                        continue;
                    }
                    ("residual", self.residual_input(op))
                }
                B::CONV_2D | B::DEPTHWISE_CONV_2D | B::AVERAGE_POOL_2D | B::MAX_POOL_2D => {
                    if consumers.len() > 1 {
                        ("branch", self.activation_input(op))
                    } else if matches!(
                        consumer_codes.first(),
                        Some(Some(
                            B::DEPTHWISE_CONV_2D | B::AVERAGE_POOL_2D | B::MAX_POOL_2D | B::MEAN
                        ))
                    ) {
                        ("block", self.activation_input(op))
                    } else {
                        continue;
                    }
                }
                B::FULLY_CONNECTED => {
                    if consumer_codes.contains(&Some(B::FULLY_CONNECTED)) {
                        ("dense", self.activation_input(op))
                    } else {
                        continue;
                    }
                }
                _ => continue,
            };
            let Some(prev) = prev else {
                continue;
            };
            let channel = |t: usize| {
                self.tensor_shape(t)
                    .last()
                    .map_or(0, |&c| c.max(0) as usize)
            };
            out.push(TapCandidate {
                tensor: t,
                name: self.tensor_name(t).to_string(),
                shape: self.tensor_shape(t).to_vec(),
                channels: channel(t),
                producer: op,
                producer_name: self.op_name(op),
                kind,
                prev_tensor: prev,
                prev_channels: channel(prev),
            });
        }
        out
    }
}
