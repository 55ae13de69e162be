//! Edits the converter makes to the main graph: buffers, constant and intermediate tensors,
//! operator codes, operators and graph outputs. Each edit checks its arguments and leaves the
//! model consistent, so a later `to_bytes` cannot fail on what an edit did.
use crate::opcode::OpCode;
use crate::query::{element_count, Quantization};
use crate::{Model, ModelError};
use snapuq_schema::tflite::{
    BufferT, BuiltinOptionsT, CustomOptionsFormat, MetadataT, OperatorT, SubGraphT, TensorMapT,
    TensorT, TensorType,
};

/// Constant tensor contents; the variant fixes the tensor type.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    Int8(Vec<i8>),
    UInt8(Vec<u8>),
    Int16(Vec<i16>),
    Int32(Vec<i32>),
    Float32(Vec<f32>),
}

impl TensorData {
    /// The schema type of this data.
    pub fn tensor_type(&self) -> TensorType {
        match self {
            TensorData::Int8(_) => TensorType::INT8,
            TensorData::UInt8(_) => TensorType::UINT8,
            TensorData::Int16(_) => TensorType::INT16,
            TensorData::Int32(_) => TensorType::INT32,
            TensorData::Float32(_) => TensorType::FLOAT32,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            TensorData::Int8(v) => v.len(),
            TensorData::UInt8(v) => v.len(),
            TensorData::Int16(v) => v.len(),
            TensorData::Int32(v) => v.len(),
            TensorData::Float32(v) => v.len(),
        }
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Little-endian bytes, as TFLite stores constants.
    pub fn to_le_bytes(&self) -> Vec<u8> {
        match self {
            TensorData::Int8(v) => v.iter().map(|&x| x as u8).collect(),
            TensorData::UInt8(v) => v.clone(),
            TensorData::Int16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            TensorData::Int32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            TensorData::Float32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }
}

/// An operator to insert.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOperator {
    pub code: OpCode,
    /// Operator version recorded in the operator code (TFLM ignores it; TFLite checks it).
    pub version: i32,
    /// Input tensor indices; -1 leaves an optional input out.
    pub inputs: Vec<i32>,
    pub outputs: Vec<i32>,
    pub builtin_options: BuiltinOptionsT,
    /// Flexbuffer-encoded options of a custom operator.
    pub custom_options: Option<Vec<u8>>,
}

impl NewOperator {
    /// A builtin operator with its options table.
    pub fn builtin(
        op: snapuq_schema::BuiltinOperator,
        inputs: Vec<i32>,
        outputs: Vec<i32>,
        options: BuiltinOptionsT,
    ) -> Self {
        NewOperator {
            code: OpCode::Builtin(op),
            version: 1,
            inputs,
            outputs,
            builtin_options: options,
            custom_options: None,
        }
    }

    /// A custom operator with flexbuffer options (`custom_options_format` FLEXBUFFERS).
    pub fn custom(code: &str, inputs: Vec<i32>, outputs: Vec<i32>, options: Vec<u8>) -> Self {
        NewOperator {
            code: OpCode::Custom(code.to_string()),
            version: 1,
            inputs,
            outputs,
            builtin_options: BuiltinOptionsT::NONE,
            custom_options: Some(options),
        }
    }
}

fn edit(msg: impl Into<String>) -> ModelError {
    ModelError::Edit(msg.into())
}

fn check_quant(shape: &[i32], q: &Quantization) -> Result<(), ModelError> {
    if q.scale.is_empty() {
        return Err(edit("quantization has no scale; give at least one"));
    }
    if q.zero_point.len() != q.scale.len() {
        return Err(edit(format!(
            "quantization has {} scales but {} zero points; give one zero point per scale",
            q.scale.len(),
            q.zero_point.len()
        )));
    }
    if let Some(bad) = q.scale.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        return Err(edit(format!(
            "quantization scale {bad} is not a positive finite number"
        )));
    }
    if q.is_per_channel() {
        let dim = usize::try_from(q.quantized_dimension)
            .ok()
            .filter(|&d| d < shape.len())
            .ok_or_else(|| {
                edit(format!(
                    "quantized_dimension {} is outside shape {shape:?}",
                    q.quantized_dimension
                ))
            })?;
        if usize::try_from(shape[dim]).ok() != Some(q.scale.len()) {
            return Err(edit(format!(
                "{} per-channel scales for dimension {dim} of shape {shape:?}; give one per channel",
                q.scale.len()
            )));
        }
    }
    Ok(())
}

