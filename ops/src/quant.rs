//! Fixed-point helpers with TFLM's exact arithmetic (gemmlowp-style rounding) and the
//! rounding rules of the SNAP kernels' global average pooling.

/// `round(a·b / 2^31)` with TFLM's nudge, saturating the single overflow case.
pub const fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = a as i64 * b as i64;
    let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// Arithmetic right shift rounding half away from zero (TFLM `RoundingDivideByPOT`).
/// `exponent` is clamped to 0..=31.
pub const fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    let e = if exponent < 0 {
        0
    } else if exponent > 31 {
        31
    } else {
        exponent
    };
    let mask = ((1i64 << e) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + if x < 0 { 1 } else { 0 };
    (x >> e) + if remainder > threshold { 1 } else { 0 }
}

/// TFLM `MultiplyByQuantizedMultiplier` (double rounding variant, the TFLM default):
/// `x · qm · 2^(shift−31)` with `shift` in −31..=30.
pub const fn multiply_by_quantized_multiplier(x: i32, qm: i32, shift: i32) -> i32 {
    let left = if shift > 0 { shift } else { 0 };
    let right = if shift > 0 { 0 } else { -shift };
    let shifted = x.wrapping_mul(1i32.wrapping_shl(left as u32));
    rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, qm), right)
}

/// Valid range of a quantized multiplier's shift (as TFLM produces them).
pub const SHIFT_RANGE: (i32, i32) = (-31, 30);

/// TFLM `QuantizeMultiplier`: `real ≈ qm · 2^(shift−31)`, `qm` in [2^30, 2^31).
/// `None` for negative or non-finite inputs; `Some((0, 0))` for 0 or values below 2^-32.
pub fn quantize_multiplier(real: f64) -> Option<(i32, i32)> {
    if !real.is_finite() || real < 0.0 {
        return None;
    }
    if real == 0.0 {
        return Some((0, 0));
    }
    let (frac, mut exp) = libm::frexp(real);
    let mut q = libm::round(frac * (1i64 << 31) as f64) as i64;
    if q == 1i64 << 31 {
        q /= 2;
        exp += 1;
    }
    if exp < -31 {
        return Some((0, 0));
    }
    if exp > 30 {
        return Some((i32::MAX, 30));
    }
    Some((q as i32, exp))
}

/// The real number a (multiplier, shift) pair stands for.
pub fn multiplier_to_real(qm: i32, shift: i32) -> f64 {
    qm as f64 * libm::pow(2.0, (shift - 31) as f64)
}

/// `round(num / den)` with halves away from zero (integer division; `den > 0`).
pub const fn div_round_half_away(num: i64, den: i64) -> i64 {
    if num >= 0 {
        (num + den / 2) / den
    } else {
        (num - den / 2) / den
    }
}

/// Arithmetic right shift of an i64 by `e` (0..=62) rounding half away from zero.
pub const fn shift_round_half_away_i64(x: i64, e: u32) -> i64 {
    if e == 0 {
        return x;
    }
    let half = 1i64 << (e - 1);
    if x >= 0 {
        (x + half) >> e
    } else {
        -((-x + half) >> e)
    }
}

/// `round_half_away(num / den)` in i32 (`den > 0`): the pooling divisions, kept in 32 bits so
/// Cortex-M uses its hardware divider instead of a 64-bit division routine.
const fn div_round_half_away_i32(num: i32, den: i32) -> i32 {
    let (q, rem) = (num / den, num % den);
    // |rem| < den ≤ 2^20, so 2|rem| cannot overflow; rounding away iff 2|rem| ≥ den.
    if 2 * rem.unsigned_abs() >= den as u32 {
        q + if num < 0 { -1 } else { 1 }
    } else {
        q
    }
}

/// Global average pooling of one sample of an int8 NHWC activation to int8 codes in the
/// activation's own quantization: `g_c = round_half_away(Σ_hw q[hw,c] / HW)` (the mean of
/// int8 codes always fits int8). `sample.len()` must be `spatial · out.len()`, with
/// `spatial ≤ limits::MAX_SPATIAL` (so every sum fits i32).
pub fn gap_s8(sample: &[i8], out: &mut [i8]) {
    let c = out.len();
    if c == 0 {
        return;
    }
    let spatial = sample.len() / c;
    if spatial == 0 || spatial > crate::limits::MAX_SPATIAL {
        out.fill(0);
        return;
    }
    for (ch, o) in out.iter_mut().enumerate() {
        let mut sum: i32 = 0;
        let mut idx = ch;
        while idx < sample.len() {
            sum += sample[idx] as i32;
            idx += c;
        }
        *o = div_round_half_away_i32(sum, spatial as i32) as i8;
    }
}

