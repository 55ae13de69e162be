#![cfg_attr(not(any(feature = "std", test)), no_std)]
#![forbid(unsafe_code)]
//! SNAP-UQ kernels: `SNAP_PROJECT`, `SNAP_SURPRISAL`, `SNAP_CALIBRATE`.
//!
//! The kernels are `no_std`, allocation-free and runtime-agnostic: they see plain slices,
//! tensor descriptors ([`TensorDesc`]) and options parsed from the op's flexbuffer custom
//! options ([`flex`]). The TFLM C ABI lives in `snapuq-tflm`, the host executor glue in
//! `snapuq-exec`; both call the same `prepare`/`eval` functions defined here.
//! `docs/ops.md` is the contract (names, inputs, outputs, options, numerics, costs).
//!
//! Per op module: `Options` (parse from / write to flexbuffers), `prepare` (validate tensor
//! descriptors against the options, returning a typed [`OpError`]), `eval` (generic over a
//! [`DotS8`] implementation so Cortex-M DSP paths plug in), and `cost` (MACs, bytes).

pub mod calibrate;
pub mod controller;
pub mod dot;
pub mod error;
pub mod flex;
pub mod lut;
#[cfg(all(test, feature = "std"))]
mod numerics_tests;
#[cfg(all(test, feature = "std"))]
mod options_tests;
pub mod project;
pub mod quant;
#[cfg(feature = "std")]
pub mod reference;
pub mod surprisal;
pub mod tensor;

pub use dot::{DotS8, PortableDot};
pub use error::{ErrorMessage, OpError, OpKind, Port};
pub use flex::{FlexError, FlexProblem};
pub use tensor::{DType, Dims, TensorDesc};

/// Cost of one op invocation (one sample), used by the converter's report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cost {
    /// Multiply-accumulates (additions of the pooling count as MACs, as in paper App. L).
    pub macs: u64,
    /// Bytes of constant tensors the op adds to the model (weights, biases, LUTs, tables).
    pub param_bytes: u64,
    /// Scratch bytes the caller must provide for `eval` (TFLM: RequestScratchBufferInArena).
    pub scratch_bytes: u64,
    /// Bytes of persistent per-op state (TFLM: AllocatePersistentBuffer), excluding OpData.
    pub state_bytes: u64,
}

/// Hard limits on shapes; prepare rejects anything larger (keeps every int32 accumulator exact
/// and every stack buffer bounded).
pub mod limits {
    /// Max channels of a tapped activation (C_in of SNAP_PROJECT, C_out of SNAP_SURPRISAL).
    pub const MAX_CHANNELS: usize = 4096;
    /// Max projection rank r.
    pub const MAX_RANK: usize = 512;
    /// Max spatial positions H·W pooled by GAP (keeps Σ int8 in int32).
    pub const MAX_SPATIAL: usize = 1 << 20;
    /// Max rank k of the low-rank covariance factor B.
    pub const MAX_LOWRANK_K: usize = 8;
    /// Max number of taps fed into SNAP_CALIBRATE.
    pub const MAX_TAPS: usize = 8;
    /// Max classes of the classifier output.
    pub const MAX_CLASSES: usize = 4096;
    /// Max steps of an isotonic table.
    pub const MAX_ISOTONIC: usize = 1024;
}
