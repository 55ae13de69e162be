//! The three SNAP-UQ custom ops (`SNAP_PROJECT`, `SNAP_SURPRISAL`, `SNAP_CALIBRATE`) as
//! [`CustomKernel`]s, calling the very same `snapuq-ops` kernels the TFLM firmware runs, so a
//! host run of an augmented model gives the device's numbers bit for bit.
//!
//! The glue only maps the executor's tensors to [`TensorDesc`]s and typed slices; options
//! are parsed and shapes validated by the ops themselves (`docs/ops.md` is the contract).
//! Like the kernels it is `no_std` and allocation-free, so the firmware runner gets it too.
//!
//! Per node:
//! * `SNAP_PROJECT` asks for `c_in` persistent bytes and uses them as the kernel's scratch
//!   (the pooled int8 vector); the executor has no separate scratch arena, and a stack
//!   array of the documented maximum (4096 bytes) would be too much for the small MCU tier.
//! * `SNAP_CALIBRATE` with the controller keeps [`ControllerState`] in its persistent
//!   buffer, followed by the clamped τ₀ so [`CustomKernel::reset`] (which sees no options)
//!   can restore `(τ₀, 0, 0)`: 16 bytes, little-endian, no `unsafe`.
//!
//! Options are re-parsed and shapes re-validated at every eval (a key scan of a few hundred
//! bytes): the executor keeps no per-node OpData for custom ops, and this keeps eval
//! independent of anything prepare might have seen.
//!
//! Errors: [`ExecError`] only carries `&'static str` messages, so an [`OpError`] maps to a
//! static line naming the op and the kind of problem ([`static_message`]). The inherent
//! `check`/`run` methods return the full [`OpError`] (with [`OpError::message`] naming the
//! tensor and option) for hosts that want the detailed text.

use crate::error::ExecError;
use crate::resolver::{
    custom_error, CustomKernel, EvalContext, OpResolver, PrepareContext, MAX_NODE_IO,
};
use crate::shape::{Shape, MAX_DIMS};
use crate::tensor::{DType, TensorMut, TensorView};
use snapuq_ops::calibrate::{
    self, CalibrateOptions, CalibrateOutputs, ClassifierData, OUTPUT_ABSTAIN, OUTPUT_S, OUTPUT_U,
};
use snapuq_ops::controller::{ControllerState, STATE_BYTES};
use snapuq_ops::project::{self, ProjectOptions, INPUT_A, INPUT_BIAS, INPUT_P};
use snapuq_ops::surprisal::{self, SurprisalInputs, SurprisalOptions};
use snapuq_ops::{limits, OpError, OpKind, Port, PortableDot, TensorDesc};

/// `SNAP_PROJECT`: z = requant(P · GAP(a) + bias).
#[derive(Clone, Copy, Debug, Default)]
pub struct SnapProject;

/// `SNAP_SURPRISAL`: ē of a tap from z and the realized activation.
#[derive(Clone, Copy, Debug, Default)]
pub struct SnapSurprisal;

/// `SNAP_CALIBRATE`: S, U, abstain flag (and U_q) from every tap's ē and the classifier.
#[derive(Clone, Copy, Debug, Default)]
pub struct SnapCalibrate;

/// Instances with `'static` lifetime for [`register`].
pub static PROJECT: SnapProject = SnapProject;
/// See [`PROJECT`].
pub static SURPRISAL: SnapSurprisal = SnapSurprisal;
/// See [`PROJECT`].
pub static CALIBRATE: SnapCalibrate = SnapCalibrate;

/// Registers the three SNAP ops under their custom codes (`OpKind::custom_code`).
pub fn register(resolver: &mut OpResolver<'_>) -> Result<(), ExecError> {
    resolver.add_custom(OpKind::Project.custom_code(), &PROJECT)?;
    resolver.add_custom(OpKind::Surprisal.custom_code(), &SURPRISAL)?;
    resolver.add_custom(OpKind::Calibrate.custom_code(), &CALIBRATE)?;
    Ok(())
}

/// Persistent bytes of `SNAP_CALIBRATE` with the controller: the state, then τ₀.
pub const CALIBRATE_STATE_BYTES: usize = STATE_BYTES + 4;

