//! MUL, int8, as TFLM's `reference_integer_ops::Mul` / `BroadcastMul4DSlow`:
//! zp_out + MultiplyByQuantizedMultiplier((a − zp_a)(b − zp_b), s_a·s_b/s_out), clamped.
use super::broadcast::Broadcast;
use crate::quant::{
    activation_range_i8, mul_by_quantized_multiplier, quantize_multiplier, Activation,
};

/// TFLM `OpDataMul` for int8.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MulParams {
    pub input1_offset: i32,
    pub input2_offset: i32,
    pub output_offset: i32,
    pub output_multiplier: i32,
    pub output_shift: i32,
    pub act_min: i32,
    pub act_max: i32,
}

/// TFLM `CalculateOpDataMul` for int8 tensors.
pub fn prepare(
    s1: f32,
    zp1: i32,
    s2: f32,
    zp2: i32,
    so: f32,
    zpo: i32,
    act: Activation,
) -> MulParams {
    let m = quantize_multiplier(f64::from(s1) * f64::from(s2) / f64::from(so));
    let (act_min, act_max) = activation_range_i8(act, so, zpo);
    MulParams {
        input1_offset: -zp1,
        input2_offset: -zp2,
        output_offset: zpo,
        output_multiplier: m.multiplier,
        output_shift: m.shift,
        act_min,
        act_max,
    }
}

#[inline(always)]
fn mul_one(p: &MulParams, a: i8, b: i8) -> i8 {
    let prod = (p.input1_offset + i32::from(a)) * (p.input2_offset + i32::from(b));
    let v = p.output_offset.wrapping_add(mul_by_quantized_multiplier(
        prod,
        p.output_multiplier,
        p.output_shift,
    ));
    v.clamp(p.act_min, p.act_max) as i8
}

/// Elementwise multiply of equal-shape inputs.
#[inline(never)]
pub fn eval(p: &MulParams, a: &[i8], b: &[i8], out: &mut [i8]) {
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = mul_one(p, x, y);
    }
}

/// Broadcasting multiply.
#[inline(never)]
pub fn eval_broadcast(p: &MulParams, bc: &Broadcast, a: &[i8], b: &[i8], out: &mut [i8]) {
    if out.len() < bc.len() {
        return;
    }
    bc.for_each(|o, i, j| {
        if let (Some(&x), Some(&y)) = (a.get(i), b.get(j)) {
            out[o] = mul_one(p, x, y);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiplies_real_values() {
        let p = prepare(0.5, 0, 0.5, 2, 0.25, -1, Activation::Relu);
        let mut out = [0i8; 3];
        // (4·0.5)(6−2)·0.5 = 4 → 16 − 1 = 15; negative product clamps at relu zero (−1).
        eval(&p, &[4, -4, 0], &[6, 6, 9], &mut out);
        assert_eq!(out, [15, -1, -1]);
    }
}
