//! DEPTHWISE_CONV_2D, int8, per-channel requantization, as TFLM's
//! `reference_integer_ops::DepthwiseConvPerChannel`: output channel `oc = ic·multiplier + m`,
//! filter laid out `[1, kh, kw, out_c]`. With depth multiplier 1 the taps are accumulated for a
//! block of channels at a time, so the inner loop runs over contiguous memory.
use super::{requantize, PerChannel};

/// Geometry and quantization of one DEPTHWISE_CONV_2D.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DepthwiseParams {
    pub batches: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub in_c: usize,
    pub out_h: usize,
    pub out_w: usize,
    pub depth_multiplier: usize,
    pub k_h: usize,
    pub k_w: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    pub dilation_h: usize,
    pub dilation_w: usize,
    pub pad_h: usize,
    pub pad_w: usize,
    pub input_offset: i32,
    pub output_offset: i32,
    pub act_min: i32,
    pub act_max: i32,
}

impl DepthwiseParams {
    /// Output channels.
    pub fn out_c(&self) -> usize {
        self.in_c * self.depth_multiplier
    }

    /// Element counts of input, filter and output.
    pub fn sizes(&self) -> (usize, usize, usize) {
        (
            self.batches * self.in_h * self.in_w * self.in_c,
            self.k_h * self.k_w * self.out_c(),
            self.batches * self.out_h * self.out_w * self.out_c(),
        )
    }
}

const BLOCK: usize = 64;

/// Runs the depthwise convolution (short slices make it return without writing).
#[inline(never)]
pub fn eval(
    p: &DepthwiseParams,
    pc: &PerChannel<'_>,
    input: &[i8],
    filter: &[i8],
    output: &mut [i8],
) {
    let (n_in, n_f, n_out) = p.sizes();
    let out_c = p.out_c();
    if input.len() < n_in
        || filter.len() < n_f
        || output.len() < n_out
        || pc.multiplier.len() < out_c
    {
        return;
    }
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if super::simd::x86::depthwise(p, pc, input, filter, output) {
        return;
    }
    for b in 0..p.batches {
        for oy in 0..p.out_h {
            let iy0 = (oy * p.stride_h) as isize - p.pad_h as isize;
            for ox in 0..p.out_w {
                let ix0 = (ox * p.stride_w) as isize - p.pad_w as isize;
                let out_base = ((b * p.out_h + oy) * p.out_w + ox) * out_c;
                if p.depth_multiplier == 1 {
                    let mut c0 = 0;
                    while c0 < out_c {
                        let n = BLOCK.min(out_c - c0);
                        let mut acc = [0i32; BLOCK];
                        for fy in 0..p.k_h {
                            let iy = iy0 + (fy * p.dilation_h) as isize;
                            if iy < 0 || iy >= p.in_h as isize {
                                continue;
                            }
                            for fx in 0..p.k_w {
                                let ix = ix0 + (fx * p.dilation_w) as isize;
                                if ix < 0 || ix >= p.in_w as isize {
                                    continue;
                                }
                                let xs = &input[((b * p.in_h + iy as usize) * p.in_w
                                    + ix as usize)
                                    * p.in_c
                                    + c0..][..n];
                                let fs = &filter[(fy * p.k_w + fx) * out_c + c0..][..n];
                                for ((a, &x), &f) in acc[..n].iter_mut().zip(xs).zip(fs) {
                                    *a = a.wrapping_add(
                                        i32::from(f) * (i32::from(x) + p.input_offset),
                                    );
                                }
                            }
                        }
                        for (j, &a) in acc.iter().enumerate().take(n) {
                            let oc = c0 + j;
                            output[out_base + oc] = requantize(
                                a.wrapping_add(pc.bias[oc]),
                                pc.multiplier[oc],
                                i32::from(pc.shift[oc]),
                                p.output_offset,
                                p.act_min,
                                p.act_max,
                            );
                        }
                        c0 += n;
                    }
                } else {
                    for ic in 0..p.in_c {
                        for m in 0..p.depth_multiplier {
                            let oc = ic * p.depth_multiplier + m;
                            let mut acc = 0i32;
                            for fy in 0..p.k_h {
                                let iy = iy0 + (fy * p.dilation_h) as isize;
                                if iy < 0 || iy >= p.in_h as isize {
                                    continue;
                                }
                                for fx in 0..p.k_w {
                                    let ix = ix0 + (fx * p.dilation_w) as isize;
                                    if ix < 0 || ix >= p.in_w as isize {
                                        continue;
                                    }
                                    let x = input[((b * p.in_h + iy as usize) * p.in_w
                                        + ix as usize)
                                        * p.in_c
                                        + ic];
                                    let f = filter[(fy * p.k_w + fx) * out_c + oc];
                                    acc = acc.wrapping_add(
                                        i32::from(f) * (i32::from(x) + p.input_offset),
                                    );
                                }
                            }
                            output[out_base + oc] = requantize(
                                acc.wrapping_add(pc.bias[oc]),
                                pc.multiplier[oc],
                                i32::from(pc.shift[oc]),
                                p.output_offset,
                                p.act_min,
                                p.act_max,
                            );
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiplier_one_and_two_agree_on_shared_channels() {
        // With multiplier 2 and the odd filter channels zeroed, the even output channels must
        // equal a multiplier-1 run over the even filter channels.
        let base = DepthwiseParams {
            batches: 1,
            in_h: 5,
            in_w: 4,
            in_c: 3,
            out_h: 5,
            out_w: 4,
            depth_multiplier: 1,
            k_h: 3,
            k_w: 3,
            stride_h: 1,
            stride_w: 1,
            dilation_h: 1,
            dilation_w: 1,
            pad_h: 1,
            pad_w: 1,
            input_offset: 3,
            output_offset: 1,
            act_min: -128,
            act_max: 127,
        };
        let input: Vec<i8> = (0..60).map(|i| ((i * 29 + 5) % 256) as u8 as i8).collect();
        let f1: Vec<i8> = (0..27).map(|i| ((i * 41 + 3) % 256) as u8 as i8).collect();
        let mut f2 = vec![0i8; 54];
        for t in 0..9 {
            for c in 0..3 {
                f2[t * 6 + 2 * c] = f1[t * 3 + c];
            }
        }
        let m = crate::quant::quantize_multiplier(0.004);
        let ones = |n: usize, v: i32| vec![v; n];
        let (mu, sh, bi, fs) = (
            ones(6, m.multiplier),
            vec![m.shift as i8; 6],
            ones(6, 10),
            ones(6, 0),
        );
        let pc = PerChannel {
            multiplier: &mu,
            shift: &sh,
            bias: &bi,
            filter_sum: &fs,
        };
        let mut o1 = vec![0i8; 60];
        eval(&base, &pc, &input, &f1, &mut o1);
        let p2 = DepthwiseParams {
            depth_multiplier: 2,
            ..base
        };
        let mut o2 = vec![0i8; 120];
        eval(&p2, &pc, &input, &f2, &mut o2);
        for px in 0..20 {
            for c in 0..3 {
                assert_eq!(o1[px * 3 + c], o2[px * 6 + 2 * c]);
            }
        }
    }
}
