//! CONV_2D, int8 activations and weights, per-channel (or per-tensor) requantization, exactly as
//! TFLM's `reference_integer_ops::ConvPerChannel`: acc = Σ w·(x − zp_in) + bias, then
//! `MultiplyByQuantizedMultiplier`, + zp_out, clamp to the fused-activation range.
//!
//! The inner loop is an i8 dot product over whole filter rows (kernel width × input depth are
//! contiguous in NHWC), with the input zero point folded out through the per-channel filter sums;
//! border pixels sum only the filter taps that fall inside the image. Integer addition is exact,
//! so this ordering gives TFLM's bits.
use super::{dot, requantize, PerChannel};
use wide::{i16x8, i32x4};

/// Largest im2col patch (kh·kw·in_c) the patch path gathers (into the caller's scratch).
pub const PATCH_MAX: usize = 2304;

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
///
/// `filter16`, when given, is the same filter widened to i16 at prepare (see
/// [`crate::Options::widen_filters`]): the patch path then skips widening in its inner loop.
/// `scratch` holds the gathered patch of the narrow patch path ([`patch_len`] elements; the
/// interpreter keeps it in the arena so an MCU's stack does not carry `PATCH_MAX` i16s); with
/// less, the row path runs instead (same bits).
// Never inlined: the interpreter's dispatch frame stays small under every other kernel.
#[inline(never)]
pub fn eval(
    p: &ConvParams,
    pc: &PerChannel<'_>,
    input: &[i8],
    filter: &[i8],
    filter16: Option<&[i16]>,
    scratch: &mut [i16],
    output: &mut [i8],
) {
    let (n_in, n_f, n_out) = p.sizes();
    if input.len() < n_in || filter.len() < n_f || output.len() < n_out || p.filter_in_c == 0 {
        return;
    }
    if pc.multiplier.len() < p.out_c || pc.bias.len() < p.out_c {
        return;
    }
    let plen = patch_len(p);
    if plen > 0 && plen <= PATCH_MAX {
        match filter16 {
            // The widened path only exists with `std`: an MCU keeps no i16 filter copies, and
            // leaving it out saves its code in firmware images.
            #[cfg(feature = "std")]
            Some(f16) if f16.len() >= widened_len(p) && 2 * patch_pairs(p) <= PATCH_MAX => {
                #[cfg(target_arch = "x86_64")]
                if super::simd::x86::conv(p, pc, input, f16, output) {
                    return;
                }
                return eval_wide(p, pc, input, f16, output);
            }
            _ if scratch.len() >= plen => {
                return eval_patch(p, pc, input, &Narrow(filter), &mut scratch[..plen], output)
            }
            _ => {}
        }
    }
    eval_rows(p, pc, input, filter, output);
}

/// i16 elements of the patch path's gathered receptive field (0 when the path does not apply:
/// grouped convolutions or patches over [`PATCH_MAX`] take the row path).
pub fn patch_len(p: &ConvParams) -> usize {
    let plen = p.k_h * p.k_w * p.in_c;
    if p.filter_in_c == p.in_c && plen <= PATCH_MAX {
        plen
    } else {
        0
    }
}

