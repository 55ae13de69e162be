//! Approximate shifts for keyword-spotting inputs in the feature domain.
//!
//! The paper's SpeechCommands-C (App. A.2/D.1) degrades *waveforms* (noise at an SNR, RIRs,
//! band-pass filters, gain, time/pitch changes) before feature extraction. The converter only
//! sees the model input — an MFCC (or log-mel) matrix of T frames × F coefficients, float or
//! int8 — so these shifts are **feature-domain approximations** of those degradations:
//!
//! - [`AudioShift::Noise`]: Gaussian noise added to the features at an SNR measured on the
//!   features' own mean square (not the waveform's); severities 20/15/10/5/0 dB.
//! - [`AudioShift::Gain`]: a waveform gain of g dB adds `g·ln(10)/20` to every log-magnitude
//!   mel bin, which an orthonormal DCT moves entirely into coefficient 0 as
//!   `√n_mels · g·ln(10)/20`; severities −3/−6/−10/−15/−20 dB with 40 mel bins (the MLPerf
//!   Tiny KWS front end).
//! - [`AudioShift::TimeShift`]: frames move by 5/10/20/30/40 % of T in a seed-chosen direction;
//!   vacated frames take each coefficient's minimum (the quietest frame's level).
//! - [`AudioShift::BandLimit`]: coefficients from `round(F·keep)` upward are zeroed,
//!   keep = .8/.7/.6/.5/.4 — cepstral liftering, i.e. a low-pass across frequency of the
//!   spectral envelope, standing in for a telephone band-pass.

use super::{severity_index, stream_seed};
use crate::error::{check_finite, check_len, EvalError, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

/// Mel bins assumed by [`AudioShift::Gain`] (MLPerf Tiny KWS uses 40).
pub const DEFAULT_MEL_BINS: usize = 40;

/// A T × F feature matrix (frames × coefficients), row-major.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureMatrix {
    /// Time frames T.
    pub frames: usize,
    /// Coefficients per frame F.
    pub coeffs: usize,
    /// `frames * coeffs` values.
    pub data: Vec<f32>,
}

impl FeatureMatrix {
    /// Checks shape and finiteness.
    pub fn new(frames: usize, coeffs: usize, data: Vec<f32>) -> Result<Self> {
        if frames == 0 || coeffs == 0 {
            return Err(EvalError::InvalidArgument(format!(
                "feature shape {frames}x{coeffs} has a zero dimension"
            )));
        }
        check_len("features (T * F)", frames * coeffs, data.len())?;
        let as64: Vec<f64> = data.iter().map(|&v| f64::from(v)).collect();
        check_finite("features", &as64)?;
        Ok(Self {
            frames,
            coeffs,
            data,
        })
    }

    /// Mean absolute difference to a matrix of the same shape.
    pub fn mean_abs_diff(&self, other: &FeatureMatrix) -> Result<f64> {
        check_len("other features", self.data.len(), other.data.len())?;
        Ok(self
            .data
            .iter()
            .zip(&other.data)
            .map(|(a, b)| f64::from((a - b).abs()))
            .sum::<f64>()
            / self.data.len() as f64)
    }
}

/// Feature-domain shift kinds (see the module docs for what each approximates).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AudioShift {
    /// Additive Gaussian noise at an SNR.
    Noise,
    /// Loudness change via coefficient 0.
    Gain,
    /// Frame shift with floor fill.
    TimeShift,
    /// Zero high cepstral coefficients.
    BandLimit,
}

impl AudioShift {
    /// All kinds.
    pub const ALL: [AudioShift; 4] = [
        AudioShift::Noise,
        AudioShift::Gain,
        AudioShift::TimeShift,
        AudioShift::BandLimit,
    ];