/// A static one-line message for `err`: the op's custom code and the kind of problem, kept
/// short because all 24 lines are in every firmware image. (The detailed text with tensor and
/// option names is `err.message()`, e.g. from [`SnapProject::check`] on a host.)
pub fn static_message(err: &OpError) -> &'static str {
    macro_rules! table {
        ($op:literal) => {
            [
                concat!(
                    $op,
                    ": custom options malformed (not a flexbuffer map, key missing or mistyped)"
                ),
                concat!($op, ": custom option value out of range (docs/ops.md)"),
                concat!($op, ": wrong number of inputs or outputs"),
                concat!($op, ": wrong element type of an input or output"),
                concat!($op, ": input or output shape does not match the options"),
                concat!($op, ": tensor exceeds snapuq_ops::limits"),
                concat!($op, ": tensor holds fewer elements than its shape"),
                concat!(
                    $op,
                    ": input absent, int32/float32 data not 4-byte aligned, or bad constant data"
                ),
            ]
        };
    }
    const PROJECT_MSGS: [&str; 8] = table!("SNAP_PROJECT");
    const SURPRISAL_MSGS: [&str; 8] = table!("SNAP_SURPRISAL");
    const CALIBRATE_MSGS: [&str; 8] = table!("SNAP_CALIBRATE");
    let msgs = match err.op() {
        OpKind::Project => &PROJECT_MSGS,
        OpKind::Surprisal => &SURPRISAL_MSGS,
        OpKind::Calibrate => &CALIBRATE_MSGS,
    };
    let i = match err {
        OpError::Unsupported { feature, .. } => return unsupported_message(feature),
        OpError::Options { .. } => 0,
        OpError::OptionValue { .. } => 1,
        OpError::Count { .. } => 2,
        OpError::DType { .. } => 3,
        OpError::Shape { .. } => 4,
        OpError::Limit { .. } => 5,
        OpError::Buffer { .. } => 6,
        OpError::Data { .. } => 7,
    };
    msgs[i]
}

/// The message for a model that needs a variant this build compiled out (names the feature).
fn unsupported_message(feature: &str) -> &'static str {
    match feature {
        "robust" => "SNAP_SURPRISAL: the model's variant (student_t/huber) is compiled out: enable snapuq-exec feature \"snap-robust\"",
        "lowrank" => "SNAP_SURPRISAL: the model's variant (lowrank) is compiled out: enable snapuq-exec feature \"snap-lowrank\"",
        "isotonic" => "SNAP_CALIBRATE: the model's isotonic mapping is compiled out: enable snapuq-exec feature \"snap-isotonic\"",
        "controller" => "SNAP_CALIBRATE: the model's controller (ctrl) is compiled out: enable snapuq-exec feature \"snap-controller\"",
        _ => "SNAP op: the model needs a snapuq-ops feature compiled out of this build (see docs/ops.md)",
    }
}

fn to_exec(err: OpError) -> ExecError {
    custom_error(static_message(&err))
}

/// The ops' element type for an executor element type.
fn op_dtype(d: DType) -> snapuq_ops::DType {
    use snapuq_ops::DType as O;
    match d {
        DType::Int8 => O::Int8,
        DType::UInt8 => O::UInt8,
        DType::Int16 => O::Int16,
        DType::Int32 => O::Int32,
        DType::Float32 => O::Float32,
        DType::Bool => O::Bool,
        other => O::Other(i32::from(other.code())),
    }
}

/// Storage for the `i32` dims of up to [`MAX_NODE_IO`] tensors, so [`TensorDesc`]s can
/// borrow them without allocation.
struct Descs {
    dims: [[i32; MAX_DIMS]; MAX_NODE_IO],
    rank: [usize; MAX_NODE_IO],
    dtype: [Option<DType>; MAX_NODE_IO],
    len: usize,
}

