//! Read-only questions about the main graph: tensors, quantization, constant data, operators,
//! producers and consumers.
use crate::opcode::OpCode;
use crate::Model;
use snapuq_schema::tflite::{
    BufferT, BuiltinOptionsT, OperatorT, QuantizationParametersT, SubGraphT, TensorT, TensorType,
};

/// Affine quantization of a tensor: `real = scale * (q - zero_point)`, one entry for
/// per-tensor, one per slice along `quantized_dimension` for per-channel.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Quantization {
    pub scale: Vec<f32>,
    pub zero_point: Vec<i64>,
    pub quantized_dimension: i32,
}

impl Quantization {
    /// One scale and zero point for the whole tensor.
    pub fn per_tensor(scale: f32, zero_point: i64) -> Self {
        Quantization {
            scale: vec![scale],
            zero_point: vec![zero_point],
            quantized_dimension: 0,
        }
    }

    /// One scale per slice along `dim` (zero points are 0, as int8 weights require).
    pub fn per_channel(scale: Vec<f32>, dim: i32) -> Self {
        let n = scale.len();
        Quantization {
            scale,
            zero_point: vec![0; n],
            quantized_dimension: dim,
        }
    }

    /// True when there is more than one scale.
    pub fn is_per_channel(&self) -> bool {
        self.scale.len() > 1
    }

    pub(crate) fn from_table(q: &QuantizationParametersT) -> Option<Self> {
        let scale = q.scale.clone().unwrap_or_default();
        if scale.is_empty() {
            return None;
        }
        Some(Quantization {
            zero_point: q.zero_point.clone().unwrap_or_default(),
            scale,
            quantized_dimension: q.quantized_dimension,
        })
    }

    pub(crate) fn to_table(&self) -> QuantizationParametersT {
        let mut q = QuantizationParametersT::default();
        q.scale = Some(self.scale.clone());
        q.zero_point = Some(self.zero_point.clone());
        q.quantized_dimension = self.quantized_dimension;
        q
    }
}

/// Everything about one tensor that the converter and the report need, in plain types.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub index: usize,
    pub name: String,
    pub shape: Vec<i32>,
    pub dtype: TensorType,
    pub quant: Option<Quantization>,
    pub buffer: u32,
    /// Has constant data in its buffer.
    pub is_constant: bool,
    pub is_variable: bool,
}

/// Bytes per element of a tensor type, `None` for types without a fixed byte size (strings,
/// sub-byte packed types, resources).
pub fn dtype_size(t: TensorType) -> Option<usize> {
    Some(match t {
        TensorType::INT8 | TensorType::UINT8 | TensorType::BOOL => 1,
        TensorType::INT16 | TensorType::UINT16 | TensorType::FLOAT16 | TensorType::BFLOAT16 => 2,
        TensorType::INT32 | TensorType::UINT32 | TensorType::FLOAT32 => 4,
        TensorType::INT64 | TensorType::UINT64 | TensorType::FLOAT64 | TensorType::COMPLEX64 => 8,
        TensorType::COMPLEX128 => 16,
        TensorType::FLOAT8_E4M3FN | TensorType::FLOAT8_E5M2 => 1,
        _ => return None,
    })
}

/// Name of a tensor type as the schema spells it (`INT8`).
pub fn dtype_name(t: TensorType) -> String {
    t.variant_name()
        .map_or_else(|| format!("TYPE_{}", t.0), str::to_string)
}

/// Number of elements of a shape; `None` when a dimension is negative (unknown) or the
/// product overflows.
pub fn element_count(shape: &[i32]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| {
        usize::try_from(d).ok().and_then(|d| acc.checked_mul(d))
    })
}

const NO_TENSORS: &[TensorT] = &[];
const NO_OPS: &[OperatorT] = &[];

impl Model {
    /// The main graph (subgraph 0); `None` only after an edit through `object_mut` removed it.
    pub fn main_graph(&self) -> Option<&SubGraphT> {
        self.t.subgraphs.as_ref().and_then(|s| s.first())
    }

    /// Number of subgraphs.
    pub fn num_subgraphs(&self) -> usize {
        self.t.subgraphs.as_ref().map_or(0, Vec::len)
    }

    /// Tensors of the main graph.
    pub fn tensors(&self) -> &[TensorT] {
        self.main_graph()
            .and_then(|s| s.tensors.as_deref())
            .unwrap_or(NO_TENSORS)
    }

    /// Operators of the main graph, in execution order (TFLite stores them that way and TFLM
    /// runs them in that order).
    pub fn operators(&self) -> &[OperatorT] {
        self.main_graph()
            .and_then(|s| s.operators.as_deref())
            .unwrap_or(NO_OPS)
    }

    /// Operator indices in execution order.
    pub fn execution_order(&self) -> Vec<usize> {
        (0..self.operators().len()).collect()
    }

    /// Graph input tensor indices.
    pub fn inputs(&self) -> &[i32] {
        self.main_graph()
            .and_then(|s| s.inputs.as_deref())
            .unwrap_or(&[])
    }

