//! int8 kernels, one module per builtin op, TFLM style: each has its OpData (the parameters
//! Prepare derives from the model once), a `prepare` that computes them, and an `eval` that is a
//! pure, allocation-free function over slices.
pub mod activations;
pub mod add;
pub mod broadcast;
pub mod concat;
pub mod conv;
pub mod depthwise;
pub mod dequantize;
pub mod fully_connected;
pub mod logistic;
pub mod mean;
pub mod mul;
pub mod pad;
pub mod pooling;
pub mod quantize;
pub mod simd;
pub mod softmax;

/// Per-output-channel constants of CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED, computed at
/// prepare and kept in the persistent part of the arena.
#[derive(Clone, Copy, Debug)]
pub struct PerChannel<'a> {
    /// Q31 multipliers.
    pub multiplier: &'a [i32],
    /// Power-of-two exponents (TFLM's range, −31..=30, fits a byte: 3 bytes of RAM per channel
    /// less than an `i32`).
    pub shift: &'a [i8],
    /// Bias (0 when the op has none).
    pub bias: &'a [i32],
    /// Sum of each channel's filter values, to fold the input zero point out of the inner loop.
    pub filter_sum: &'a [i32],
}

/// Number of persistent `i32` words [`PerChannel`] needs for `channels` channels: multipliers,
/// filter sums and the shifts (a byte each), plus a copy of the bias unless the bias is read in
/// place from the model (`bias_in_model`: a constant, 4-byte-aligned int32 tensor). Both
/// savings are what let ResNet-8 + SNAP fit the Small-MCU tier's 64 KB.
pub const fn per_channel_words(channels: usize, bias_in_model: bool) -> usize {
    let base = 2 * channels + channels.div_ceil(4);
    if bias_in_model {
        base
    } else {
        base + channels
    }
}

/// Splits a persistent block (layout: multipliers, filter sums, shift bytes, then the bias copy
/// unless `model_bias` is given) into the four [`PerChannel`] arrays.
pub fn split_per_channel<'a>(
    words: &'a [i32],
    channels: usize,
    model_bias: Option<&'a [i32]>,
) -> Option<PerChannel<'a>> {
    if words.len() < per_channel_words(channels, model_bias.is_some()) {
        return None;
    }
    let (multiplier, rest) = words.split_at(channels);
    let (filter_sum, rest) = rest.split_at(channels);
    let (shift, rest) = rest.split_at(channels.div_ceil(4));
    let shift: &[i8] = bytemuck::cast_slice(shift);
    let bias = match model_bias {
        Some(b) => b.get(..channels)?,
        None => &rest[..channels],
    };
    Some(PerChannel {
        multiplier,
        shift: &shift[..channels],
        bias,
        filter_sum,
    })
}

/// Fills a persistent block: multipliers from `input_scale * filter_scale[c] / output_scale` in
/// double precision (TFLM `PopulateConvolutionQuantizationParams`), bias read little-endian from
/// the model bytes (when the block has room for its copy), and per-channel filter sums over
/// `filter` laid out channel-major in `channel_stride` groups (or interleaved when
/// `interleaved` is true: depthwise `[.., C]`). False when a shift does not fit a byte (a
/// real multiplier beyond 2^127: no usable model has one).
// The arguments are the independent facts TFLM's Prepare reads off three tensors; bundling them
// in a struct used once would only move the list.
#[allow(clippy::too_many_arguments)]
pub fn fill_per_channel(
    words: &mut [i32],
    channels: usize,
    input_scale: f32,
    filter_scales: &dyn Fn(usize) -> f32,
    output_scale: f32,
    bias_le: Option<&[u8]>,
    filter: &[i8],
    interleaved: bool,
) -> bool {
    if words.len() < per_channel_words(channels, true) {
        return false;
    }
    let (multiplier, rest) = words.split_at_mut(channels);
    let (filter_sum, rest) = rest.split_at_mut(channels);
    let (shift, rest) = rest.split_at_mut(channels.div_ceil(4));
    let shift: &mut [i8] = bytemuck::cast_slice_mut(shift);
    // The bias copy exists only when the block was sized for it (see `per_channel_words`).
    let mut no_bias: [i32; 0] = [];
    let bias: &mut [i32] = match rest.get_mut(..channels) {
        Some(b) => b,
        None => &mut no_bias,
    };
    for c in 0..channels {
        let real = f64::from(input_scale) * f64::from(filter_scales(c)) / f64::from(output_scale);
        let m = crate::quant::quantize_multiplier(real);
        multiplier[c] = m.multiplier;
        let Ok(s) = i8::try_from(m.shift) else {
            return false;
        };
        shift[c] = s;
        if let Some(slot) = bias.get_mut(c) {
            *slot = bias_le
                .and_then(|b| b.get(4 * c..4 * c + 4))
                .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .unwrap_or(0);
        }
        filter_sum[c] = 0;
    }
    if channels == 0 {
        return true;
    }
    if interleaved {
        for (k, &f) in filter.iter().enumerate() {
            filter_sum[k % channels] = filter_sum[k % channels].wrapping_add(i32::from(f));
        }
    } else {
        let per = filter.len() / channels;
        for (c, chunk) in filter.chunks_exact(per.max(1)).take(channels).enumerate() {
            filter_sum[c] = chunk
                .iter()
                .fold(0i32, |a, &f| a.wrapping_add(i32::from(f)));
        }
    }
    true
}

/// i8·i8 dot product with i32 accumulation, written so LLVM vectorizes it.
#[inline(always)]
pub fn dot(a: &[i8], b: &[i8]) -> i32 {
    a.iter().zip(b).fold(0i32, |acc, (&x, &y)| {
        acc.wrapping_add(i32::from(x) * i32::from(y))
    })
}

/// Requantizes an i32 accumulator to int8 with clamping.
#[inline(always)]
pub fn requantize(
    acc: i32,
    multiplier: i32,
    shift: i32,
    output_offset: i32,
    min: i32,
    max: i32,
) -> i8 {
    let v = crate::quant::mul_by_quantized_multiplier(acc, multiplier, shift)
        .wrapping_add(output_offset);
    v.clamp(min, max) as i8
}