impl Descs {
    fn new<'a>(tensors: impl Iterator<Item = Option<(DType, &'a Shape)>>) -> Self {
        let mut d = Descs {
            dims: [[0; MAX_DIMS]; MAX_NODE_IO],
            rank: [0; MAX_NODE_IO],
            dtype: [None; MAX_NODE_IO],
            len: 0,
        };
        for (j, t) in tensors.take(MAX_NODE_IO).enumerate() {
            if let Some((dtype, shape)) = t {
                let dims = shape.dims();
                for (slot, &x) in d.dims[j].iter_mut().zip(dims) {
                    // Dims past i32 cannot be valid SNAP shapes; -1 makes prepare reject them.
                    *slot = i32::try_from(x).unwrap_or(-1);
                }
                d.rank[j] = dims.len().min(MAX_DIMS);
                d.dtype[j] = Some(dtype);
            }
            d.len = j + 1;
        }
        d
    }

    fn inputs(ins: &[Option<TensorView<'_>>]) -> Self {
        Self::new(ins.iter().map(|t| t.as_ref().map(|t| (t.dtype, &t.shape))))
    }

    fn outputs<'a>(outs: impl Iterator<Item = (DType, &'a Shape)>) -> Self {
        Self::new(outs.map(Some))
    }

    fn get(&self, j: usize) -> Option<TensorDesc<'_>> {
        let dtype = (*self.dtype.get(j)?)?;
        Some(TensorDesc::new(
            op_dtype(dtype),
            &self.dims[j][..self.rank[j]],
        ))
    }

    fn optional(&self) -> [Option<TensorDesc<'_>>; MAX_NODE_IO] {
        core::array::from_fn(|j| self.get(j))
    }

    fn required(&self) -> [TensorDesc<'_>; MAX_NODE_IO] {
        core::array::from_fn(|j| {
            self.get(j)
                .unwrap_or(TensorDesc::new(snapuq_ops::DType::Other(-1), &[]))
        })
    }
}

/// Runs `f` with the descriptors of a node's inputs and outputs.
fn with_descs<'a, R>(
    inputs: &[Option<TensorView<'_>>],
    outputs: impl Iterator<Item = (DType, &'a Shape)>,
    f: impl FnOnce(&[Option<TensorDesc<'_>>], &[TensorDesc<'_>]) -> R,
) -> R {
    let ins = Descs::inputs(inputs);
    let outs = Descs::outputs(outputs);
    let i = ins.optional();
    let o = outs.required();
    f(&i[..ins.len], &o[..outs.len])
}

fn absent(op: OpKind, port: Port, name: &'static str) -> OpError {
    OpError::Data {
        op,
        port,
        name,
        problem: "is required but absent",
    }
}

/// Input `j`'s view, or a "required but absent" error.
fn input<'d>(
    ins: &[Option<TensorView<'d>>],
    op: OpKind,
    j: usize,
    name: &'static str,
) -> Result<TensorView<'d>, OpError> {
    ins.get(j)
        .copied()
        .flatten()
        .ok_or(absent(op, Port::Input(j as u8), name))
}

fn as_i8<'d>(t: &TensorView<'d>) -> &'d [i8] {
    bytemuck::cast_slice(t.data)
}

const MISALIGNED: &str =
    "is not 4-byte aligned in memory (load the model into a 16-byte aligned buffer, as TFLM requires)";

fn misaligned(op: OpKind, port: Port, name: &'static str) -> OpError {
    OpError::Data {
        op,
        port,
        name,
        problem: MISALIGNED,
    }
}

/// Int32 data; constants live in the model bytes, so alignment is checked, not assumed.
fn as_i32<'d>(
    t: &TensorView<'d>,
    op: OpKind,
    port: Port,
    name: &'static str,
) -> Result<&'d [i32], OpError> {
    bytemuck::try_cast_slice(t.data).map_err(|_| misaligned(op, port, name))
}

fn as_f32<'d>(
    t: &TensorView<'d>,
    op: OpKind,
    port: Port,
    name: &'static str,
) -> Result<&'d [f32], OpError> {
    bytemuck::try_cast_slice(t.data).map_err(|_| misaligned(op, port, name))
}

fn out_f32<'o>(
    t: &'o mut TensorMut<'_>,
    op: OpKind,
    port: Port,
    name: &'static str,
) -> Result<&'o mut [f32], OpError> {
    bytemuck::try_cast_slice_mut(&mut *t.data).map_err(|_| misaligned(op, port, name))
}

impl SnapProject {
    /// Parses the options and validates the node; returns the persistent bytes it needs
    /// (the kernel's scratch, `c_in`).
    pub fn check(&self, ctx: &PrepareContext<'_>) -> Result<usize, OpError> {
        let opts = ProjectOptions::parse(ctx.options)?;
        with_descs(
            ctx.inputs,
            ctx.outputs.iter().map(|t| (t.dtype, &t.shape)),
            |i, o| project::prepare(&opts, i, o),
        )?;
        Ok(project::scratch_bytes(&opts))
    }

