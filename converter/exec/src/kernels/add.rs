//! ADD, int8, as TFLM's `reference_integer_ops::Add` / `BroadcastAdd6DSlow`: both inputs are
//! shifted left by 20 bits, rescaled to twice the larger input scale, summed, and rescaled to the
//! output. Broadcasting follows numpy rules over up to 6 dims.
use super::broadcast::Broadcast;
use crate::quant::{mul_by_quantized_multiplier, quantize_multiplier, Activation};

/// TFLM `OpDataAdd` for int8.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AddParams {
    pub left_shift: i32,
    pub input1_offset: i32,
    pub input2_offset: i32,
    pub input1_multiplier: i32,
    pub input1_shift: i32,
    pub input2_multiplier: i32,
    pub input2_shift: i32,
    pub output_multiplier: i32,
    pub output_shift: i32,
    pub output_offset: i32,
    pub act_min: i32,
    pub act_max: i32,
}

/// TFLM `CalculateOpDataAdd` for int8 tensors.
pub fn prepare(
    s1: f32,
    zp1: i32,
    s2: f32,
    zp2: i32,
    so: f32,
    zpo: i32,
    act: Activation,
) -> AddParams {
    let left_shift = 20;
    let twice_max = 2.0 * f64::from(s1.max(s2));
    let m1 = quantize_multiplier(f64::from(s1) / twice_max);
    let m2 = quantize_multiplier(f64::from(s2) / twice_max);
    let mo = quantize_multiplier(twice_max / (f64::from(1u32 << left_shift) * f64::from(so)));
    let (act_min, act_max) = crate::quant::activation_range_i8(act, so, zpo);
    AddParams {
        left_shift,
        input1_offset: -zp1,
        input2_offset: -zp2,
        input1_multiplier: m1.multiplier,
        input1_shift: m1.shift,
        input2_multiplier: m2.multiplier,
        input2_shift: m2.shift,
        output_multiplier: mo.multiplier,
        output_shift: mo.shift,
        output_offset: zpo,
        act_min,
        act_max,
    }
}

#[inline(always)]
fn add_one(p: &AddParams, a: i8, b: i8) -> i8 {
    let s1 = scaled(
        p.input1_offset,
        p.left_shift,
        p.input1_multiplier,
        p.input1_shift,
        a,
    );
    let s2 = scaled(
        p.input2_offset,
        p.left_shift,
        p.input2_multiplier,
        p.input2_shift,
        b,
    );
    let raw = mul_by_quantized_multiplier(s1.wrapping_add(s2), p.output_multiplier, p.output_shift)
        .wrapping_add(p.output_offset);
    raw.clamp(p.act_min, p.act_max) as i8
}

/// Each input's rescaled value depends on its int8 code alone.
#[inline(always)]
fn scaled(offset: i32, left_shift: i32, multiplier: i32, shift: i32, v: i8) -> i32 {
    mul_by_quantized_multiplier((offset + i32::from(v)) << left_shift, multiplier, shift)
}

/// Element count above which [`eval`] tabulates both inputs' rescaling (512 multiplies) first.
const TABLE_MIN: usize = 1024;

/// Elementwise add of equal-shape inputs. Large tensors look both inputs' rescaled values up in
/// 256-entry tables, leaving one requantization per element (same integer steps, same bits).
// Never inlined: the two 1 KB tables must not sit in the interpreter's frame under every op.
#[inline(never)]
pub fn eval(p: &AddParams, a: &[i8], b: &[i8], out: &mut [i8]) {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if super::simd::x86::add(p, a, b, out) {
        return;
    }
    if out.len() < TABLE_MIN {
        eval_scalar(p, a, b, out);
        return;
    }
    let t1: [i32; 256] = core::array::from_fn(|k| {
        let v = k as u8 as i8;
        scaled(
            p.input1_offset,
            p.left_shift,
            p.input1_multiplier,
            p.input1_shift,
            v,
        )
    });
    let t2: [i32; 256] = core::array::from_fn(|k| {
        let v = k as u8 as i8;
        scaled(
            p.input2_offset,
            p.left_shift,
            p.input2_multiplier,
            p.input2_shift,
            v,
        )
    });
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        let sum = t1[usize::from(x as u8)].wrapping_add(t2[usize::from(y as u8)]);
        let raw = mul_by_quantized_multiplier(sum, p.output_multiplier, p.output_shift)
            .wrapping_add(p.output_offset);
        *o = raw.clamp(p.act_min, p.act_max) as i8;
    }
}

/// Elementwise add, one element at a time (short tensors, and the SIMD path's tail).
pub(crate) fn eval_scalar(p: &AddParams, a: &[i8], b: &[i8], out: &mut [i8]) {
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = add_one(p, x, y);
    }
}

/// Broadcasting add; `bc` comes from the two input shapes.
#[inline(never)]
pub fn eval_broadcast(p: &AddParams, bc: &Broadcast, a: &[i8], b: &[i8], out: &mut [i8]) {
    if out.len() < bc.len() {
        return;
    }
    bc.for_each(|o, i, j| {
        if let (Some(&x), Some(&y)) = (a.get(i), b.get(j)) {
            out[o] = add_one(p, x, y);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_real_values() {
        // 0.5·(x−1) + 0.25·(y+2) in output scale 0.5, zp 0: 2+1 → 6, −2+2 → 0, 49.5+0 → 99.
        let p = prepare(0.5, 1, 0.25, -2, 0.5, 0, Activation::None);
        let mut out = [0i8; 3];
        eval(&p, &[5, -3, 100], &[2, 6, -2], &mut out);
        assert_eq!(out, [6, 0, 99]);
    }

    #[test]
    fn tabulated_add_matches_direct_on_every_code_pair() {
        let p = prepare(0.037, -11, 0.052, 23, 0.061, 4, Activation::Relu);
        let a: Vec<i8> = (0..65536u32).map(|k| (k & 0xff) as u8 as i8).collect();
        let b: Vec<i8> = (0..65536u32).map(|k| (k >> 8) as u8 as i8).collect();
        let mut out = vec![0i8; a.len()];
        eval(&p, &a, &b, &mut out);
        for ((&o, &x), &y) in out.iter().zip(&a).zip(&b) {
            assert_eq!(o, add_one(&p, x, y), "codes {x} + {y}");
        }
    }
}
