//! Errors of the fitting pipeline. Each message names what is wrong and how to fix it, so the
//! CLI can print it as is.

use thiserror::Error;

/// Everything that can go wrong while choosing taps, fitting heads or calibrating.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum FitError {
    /// A `--taps` entry matches no candidate tap.
    #[error("unknown tap `{requested}`: no candidate tap has that tensor name or index (candidates: {available})")]
    UnknownTap {
        requested: String,
        available: String,
    },
    /// A tap whose producer has no previous activation we can project from.
    #[error("tap `{name}` (tensor {tensor}) has no usable previous activation: {why}; choose another tap")]
    TapWithoutPrevious {
        name: String,
        tensor: usize,
        why: String,
    },
    /// The same tap was requested twice.
    #[error("tap `{name}` (tensor {tensor}) was requested more than once; list each tap once")]
    DuplicateTap { name: String, tensor: usize },
    /// No candidate could serve as a tap.
    #[error(
        "the model has no usable tap: no block output has a previous activation to project from"
    )]
    NoUsableTap,
    /// A user-fixed rank is out of range.
    #[error("rank {rank} for tap `{name}` is invalid: it must be between 1 and {max}")]
    BadRank {
        name: String,
        rank: usize,
        max: usize,
    },
    /// Array lengths do not match the declared shapes.
    #[error("{what}: expected {expected} values, got {got}")]
    ShapeMismatch {
        what: String,
        expected: usize,
        got: usize,
    },
    /// Too few samples to fit reliably.
    #[error("too few samples for {what}: got {got}, need at least {need}; provide more calibration data")]
    TooFewSamples {
        what: String,
        got: usize,
        need: usize,
    },
    /// A value that must be finite is NaN or infinite.
    #[error("{what} contains a non-finite value (NaN or infinity) at index {index}")]
    NonFinite { what: String, index: usize },
    /// A configuration value is out of its valid range.
    #[error("invalid setting {what}: {why}")]
    BadConfig { what: String, why: String },
    /// The dev set has only one class (all correct or all wrong).
    #[error("the dev set has {wrong} wrong and {correct} correct predictions; the calibrator needs both (add shifted or harder samples)")]
    OneClassDev { wrong: usize, correct: usize },
    /// A numerical routine did not produce a usable answer.
    #[error("numerical failure in {what}: {why}")]
    Numerical { what: String, why: String },
}

/// Checks that `data` holds `expected` values, all finite.
pub(crate) fn check_array(what: &str, data: &[f32], expected: usize) -> Result<(), FitError> {
    if data.len() != expected {
        return Err(FitError::ShapeMismatch {
            what: what.to_string(),
            expected,
            got: data.len(),
        });
    }
    if let Some(index) = data.iter().position(|v| !v.is_finite()) {
        return Err(FitError::NonFinite {
            what: what.to_string(),
            index,
        });
    }
    Ok(())
}

/// `check_array` for `f64` data.
pub(crate) fn check_array_f64(what: &str, data: &[f64], expected: usize) -> Result<(), FitError> {
    if data.len() != expected {
        return Err(FitError::ShapeMismatch {
            what: what.to_string(),
            expected,
            got: data.len(),
        });
    }
    if let Some(index) = data.iter().position(|v| !v.is_finite()) {
        return Err(FitError::NonFinite {
            what: what.to_string(),
            index,
        });
    }
    Ok(())
}
