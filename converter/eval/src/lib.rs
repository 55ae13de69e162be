//! Evaluation harness for single-pass uncertainty scores (SNAP-UQ paper, App. C–F, N, O).
//!
//! Pure library over plain arrays: it never loads a model. The CLI runs the host executor,
//! collects logits / probabilities / tap features / U(x) per sample, and hands those arrays here.
//!
//! Conventions used throughout:
//! - **Scores are "higher = more uncertain"** (error, OOD, in-event). Confidence-like
//!   quantities are negated or complemented before they leave [`baselines`].
//! - Per-sample class vectors are passed **flat, row-major**: `n * n_classes` values plus
//!   `n_classes`; features are `n * dim` plus `dim`.
//! - Randomness is always a caller-supplied `u64` seed driving ChaCha8, so every number is
//!   reproducible.
//! - Bad input (length mismatch, non-finite values, empty arrays, a task with one class only)
//!   is reported as an [`EvalError`], never a panic.
//!
//! Modules: [`metrics`] (App. F), [`conditions`] (AUROC per clean / family / severity cell with
//! paired bootstrap differences), [`shifts`] (CIFAR-10-C style image corruptions and KWS
//! feature shifts), [`streams`] (App. D–E), [`baselines`] (App. C.1 / O.1), [`report`]
//! (JSON, terminal table, SVG/HTML).

pub mod baselines;
pub mod conditions;
mod error;
pub mod metrics;
pub mod report;
pub mod shifts;
pub mod streams;

pub use error::{EvalError, Result};
