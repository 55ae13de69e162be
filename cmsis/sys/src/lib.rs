#![no_std]
//! CMSIS-NN's C API as bindgen generates it from `CMSIS_NN_DIR/Include/arm_nnfunctions.h` for
//! the target being built: `arm_fully_connected_s8`, its buffer-size query, `arm_vector_sum_s8`
//! and the `cmsis_nn_*` parameter structs. Generated, not hand-written, so a signature change
//! in CMSIS-NN (like `arm_vector_sum_s8`'s `rhs_offset`) is a compile error in the caller
//! instead of garbage read at run time. With feature `build` the functions are also compiled
//! and linked (see `build.rs`).
#![allow(
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    missing_docs,
    clippy::all
)]

include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
