//! The hook for the SNAP-UQ custom ops.
//!
//! An augmented model carries `CUSTOM` operators named `SNAP_PROJECT`, `SNAP_SURPRISAL` and
//! `SNAP_CALIBRATE`. Their kernels register in [`resolver`]; the runner attributes the
//! instructions of every operator whose custom code starts with [`PREFIX`] to "snap" and all
//! others to "backbone". Until `snapuq-exec` exposes `CustomKernel` implementations of the
//! SNAP ops, the resolver holds none, and a model that contains them fails at prepare with
//! "custom operator ... is not registered" (printed, exit status 1) rather than running wrong.
use snapuq_exec::OpResolver;

/// Custom codes of the SNAP-UQ operators start with this.
pub const PREFIX: &str = "SNAP_";

/// The resolver the runner uses: builtin ops plus every SNAP kernel available.
pub fn resolver() -> OpResolver<'static> {
    OpResolver::new()
}

/// True when the custom code names a SNAP-UQ operator.
pub fn is_snap(custom_code: &str) -> bool {
    custom_code.starts_with(PREFIX)
}
