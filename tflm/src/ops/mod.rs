//! The three registrations. Each file adapts one op of `snapuq-ops` to the [`SnapOp`] glue
//! and exports its C entry point `snapuq_register_<NAME>()`.
//!
//! [`SnapOp`]: crate::glue::SnapOp
pub mod calibrate;
pub mod project;
pub mod surprisal;

/// The dot-product implementation every kernel runs with: `SMLAD` on Cortex-M4/M7, the
/// portable loop elsewhere (bit-identical; see `snapuq-cmsis`).
pub type Dot = snapuq_cmsis::DspDot;