    /// Graph output tensor indices.
    pub fn outputs(&self) -> &[i32] {
        self.main_graph()
            .and_then(|s| s.outputs.as_deref())
            .unwrap_or(&[])
    }

    /// The tensor table at `index`.
    pub fn tensor(&self, index: usize) -> Option<&TensorT> {
        self.tensors().get(index)
    }

    /// Name of tensor `index` (empty when unnamed or out of range).
    pub fn tensor_name(&self, index: usize) -> &str {
        self.tensor(index)
            .and_then(|t| t.name.as_deref())
            .unwrap_or("")
    }

    /// Shape of tensor `index` (empty for scalars and out of range).
    pub fn tensor_shape(&self, index: usize) -> &[i32] {
        self.tensor(index)
            .and_then(|t| t.shape.as_deref())
            .unwrap_or(&[])
    }

    /// Element type of tensor `index`.
    pub fn tensor_type(&self, index: usize) -> Option<TensorType> {
        self.tensor(index).map(|t| t.type_)
    }

    /// Quantization of tensor `index`, if it has scales.
    pub fn quantization(&self, index: usize) -> Option<Quantization> {
        self.tensor(index)
            .and_then(|t| t.quantization.as_deref())
            .and_then(Quantization::from_table)
    }

    /// Plain summary of tensor `index`.
    pub fn tensor_info(&self, index: usize) -> Option<TensorInfo> {
        let t = self.tensor(index)?;
        Some(TensorInfo {
            index,
            name: t.name.clone().unwrap_or_default(),
            shape: t.shape.clone().unwrap_or_default(),
            dtype: t.type_,
            quant: self.quantization(index),
            buffer: t.buffer,
            is_constant: self.tensor_data(index).is_some(),
            is_variable: t.is_variable,
        })
    }

    /// First tensor with this exact name.
    pub fn find_tensor(&self, name: &str) -> Option<usize> {
        self.tensors()
            .iter()
            .position(|t| t.name.as_deref() == Some(name))
    }

    /// The buffer table at `index`.
    pub fn buffer(&self, index: usize) -> Option<&BufferT> {
        self.t.buffers.as_ref().and_then(|b| b.get(index))
    }

    /// Bytes of buffer `index`; `None` when it is empty (buffer 0, activations).
    pub fn buffer_data(&self, index: usize) -> Option<&[u8]> {
        self.buffer(index)
            .and_then(|b| b.data.as_deref())
            .filter(|d| !d.is_empty())
    }

    /// Constant data of tensor `index`; `None` for activations.
    pub fn tensor_data(&self, index: usize) -> Option<&[u8]> {
        self.tensor(index)
            .and_then(|t| self.buffer_data(t.buffer as usize))
    }

    /// True when tensor `index` holds constant data.
    pub fn is_constant(&self, index: usize) -> bool {
        self.tensor_data(index).is_some()
    }

    /// What operator `op` is.
    pub fn op_code(&self, op: usize) -> Option<OpCode> {
        let o = self.operators().get(op)?;
        let c = self
            .t
            .operator_codes
            .as_ref()?
            .get(o.opcode_index as usize)?;
        Some(OpCode::from_table(c))
    }

    /// Display name of operator `op` (`CONV_2D`, `CUSTOM(SNAP_PROJECT)`).
    pub fn op_name(&self, op: usize) -> String {
        self.op_code(op)
            .map_or_else(|| format!("operator {op}"), |c| c.to_string())
    }

    /// Input tensor indices of `op` (-1 = optional input left out).
    pub fn op_inputs(&self, op: usize) -> &[i32] {
        self.operators()
            .get(op)
            .and_then(|o| o.inputs.as_deref())
            .unwrap_or(&[])
    }

    /// Output tensor indices of `op`.
    pub fn op_outputs(&self, op: usize) -> &[i32] {
        self.operators()
            .get(op)
            .and_then(|o| o.outputs.as_deref())
            .unwrap_or(&[])
    }

    /// Builtin options of `op` (NONE for custom ops and ops without options).
    pub fn op_options(&self, op: usize) -> Option<&BuiltinOptionsT> {
        self.operators().get(op).map(|o| &o.builtin_options)
    }

    /// The operator that writes tensor `tensor` (the first, if a corrupt model has several).
    pub fn producer(&self, tensor: usize) -> Option<usize> {
        let t = i32::try_from(tensor).ok()?;
        self.operators()
            .iter()
            .position(|o| o.outputs.iter().flatten().any(|&x| x == t))
    }

    /// Operators that read tensor `tensor`, in execution order.
    pub fn consumers(&self, tensor: usize) -> Vec<usize> {
        let Ok(t) = i32::try_from(tensor) else {
            return Vec::new();
        };
        self.operators()
            .iter()
            .enumerate()
            .filter(|(_, o)| o.inputs.iter().flatten().any(|&x| x == t))
            .map(|(i, _)| i)
            .collect()
    }

    /// Custom options bytes of `op` (flexbuffer for custom operators).
    pub fn custom_options(&self, op: usize) -> Option<&[u8]> {
        self.operators()
            .get(op)
            .and_then(|o| o.custom_options.as_deref())
    }
}
