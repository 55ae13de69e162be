//! Fixed-point requantization exactly as TFLM computes it (`quantization_util.cc`,
//! `kernels/internal/common.h`).
//!
//! Multipliers are derived in double precision from the float32 scales stored in the model,
//! like TFLM's Prepare functions do; the integer paths then reproduce TFLM's default
//! ("double rounding") `MultiplyByQuantizedMultiplier`, which the oracle tests pin down.

/// A real multiplier as TFLM stores it: Q31 significand and a power-of-two exponent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Multiplier {
    /// Q0.31 significand in [2^30, 2^31) (or 0).
    pub multiplier: i32,
    /// Power-of-two exponent: positive shifts left, negative shifts right.
    pub shift: i32,
}

/// `frexp` then round the significand to Q31, as TFLM's `QuantizeMultiplier`.
pub fn quantize_multiplier(real: f64) -> Multiplier {
    if real == 0.0 {
        return Multiplier::default();
    }
    let (q, mut shift) = libm::frexp(real);
    let mut q_fixed = libm::round(q * (1u64 << 31) as f64) as i64;
    if q_fixed == 1i64 << 31 {
        q_fixed /= 2;
        shift += 1;
    }
    if shift < -31 {
        shift = 0;
        q_fixed = 0;
    }
    Multiplier {
        multiplier: q_fixed as i32,
        shift,
    }
}

/// gemmlowp `SaturatingRoundingDoublingHighMul`.
#[inline(always)]
pub fn srdhm(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = i64::from(a) * i64::from(b);
    let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// gemmlowp `RoundingDivideByPOT` (round half away from zero).
#[inline(always)]
pub fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    if exponent <= 0 {
        return x;
    }
    let exponent = exponent.min(31);
    let mask: i64 = (1i64 << exponent) - 1;
    let remainder = i64::from(x) & mask;
    let threshold = (mask >> 1) + i64::from(x < 0);
    ((i64::from(x) >> exponent) + i64::from(remainder > threshold)) as i32
}

/// TFLM `MultiplyByQuantizedMultiplier` (double rounding: high-mul then rounding shift).
#[inline(always)]
pub fn mul_by_quantized_multiplier(x: i32, multiplier: i32, shift: i32) -> i32 {
    let left = if shift > 0 { shift } else { 0 };
    let right = if shift > 0 { 0 } else { -shift };
    rounding_divide_by_pot(
        srdhm(x.wrapping_mul(1i32 << left.min(30)), multiplier),
        right,
    )
}

/// TFLM `MultiplyByQuantizedMultiplierGreaterThanOne`.
#[inline(always)]
pub fn mul_by_quantized_multiplier_gt_one(x: i32, multiplier: i32, left_shift: i32) -> i32 {
    srdhm(x.wrapping_mul(1i32 << left_shift.clamp(0, 30)), multiplier)
}

/// TFLM `CalculateInputRadius` for softmax / logistic input clamping.
pub fn calculate_input_radius(input_integer_bits: i32, input_left_shift: i32) -> i32 {
    let total_signed_bits = 31;
    let max_input_rescaled = f64::from((1i32 << input_integer_bits) - 1)
        * (1u64 << (total_signed_bits - input_integer_bits)) as f64
        / (1u64 << input_left_shift.clamp(0, 62)) as f64;
    libm::floor(max_input_rescaled) as i32
}

/// Fused activation of a builtin op (`ActivationFunctionType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    None,
    Relu,
    ReluN1To1,
    Relu6,
}

/// TFLM `Quantize` helper used for activation bounds: `zp + round(f / scale)` in float.
fn quantize_f32(scale: f32, zero_point: i32, f: f32) -> i32 {
    zero_point.saturating_add(libm::roundf(f / scale) as i32)
}

