//! What every SNAP registration does the same way: init parses the options into OpData in a
//! persistent buffer, prepare validates tensor descriptors and requests scratch, invoke maps
//! the eval tensors to slices and runs the kernel. Each op supplies a [`SnapOp`] impl; the
//! generic `extern "C"` callbacks below turn every failure into `ReportError` + status (or a
//! null OpData in init), so no input from the runtime or the model can panic.
use crate::ffi::context::{Ctx, Element, Node, Tensor};
use crate::ffi::types::*;
use core::ffi::{c_char, c_int, c_void, CStr};
use core::fmt;
use snapuq_ops::{DType, OpError, TensorDesc};

/// Most inputs or outputs any SNAP op takes (SNAP_SURPRISAL: 8; SNAP_CALIBRATE: taps + 1).
pub const MAX_IO: usize = 16;

/// The tensors of one node, fetched through `GetEvalTensor`.
#[derive(Clone, Copy)]
pub struct NodeTensors<'a> {
    pub inputs: [Option<Tensor<'a>>; MAX_IO],
    pub n_inputs: usize,
    pub outputs: [Option<Tensor<'a>>; MAX_IO],
    pub n_outputs: usize,
}

impl<'a> NodeTensors<'a> {
    /// Descriptors for the ops crate's `prepare` (absent optional inputs are `None`).
    pub fn input_descs(&self) -> [Option<TensorDesc<'a>>; MAX_IO] {
        let mut out = [None; MAX_IO];
        for (o, t) in out.iter_mut().zip(&self.inputs[..self.n_inputs]) {
            *o = t.map(desc);
        }
        out
    }

    /// Output `i` as bytes when its type is one of `types` (1-byte types only).
    pub fn output_bytes(&self, i: usize, types: &[i32]) -> Result<&'a mut [u8], Problem> {
        let t = self
            .outputs
            .get(i)
            .copied()
            .flatten()
            .ok_or(Problem::Absent {
                output: true,
                index: i,
            })?;
        if !types.contains(&t.dtype) {
            return Err(Problem::Data {
                output: true,
                index: i,
            });
        }
        let mut view = *self;
        view.outputs[i] = Some(t.retyped(K_TF_LITE_UINT8));
        view.output::<u8>(i)
    }

    /// Descriptors of the outputs (all present: checked by [`gather`]).
    pub fn output_descs(&self) -> [TensorDesc<'a>; MAX_IO] {
        let mut out = [TensorDesc::new(DType::Other(0), &[]); MAX_IO];
        for (o, t) in out.iter_mut().zip(&self.outputs[..self.n_outputs]) {
            if let Some(t) = t {
                *o = desc(*t);
            }
        }
        out
    }

    /// Input `i` as `&[T]`, or an error naming the input.
    pub fn input<T: Element>(&self, i: usize) -> Result<&'a [T], Problem> {
        let t = self
            .inputs
            .get(i)
            .copied()
            .flatten()
            .ok_or(Problem::Absent {
                output: false,
                index: i,
            })?;
        t.slice::<T>().ok_or(Problem::Data {
            output: false,
            index: i,
        })
    }

    /// Optional input `i`: `Ok(None)` when the model omits it.
    pub fn input_opt<T: Element>(&self, i: usize) -> Result<Option<&'a [T]>, Problem> {
        match self.inputs.get(i).copied().flatten() {
            None => Ok(None),
            Some(t) => t.slice::<T>().map(Some).ok_or(Problem::Data {
                output: false,
                index: i,
            }),
        }
    }

    /// Output `i` as `&mut [T]`, after checking it overlaps no input and no other output.
    pub fn output<T: Element>(&self, i: usize) -> Result<&'a mut [T], Problem> {
        let t = self
            .outputs
            .get(i)
            .copied()
            .flatten()
            .ok_or(Problem::Absent {
                output: true,
                index: i,
            })?;
        let bad = Problem::Data {
            output: true,
            index: i,
        };
        let (start, end) = t.byte_range::<T>().ok_or(bad)?;
        let overlaps = |o: &Option<Tensor<'a>>| {
            o.and_then(|o| {
                let n = o.elements()?;
                let s = o.byte_range::<u8>()?.0;
                let e = s.checked_add(n.checked_mul(dtype_bytes(o.dtype))?)?;
                Some(s < end && start < e && start != end && s != e)
            })
            .unwrap_or(false)
        };
        let clash = self.inputs[..self.n_inputs].iter().any(overlaps)
            || self.outputs[..self.n_outputs]
                .iter()
                .enumerate()
                .any(|(j, o)| j != i && overlaps(o));
        if clash {
            return Err(Problem::Overlap { index: i });
        }
        // SAFETY: the byte range of this output overlaps no other tensor of the node, so no
        // other slice handed to the kernel can alias it.
        unsafe { t.slice_mut::<T>() }.ok_or(bad)
    }
}

