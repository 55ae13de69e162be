//! The C ABI boundary: `#[repr(C)]` mirrors of the TFLM structs, their layout pins, and the
//! checked wrappers the op glue uses. This module (with the harness and the registration
//! entry points) is the only place with `unsafe` in this crate.
#[cfg(snapuq_tflm_bindgen)]
mod bindgen_check;
pub mod context;
pub mod layout;
pub mod types;
