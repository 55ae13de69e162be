//! The one error type of the crate.

/// Why an evaluation step could not produce a number.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// Two arrays that must describe the same samples have different lengths.
    #[error("{what}: expected {expected} values but got {got}; pass one entry per sample (flat row-major for matrices)")]
    LengthMismatch {
        /// Which argument is wrong.
        what: &'static str,
        /// Length implied by the other arguments.
        expected: usize,
        /// Length actually passed.
        got: usize,
    },
    /// An input was empty where at least one sample is needed.
    #[error("{0} is empty; at least one sample is needed")]
    Empty(&'static str),
    /// A metric is undefined for the data (e.g. AUROC with no positives).
    #[error("{0}")]
    Undefined(String),
    /// A parameter is outside its valid range.
    #[error("{0}")]
    InvalidArgument(String),
    /// JPEG encoding or decoding failed inside the `image` crate.
    #[error("image codec failed: {0}")]
    Codec(String),
    /// Plot rendering failed.
    #[error("plot rendering failed: {0}")]
    Plot(String),
    /// Writing a report file failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// JSON (de)serialization failed.
    #[error("JSON error: {0}")]
    Json(#[from] serde_json::Error),
}

/// Crate result alias.
pub type Result<T> = std::result::Result<T, EvalError>;

pub(crate) fn check_len(what: &'static str, expected: usize, got: usize) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(EvalError::LengthMismatch {
            what,
            expected,
            got,
        })
    }
}

pub(crate) fn check_finite(what: &'static str, values: &[f64]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(EvalError::InvalidArgument(format!(
            "{what}[{i}] = {} is not finite; drop or fix that sample",
            values[i]
        ))),
    }
}
