//! DEQUANTIZE int8 → float32, as TFLM's `reference_ops::Dequantize`:
//! `(float)(double(scale) · (q − zp))`.

/// Dequantizes `input` into `output`.
#[inline(never)]
pub fn eval(scale: f32, zero_point: i32, input: &[i8], output: &mut [f32]) {
    for (o, &q) in output.iter_mut().zip(input) {
        *o = (f64::from(scale) * f64::from(i32::from(q) - zero_point)) as f32;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn dequantizes() {
        let mut out = [0f32; 2];
        super::eval(0.5, -1, &[3, -1], &mut out);
        assert_eq!(out, [2.0, 0.0]);
    }
}
