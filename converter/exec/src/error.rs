//! Typed executor errors. Each names what is wrong and, where it applies, the operator and
//! tensor index, so a one-line message points at the spot in the model.
use core::fmt;

/// Longest custom-op name kept in an error message.
const NAME_CAP: usize = 32;

/// A short inline string (no allocation) for names carried by errors.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Name {
    bytes: [u8; NAME_CAP],
    len: u8,
}

impl Name {
    /// Copies up to 32 bytes of `s` (cut at a char boundary).
    pub fn new(s: &str) -> Self {
        let mut end = s.len().min(NAME_CAP);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        let mut bytes = [0u8; NAME_CAP];
        bytes[..end].copy_from_slice(&s.as_bytes()[..end]);
        Name {
            bytes,
            len: end as u8,
        }
    }

    /// The stored text.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("?")
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// What went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The bytes are not a valid TFLite flatbuffer (verifier failed).
    InvalidFlatbuffer,
    /// The file identifier is not "TFL3".
    WrongIdentifier,
    /// The model has no subgraph, or a required table/field is absent.
    MissingField(&'static str),
    /// A tensor index points outside the subgraph's tensor list.
    TensorIndexOutOfRange(i32),
    /// An opcode index points outside the operator-code list.
    OpcodeIndexOutOfRange(u32),
    /// A buffer index or buffer offset points outside the model.
    BufferOutOfRange,
    /// A builtin operator this executor does not implement (the `BuiltinOperator` code).
    UnsupportedOp(i32),
    /// A CUSTOM operator whose name is not registered in the resolver.
    UnknownCustomOp(Name),
    /// A tensor type the op does not accept (the `TensorType` code).
    UnsupportedType(i8),
    /// Per-channel quantization where only per-tensor is supported, or mismatched scale counts.
    UnsupportedQuantization,
    /// A tensor's quantization parameters are missing or not positive.
    BadQuantization,
    /// Input/output shapes disagree with each other or with the op's options.
    ShapeMismatch,
    /// An option value is out of range (stride 0, unknown padding, unknown activation...).
    BadOption(&'static str),
    /// Wrong number of inputs or outputs.
    WrongArity,
    /// A tensor that must be constant (weights, paddings, axes) is computed at run time.
    NotConstant,
    /// A tensor's byte size overflows or does not match its data.
    BadTensorSize,
    /// More tensors, ops, inputs/outputs or custom ops than the interpreter's fixed capacity.
    Capacity(&'static str),
    /// The arena is smaller than the plan needs (bytes needed).
    ArenaTooSmall(usize),
    /// The arena region cannot be aligned (e.g. its length is not usable).
    Misaligned,
    /// An input/output index the model does not have.
    NoSuchIO(usize),
    /// A custom kernel reported a failure with this message.
    Custom(&'static str),
}

/// An executor error: the kind plus the operator and tensor it concerns, when known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecError {
    pub kind: ErrorKind,
    pub op: Option<usize>,
    pub tensor: Option<usize>,
}

impl ExecError {
    /// An error not tied to an op or tensor.
    pub const fn new(kind: ErrorKind) -> Self {
        ExecError {
            kind,
            op: None,
            tensor: None,
        }
    }

    /// The same error attributed to operator `op` (if not already attributed).
    pub fn at_op(mut self, op: usize) -> Self {
        self.op.get_or_insert(op);
        self
    }

    /// The same error attributed to tensor `t` (if not already attributed).
    pub fn at_tensor(mut self, t: usize) -> Self {
        self.tensor.get_or_insert(t);
        self
    }
}

impl From<ErrorKind> for ExecError {
    fn from(kind: ErrorKind) -> Self {
        ExecError::new(kind)
    }
}

impl fmt::Display for ExecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(op) = self.op {
            write!(f, "operator {op}: ")?;
        }
        if let Some(t) = self.tensor {
            write!(f, "tensor {t}: ")?;
        }
        match self.kind {
            ErrorKind::InvalidFlatbuffer => write!(f, "not a valid TFLite flatbuffer (the verifier rejected it; is the file truncated or not a .tflite?)"),
            ErrorKind::WrongIdentifier => write!(f, "file identifier is not TFL3 (not a TFLite model)"),
            ErrorKind::MissingField(w) => write!(f, "the model lacks {w}"),
            ErrorKind::TensorIndexOutOfRange(i) => write!(f, "tensor index {i} is outside the subgraph's tensor list"),
            ErrorKind::OpcodeIndexOutOfRange(i) => write!(f, "opcode index {i} is outside the model's operator codes"),
            ErrorKind::BufferOutOfRange => write!(f, "buffer reference points outside the model"),
            ErrorKind::UnsupportedOp(c) => write!(f, "builtin operator code {c} is not supported by snapuq-exec (supported: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, AVERAGE_POOL_2D, MAX_POOL_2D, ADD, MUL, MEAN, PAD, PADV2, RESHAPE, SOFTMAX, CONCATENATION, QUANTIZE, DEQUANTIZE, RELU, RELU6, LOGISTIC)"),
            ErrorKind::UnknownCustomOp(n) => write!(f, "custom operator \"{}\" is not registered; add its kernel to the OpResolver", n.as_str()),
            ErrorKind::UnsupportedType(t) => write!(f, "tensor type {t} is not supported here (full-integer int8 models only; float/hybrid models are rejected)"),
            ErrorKind::UnsupportedQuantization => write!(f, "unsupported quantization (per-channel scales where the op needs per-tensor, or a scale count that does not match the channel count)"),
            ErrorKind::BadQuantization => write!(f, "missing or non-positive quantization scale"),
            ErrorKind::ShapeMismatch => write!(f, "tensor shapes are inconsistent with each other or with the op's options"),
            ErrorKind::BadOption(w) => write!(f, "bad option: {w}"),
            ErrorKind::WrongArity => write!(f, "wrong number of inputs or outputs for this op"),
            ErrorKind::NotConstant => write!(f, "this input must be a constant tensor in the model"),
            ErrorKind::BadTensorSize => write!(f, "tensor size overflows or does not match its buffer"),
            ErrorKind::Capacity(w) => write!(f, "model exceeds the interpreter's fixed capacity for {w}; raise the const generic"),
            ErrorKind::ArenaTooSmall(n) => write!(f, "arena too small: {n} bytes needed (see Interpreter::arena_bytes_needed)"),
            ErrorKind::Misaligned => write!(f, "arena cannot be aligned to 16 bytes"),
            ErrorKind::NoSuchIO(i) => write!(f, "the model has no input/output {i}"),
            ErrorKind::Custom(m) => write!(f, "{m}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ExecError {}
