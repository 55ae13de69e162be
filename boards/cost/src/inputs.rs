//! The two models of the table and the data the tool makes for them: calibration/dev data for
//! snap-convert and the few int8 samples embedded into the firmware.
//!
//! The quality of U does not matter for cost (the op shapes fix the work), so DS-CNN, which has
//! no data in the shared root, is calibrated on seeded int8 inputs with seeded labels.
use anyhow::{anyhow, bail, Context, Result};
use std::path::{Path, PathBuf};

use snapuq_testkit::{read_cifar, seeded_i8, write_npy_raw, CIFAR_5K};

/// Where a model's data come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataKind {
    /// Seeded int8 inputs of this per-sample shape, seeded labels among `classes`.
    Seeded { shape: [usize; 3], classes: u64 },
    /// CIFAR-10 records of the shared root (`data/cifar10/train-5k.bin`).
    Cifar,
}

/// One model of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelSpec {
    /// Command-line key.
    pub key: &'static str,
    /// Name in the table.
    pub name: &'static str,
    /// Path under the shared root.
    pub file: &'static str,
    pub data: DataKind,
}

pub const MODELS: [ModelSpec; 2] = [
    ModelSpec {
        key: "dscnn",
        name: "DS-CNN",
        file: "models/kws_ref_model.tflite",
        data: DataKind::Seeded {
            shape: [49, 10, 1],
            classes: 12,
        },
    },
    ModelSpec {
        key: "resnet8",
        name: "ResNet-8",
        file: "models/pretrainedResnet_quant.tflite",
        data: DataKind::Cifar,
    },
];

/// Looks a model up by its key.
pub fn model(key: &str) -> Result<ModelSpec> {
    MODELS
        .iter()
        .copied()
        .find(|m| m.key == key)
        .ok_or_else(|| {
            anyhow!(
                "unknown model `{key}`: choose from {}",
                MODELS.map(|m| m.key).join(", ")
            )
        })
}

/// Files made for one model.
#[derive(Debug, Clone)]
pub struct ModelData {
    /// snap-convert data arguments (`--calib …`, `--dev …`, …), for `fit` and `convert`.
    pub data_args: Vec<String>,
    /// Further `convert`-only arguments (`--label-free`).
    pub convert_args: Vec<String>,
    /// int8 .npy of the samples embedded in the firmware, and their labels (.npy, i64).
    pub fw_inputs: PathBuf,
    pub fw_labels: PathBuf,
    /// One line for the docs: which data made the models.
    pub description: String,
}

/// Seeds of the generated DS-CNN data (calibration, dev, labels, firmware samples).
const SEEDS: [u64; 4] = [0x5EED_CA11, 0x5EED_DE00, 0x5EED_1AB5, 0x5EED_F00D];

