//! CONV_2D, int8 activations and weights, per-channel (or per-tensor) requantization, exactly as
//! TFLM's `reference_integer_ops::ConvPerChannel`: acc = Σ w·(x − zp_in) + bias, then
//! `MultiplyByQuantizedMultiplier`, + zp_out, clamp to the fused-activation range.
//!
//! The inner loop is an i8 dot product over whole filter rows (kernel width × input depth are
//! contiguous in NHWC), with the input zero point folded out through the per-channel filter sums;
//! border pixels sum only the filter taps that fall inside the image. Integer addition is exact,
//! so this ordering gives TFLM's bits.
use super::{dot, requantize, PerChannel};

/// Geometry and quantization of one CONV_2D (TFLM `OpDataConv`, minus the per-channel arrays).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConvParams {
    pub batches: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub in_c: usize,
    pub out_h: usize,
    pub out_w: usize,
    pub out_c: usize,
    pub k_h: usize,
    pub k_w: usize,
    /// Input channels each filter sees (`in_c / groups`).
    pub filter_in_c: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    pub dilation_h: usize,
    pub dilation_w: usize,
    pub pad_h: usize,
    pub pad_w: usize,
    /// −(input zero point).
    pub input_offset: i32,
    /// Output zero point.
    pub output_offset: i32,
    pub act_min: i32,
    pub act_max: i32,
}

impl ConvParams {
    /// Element counts of input, filter and output this geometry needs.
    pub fn sizes(&self) -> (usize, usize, usize) {
        (
            self.batches * self.in_h * self.in_w * self.in_c,
            self.out_c * self.k_h * self.k_w * self.filter_in_c,
            self.batches * self.out_h * self.out_w * self.out_c,
        )
    }
}

