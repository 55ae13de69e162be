//! snapuq: single-pass, label-free uncertainty for int8 TensorFlow Lite Micro models.
//!
//! This facade re-exports the crates a host user needs; firmware users link `snapuq-tflm`.
pub use snapuq_exec as exec;
pub use snapuq_model as model;
pub use snapuq_ops as ops;
