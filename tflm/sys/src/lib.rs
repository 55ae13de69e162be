//! The real TensorFlow Lite Micro interpreter, compiled from `TFLM_DIR` (see `build.rs`), with
//! the builtins of the MLPerf Tiny models and the three SNAP ops registered through
//! `snapuq_tflm.h`'s `snapuq::AddOps`, exactly as a firmware registers them.
//!
//! It exists so that the host can check the kit against the real thing: `snap-convert run
//! --runtime tflm`, the bit-exactness tests against `snapuq-exec`, and the layout check of
//! `snapuq-tflm`'s `#[repr(C)]` mirrors against the structs bindgen generates from the same
//! TFLM headers ([`bindings`]).
//!
//! [`Interpreter`] is the safe face: it owns an aligned copy of the model and the arena, and
//! returns TFLM's own error text on failure. Nothing here panics across the C boundary: the
//! shim is compiled with `-fno-exceptions` and reports every failure as a status code.

// The registrations the shim calls (`snapuq_register_*`) live in this rlib; naming the crate
// makes rustc link it.
use snapuq_tflm as _;

/// bindgen output: the shim's C API and the TFLM structs `snapuq-tflm` mirrors.
#[allow(
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    dead_code,
    missing_docs,
    clippy::all
)]
pub mod bindings {
    include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
}

use bindings as ffi;
use std::fmt;

/// `kTfLiteFloat32`.
pub const TYPE_FLOAT32: i32 = 1;
/// `kTfLiteInt32`.
pub const TYPE_INT32: i32 = 2;
/// `kTfLiteUInt8`.
pub const TYPE_UINT8: i32 = 3;
/// `kTfLiteInt16`.
pub const TYPE_INT16: i32 = 7;
/// `kTfLiteInt8`.
pub const TYPE_INT8: i32 = 9;

/// A TFLM failure: which step, and the text TFLM logged while doing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// What failed (`"AllocateTensors"`, `"Invoke"`, ...).
    pub step: &'static str,
    /// TFLM's log during that step (may be empty).
    pub log: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.log.trim().is_empty() {
            write!(f, "TFLM {} failed", self.step)
        } else {
            write!(f, "TFLM {} failed: {}", self.step, self.log.trim())
        }
    }
}

impl std::error::Error for Error {}

fn take_log() -> String {
    // SAFETY: a null buffer with length 0 only asks for the length; the second call writes at
    // most `buf.len()` bytes (NUL included) into our buffer.
    let n = unsafe { ffi::tflm_sys_log(std::ptr::null_mut(), 0) };
    let mut buf = vec![0u8; n + 1];
    // SAFETY: see above; `buf` is `n + 1` bytes long.
    unsafe { ffi::tflm_sys_log(buf.as_mut_ptr().cast(), buf.len()) };
    // SAFETY: no pointer arguments.
    unsafe { ffi::tflm_sys_clear_log() };
    buf.truncate(n);
    String::from_utf8_lossy(&buf).into_owned()
}

fn check(step: &'static str, code: i32) -> Result<(), Error> {
    if code == 0 {
        // SAFETY: no pointer arguments.
        unsafe { ffi::tflm_sys_clear_log() };
        Ok(())
    } else {
        Err(Error {
            step,
            log: take_log(),
        })
    }
}

/// One input or output tensor: TFLM type code, shape and bytes (a view into the arena).
#[derive(Debug, Clone, Copy)]
pub struct TensorInfo {
    /// `TfLiteType` code ([`TYPE_INT8`], ...).
    pub dtype: i32,
    shape: [i32; 8],
    dims: usize,
    bytes: usize,
}

impl TensorInfo {
    /// The tensor's shape.
    pub fn shape(&self) -> &[i32] {
        &self.shape[..self.dims]
    }
    /// Size of the data in bytes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// A `MicroInterpreter` with its model copy and arena.
pub struct Interpreter {
    handle: *mut ffi::tflm_sys_interpreter,
    // Owned buffers the interpreter points into; dropped after `handle` (see `Drop`).
    _model: Vec<u128>,
    _arena: Vec<u128>,
    allocated: bool,
}

// SAFETY: the interpreter and the buffers it points into are owned by this value and only
// reached through `&mut self` (or `&self` for reads); TFLM keeps no global mutable state
// besides the per-thread log.
unsafe impl Send for Interpreter {}

impl Interpreter {
    /// Builds an interpreter over a copy of `model` with an arena of `arena_bytes`, and
    /// allocates its tensors.
    pub fn new(model: &[u8], arena_bytes: usize) -> Result<Self, Error> {
        // 16-byte alignment for the flatbuffer and the arena, as TFLM expects of both.
        let mut model_buf = vec![0u128; model.len().div_ceil(16)];
        // SAFETY: `model_buf` holds at least `model.len()` bytes and does not overlap `model`.
        unsafe {
            std::ptr::copy_nonoverlapping(
                model.as_ptr(),
                model_buf.as_mut_ptr().cast::<u8>(),
                model.len(),
            )
        };
        let mut arena = vec![0u128; arena_bytes.div_ceil(16)];
        let mut handle = std::ptr::null_mut();
        // SAFETY: clear the log before the step whose text we want.
        unsafe { ffi::tflm_sys_clear_log() };
        // SAFETY: both buffers are valid for the lengths given and live in `Self` (heap
        // allocations that do not move) until after `tflm_sys_destroy`; `handle` is a valid
        // out-pointer.
        let code = unsafe {
            ffi::tflm_sys_create(
                model_buf.as_ptr().cast(),
                model.len(),
                arena.as_mut_ptr().cast(),
                arena.len() * 16,
                &mut handle,
            )
        };
        check("interpreter creation", code)?;
        let mut it = Interpreter {
            handle,
            _model: model_buf,
            _arena: arena,
            allocated: false,
        };
        // SAFETY: `handle` is a live interpreter created above.
        check("AllocateTensors", unsafe {
            ffi::tflm_sys_allocate_tensors(it.handle)
        })?;
        it.allocated = true;
        Ok(it)
    }

