//! `#[repr(C)]` mirrors of the TFLM structs our kernels touch, as TFLM compiles them with
//! `TF_LITE_STATIC_MEMORY` (the reduced `TfLiteNode`, no `TfLiteTensor` access at all).
//!
//! Field order and types follow `tensorflow/lite/core/c/common.h` and
//! `tensorflow/lite/micro/micro_common.h`; `layout.rs` pins every size and offset for the
//! 32-bit Arm and 64-bit host ABIs, and the `bindgen` feature re-derives them from a real TFLM
//! tree. Function pointers we never call are typed [`UnusedFn`]: a C function pointer has the
//! same size and alignment whatever its prototype, and not naming the prototype keeps types we
//! never touch (`TfLiteTensor`, `TfLiteDelegate`, ...) out of the mirror.
use core::ffi::{c_char, c_int, c_void};

/// `TfLiteStatus` / `TfLiteType` as stored by the C side.
///
/// `arm-none-eabi-gcc` (and so a TFLM firmware built with its defaults) uses `-fshort-enums`,
/// which makes these enums one byte wide; hosted compilers make them `int`. On bare-metal Arm
/// we use `u8`: reading the low byte of a little-endian `int` gives the same value, and a `u8`
/// return value is zero-extended into `r0` by the AAPCS, so this is correct for firmware built
/// with either enum width.
#[cfg(all(target_arch = "arm", target_os = "none"))]
pub type CEnum = u8;
/// `TfLiteStatus` / `TfLiteType` as stored by the C side (hosted ABI: `int`).
#[cfg(not(all(target_arch = "arm", target_os = "none")))]
pub type CEnum = c_int;

/// `TfLiteStatus`.
pub type TfLiteStatus = CEnum;
/// `kTfLiteOk`.
pub const K_TF_LITE_OK: TfLiteStatus = 0;
/// `kTfLiteError`.
pub const K_TF_LITE_ERROR: TfLiteStatus = 1;

/// `TfLiteType` as stored in `TfLiteEvalTensor::type`.
pub type TfLiteType = CEnum;
/// `kTfLiteFloat32` (type codes are `i32` here; [`type_code`] reads a stored one).
pub const K_TF_LITE_FLOAT32: i32 = 1;
/// `kTfLiteInt32`.
pub const K_TF_LITE_INT32: i32 = 2;
/// `kTfLiteUInt8`.
pub const K_TF_LITE_UINT8: i32 = 3;
/// `kTfLiteInt64`.
pub const K_TF_LITE_INT64: i32 = 4;
/// `kTfLiteBool`.
pub const K_TF_LITE_BOOL: i32 = 6;
/// `kTfLiteInt16`.
pub const K_TF_LITE_INT16: i32 = 7;
/// `kTfLiteInt8`.
pub const K_TF_LITE_INT8: i32 = 9;

/// The type code stored in a `TfLiteEvalTensor`. Only its low byte is read: with
/// `-fshort-enums` the C side stores one byte, otherwise a little-endian `int` whose low byte
/// is the same value (all codes are < 256).
#[allow(clippy::unnecessary_cast)] // `CEnum` is `u8` on bare-metal Arm, `c_int` on hosts.
pub fn type_code(stored: TfLiteType) -> i32 {
    stored as u8 as i32
}

/// A type code in the C side's storage width.
#[allow(clippy::unnecessary_cast)] // `CEnum` is `u8` on bare-metal Arm, `c_int` on hosts.
pub fn to_c_enum(code: i32) -> CEnum {
    code as CEnum
}

/// A status as `i32` whatever the C side's enum width.
#[allow(clippy::unnecessary_cast)] // `CEnum` is `u8` on bare-metal Arm, `c_int` on hosts.
pub fn status_code(status: TfLiteStatus) -> i32 {
    status as i32
}

/// Placeholder type for function-pointer members we never call.
pub type UnusedFn = Option<unsafe extern "C" fn()>;

/// `TfLiteIntArray`: a length followed by a flexible array member.
#[repr(C)]
#[derive(Debug)]
pub struct TfLiteIntArray {
    /// Number of elements in `data`.
    pub size: c_int,
    /// Flexible array member: `size` ints follow.
    pub data: [c_int; 0],
}

/// `TfLitePtrUnion`: every member is a data pointer; we only read `data`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union TfLitePtrUnion {
    /// `int8_t* int8`.
    pub int8: *mut i8,
    /// `uint8_t* uint8`.
    pub uint8: *mut u8,
    /// `int32_t* i32`.
    pub i32: *mut i32,
    /// `float* f`.
    pub f: *mut f32,
    /// `void* data` (the member TFLM asks kernels to use).
    pub data: *mut c_void,
}

/// `TfLiteEvalTensor`: what `GetEvalTensor` returns in Prepare and Invoke.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct TfLiteEvalTensor {
    /// Tensor data.
    pub data: TfLitePtrUnion,
    /// Shape.
    pub dims: *mut TfLiteIntArray,
    /// Element type.
    pub type_: TfLiteType,
}

/// `TfLiteNode` as compiled with `TF_LITE_STATIC_MEMORY`.
#[repr(C)]
#[derive(Debug)]
pub struct TfLiteNode {
    /// Input tensor indices (`-1` for an omitted optional input).
    pub inputs: *mut TfLiteIntArray,
    /// Output tensor indices.
    pub outputs: *mut TfLiteIntArray,
    /// Intermediate tensor indices (unused by our ops).
    pub intermediates: *mut TfLiteIntArray,
    /// What our `init` returned.
    pub user_data: *mut c_void,
    /// Builtin options (null for custom ops).
    pub builtin_data: *mut c_void,
    /// The op's custom options, as also passed to `init`.
    pub custom_initial_data: *const c_void,
    /// Length of `custom_initial_data` in bytes.
    pub custom_initial_data_size: c_int,
}

