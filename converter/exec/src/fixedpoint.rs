//! The gemmlowp fixed-point routines SOFTMAX and LOGISTIC use, on raw `i32` values.
//!
//! A gemmlowp `FixedPoint<int32_t, I>` is a raw integer with `31 - I` fractional bits; the
//! integer-bit count only matters for constants and rescales, so each function here documents
//! the formats of its arguments and result. Products of two fixed-point numbers are
//! `srdhm` (their integer bits add up), sums are wrapping raw adds.
use crate::quant::{rounding_divide_by_pot, srdhm};

/// gemmlowp `SaturatingRoundingMultiplyByPOT<exponent>` on a raw value.
#[inline(always)]
pub fn saturating_rounding_mul_by_pot(x: i32, exponent: i32) -> i32 {
    if exponent == 0 {
        x
    } else if exponent < 0 {
        rounding_divide_by_pot(x, -exponent)
    } else {
        let threshold = (1i32 << (31 - exponent)) - 1;
        if x > threshold {
            i32::MAX
        } else if x < -threshold {
            i32::MIN
        } else {
            x << exponent
        }
    }
}

/// gemmlowp `Rescale<dst_bits>` from a value with `src_bits` integer bits.
#[inline(always)]
pub fn rescale(x: i32, src_bits: i32, dst_bits: i32) -> i32 {
    saturating_rounding_mul_by_pot(x, src_bits - dst_bits)
}

/// `exp(a)` for `a` in [-1/4, 0): input and result with 0 integer bits.
fn exp_on_interval_between_negative_one_quarter_and_0_excl(a: i32) -> i32 {
    const CONSTANT_TERM: i32 = 1_895_147_668;
    const CONSTANT_1_OVER_3: i32 = 715_827_883;
    let x = a.wrapping_add(1 << 28);
    let x2 = srdhm(x, x);
    let x3 = srdhm(x2, x);
    let x4 = srdhm(x2, x2);
    let x4_over_4 = saturating_rounding_mul_by_pot(x4, -2);
    let poly = saturating_rounding_mul_by_pot(
        srdhm(x4_over_4.wrapping_add(x3), CONSTANT_1_OVER_3).wrapping_add(x2),
        -1,
    );
    CONSTANT_TERM.wrapping_add(srdhm(CONSTANT_TERM, x.wrapping_add(poly)))
}

/// gemmlowp `exp_on_negative_values`: `a` has `integer_bits` integer bits and is ≤ 0; the
/// result has 0 integer bits.
pub fn exp_on_negative_values(a: i32, integer_bits: i32) -> i32 {
    let fractional_bits = 31 - integer_bits;
    let one_quarter = 1i32 << (fractional_bits - 2);
    let mask = one_quarter - 1;
    let a_mod_quarter_minus_one_quarter = (a & mask).wrapping_sub(one_quarter);
    let mut result = exp_on_interval_between_negative_one_quarter_and_0_excl(rescale(
        a_mod_quarter_minus_one_quarter,
        integer_bits,
        0,
    ));
    let remainder = a_mod_quarter_minus_one_quarter.wrapping_sub(a);
    const BARREL: [(i32, i32); 7] = [
        (-2, 1_672_461_947),
        (-1, 1_302_514_674),
        (0, 790_015_084),
        (1, 290_630_308),
        (2, 39_332_535),
        (3, 720_401),
        (4, 242),
    ];
    for &(exponent, multiplier) in &BARREL {
        if integer_bits > exponent {
            let bit = fractional_bits + exponent;
            if remainder & (1i32 << bit) != 0 {
                result = srdhm(result, multiplier);
            }
        }
    }
    if integer_bits > 5 {
        let b = 36 - integer_bits;
        let clamp = -(1i32 << b);
        if a < clamp {
            result = 0;
        }
    }
    if a == 0 {
        result = i32::MAX;
    }
    result
}

/// gemmlowp `RoundingHalfSum` on raw values.
#[inline(always)]
fn rounding_half_sum(a: i32, b: i32) -> i32 {
    let sum = i64::from(a) + i64::from(b);
    let sign = if sum >= 0 { 1 } else { -1 };
    ((sum + sign) / 2) as i32
}

/// gemmlowp `one_over_one_plus_x_for_x_in_0_1`: input and result with 0 integer bits.
pub fn one_over_one_plus_x_for_x_in_0_1(a: i32) -> i32 {
    let half_denominator = rounding_half_sum(a, i32::MAX);
    const C48_OVER_17: i32 = 1_515_870_810;
    const CNEG32_OVER_17: i32 = -1_010_580_540;
    const F2_ONE: i32 = 1 << 29;
    let mut x = C48_OVER_17.wrapping_add(srdhm(half_denominator, CNEG32_OVER_17));
    for _ in 0..3 {
        let half_denominator_times_x = srdhm(half_denominator, x);
        let one_minus = F2_ONE.wrapping_sub(half_denominator_times_x);
        x = x.wrapping_add(rescale(srdhm(x, one_minus), 4, 2));
    }
    // ExactMulByPot<-1> only relabels the raw value as one integer bit fewer (F2 → F1).
    rescale(x, 1, 0)
}

/// gemmlowp `logistic`: input with `integer_bits` integer bits, result with 0.
pub fn logistic(a: i32, integer_bits: i32) -> i32 {
    if a == 0 {
        return 1 << 30;
    }
    let abs = if a > 0 { a } else { a.wrapping_neg() };
    let positive =
        one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(abs.wrapping_neg(), integer_bits));
    if a > 0 {
        positive
    } else {
        i32::MAX.wrapping_sub(positive)
    }
}

/// TFLM `GetReciprocal`: reciprocal of `x` (with `x_integer_digits` integer bits) as a value
/// with 0 integer bits, plus how many bits the sum exceeded one by.
pub fn get_reciprocal(x: i32, x_integer_digits: i32) -> (i32, i32) {
    let headroom_plus_one = (x as u32).leading_zeros() as i32;
    let num_bits_over_unit = x_integer_digits - headroom_plus_one;
    let shifted_sum_minus_one =
        ((x as u32).wrapping_shl(headroom_plus_one as u32)).wrapping_sub(1u32 << 31) as i32;
    (
        one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one),
        num_bits_over_unit,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_tracks_float_exp() {
        for k in 0..200 {
            let x = -(k as f64) * 0.05;
            let raw = (x * f64::from(1u32 << 26)) as i32;
            let got = f64::from(exp_on_negative_values(raw, 5)) / 2f64.powi(31);
            assert!((got - x.exp()).abs() < 1e-6, "exp({x}) = {got}");
        }
    }

    #[test]
    fn reciprocal_tracks_float() {
        for k in 1..100 {
            let x = k as f64 / 100.0;
            let raw = (x * 2f64.powi(31)) as i32;
            let got = f64::from(one_over_one_plus_x_for_x_in_0_1(raw)) / 2f64.powi(31);
            assert!((got - 1.0 / (1.0 + x)).abs() < 1e-6, "1/(1+{x}) = {got}");
        }
    }

    #[test]
    fn logistic_tracks_float() {
        for k in -100..100 {
            let x = k as f64 * 0.07;
            let raw = (x * 2f64.powi(27)) as i32;
            let got = f64::from(logistic(raw, 4)) / 2f64.powi(31);
            let want = 1.0 / (1.0 + (-x).exp());
            assert!((got - want).abs() < 1e-6, "sigmoid({x}) = {got}");
        }
    }
}