/// Row path: dot products over whole filter rows straight from the int8 input, zero point
/// folded out through the filter sums (any group count, any patch size).
fn eval_rows(p: &ConvParams, pc: &PerChannel<'_>, input: &[i8], filter: &[i8], output: &mut [i8]) {
    let (n_in, n_f, n_out) = p.sizes();
    if input.len() < n_in || filter.len() < n_f || output.len() < n_out || p.filter_in_c == 0 {
        return;
    }
    if pc.multiplier.len() < p.out_c {
        return;
    }
    let groups = p.in_c / p.filter_in_c;
    if groups == 0 || !p.out_c.is_multiple_of(groups) {
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
                        i32::from(pc.shift[oc]),
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

/// Output pixels the portable widened path computes per pass over the filters: each filter row
/// loaded feeds this many pixels.
#[cfg(feature = "std")]
const PIXELS: usize = 4;

/// Output channels per block of the packed (widened) filter layout.
pub const BLOCK_C: usize = 16;

/// Tap pairs per filter row (`k_w · in_c` taps, rounded up to even): the packed layout pairs
/// taps within one filter row, so a row of the input image is a contiguous run of pairs.
pub(crate) fn row_pairs(p: &ConvParams) -> usize {
    (p.k_w * p.in_c).div_ceil(2)
}

/// Tap pairs of the whole packed patch (`k_h` rows of [`row_pairs`]).
pub(crate) fn patch_pairs(p: &ConvParams) -> usize {
    p.k_h * row_pairs(p)
}

/// i16 elements [`widen_filter`] writes for this convolution: `ceil(out_c / 16)` blocks of
/// [`patch_pairs`] rows of 32 (16 channels × a pair of taps), zero-padded.
pub fn widened_len(p: &ConvParams) -> usize {
    p.out_c.div_ceil(BLOCK_C) * patch_pairs(p) * 2 * BLOCK_C
}

/// Writes the widened, packed copy of `filter` (`[out_c][kh][kw·in_c]` int8) into `dst` in the
/// layout [`eval`] expects for `filter16`: element `(block, pair, channel, e)` at
/// `((block·pairs + pair)·16 + channel)·2 + e` holds, for pair `fy·row_pairs + t`, tap
/// `2t + e` of filter row `fy` of output channel `16·block + channel` (0 past the row or the
/// channels). One `vpmaddwd` of a broadcast pair of inputs against a 16-channel row adds two
/// taps into eight channel lanes.
pub fn widen_filter(p: &ConvParams, filter: &[i8], dst: &mut [i16]) {
    let plen = p.k_h * p.k_w * p.in_c;
    let row = p.k_w * p.in_c;
    let (rp, pairs) = (row_pairs(p), patch_pairs(p));
    let len = widened_len(p);
    if plen == 0 || dst.len() < len || filter.len() < p.out_c * plen {
        return;
    }
    for (i, d) in dst[..len].iter_mut().enumerate() {
        let e = i % 2;
        let ch = (i / 2) % BLOCK_C;
        let pair = (i / (2 * BLOCK_C)) % pairs;
        let block = i / (2 * BLOCK_C * pairs);
        let (oc, fy, r) = (block * BLOCK_C + ch, pair / rp, 2 * (pair % rp) + e);
        *d = if oc < p.out_c && r < row {
            i16::from(filter[oc * plen + fy * row + r])
        } else {
            0
        };
    }
}

/// Gathers the receptive field of output pixel (`b`, `oy`, `ox`) as `x − zp_in` in i16, zero
/// outside the image (TFLM skips those taps; a zero contributes nothing), in the packed
/// layout's order: `k_h` rows of `2·row_pairs` (a row with an odd tap count ends with a 0).
#[cfg(feature = "std")]
#[inline(always)]
pub(crate) fn gather(
    p: &ConvParams,
    input: &[i8],
    b: usize,
    oy: usize,
    ox: usize,
    dst: &mut [i16],
) {
    let iy0 = (oy * p.stride_h) as isize - p.pad_h as isize;
    let ix0 = (ox * p.stride_w) as isize - p.pad_w as isize;
    let row_len = p.k_w * p.in_c;
    let stride = 2 * row_pairs(p);
    for (fy, drow) in dst.chunks_exact_mut(stride).take(p.k_h).enumerate() {
        let (drow, pad) = drow.split_at_mut(row_len);
        pad.fill(0);
        let iy = iy0 + (fy * p.dilation_h) as isize;
        if iy < 0 || iy >= p.in_h as isize {
            drow.fill(0);
            continue;
        }
        let row = (b * p.in_h + iy as usize) * p.in_w;
        let x_last = ix0 + ((p.k_w - 1) * p.dilation_w) as isize;
        if p.dilation_w == 1 && ix0 >= 0 && x_last < p.in_w as isize {
            // The whole filter row is inside: one contiguous run.
            let src = &input[(row + ix0 as usize) * p.in_c..][..row_len];
            for (d, &x) in drow.iter_mut().zip(src) {
                *d = (i32::from(x) + p.input_offset) as i16;
            }
            continue;
        }
        for (fx, d) in drow.chunks_exact_mut(p.in_c).enumerate() {
            let ix = ix0 + (fx * p.dilation_w) as isize;
            if ix < 0 || ix >= p.in_w as isize {
                d.fill(0);
            } else {
                let src = &input[(row + ix as usize) * p.in_c..][..p.in_c];
                for (d, &x) in d.iter_mut().zip(src) {
                    *d = (i32::from(x) + p.input_offset) as i16;
                }
            }
        }
    }
}

/// Widened path, portable (groups = 1, packed i16 filter from [`widen_filter`]): gathers the
/// patches of [`PIXELS`] output pixels (any rows, any batch), then for every 16-channel block
/// accumulates pairs of taps into 16 channel sums per pixel. The AVX2 kernel
/// (`simd::x86::conv`) runs the same layout with the sums in registers.
// Never inlined into `eval`: its stack buffers must not grow the MCU path's frame.
#[cfg(feature = "std")]
#[inline(never)]
pub(crate) fn eval_wide(
    p: &ConvParams,
    pc: &PerChannel<'_>,
    input: &[i8],
    filter: &[i16],
    output: &mut [i8],
) {
    let plen = p.k_h * p.k_w * p.in_c;
    let pairs = patch_pairs(p);
    let kpad = 2 * pairs;
    let blocks = p.out_c.div_ceil(BLOCK_C);
    if kpad > PATCH_MAX || plen == 0 || filter.len() < widened_len(p) {
        return;
    }
    let hw = p.out_h * p.out_w;
    let pixels = p.batches * hw;
    let mut buf = [[0i16; PATCH_MAX]; PIXELS];
    let mut q = 0;
    while q < pixels {
        let np = PIXELS.min(pixels - q);
        for (j, patch) in buf.iter_mut().enumerate().take(np) {
            let (b, r) = ((q + j) / hw, (q + j) % hw);
            gather(p, input, b, r / p.out_w, r % p.out_w, &mut patch[..kpad]);
        }
        for cb in 0..blocks {
            let w = &filter[cb * pairs * 2 * BLOCK_C..][..pairs * 2 * BLOCK_C];
            let mut acc = [[0i32; BLOCK_C]; PIXELS];
            for (t, row) in w.chunks_exact(2 * BLOCK_C).enumerate() {
                for (a, patch) in acc.iter_mut().zip(&buf) {
                    let (x0, x1) = (i32::from(patch[2 * t]), i32::from(patch[2 * t + 1]));
                    for (s, f) in a.iter_mut().zip(row.chunks_exact(2)) {
                        *s = s
                            .wrapping_add(x0 * i32::from(f[0]))
                            .wrapping_add(x1 * i32::from(f[1]));
                    }
                }
            }
            let n = BLOCK_C.min(p.out_c - cb * BLOCK_C);
            for (j, a) in acc.iter().enumerate().take(np) {
                let o = (q + j) * p.out_c + cb * BLOCK_C;
                for (ch, &s) in a.iter().enumerate().take(n) {
                    let c = cb * BLOCK_C + ch;
                    output[o + ch] = requantize(
                        s.wrapping_add(pc.bias[c]),
                        pc.multiplier[c],
                        i32::from(pc.shift[c]),
                        p.output_offset,
                        p.act_min,
                        p.act_max,
                    );
                }
            }
        }
        q += np;
    }
}

/// Filter storage the patch path reads eight weights at a time from.
trait Filter {
    fn load8(&self, at: usize) -> i16x8;
    fn get(&self, at: usize) -> i32;
}

struct Narrow<'f>(&'f [i8]);

impl Filter for Narrow<'_> {
    #[inline(always)]
    fn load8(&self, at: usize) -> i16x8 {
        widen(&self.0[at..at + 8])
    }
    #[inline(always)]
    fn get(&self, at: usize) -> i32 {
        i32::from(self.0[at])
    }
}

