//! CMSIS-NN functions we call when the firmware links CMSIS-NN (feature `cmsis-nn`), with
//! `#[repr(C)]` mirrors of their parameter structs (`Include/arm_nn_types.h`, CMSIS-NN v6+).
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
//! Enums: `arm_cmsis_nn_status` is returned as `int32_t`; with `-fshort-enums` (the
//! arm-none-eabi default) the callee sign-extends the one-byte value into `r0` (AAPCS), so
//! reading an `i32` is correct for either enum width.

/// `cmsis_nn_context`: optional scratch buffer.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CmsisNnContext {
    /// `void* buf`.
    pub buf: *mut core::ffi::c_void,
    /// `int32_t size`.
    pub size: i32,
}

/// `cmsis_nn_dims` (NHWC; meaning per function).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CmsisNnDims {
    /// Batches or output channels.
    pub n: i32,
    /// Height.
    pub h: i32,
    /// Width.
    pub w: i32,
    /// Channels.
    pub c: i32,
}

/// `cmsis_nn_activation`: output clamp.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CmsisNnActivation {
    /// Lower clamp.
    pub min: i32,
    /// Upper clamp.
    pub max: i32,
}

/// `cmsis_nn_fc_params`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CmsisNnFcParams {
    /// −(input zero point).
    pub input_offset: i32,
    /// −(filter zero point): 0 for symmetric int8 weights.
    pub filter_offset: i32,
    /// Output zero point (added after requantization).
    pub output_offset: i32,
    /// Output clamp.
    pub activation: CmsisNnActivation,
}

/// `cmsis_nn_per_tensor_quant_params`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CmsisNnPerTensorQuantParams {
    /// Q31 multiplier.
    pub multiplier: i32,
    /// Shift (positive: left).
    pub shift: i32,
}

/// `ARM_CMSIS_NN_SUCCESS`.
pub const ARM_CMSIS_NN_SUCCESS: i32 = 0;

extern "C" {
    /// `arm_fully_connected_s8`: `out[b][o] = clamp(requant(Σ_i (in[b][i] + input_offset) ·
    /// (w[o][i] + filter_offset) + bias[o]) + output_offset)`.
    pub fn arm_fully_connected_s8(
        ctx: *const CmsisNnContext,
        fc_params: *const CmsisNnFcParams,
        quant_params: *const CmsisNnPerTensorQuantParams,
        input_dims: *const CmsisNnDims,
        input_data: *const i8,
        filter_dims: *const CmsisNnDims,
        filter_data: *const i8,
        bias_dims: *const CmsisNnDims,
        bias_data: *const i32,
        output_dims: *const CmsisNnDims,
        output_data: *mut i8,
    ) -> i32;

    /// `arm_fully_connected_s8_get_buffer_size`: bytes `ctx.buf` must hold (0 on DSP cores;
    /// kernel sums on MVE).
    pub fn arm_fully_connected_s8_get_buffer_size(filter_dims: *const CmsisNnDims) -> i32;

    /// `arm_vector_sum_s8`: per-row sums of the weights × `lhs_offset` (+ bias), which
    /// `arm_fully_connected_s8` expects in `ctx.buf` when its buffer size is non-zero.
    pub fn arm_vector_sum_s8(
        vector_sum_buf: *mut i32,
        vector_cols: i32,
        vector_rows: i32,
        vector_data: *const i8,
        lhs_offset: i32,
        bias_data: *const i32,
    ) -> i32;
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
                bias_ptr,
            )
        };
        if status != ARM_CMSIS_NN_SUCCESS {
            return Err(NnError::Status(status));
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
    if status == ARM_CMSIS_NN_SUCCESS {
        Ok(())
    } else {
        Err(NnError::Status(status))
    }
}

/// Layout pins of the mirrors (all members are `int32_t` or pointers).
const _: () = {
    use core::mem::size_of;
    assert!(size_of::<CmsisNnDims>() == 16);
    assert!(size_of::<CmsisNnActivation>() == 8);
    assert!(size_of::<CmsisNnFcParams>() == 20);
    assert!(size_of::<CmsisNnPerTensorQuantParams>() == 8);
    assert!(size_of::<CmsisNnContext>() == 2 * size_of::<usize>());
};
