//! The 256-entry LUT for `exp(−½ log σ²)` used by SNAP_SURPRISAL, and the log σ² clamp codes.
//!
//! Entry `i` (int32, index = int8 code + 128) is
//! `round(a_scale / sqrt(exp(ls_scale · (clamp(code) − ls_zp)) + eps²) · 2^lut_frac)`:
//! the inverse standard deviation *in units of a's quantization step*, so the kernel
//! multiplies the fixed-point residual (units of `a_scale`) directly into a standardized
//! residual. `clamp(code)` clamps to `[ls_min, ls_max]` (the codes of log 1e-4 and log 1e2),
//! so entries outside the clamp repeat the edge values and the table is non-increasing.

/// log σ² lower clamp, `ln(1e-4)` (paper B.3 / G.7).
pub const LOG_VAR_MIN: f32 = -9.210_340_5;
/// log σ² upper clamp, `ln(1e2)`.
pub const LOG_VAR_MAX: f32 = 4.605_170_2;
/// Default ε of the variance floor `σ² + ε²` baked into the LUT (paper B.3: ε = 1e-4).
pub const DEFAULT_EPS: f32 = 1e-4;
/// Largest LUT entry the chooser aims for (leaves headroom in `v · L` products).
pub const LUT_MAX_ENTRY: i64 = 1 << 30;
/// Valid range of `lut_frac`.
pub const LUT_FRAC_RANGE: (u32, u32) = (4, 60);

/// Int8 codes of the log σ² clamp `[ln 1e-4, ln 1e2]` under (ls_scale, ls_zp):
/// `(ceil(LOG_VAR_MIN/s + zp), floor(LOG_VAR_MAX/s + zp))` limited to −128..=127.
pub fn clamp_codes(ls_scale: f32, ls_zp: i32) -> (i32, i32) {
    let lo = libm::ceil(LOG_VAR_MIN as f64 / ls_scale as f64 + ls_zp as f64);
    let hi = libm::floor(LOG_VAR_MAX as f64 / ls_scale as f64 + ls_zp as f64);
    let lo = crate::quant::clamp_f64(lo, -128.0, 127.0) as i32;
    let hi = crate::quant::clamp_f64(hi, -128.0, 127.0) as i32;
    (lo, hi.max(lo))
}

/// The real `a_scale / σ` an int8 log σ² code stands for (after clamping and the ε floor).
pub fn inv_sigma_real(
    code: i32,
    ls_scale: f32,
    ls_zp: i32,
    ls_min: i32,
    ls_max: i32,
    a_scale: f32,
    eps: f32,
) -> f64 {
    let c = code.clamp(ls_min, ls_max);
    let ls = ls_scale as f64 * (c - ls_zp) as f64;
    let var = libm::exp(ls) + eps as f64 * eps as f64;
    a_scale as f64 / libm::sqrt(var)
}

/// Largest `lut_frac` with every entry ≤ 2^30 (and within [`LUT_FRAC_RANGE`]).
pub fn choose_lut_frac(
    ls_scale: f32,
    ls_zp: i32,
    ls_min: i32,
    ls_max: i32,
    a_scale: f32,
    eps: f32,
) -> u32 {
    let max = inv_sigma_real(ls_min, ls_scale, ls_zp, ls_min, ls_max, a_scale, eps);
    let mut f = LUT_FRAC_RANGE.0;
    while f < LUT_FRAC_RANGE.1 && max * libm::pow(2.0, (f + 1) as f64) <= LUT_MAX_ENTRY as f64 {
        f += 1;
    }
    f
}

/// Builds the LUT (see the module docs for the formula).
pub fn build(
    ls_scale: f32,
    ls_zp: i32,
    ls_min: i32,
    ls_max: i32,
    a_scale: f32,
    eps: f32,
    lut_frac: u32,
) -> [i32; 256] {
    let mut out = [0i32; 256];
    let k = libm::pow(2.0, lut_frac as f64);
    for (i, e) in out.iter_mut().enumerate() {
        let code = i as i32 - 128;
        let v = inv_sigma_real(code, ls_scale, ls_zp, ls_min, ls_max, a_scale, eps) * k;
        *e = crate::quant::clamp_f64(libm::round(v), 0.0, i32::MAX as f64) as i32;
    }
    out
}

/// True when entries never increase with the code (larger log σ² ⇒ smaller 1/σ).
pub fn is_monotone(lut: &[i32]) -> bool {
    lut.windows(2).all(|w| w[1] <= w[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lut_is_monotone_and_matches_exp() {
        for &(s, zp, a_scale) in &[
            (0.054f32, 42i32, 0.02f32),
            (0.1, 0, 0.5),
            (0.03, -100, 0.004),
            (0.2, 80, 1.0),
        ] {
            let (lo, hi) = clamp_codes(s, zp);
            assert!(lo <= hi);
            assert!(s * (lo - zp) as f32 >= LOG_VAR_MIN - 1e-5);
            assert!(s * (hi - zp) as f32 <= LOG_VAR_MAX + 1e-5);
            let frac = choose_lut_frac(s, zp, lo, hi, a_scale, DEFAULT_EPS);
            let lut = build(s, zp, lo, hi, a_scale, DEFAULT_EPS, frac);
            assert!(is_monotone(&lut), "scale {s} zp {zp}");
            assert!(lut.iter().all(|&e| e > 0 && (e as i64) <= LUT_MAX_ENTRY));
            // Relative precision at the smallest entry.
            let min = *lut.iter().min().unwrap();
            assert!(min > 1 << 12, "LUT too coarse: min entry {min}");
            for code in lo..=hi {
                let want = a_scale as f64 * (-0.5 * s as f64 * (code - zp) as f64).exp();
                let got = lut[(code + 128) as usize] as f64 / 2f64.powi(frac as i32);
                assert!(
                    (got - want).abs() / want < 1e-4,
                    "code {code}: {got} vs {want}"
                );
            }
        }
        assert!(!is_monotone(&[1, 2]));
    }
}