    /// Stable name for reports.
    pub fn name(self) -> &'static str {
        match self {
            AudioShift::Noise => "noise_snr",
            AudioShift::Gain => "gain",
            AudioShift::TimeShift => "time_shift",
            AudioShift::BandLimit => "band_limit",
        }
    }

    /// Applies the shift at severity 0 (identity) .. 5.
    pub fn apply(self, x: &FeatureMatrix, severity: u8, seed: u64) -> Result<FeatureMatrix> {
        FeatureMatrix::new(x.frames, x.coeffs, x.data.clone())?;
        let Some(s) = severity_index(severity)? else {
            return Ok(x.clone());
        };
        let kind = Self::ALL.iter().position(|&k| k == self).unwrap_or(0) as u64;
        let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(seed, 100 + kind));
        match self {
            AudioShift::Noise => add_noise_snr(x, [20.0, 15.0, 10.0, 5.0, 0.0][s], &mut rng),
            AudioShift::Gain => Ok(gain(
                x,
                [-3.0, -6.0, -10.0, -15.0, -20.0][s],
                DEFAULT_MEL_BINS,
            )),
            AudioShift::TimeShift => {
                let frac = [0.05, 0.1, 0.2, 0.3, 0.4][s];
                let k = ((x.frames as f64 * frac).round() as isize).max(1);
                let dir = if rng.gen::<bool>() { 1 } else { -1 };
                Ok(time_shift(x, dir * k))
            }
            AudioShift::BandLimit => {
                let keep = ((x.coeffs as f64 * [0.8, 0.7, 0.6, 0.5, 0.4][s]).round() as usize)
                    .clamp(1, x.coeffs);
                Ok(band_limit(x, keep))
            }
        }
    }

    /// The same shift on an int8 input tensor: dequantize with `(q − zero_point) · scale`,
    /// shift, requantize with rounding and saturation.
    pub fn apply_int8(self, x: &Int8Features<'_>, severity: u8, seed: u64) -> Result<Vec<i8>> {
        let (scale, zero_point) = (x.scale, x.zero_point);
        if !(scale.is_finite() && scale > 0.0) {
            return Err(EvalError::InvalidArgument(format!(
                "quantization scale {scale} must be > 0"
            )));
        }
        let deq = x
            .data
            .iter()
            .map(|&q| (i32::from(q) - zero_point) as f32 * scale)
            .collect();
        let y = self.apply(
            &FeatureMatrix::new(x.frames, x.coeffs, deq)?,
            severity,
            seed,
        )?;
        Ok(y.data
            .iter()
            .map(|&v| ((v / scale).round() as i64 + i64::from(zero_point)).clamp(-128, 127) as i8)
            .collect())
    }
}

/// An int8 T × F input tensor with its per-tensor quantization.
#[derive(Debug, Clone, Copy)]
pub struct Int8Features<'a> {
    /// `frames * coeffs` quantized values.
    pub data: &'a [i8],
    /// Time frames T.
    pub frames: usize,
    /// Coefficients F.
    pub coeffs: usize,
    /// Quantization scale.
    pub scale: f32,
    /// Quantization zero point.
    pub zero_point: i32,
}

/// Adds N(0, σ²) with σ² = mean(x²) / 10^(snr/10).
pub fn add_noise_snr(
    x: &FeatureMatrix,
    snr_db: f64,
    rng: &mut ChaCha8Rng,
) -> Result<FeatureMatrix> {
    let power = x
        .data
        .iter()
        .map(|&v| f64::from(v) * f64::from(v))
        .sum::<f64>()
        / x.data.len() as f64;
    let sigma = (power / 10f64.powf(snr_db / 10.0)).sqrt();
    if sigma == 0.0 {
        return Ok(x.clone());
    }
    let n = Normal::new(0.0, sigma).map_err(|e| EvalError::InvalidArgument(e.to_string()))?;
    Ok(FeatureMatrix {
        data: x
            .data
            .iter()
            .map(|&v| (f64::from(v) + n.sample(rng)) as f32)
            .collect(),
        ..*x
    })
}

/// Adds `√n_mels · db · ln(10)/20` to coefficient 0 of every frame.
pub fn gain(x: &FeatureMatrix, db: f64, n_mels: usize) -> FeatureMatrix {
    let delta = ((n_mels as f64).sqrt() * db * std::f64::consts::LN_10 / 20.0) as f32;
    let mut y = x.clone();
    y.data
        .iter_mut()
        .step_by(x.coeffs)
        .for_each(|v| *v += delta);
    y
}

/// Moves frames by `k` (positive = later); vacated frames take each coefficient's minimum.
pub fn time_shift(x: &FeatureMatrix, k: isize) -> FeatureMatrix {
    let (t, f) = (x.frames as isize, x.coeffs);
    let floor: Vec<f32> = (0..f)
        .map(|j| {
            x.data
                .iter()
                .skip(j)
                .step_by(f)
                .copied()
                .fold(f32::INFINITY, f32::min)
        })
        .collect();
    let mut y = x.clone();
    for dst in 0..t {
        let src = dst - k;
        let row = &mut y.data[dst as usize * f..(dst as usize + 1) * f];
        if (0..t).contains(&src) {
            row.copy_from_slice(&x.data[src as usize * f..(src as usize + 1) * f]);
        } else {
            row.copy_from_slice(&floor);
        }
    }
    y
}