    /// Evaluates the node with the portable kernel.
    pub fn run(&self, ctx: &mut EvalContext<'_, '_>) -> Result<(), OpError> {
        const OP: OpKind = OpKind::Project;
        let opts = ProjectOptions::parse(ctx.options)?;
        let plan = with_descs(
            ctx.inputs,
            ctx.outputs.iter().map(|t| (t.dtype, &t.shape)),
            |i, o| project::prepare(&opts, i, o),
        )?;
        let a = input(ctx.inputs, OP, INPUT_A, "a")?;
        // Absent P (r == c_in) is the identity; prepare checked which case this is.
        let p: &[i8] = if plan.identity {
            &[]
        } else {
            as_i8(&input(ctx.inputs, OP, INPUT_P, "P")?)
        };
        let bias = match ctx.inputs.get(INPUT_BIAS).copied().flatten() {
            Some(b) => Some(as_i32(&b, OP, Port::Input(2), "bias")?),
            None => None,
        };
        let (z, rest) = ctx
            .outputs
            .split_first_mut()
            .ok_or(absent(OP, Port::Output(0), "z"))?;
        let z: &mut [i8] = bytemuck::cast_slice_mut(&mut *z.data);
        let stats = match rest.first_mut() {
            Some(t) if plan.stats => Some(out_f32(t, OP, Port::Output(1), "stats")?),
            _ => None,
        };
        let scratch: &mut [i8] = bytemuck::cast_slice_mut(&mut *ctx.persistent);
        project::eval_with_stats::<PortableDot>(&opts, &plan, as_i8(&a), p, bias, z, stats, scratch)
    }
}

impl CustomKernel for SnapProject {
    fn prepare(&self, ctx: &PrepareContext<'_>) -> Result<usize, ExecError> {
        self.check(ctx).map_err(to_exec)
    }

    fn eval(&self, ctx: &mut EvalContext<'_, '_>) -> Result<(), ExecError> {
        self.run(ctx).map_err(to_exec)
    }
}

impl SnapSurprisal {
    /// Parses the options and validates the node; needs no persistent bytes.
    pub fn check(&self, ctx: &PrepareContext<'_>) -> Result<usize, OpError> {
        let opts = SurprisalOptions::parse(ctx.options)?;
        with_descs(
            ctx.inputs,
            ctx.outputs.iter().map(|t| (t.dtype, &t.shape)),
            |i, o| surprisal::prepare(&opts, i, o),
        )?;
        Ok(surprisal::scratch_bytes(&opts))
    }

    /// Evaluates the node with the portable kernel.
    pub fn run(&self, ctx: &mut EvalContext<'_, '_>) -> Result<(), OpError> {
        const OP: OpKind = OpKind::Surprisal;
        let opts = SurprisalOptions::parse(ctx.options)?;
        let plan = with_descs(
            ctx.inputs,
            ctx.outputs.iter().map(|t| (t.dtype, &t.shape)),
            |i, o| surprisal::prepare(&opts, i, o),
        )?;
        let ins = ctx.inputs;
        let b_lowrank = ins
            .get(surprisal::INPUT_B_LOWRANK)
            .copied()
            .flatten()
            .map(|b| as_i8(&b));
        let data = SurprisalInputs {
            z: as_i8(&input(ins, OP, surprisal::INPUT_Z, "z")?),
            a: as_i8(&input(ins, OP, surprisal::INPUT_A, "a")?),
            w_mu: as_i8(&input(ins, OP, surprisal::INPUT_W_MU, "W_mu")?),
            b_mu: as_i32(
                &input(ins, OP, surprisal::INPUT_B_MU, "b_mu")?,
                OP,
                Port::Input(3),
                "b_mu",
            )?,
            w_ls: as_i8(&input(ins, OP, surprisal::INPUT_W_LS, "W_ls")?),
            b_ls: as_i32(
                &input(ins, OP, surprisal::INPUT_B_LS, "b_ls")?,
                OP,
                Port::Input(5),
                "b_ls",
            )?,
            lut: as_i32(
                &input(ins, OP, surprisal::INPUT_LUT, "lut")?,
                OP,
                Port::Input(6),
                "lut",
            )?,
            b_lowrank,
        };
        let out = ctx.outputs.get_mut(surprisal::OUTPUT_EBAR).ok_or(absent(
            OP,
            Port::Output(0),
            "ebar",
        ))?;
        let out = out_f32(out, OP, Port::Output(0), "ebar")?;
        surprisal::eval::<PortableDot>(&opts, &plan, &data, out)
    }
}

impl CustomKernel for SnapSurprisal {
    fn prepare(&self, ctx: &PrepareContext<'_>) -> Result<usize, ExecError> {
        self.check(ctx).map_err(to_exec)
    }