    /// `arena_used_bytes()` after AllocateTensors.
    pub fn arena_used_bytes(&self) -> usize {
        // SAFETY: `handle` is live for `self`'s lifetime.
        unsafe { ffi::tflm_sys_arena_used_bytes(self.handle) }
    }

    /// Number of model inputs.
    pub fn inputs(&self) -> usize {
        // SAFETY: `handle` is live.
        unsafe { ffi::tflm_sys_inputs_size(self.handle) }
    }

    /// Number of model outputs.
    pub fn outputs(&self) -> usize {
        // SAFETY: `handle` is live.
        unsafe { ffi::tflm_sys_outputs_size(self.handle) }
    }

    fn tensor(&self, input: bool, index: usize) -> Option<(TensorInfo, *mut u8)> {
        if !self.allocated {
            return None;
        }
        let mut t = ffi::tflm_sys_tensor::default();
        // SAFETY: `handle` is live and `t` a valid out-pointer; the shim range-checks `index`.
        let code = unsafe {
            if input {
                ffi::tflm_sys_input(self.handle, index, &mut t)
            } else {
                ffi::tflm_sys_output(self.handle, index, &mut t)
            }
        };
        if code != 0 || (t.data.is_null() && t.bytes != 0) {
            return None;
        }
        let dims = (t.dims.max(0) as usize).min(8);
        Some((
            TensorInfo {
                dtype: t.type_,
                shape: t.shape,
                dims,
                bytes: t.bytes,
            },
            t.data.cast(),
        ))
    }

    /// Input `index`'s description, or `None` when out of range.
    pub fn input_info(&self, index: usize) -> Option<TensorInfo> {
        self.tensor(true, index).map(|(i, _)| i)
    }

    /// Output `index`'s description, or `None` when out of range.
    pub fn output_info(&self, index: usize) -> Option<TensorInfo> {
        self.tensor(false, index).map(|(i, _)| i)
    }

    /// Copies `data` into input `index`; its length must equal the tensor's byte size.
    pub fn set_input(&mut self, index: usize, data: &[u8]) -> Result<(), Error> {
        let (info, ptr) = self.tensor(true, index).ok_or(Error {
            step: "set_input",
            log: format!("the model has no input {index}"),
        })?;
        if data.len() != info.bytes {
            return Err(Error {
                step: "set_input",
                log: format!(
                    "input {index} takes {} bytes (shape {:?}), got {}",
                    info.bytes,
                    info.shape(),
                    data.len()
                ),
            });
        }
        // SAFETY: `ptr` points at `info.bytes` bytes of the input tensor inside our arena,
        // which `&mut self` borrows exclusively; `data` has the same length and is not in the
        // arena.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), ptr, data.len()) };
        Ok(())
    }

    /// Runs the model once.
    pub fn invoke(&mut self) -> Result<(), Error> {
        // SAFETY: clear the log, then invoke the live interpreter.
        unsafe { ffi::tflm_sys_clear_log() };
        // SAFETY: `handle` is live and allocated.
        check("Invoke", unsafe { ffi::tflm_sys_invoke(self.handle) })
    }

    /// Output `index`'s bytes, or `None` when out of range.
    pub fn output(&self, index: usize) -> Option<&[u8]> {
        let (info, ptr) = self.tensor(false, index)?;
        if info.bytes == 0 {
            return Some(&[]);
        }
        // SAFETY: `ptr` points at `info.bytes` initialized bytes inside our arena, which cannot
        // be written while `&self` is borrowed (writes need `&mut self`).
        Some(unsafe { std::slice::from_raw_parts(ptr, info.bytes) })
    }

    /// Sets every input (in order), invokes, and returns every output's bytes.
    pub fn run(&mut self, inputs: &[&[u8]]) -> Result<Vec<Vec<u8>>, Error> {
        if inputs.len() != self.inputs() {
            return Err(Error {
                step: "run",
                log: format!(
                    "the model has {} inputs, got {}",
                    self.inputs(),
                    inputs.len()
                ),
            });
        }
        for (i, d) in inputs.iter().enumerate() {
            self.set_input(i, d)?;
        }
        self.invoke()?;
        (0..self.outputs())
            .map(|k| {
                self.output(k).map(<[u8]>::to_vec).ok_or(Error {
                    step: "run",
                    log: format!("output {k} is not readable"),
                })
            })
            .collect()
    }
}

impl Drop for Interpreter {
    fn drop(&mut self) {
        // SAFETY: `handle` came from `tflm_sys_create` and is destroyed once; the buffers it
        // points into are dropped after this (fields drop after `drop` returns).
        unsafe { ffi::tflm_sys_destroy(self.handle) };
    }
}

/// Number of registrations in the shim's resolver (builtins + the SNAP ops).
pub fn registered_ops() -> usize {
    // SAFETY: no arguments; builds and drops a resolver.
    unsafe { ffi::tflm_sys_registered_ops() }
}
