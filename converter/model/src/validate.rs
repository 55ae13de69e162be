//! Can the snapuq executor run this model? Checks, in this order: index integrity, supported
//! operators, full-integer quantization (no float or hybrid compute), operand counts and the
//! shapes the kernels rely on, constant buffer sizes, and execution order. The first problem
//! found is returned, naming the operator or tensor index.
use crate::opcode::{supported_list, OpCode};
use crate::query::{dtype_name, dtype_size, element_count};
use crate::{check, Model, ModelError};
use snapuq_schema::tflite::{BuiltinOperator as B, TensorType};
use std::collections::HashSet;

/// Accepted (min, max) input counts and exact output count of each builtin we run.
fn arity(b: B) -> Option<(usize, usize, usize)> {
    Some(match b {
        B::CONV_2D | B::DEPTHWISE_CONV_2D | B::FULLY_CONNECTED => (2, 3, 1),
        B::AVERAGE_POOL_2D | B::MAX_POOL_2D => (1, 1, 1),
        B::ADD | B::MUL | B::MEAN | B::PAD => (2, 2, 1),
        B::RESHAPE => (1, 2, 1),
        B::CONCATENATION => (1, usize::MAX, 1),
        B::SOFTMAX | B::QUANTIZE | B::DEQUANTIZE | B::RELU | B::RELU6 | B::LOGISTIC => (1, 1, 1),
        _ => return None,
    })
}

/// How many leading inputs may not be left out (-1): everything except the bias of
/// CONV/DEPTHWISE/FC and the shape operand of RESHAPE.
fn required_inputs(b: B) -> usize {
    match b {
        B::CONV_2D | B::DEPTHWISE_CONV_2D | B::FULLY_CONNECTED => 2,
        B::RESHAPE => 1,
        _ => usize::MAX,
    }
}

fn is_float(t: TensorType) -> bool {
    matches!(
        t,
        TensorType::FLOAT32 | TensorType::FLOAT16 | TensorType::FLOAT64 | TensorType::BFLOAT16
    )
}

/// Types the executor's kernels read or write.
fn type_supported(t: TensorType) -> bool {
    matches!(
        t,
        TensorType::INT8
            | TensorType::UINT8
            | TensorType::INT16
            | TensorType::INT32
            | TensorType::INT64
            | TensorType::FLOAT32
            | TensorType::BOOL
    )
}

impl Model {
    /// Checks that the snapuq executor can run the main graph exactly as TFLM would (see the
    /// module doc for the checks and their order).
    pub fn validate(&self) -> Result<(), ModelError> {
        check::structure(&self.t)?;
        let n_ops = self.operators().len();
        for op in 0..n_ops {
            let code = self
                .op_code(op)
                .ok_or_else(|| ModelError::bad_index(format!("operator {op} opcode"), -1, 0))?;
            if !code.is_supported() {
                return Err(ModelError::UnsupportedOp {
                    op,
                    op_name: code.to_string(),
                    supported: supported_list(),
                });
            }
        }
        for op in 0..n_ops {
            self.check_types(op)?;
        }
        for op in 0..n_ops {
            self.check_operands(op)?;
        }
        self.check_buffers()?;
        self.check_order()
    }

    fn tensor_label(&self, t: usize) -> String {
        let n = self.tensor_name(t);
        if n.is_empty() {
            format!("#{t}")
        } else {
            n.to_string()
        }
    }

