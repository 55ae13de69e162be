//! Safe wrappers around the runtime's `TfLiteContext` and `TfLiteNode`: every raw pointer the
//! runtime hands us is checked here once, so the op glue above never touches `unsafe`.
use super::types::*;
use core::ffi::{c_char, c_int, c_void};
use core::fmt::{self, Write};
use core::mem::{align_of, size_of};

/// Longest message passed to `ReportError` (longer ones are cut, never overflowed).
const MESSAGE_CAPACITY: usize = 192;

/// Fixed-capacity, NUL-terminated message buffer: formatting without a heap.
struct MessageBuf {
    bytes: [u8; MESSAGE_CAPACITY],
    len: usize,
}

impl Write for MessageBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // Keep one byte for the terminating NUL; drop what does not fit, and never emit an
        // interior NUL that would cut the message short on the C side.
        for &b in s.as_bytes() {
            if self.len + 1 >= MESSAGE_CAPACITY {
                break;
            }
            self.bytes[self.len] = if b == 0 { b'?' } else { b };
            self.len += 1;
        }
        Ok(())
    }
}

/// The runtime's context for one callback.
pub struct Ctx {
    raw: *mut TfLiteContext,
}

impl Ctx {
    /// Wraps the context pointer the runtime passed to a registration callback.
    ///
    /// # Safety
    /// `raw` must be null or point to a live `TfLiteContext` for the whole callback.
    pub unsafe fn new(raw: *mut TfLiteContext) -> Option<Ctx> {
        if raw.is_null() {
            None
        } else {
            Some(Ctx { raw })
        }
    }

    fn get(&self) -> &TfLiteContext {
        // SAFETY: `new` only accepts a non-null pointer that the caller guarantees is live for
        // the callback, and `Ctx` does not outlive the callback (it is not `'static`-stored).
        unsafe { &*self.raw }
    }

    /// Reports an error through `ReportError` as `"%s"` with our formatted message, so no
    /// user data is ever interpreted as a format string.
    pub fn report(&self, args: fmt::Arguments<'_>) {
        let Some(report) = self.get().report_error else {
            return;
        };
        let mut buf = MessageBuf {
            bytes: [0; MESSAGE_CAPACITY],
            len: 0,
        };
        let _ = buf.write_fmt(args);
        buf.bytes[buf.len] = 0;
        // SAFETY: the function pointer comes from the runtime's context; both strings are
        // NUL-terminated and live across the call; "%s" consumes exactly the one argument.
        unsafe {
            report(
                self.raw,
                c"%s".as_ptr(),
                buf.bytes.as_ptr() as *const c_char,
            )
        };
    }

    /// Reports a fixed message (no formatting machinery involved).
    pub fn report_static(&self, message: &core::ffi::CStr) {
        let Some(report) = self.get().report_error else {
            return;
        };
        // SAFETY: runtime function with our context; both strings are static and
        // NUL-terminated; "%s" consumes exactly the one argument.
        unsafe { report(self.raw, c"%s".as_ptr(), message.as_ptr()) };
    }

    /// Moves `value` into a persistent arena buffer (Init/Prepare only) and returns a pointer
    /// to it, aligned for `T` whatever alignment the runtime's allocator gives.
    pub fn persist<T>(&self, value: T) -> Option<*mut T> {
        let alloc = self.get().allocate_persistent_buffer?;
        let bytes = size_of::<T>().checked_add(align_of::<T>() - 1)?;
        // SAFETY: calling the runtime's allocator with our context, as TFLM kernels do.
        let raw = unsafe { alloc(self.raw, bytes) } as *mut u8;
        if raw.is_null() {
            return None;
        }
        let pad = raw.align_offset(align_of::<T>());
        if pad >= align_of::<T>() {
            return None;
        }
        // SAFETY: `pad < align_of::<T>()`, so `pad + size_of::<T>() <= bytes` stays inside the
        // buffer just allocated for us, and the pointer is aligned for `T`.
        let typed = unsafe { raw.add(pad) } as *mut T;
        // SAFETY: see above: in bounds, aligned, exclusively ours.
        unsafe { typed.write(value) };
        Some(typed)
    }

    /// Requests a scratch buffer of `bytes` in the arena (Prepare only); returns its index.
    pub fn request_scratch(&self, bytes: usize) -> Option<c_int> {
        let request = self.get().request_scratch_buffer_in_arena?;
        let mut index: c_int = -1;
        // SAFETY: runtime function with our context and a valid out-pointer.
        let status = unsafe { request(self.raw, bytes, &mut index) };
        (status == K_TF_LITE_OK && index >= 0).then_some(index)
    }