impl Model {
    fn graph_mut(&mut self) -> Result<&mut SubGraphT, ModelError> {
        self.t
            .subgraphs
            .as_mut()
            .and_then(|s| s.first_mut())
            .ok_or(ModelError::NoSubgraph)
    }

    fn check_tensor_index(&self, index: i32, what: &str) -> Result<(), ModelError> {
        let n = self.tensors().len();
        if index >= 0 && (index as usize) < n {
            Ok(())
        } else {
            Err(edit(format!(
                "{what} tensor {index} does not exist (the graph has {n} tensors)"
            )))
        }
    }

    /// Appends a buffer and returns its index. Creates the empty sentinel buffer 0 first if
    /// the model has none, so the new buffer never becomes the sentinel.
    pub fn add_buffer(&mut self, data: Vec<u8>) -> u32 {
        let buffers = self.t.buffers.get_or_insert_with(Vec::new);
        if buffers.is_empty() {
            buffers.push(BufferT::default());
        }
        let mut b = BufferT::default();
        b.data = Some(data);
        buffers.push(b);
        (buffers.len() - 1) as u32
    }

    fn push_tensor(&mut self, t: TensorT) -> Result<i32, ModelError> {
        let g = self.graph_mut()?;
        let tensors = g.tensors.get_or_insert_with(Vec::new);
        let index = i32::try_from(tensors.len()).map_err(|_| edit("too many tensors"))?;
        tensors.push(t);
        Ok(index)
    }

    /// Adds a constant tensor holding `data` (shape product must equal the element count) with
    /// optional per-tensor or per-channel quantization; returns its tensor index.
    pub fn add_constant_tensor(
        &mut self,
        name: &str,
        shape: &[i32],
        data: TensorData,
        quant: Option<Quantization>,
    ) -> Result<i32, ModelError> {
        let n = element_count(shape)
            .ok_or_else(|| edit(format!("constant {name}: shape {shape:?} is not concrete")))?;
        if n != data.len() {
            return Err(edit(format!(
                "constant {name}: {} elements given but shape {shape:?} needs {n}",
                data.len()
            )));
        }
        if let Some(q) = &quant {
            check_quant(shape, q)?;
        }
        let buffer = self.add_buffer(data.to_le_bytes());
        let mut t = TensorT::default();
        t.shape = Some(shape.to_vec());
        t.type_ = data.tensor_type();
        t.buffer = buffer;
        t.name = Some(name.to_string());
        t.quantization = quant.map(|q| Box::new(q.to_table()));
        t.has_rank = true;
        self.push_tensor(t)
    }

    /// Adds an activation tensor (no data; TFLM plans its memory in the arena); returns its
    /// tensor index.
    pub fn add_intermediate_tensor(
        &mut self,
        name: &str,
        shape: &[i32],
        dtype: TensorType,
        quant: Option<Quantization>,
    ) -> Result<i32, ModelError> {
        if element_count(shape).is_none() {
            return Err(edit(format!(
                "tensor {name}: shape {shape:?} is not concrete"
            )));
        }
        if let Some(q) = &quant {
            check_quant(shape, q)?;
        }
        let mut t = TensorT::default();
        t.shape = Some(shape.to_vec());
        t.type_ = dtype;
        t.buffer = 0;
        t.name = Some(name.to_string());
        t.quantization = quant.map(|q| Box::new(q.to_table()));
        t.has_rank = true;
        self.push_tensor(t)
    }

    /// Index of the operator code for `code`, adding it when missing. Builtin codes below 127
    /// are also written to `deprecated_builtin_code`; larger ones put 127 there, as the schema
    /// requires. An existing entry's version is raised to `version` if lower.
    pub fn operator_code(&mut self, code: &OpCode, version: i32) -> u32 {
        let codes = self.t.operator_codes.get_or_insert_with(Vec::new);
        if let Some(i) = codes.iter().position(|c| OpCode::from_table(c) == *code) {
            if codes[i].version < version {
                codes[i].version = version;
            }
            return i as u32;
        }
        codes.push(code.to_table(version));
        (codes.len() - 1) as u32
    }