/// Runs the convolution. Slices must have the sizes [`ConvParams::sizes`] gives (checked at
/// prepare by the interpreter; here a short slice only shortens the work, never panics).
pub fn eval(p: &ConvParams, pc: &PerChannel<'_>, input: &[i8], filter: &[i8], output: &mut [i8]) {
    let (n_in, n_f, n_out) = p.sizes();
    if input.len() < n_in || filter.len() < n_f || output.len() < n_out || p.filter_in_c == 0 {
        return;
    }
    if pc.multiplier.len() < p.out_c {
        return;
    }
    let groups = p.in_c / p.filter_in_c;
    if groups == 0 || p.out_c % groups != 0 {
        return;
    }
    let filters_per_group = p.out_c / groups;
    let f_stride = p.k_h * p.k_w * p.filter_in_c;
    let contiguous_rows = groups == 1 && p.dilation_w == 1;
    let mut out_i = 0;
    for b in 0..p.batches {
        for oy in 0..p.out_h {
            let iy0 = (oy * p.stride_h) as isize - p.pad_h as isize;
            for ox in 0..p.out_w {
                let ix0 = (ox * p.stride_w) as isize - p.pad_w as isize;
                let y_last = iy0 + ((p.k_h - 1) * p.dilation_h) as isize;
                let x_last = ix0 + ((p.k_w - 1) * p.dilation_w) as isize;
                let interior =
                    iy0 >= 0 && ix0 >= 0 && y_last < p.in_h as isize && x_last < p.in_w as isize;
                // Valid kernel-column range when dilation_w == 1.
                let fx0 = if ix0 < 0 { (-ix0) as usize } else { 0 }.min(p.k_w);
                let fx1 = ((p.in_w as isize - ix0).max(0) as usize).min(p.k_w);
                for oc in 0..p.out_c {
                    let g = oc / filters_per_group;
                    let f_base = oc * f_stride;
                    let mut acc: i32 = 0;
                    let mut fsum_in: i32 = 0;
                    for fy in 0..p.k_h {
                        let iy = iy0 + (fy * p.dilation_h) as isize;
                        if iy < 0 || iy >= p.in_h as isize {
                            continue;
                        }
                        let row = (b * p.in_h + iy as usize) * p.in_w;
                        if contiguous_rows {
                            if fx1 <= fx0 {
                                continue;
                            }
                            let ix = (ix0 + fx0 as isize) as usize;
                            let len = (fx1 - fx0) * p.in_c;
                            let xs = &input[(row + ix) * p.in_c..][..len];
                            let fs = &filter[f_base + (fy * p.k_w + fx0) * p.filter_in_c..][..len];
                            acc = acc.wrapping_add(dot(xs, fs));
                            if !interior {
                                fsum_in = fsum_in.wrapping_add(
                                    fs.iter().fold(0i32, |a, &f| a.wrapping_add(i32::from(f))),
                                );
                            }
                        } else {
                            for fx in 0..p.k_w {
                                let ix = ix0 + (fx * p.dilation_w) as isize;
                                if ix < 0 || ix >= p.in_w as isize {
                                    continue;
                                }
                                let xs = &input[(row + ix as usize) * p.in_c + g * p.filter_in_c..]
                                    [..p.filter_in_c];
                                let fs = &filter[f_base + (fy * p.k_w + fx) * p.filter_in_c..]
                                    [..p.filter_in_c];
                                acc = acc.wrapping_add(dot(xs, fs));
                                fsum_in = fsum_in.wrapping_add(
                                    fs.iter().fold(0i32, |a, &f| a.wrapping_add(i32::from(f))),
                                );
                            }
                        }
                    }
                    let fsum = if interior && contiguous_rows {
                        pc.filter_sum[oc]
                    } else {
                        fsum_in
                    };
                    acc = acc
                        .wrapping_add(p.input_offset.wrapping_mul(fsum))
                        .wrapping_add(pc.bias[oc]);
                    output[out_i] = requantize(
                        acc,
                        pc.multiplier[oc],
                        pc.shift[oc],
                        p.output_offset,
                        p.act_min,
                        p.act_max,
                    );
                    out_i += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::quantize_multiplier;

    /// Straight transcription of the reference loop, to check the folded fast path against.
    fn naive(p: &ConvParams, pc: &PerChannel<'_>, input: &[i8], filter: &[i8]) -> Vec<i8> {
        let mut out = vec![];
        for b in 0..p.batches {
            for oy in 0..p.out_h {
                for ox in 0..p.out_w {
                    for oc in 0..p.out_c {
                        let mut acc = 0i32;
                        for fy in 0..p.k_h {
                            for fx in 0..p.k_w {
                                let iy = (oy * p.stride_h + fy * p.dilation_h) as isize - p.pad_h as isize;
                                let ix = (ox * p.stride_w + fx * p.dilation_w) as isize - p.pad_w as isize;
                                if iy < 0 || ix < 0 || iy >= p.in_h as isize || ix >= p.in_w as isize {
                                    continue;
                                }
                                for ic in 0..p.filter_in_c {
                                    let x = input[((b * p.in_h + iy as usize) * p.in_w + ix as usize) * p.in_c + ic];
                                    let f = filter[((oc * p.k_h + fy) * p.k_w + fx) * p.filter_in_c + ic];
                                    acc += i32::from(f) * (i32::from(x) + p.input_offset);
                                }
                            }
                        }
                        acc += pc.bias[oc];
                        out.push(requantize(acc, pc.multiplier[oc], pc.shift[oc], p.output_offset, p.act_min, p.act_max));
                    }
                }
            }
        }
        out
    }

    #[test]
    fn folded_conv_matches_reference_loop_with_padding_and_dilation() {
        for &(stride, dil, pad) in &[(1, 1, 1), (2, 1, 1), (1, 2, 2), (2, 1, 0)] {
            let p = ConvParams {
                batches: 2, in_h: 7, in_w: 6, in_c: 3, out_h: 4, out_w: 3, out_c: 5, k_h: 3, k_w: 3,
                filter_in_c: 3, stride_h: stride, stride_w: stride, dilation_h: dil, dilation_w: dil,
                pad_h: pad, pad_w: pad, input_offset: 17, output_offset: -5, act_min: -128, act_max: 127,
            };
            let (ni, nf, no) = p.sizes();
            let input: Vec<i8> = (0..ni).map(|i| ((i * 37 + 11) % 256) as u8 as i8).collect();
            let filter: Vec<i8> = (0..nf).map(|i| ((i * 53 + 7) % 256) as u8 as i8).collect();
            let m = quantize_multiplier(0.0013);
            let mult = vec![m.multiplier; 5];
            let shift = vec![m.shift; 5];
            let bias: Vec<i32> = (0..5).map(|c| c * 100 - 200).collect();
            let fsum: Vec<i32> = filter.chunks(nf / 5).map(|c| c.iter().map(|&v| i32::from(v)).sum()).collect();
            let pc = PerChannel { multiplier: &mult, shift: &shift, bias: &bias, filter_sum: &fsum };
            let mut out = vec![0i8; no];
            eval(&p, &pc, &input, &filter, &mut out);
            assert_eq!(out, naive(&p, &pc, &input, &filter), "stride {stride} dil {dil} pad {pad}");
        }
    }
}
