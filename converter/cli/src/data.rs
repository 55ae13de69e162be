//! Calibration and dev data for the converter: `.npy` arrays, folders of images and CIFAR
//! binary files, turned into the model's int8 input bytes (one `Vec<u8>` per sample).
//!
//! Conversions (documented in docs/converter.md):
//! * `.npy` int8: used as is. float32/float64: quantized with the model's input scale and zero
//!   point (`q = clamp(round(x / scale) + zp)`). uint8: treated as image pixels (below).
//! * Images (folder, CIFAR binary, uint8 `.npy`): decoded to RGB/grey, resized to the input
//!   H×W (bilinear), converted to the input's channel count, then each pixel `p ∈ [0, 255]`
//!   becomes the real value `p` (when the input's int8 range reaches past 127, e.g. scale 1)
//!   or `p / 255` (when it does not, e.g. a `[0, 1]` input), quantized with the input's params.
//!   [`PixelRange`] records which one was used; `--pixel-range` overrides it.
use anyhow::{anyhow, bail, Context, Result};
use snapuq_model::Model;
use snapuq_model::TensorType;
use std::fs;
use std::path::{Path, PathBuf};

/// Bytes of one CIFAR-10 binary record: the label, then 1024 R, 1024 G, 1024 B bytes.
pub const CIFAR_RECORD: usize = 3073;

/// What the model's (first) input expects.
#[derive(Debug, Clone, PartialEq)]
pub struct InputSpec {
    pub tensor: usize,
    /// Full shape including the batch dimension.
    pub shape: Vec<usize>,
    pub scale: f32,
    pub zero_point: i32,
}

impl InputSpec {
    /// Reads the input of `model`; refuses float (or otherwise non-int8) models with the fix.
    pub fn of(model: &Model) -> Result<InputSpec> {
        let inputs = model.inputs();
        if inputs.len() != 1 {
            bail!(
                "the model has {} inputs; snap-convert handles single-input models",
                inputs.len()
            );
        }
        let t = inputs[0] as usize;
        let dtype = model.tensor_type(t);
        if dtype != Some(TensorType::INT8) {
            bail!(
                "the model's input `{}` is {} but snap-convert needs a fully int8-quantized model: convert it with full-integer quantization (TFLite converter: representative dataset, inference_input_type = tf.int8)",
                model.tensor_name(t),
                dtype.map_or("of unknown type".into(), snapuq_model::dtype_name)
            );
        }
        let q = model
            .quantization(t)
            .filter(|q| !q.scale.is_empty())
            .ok_or_else(|| anyhow!("the model's int8 input has no quantization parameters"))?;
        let shape: Vec<usize> = model
            .tensor_shape(t)
            .iter()
            .map(|&d| d.max(1) as usize)
            .collect();
        Ok(InputSpec {
            tensor: t,
            shape,
            scale: q.scale[0],
            zero_point: q.zero_point.first().copied().unwrap_or(0) as i32,
        })
    }

    /// Values per sample (the batch dimension must be 1).
    pub fn elements(&self) -> usize {
        self.shape.iter().product()
    }

    /// `(H, W, C)` for an image-like `[1, H, W, C]` input.
    pub fn image_hwc(&self) -> Option<(usize, usize, usize)> {
        match self.shape.as_slice() {
            [1, h, w, c] if *c == 1 || *c == 3 => Some((*h, *w, *c)),
            _ => None,
        }
    }

    pub fn quantize(&self, x: f64) -> u8 {
        let q = (x / self.scale as f64).round() + self.zero_point as f64;
        (q.clamp(-128.0, 127.0) as i8) as u8
    }

    pub fn dequantize(&self, q: u8) -> f32 {
        self.scale * ((q as i8) as i32 - self.zero_point) as f32
    }
}

/// How 8-bit pixels map to the model's real input values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
pub enum PixelRange {
    /// Choose from the input quantization: `byte` if its real range reaches past 127.
    Auto,
    /// Real value = pixel (0..255).
    Byte,
    /// Real value = pixel / 255 (0..1).
    Unit,
}

impl PixelRange {
    /// Resolves `Auto` for `spec`.
    pub fn resolve(self, spec: &InputSpec) -> PixelRange {
        match self {
            PixelRange::Auto => {
                let top = spec.scale as f64 * (127 - spec.zero_point) as f64;
                if top > 127.0 {
                    PixelRange::Byte
                } else {
                    PixelRange::Unit
                }
            }
            other => other,
        }
    }

    fn factor(self) -> f64 {
        match self {
            PixelRange::Unit => 1.0 / 255.0,
            _ => 1.0,
        }
    }
}