    fn eval(&self, ctx: &mut EvalContext<'_, '_>) -> Result<(), ExecError> {
        self.run(ctx).map_err(to_exec)
    }
}

/// Writes `state` and τ₀ into a calibrate node's persistent buffer.
fn store_state(buf: &mut [u8], state: &ControllerState, tau0: f32) {
    if buf.len() < CALIBRATE_STATE_BYTES {
        return;
    }
    buf[0..4].copy_from_slice(&state.tau.to_le_bytes());
    buf[4..8].copy_from_slice(&state.abar.to_le_bytes());
    buf[8..12].copy_from_slice(&state.steps.to_le_bytes());
    buf[12..16].copy_from_slice(&tau0.to_le_bytes());
}

fn word(buf: &[u8], at: usize) -> [u8; 4] {
    let mut w = [0u8; 4];
    if let Some(b) = buf.get(at..at + 4) {
        w.copy_from_slice(b);
    }
    w
}

/// Reads the controller state and τ₀ back (`None` when the buffer is too short).
fn load_state(buf: &[u8]) -> Option<(ControllerState, f32)> {
    if buf.len() < CALIBRATE_STATE_BYTES {
        return None;
    }
    let state = ControllerState {
        tau: f32::from_le_bytes(word(buf, 0)),
        abar: f32::from_le_bytes(word(buf, 4)),
        steps: u32::from_le_bytes(word(buf, 8)),
    };
    Some((state, f32::from_le_bytes(word(buf, 12))))
}

impl SnapCalibrate {
    /// The controller state kept in a node's persistent buffer (`None` when the node runs
    /// without the controller). For tests and diagnostics.
    pub fn state(persistent: &[u8]) -> Option<ControllerState> {
        load_state(persistent).map(|(s, _)| s)
    }

    /// Parses the options and validates the node; returns the persistent bytes it needs
    /// ([`CALIBRATE_STATE_BYTES`] with the controller, else 0).
    pub fn check(&self, ctx: &PrepareContext<'_>) -> Result<usize, OpError> {
        let opts = CalibrateOptions::parse(ctx.options)?;
        with_descs(
            ctx.inputs,
            ctx.outputs.iter().map(|t| (t.dtype, &t.shape)),
            |i, o| calibrate::prepare(&opts, i, o),
        )?;
        Ok(if opts.controller.is_some() {
            CALIBRATE_STATE_BYTES
        } else {
            0
        })
    }

    /// Evaluates the node (the controller, if enabled, steps through the batch in order).
    pub fn run(&self, ctx: &mut EvalContext<'_, '_>) -> Result<(), OpError> {
        const OP: OpKind = OpKind::Calibrate;
        let opts = CalibrateOptions::parse(ctx.options)?;
        let plan = with_descs(
            ctx.inputs,
            ctx.outputs.iter().map(|t| (t.dtype, &t.shape)),
            |i, o| calibrate::prepare(&opts, i, o),
        )?;
        let ins = ctx.inputs;
        let taps = opts.taps.min(limits::MAX_TAPS);
        let mut ebar: [&[f32]; limits::MAX_TAPS] = [&[]; limits::MAX_TAPS];
        for (l, e) in ebar.iter_mut().enumerate().take(taps) {
            *e = as_f32(
                &input(ins, OP, l, "ebar")?,
                OP,
                Port::Input(l as u8),
                "ebar",
            )?;
        }
        let cls_view = input(ins, OP, taps, "classifier")?;
        let cls = match cls_view.dtype {
            DType::Int8 => ClassifierData::I8(as_i8(&cls_view)),
            DType::UInt8 => ClassifierData::U8(cls_view.data),
            // prepare accepted only int8, uint8 or float32.
            _ => ClassifierData::F32(as_f32(
                &cls_view,
                OP,
                Port::Input(taps as u8),
                "classifier",
            )?),
        };
        let table = match ins.get(taps + 1).copied().flatten() {
            Some(t) => Some(as_f32(&t, OP, Port::Input((taps + 1) as u8), "table")?),
            None => None,
        };
        let mut stats: [&[f32]; limits::MAX_TAPS] = [&[]; limits::MAX_TAPS];
        let n_stats = if matches!(opts.mapping, calibrate::Mapping::Classwise) {
            opts.stats.min(limits::MAX_TAPS)
        } else {
            0
        };
        for (k, st) in stats.iter_mut().enumerate().take(n_stats) {
            let i = taps + 2 + k;
            *st = as_f32(
                &input(ins, OP, i, "stats")?,
                OP,
                Port::Input(i as u8),
                "stats",
            )?;
        }
        let mut state = match opts.controller {
            Some(_) => Some(load_state(ctx.persistent).ok_or(OpError::Data {
                op: OP,
                port: Port::Output(OUTPUT_ABSTAIN as u8),
                name: "controller state",
                problem: "persistent buffer is missing (prepare was not run on this node)",
            })?),
            None => None,
        };
        let mut outs = ctx.outputs.iter_mut();
        let u = outs
            .next()
            .ok_or(absent(OP, Port::Output(OUTPUT_U as u8), "U"))?;
        let u = out_f32(u, OP, Port::Output(0), "U")?;
        let s = match outs.next() {
            Some(t) => Some(out_f32(t, OP, Port::Output(OUTPUT_S as u8), "S")?),
            None => None,
        };
        // Outputs are a prefix of U, S, abstain, U_q (prepare checked their dtypes).
        let abstain = outs.next().map(|t| &mut *t.data);
        let u_q = outs.next().map(|t| &mut *t.data);
        let out = CalibrateOutputs { u, s, abstain, u_q };
        calibrate::eval_with_stats(
            &opts,
            &plan,
            &ebar[..taps],
            cls,
            table,
            &stats[..n_stats],
            state.as_mut().map(|(s, _)| s),
            out,
        )?;
        if let Some((s, tau0)) = state {
            store_state(ctx.persistent, &s, tau0);
        }
        Ok(())
    }
}