/// TFLM `CalculateActivationRangeQuantized` for int8 outputs.
pub fn activation_range_i8(act: Activation, scale: f32, zero_point: i32) -> (i32, i32) {
    let (qmin, qmax) = (i32::from(i8::MIN), i32::from(i8::MAX));
    match act {
        Activation::None => (qmin, qmax),
        Activation::Relu => (qmin.max(quantize_f32(scale, zero_point, 0.0)), qmax),
        Activation::Relu6 => (
            qmin.max(quantize_f32(scale, zero_point, 0.0)),
            qmax.min(quantize_f32(scale, zero_point, 6.0)),
        ),
        Activation::ReluN1To1 => (
            qmin.max(quantize_f32(scale, zero_point, -1.0)),
            qmax.min(quantize_f32(scale, zero_point, 1.0)),
        ),
    }
}

/// Padding as TFLM's `ComputePaddingHeightWidth` derives it.
pub fn compute_padding(
    stride: i32,
    dilation: i32,
    in_size: i32,
    filter: i32,
    out_size: i32,
) -> i32 {
    // In i64: the sizes come from the model file, and a corrupt one must give a wrong size
    // that the shape checks refuse, not an overflow.
    let (stride, dilation, in_size, filter, out_size) = (
        i64::from(stride),
        i64::from(dilation),
        i64::from(in_size),
        i64::from(filter),
        i64::from(out_size),
    );
    let effective = (filter - 1) * dilation + 1;
    let p = ((out_size - 1) * stride + effective - in_size) / 2;
    saturate(p.max(0))
}

fn saturate(v: i64) -> i32 {
    v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// Output size for SAME (`same = true`) or VALID padding, as TFLM's `ComputeOutSize`.
pub fn compute_out_size(same: bool, image: i32, filter: i32, stride: i32, dilation: i32) -> i32 {
    if stride <= 0 {
        return 0;
    }
    let (image, filter, stride, dilation) = (
        i64::from(image),
        i64::from(filter),
        i64::from(stride),
        i64::from(dilation),
    );
    let effective = (filter - 1) * dilation + 1;
    saturate(if same {
        (image + stride - 1) / stride
    } else {
        (image + stride - effective) / stride
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiplier_roundtrip_is_close() {
        for &r in &[0.5, 0.75, 1e-3, 3.2, 0.999_999_999_9, 2.0f64.powi(-20)] {
            let m = quantize_multiplier(r);
            let back = f64::from(m.multiplier) / f64::from(1u32 << 31) * 2f64.powi(m.shift);
            assert!((back - r).abs() / r < 1e-9, "{r} -> {m:?}");
        }
        assert_eq!(quantize_multiplier(0.0), Multiplier::default());
    }

    #[test]
    fn rounding_divide_rounds_half_away_from_zero() {
        assert_eq!(rounding_divide_by_pot(5, 1), 3);
        assert_eq!(rounding_divide_by_pot(-5, 1), -3);
        assert_eq!(rounding_divide_by_pot(4, 2), 1);
        assert_eq!(rounding_divide_by_pot(-6, 2), -2);
        assert_eq!(rounding_divide_by_pot(7, 0), 7);
    }

    #[test]
    fn srdhm_saturates_and_rounds() {
        assert_eq!(srdhm(i32::MIN, i32::MIN), i32::MAX);
        assert_eq!(srdhm(1 << 30, 1 << 30), 1 << 29);
        assert_eq!(srdhm(-3, 1 << 30), -1);
    }

    #[test]
    fn multiply_matches_real_product() {
        let m = quantize_multiplier(0.25);
        assert_eq!(
            mul_by_quantized_multiplier(1000, m.multiplier, m.shift),
            250
        );
        let m = quantize_multiplier(3.0);
        assert_eq!(mul_by_quantized_multiplier(-7, m.multiplier, m.shift), -21);
    }

    #[test]
    fn relu6_range() {
        assert_eq!(
            activation_range_i8(Activation::Relu6, 6.0 / 255.0, -128),
            (-128, 127)
        );
        assert_eq!(activation_range_i8(Activation::Relu, 0.1, 3), (3, 127));
    }
}
