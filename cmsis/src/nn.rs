//! CMSIS-NN functions we call when the firmware links CMSIS-NN (feature `cmsis-nn`). The
//! declarations and parameter structs come from `cmsis-nn-sys` (bindgen over the
//! `CMSIS_NN_DIR` headers), never written by hand.
//!
//! SNAP_PROJECT's second stage — `z = requant(P·(g − zp_g) + b)` over the pooled vector `g` —
//! is exactly a per-tensor int8 fully-connected layer, so [`fully_connected_s8`] hands it to
//! `arm_fully_connected_s8`. The outputs are identical to the portable kernel because both use
//! the same arithmetic: exact int32 accumulation (`Σ (x + input_offset)·w + bias`), then
//! TFLM's double-rounding requantization (`SaturatingRoundingDoublingHighMul` followed by
//! `RoundingDivideByPOT`, CMSIS-NN's `arm_nn_requantize` when `CMSIS_NN_USE_SINGLE_ROUNDING`
//! is not defined — its default and TFLM's), then `+ output_offset` and the clamp.
//! A firmware that builds CMSIS-NN with `CMSIS_NN_USE_SINGLE_ROUNDING` must not enable this
//! feature.
//!
//! Enums: `arm_cmsis_nn_status` has the width bindgen derived for the target (one byte with
//! the arm-none-eabi default `-fshort-enums`, `int` on hosts); it is widened to `i32` here.

use cmsis_nn_sys as sys;
pub use sys::{arm_fully_connected_s8, arm_fully_connected_s8_get_buffer_size, arm_vector_sum_s8};

/// `cmsis_nn_context`: optional scratch buffer (bindgen, from `arm_nn_types.h`).
pub type CmsisNnContext = sys::cmsis_nn_context;
/// `cmsis_nn_dims` (NHWC; meaning per function).
pub type CmsisNnDims = sys::cmsis_nn_dims;
/// `cmsis_nn_activation`: output clamp.
pub type CmsisNnActivation = sys::cmsis_nn_activation;
/// `cmsis_nn_fc_params`.
pub type CmsisNnFcParams = sys::cmsis_nn_fc_params;
/// `cmsis_nn_per_tensor_quant_params`.
pub type CmsisNnPerTensorQuantParams = sys::cmsis_nn_per_tensor_quant_params;

/// `ARM_CMSIS_NN_SUCCESS`.
pub const ARM_CMSIS_NN_SUCCESS: i32 = 0;

/// The prototype of `arm_vector_sum_s8` this module calls, pinned against the generated
/// declaration: CMSIS-NN v7 added `rhs_offset` before `bias_data` (issue 11, defect 1: a
/// hand-written 6-parameter declaration made MVE cores read the bias from garbage). If
/// CMSIS-NN changes it again, this stops compiling.
const _: unsafe extern "C" fn(
    *mut i32,
    i32,
    i32,
    *const i8,
    i32,
    i32,
    *const i32,
) -> sys::arm_cmsis_nn_status = arm_vector_sum_s8;

/// A status as `i32`, whatever width bindgen gave the enum for this target.
#[allow(clippy::useless_conversion)] // `int` on hosts, one byte with -fshort-enums.
fn code(status: sys::arm_cmsis_nn_status) -> i32 {
    i32::from(status)
}

/// Why a CMSIS-NN call was not made or failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NnError {
    /// Slice lengths disagree with the dimensions.
    Shape,
    /// The library needs a scratch buffer larger than the one given.
    Scratch {
        /// Bytes needed.
        need: usize,
    },
    /// CMSIS-NN returned this status.
    Status(i32),
}

/// One-sample fully connected layer via `arm_fully_connected_s8`.
///
/// `weights` is `rows × cols` row-major, `bias` has `rows` entries (or is empty),
/// `scratch` is the context buffer (`arm_fully_connected_s8_get_buffer_size`; empty is fine
/// on Cortex-M4/M7 where it is 0).
#[allow(clippy::too_many_arguments)]
pub fn fully_connected_s8(
    input: &[i8],
    input_offset: i32,
    weights: &[i8],
    bias: &[i32],
    quant: CmsisNnPerTensorQuantParams,
    output_offset: i32,
    activation: CmsisNnActivation,
    scratch: &mut [i32],
    output: &mut [i8],
) -> Result<(), NnError> {
    let cols = input.len();
    let rows = output.len();
    if rows.checked_mul(cols) != Some(weights.len()) || !(bias.is_empty() || bias.len() == rows) {
        return Err(NnError::Shape);
    }
    let (Ok(c), Ok(r)) = (i32::try_from(cols), i32::try_from(rows)) else {
        return Err(NnError::Shape);
    };
    let filter_dims = CmsisNnDims {
        n: c,
        h: 1,
        w: 1,
        c: r,
    };
    // SAFETY: plain query on a valid dims struct.
    let need = unsafe { arm_fully_connected_s8_get_buffer_size(&filter_dims) };
    let need = usize::try_from(need).map_err(|_| NnError::Status(need))?;
    if need > core::mem::size_of_val(scratch) {
        return Err(NnError::Scratch { need });
    }
    let bias_ptr = if bias.is_empty() {
        core::ptr::null()
    } else {
        bias.as_ptr()
    };
    if need > 0 {
        // SAFETY: `scratch` holds at least `need` bytes ≥ `rows` int32 sums; weights are
        // `rows × cols` as checked above; bias is null or `rows` long.
        let status = unsafe {
            arm_vector_sum_s8(
                scratch.as_mut_ptr(),
                c,
                r,
                weights.as_ptr(),
                input_offset,
                // rhs_offset: −(weight zero point), 0 for symmetric int8 weights.
                0,
                bias_ptr,
            )
        };
        if code(status) != ARM_CMSIS_NN_SUCCESS {
            return Err(NnError::Status(code(status)));
        }
    }
    let ctx = CmsisNnContext {
        buf: scratch.as_mut_ptr() as *mut core::ffi::c_void,
        size: need as i32,
    };
    let params = CmsisNnFcParams {
        input_offset,
        filter_offset: 0,
        output_offset,
        activation,
    };
    let input_dims = CmsisNnDims {
        n: 1,
        h: 1,
        w: 1,
        c,
    };
    let bias_dims = CmsisNnDims {
        n: 1,
        h: 1,
        w: 1,
        c: r,
    };
    let output_dims = CmsisNnDims {
        n: 1,
        h: 1,
        w: 1,
        c: r,
    };
    // SAFETY: every pointer refers to a live slice whose length matches the dims passed with
    // it (checked above); the output slice is exclusively borrowed.
    let status = unsafe {
        arm_fully_connected_s8(
            &ctx,
            &params,
            &quant,
            &input_dims,
            input.as_ptr(),
            &filter_dims,
            weights.as_ptr(),
            &bias_dims,
            bias_ptr,
            &output_dims,
            output.as_mut_ptr(),
        )
    };
    if code(status) == ARM_CMSIS_NN_SUCCESS {
        Ok(())
    } else {
        Err(NnError::Status(code(status)))
    }
}

/// Layout pins of the generated structs (all members are `int32_t` or pointers).
const _: () = {
    use core::mem::size_of;
    assert!(size_of::<CmsisNnDims>() == 16);
    assert!(size_of::<CmsisNnActivation>() == 8);
    assert!(size_of::<CmsisNnFcParams>() == 20);
    assert!(size_of::<CmsisNnPerTensorQuantParams>() == 8);
    assert!(size_of::<CmsisNnContext>() == 2 * size_of::<usize>());
};
