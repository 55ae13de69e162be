//! A miniature TFLM interpreter for one node: drives a registration through
//! init → prepare → invoke → (reset) → free exactly as `MicroInterpreter` does, with
//! arena-backed persistent buffers (16-byte aligned, from a fixed-size arena), scratch
//! buffers requested in Prepare and fetched in Invoke, `GetEvalTensor` over an array of
//! `TfLiteEvalTensor`, and a `ReportError` that captures every message.
//!
//! Like TFLM, `init` returning null is not itself an error: the node's `prepare` is still
//! called and must fail. Each context function refuses to work outside the stages where TFLM
//! offers it (persistent buffers in Init/Prepare, scratch requests in Prepare, scratch buffers
//! in Invoke, eval tensors in Prepare/Invoke), so a kernel relying on more fails here too.
//!
//! `ReportError` is variadic in C; it is implemented in `harness/report_error.c` (compiled by
//! `build.rs` with the `cc` crate when the `harness` feature is on), which formats with
//! `vsnprintf` and passes the text to [`snapuq_harness_record`].
extern crate std;

use crate::ffi::types::*;
use core::ffi::{c_char, c_int, c_void, CStr};
use std::boxed::Box;
use std::string::{String, ToString};
use std::vec;
use std::vec::Vec;

extern "C" {
    fn snapuq_harness_report_error(context: *mut TfLiteContext, format: *const c_char, ...);
}

/// Where in a node's life cycle the harness is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Building tensors, between calls.
    Idle,
    /// Inside `init`.
    Init,
    /// Inside `prepare`.
    Prepare,
    /// Inside `invoke`.
    Invoke,
    /// Inside `reset` or `free`.
    Teardown,
}

/// A failed `prepare` or `invoke`: the status and every message reported so far.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The stage that failed.
    pub stage: Stage,
    /// The status the callback returned.
    pub status: i32,
    /// Messages captured through `ReportError`, oldest first.
    pub messages: Vec<String>,
}

impl Failure {
    /// All messages joined, for `contains` checks.
    pub fn text(&self) -> String {
        self.messages.join("\n")
    }
}

/// One tensor the harness owns.
struct OwnedTensor {
    /// `TfLiteIntArray` storage: size followed by dims.
    dims: Box<[c_int]>,
    /// 16-byte aligned data.
    data: Box<[u128]>,
    bytes: usize,
    dtype: i32,
}

/// One node instance: its index arrays and what `init` returned.
struct NodeSlot {
    registration: TFLMRegistration,
    inputs: Box<[c_int]>,
    outputs: Box<[c_int]>,
    options: Option<Box<[u8]>>,
    node: TfLiteNode,
    freed: bool,
}

/// Handle to a node created by [`Harness::init`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeId(usize);

struct Inner {
    context: TfLiteContext,
    stage: Stage,
    arena: Box<[u128]>,
    /// Bytes taken from the arena's tail by persistent buffers.
    persistent_used: usize,
    scratch_requests: Vec<usize>,
    scratch: Vec<Box<[u128]>>,
    tensors: Vec<OwnedTensor>,
    eval: Vec<TfLiteEvalTensor>,
    messages: Vec<String>,
    nodes: Vec<NodeSlot>,
}

/// The harness. Boxed internally so the context's address stays fixed while kernels hold it.
pub struct Harness {
    inner: Box<Inner>,
}

fn inner_of<'a>(context: *const TfLiteContext) -> Option<&'a mut Inner> {
    if context.is_null() {
        return None;
    }
    // SAFETY: every context the harness hands out has `impl_` pointing at its own boxed
    // `Inner`, which outlives the callbacks; kernels run on the harness's thread only.
    let p = unsafe { (*context).impl_ } as *mut Inner;
    // SAFETY: as above.
    (!p.is_null()).then(|| unsafe { &mut *p })
}

/// Called by `report_error.c` with the formatted message.
///
/// # Safety
/// `context` must be a harness context and `message` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn snapuq_harness_record(
    context: *mut TfLiteContext,
    message: *const c_char,
) {
    let Some(inner) = inner_of(context) else {
        return;
    };
    if message.is_null() {
        inner.messages.push("(null message)".to_string());
        return;
    }
    // SAFETY: NUL-terminated per the contract (vsnprintf always terminates).
    let text = unsafe { CStr::from_ptr(message) };
    inner.messages.push(text.to_string_lossy().into_owned());
}

const ALIGN: usize = 16;

