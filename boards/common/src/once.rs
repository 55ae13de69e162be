//! Statics handed out once as `&'static mut`, for buffers too large for the stack (the
//! executor's arena): zero-initialised, so they land in .bss and count against the tier's RAM
//! at link time.
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

/// A static value that can be borrowed mutably exactly once.
pub struct TakeOnce<T> {
    taken: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: access to `value` is handed out at most once (guarded by the atomic swap in `take`),
// so no two contexts can ever alias it.
unsafe impl<T: Send> Sync for TakeOnce<T> {}

impl<T> TakeOnce<T> {
    /// Wraps `value` (use a zero value so the static goes to .bss).
    pub const fn new(value: T) -> Self {
        TakeOnce {
            taken: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// The value, the first time only; `None` afterwards.
    // The `&mut` comes from a shared `&'static self` on purpose: the atomic flag makes it the
    // only one ever handed out, which is the pattern clippy's `mut_from_ref` cannot see.
    #[allow(clippy::mut_from_ref)]
    pub fn take(&'static self) -> Option<&'static mut T> {
        if self.taken.swap(true, Ordering::AcqRel) {
            return None;
        }
        // SAFETY: the swap above returned false exactly once, so this is the only reference
        // ever created to `value`, and the static lives for the whole program.
        Some(unsafe { &mut *self.value.get() })
    }
}

/// A 16-byte-aligned byte buffer (the executor's arena alignment).
#[repr(C, align(16))]
pub struct Aligned<const N: usize>(pub [u8; N]);

impl<const N: usize> Aligned<N> {
    /// All zeros.
    pub const fn zeroed() -> Self {
        Aligned([0; N])
    }
}