    /// The scratch buffer `index` requested in Prepare (Invoke only), as `len` bytes.
    // The buffer belongs to the runtime, not to `self`: the exclusive borrow comes from the
    // runtime's guarantee that nothing else touches it during Invoke.
    #[allow(clippy::mut_from_ref)]
    pub fn scratch(&self, index: c_int, len: usize) -> Option<&mut [u8]> {
        let get = self.get().get_scratch_buffer?;
        // SAFETY: runtime function with our context.
        let ptr = unsafe { get(self.raw, index) } as *mut u8;
        if ptr.is_null() {
            return None;
        }
        // SAFETY: the runtime guarantees the scratch buffer holds the `len` bytes requested in
        // Prepare (callers pass that same length) and that nothing else uses it during Invoke.
        Some(unsafe { core::slice::from_raw_parts_mut(ptr, len) })
    }

    /// The evaluation tensor with runtime index `index`, checked for consistency.
    pub fn eval_tensor(&self, index: c_int) -> Result<Tensor<'_>, TensorError> {
        if index < 0 {
            return Err(TensorError::Missing);
        }
        let get = self.get().get_eval_tensor.ok_or(TensorError::NoAccessor)?;
        // SAFETY: runtime function with our context and an index it gave us in the node.
        let raw = unsafe { get(self.raw, index) };
        if raw.is_null() {
            return Err(TensorError::Missing);
        }
        // SAFETY: the runtime returned a pointer to its eval tensor, live for the callback.
        let t = unsafe { &*raw };
        // SAFETY: `dims` is either null (checked in `int_array`) or a live `TfLiteIntArray`.
        let dims = unsafe { int_array(t.dims) }.ok_or(TensorError::BadDims)?;
        // SAFETY: reading the union's `data` member, which aliases every other member.
        let data = unsafe { t.data.data };
        Ok(Tensor {
            dtype: type_code(t.type_),
            dims,
            data,
        })
    }
}

/// Largest rank or node arity we accept from the runtime; anything beyond is corrupt.
const MAX_INT_ARRAY: c_int = 64;

/// Reads a `TfLiteIntArray` as a slice.
///
/// # Safety
/// `p` must be null or point to a live `TfLiteIntArray` whose `size` ints follow it.
unsafe fn int_array<'a>(p: *const TfLiteIntArray) -> Option<&'a [c_int]> {
    if p.is_null() {
        return None;
    }
    // SAFETY: non-null and live per the caller's contract.
    let size = unsafe { (*p).size };
    if !(0..=MAX_INT_ARRAY).contains(&size) {
        return None;
    }
    // SAFETY: `size` ints follow the header (the flexible array member), per the contract.
    Some(unsafe { core::slice::from_raw_parts((*p).data.as_ptr(), size as usize) })
}

/// The node being prepared or invoked.
pub struct Node {
    raw: *mut TfLiteNode,
}

impl Node {
    /// Wraps the node pointer passed to `prepare`/`invoke`.
    ///
    /// # Safety
    /// `raw` must be null or point to a live `TfLiteNode` for the whole callback.
    pub unsafe fn new(raw: *mut TfLiteNode) -> Option<Node> {
        (!raw.is_null()).then_some(Node { raw })
    }

    fn get(&self) -> &TfLiteNode {
        // SAFETY: non-null and live for the callback per `new`'s contract.
        unsafe { &*self.raw }
    }

    /// Input tensor indices, or `None` when the runtime gave none or a corrupt array.
    pub fn inputs(&self) -> Option<&[c_int]> {
        // SAFETY: the runtime's node holds null or a live array.
        unsafe { int_array(self.get().inputs) }
    }

    /// Output tensor indices.
    pub fn outputs(&self) -> Option<&[c_int]> {
        // SAFETY: as for `inputs`.
        unsafe { int_array(self.get().outputs) }
    }

    /// What our `init` returned, typed back.
    ///
    /// # Safety
    /// `user_data` must be null or a pointer our own `init` produced for a `T`.
    #[allow(clippy::mut_from_ref)] // the OpData lives in the arena, not in `self`
    pub unsafe fn user_data<T>(&self) -> Option<&mut T> {
        let p = self.get().user_data as *mut T;
        // SAFETY: per the contract the pointer is ours, aligned, initialised, and the runtime
        // runs one callback per node at a time, so the exclusive borrow cannot alias.
        (!p.is_null()).then(|| unsafe { &mut *p })
    }
}