/// Samples in the model's int8 input layout, with optional labels.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    pub samples: Vec<Vec<u8>>,
    pub labels: Option<Vec<usize>>,
    /// Where it came from (for messages).
    pub source: String,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Keeps at most `n` samples.
    pub fn truncate(&mut self, n: usize) {
        self.samples.truncate(n);
        if let Some(l) = &mut self.labels {
            l.truncate(n);
        }
    }
}

/// Loads `path` (a `.npy`, a `.bin` CIFAR file or a folder of images) for `spec`.
/// `labels` is an optional `.npy` of integer labels (for `.npy` data; folders and CIFAR files
/// carry their own).
pub fn load(
    path: &Path,
    labels: Option<&Path>,
    spec: &InputSpec,
    pixels: PixelRange,
) -> Result<Dataset> {
    if !path.exists() {
        bail!(
            "data file {} does not exist (give a .npy array, a CIFAR .bin file or a folder of images)",
            path.display()
        );
    }
    let pixels = pixels.resolve(spec);
    let mut ds = if path.is_dir() {
        load_folder(path, spec, pixels)?
    } else {
        match path.extension().and_then(|e| e.to_str()) {
            Some("npy") => load_npy(path, spec, pixels)?,
            Some("bin") => load_cifar(path, spec, pixels)?,
            _ => bail!(
                "{}: unknown data format (expected .npy, CIFAR .bin or a folder of images)",
                path.display()
            ),
        }
    };
    if let Some(lp) = labels {
        let l = load_labels(lp)?;
        if l.len() != ds.len() {
            bail!(
                "labels count mismatch: {} has {} labels but {} has {} samples",
                lp.display(),
                l.len(),
                path.display(),
                ds.len()
            );
        }
        ds.labels = Some(l);
    }
    if ds.samples.is_empty() {
        bail!("{} holds no samples", path.display());
    }
    Ok(ds)
}

fn open_npy(path: &Path) -> Result<npyz::NpyFile<std::io::BufReader<fs::File>>> {
    let f = fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    npyz::NpyFile::new(std::io::BufReader::new(f))
        .with_context(|| format!("{} is not a valid .npy file", path.display()))
}

/// `.npy` of int8 / uint8 / float32 / float64 samples.
fn load_npy(path: &Path, spec: &InputSpec, pixels: PixelRange) -> Result<Dataset> {
    let npy = open_npy(path)?;
    let shape: Vec<u64> = npy.shape().to_vec();
    let descr = npy.dtype().descr();
    let per = spec.elements();
    let n = shape.first().copied().unwrap_or(0) as usize;
    let got: usize = shape.iter().skip(1).product::<u64>() as usize;
    if shape.is_empty() || got != per {
        bail!(
            "shape mismatch: {} has shape {:?} ({} values per sample) but the model input {:?} expects N × {:?} ({} values per sample)",
            path.display(),
            shape,
            got,
            spec.shape,
            &spec.shape[1..],
            per
        );
    }
    let kind = descr
        .trim_matches('\'')
        .trim_start_matches(['<', '>', '|', '=']);
    let flat: Vec<u8> = match kind {
        "i1" => npy.into_vec::<i8>()?.into_iter().map(|v| v as u8).collect(),
        "u1" => {
            let f = pixels.factor();
            npy.into_vec::<u8>()?
                .into_iter()
                .map(|v| spec.quantize(v as f64 * f))
                .collect()
        }
        "f4" => npy
            .into_vec::<f32>()?
            .into_iter()
            .map(|v| spec.quantize(v as f64))
            .collect(),
        "f8" => npy
            .into_vec::<f64>()?
            .into_iter()
            .map(|v| spec.quantize(v))
            .collect(),
        other => bail!(
            "{}: dtype {other} is not supported (use int8 codes, uint8 pixels, or float32 real values)",
            path.display()
        ),
    };
    Ok(Dataset {
        samples: flat.chunks_exact(per).map(<[u8]>::to_vec).collect(),
        labels: None,
        source: format!("{} ({n} samples)", path.display()),
    })
}

/// Integer labels from a `.npy` (any integer dtype, any shape flattened).
pub fn load_labels(path: &Path) -> Result<Vec<usize>> {
    if !path.exists() {
        bail!("labels file {} does not exist", path.display());
    }
    let npy = open_npy(path)?;
    let descr = npy.dtype().descr();
    let kind = descr
        .trim_matches('\'')
        .trim_start_matches(['<', '>', '|', '='])
        .to_string();
    let vals: Vec<i64> = match kind.as_str() {
        "i8" => npy.into_vec::<i64>()?,
        "i4" => npy.into_vec::<i32>()?.into_iter().map(i64::from).collect(),
        "i2" => npy.into_vec::<i16>()?.into_iter().map(i64::from).collect(),
        "i1" => npy.into_vec::<i8>()?.into_iter().map(i64::from).collect(),
        "u1" => npy.into_vec::<u8>()?.into_iter().map(i64::from).collect(),
        "u2" => npy.into_vec::<u16>()?.into_iter().map(i64::from).collect(),
        "u4" => npy.into_vec::<u32>()?.into_iter().map(i64::from).collect(),
        "u8" => npy
            .into_vec::<u64>()?
            .into_iter()
            .map(|v| v.min(i64::MAX as u64) as i64)
            .collect(),
        other => bail!(
            "{}: labels must be integers, got dtype {other}",
            path.display()
        ),
    };
    vals.into_iter()
        .enumerate()
        .map(|(i, v)| {
            usize::try_from(v)
                .map_err(|_| anyhow!("{}: label {v} at index {i} is negative", path.display()))
        })
        .collect()
}

