//! FULLY_CONNECTED, int8, per-tensor or per-channel, as TFLM's
//! `reference_integer_ops::FullyConnected[PerChannel]`:
//! acc = Σ (w − zp_w)(x − zp_x) + bias, requantize, clamp. Expanded so the inner loop is a
//! plain i8 dot product: Σwx − zp_x·Σw − zp_w·Σx + K·zp_w·zp_x.
use super::{dot, requantize, PerChannel};

/// Shape and quantization of one FULLY_CONNECTED.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FullyConnectedParams {
    /// Rows of the input (all dims but the last, flattened).
    pub batches: usize,
    /// Accumulation depth (last dim of the filter).
    pub depth: usize,
    /// Output units.
    pub units: usize,
    /// −(input zero point).
    pub input_offset: i32,
    /// −(filter zero point).
    pub filter_offset: i32,
    pub output_offset: i32,
    pub act_min: i32,
    pub act_max: i32,
}

/// Runs the layer (short slices make it return without writing).
#[inline(never)]
pub fn eval(
    p: &FullyConnectedParams,
    pc: &PerChannel<'_>,
    input: &[i8],
    filter: &[i8],
    output: &mut [i8],
) {
    if input.len() < p.batches * p.depth
        || filter.len() < p.units * p.depth
        || output.len() < p.batches * p.units
        || pc.multiplier.len() < p.units
    {
        return;
    }
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if super::simd::x86::fully_connected(p, pc, input, filter, output) {
        return;
    }
    let k = p.depth as i32;
    for b in 0..p.batches {
        let x = &input[b * p.depth..][..p.depth];
        let xsum = x.iter().fold(0i32, |a, &v| a.wrapping_add(i32::from(v)));
        for u in 0..p.units {
            let w = &filter[u * p.depth..][..p.depth];
            let acc = dot(x, w)
                .wrapping_add(p.input_offset.wrapping_mul(pc.filter_sum[u]))
                .wrapping_add(p.filter_offset.wrapping_mul(xsum))
                .wrapping_add(k.wrapping_mul(p.filter_offset).wrapping_mul(p.input_offset))
                .wrapping_add(pc.bias[u]);
            output[b * p.units + u] = requantize(
                acc,
                pc.multiplier[u],
                i32::from(pc.shift[u]),
                p.output_offset,
                p.act_min,
                p.act_max,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion_equals_offset_products() {
        let p = FullyConnectedParams {
            batches: 2,
            depth: 5,
            units: 3,
            input_offset: 7,
            filter_offset: -2,
            output_offset: 4,
            act_min: -128,
            act_max: 127,
        };
        let x: Vec<i8> = vec![1, -5, 100, -128, 127, 3, 3, 3, -3, 0];
        let w: Vec<i8> = (0..15).map(|i| (i * 19 % 200) as i8).collect();
        let m = crate::quant::quantize_multiplier(0.001);
        let fsum: Vec<i32> = w
            .chunks(5)
            .map(|c| c.iter().map(|&v| i32::from(v)).sum())
            .collect();
        let (mu, sh, bi) = (
            vec![m.multiplier; 3],
            vec![m.shift as i8; 3],
            vec![5, -5, 50],
        );
        let pc = PerChannel {
            multiplier: &mu,
            shift: &sh,
            bias: &bi,
            filter_sum: &fsum,
        };
        let mut out = vec![0i8; 6];
        eval(&p, &pc, &x, &w, &mut out);
        for b in 0..2 {
            for u in 0..3 {
                let acc: i32 = (0..5)
                    .map(|i| {
                        (i32::from(w[u * 5 + i]) + p.filter_offset)
                            * (i32::from(x[b * 5 + i]) + p.input_offset)
                    })
                    .sum::<i32>()
                    + bi[u];
                assert_eq!(
                    out[b * 3 + u],
                    requantize(acc, m.multiplier, m.shift, 4, -128, 127)
                );
            }
        }
    }
}
