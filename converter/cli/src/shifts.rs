//! Synthetic shifted copies of a dev set (`--shifts`), for users who only have ID data:
//! each int8 input is dequantized to 8-bit pixels with the input quantization (and the pixel
//! range of [`PixelRange`]), corrupted with `snapuq-eval`'s CIFAR-10-C families, and
//! quantized back. Labels are kept (the corruption does not change the class).
//!
//! The dev mix (`--shifts suite`, the default for image inputs) is reproducible and documented
//! in docs/converter.md: one part per corruption family (all 12 of
//! `snapuq_eval::shifts::image::Corruption::ALL`), each holding every dev sample once, sample
//! `i` of family `f` at severity `1 + (i + f) mod 5`, seeded by the sample index. So every
//! family appears at every severity on a fifth of the dev samples, and the calibrator sees
//! 13× the dev set (clean + 12 families).
use anyhow::{anyhow, Result};
use snapuq_eval::shifts::image::{Corruption, ImageU8};

use crate::data::{Dataset, InputSpec, PixelRange};

/// Which synthetic shifts join the dev mix.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ShiftMix {
    /// `suite` for image inputs, `none` otherwise.
    #[default]
    Auto,
    /// Every corruption family at rotating severities 1–5 (see the module doc).
    Suite,
    /// Clean dev data only.
    None,
}

impl ShiftMix {
    /// Whether the suite is used for this input.
    pub fn resolve(self, spec: &InputSpec) -> bool {
        match self {
            ShiftMix::Auto => spec.image_hwc().is_some(),
            ShiftMix::Suite => true,
            ShiftMix::None => false,
        }
    }
}

/// Severity of sample `i` in family number `f` of the suite.
pub fn suite_severity(i: usize, f: usize) -> u8 {
    1 + ((i + f) % 5) as u8
}

/// The suite parts of `ds`: `(family name, shifted copy)` per family.
pub fn suite(spec: &InputSpec, ds: &Dataset, pixels: PixelRange) -> Result<Vec<(String, Dataset)>> {
    Corruption::ALL
        .into_iter()
        .enumerate()
        .map(|(f, c)| {
            let shifted = shift_with(spec, ds, c, |i| suite_severity(i, f), pixels)?;
            Ok((c.name().to_string(), shifted))
        })
        .collect()
}

/// `ds` with `corruption` applied to sample `i` at `severity(i)` (seeded by sample index).
pub fn shift_with(
    spec: &InputSpec,
    ds: &Dataset,
    corruption: Corruption,
    severity: impl Fn(usize) -> u8 + Sync,
    pixels: PixelRange,
) -> Result<Dataset> {
    let (h, w, c) = spec.image_hwc().ok_or_else(|| {
        anyhow!(
            "--shifts needs an image input [1, H, W, 1|3]; the model input is {:?}",
            spec.shape
        )
    })?;
    let factor = match pixels.resolve(spec) {
        PixelRange::Unit => 1.0 / 255.0,
        _ => 1.0,
    };
    use rayon::prelude::*;
    let samples = ds
        .samples
        .par_iter()
        .enumerate()
        .map(|(i, s)| {
            let px: Vec<u8> = s
                .iter()
                .map(|&q| {
                    (spec.dequantize(q) as f64 / factor)
                        .round()
                        .clamp(0.0, 255.0) as u8
                })
                .collect();
            let img = ImageU8::new(h, w, c, px).map_err(|e| anyhow!("{e}"))?;
            let out = corruption
                .apply(&img, severity(i), i as u64)
                .map_err(|e| anyhow!("{} shift: {e}", corruption.name()))?;
            Ok(out
                .data
                .iter()
                .map(|&p| spec.quantize(p as f64 * factor))
                .collect())
        })
        .collect::<Result<Vec<Vec<u8>>>>()?;
    Ok(Dataset {
        samples,
        labels: ds.labels.clone(),
        source: format!("{} + {} (suite severities)", ds.source, corruption.name()),
    })
}