impl CustomKernel for SnapCalibrate {
    fn prepare(&self, ctx: &PrepareContext<'_>) -> Result<usize, ExecError> {
        self.check(ctx).map_err(to_exec)
    }

    /// Starts the controller at `(τ₀, 0, 0)` and records τ₀ for [`CustomKernel::reset`].
    fn init(&self, ctx: &PrepareContext<'_>, persistent: &mut [u8]) -> Result<(), ExecError> {
        let opts = CalibrateOptions::parse(ctx.options).map_err(to_exec)?;
        persistent.fill(0);
        if let Some(state) = opts.initial_state() {
            store_state(persistent, &state, state.tau);
        }
        Ok(())
    }

    fn eval(&self, ctx: &mut EvalContext<'_, '_>) -> Result<(), ExecError> {
        self.run(ctx).map_err(to_exec)
    }

    /// Back to `(τ₀, 0, 0)` (τ₀ already clamped to the bounds at init).
    fn reset(&self, persistent: &mut [u8]) {
        match load_state(persistent) {
            Some((_, tau0)) => {
                let fresh = ControllerState {
                    tau: tau0,
                    abar: 0.0,
                    steps: 0,
                };
                store_state(persistent, &fresh, tau0);
            }
            None => persistent.fill(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_through_bytes() {
        let s = ControllerState {
            tau: 0.625,
            abar: 0.125,
            steps: 77,
        };
        let mut buf = [0u8; CALIBRATE_STATE_BYTES];
        store_state(&mut buf, &s, 0.5);
        assert_eq!(load_state(&buf), Some((s, 0.5)));
        SnapCalibrate.reset(&mut buf);
        let fresh = ControllerState {
            tau: 0.5,
            abar: 0.0,
            steps: 0,
        };
        assert_eq!(load_state(&buf), Some((fresh, 0.5)));
        assert_eq!(load_state(&buf[..15]), None);
    }

    #[test]
    fn compiled_out_variants_name_the_exec_feature() {
        for (op, feature) in [
            (OpKind::Surprisal, "robust"),
            (OpKind::Surprisal, "lowrank"),
            (OpKind::Calibrate, "isotonic"),
            (OpKind::Calibrate, "controller"),
        ] {
            let m = static_message(&OpError::Unsupported {
                op,
                key: "variant",
                feature,
            });
            assert!(m.starts_with(op.custom_code()), "{m}");
            assert!(m.contains("feature \"snap-") && m.contains(feature), "{m}");
        }
    }

    #[test]
    fn every_static_message_names_its_op() {
        let e = OpError::OptionValue {
            op: OpKind::Surprisal,
            key: "r",
            problem: "x",
        };
        assert!(static_message(&e).starts_with("SNAP_SURPRISAL: "));
        let e = OpError::Limit {
            op: OpKind::Calibrate,
            what: "taps",
            value: 9,
            max: 8,
        };
        assert!(static_message(&e).starts_with("SNAP_CALIBRATE: "));
    }
}
