#![cfg_attr(not(feature = "std"), no_std)]
//! snapuq-exec: an int8 TFLite executor that reproduces TensorFlow Lite Micro bit for bit.
//!
//! * [`kernels`]: `no_std`, allocation-free int8 kernels, one module per op (TFLM's reference
//!   arithmetic, with cache-friendlier loops that keep the exact integer results).
//! * [`Interpreter`]: parses a verified `.tflite`, prepares every op once, plans one arena
//!   (greedy over tensor lifetimes, or [`Options::preserve_all`]), runs the ops, exposes every
//!   intermediate tensor through [`Interpreter::invoke_with`], and runs custom ops registered by
//!   name in an [`OpResolver`].
//! * `std` feature: [`batch`] runs many samples across threads (one arena per thread).
//! * Firmware: keep the interpreter in a zeroed `static` ([`Interpreter::empty`] is `const` and
//!   all zero bytes, so it lands in .bss) and fill it in place with [`Interpreter::load`]: the
//!   tables never travel over the stack. Feature `lean-schema` reads models through
//!   `snapuq-schema`'s lean schema (a verifier for only what the executor reads, ~80 KB less
//!   flash); verify the bytes fully on the host first (examples/firmware/runner/build.rs does).
//!
//! ```no_run
//! use snapuq_exec::{Interpreter, OpResolver, Options};
//! # fn f(model: &[u8]) -> Result<(), snapuq_exec::ExecError> {
//! let resolver = OpResolver::new();
//! let need = snapuq_exec::arena_bytes_needed(model, &resolver, Options::default())?;
//! let mut arena = vec![0u8; need];
//! let mut it: Interpreter = Interpreter::new(model, &mut arena, &resolver, Options::default())?;
//! it.input_mut(0)?.fill(0);
//! it.invoke_with(|op, outputs| {
//!     for t in outputs {
//!         println!("op {op} wrote tensor {} {:?}", t.index, t.shape.dims());
//!     }
//! })?;
//! let probs = it.output(0)?.as_i8().unwrap_or(&[]);
//! # let _ = probs; Ok(()) }
//! ```
#[cfg(feature = "std")]
pub mod batch;
pub mod error;
pub mod fixedpoint;
pub mod interpreter;
pub mod kernels;
pub mod plan;
pub mod quant;
pub mod resolver;
pub mod shape;
pub mod snap;
pub mod tensor;

pub use error::{ErrorKind, ExecError};
pub use interpreter::{
    arena_bytes_needed, Interpreter, Options, DEFAULT_MAX_OPS, DEFAULT_MAX_TENSORS,
};
pub use resolver::{
    custom_error, CustomKernel, EvalContext, OpResolver, PrepareContext, MAX_CUSTOM_OPS,
    MAX_NODE_IO,
};
pub use shape::Shape;
pub use tensor::{DType, Quant, TensorInfo, TensorMut, TensorView};