#[inline(always)]
fn widen(f: &[i8]) -> i16x8 {
    i16x8::new([
        i16::from(f[0]),
        i16::from(f[1]),
        i16::from(f[2]),
        i16::from(f[3]),
        i16::from(f[4]),
        i16::from(f[5]),
        i16::from(f[6]),
        i16::from(f[7]),
    ])
}

/// Patch path (groups = 1): for each output pixel, gathers the receptive field once as i16
/// values `x − zp_in` (0 outside the image, which is exactly TFLM's "skip the tap"), then runs
/// 16-bit multiply-add dot products (`pmaddwd` on x86) against four filters at a time, so each
/// patch load feeds four output channels.
fn eval_patch<F: Filter>(
    p: &ConvParams,
    pc: &PerChannel<'_>,
    input: &[i8],
    filter: &F,
    patch: &mut [i16],
    output: &mut [i8],
) {
    let plen = p.k_h * p.k_w * p.in_c;
    if patch.len() < plen {
        return;
    }
    let chunks = plen / 8;
    let mut out_i = 0;
    for b in 0..p.batches {
        for oy in 0..p.out_h {
            let iy0 = (oy * p.stride_h) as isize - p.pad_h as isize;
            for ox in 0..p.out_w {
                let ix0 = (ox * p.stride_w) as isize - p.pad_w as isize;
                let mut k = 0;
                for fy in 0..p.k_h {
                    let iy = iy0 + (fy * p.dilation_h) as isize;
                    for fx in 0..p.k_w {
                        let ix = ix0 + (fx * p.dilation_w) as isize;
                        let dst = &mut patch[k..k + p.in_c];
                        if iy < 0 || ix < 0 || iy >= p.in_h as isize || ix >= p.in_w as isize {
                            dst.fill(0);
                        } else {
                            let src = &input
                                [((b * p.in_h + iy as usize) * p.in_w + ix as usize) * p.in_c..]
                                [..p.in_c];
                            for (d, &x) in dst.iter_mut().zip(src) {
                                *d = (i32::from(x) + p.input_offset) as i16;
                            }
                        }
                        k += p.in_c;
                    }
                }
                let pv = &patch[..plen];
                let mut oc = 0;
                while oc + 4 <= p.out_c {
                    let fb = oc * plen;
                    let (b1, b2, b3) = (fb + plen, fb + 2 * plen, fb + 3 * plen);
                    let (mut a0, mut a1, mut a2, mut a3) =
                        (i32x4::ZERO, i32x4::ZERO, i32x4::ZERO, i32x4::ZERO);
                    for c in 0..chunks {
                        let x = i16x8::from_slice_unaligned(&pv[8 * c..8 * c + 8]);
                        a0 += x.dot(filter.load8(fb + 8 * c));
                        a1 += x.dot(filter.load8(b1 + 8 * c));
                        a2 += x.dot(filter.load8(b2 + 8 * c));
                        a3 += x.dot(filter.load8(b3 + 8 * c));
                    }
                    for (j, a) in [a0, a1, a2, a3].iter().enumerate() {
                        let base = fb + j * plen;
                        let mut sum = a.reduce_add();
                        for (t, &x) in pv.iter().enumerate().skip(8 * chunks) {
                            sum = sum.wrapping_add(i32::from(x) * filter.get(base + t));
                        }
                        let c = oc + j;
                        output[out_i + c] = requantize(
                            sum.wrapping_add(pc.bias[c]),
                            pc.multiplier[c],
                            i32::from(pc.shift[c]),
                            p.output_offset,
                            p.act_min,
                            p.act_max,
                        );
                    }
                    oc += 4;
                }
                for c in oc..p.out_c {
                    let base = c * plen;
                    let mut acc = i32x4::ZERO;
                    for k8 in 0..chunks {
                        acc += i16x8::from_slice_unaligned(&pv[8 * k8..8 * k8 + 8])
                            .dot(filter.load8(base + 8 * k8));
                    }
                    let mut sum = acc.reduce_add();
                    for (t, &x) in pv.iter().enumerate().skip(8 * chunks) {
                        sum = sum.wrapping_add(i32::from(x) * filter.get(base + t));
                    }
                    output[out_i + c] = requantize(
                        sum.wrapping_add(pc.bias[c]),
                        pc.multiplier[c],
                        i32::from(pc.shift[c]),
                        p.output_offset,
                        p.act_min,
                        p.act_max,
                    );
                }
                out_i += p.out_c;
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
                                let iy = (oy * p.stride_h + fy * p.dilation_h) as isize
                                    - p.pad_h as isize;
                                let ix = (ox * p.stride_w + fx * p.dilation_w) as isize
                                    - p.pad_w as isize;
                                if iy < 0
                                    || ix < 0
                                    || iy >= p.in_h as isize
                                    || ix >= p.in_w as isize
                                {
                                    continue;
                                }
                                for ic in 0..p.filter_in_c {
                                    let x = input[((b * p.in_h + iy as usize) * p.in_w
                                        + ix as usize)
                                        * p.in_c
                                        + ic];
                                    let f = filter
                                        [((oc * p.k_h + fy) * p.k_w + fx) * p.filter_in_c + ic];
                                    acc += i32::from(f) * (i32::from(x) + p.input_offset);
                                }
                            }
                        }
                        acc += pc.bias[oc];
                        out.push(requantize(
                            acc,
                            pc.multiplier[oc],
                            i32::from(pc.shift[oc]),
                            p.output_offset,
                            p.act_min,
                            p.act_max,
                        ));
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
                batches: 2,
                in_h: 7,
                in_w: 6,
                in_c: 3,
                out_h: 4,
                out_w: 3,
                out_c: 5,
                k_h: 3,
                k_w: 3,
                filter_in_c: 3,
                stride_h: stride,
                stride_w: stride,
                dilation_h: dil,
                dilation_w: dil,
                pad_h: pad,
                pad_w: pad,
                input_offset: 17,
                output_offset: -5,
                act_min: -128,
                act_max: 127,
            };
            let (ni, nf, no) = p.sizes();
            let input: Vec<i8> = (0..ni).map(|i| ((i * 37 + 11) % 256) as u8 as i8).collect();
            let filter: Vec<i8> = (0..nf).map(|i| ((i * 53 + 7) % 256) as u8 as i8).collect();
            let m = quantize_multiplier(0.0013);
            let mult = vec![m.multiplier; 5];
            let shift = vec![m.shift as i8; 5];
            let bias: Vec<i32> = (0..5).map(|c| c * 100 - 200).collect();
            let fsum: Vec<i32> = filter
                .chunks(nf / 5)
                .map(|c| c.iter().map(|&v| i32::from(v)).sum())
                .collect();
            let pc = PerChannel {
                multiplier: &mult,
                shift: &shift,
                bias: &bias,
                filter_sum: &fsum,
            };
            let mut out = vec![0i8; no];
            let mut scratch = vec![0i16; patch_len(&p)];
            eval(&p, &pc, &input, &filter, None, &mut scratch, &mut out);
            let mut wide16 = vec![0i16; widened_len(&p)];
            widen_filter(&p, &filter, &mut wide16);
            let mut out16 = vec![0i8; no];
            eval(&p, &pc, &input, &filter, Some(&wide16), &mut [], &mut out16);
            assert_eq!(
                out16, out,
                "widened filters, stride {stride} dil {dil} pad {pad}"
            );
            assert_eq!(
                out,
                naive(&p, &pc, &input, &filter),
                "stride {stride} dil {dil} pad {pad}"
            );
            // Without scratch the row path runs (also used for patches over PATCH_MAX).
            let mut out_rows = vec![0i8; no];
            eval(&p, &pc, &input, &filter, None, &mut [], &mut out_rows);
            assert_eq!(
                out_rows, out,
                "no scratch, stride {stride} dil {dil} pad {pad}"
            );
            // The row path (used for patches too big for the stack) must agree as well.
            let mut rows = vec![0i8; no];
            eval_rows(&p, &pc, &input, &filter, &mut rows);
            assert_eq!(rows, out, "row path, stride {stride} dil {dil} pad {pad}");
        }
    }
}