unsafe extern "C" fn allocate_persistent_buffer(
    context: *mut TfLiteContext,
    bytes: usize,
) -> *mut c_void {
    let Some(inner) = inner_of(context) else {
        return core::ptr::null_mut();
    };
    if !matches!(inner.stage, Stage::Init | Stage::Prepare) {
        inner.messages.push(std::format!(
            "harness: AllocatePersistentBuffer called during {:?}",
            inner.stage
        ));
        return core::ptr::null_mut();
    }
    let capacity = inner.arena.len() * ALIGN;
    let rounded = bytes.div_ceil(ALIGN) * ALIGN;
    if rounded > capacity - inner.persistent_used {
        return core::ptr::null_mut();
    }
    // Like TFLM, persistent buffers come from the arena's tail, growing downwards.
    inner.persistent_used += rounded;
    let offset = capacity - inner.persistent_used;
    let base = inner.arena.as_mut_ptr() as *mut u8;
    // SAFETY: `offset + rounded <= capacity`, inside the arena allocation.
    unsafe { base.add(offset) as *mut c_void }
}

unsafe extern "C" fn request_scratch_buffer_in_arena(
    context: *mut TfLiteContext,
    bytes: usize,
    index: *mut c_int,
) -> TfLiteStatus {
    let Some(inner) = inner_of(context) else {
        return K_TF_LITE_ERROR;
    };
    if inner.stage != Stage::Prepare || index.is_null() {
        inner.messages.push(std::format!(
            "harness: RequestScratchBufferInArena called during {:?}",
            inner.stage
        ));
        return K_TF_LITE_ERROR;
    }
    inner.scratch_requests.push(bytes);
    // SAFETY: non-null out-pointer from the kernel.
    unsafe { *index = (inner.scratch_requests.len() - 1) as c_int };
    K_TF_LITE_OK
}

unsafe extern "C" fn get_scratch_buffer(context: *mut TfLiteContext, index: c_int) -> *mut c_void {
    let Some(inner) = inner_of(context) else {
        return core::ptr::null_mut();
    };
    if inner.stage != Stage::Invoke {
        inner.messages.push(std::format!(
            "harness: GetScratchBuffer called during {:?}",
            inner.stage
        ));
        return core::ptr::null_mut();
    }
    usize::try_from(index)
        .ok()
        .and_then(|i| inner.scratch.get_mut(i))
        .map_or(core::ptr::null_mut(), |b| b.as_mut_ptr() as *mut c_void)
}

unsafe extern "C" fn get_eval_tensor(
    context: *const TfLiteContext,
    index: c_int,
) -> *mut TfLiteEvalTensor {
    let Some(inner) = inner_of(context) else {
        return core::ptr::null_mut();
    };
    if !matches!(inner.stage, Stage::Prepare | Stage::Invoke) {
        inner.messages.push(std::format!(
            "harness: GetEvalTensor called during {:?}",
            inner.stage
        ));
        return core::ptr::null_mut();
    }
    usize::try_from(index)
        .ok()
        .and_then(|i| inner.eval.get_mut(i))
        .map_or(core::ptr::null_mut(), |t| t as *mut TfLiteEvalTensor)
}

fn int_array(values: &[c_int]) -> Box<[c_int]> {
    let mut v = Vec::with_capacity(values.len() + 1);
    v.push(values.len() as c_int);
    v.extend_from_slice(values);
    v.into_boxed_slice()
}

fn empty_context() -> TfLiteContext {
    TfLiteContext {
        tensors_size: 0,
        get_execution_plan: None,
        tensors: core::ptr::null_mut(),
        impl_: core::ptr::null_mut(),
        resize_tensor: None,
        report_error: None,
        add_tensors: None,
        get_node_and_registration: None,
        replace_node_subsets_with_delegate_kernels: None,
        recommended_num_threads: 1,
        get_external_context: None,
        set_external_context: None,
        allow_fp32_relax_to_fp16: false,
        profiler: core::ptr::null_mut(),
        allocate_persistent_buffer: None,
        allocate_buffer_for_eval: None,
        request_scratch_buffer_in_arena: None,
        get_scratch_buffer: None,
        resize_tensor_explicit: None,
        preview_delegate_partitioning: None,
        get_tensor: None,
        get_eval_tensor: None,
        get_model_metadata: None,
        acquire_subgraph_context: None,
        release_subgraph_context: None,
    }
}