/// Spatial statistics of one sample of an int8 channels-last activation, in code units, as
/// natural logs: `[ln(rms + ε), ln(tv + ε)]` with ε = [`STATS_EPS`], where
/// `rms = sqrt(Σ (q − g_c)² / (HW·C))` is the spread of the activation around its pooled
/// channel means `g` (the GAP codes of [`gap_s8`]) and
/// `tv = Σ |q[p+1,c] − q[p,c]| / ((HW−1)·C)` is the mean absolute difference of neighbouring
/// positions in row-major order (row ends included; 0 when HW = 1).
///
/// Why: the calibrator's per-sample shift signal. Pooled means (what GAP keeps) barely move
/// under noise, blur or contrast loss; the spread and the high-frequency energy of an early
/// activation do (docs/ops.md, "SNAP_PROJECT stats"). Integer sums are exact (u64), and the
/// float tail uses `libm`, so hosts and MCUs give the same bits.
pub fn spatial_stats(sample: &[i8], g: &[i8]) -> [f32; 2] {
    let c = g.len();
    if c == 0 || sample.len() < c {
        return [libm::logf(STATS_EPS); 2];
    }
    let spatial = sample.len() / c;
    let mut sq: u64 = 0;
    let mut tv: u64 = 0;
    for (p, row) in sample.chunks_exact(c).enumerate() {
        for (ch, (&q, &m)) in row.iter().zip(g).enumerate() {
            let d = q as i32 - m as i32;
            sq += (d * d) as u64;
            if p + 1 < spatial {
                let next = sample[(p + 1) * c + ch] as i32;
                tv += (next - q as i32).unsigned_abs() as u64;
            }
        }
    }
    let rms = libm::sqrtf(sq as f32 / (spatial * c) as f32);
    let tv = if spatial > 1 {
        tv as f32 / ((spatial - 1) * c) as f32
    } else {
        0.0
    };
    [libm::logf(rms + STATS_EPS), libm::logf(tv + STATS_EPS)]
}

/// ε of [`spatial_stats`] (code units: far below one quantization step).
pub const STATS_EPS: f32 = 0.01;

/// Fractional bits of the fixed-point pooled activation and of μ in SNAP_SURPRISAL
/// (units of `a_scale / 2^12`).
pub const MU_FRAC_BITS: u32 = 12;

/// Pooled channel `ch` of one sample, centred on `zero_point`, in units of
/// `a_scale / 2^MU_FRAC_BITS`: `round_half_away(Σ_hw (q − zp) · 2^12 / HW)`.
///
/// Computed in 32 bits (hardware divide on Cortex-M): the integer part of the mean, then the
/// 12 fractional bits by long division of the remainder, then the rounding from the last
/// remainder — exactly the rounded 64-bit quotient. Needs `HW ≤ limits::MAX_SPATIAL` (0 beyond).
pub fn gap_channel_fx(sample: &[i8], channels: usize, ch: usize, zero_point: i32) -> i32 {
    let mut sum: i32 = 0;
    let mut n: i32 = 0;
    let mut idx = ch;
    while idx < sample.len() {
        sum += sample[idx] as i32 - zero_point;
        n += 1;
        if n as usize > crate::limits::MAX_SPATIAL {
            return 0;
        }
        idx += channels.max(1);
    }
    if n == 0 {
        return 0;
    }
    // |sum| ≤ 255·2^20 < 2^28; |result| ≤ 255·2^12.
    let mag = sum.unsigned_abs();
    let d = n as u32;
    let mut q = mag / d;
    let mut rem = mag % d;
    for _ in 0..MU_FRAC_BITS {
        rem <<= 1; // rem < d ≤ 2^20
        q = (q << 1) | (rem >= d) as u32;
        if rem >= d {
            rem -= d;
        }
    }
    let q = q + (2 * rem >= d) as u32;
    if sum < 0 {
        -(q as i32)
    } else {
        q as i32
    }
}

/// `x` limited to `[lo, hi]` for f32. `f32::clamp` asserts `lo <= hi` with a message that
/// formats both floats, which drags core's float formatting (~15 KB) into every firmware image
/// even with `panic = "abort"`; `max`/`min` cannot panic and map NaN to `lo`.
#[allow(clippy::manual_clamp)]
#[inline]
pub fn clamp_f32(x: f32, lo: f32, hi: f32) -> f32 {
    x.max(lo).min(hi)
}

