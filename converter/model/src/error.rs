//! The one error type of this crate. Every message is a single line that names what is wrong
//! (with operator/tensor index where there is one) and what to do about it.
use std::path::PathBuf;

/// Why a model could not be read, written, edited or accepted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    // The OS error is part of the message and deliberately not a `source`: callers print
    // the whole chain (`{:#}`), which would repeat it ("Is a directory: Is a directory").
    #[error("cannot read {}: {io}", path.display())]
    Read { path: PathBuf, io: std::io::Error },
    #[error("cannot write {}: {io}", path.display())]
    Write { path: PathBuf, io: std::io::Error },
    /// A file cut off and a file with a damaged offset look the same to the verifier (a
    /// reference past the end), so the message names both causes.
    #[error("{}", truncated(*len, *needed))]
    Truncated { len: usize, needed: usize },
    #[error("not a TFLite model: no flatbuffer with the \"TFL3\" identifier (bytes 4..8 are {found}); pass a .tflite file")]
    NotFlatbuffer { found: String },
    #[error("wrong file identifier {found} (expected \"TFL3\"): this flatbuffer is not a TFLite model; pass a .tflite file")]
    WrongIdentifier { found: String },
    #[error("corrupt TFLite flatbuffer ({detail}); re-export the model")]
    Corrupt { detail: String },
    #[error("model has no subgraph; re-export the model from TensorFlow")]
    NoSubgraph,
    #[error("{what} refers to index {index}, but there are only {len}; the model is corrupt, re-export it")]
    BadIndex {
        what: String,
        index: i64,
        len: usize,
    },
    #[error("{what} is stored after the flatbuffer at offset {offset} with {size} bytes, past the end of the {file_len}-byte file; copy the whole .tflite file including its appended data")]
    AppendedDataMissing {
        what: String,
        offset: u64,
        size: u64,
        file_len: usize,
    },
    #[error("subgraph {subgraph} operator {op} uses {field} type {tag}, unknown to this schema (written by a newer TFLite); add it to converter/schema/tflite.fbs and regenerate")]
    UnknownUnion {
        subgraph: usize,
        op: usize,
        field: &'static str,
        tag: u8,
    },
    #[error("model too large to write: {detail}")]
    TooLarge { detail: String },
    #[error("float model: operator {op} ({op_name}) computes on float32 tensor {tensor} ({tensor_name}); convert with full-integer int8 quantization (TFLiteConverter with representative_dataset and TFLITE_BUILTINS_INT8)")]
    FloatModel {
        op: usize,
        op_name: String,
        tensor: usize,
        tensor_name: String,
    },
    #[error("hybrid model: operator {op} ({op_name}) takes float32 activation {tensor} ({tensor_name}) with int8 weights; convert with full-integer int8 quantization (representative_dataset and TFLITE_BUILTINS_INT8)")]
    HybridModel {
        op: usize,
        op_name: String,
        tensor: usize,
        tensor_name: String,
    },
    #[error("operator {op} is {op_name}, which the snapuq executor does not run; supported: {supported}; re-export the model without it")]
    UnsupportedOp {
        op: usize,
        op_name: String,
        supported: String,
    },
    #[error("tensor {tensor} ({name}) has {dtype} data, which the snapuq executor does not handle; use int8 activations with int8/int32 constants")]
    UnsupportedType {
        tensor: usize,
        name: String,
        dtype: String,
    },
    #[error("tensor {tensor} ({name}): its buffer holds {actual} bytes but shape {shape:?} of {dtype} needs {expected}; the model is corrupt, re-export it")]
    BufferSize {
        tensor: usize,
        name: String,
        shape: Vec<i32>,
        dtype: String,
        expected: usize,
        actual: usize,
    },
    #[error("operator {op} ({op_name}) has {found} {what}, expected {expected}; the model is corrupt or uses a variant snapuq does not support")]
    OperandCount {
        op: usize,
        op_name: String,
        what: &'static str,
        found: usize,
        expected: String,
    },
    #[error("operator {op} ({op_name}): {detail}; the model is corrupt or uses a variant snapuq does not support")]
    Shape {
        op: usize,
        op_name: String,
        detail: String,
    },
    #[error("operator {op} ({op_name}) reads tensor {tensor} before any operator writes it; operators must be stored in execution order")]
    Order {
        op: usize,
        op_name: String,
        tensor: usize,
    },
    #[error("invalid edit: {0}")]
    Edit(String),
}

impl ModelError {
    pub(crate) fn bad_index(what: impl Into<String>, index: i64, len: usize) -> Self {
        ModelError::BadIndex {
            what: what.into(),
            index,
            len,
        }
    }
}

fn truncated(len: usize, needed: usize) -> String {
    if len < 8 {
        format!(
            "truncated model: the file has {}, too short for the 8-byte header of a .tflite file; copy or re-export the complete .tflite file",
            bytes(len)
        )
    } else {
        format!(
            "truncated or corrupt model: the file has {} but its flatbuffer refers to byte {needed}, past its end; the file is cut off or damaged, copy or re-export the complete .tflite file",
            bytes(len)
        )
    }
}

/// `1 byte`, `2 bytes`.
fn bytes(n: usize) -> String {
    if n == 1 {
        "1 byte".into()
    } else {
        format!("{n} bytes")
    }
}