/// Writes the data files of `spec` into `dir`.
pub fn prepare(
    spec: &ModelSpec,
    shared: &Path,
    dir: &Path,
    calib: usize,
    dev: usize,
    samples: usize,
) -> Result<ModelData> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let fw_inputs = dir.join(format!("{}-firmware-inputs.npy", spec.key));
    let fw_labels = dir.join(format!("{}-firmware-labels.npy", spec.key));
    match spec.data {
        DataKind::Seeded { shape, classes } => {
            let per: usize = shape.iter().product();
            let calib_p = dir.join(format!("{}-calib.npy", spec.key));
            let dev_p = dir.join(format!("{}-dev.npy", spec.key));
            let dev_l = dir.join(format!("{}-dev-labels.npy", spec.key));
            write_i8(&calib_p, &seeded_i8(SEEDS[0], calib * per), calib, &shape)?;
            write_i8(&dev_p, &seeded_i8(SEEDS[1], dev * per), dev, &shape)?;
            write_labels(&dev_l, &seeded_labels(SEEDS[2], dev, classes))?;
            write_i8(
                &fw_inputs,
                &seeded_i8(SEEDS[3], samples * per),
                samples,
                &shape,
            )?;
            write_labels(&fw_labels, &vec![-1; samples])?;
            Ok(ModelData {
                data_args: vec![
                    "--calib".into(),
                    path_arg(&calib_p),
                    "--dev".into(),
                    path_arg(&dev_p),
                    "--dev-labels".into(),
                    path_arg(&dev_l),
                ],
                convert_args: vec!["--label-free".into()],
                fw_inputs,
                fw_labels,
                description: format!(
                    "{calib} seeded int8 calibration inputs, {dev} seeded dev inputs with seeded \
                     labels (--label-free), {samples} seeded firmware samples (SplitMix64, \
                     snapuq_testkit::seeded_i8)"
                ),
            })
        }
        DataKind::Cifar => {
            let bin = shared.join(CIFAR_5K);
            if !bin.is_file() {
                bail!(
                    "{} is missing: the shared root must hold data/cifar10/train-5k.bin (set --shared or SNAPUQ_SHARED)",
                    bin.display()
                );
            }
            let images = read_cifar(&bin, usize::MAX).map_err(|e| anyhow!(e))?;
            if images.len() < samples {
                bail!("{} holds only {} images", bin.display(), images.len());
            }
            // The firmware samples are the last records, the converter uses the first ones.
            let tail = &images[images.len() - samples..];
            let mut x = Vec::with_capacity(samples * 3072);
            for im in tail {
                x.extend(im.hwc.iter().map(|&p| (i16::from(p) - 128) as i8));
            }
            write_i8(&fw_inputs, &x, samples, &[32, 32, 3])?;
            write_labels(
                &fw_labels,
                &tail
                    .iter()
                    .map(|im| i64::from(im.label))
                    .collect::<Vec<_>>(),
            )?;
            Ok(ModelData {
                data_args: vec![
                    "--calib".into(),
                    path_arg(&bin),
                    "--max-calib".into(),
                    calib.to_string(),
                    "--max-dev".into(),
                    dev.to_string(),
                ],
                convert_args: Vec::new(),
                fw_inputs,
                fw_labels,
                description: format!(
                    "CIFAR-10 train-5k.bin: the converter's 60/40 split of the file, capped at \
                     {calib} calibration / {dev} labeled dev images; firmware samples = the last \
                     {samples} records, int8 = pixel − 128"
                ),
            })
        }
    }
}

fn path_arg(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Labels in `0..classes` from the same SplitMix64 stream as the inputs.
fn seeded_labels(seed: u64, n: usize, classes: u64) -> Vec<i64> {
    seeded_i8(seed, n)
        .into_iter()
        .map(|v| i64::from(v as u8) % classes as i64)
        .collect()
}

fn write_i8(path: &Path, data: &[i8], n: usize, shape: &[usize]) -> Result<()> {
    let bytes: Vec<u8> = data.iter().map(|&v| v as u8).collect();
    let mut full = vec![n as u64];
    full.extend(shape.iter().map(|&d| d as u64));
    write_npy_raw(path, &bytes, "int8", &full).map_err(|e| anyhow!(e))
}

fn write_labels(path: &Path, labels: &[i64]) -> Result<()> {
    let bytes: Vec<u8> = labels.iter().flat_map(|v| v.to_le_bytes()).collect();
    write_npy_raw(path, &bytes, "int64", &[labels.len() as u64]).map_err(|e| anyhow!(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_model_data_have_the_input_shape() {
        let dir = std::env::temp_dir().join(format!("snapuq-cost-inputs-{}", std::process::id()));
        let spec = model("dscnn").unwrap();
        let d = prepare(&spec, Path::new("/nonexistent"), &dir, 5, 4, 2).unwrap();
        let bytes = std::fs::read(&d.fw_inputs).unwrap();
        let header = String::from_utf8_lossy(&bytes[10..bytes.len().min(128)]).into_owned();
        assert!(header.contains("(2, 49, 10, 1)"), "{header}");
        // 2 samples × 490 bytes after the 64-byte-aligned header.
        assert_eq!(bytes.len() % 64, 2 * 490 % 64);
        let labels = seeded_labels(SEEDS[2], 100, 12);
        assert!(labels.iter().all(|&l| (0..12).contains(&l)));
        assert!(labels.iter().any(|&l| l != labels[0]));
        assert!(d.convert_args.contains(&"--label-free".to_string()));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn unknown_model_names_the_choices() {
        let err = model("vww").unwrap_err().to_string();
        assert!(err.contains("dscnn") && err.contains("resnet8"), "{err}");
    }
}