    fn check_types(&self, op: usize) -> Result<(), ModelError> {
        let code = self.op_code(op).unwrap_or(OpCode::Custom(String::new()));
        let op_name = code.to_string();
        let ins: Vec<usize> = self
            .op_inputs(op)
            .iter()
            .filter(|&&i| i >= 0)
            .map(|&i| i as usize)
            .collect();
        let outs: Vec<usize> = self.op_outputs(op).iter().map(|&i| i as usize).collect();
        for &t in ins.iter().chain(&outs) {
            let ty = self.tensor_type(t).unwrap_or_default();
            if !type_supported(ty) {
                return Err(ModelError::UnsupportedType {
                    tensor: t,
                    name: self.tensor_label(t),
                    dtype: dtype_name(ty),
                });
            }
        }
        // The SNAP ops take float scalars/LUT constants and emit float U by design; QUANTIZE
        // may read float input and DEQUANTIZE may write float output at the model's edges.
        let exempt_in = matches!(code, OpCode::Custom(_)) || code.builtin() == Some(B::QUANTIZE);
        let exempt_out = matches!(code, OpCode::Custom(_)) || code.builtin() == Some(B::DEQUANTIZE);
        let int8_weights = ins
            .iter()
            .any(|&t| self.is_constant(t) && self.tensor_type(t) == Some(TensorType::INT8));
        let float_act = ins
            .iter()
            .filter(|_| !exempt_in)
            .chain(outs.iter().filter(|_| !exempt_out))
            .copied()
            .find(|&t| !self.is_constant(t) && is_float(self.tensor_type(t).unwrap_or_default()));
        if let Some(t) = float_act {
            let (tensor, tensor_name) = (t, self.tensor_label(t));
            return Err(if int8_weights {
                ModelError::HybridModel {
                    op,
                    op_name,
                    tensor,
                    tensor_name,
                }
            } else {
                ModelError::FloatModel {
                    op,
                    op_name,
                    tensor,
                    tensor_name,
                }
            });
        }
        // Float weights on an integer compute op are a float model too.
        if matches!(
            code.builtin(),
            Some(B::CONV_2D | B::DEPTHWISE_CONV_2D | B::FULLY_CONNECTED)
        ) {
            if let Some(&w) = ins.get(1) {
                if is_float(self.tensor_type(w).unwrap_or_default()) {
                    return Err(ModelError::FloatModel {
                        op,
                        op_name,
                        tensor: w,
                        tensor_name: self.tensor_label(w),
                    });
                }
            }
        }
        Ok(())
    }

