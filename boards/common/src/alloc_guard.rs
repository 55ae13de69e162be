//! A global allocator that refuses every allocation.
//!
//! Our firmware must run without a heap. Some dependencies link `alloc` (the flatbuffers
//! crate does) even though the paths we call never allocate; installing this allocator keeps
//! that a checked fact rather than a hope: any allocation returns null, Rust's allocation
//! error handler panics ("memory allocation of N bytes failed"), the panic handler prints it
//! and QEMU exits with a failure status.
use core::alloc::{GlobalAlloc, Layout};

/// Install with `#[global_allocator] static A: RefuseAlloc = RefuseAlloc;`.
pub struct RefuseAlloc;

// SAFETY: returning null is the documented way for `alloc` to report failure, and `dealloc`
// is never reached because no allocation ever succeeds.
unsafe impl GlobalAlloc for RefuseAlloc {
    unsafe fn alloc(&self, _layout: Layout) -> *mut u8 {
        core::ptr::null_mut()
    }

    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {}
}