/// Why a tensor could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorError {
    /// The index is negative or the runtime returned no tensor.
    Missing,
    /// The runtime's context has no `GetEvalTensor`.
    NoAccessor,
    /// Shape missing or with an impossible rank.
    BadDims,
}

impl fmt::Display for TensorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TensorError::Missing => "tensor missing",
            TensorError::NoAccessor => "runtime context has no GetEvalTensor",
            TensorError::BadDims => "tensor shape missing or corrupt",
        })
    }
}

/// One evaluation tensor: element type, shape and a data pointer not yet turned into a slice.
#[derive(Clone, Copy)]
pub struct Tensor<'a> {
    /// `TfLiteType` code.
    pub dtype: i32,
    /// Shape.
    pub dims: &'a [c_int],
    data: *mut c_void,
}

/// Element types a tensor can be viewed as.
pub trait Element: Copy {
    /// The matching `TfLiteType` code.
    const TYPE: i32;
}
impl Element for i8 {
    const TYPE: i32 = K_TF_LITE_INT8;
}
impl Element for u8 {
    const TYPE: i32 = K_TF_LITE_UINT8;
}
impl Element for i32 {
    const TYPE: i32 = K_TF_LITE_INT32;
}
impl Element for f32 {
    const TYPE: i32 = K_TF_LITE_FLOAT32;
}

impl<'a> Tensor<'a> {
    /// The same tensor declared as another type (for byte views of 1-byte flag types).
    pub fn retyped(self, dtype: i32) -> Tensor<'a> {
        Tensor { dtype, ..self }
    }

    /// Number of elements (product of dims), `None` on a negative dim or overflow.
    pub fn elements(&self) -> Option<usize> {
        self.dims.iter().try_fold(1usize, |acc, &d| {
            usize::try_from(d).ok().and_then(|d| acc.checked_mul(d))
        })
    }

    /// Byte range `[start, end)` of the data, for overlap checks.
    pub fn byte_range<T: Element>(&self) -> Option<(usize, usize)> {
        let len = self.elements()?.checked_mul(size_of::<T>())?;
        let start = self.data as usize;
        Some((start, start.checked_add(len)?))
    }

    fn checked_ptr<T: Element>(&self) -> Option<(*mut T, usize)> {
        if self.dtype != T::TYPE {
            return None;
        }
        let n = self.elements()?;
        if n == 0 {
            return Some((core::ptr::NonNull::<T>::dangling().as_ptr(), 0));
        }
        let p = self.data as *mut T;
        if p.is_null() || !(p as usize).is_multiple_of(align_of::<T>()) {
            return None;
        }
        n.checked_mul(size_of::<T>())
            .filter(|&b| b <= isize::MAX as usize)?;
        Some((p, n))
    }

    /// The data as `&[T]`; `None` when the type differs, the pointer is null or misaligned.
    pub fn slice<T: Element>(&self) -> Option<&'a [T]> {
        let (p, n) = self.checked_ptr::<T>()?;
        // SAFETY: the runtime owns `n` elements of `T` at `p` (type, shape and pointer come
        // from its eval tensor), `p` is non-null and aligned, and they stay live for the call.
        Some(unsafe { core::slice::from_raw_parts(p, n) })
    }

    /// The data as `&mut [T]`, for outputs.
    ///
    /// # Safety
    /// The caller must ensure no other live slice overlaps this tensor's data (the op glue
    /// checks output ranges against every input and output first).
    pub unsafe fn slice_mut<T: Element>(&self) -> Option<&'a mut [T]> {
        let (p, n) = self.checked_ptr::<T>()?;
        // SAFETY: as in `slice`, plus exclusivity guaranteed by the caller.
        Some(unsafe { core::slice::from_raw_parts_mut(p, n) })
    }
}

/// Views a scratch byte buffer as int8 (same size and alignment).
pub fn i8_from_bytes(bytes: &mut [u8]) -> &mut [i8] {
    // SAFETY: `u8` and `i8` have identical size and alignment and every bit pattern is valid
    // for both; the exclusive borrow is carried over.
    unsafe { core::slice::from_raw_parts_mut(bytes.as_mut_ptr() as *mut i8, bytes.len()) }
}

/// One-byte element types accepted for flag outputs (uint8, int8, bool).
pub const K_BYTE_TYPES: [i32; 3] = [K_TF_LITE_UINT8, K_TF_LITE_INT8, K_TF_LITE_BOOL];
