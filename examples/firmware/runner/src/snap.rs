//! The hook for the SNAP-UQ custom ops.
//!
//! An augmented model carries `CUSTOM` operators named `SNAP_PROJECT`, `SNAP_SURPRISAL` and
//! `SNAP_CALIBRATE`. Their kernels register in [`resolver`]; the runner attributes the
//! instructions of every operator whose custom code starts with [`PREFIX`] to "snap" and all
//! others to "backbone". The kernels are `snapuq-exec`'s glue over the same `snapuq-ops`
//! kernels the host and the TFLM firmware run.
use snapuq_exec::{ExecError, OpResolver};

/// Custom codes of the SNAP-UQ operators start with this.
pub const PREFIX: &str = "SNAP_";

/// Adds every SNAP kernel to the runner's resolver (builtin ops need no registration).
pub fn register(r: &mut OpResolver<'static>) -> Result<(), ExecError> {
    snapuq_exec::snap::register(r)
}

/// True when the custom code names a SNAP-UQ operator.
pub fn is_snap(custom_code: &str) -> bool {
    custom_code.starts_with(PREFIX)
}
