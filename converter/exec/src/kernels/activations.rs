//! RELU and RELU6 for int8, as TFLM's `activations.cc`: RELU requantizes from the input to the
//! output scale and clamps at the quantized 0; RELU6 clamps between the input's quantized 0 and
//! 6 without rescaling.
use crate::quant::{mul_by_quantized_multiplier, quantize_multiplier};

/// TFLM `ReluOpData` for int8.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReluParams {
    pub input_offset: i32,
    pub output_offset: i32,
    pub multiplier: i32,
    pub shift: i32,
    pub act_min: i32,
    pub act_max: i32,
}

/// TFLM `CalculateReluOpData<int8_t>`.
pub fn prepare_relu(s_in: f32, zp_in: i32, s_out: f32, zp_out: i32) -> ReluParams {
    let m = quantize_multiplier(f64::from(s_in) / f64::from(s_out));
    ReluParams {
        input_offset: zp_in,
        output_offset: zp_out,
        multiplier: m.multiplier,
        shift: m.shift,
        act_min: (-128i32).max(zp_out.saturating_add(libm::roundf(0.0 / s_out) as i32)),
        act_max: 127,
    }
}

/// RELU.
#[inline(never)]
pub fn eval_relu(p: &ReluParams, input: &[i8], output: &mut [i8]) {
    for (o, &x) in output.iter_mut().zip(input) {
        let v = p.output_offset.wrapping_add(mul_by_quantized_multiplier(
            i32::from(x) - p.input_offset,
            p.multiplier,
            p.shift,
        ));
        *o = v.clamp(p.act_min, p.act_max) as i8;
    }
}

/// RELU6 bounds in the input's quantization (TFLM `Relu6Prepare`: `FloatToQuantizedType`).
pub fn prepare_relu6(s_in: f32, zp_in: i32) -> (i8, i8) {
    let six = (libm::roundf(6.0 / s_in) as i32)
        .saturating_add(zp_in)
        .clamp(-128, 127);
    (zp_in.clamp(-128, 127) as i8, six as i8)
}

/// RELU6.
#[inline(never)]
pub fn eval_relu6(lower: i8, upper: i8, input: &[i8], output: &mut [i8]) {
    for (o, &x) in output.iter_mut().zip(input) {
        *o = x.max(lower).min(upper);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relu_and_relu6() {
        let p = prepare_relu(0.5, -2, 0.25, 0);
        let mut out = [0i8; 3];
        eval_relu(&p, &[-5, -2, 3], &mut out);
        assert_eq!(out, [0, 0, 10]);
        let (lo, hi) = prepare_relu6(0.1, -10);
        assert_eq!((lo, hi), (-10, 50));
        eval_relu6(lo, hi, &[-20, 0, 60], &mut out);
        assert_eq!(out, [-10, 0, 50]);
    }
}
