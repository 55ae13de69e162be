//! MEAN, int8, as TFLM's `reference_ops::QuantizedMeanOrSum` (the path TFLM's
//! `EvalIntegerMean` takes): sum over the reduced axes, subtract zp_in·count, and requantize
//! with `s_in/s_out` folded with `1/count` into one fixed-point multiplier.
use crate::quant::{mul_by_quantized_multiplier, quantize_multiplier};
use crate::shape::{Shape, MAX_DIMS};

/// Reduction geometry and requantization of one MEAN.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MeanParams {
    pub input: [usize; MAX_DIMS],
    pub rank: usize,
    /// Which input dims are reduced.
    pub reduced: [bool; MAX_DIMS],
    pub input_zero_point: i32,
    pub output_zero_point: i32,
    pub multiplier: i32,
    pub shift: i32,
    /// Number of input elements per output element.
    pub count: usize,
}

/// Derives the parameters; `axes` may be negative. `None` on an axis out of range.
pub fn prepare(
    input: &Shape,
    axes: &[i32],
    s_in: f32,
    zp_in: i32,
    s_out: f32,
    zp_out: i32,
) -> Option<MeanParams> {
    let rank = input.rank();
    let mut reduced = [false; MAX_DIMS];
    for &a in axes {
        let a = if a < 0 { a + rank as i32 } else { a };
        if a < 0 || a as usize >= rank {
            return None;
        }
        reduced[a as usize] = true;
    }
    let mut dims = [1usize; MAX_DIMS];
    dims[..rank].copy_from_slice(input.dims());
    let count: usize = (0..rank).filter(|&d| reduced[d]).map(|d| dims[d]).product();
    let m = quantize_multiplier(f64::from(s_in) / f64::from(s_out));
    let (mut multiplier, mut shift) = (m.multiplier, m.shift);
    if count > 0 {
        let mut sh = 63 - (count as u64).leading_zeros() as i32;
        sh = sh.min(32).min(31 + shift);
        multiplier = ((i64::from(multiplier) << sh) / count as i64) as i32;
        shift -= sh;
    }
    Some(MeanParams {
        input: dims,
        rank,
        reduced,
        input_zero_point: zp_in,
        output_zero_point: zp_out,
        multiplier,
        shift,
        count,
    })
}

/// Computes every output element (in row-major order of the kept dims) without scratch memory.
#[inline(never)]
pub fn eval(p: &MeanParams, input: &[i8], output: &mut [i8]) {
    let total: usize = p.input[..p.rank].iter().product();
    if input.len() < total || p.count == 0 {
        return;
    }
    // Strides of the input.
    let mut stride = [0usize; MAX_DIMS];
    let mut acc = 1;
    for d in (0..p.rank).rev() {
        stride[d] = acc;
        acc *= p.input[d];
    }
    let kept: usize = (0..p.rank)
        .filter(|&d| !p.reduced[d])
        .map(|d| p.input[d])
        .product();
    if output.len() < kept {
        return;
    }
    let mut kidx = [0usize; MAX_DIMS];
    for o in output.iter_mut().take(kept) {
        let base: usize = (0..p.rank)
            .filter(|&d| !p.reduced[d])
            .map(|d| kidx[d] * stride[d])
            .sum();
        let mut sum: i32 = 0;
        let mut ridx = [0usize; MAX_DIMS];
        'inner: loop {
            let off: usize = (0..p.rank)
                .filter(|&d| p.reduced[d])
                .map(|d| ridx[d] * stride[d])
                .sum();
            sum = sum.wrapping_add(i32::from(input[base + off]));
            let mut d = p.rank;
            loop {
                if d == 0 {
                    break 'inner;
                }
                d -= 1;
                if !p.reduced[d] {
                    continue;
                }
                ridx[d] += 1;
                if ridx[d] < p.input[d] {
                    break;
                }
                ridx[d] = 0;
            }
        }
        let shifted = sum.wrapping_sub(p.input_zero_point.wrapping_mul(p.count as i32));
        let v = mul_by_quantized_multiplier(shifted, p.multiplier, p.shift)
            .wrapping_add(p.output_zero_point);
        *o = v.clamp(-128, 127) as i8;
        // Advance the kept-dims odometer.
        let mut d = p.rank;
        while d > 0 {
            d -= 1;
            if p.reduced[d] {
                continue;
            }
            kidx[d] += 1;
            if kidx[d] < p.input[d] {
                break;
            }
            kidx[d] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spatial_mean_of_nhwc() {
        let s = Shape::new(&[1, 2, 2, 2]).unwrap();
        let p = prepare(&s, &[1, 2], 1.0, 0, 1.0, 0).unwrap();
        let mut out = [0i8; 2];
        eval(&p, &[1, 10, 2, 20, 3, 30, 5, 40], &mut out);
        // (1+2+3+5)/4 = 2.75 → 3; (10+20+30+40)/4 = 25.
        assert_eq!(out, [3, 25]);
        assert!(prepare(&s, &[4], 1.0, 0, 1.0, 0).is_none());
    }
}