    fn check_operands(&self, op: usize) -> Result<(), ModelError> {
        let Some(OpCode::Builtin(b)) = self.op_code(op) else {
            return Ok(());
        };
        let op_name = crate::opcode::builtin_name(b);
        let Some((lo, hi, n_out)) = arity(b) else {
            return Ok(());
        };
        let ins = self.op_inputs(op);
        let outs = self.op_outputs(op);
        let count_err = |what, found, expected: String| ModelError::OperandCount {
            op,
            op_name: op_name.clone(),
            what,
            found,
            expected,
        };
        if ins.len() < lo || ins.len() > hi {
            let expected = if lo == hi {
                lo.to_string()
            } else if hi == usize::MAX {
                format!("at least {lo}")
            } else {
                format!("{lo} to {hi}")
            };
            return Err(count_err("inputs", ins.len(), expected));
        }
        if outs.len() != n_out {
            return Err(count_err("outputs", outs.len(), n_out.to_string()));
        }
        if let Some(k) = ins.iter().take(required_inputs(b)).position(|&i| i < 0) {
            return Err(ModelError::Shape {
                op,
                op_name,
                detail: format!("required input {k} is left out (-1)"),
            });
        }
        let shape_err = |detail: String| ModelError::Shape {
            op,
            op_name: op_name.clone(),
            detail,
        };
        let shape = |i: i32| self.tensor_shape(i as usize);
        match b {
            B::CONV_2D | B::DEPTHWISE_CONV_2D => {
                let (x, w, y) = (shape(ins[0]), shape(ins[1]), shape(outs[0]));
                if x.len() != 4 || w.len() != 4 || y.len() != 4 {
                    return Err(shape_err(format!(
                        "input {x:?}, filter {w:?} and output {y:?} must all be 4-D (NHWC)"
                    )));
                }
                let cout = if b == B::CONV_2D { w[0] } else { w[3] };
                if y[3] != cout {
                    return Err(shape_err(format!(
                        "output has {} channels but the filter {w:?} makes {cout}",
                        y[3]
                    )));
                }
                if b == B::CONV_2D && (w[3] <= 0 || x[3] % w[3] != 0) {
                    return Err(shape_err(format!(
                        "input channels {} are not a multiple of the filter's {}",
                        x[3], w[3]
                    )));
                }
                if b == B::DEPTHWISE_CONV_2D && (x[3] <= 0 || w[3] % x[3] != 0) {
                    return Err(shape_err(format!(
                        "filter channels {} are not a multiple of the input's {}",
                        w[3], x[3]
                    )));
                }
                self.check_bias(op, &op_name, ins, cout)?;
                self.check_channel_scales(op, &op_name, ins[1], cout)?;
            }
            B::FULLY_CONNECTED => {
                let (x, w, y) = (shape(ins[0]), shape(ins[1]), shape(outs[0]));
                if w.len() != 2 {
                    return Err(shape_err(format!("weights {w:?} must be 2-D")));
                }
                let xin = element_count(x).unwrap_or(0);
                if w[1] <= 0 || !xin.is_multiple_of(w[1] as usize) {
                    return Err(shape_err(format!(
                        "input {x:?} does not split into rows of {} features",
                        w[1]
                    )));
                }
                if y.last() != Some(&w[0]) {
                    return Err(shape_err(format!(
                        "output {y:?} does not end in the weights' {} units",
                        w[0]
                    )));
                }
                self.check_bias(op, &op_name, ins, w[0])?;
                self.check_channel_scales(op, &op_name, ins[1], w[0])?;
            }
            B::AVERAGE_POOL_2D | B::MAX_POOL_2D => {
                let (x, y) = (shape(ins[0]), shape(outs[0]));
                if x.len() != 4 || y.len() != 4 || x[3] != y[3] {
                    return Err(shape_err(format!(
                        "input {x:?} and output {y:?} must be 4-D with equal channels"
                    )));
                }
            }
            B::RESHAPE
            | B::QUANTIZE
            | B::DEQUANTIZE
            | B::RELU
            | B::RELU6
            | B::LOGISTIC
            | B::SOFTMAX => {
                let (x, y) = (shape(ins[0]), shape(outs[0]));
                if element_count(x) != element_count(y) {
                    return Err(shape_err(format!(
                        "input {x:?} and output {y:?} have different element counts"
                    )));
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn check_bias(
        &self,
        op: usize,
        op_name: &str,
        ins: &[i32],
        cout: i32,
    ) -> Result<(), ModelError> {
        if let Some(&bias) = ins.get(2).filter(|&&i| i >= 0) {
            let n = element_count(self.tensor_shape(bias as usize));
            if n != usize::try_from(cout).ok() {
                return Err(ModelError::Shape {
                    op,
                    op_name: op_name.to_string(),
                    detail: format!(
                        "bias tensor {bias} has shape {:?} but there are {cout} output channels",
                        self.tensor_shape(bias as usize)
                    ),
                });
            }
        }
        Ok(())
    }

    fn check_channel_scales(
        &self,
        op: usize,
        op_name: &str,
        weights: i32,
        cout: i32,
    ) -> Result<(), ModelError> {
        if let Some(q) = self.quantization(weights as usize) {
            if q.scale.len() != 1 && usize::try_from(cout).ok() != Some(q.scale.len()) {
                return Err(ModelError::Shape {
                    op,
                    op_name: op_name.to_string(),
                    detail: format!(
                        "weights tensor {weights} has {} scales for {cout} output channels",
                        q.scale.len()
                    ),
                });
            }
        }
        Ok(())
    }

    fn check_buffers(&self) -> Result<(), ModelError> {
        for (i, t) in self.tensors().iter().enumerate() {
            let Some(data) = self.tensor_data(i) else {
                continue;
            };
            let Some(size) = dtype_size(t.type_) else {
                continue;
            };
            let shape = t.shape.clone().unwrap_or_default();
            let expected = element_count(&shape).and_then(|n| n.checked_mul(size));
            if expected != Some(data.len()) {
                return Err(ModelError::BufferSize {
                    tensor: i,
                    name: self.tensor_label(i),
                    shape,
                    dtype: dtype_name(t.type_),
                    expected: expected.unwrap_or(usize::MAX),
                    actual: data.len(),
                });
            }
        }
        Ok(())
    }

    fn check_order(&self) -> Result<(), ModelError> {
        let mut ready: HashSet<i32> = self.inputs().iter().copied().collect();
        for (i, t) in self.tensors().iter().enumerate() {
            if t.is_variable || self.is_constant(i) {
                ready.insert(i as i32);
            }
        }
        for op in 0..self.operators().len() {
            for &i in self.op_inputs(op) {
                if i >= 0 && !ready.contains(&i) {
                    return Err(ModelError::Order {
                        op,
                        op_name: self.op_name(op),
                        tensor: i as usize,
                    });
                }
            }
            ready.extend(self.op_outputs(op).iter().copied());
        }
        Ok(())
    }
}
