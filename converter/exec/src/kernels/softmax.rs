//! SOFTMAX int8 → int8, as TFLM's `reference_ops::Softmax` (quantized): differences to the row
//! maximum are scaled by β·s_in into Q5.26, exponentiated with gemmlowp's
//! `exp_on_negative_values`, summed in Q12.19, and normalized by a fixed-point reciprocal.
use crate::fixedpoint::{exp_on_negative_values, get_reciprocal, rescale};
use crate::quant::{
    calculate_input_radius, mul_by_quantized_multiplier_gt_one, quantize_multiplier,
};

const SCALED_DIFF_INTEGER_BITS: i32 = 5;
const ACCUMULATION_INTEGER_BITS: i32 = 12;

/// TFLM `SoftmaxParams` for the int8 path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SoftmaxParams {
    pub input_multiplier: i32,
    pub input_left_shift: i32,
    pub diff_min: i32,
    /// Length of the last dimension.
    pub depth: usize,
}

/// TFLM `PreprocessSoftmaxScaling` + `CalculateInputRadius`.
pub fn prepare(beta: f32, input_scale: f32, depth: usize) -> SoftmaxParams {
    let real = (f64::from(beta)
        * f64::from(input_scale)
        * f64::from(1u32 << (31 - SCALED_DIFF_INTEGER_BITS)))
    .min(f64::from(i32::MAX));
    let m = quantize_multiplier(real);
    let radius = calculate_input_radius(SCALED_DIFF_INTEGER_BITS, m.shift);
    SoftmaxParams {
        input_multiplier: m.multiplier,
        input_left_shift: m.shift,
        diff_min: -radius,
        depth,
    }
}

/// Softmax over each row of `depth` values (output zero point −128, scale 1/256).
#[inline(never)]
pub fn eval(p: &SoftmaxParams, input: &[i8], output: &mut [i8]) {
    if p.depth == 0 {
        return;
    }
    for (row, out) in input
        .chunks_exact(p.depth)
        .zip(output.chunks_exact_mut(p.depth))
    {
        let max = row.iter().copied().max().map(i32::from).unwrap_or(0);
        let mut sum_of_exps: i32 = 0;
        for &v in row {
            let diff = i32::from(v) - max;
            if diff >= p.diff_min {
                let scaled = mul_by_quantized_multiplier_gt_one(
                    diff,
                    p.input_multiplier,
                    p.input_left_shift,
                );
                let e = exp_on_negative_values(scaled, SCALED_DIFF_INTEGER_BITS);
                sum_of_exps = sum_of_exps.wrapping_add(rescale(e, 0, ACCUMULATION_INTEGER_BITS));
            }
        }
        let (shifted_scale, num_bits_over_unit) =
            get_reciprocal(sum_of_exps, ACCUMULATION_INTEGER_BITS);
        for (o, &v) in out.iter_mut().zip(row) {
            let diff = i32::from(v) - max;
            *o = if diff >= p.diff_min {
                let scaled = mul_by_quantized_multiplier_gt_one(
                    diff,
                    p.input_multiplier,
                    p.input_left_shift,
                );
                let e = exp_on_negative_values(scaled, SCALED_DIFF_INTEGER_BITS);
                let unsat = crate::quant::rounding_divide_by_pot(
                    crate::quant::srdhm(shifted_scale, e),
                    num_bits_over_unit + 31 - 8,
                );
                (unsat - 128).clamp(-128, 127) as i8
            } else {
                i8::MIN
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_row_gives_equal_shares() {
        let p = prepare(1.0, 0.1, 4);
        let mut out = [0i8; 4];
        eval(&p, &[5, 5, 5, 5], &mut out);
        // 0.25 / (1/256) − 128 = −64.
        assert_eq!(out, [-64; 4]);
    }

    #[test]
    fn dominant_logit_takes_nearly_all() {
        let p = prepare(1.0, 0.5, 3);
        let mut out = [0i8; 3];
        eval(&p, &[127, -128, -128], &mut out);
        assert_eq!(out[0], 127);
        assert_eq!(out[1], -128);
    }
}