/// Bytes per element of the types the ops use (others count as 1: they fail type checks).
fn dtype_bytes(code: i32) -> usize {
    match code {
        c if c == K_TF_LITE_INT32 || c == K_TF_LITE_FLOAT32 => 4,
        c if c == K_TF_LITE_INT16 => 2,
        c if c == K_TF_LITE_INT64 => 8,
        _ => 1,
    }
}

fn desc<'a>(t: Tensor<'a>) -> TensorDesc<'a> {
    TensorDesc::new(DType::from_tflite(t.dtype), t.dims)
}

/// A failure of the glue itself (the ops crate reports its own as [`OpError`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The runtime passed a null context or node, or corrupt index arrays.
    Runtime(&'static str),
    /// More inputs or outputs than any SNAP op takes.
    TooMany { output: bool, count: usize },
    /// A tensor index the runtime could not resolve.
    Tensor {
        output: bool,
        index: usize,
        tensor: c_int,
        err: crate::ffi::context::TensorError,
    },
    /// A required input or output is absent.
    Absent { output: bool, index: usize },
    /// Tensor data null, misaligned, or of another type than prepare accepted.
    Data { output: bool, index: usize },
    /// An output's memory overlaps another tensor of the node.
    Overlap { index: usize },
    /// init failed (already reported), so there is no OpData.
    NoOpData,
    /// invoke before a successful prepare.
    NotPrepared,
    /// The arena had no room for our OpData.
    Persistent { bytes: usize },
    /// The arena could not give the scratch buffer.
    Scratch { bytes: usize },
    /// A CMSIS-NN call failed (feature `cmsis-nn`).
    #[cfg(feature = "cmsis-nn")]
    CmsisNn(snapuq_cmsis::nn::NnError),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let port = |output: &bool| if *output { "output" } else { "input" };
        match self {
            Problem::Runtime(what) => write!(f, "runtime passed {what}"),
            Problem::TooMany { output, count } => write!(
                f,
                "node has {count} {}s; SNAP ops take at most {MAX_IO}",
                port(output)
            ),
            Problem::Tensor {
                output,
                index,
                tensor,
                err,
            } => write!(f, "{} {index} (tensor {tensor}): {err}", port(output)),
            Problem::Absent { output, index } => {
                write!(f, "{} {index} is required but absent", port(output))
            }
            Problem::Data { output, index } => write!(
                f,
                "{} {index} has null, misaligned or retyped data at invoke",
                port(output)
            ),
            Problem::Overlap { index } => write!(
                f,
                "output {index} shares memory with another tensor of the node (arena plan?)"
            ),
            Problem::NoOpData => f.write_str(
                "init failed (see the error above), so the node cannot be prepared; \
                 re-run snap-convert or check the custom options",
            ),
            Problem::NotPrepared => f.write_str("invoke called without a successful prepare"),
            Problem::Persistent { bytes } => write!(
                f,
                "AllocatePersistentBuffer({bytes}) failed: enlarge the tensor arena"
            ),
            Problem::Scratch { bytes } => write!(
                f,
                "RequestScratchBufferInArena({bytes}) failed: enlarge the tensor arena"
            ),
            #[cfg(feature = "cmsis-nn")]
            Problem::CmsisNn(e) => write!(f, "CMSIS-NN arm_fully_connected_s8 failed: {e:?}"),
        }
    }
}

/// Any failure of a callback.
pub enum Failure {
    Glue(Problem),
    Op(OpError),
}

impl From<Problem> for Failure {
    fn from(p: Problem) -> Self {
        Failure::Glue(p)
    }
}

impl From<OpError> for Failure {
    fn from(e: OpError) -> Self {
        Failure::Op(e)
    }
}

/// Per-node data kept in the arena (never dropped: the runtime reclaims the arena).
pub struct OpData<O: SnapOp> {
    pub opts: O::Options,
    pub plan: Option<O::Plan>,
    /// Scratch buffer index from prepare (`-1`: none).
    pub scratch: c_int,
    pub scratch_bytes: usize,
    /// Mutable per-node state (SNAP_CALIBRATE's controller).
    pub state: O::State,
}

