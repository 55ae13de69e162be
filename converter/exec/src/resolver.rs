//! Custom-op registration. Builtin ops need no registration; custom ops (`CUSTOM` with a
//! `custom_code`) are looked up by name in a fixed-capacity [`OpResolver`], so firmware can
//! build one without a heap.
use crate::error::{ErrorKind, ExecError};
use crate::tensor::{TensorMut, TensorView};

/// How many custom kernels one resolver holds.
pub const MAX_CUSTOM_OPS: usize = 16;
/// Most inputs or outputs a node (and the model) may have: 16 on hosts; 8 without `std`
/// (firmware), which every SNAP op (SNAP_SURPRISAL has 7 inputs) and the MCU models fit. The
/// executor and the SNAP glue keep per-node arrays of this length on the stack (views of 60
/// bytes each), and on the Small-MCU tier (64 KB RAM) those 8 entries are worth ~2 KB.
pub const MAX_NODE_IO: usize = if cfg!(feature = "std") { 16 } else { 8 };

/// What a custom kernel sees at prepare: its options and the metadata of its tensors. Tensor
/// data is only present for constant tensors (weights, LUTs); activations have empty `data`.
pub struct PrepareContext<'c> {
    /// Index of the operator in subgraph 0.
    pub op_index: usize,
    /// The operator's `custom_options` bytes (a flexbuffer for the SNAP ops).
    pub options: &'c [u8],
    /// Inputs (`None` for optional inputs given as −1).
    pub inputs: &'c [Option<TensorView<'c>>],
    /// Outputs (data empty).
    pub outputs: &'c [TensorView<'c>],
}

/// What a custom kernel sees at eval.
pub struct EvalContext<'c, 'd> {
    pub op_index: usize,
    pub options: &'c [u8],
    /// Inputs with their current data.
    pub inputs: &'c [Option<TensorView<'d>>],
    /// Outputs to write.
    pub outputs: &'c mut [TensorMut<'d>],
    /// This node's persistent buffer: the bytes its `prepare` asked for, zeroed by `reset`,
    /// kept across invocations.
    pub persistent: &'c mut [u8],
}

/// A custom operator kernel. Implementations must be allocation-free and must not panic on
/// bad inputs: return an [`ExecError`] instead (use [`custom_error`]).
pub trait CustomKernel: Sync {
    /// Validates the node and returns how many persistent bytes it needs.
    fn prepare(&self, ctx: &PrepareContext<'_>) -> Result<usize, ExecError>;

    /// Fills the persistent buffer once after planning (default: zeroes, like `reset`).
    fn init(&self, ctx: &PrepareContext<'_>, persistent: &mut [u8]) -> Result<(), ExecError> {
        let _ = ctx;
        self.reset(persistent);
        Ok(())
    }

    /// Computes the outputs.
    fn eval(&self, ctx: &mut EvalContext<'_, '_>) -> Result<(), ExecError>;

    /// Returns the persistent state to its initial value (TFLM's `reset`). Default: zero-fill.
    fn reset(&self, persistent: &mut [u8]) {
        persistent.fill(0);
    }
}

/// A custom kernel failure with a static message.
pub fn custom_error(msg: &'static str) -> ExecError {
    ExecError::new(ErrorKind::Custom(msg))
}

/// Custom kernels by name.
#[derive(Clone, Copy)]
pub struct OpResolver<'r> {
    entries: [Option<(&'r str, &'r dyn CustomKernel)>; MAX_CUSTOM_OPS],
}

impl Default for OpResolver<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'r> OpResolver<'r> {
    /// A resolver with only the builtin ops.
    pub const fn new() -> Self {
        OpResolver {
            entries: [None; MAX_CUSTOM_OPS],
        }
    }

    /// Registers `kernel` for `CUSTOM` ops whose `custom_code` is `name` (replacing an earlier one).
    pub fn add_custom(
        &mut self,
        name: &'r str,
        kernel: &'r dyn CustomKernel,
    ) -> Result<(), ExecError> {
        if let Some(slot) = self.entries.iter_mut().flatten().find(|(n, _)| *n == name) {
            slot.1 = kernel;
            return Ok(());
        }
        match self.entries.iter_mut().find(|e| e.is_none()) {
            Some(e) => {
                *e = Some((name, kernel));
                Ok(())
            }
            None => Err(ExecError::new(ErrorKind::Capacity(
                "custom ops in the resolver",
            ))),
        }
    }

    /// Slot of the kernel registered under `name`.
    pub(crate) fn find(&self, name: &str) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| matches!(e, Some((n, _)) if *n == name))
    }

    /// Name the kernel in `slot` was registered under.
    pub(crate) fn name(&self, slot: usize) -> Option<&'r str> {
        self.entries.get(slot).copied().flatten().map(|(n, _)| n)
    }

    pub(crate) fn kernel(&self, slot: usize) -> Option<&'r dyn CustomKernel> {
        self.entries.get(slot).copied().flatten().map(|(_, k)| k)
    }
}