impl Harness {
    /// A harness whose arena holds `arena_bytes` (rounded up to 16) for persistent buffers.
    pub fn new(arena_bytes: usize) -> Harness {
        let mut inner = Box::new(Inner {
            context: empty_context(),
            stage: Stage::Idle,
            arena: vec![0u128; arena_bytes.div_ceil(ALIGN)].into_boxed_slice(),
            persistent_used: 0,
            scratch_requests: Vec::new(),
            scratch: Vec::new(),
            tensors: Vec::new(),
            eval: Vec::new(),
            messages: Vec::new(),
            nodes: Vec::new(),
        });
        let self_ptr: *mut Inner = &mut *inner;
        inner.context.impl_ = self_ptr as *mut c_void;
        inner.context.report_error = Some(snapuq_harness_report_error);
        inner.context.allocate_persistent_buffer = Some(allocate_persistent_buffer);
        inner.context.request_scratch_buffer_in_arena = Some(request_scratch_buffer_in_arena);
        inner.context.get_scratch_buffer = Some(get_scratch_buffer);
        inner.context.get_eval_tensor = Some(get_eval_tensor);
        Harness { inner }
    }

    /// Removes `GetEvalTensor` from the context (to test a runtime that lacks it).
    pub fn without_eval_tensor_accessor(&mut self) {
        self.inner.context.get_eval_tensor = None;
    }

