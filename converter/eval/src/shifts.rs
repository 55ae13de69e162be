//! Distribution shifts for building CID pools: CIFAR-10-C style image corruptions
//! ([`image`]) and approximate MFCC-domain shifts for keyword-spotting inputs ([`audio`]).
//!
//! Every shift takes a severity (1 = light … 5 = strong, 0 = identity) and a `u64` seed; the
//! same (input, shift, severity, seed) always gives the same output. Random draws depend on
//! the seed and the shift kind but not on the severity, so severities of one seed share their
//! noise and differ only in strength.

pub mod audio;
pub mod image;

use crate::error::{EvalError, Result};

/// Highest severity.
pub const MAX_SEVERITY: u8 = 5;

pub(crate) fn severity_index(severity: u8) -> Result<Option<usize>> {
    match severity {
        0 => Ok(None),
        1..=MAX_SEVERITY => Ok(Some(severity as usize - 1)),
        _ => Err(EvalError::InvalidArgument(format!(
            "severity {severity} is out of range; use 0 (identity) or 1..=5"
        ))),
    }
}

pub(crate) fn stream_seed(seed: u64, kind: u64) -> u64 {
    seed ^ kind.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}
