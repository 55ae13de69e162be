//! AVERAGE_POOL_2D and MAX_POOL_2D, int8, as TFLM's `reference_integer_ops::AveragePool` /
//! `MaxPool`: the window is clipped to the image (padding cells are not counted), the average
//! rounds half away from zero, and the fused activation clamps the result.

/// Geometry and activation range of one pooling op.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolParams {
    pub batches: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub channels: usize,
    pub out_h: usize,
    pub out_w: usize,
    pub filter_h: usize,
    pub filter_w: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    pub pad_h: usize,
    pub pad_w: usize,
    pub act_min: i32,
    pub act_max: i32,
}

impl PoolParams {
    fn sizes(&self) -> (usize, usize) {
        (
            self.batches * self.in_h * self.in_w * self.channels,
            self.batches * self.out_h * self.out_w * self.channels,
        )
    }

    /// Clipped window `[y0, y1) × [x0, x1)` in input coordinates for an output pixel.
    fn window(&self, oy: usize, ox: usize) -> (usize, usize, usize, usize) {
        let iy = (oy * self.stride_h) as isize - self.pad_h as isize;
        let ix = (ox * self.stride_w) as isize - self.pad_w as isize;
        let y0 = iy.max(0) as usize;
        let x0 = ix.max(0) as usize;
        let y1 = (iy + self.filter_h as isize).clamp(0, self.in_h as isize) as usize;
        let x1 = (ix + self.filter_w as isize).clamp(0, self.in_w as isize) as usize;
        (y0, y1.max(y0), x0, x1.max(x0))
    }
}

/// Average pooling. Returns false (like TFLM) when a window holds no input cell.
#[inline(never)]
pub fn eval_average(p: &PoolParams, input: &[i8], output: &mut [i8]) -> bool {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if let Some(ok) = super::simd::x86::average_pool(p, input, output) {
        return ok;
    }
    average_blocked(p, input, output)
}

/// Channels [`average_blocked`] sums at once.
const POOL_BLOCK: usize = 64;

/// Average pooling with the channel loop innermost (contiguous in NHWC, so the compiler runs it
/// in SIMD lanes): window sums for up to [`POOL_BLOCK`] channels, then TFLM's rounding division.
#[inline(always)]
pub(crate) fn average_blocked(p: &PoolParams, input: &[i8], output: &mut [i8]) -> bool {
    let (n_in, n_out) = p.sizes();
    if input.len() < n_in || output.len() < n_out {
        return false;
    }
    for b in 0..p.batches {
        for oy in 0..p.out_h {
            for ox in 0..p.out_w {
                let (y0, y1, x0, x1) = p.window(oy, ox);
                let count = ((y1 - y0) * (x1 - x0)) as i32;
                if count == 0 {
                    return false;
                }
                let ob = ((b * p.out_h + oy) * p.out_w + ox) * p.channels;
                let mut c0 = 0;
                while c0 < p.channels {
                    let n = POOL_BLOCK.min(p.channels - c0);
                    let mut acc = [0i32; POOL_BLOCK];
                    for y in y0..y1 {
                        for x in x0..x1 {
                            let at = ((b * p.in_h + y) * p.in_w + x) * p.channels + c0;
                            for (a, &v) in acc[..n].iter_mut().zip(&input[at..at + n]) {
                                *a += i32::from(v);
                            }
                        }
                    }
                    for (o, &acc) in output[ob + c0..ob + c0 + n].iter_mut().zip(&acc[..n]) {
                        let avg = if acc > 0 {
                            (acc + count / 2) / count
                        } else {
                            (acc - count / 2) / count
                        };
                        *o = avg.clamp(p.act_min, p.act_max) as i8;
                    }
                    c0 += n;
                }
            }
        }
    }
    true
}

/// Max pooling.
#[inline(never)]
pub fn eval_max(p: &PoolParams, input: &[i8], output: &mut [i8]) {
    let (n_in, n_out) = p.sizes();
    if input.len() < n_in || output.len() < n_out {
        return;
    }
    for b in 0..p.batches {
        for oy in 0..p.out_h {
            for ox in 0..p.out_w {
                let (y0, y1, x0, x1) = p.window(oy, ox);
                let ob = ((b * p.out_h + oy) * p.out_w + ox) * p.channels;
                for c in 0..p.channels {
                    let mut m = i32::from(i8::MIN);
                    for y in y0..y1 {
                        for x in x0..x1 {
                            m = m.max(i32::from(
                                input[((b * p.in_h + y) * p.in_w + x) * p.channels + c],
                            ));
                        }
                    }
                    output[ob + c] = m.clamp(p.act_min, p.act_max) as i8;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p2x2() -> PoolParams {
        PoolParams {
            batches: 1,
            in_h: 2,
            in_w: 3,
            channels: 1,
            out_h: 1,
            out_w: 2,
            filter_h: 2,
            filter_w: 2,
            stride_h: 2,
            stride_w: 2,
            pad_h: 0,
            pad_w: 0,
            act_min: -128,
            act_max: 127,
        }
    }

    #[test]
    fn average_rounds_half_away_from_zero_and_clips_window() {
        let p = p2x2();
        let mut out = [0i8; 2];
        // window 1: 1+2+4+5=12 → 3; window 2 clipped to one column: -3 + -4 = -7 / 2 → -4.
        assert!(eval_average(&p, &[1, 2, -3, 4, 5, -4], &mut out));
        assert_eq!(out, [3, -4]);
    }

    #[test]
    fn max_respects_activation_clamp() {
        let p = PoolParams {
            act_min: 0,
            act_max: 4,
            ..p2x2()
        };
        let mut out = [0i8; 2];
        eval_max(&p, &[1, 2, -3, 9, 5, -4], &mut out);
        assert_eq!(out, [4, 0]);
    }
}
