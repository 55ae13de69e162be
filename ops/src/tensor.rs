//! Runtime-agnostic tensor descriptors: what prepare needs to know about a tensor
//! (element type and dims), filled by the TFLM glue from `TfLiteEvalTensor` or by the host
//! executor from its own tensor table.

use core::fmt;

/// Element type of a tensor (the subset SNAP ops can see; everything else is `Other`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    Int8,
    UInt8,
    Int16,
    UInt16,
    Int32,
    Float32,
    Bool,
    /// Any other type; carries the runtime's numeric type code for the message.
    Other(i32),
}

impl DType {
    /// Maps a `TfLiteType` enum value (as in TFLM's `c/c_api_types.h`) to a [`DType`].
    pub const fn from_tflite(code: i32) -> DType {
        match code {
            1 => DType::Float32,
            2 => DType::Int32,
            3 => DType::UInt8,
            6 => DType::Bool,
            7 => DType::Int16,
            9 => DType::Int8,
            17 => DType::UInt16,
            other => DType::Other(other),
        }
    }

    /// Name as written in messages (TFLite spelling).
    pub const fn name(self) -> &'static str {
        match self {
            DType::Int8 => "int8",
            DType::UInt8 => "uint8",
            DType::Int16 => "int16",
            DType::UInt16 => "uint16",
            DType::Int32 => "int32",
            DType::Float32 => "float32",
            DType::Bool => "bool",
            DType::Other(_) => "unsupported type",
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DType::Other(code) => write!(f, "type code {code}"),
            other => f.write_str(other.name()),
        }
    }
}

/// A tensor as seen by `prepare`: element type and dims (TFLite order, NHWC for activations).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TensorDesc<'a> {
    pub dtype: DType,
    pub dims: &'a [i32],
}

impl<'a> TensorDesc<'a> {
    pub const fn new(dtype: DType, dims: &'a [i32]) -> Self {
        TensorDesc { dtype, dims }
    }

    /// Number of elements, or `None` when a dim is negative or the product overflows.
    pub fn elements(&self) -> Option<usize> {
        self.dims.iter().try_fold(1usize, |acc, &d| {
            usize::try_from(d).ok().and_then(|d| acc.checked_mul(d))
        })
    }
}

/// Up to [`Dims::MAX_RANK`] dims, `Copy`, for error messages (-1 prints as `*`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Dims {
    len: u8,
    dims: [i32; Dims::MAX_RANK],
}

impl Dims {
    pub const MAX_RANK: usize = 6;

    /// Copies `dims` (ranks above [`Dims::MAX_RANK`] are truncated and marked with a `…`).
    pub fn from_slice(dims: &[i32]) -> Dims {
        let mut out = Dims {
            len: 0,
            dims: [0; Dims::MAX_RANK],
        };
        let n = dims.len().min(Dims::MAX_RANK + 1);
        for (slot, &d) in out.dims.iter_mut().zip(dims.iter()) {
            *slot = d;
        }
        out.len = n as u8;
        out
    }

    pub fn as_slice(&self) -> &[i32] {
        &self.dims[..(self.len as usize).min(Dims::MAX_RANK)]
    }
}

impl fmt::Debug for Dims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Dims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, d) in self.as_slice().iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if *d < 0 {
                f.write_str("*")?;
            } else {
                write!(f, "{d}")?;
            }
        }
        if self.len as usize > Dims::MAX_RANK {
            f.write_str(",…")?;
        }
        f.write_str("]")
    }
}

/// An activation viewed as `batch × spatial × channels` (rank 2 `[N,C]`, rank 3 `[N,L,C]`,
/// rank 4 `[N,H,W,C]`; channels last).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActShape {
    pub batch: usize,
    pub spatial: usize,
    pub channels: usize,
}

impl ActShape {
    /// `None` when rank is not 2..=4 or a dim is not positive.
    pub fn from_dims(dims: &[i32]) -> Option<ActShape> {
        if !(2..=4).contains(&dims.len()) || dims.iter().any(|&d| d <= 0) {
            return None;
        }
        let batch = dims[0] as usize;
        let channels = dims[dims.len() - 1] as usize;
        let spatial = dims[1..dims.len() - 1]
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d as usize))?;
        Some(ActShape {
            batch,
            spatial,
            channels,
        })
    }

    pub fn elements(&self) -> usize {
        self.batch * self.spatial * self.channels
    }
}

/// Batch size of a `[N]`, `[N,1]` or `[N,1,…,1]` per-sample scalar tensor.
pub fn per_sample_batch(dims: &[i32]) -> Option<usize> {
    match dims {
        [] => Some(1),
        [n, rest @ ..] if *n > 0 && rest.iter().all(|&d| d == 1) => Some(*n as usize),
        _ => None,
    }
}