    /// Adds a tensor of any type code from raw bytes; returns its index.
    pub fn add_raw(&mut self, dtype: i32, dims: &[i32], bytes: &[u8]) -> i32 {
        let mut data = vec![0u128; bytes.len().div_ceil(ALIGN).max(1)].into_boxed_slice();
        // SAFETY: `data` holds at least `bytes.len()` bytes; the regions do not overlap.
        unsafe {
            core::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                data.as_mut_ptr() as *mut u8,
                bytes.len(),
            )
        };
        self.inner.tensors.push(OwnedTensor {
            dims: int_array(dims),
            data,
            bytes: bytes.len(),
            dtype,
        });
        self.rebuild_eval();
        (self.inner.tensors.len() - 1) as i32
    }

    /// Adds a typed tensor; returns its index.
    pub fn add<T: crate::ffi::context::Element>(&mut self, dims: &[i32], values: &[T]) -> i32 {
        let bytes = core::mem::size_of_val(values);
        // SAFETY: `Element` types are plain integers/floats: any value is a valid byte pattern.
        let raw = unsafe { core::slice::from_raw_parts(values.as_ptr() as *const u8, bytes) };
        self.add_raw(T::TYPE, dims, raw)
    }

    /// Adds a zero-filled typed tensor with `dims` (an output); returns its index.
    pub fn add_zeros<T: crate::ffi::context::Element>(&mut self, dims: &[i32]) -> i32 {
        let n: usize = dims.iter().map(|&d| d.max(0) as usize).product();
        let bytes = vec![0u8; n * core::mem::size_of::<T>()];
        self.add_raw(T::TYPE, dims, &bytes)
    }

    /// The data of tensor `index` read as `T` (whatever its declared type).
    pub fn data<T: crate::ffi::context::Element>(&self, index: i32) -> Vec<T> {
        let t = &self.inner.tensors[index as usize];
        let n = t.bytes / core::mem::size_of::<T>();
        // SAFETY: the buffer is 16-aligned and holds `t.bytes >= n * size_of::<T>()` bytes of
        // plain numeric data.
        unsafe { core::slice::from_raw_parts(t.data.as_ptr() as *const T, n) }.to_vec()
    }

    /// Messages reported so far.
    pub fn messages(&self) -> &[String] {
        &self.inner.messages
    }

    /// Bytes of the arena taken by persistent buffers.
    pub fn persistent_bytes(&self) -> usize {
        self.inner.persistent_used
    }

    fn rebuild_eval(&mut self) {
        let inner = &mut *self.inner;
        inner.eval = inner
            .tensors
            .iter_mut()
            .map(|t| TfLiteEvalTensor {
                data: TfLitePtrUnion {
                    data: t.data.as_mut_ptr() as *mut c_void,
                },
                dims: t.dims.as_mut_ptr() as *mut TfLiteIntArray,
                type_: to_c_enum(t.dtype),
            })
            .collect();
    }

    /// Calls `init` with `options` as the custom-options buffer (None: null, length 0, as TFLM
    /// does for an op without options) and creates the node.
    pub fn init(
        &mut self,
        registration: &TFLMRegistration,
        options: Option<&[u8]>,
        inputs: &[i32],
        outputs: &[i32],
    ) -> NodeId {
        let options: Option<Box<[u8]>> = options.map(Box::from);
        let mut slot = NodeSlot {
            registration: *registration,
            inputs: int_array(inputs),
            outputs: int_array(outputs),
            options,
            node: TfLiteNode {
                inputs: core::ptr::null_mut(),
                outputs: core::ptr::null_mut(),
                intermediates: core::ptr::null_mut(),
                user_data: core::ptr::null_mut(),
                builtin_data: core::ptr::null_mut(),
                custom_initial_data: core::ptr::null(),
                custom_initial_data_size: 0,
            },
            freed: false,
        };
        slot.node.inputs = slot.inputs.as_mut_ptr() as *mut TfLiteIntArray;
        slot.node.outputs = slot.outputs.as_mut_ptr() as *mut TfLiteIntArray;
        let (ptr, len) = match &slot.options {
            Some(o) => (o.as_ptr(), o.len()),
            None => (core::ptr::null(), 0),
        };
        slot.node.custom_initial_data = ptr as *const c_void;
        slot.node.custom_initial_data_size = len as c_int;
        self.inner.stage = Stage::Init;
        let context: *mut TfLiteContext = &mut self.inner.context;
        if let Some(init) = registration.init {
            // SAFETY: calling the kernel's init with a live context and the options buffer,
            // exactly as the interpreter does.
            slot.node.user_data = unsafe { init(context, ptr as *const c_char, len) };
        }
        self.inner.stage = Stage::Idle;
        self.inner.nodes.push(slot);
        NodeId(self.inner.nodes.len() - 1)
    }

    /// Whether `init` returned OpData for the node: false means it took its error path
    /// (returned null after reporting), as TFLM sees it.
    pub fn has_op_data(&self, id: NodeId) -> bool {
        !self.inner.nodes[id.0].node.user_data.is_null()
    }

    fn call(&mut self, id: NodeId, stage: Stage) -> Result<(), Failure> {
        self.inner.stage = stage;
        let context: *mut TfLiteContext = &mut self.inner.context;
        let slot = &mut self.inner.nodes[id.0];
        let f = match stage {
            Stage::Prepare => slot.registration.prepare,
            _ => slot.registration.invoke,
        };
        let node: *mut TfLiteNode = &mut slot.node;
        let status = match f {
            // SAFETY: kernel callback with a live context and node, as the interpreter calls it.
            Some(f) => status_code(unsafe { f(context, node) }),
            None => status_code(K_TF_LITE_OK),
        };
        self.inner.stage = Stage::Idle;
        if status == status_code(K_TF_LITE_OK) {
            Ok(())
        } else {
            Err(Failure {
                stage,
                status,
                messages: self.inner.messages.clone(),
            })
        }
    }

    /// Calls `prepare`; afterwards allocates the scratch buffers it requested, as the
    /// interpreter's memory planner does between Prepare and Invoke.
    pub fn prepare(&mut self, id: NodeId) -> Result<(), Failure> {
        self.call(id, Stage::Prepare)?;
        let inner = &mut *self.inner;
        inner.scratch = inner
            .scratch_requests
            .iter()
            .map(|&b| vec![0u128; b.div_ceil(ALIGN).max(1)].into_boxed_slice())
            .collect();
        Ok(())
    }

    /// Calls `invoke`.
    pub fn invoke(&mut self, id: NodeId) -> Result<(), Failure> {
        self.call(id, Stage::Invoke)
    }

    fn teardown(&mut self, id: NodeId, free: bool) {
        self.inner.stage = Stage::Teardown;
        let context: *mut TfLiteContext = &mut self.inner.context;
        let slot = &mut self.inner.nodes[id.0];
        let f = if free {
            slot.registration.free
        } else {
            slot.registration.reset
        };
        if let (Some(f), false) = (f, slot.freed) {
            // SAFETY: kernel callback with a live context and the pointer its init returned.
            unsafe { f(context, slot.node.user_data) };
        }
        if free {
            slot.freed = true;
        }
        self.inner.stage = Stage::Idle;
    }

    /// Calls `reset` (as `MicroInterpreter::Reset` does).
    pub fn reset(&mut self, id: NodeId) {
        self.teardown(id, false);
    }

    /// Calls `free` (as the interpreter's destructor does).
    pub fn free(&mut self, id: NodeId) {
        self.teardown(id, true);
    }

    /// init → prepare → invoke → free, stopping at the first failure (free still runs).
    pub fn run(
        &mut self,
        registration: &TFLMRegistration,
        options: Option<&[u8]>,
        inputs: &[i32],
        outputs: &[i32],
    ) -> Result<(), Failure> {
        let id = self.init(registration, options, inputs, outputs);
        let result = self.prepare(id).and_then(|()| self.invoke(id));
        self.free(id);
        result
    }
}
