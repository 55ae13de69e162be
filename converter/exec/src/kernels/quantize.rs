//! QUANTIZE: float32 → int8 (TFLM `AffineQuantize`: round(x / scale) in float, + zp, clamp) and
//! int8 → int8 requantization (TFLM `Requantize`: MultiplyByQuantizedMultiplier by s_in/s_out).
use crate::quant::{mul_by_quantized_multiplier, quantize_multiplier, Multiplier};

/// float → int8.
#[inline(never)]
pub fn eval_from_f32(scale: f32, zero_point: i32, input: &[f32], output: &mut [i8]) {
    for (o, &x) in output.iter_mut().zip(input) {
        let q = (libm::roundf(x / scale) as i32).saturating_add(zero_point);
        *o = q.clamp(-128, 127) as i8;
    }
}

/// Parameters of an int8 → int8 requantization.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequantizeParams {
    pub multiplier: Multiplier,
    pub input_zero_point: i32,
    pub output_zero_point: i32,
}

/// TFLM quantize Prepare for an int8 input.
pub fn prepare_requantize(s_in: f32, zp_in: i32, s_out: f32, zp_out: i32) -> RequantizeParams {
    RequantizeParams {
        multiplier: quantize_multiplier(f64::from(s_in) / f64::from(s_out)),
        input_zero_point: zp_in,
        output_zero_point: zp_out,
    }
}

/// int8 → int8.
#[inline(never)]
pub fn eval_requantize(p: &RequantizeParams, input: &[i8], output: &mut [i8]) {
    for (o, &x) in output.iter_mut().zip(input) {
        let v = mul_by_quantized_multiplier(
            i32::from(x) - p.input_zero_point,
            p.multiplier.multiplier,
            p.multiplier.shift,
        )
        .wrapping_add(p.output_zero_point);
        *o = v.clamp(-128, 127) as i8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantizes_and_requantizes() {
        let mut q = [0i8; 4];
        eval_from_f32(0.5, 1, &[0.0, 1.25, -100.0, 0.74], &mut q);
        assert_eq!(q, [1, 4, -128, 2]);
        let p = prepare_requantize(0.5, 1, 0.25, -3);
        let mut r = [0i8; 2];
        eval_requantize(&p, &[3, -1], &mut r);
        assert_eq!(r, [1, -7]);
    }
}