/// [`clamp_f32`] for f64.
#[allow(clippy::manual_clamp)]
#[inline]
pub fn clamp_f64(x: f64, lo: f64, hi: f64) -> f64 {
    x.max(lo).min(hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mbqm_matches_tflm_examples() {
        // 0.5 · 100 = 50
        let (qm, sh) = quantize_multiplier(0.5).unwrap();
        assert_eq!((qm, sh), (1 << 30, 0));
        assert_eq!(multiply_by_quantized_multiplier(100, qm, sh), 50);
        // TFLM's doubling high-mul nudges −50.5 to −50 (not half-away): we match TFLM.
        assert_eq!(multiply_by_quantized_multiplier(-101, qm, sh), -50);
        assert_eq!(multiply_by_quantized_multiplier(101, qm, sh), 51);
        // 3.0 needs a left shift
        let (qm, sh) = quantize_multiplier(3.0).unwrap();
        assert_eq!(sh, 2);
        assert_eq!(multiply_by_quantized_multiplier(7, qm, sh), 21);
        let (qm, sh) = quantize_multiplier(0.001).unwrap();
        assert_eq!(multiply_by_quantized_multiplier(1500, qm, sh), 2);
        assert_eq!(multiply_by_quantized_multiplier(-1500, qm, sh), -2);
        assert!(quantize_multiplier(-1.0).is_none());
        assert!(quantize_multiplier(f64::NAN).is_none());
        assert_eq!(quantize_multiplier(0.0), Some((0, 0)));
    }

    #[test]
    fn multiplier_roundtrip_is_close() {
        for &x in &[1e-6, 3.3e-4, 0.0123, 0.7, 1.0, 1.9999, 17.5, 1000.0] {
            let (qm, sh) = quantize_multiplier(x).unwrap();
            let back = multiplier_to_real(qm, sh);
            assert!((back - x).abs() / x < 1e-9, "{x} -> {back}");
        }
    }

    #[test]
    fn rounding_divide_rounds_half_away() {
        assert_eq!(rounding_divide_by_pot(5, 1), 3);
        assert_eq!(rounding_divide_by_pot(-5, 1), -3);
        assert_eq!(rounding_divide_by_pot(4, 1), 2);
        assert_eq!(rounding_divide_by_pot(-7, 2), -2);
        assert_eq!(shift_round_half_away_i64(-6, 2), -2);
        assert_eq!(shift_round_half_away_i64(6, 2), 2);
        assert_eq!(shift_round_half_away_i64(5, 2), 1);
    }

    #[test]
    fn gap_rounds_half_away_per_channel() {
        // 2×1×2 spatial, 2 channels: ch0 = [1,2] -> 1.5 -> 2 ; ch1 = [-1,-2] -> -1.5 -> -2
        let a = [1i8, -1, 2, -2];
        let mut g = [0i8; 2];
        gap_s8(&a, &mut g);
        assert_eq!(g, [2, -2]);
        let a = [127i8, -128, 127, -128, 127, -128];
        gap_s8(&a, &mut g);
        assert_eq!(g, [127, -128]);
        assert_eq!(
            gap_channel_fx(&[1, 0, 2, 0], 2, 0, -1),
            (5 << MU_FRAC_BITS) / 2
        );
    }

    #[test]
    fn pooling_in_32_bits_matches_the_64_bit_rounding() {
        let mut x: u32 = 0x1234_5678;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        for case in 0..3000 {
            let channels = 1 + (next() % 5) as usize;
            let spatial = match case % 4 {
                0 => 1 + (next() % 7) as usize,
                1 => 1 + (next() % 200) as usize,
                2 => 1 + (next() % 3000) as usize,
                _ => 2,
            };
            let extreme = case % 3 == 0;
            let sample: Vec<i8> = (0..spatial * channels)
                .map(|_| {
                    if extreme {
                        [-128i8, 127][(next() & 1) as usize]
                    } else {
                        next() as i8
                    }
                })
                .collect();
            let zp = (next() % 256) as i32 - 128;
            let mut g = vec![0i8; channels];
            gap_s8(&sample, &mut g);
            for (ch, &gc) in g.iter().enumerate() {
                let col = sample.iter().skip(ch).step_by(channels);
                let s8: i64 = col.clone().map(|&v| v as i64).sum();
                assert_eq!(gc as i64, div_round_half_away(s8, spatial as i64));
                let s: i64 = col.map(|&v| v as i64 - zp as i64).sum();
                let want = div_round_half_away(s << MU_FRAC_BITS, spatial as i64);
                assert_eq!(gap_channel_fx(&sample, channels, ch, zp) as i64, want);
            }
        }
    }
}
