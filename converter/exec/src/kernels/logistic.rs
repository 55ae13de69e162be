//! LOGISTIC int8 → int8 (output scale 1/256, zp −128), as TFLM's
//! `reference_integer_ops::Logistic`: the input is rescaled to Q4.27, gemmlowp's fixed-point
//! `logistic` gives Q0.31, which is rounded down to 8 bits; inputs beyond the radius saturate.
use crate::fixedpoint::logistic;
use crate::quant::{calculate_input_radius, mul_by_quantized_multiplier, rounding_divide_by_pot};

const INPUT_INTEGER_BITS: i32 = 4;

/// TFLM `OpDataLogistic` for int8.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogisticParams {
    pub input_zero_point: i32,
    pub input_range_radius: i32,
    pub input_multiplier: i32,
    pub input_left_shift: i32,
}

/// TFLM `CalculateArithmeticOpDataLogistic` for int8 (frexp of s_in·2^27, no Q31 overflow fix).
pub fn prepare(s_in: f32, zp_in: i32) -> LogisticParams {
    let real = f64::from(s_in) * f64::from(1u32 << (31 - INPUT_INTEGER_BITS));
    let (q, shift) = libm::frexp(real);
    LogisticParams {
        input_zero_point: zp_in,
        input_range_radius: calculate_input_radius(INPUT_INTEGER_BITS, shift),
        input_multiplier: libm::round(q * (1u64 << 31) as f64) as i64 as i32,
        input_left_shift: shift,
    }
}

/// Elementwise logistic.
#[inline(never)]
pub fn eval(p: &LogisticParams, input: &[i8], output: &mut [i8]) {
    for (o, &x) in output.iter_mut().zip(input) {
        let v = i32::from(x) - p.input_zero_point;
        *o = if v <= -p.input_range_radius {
            i8::MIN
        } else if v >= p.input_range_radius {
            i8::MAX
        } else {
            let q4 = mul_by_quantized_multiplier(v, p.input_multiplier, p.input_left_shift);
            let q0 = logistic(q4, INPUT_INTEGER_BITS);
            (rounding_divide_by_pot(q0, 31 - 8) - 128).clamp(-128, 127) as i8
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logistic_of_zero_is_half_and_saturates() {
        let p = prepare(0.1, 3);
        let mut out = [0i8; 3];
        eval(&p, &[3, 127, -128], &mut out);
        assert_eq!(out[0], 0);
        assert_eq!(out[1], 127);
        assert_eq!(out[2], -128);
    }
}
