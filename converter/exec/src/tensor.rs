//! Tensor metadata and borrowed views of tensor data.
use crate::shape::Shape;

/// Element type of a tensor (the subset of `TensorType` the executor handles, plus `Other`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DType {
    #[default]
    Int8,
    UInt8,
    Int16,
    Int32,
    Int64,
    Float32,
    Bool,
    /// Any other `TensorType` code.
    Other(i8),
}

impl DType {
    /// From the schema's `TensorType` code.
    pub fn from_code(code: i8) -> Self {
        match code {
            0 => DType::Float32,
            2 => DType::Int32,
            3 => DType::UInt8,
            4 => DType::Int64,
            6 => DType::Bool,
            7 => DType::Int16,
            9 => DType::Int8,
            c => DType::Other(c),
        }
    }

    /// The schema's `TensorType` code.
    pub fn code(self) -> i8 {
        match self {
            DType::Float32 => 0,
            DType::Int32 => 2,
            DType::UInt8 => 3,
            DType::Int64 => 4,
            DType::Bool => 6,
            DType::Int16 => 7,
            DType::Int8 => 9,
            DType::Other(c) => c,
        }
    }

    /// Bytes per element (`None` for types the executor cannot size).
    pub fn size(self) -> Option<usize> {
        match self {
            DType::Int8 | DType::UInt8 | DType::Bool => Some(1),
            DType::Int16 => Some(2),
            DType::Int32 | DType::Float32 => Some(4),
            DType::Int64 => Some(8),
            DType::Other(_) => None,
        }
    }

    /// numpy's name for the type.
    pub fn name(self) -> &'static str {
        match self {
            DType::Int8 => "int8",
            DType::UInt8 => "uint8",
            DType::Int16 => "int16",
            DType::Int32 => "int32",
            DType::Int64 => "int64",
            DType::Float32 => "float32",
            DType::Bool => "bool",
            DType::Other(_) => "other",
        }
    }
}

/// Where a tensor's bytes live.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Location {
    /// No storage (unused by any op).
    #[default]
    None,
    /// Constant data in the model bytes: `[start, start + len)`.
    Const { start: usize, len: usize },
    /// Planned activation memory: offset into the activation region.
    Arena { offset: usize },
}

/// Per-tensor quantization (the first scale/zero point for per-channel tensors).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Quant {
    pub scale: f32,
    pub zero_point: i32,
    /// Number of scales in the model (more than 1 = per-channel along `quantized_dimension`).
    pub num_scales: usize,
    pub quantized_dimension: i32,
}

/// Everything the interpreter knows about one tensor.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TensorInfo {
    pub shape: Shape,
    pub dtype: DType,
    pub quant: Quant,
    /// Size in bytes (elements × element size).
    pub bytes: usize,
    pub location: Location,
}

impl TensorInfo {
    /// No tensor: all zero bytes (the `const` form of `TensorInfo::default()`).
    pub const EMPTY: TensorInfo = TensorInfo {
        shape: Shape::EMPTY,
        dtype: DType::Int8,
        quant: Quant {
            scale: 0.0,
            zero_point: 0,
            num_scales: 0,
            quantized_dimension: 0,
        },
        bytes: 0,
        location: Location::None,
    };
}

/// A read-only view of one tensor: metadata plus its bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct TensorView<'t> {
    /// Index of the tensor in subgraph 0.
    pub index: usize,
    pub shape: Shape,
    pub dtype: DType,
    pub quant: Quant,
    /// Raw little-endian element bytes.
    pub data: &'t [u8],
}

impl<'t> TensorView<'t> {
    /// The data as int8, when the tensor is int8.
    pub fn as_i8(&self) -> Option<&'t [i8]> {
        (self.dtype == DType::Int8).then(|| bytemuck::cast_slice(self.data))
    }

    /// The data as f32, when the tensor is float32 and aligned (arena tensors always are).
    pub fn as_f32(&self) -> Option<&'t [f32]> {
        if self.dtype != DType::Float32 {
            return None;
        }
        bytemuck::try_cast_slice(self.data).ok()
    }

    /// Element `k` of an int32 tensor, read little-endian (works for unaligned constants).
    pub fn i32_at(&self, k: usize) -> Option<i32> {
        if self.dtype != DType::Int32 {
            return None;
        }
        let b = self.data.get(4 * k..4 * k + 4)?;
        Some(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// A writable view of one output tensor of a custom op.
#[derive(Debug, Default)]
pub struct TensorMut<'t> {
    pub index: usize,
    pub shape: Shape,
    pub dtype: DType,
    pub quant: Quant,
    pub data: &'t mut [u8],
}

impl TensorMut<'_> {
    /// The data as int8, when the tensor is int8.
    pub fn as_i8_mut(&mut self) -> Option<&mut [i8]> {
        (self.dtype == DType::Int8).then(|| bytemuck::cast_slice_mut(&mut *self.data))
    }

    /// The data as f32, when the tensor is float32.
    pub fn as_f32_mut(&mut self) -> Option<&mut [f32]> {
        if self.dtype != DType::Float32 {
            return None;
        }
        bytemuck::try_cast_slice_mut(&mut *self.data).ok()
    }
}