/// `void (*ReportError)(TfLiteContext*, const char* msg, ...)`: printf-style and variadic.
pub type ReportErrorFn = unsafe extern "C" fn(*mut TfLiteContext, *const c_char, ...);
/// `void* (*AllocatePersistentBuffer)(TfLiteContext*, size_t)`.
pub type AllocatePersistentBufferFn =
    unsafe extern "C" fn(*mut TfLiteContext, usize) -> *mut c_void;
/// `TfLiteStatus (*RequestScratchBufferInArena)(TfLiteContext*, size_t, int*)`.
pub type RequestScratchBufferInArenaFn =
    unsafe extern "C" fn(*mut TfLiteContext, usize, *mut c_int) -> TfLiteStatus;
/// `void* (*GetScratchBuffer)(TfLiteContext*, int)`.
pub type GetScratchBufferFn = unsafe extern "C" fn(*mut TfLiteContext, c_int) -> *mut c_void;
/// `TfLiteEvalTensor* (*GetEvalTensor)(const TfLiteContext*, int)`.
pub type GetEvalTensorFn =
    unsafe extern "C" fn(*const TfLiteContext, c_int) -> *mut TfLiteEvalTensor;

/// `TfLiteContext` (identical with and without `TF_LITE_STATIC_MEMORY`).
#[repr(C)]
pub struct TfLiteContext {
    /// `size_t tensors_size`.
    pub tensors_size: usize,
    /// `GetExecutionPlan`.
    pub get_execution_plan: UnusedFn,
    /// `TfLiteTensor* tensors` (opaque here).
    pub tensors: *mut c_void,
    /// `void* impl_`: the runtime's own context object.
    pub impl_: *mut c_void,
    /// `ResizeTensor`.
    pub resize_tensor: UnusedFn,
    /// `ReportError`.
    pub report_error: Option<ReportErrorFn>,
    /// `AddTensors`.
    pub add_tensors: UnusedFn,
    /// `GetNodeAndRegistration`.
    pub get_node_and_registration: UnusedFn,
    /// `ReplaceNodeSubsetsWithDelegateKernels`.
    pub replace_node_subsets_with_delegate_kernels: UnusedFn,
    /// `int recommended_num_threads`.
    pub recommended_num_threads: c_int,
    /// `GetExternalContext`.
    pub get_external_context: UnusedFn,
    /// `SetExternalContext`.
    pub set_external_context: UnusedFn,
    /// `bool allow_fp32_relax_to_fp16`.
    pub allow_fp32_relax_to_fp16: bool,
    /// `void* profiler`.
    pub profiler: *mut c_void,
    /// `AllocatePersistentBuffer` (Init and Prepare only).
    pub allocate_persistent_buffer: Option<AllocatePersistentBufferFn>,
    /// `AllocateBufferForEval`.
    pub allocate_buffer_for_eval: UnusedFn,
    /// `RequestScratchBufferInArena` (Prepare only).
    pub request_scratch_buffer_in_arena: Option<RequestScratchBufferInArenaFn>,
    /// `GetScratchBuffer` (Invoke only).
    pub get_scratch_buffer: Option<GetScratchBufferFn>,
    /// `ResizeTensorExplicit`.
    pub resize_tensor_explicit: UnusedFn,
    /// `PreviewDelegatePartitioning`.
    pub preview_delegate_partitioning: UnusedFn,
    /// `GetTensor` (never used: it allocates temporaries in TFLM).
    pub get_tensor: UnusedFn,
    /// `GetEvalTensor`.
    pub get_eval_tensor: Option<GetEvalTensorFn>,
    /// `GetModelMetadata`.
    pub get_model_metadata: UnusedFn,
    /// `AcquireSubgraphContext`.
    pub acquire_subgraph_context: UnusedFn,
    /// `ReleaseSubgraphContext`.
    pub release_subgraph_context: UnusedFn,
}

/// `void* (*init)(TfLiteContext*, const char* buffer, size_t length)`.
pub type InitFn = unsafe extern "C" fn(*mut TfLiteContext, *const c_char, usize) -> *mut c_void;
/// `void (*free)(TfLiteContext*, void*)` and `reset` (same prototype).
pub type FreeFn = unsafe extern "C" fn(*mut TfLiteContext, *mut c_void);
/// `TfLiteStatus (*prepare)(TfLiteContext*, TfLiteNode*)` and `invoke` (same prototype).
pub type NodeFn = unsafe extern "C" fn(*mut TfLiteContext, *mut TfLiteNode) -> TfLiteStatus;

/// `struct TFLMRegistration` (declared without a typedef in `micro_common.h`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct TFLMRegistration {
    /// Parses custom options into per-node data.
    pub init: Option<InitFn>,
    /// Releases per-node data.
    pub free: Option<FreeFn>,
    /// Validates the node.
    pub prepare: Option<NodeFn>,
    /// Computes the node.
    pub invoke: Option<NodeFn>,
    /// Resets per-node state (`MicroInterpreter::Reset`).
    pub reset: Option<FreeFn>,
    /// Builtin operator code; `AddCustom` overwrites it with `BuiltinOperator_CUSTOM`.
    pub builtin_code: i32,
    /// Custom op name; `AddCustom` overwrites it with the name it was given.
    pub custom_name: *const c_char,
}

// SAFETY: a registration is an immutable table of function pointers and a pointer to a static
// NUL-terminated string; sharing it between threads cannot race.
unsafe impl Sync for TFLMRegistration {}
