#![no_std]
//! TFLM face of the SNAP-UQ ops: each op as a C-ABI `TFLMRegistration`.
//!
//! - `snapuq_register_SNAP_PROJECT()`, `snapuq_register_SNAP_SURPRISAL()`,
//!   `snapuq_register_SNAP_CALIBRATE()` (declared in `include/snapuq.h`; C++ users call
//!   `snapuq::AddOps(resolver)` from `include/snapuq_tflm.h`).
//! - [`ffi`]: `#[repr(C)]` mirrors of the TFLM structs (as compiled with
//!   `TF_LITE_STATIC_MEMORY`), their layout pins, and checked wrappers.
//! - `harness` (feature `harness`, tests): a one-node TFLM interpreter stand-in.
//!
//! No heap: OpData lives in `AllocatePersistentBuffer` memory, work buffers in
//! `RequestScratchBufferInArena` memory. No panic is reachable from runtime or model input:
//! every error path returns `kTfLiteError` after `ReportError` naming the problem.
//!
//! On hosts the crate links `std`, only so that the host staticlib has a panic runtime; on
//! bare-metal targets it is `no_std` and provides a `#[panic_handler]` (which never runs) unless
//! feature `external-panic-handler` says a Rust firmware brings its own.

#[cfg(not(target_os = "none"))]
extern crate std;

#[cfg(feature = "cmsis-nn")]
mod cmsis_nn;
pub mod ffi;
pub mod glue;
#[cfg(feature = "harness")]
pub mod harness;
pub mod ops;

pub use ffi::types::TFLMRegistration;
pub use ops::calibrate::snapuq_register_SNAP_CALIBRATE;
pub use ops::project::snapuq_register_SNAP_PROJECT;
pub use ops::surprisal::snapuq_register_SNAP_SURPRISAL;

/// Version of the C ABI in `include/snapuq.h`.
pub const ABI_VERSION: u32 = 1;

/// `unsigned int snapuq_abi_version(void)`.
#[no_mangle]
pub extern "C" fn snapuq_abi_version() -> core::ffi::c_uint {
    ABI_VERSION
}

/// The three registrations with their custom codes, in `AddOps` order.
pub const REGISTRATIONS: [(&str, TFLMRegistration); 3] = [
    ("SNAP_PROJECT", ops::project::REGISTRATION),
    ("SNAP_SURPRISAL", ops::surprisal::REGISTRATION),
    ("SNAP_CALIBRATE", ops::calibrate::REGISTRATION),
];

#[cfg(all(target_os = "none", not(feature = "external-panic-handler")))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    // Unreachable by design (every FFI path handles its errors); if it ever runs, stop here
    // rather than continue with corrupt state.
    loop {
        core::hint::spin_loop();
    }
}
