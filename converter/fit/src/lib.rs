//! Label-free fitting for SNAP-UQ (paper §2.1–2.5, App. B.3–B.4, G, J, K, N).
//!
//! This crate is the numerical core of `snap-convert`: it works on plain `f32`/`f64` arrays
//! (GAP'd activations collected by the host executor, class probabilities, labels) and never
//! touches a model file. The CLI wires it to the executor and the model editor.
//!
//! Pipeline, one module per step:
//! 1. [`taps`]: pick the tapped layers (mid block + penultimate block by default) and a
//!    projector rank per tap under a MAC budget.
//! 2. [`heads`]: fit the projector `P` (PCA), the `μ` head (ridge) and the `log σ²` head
//!    (closed-form start + Adam on the Gaussian NLL), with the G.8 sanity check and
//!    inverse-variance tap weights.
//! 3. [`quantize`]: int8 quantization of `P` and the heads with every fixed-point constant the
//!    SNAP kernels need, plus the int8-vs-float error of `ē`.
//! 4. [`calibrate`]: the score `S`, the confidence term `m`, the logistic / isotonic map to
//!    `U`, and the threshold `τ`; [`classwise`] the per-class map (the default).
//! 5. [`report`]: the serde [`report::FitReport`] the CLI prints.
//!
//! All arrays are row-major: `x[i * c + j]` is channel `j` of sample `i`.

// Matrix code reads best with explicit indices (rows, channels, ranks).
#![allow(clippy::needless_range_loop)]

pub mod calibrate;
pub mod classwise;
pub mod error;
pub mod heads;
pub mod quantize;
pub mod report;
pub mod taps;

pub use error::FitError;

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, FitError>;