/// Zeroes coefficients `keep..F` of every frame.
pub fn band_limit(x: &FeatureMatrix, keep: usize) -> FeatureMatrix {
    let mut y = x.clone();
    for row in y.data.chunks_exact_mut(x.coeffs) {
        row.iter_mut().skip(keep).for_each(|v| *v = 0.0);
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mfcc_like() -> FeatureMatrix {
        // 49 × 10, like the MLPerf KWS input: a loud middle section, decaying coefficients and a
        // slow drift so that larger time shifts move further from the original.
        let data = (0..49)
            .flat_map(|t| {
                (0..10).map(move |j| {
                    let env = if (15..35).contains(&t) { 1.0 } else { 0.2 };
                    (env * 20.0 / (j as f32 + 1.0)) * ((t * 7 + j * 3) as f32 * 0.37).sin()
                        - 5.0 * (j == 0) as i32 as f32
                        + 0.2 * t as f32
                })
            })
            .collect();
        FeatureMatrix::new(49, 10, data).unwrap()
    }

    #[test]
    fn identity_shape_determinism_monotonic() {
        let x = mfcc_like();
        for k in AudioShift::ALL {
            assert_eq!(k.apply(&x, 0, 3).unwrap(), x);
            assert!(k.apply(&x, 6, 3).is_err());
            let mut prev = 0.0;
            for s in 1..=5 {
                let y = k.apply(&x, s, 3).unwrap();
                assert_eq!((y.frames, y.coeffs, y.data.len()), (49, 10, 490));
                assert_eq!(y, k.apply(&x, s, 3).unwrap());
                let d = y.mean_abs_diff(&x).unwrap();
                assert!(d > prev, "{} severity {s}: {d} not above {prev}", k.name());
                prev = d;
            }
        }
    }

    #[test]
    fn hand_cases() {
        let x = FeatureMatrix::new(3, 2, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        assert_eq!(time_shift(&x, 1).data, vec![1.0, 2.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!(time_shift(&x, -1).data, vec![3.0, 4.0, 5.0, 6.0, 1.0, 2.0]);
        assert_eq!(band_limit(&x, 1).data, vec![1.0, 0.0, 3.0, 0.0, 5.0, 0.0]);
        let g = gain(&x, -20.0, 4);
        assert!((g.data[0] - (1.0 - 2.0 * std::f32::consts::LN_10)).abs() < 1e-5);
        assert_eq!(g.data[1], 2.0);
        // Measured SNR of the added noise is close to the request on a big matrix.
        let big = FeatureMatrix::new(
            200,
            50,
            (0..10000).map(|i| ((i % 17) as f32) - 8.0).collect(),
        )
        .unwrap();
        let y = add_noise_snr(&big, 10.0, &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
        let ps: f64 = big.data.iter().map(|&v| f64::from(v * v)).sum();
        let pn: f64 = big
            .data
            .iter()
            .zip(&y.data)
            .map(|(a, b)| f64::from((a - b) * (a - b)))
            .sum();
        let snr = 10.0 * (ps / pn).log10();
        assert!((snr - 10.0).abs() < 0.3, "snr {snr}");
    }

    fn feat(q: &[i8], scale: f32) -> Int8Features<'_> {
        Int8Features {
            data: q,
            frames: 49,
            coeffs: 10,
            scale,
            zero_point: 3,
        }
    }

    #[test]
    fn int8_roundtrip() {
        let q: Vec<i8> = (0..490).map(|i| ((i * 13) % 200 - 100) as i8).collect();
        let same = AudioShift::Noise.apply_int8(&feat(&q, 0.5), 0, 1).unwrap();
        assert_eq!(same, q);
        let shifted = AudioShift::Gain.apply_int8(&feat(&q, 0.5), 5, 1).unwrap();
        assert_eq!(shifted.len(), 490);
        assert!(shifted[0] < q[0] && shifted[1] == q[1]);
        assert!(AudioShift::Gain.apply_int8(&feat(&q, 0.0), 5, 1).is_err());
        assert!(AudioShift::Gain
            .apply_int8(&feat(&q[..10], 0.5), 5, 1)
            .is_err());
    }
}