    /// Inserts `op` so that it runs at `position` in the execution order (0 = first,
    /// `operators().len()` = last); returns `position`. Every input must already be available
    /// there (a graph input, a constant, or written by an earlier operator) and no output may be
    /// written by another operator or be constant.
    pub fn insert_operator(
        &mut self,
        position: usize,
        op: NewOperator,
    ) -> Result<usize, ModelError> {
        let n_ops = self.operators().len();
        if position > n_ops {
            return Err(edit(format!(
                "position {position} is past the end of the {n_ops} operators"
            )));
        }
        if op.outputs.is_empty() {
            return Err(edit(format!("{} needs at least one output", op.code)));
        }
        for &i in &op.inputs {
            if i == -1 {
                continue;
            }
            self.check_tensor_index(i, "input")?;
            if let Some(p) = self.producer(i as usize) {
                if p >= position {
                    return Err(edit(format!(
                        "input tensor {i} is written by operator {p}, which runs at or after position {position}"
                    )));
                }
            }
        }
        for &o in &op.outputs {
            self.check_tensor_index(o, "output")?;
            if let Some(p) = self.producer(o as usize) {
                return Err(edit(format!(
                    "output tensor {o} is already written by operator {p}"
                )));
            }
            if self.is_constant(o as usize) {
                return Err(edit(format!("output tensor {o} is a constant")));
            }
        }
        let opcode_index = self.operator_code(&op.code, op.version);
        let mut t = OperatorT::default();
        t.opcode_index = opcode_index;
        t.inputs = Some(op.inputs);
        t.outputs = Some(op.outputs);
        t.builtin_options = op.builtin_options;
        t.custom_options_format = CustomOptionsFormat::FLEXBUFFERS;
        t.custom_options = op.custom_options;
        self.graph_mut()?
            .operators
            .get_or_insert_with(Vec::new)
            .insert(position, t);
        Ok(position)
    }

    /// Appends tensor `tensor` to the graph outputs (and to the outputs of every signature of
    /// the main graph, under the tensor's name) and returns its output index. Existing outputs
    /// keep their indices.
    pub fn add_output(&mut self, tensor: i32) -> Result<usize, ModelError> {
        self.check_tensor_index(tensor, "output")?;
        let name = self.tensor_name(tensor as usize).to_string();
        let g = self.graph_mut()?;
        let outputs = g.outputs.get_or_insert_with(Vec::new);
        outputs.push(tensor);
        let k = outputs.len() - 1;
        for sig in self.t.signature_defs.iter_mut().flatten() {
            if sig.subgraph_index == 0 {
                let mut m = TensorMapT::default();
                m.name = Some(if name.is_empty() {
                    format!("output_{k}")
                } else {
                    name.clone()
                });
                m.tensor_index = tensor as u32;
                sig.outputs.get_or_insert_with(Vec::new).push(m);
            }
        }
        Ok(k)
    }

    /// Renames tensor `tensor`.
    pub fn set_tensor_name(&mut self, tensor: i32, name: &str) -> Result<(), ModelError> {
        self.check_tensor_index(tensor, "renamed")?;
        let g = self.graph_mut()?;
        if let Some(t) = g.tensors.as_mut().and_then(|t| t.get_mut(tensor as usize)) {
            t.name = Some(name.to_string());
        }
        Ok(())
    }

    /// Stores `data` as named model metadata (e.g. a record of what the converter added);
    /// replaces an entry of the same name. Returns the buffer index.
    pub fn set_metadata(&mut self, name: &str, data: Vec<u8>) -> u32 {
        let existing = self
            .t
            .metadata
            .iter()
            .flatten()
            .position(|m| m.name.as_deref() == Some(name));
        if let Some(k) = existing {
            let b = self.t.metadata.as_ref().map_or(0, |m| m[k].buffer as usize);
            if b != 0 {
                if let Some(buf) = self.t.buffers.as_mut().and_then(|v| v.get_mut(b)) {
                    buf.data = Some(data);
                    return b as u32;
                }
            }
            let buffer = self.add_buffer(data);
            if let Some(m) = self.t.metadata.as_mut().and_then(|m| m.get_mut(k)) {
                m.buffer = buffer;
            }
            return buffer;
        }
        let buffer = self.add_buffer(data);
        let mut m = MetadataT::default();
        m.name = Some(name.to_string());
        m.buffer = buffer;
        self.t.metadata.get_or_insert_with(Vec::new).push(m);
        buffer
    }

    /// Metadata bytes stored under `name`.
    pub fn metadata(&self, name: &str) -> Option<&[u8]> {
        let m = self
            .t
            .metadata
            .iter()
            .flatten()
            .find(|m| m.name.as_deref() == Some(name))?;
        self.buffer_data(m.buffer as usize)
    }
}