/// An RGB8 image → the model's int8 input (resize, channel conversion, pixel mapping).
fn image_to_input(img: image::RgbImage, spec: &InputSpec, pixels: PixelRange) -> Result<Vec<u8>> {
    let (h, w, c) = spec.image_hwc().ok_or_else(|| {
        anyhow!(
            "image data needs a [1, H, W, 1|3] model input, but the input is {:?}; give a .npy instead",
            spec.shape
        )
    })?;
    let img = if img.width() as usize != w || img.height() as usize != h {
        image::imageops::resize(
            &img,
            w as u32,
            h as u32,
            image::imageops::FilterType::Triangle,
        )
    } else {
        img
    };
    let f = pixels.factor();
    let mut out = Vec::with_capacity(h * w * c);
    for p in img.pixels() {
        let [r, g, b] = p.0;
        if c == 3 {
            out.extend([r, g, b].map(|v| spec.quantize(v as f64 * f)));
        } else {
            // ITU-R 601 luma, as image's to_luma8 does.
            let y = (0.299 * r as f64 + 0.587 * g as f64 + 0.114 * b as f64).round();
            out.push(spec.quantize(y * f));
        }
    }
    Ok(out)
}

fn is_image(p: &Path) -> bool {
    matches!(
        p.extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
            .as_deref(),
        Some("png" | "jpg" | "jpeg")
    )
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .with_context(|| format!("cannot read folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    v.sort();
    Ok(v)
}

/// A folder of images: flat (unlabeled), or one subfolder per class (labels = index of the
/// subfolder in sorted name order).
fn load_folder(dir: &Path, spec: &InputSpec, pixels: PixelRange) -> Result<Dataset> {
    let entries = sorted_entries(dir)?;
    let classes: Vec<&PathBuf> = entries.iter().filter(|p| p.is_dir()).collect();
    let mut files: Vec<(PathBuf, Option<usize>)> = Vec::new();
    if classes.is_empty() {
        files.extend(
            entries
                .iter()
                .filter(|p| is_image(p))
                .map(|p| (p.clone(), None)),
        );
    } else {
        for (k, c) in classes.iter().enumerate() {
            for p in sorted_entries(c)?.into_iter().filter(|p| is_image(p)) {
                files.push((p, Some(k)));
            }
        }
    }
    if files.is_empty() {
        bail!(
            "folder {} has no .png/.jpg images (flat, or one subfolder per class)",
            dir.display()
        );
    }
    let mut samples = Vec::with_capacity(files.len());
    for (p, _) in &files {
        let img = image::open(p)
            .with_context(|| format!("cannot decode image {}", p.display()))?
            .to_rgb8();
        samples.push(image_to_input(img, spec, pixels)?);
    }
    let labels = if classes.is_empty() {
        None
    } else {
        Some(files.iter().map(|(_, l)| l.unwrap_or(0)).collect())
    };
    Ok(Dataset {
        samples,
        labels,
        source: format!("{} ({} images)", dir.display(), files.len()),
    })
}

/// CIFAR-10 binary records (label byte + planar 32×32 RGB).
fn load_cifar(path: &Path, spec: &InputSpec, pixels: PixelRange) -> Result<Dataset> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.is_empty() || bytes.len() % CIFAR_RECORD != 0 {
        bail!(
            "{} is {} bytes, not a whole number of {CIFAR_RECORD}-byte CIFAR-10 records",
            path.display(),
            bytes.len()
        );
    }
    let mut samples = Vec::with_capacity(bytes.len() / CIFAR_RECORD);
    let mut labels = Vec::with_capacity(bytes.len() / CIFAR_RECORD);
    for rec in bytes.chunks_exact(CIFAR_RECORD) {
        labels.push(rec[0] as usize);
        let planes = &rec[1..];
        let img = image::RgbImage::from_fn(32, 32, |x, y| {
            let i = (y * 32 + x) as usize;
            image::Rgb([planes[i], planes[1024 + i], planes[2048 + i]])
        });
        samples.push(image_to_input(img, spec, pixels)?);
    }
    Ok(Dataset {
        source: format!("{} ({} records)", path.display(), samples.len()),
        samples,
        labels: Some(labels),
    })
}
