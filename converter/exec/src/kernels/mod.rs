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
pub mod softmax;

/// Per-output-channel constants of CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED, computed at
/// prepare and kept in the persistent part of the arena.
#[derive(Clone, Copy, Debug)]
pub struct PerChannel<'a> {
    /// Q31 multipliers.
    pub multiplier: &'a [i32],
    /// Power-of-two exponents.
    pub shift: &'a [i32],
    /// Bias (0 when the op has none).
    pub bias: &'a [i32],
    /// Sum of each channel's filter values, to fold the input zero point out of the inner loop.
    pub filter_sum: &'a [i32],
}

/// Number of `i32` words [`PerChannel`] needs for `channels` channels.
pub const fn per_channel_words(channels: usize) -> usize {
    4 * channels
}

/// Splits a persistent `i32` block into the four [`PerChannel`] arrays.
pub fn split_per_channel(words: &[i32], channels: usize) -> Option<PerChannel<'_>> {
    if words.len() < per_channel_words(channels) {
        return None;
    }
    let (multiplier, rest) = words.split_at(channels);
    let (shift, rest) = rest.split_at(channels);
    let (bias, rest) = rest.split_at(channels);
    Some(PerChannel {
        multiplier,
        shift,
        bias,
        filter_sum: &rest[..channels],
    })
}

/// Fills a persistent block: multipliers from `input_scale * filter_scale[c] / output_scale` in
/// double precision (TFLM `PopulateConvolutionQuantizationParams`), bias read little-endian from
/// the model bytes, and per-channel filter sums over `filter` laid out channel-major in
/// `channel_stride` groups (or interleaved when `interleaved` is true: depthwise `[.., C]`).
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
) {
    let (multiplier, rest) = words.split_at_mut(channels);
    let (shift, rest) = rest.split_at_mut(channels);
    let (bias, rest) = rest.split_at_mut(channels);
    let filter_sum = &mut rest[..channels];
    for c in 0..channels {
        let real = f64::from(input_scale) * f64::from(filter_scales(c)) / f64::from(output_scale);
        let m = crate::quant::quantize_multiplier(real);
        multiplier[c] = m.multiplier;
        shift[c] = m.shift;
        bias[c] = bias_le
            .and_then(|b| b.get(4 * c..4 * c + 4))
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .unwrap_or(0);
        filter_sum[c] = 0;
    }
    if channels == 0 {
        return;
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