/// One SNAP op as seen by the glue.
pub trait SnapOp: Sized {
    /// Custom code (also the registration's `custom_name`).
    const NAME: &'static CStr;
    type Options: Copy;
    type Plan: Copy;
    type State: Copy;

    /// Parses the custom-options flexbuffer.
    fn parse(options: &[u8]) -> Result<Self::Options, OpError>;
    /// Initial state (also what `reset` restores).
    fn initial_state(opts: &Self::Options) -> Self::State;
    /// Validates the node's tensors.
    fn prepare(opts: &Self::Options, t: &NodeTensors<'_>) -> Result<Self::Plan, Failure>;
    /// Scratch bytes invoke needs.
    fn scratch_bytes(opts: &Self::Options, plan: &Self::Plan) -> usize;
    /// Computes the node.
    fn invoke(
        data: &mut OpData<Self>,
        plan: &Self::Plan,
        t: &NodeTensors<'_>,
        scratch: &mut [u8],
    ) -> Result<(), Failure>;
}

#[cfg(feature = "strip-error-strings")]
fn report<O: SnapOp>(ctx: &Ctx, _failure: Failure) {
    // Like TFLM's TF_LITE_STRIP_ERROR_STRINGS: no formatting code in the image, only which op
    // failed (run the host harness or the converter's checker for the full message).
    ctx.report_static(O::NAME);
}

#[cfg(not(feature = "strip-error-strings"))]
fn report<O: SnapOp>(ctx: &Ctx, failure: Failure) {
    let name = O::NAME.to_str().unwrap_or("SNAP op");
    match failure {
        // The ops crate's messages already start with the op name.
        Failure::Op(e) => ctx.report(format_args!("{}", e.message())),
        Failure::Glue(p) => ctx.report(format_args!("{name}: {p}")),
    }
}

/// Fetches every input and output tensor of `node`.
pub fn gather<'a>(ctx: &'a Ctx, node: &'a Node) -> Result<NodeTensors<'a>, Problem> {
    let ins = node
        .inputs()
        .ok_or(Problem::Runtime("a node without inputs"))?;
    let outs = node
        .outputs()
        .ok_or(Problem::Runtime("a node without outputs"))?;
    if ins.len() > MAX_IO {
        return Err(Problem::TooMany {
            output: false,
            count: ins.len(),
        });
    }
    if outs.len() > MAX_IO {
        return Err(Problem::TooMany {
            output: true,
            count: outs.len(),
        });
    }
    let mut t = NodeTensors {
        inputs: [None; MAX_IO],
        n_inputs: ins.len(),
        outputs: [None; MAX_IO],
        n_outputs: outs.len(),
    };
    for (i, &idx) in ins.iter().enumerate() {
        // TFLM marks an omitted optional input with index -1.
        if idx >= 0 {
            t.inputs[i] = Some(ctx.eval_tensor(idx).map_err(|err| Problem::Tensor {
                output: false,
                index: i,
                tensor: idx,
                err,
            })?);
        }
    }
    for (i, &idx) in outs.iter().enumerate() {
        t.outputs[i] = Some(ctx.eval_tensor(idx).map_err(|err| Problem::Tensor {
            output: true,
            index: i,
            tensor: idx,
            err,
        })?);
    }
    Ok(t)
}

/// `init`: options → OpData in a persistent buffer; null (after reporting) on any error.
///
/// # Safety
/// Called by the runtime: `context` is its live context, `buffer` points to `length` bytes of
/// custom options (or is null).
pub unsafe extern "C" fn init<O: SnapOp>(
    context: *mut TfLiteContext,
    buffer: *const c_char,
    length: usize,
) -> *mut c_void {
    // SAFETY: the runtime passes its live context.
    let Some(ctx) = (unsafe { Ctx::new(context) }) else {
        return core::ptr::null_mut();
    };
    let options: &[u8] = if buffer.is_null() || length == 0 || length > isize::MAX as usize {
        &[]
    } else {
        // SAFETY: the runtime passes the op's custom options: `length` readable bytes that
        // live as long as the model.
        unsafe { core::slice::from_raw_parts(buffer.cast::<u8>(), length) }
    };
    let opts = match O::parse(options) {
        Ok(o) => o,
        Err(e) => {
            report::<O>(&ctx, Failure::Op(e));
            return core::ptr::null_mut();
        }
    };
    let data = OpData::<O> {
        opts,
        plan: None,
        scratch: -1,
        scratch_bytes: 0,
        state: O::initial_state(&opts),
    };
    match ctx.persist(data) {
        Some(p) => p as *mut c_void,
        None => {
            let bytes = core::mem::size_of::<OpData<O>>();
            report::<O>(&ctx, Failure::Glue(Problem::Persistent { bytes }));
            core::ptr::null_mut()
        }
    }
}

fn status(
    r: Result<(), Failure>,
    ctx: &Ctx,
    report_it: impl FnOnce(&Ctx, Failure),
) -> TfLiteStatus {
    match r {
        Ok(()) => K_TF_LITE_OK,
        Err(f) => {
            report_it(ctx, f);
            K_TF_LITE_ERROR
        }
    }
}

fn prepare_inner<O: SnapOp>(ctx: &Ctx, node: &Node) -> Result<(), Failure> {
    // SAFETY: user_data is null or the OpData<O> our init put in the arena.
    let data = unsafe { node.user_data::<OpData<O>>() }.ok_or(Problem::NoOpData)?;
    data.plan = None;
    let t = gather(ctx, node)?;
    let plan = O::prepare(&data.opts, &t)?;
    let bytes = O::scratch_bytes(&data.opts, &plan);
    data.scratch = -1;
    data.scratch_bytes = bytes;
    if bytes > 0 {
        data.scratch = ctx
            .request_scratch(bytes)
            .ok_or(Problem::Scratch { bytes })?;
    }
    data.plan = Some(plan);
    Ok(())
}

/// `prepare`: validates types, shapes and options; requests scratch.
///
/// # Safety
/// Called by the runtime with its live context and node.
pub unsafe extern "C" fn prepare<O: SnapOp>(
    context: *mut TfLiteContext,
    node: *mut TfLiteNode,
) -> TfLiteStatus {
    // SAFETY: the runtime passes its live context and node.
    let (Some(ctx), Some(node)) = (unsafe { Ctx::new(context) }, unsafe { Node::new(node) }) else {
        return K_TF_LITE_ERROR;
    };
    status(prepare_inner::<O>(&ctx, &node), &ctx, report::<O>)
}

fn invoke_inner<O: SnapOp>(ctx: &Ctx, node: &Node) -> Result<(), Failure> {
    // SAFETY: as in prepare.
    let data = unsafe { node.user_data::<OpData<O>>() }.ok_or(Problem::NoOpData)?;
    let plan = data.plan.ok_or(Problem::NotPrepared)?;
    let t = gather(ctx, node)?;
    let mut none: [u8; 0] = [];
    let scratch: &mut [u8] = if data.scratch >= 0 {
        ctx.scratch(data.scratch, data.scratch_bytes)
            .ok_or(Problem::Scratch {
                bytes: data.scratch_bytes,
            })?
    } else {
        &mut none
    };
    O::invoke(data, &plan, &t, scratch)
}

/// `invoke`: computes the node.
///
/// # Safety
/// Called by the runtime with its live context and node.
pub unsafe extern "C" fn invoke<O: SnapOp>(
    context: *mut TfLiteContext,
    node: *mut TfLiteNode,
) -> TfLiteStatus {
    // SAFETY: the runtime passes its live context and node.
    let (Some(ctx), Some(node)) = (unsafe { Ctx::new(context) }, unsafe { Node::new(node) }) else {
        return K_TF_LITE_ERROR;
    };
    status(invoke_inner::<O>(&ctx, &node), &ctx, report::<O>)
}

/// `free`: nothing to do: OpData lives in the arena, which the runtime owns.
///
/// # Safety
/// Never dereferences its arguments.
pub unsafe extern "C" fn free(_context: *mut TfLiteContext, _buffer: *mut c_void) {}

/// `reset`: restores the op's initial state (SNAP_CALIBRATE's controller).
///
/// # Safety
/// Called by the runtime with the pointer our init returned (or null).
pub unsafe extern "C" fn reset<O: SnapOp>(_context: *mut TfLiteContext, buffer: *mut c_void) {
    let p = buffer as *mut OpData<O>;
    if p.is_null() {
        return;
    }
    // SAFETY: `buffer` is the OpData<O> our init placed in the arena (aligned, initialised);
    // the runtime calls reset outside init/prepare/invoke, so nothing else borrows it.
    let data = unsafe { &mut *p };
    data.state = O::initial_state(&data.opts);
}

/// The registration table of op `O`.
pub const fn registration<O: SnapOp>() -> TFLMRegistration {
    TFLMRegistration {
        init: Some(init::<O>),
        free: Some(free),
        prepare: Some(prepare::<O>),
        invoke: Some(invoke::<O>),
        reset: Some(reset::<O>),
        builtin_code: 0,
        custom_name: O::NAME.as_ptr(),
    }
}
