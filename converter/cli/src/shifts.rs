//! Synthetic shifted copies of a dev set (`--shifts`), for users who only have ID data:
//! each int8 input is dequantized to 8-bit pixels with the input quantization (and the pixel
//! range of [`PixelRange`]), corrupted with `snapuq-eval`'s CIFAR-10-C families, and
//! quantized back. Labels are kept (the corruption does not change the class).
use anyhow::{anyhow, Result};
use snapuq_eval::shifts::image::{Corruption, ImageU8};

use crate::data::{Dataset, InputSpec, PixelRange};

/// The shifts `--shifts` adds: Gaussian noise, defocus blur and contrast at severity 3.
pub const DEFAULT_SHIFTS: [(Corruption, u8); 3] = [
    (Corruption::GaussianNoise, 3),
    (Corruption::DefocusBlur, 3),
    (Corruption::Contrast, 3),
];

/// `ds` with `corruption` at `severity` applied to every sample (seeded by sample index).
pub fn shift_dataset(
    spec: &InputSpec,
    ds: &Dataset,
    corruption: Corruption,
    severity: u8,
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
    let mut samples = Vec::with_capacity(ds.len());
    for (i, s) in ds.samples.iter().enumerate() {
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
            .apply(&img, severity, i as u64)
            .map_err(|e| anyhow!("{} shift: {e}", corruption.name()))?;
        samples.push(
            out.data
                .iter()
                .map(|&p| spec.quantize(p as f64 * factor))
                .collect(),
        );
    }
    Ok(Dataset {
        samples,
        labels: ds.labels.clone(),
        source: format!("{} + {}-{severity}", ds.source, corruption.name()),
    })
}
