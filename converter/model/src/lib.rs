//! Lossless `.tflite` reading and writing, the edits the SNAP-UQ converter makes, and the
//! checks that tell a user, in one line, why a model cannot be used.
//!
//! ```no_run
//! use snapuq_model::{Model, NewOperator};
//! let mut m = Model::load("model.tflite")?;
//! m.validate()?;
//! let out = m.outputs()[0];
//! m.add_output(out)?;
//! m.save("model.out.tflite")?;
//! # Ok::<(), snapuq_model::ModelError>(())
//! ```
mod align;
mod check;
mod edit;
mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod io;
mod model;
pub mod opcode;
mod query;
mod stats;
mod validate;

pub use edit::{NewOperator, TensorData};
pub use error::ModelError;
pub use model::Model;
pub use opcode::{OpCode, SNAP_CALIBRATE, SNAP_PROJECT, SNAP_SURPRISAL};
pub use query::{dtype_name, dtype_size, element_count, Quantization, TensorInfo};
pub use stats::{OpCost, TapCandidate};

/// The generated schema types, re-exported so users need not depend on `snapuq-schema`.
pub use snapuq_schema::tflite as schema;
pub use snapuq_schema::{BuiltinOperator, BuiltinOptionsT, ModelT, TensorType};
