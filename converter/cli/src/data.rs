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

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
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
    let name = path.display().to_string();
    let mut ds = if path.is_dir() {
        load_folder(path, spec, pixels)?
    } else {
        match path.extension().and_then(|e| e.to_str()) {
            Some("npy") => parse_npy(&read(path)?, &name, spec, pixels)?,
            Some("bin") => parse_cifar(&read(path)?, &name, spec, pixels)?,
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
    if ds.is_empty() {
        bail!("{} holds no samples", path.display());
    }
    Ok(ds)
}

/// Refuses labels that are not class indices of a `classes`-way classifier, before any
/// fitting starts (an out-of-range label would otherwise only surface minutes later, deep in
/// the calibrator).
pub fn check_labels(ds: &Dataset, classes: usize) -> Result<()> {
    let Some(labels) = &ds.labels else {
        return Ok(());
    };
    let mut bad = labels.iter().enumerate().filter(|(_, &l)| l >= classes);
    if let Some((i, l)) = bad.next() {
        bail!(
            "{}: label {l} at index {i} is out of range ({} of {} labels are): the model's classifier has {classes} classes, so labels must be 0..={}; fix the labels or give the model they belong to",
            ds.source,
            1 + bad.count(),
            labels.len(),
            classes - 1
        );
    }
    Ok(())
}

fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// A parsed `.npy` header and its data bytes, with the data length checked against the
/// header (so a corrupt header claiming billions of values fails at once instead of
/// reading or allocating for them).
struct Npy<'a> {
    header: npyz::NpyHeader,
    /// Type code without byte order, e.g. `f4`, `i1`.
    kind: String,
    data: &'a [u8],
}

impl Npy<'_> {
    fn parse<'a>(bytes: &'a [u8], name: &str) -> Result<Npy<'a>> {
        check_header_nesting(bytes, name)?;
        let mut data = bytes;
        let header = npyz::NpyHeader::from_reader(&mut data)
            .with_context(|| format!("{name} is not a valid .npy file"))?;
        let descr = header.dtype().descr();
        let kind = descr
            .trim_matches('\'')
            .trim_start_matches(['<', '>', '|', '='])
            .to_string();
        let item = header.dtype().num_bytes().unwrap_or(0);
        let need = header.len().checked_mul(item as u64);
        if need.is_none_or(|n| n > data.len() as u64) {
            bail!(
                "{name}: the .npy header says shape {:?} of {kind} ({} values) but the file holds only {} data bytes; the file is cut off or corrupt, save the array again",
                header.shape(),
                header.len(),
                data.len()
            );
        }
        Ok(Npy { header, kind, data })
    }

    fn into_vec<T: npyz::Deserialize>(self) -> Result<Vec<T>> {
        Ok(npyz::NpyFile::with_header(self.header, self.data).into_vec::<T>()?)
    }
}

/// Deepest bracket nesting a plain array header has: the dict and its shape tuple.
const NPY_MAX_NESTING: usize = 2;

/// Refuses `.npy` headers nested deeper than a plain array's (`{'descr': '<f4', …, 'shape':
/// (N, …), }`) before npyz parses them: its header parser takes exponential time on deeply
/// nested brackets (found by fuzzing: a 250-byte header ran for minutes), and structured
/// dtypes, the only legitimate nesting, are not supported here anyway.
fn check_header_nesting(bytes: &[u8], name: &str) -> Result<()> {
    let text = match bytes {
        [0x93, b'N', b'U', b'M', b'P', b'Y', 1, _, a, b, rest @ ..] => {
            rest.get(..u16::from_le_bytes([*a, *b]) as usize)
        }
        [0x93, b'N', b'U', b'M', b'P', b'Y', 2 | 3, _, a, b, c, d, rest @ ..] => {
            rest.get(..u32::from_le_bytes([*a, *b, *c, *d]) as usize)
        }
        _ => None,
    };
    // Anything else (bad magic, cut-off header) gets npyz's own error.
    let Some(text) = text else {
        return Ok(());
    };
    let mut depth = 0usize;
    for &c in text {
        match c {
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > NPY_MAX_NESTING {
                    bail!(
                        "{name} is not a valid .npy file: its header is nested deeper than a plain array header (structured dtypes are not supported); save a plain numeric array with numpy.save"
                    );
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Checks that an array of `shape` holds samples for `spec`: N × the model's input shape
/// without its batch dimension. Axes of length 1 may be left out or added (they do not change
/// the memory order), anything else must match, so an array with the right number of values
/// in the wrong arrangement (a flattened `(N, 64)` for `[1, 8, 8, 1]`, channels-first images
/// for a channels-last model) is refused instead of silently scrambled.
fn check_sample_shape(name: &str, shape: &[u64], spec: &InputSpec) -> Result<()> {
    let want: Vec<u64> = spec.shape.iter().skip(1).map(|&d| d as u64).collect();
    let per: u64 = want.iter().product();
    let Some((_, dims)) = shape.split_first() else {
        bail!(
            "shape mismatch: {name} is a 0-d array but the model input {:?} expects N × {want:?} ({per} values per sample); save an array with the samples along the first axis",
            spec.shape
        );
    };
    let got: u64 = dims.iter().product();
    let squeeze = |d: &[u64]| d.iter().copied().filter(|&v| v != 1).collect::<Vec<u64>>();
    if squeeze(dims) == squeeze(&want) {
        return Ok(());
    }
    if let ([c, h, w], [h2, w2, c2]) = (dims, want.as_slice()) {
        if c == c2 && h == h2 && w == w2 && *c != *h {
            bail!(
                "layout mismatch: {name} has shape {shape:?}, channels first (NCHW), but the model input {:?} is channels last (NHWC); transpose the array to (N, {h}, {w}, {c}), e.g. np.transpose(x, (0, 2, 3, 1))",
                spec.shape
            );
        }
    }
    if got == per {
        bail!(
            "shape mismatch: {name} has shape {shape:?}, {got} values per sample like the model input {:?} but arranged as {dims:?} instead of {want:?}; reshape it to N × {want:?} only if the values are in that order (for images: height, width, channels)",
            spec.shape
        );
    }
    bail!(
        "shape mismatch: {name} has shape {shape:?} ({got} values per sample) but the model input {:?} expects N × {want:?} ({per} values per sample)",
        spec.shape
    );
}

/// Refuses NaN and ±Inf in float inputs: quantizing them gives arbitrary int8 codes (NaN
/// becomes 0), so the heads and the calibrator would be fitted on garbage without a word.
fn check_finite<T: Copy + Into<f64>>(name: &str, vals: &[T], per: usize) -> Result<()> {
    let mut bad = vals
        .iter()
        .enumerate()
        .filter(|(_, v)| !(**v).into().is_finite());
    if let Some((i, v)) = bad.next() {
        let v: f64 = (*v).into();
        bail!(
            "{name}: {} of {} values are NaN or ±Inf (the first, {v}, in sample {}); inputs must be finite real values: repair or drop those samples, e.g. x = x[np.isfinite(x).reshape(len(x), -1).all(axis=1)]",
            1 + bad.count(),
            vals.len(),
            i / per.max(1)
        );
    }
    Ok(())
}

/// `.npy` bytes of int8 / uint8 / float32 / float64 samples (`name` is for messages).
pub fn parse_npy(
    bytes: &[u8],
    name: &str,
    spec: &InputSpec,
    pixels: PixelRange,
) -> Result<Dataset> {
    let npy = Npy::parse(bytes, name)?;
    let shape: Vec<u64> = npy.header.shape().to_vec();
    let per = spec.elements();
    check_sample_shape(name, &shape, spec)?;
    let n = shape.first().copied().unwrap_or(0) as usize;
    let flat: Vec<u8> = match npy.kind.as_str() {
        "i1" => npy.into_vec::<i8>()?.into_iter().map(|v| v as u8).collect(),
        "u1" => {
            let f = pixels.factor();
            npy.into_vec::<u8>()?
                .into_iter()
                .map(|v| spec.quantize(v as f64 * f))
                .collect()
        }
        "f4" => {
            let v = npy.into_vec::<f32>()?;
            check_finite(name, &v, per)?;
            v.into_iter().map(|v| spec.quantize(v as f64)).collect()
        }
        "f8" => {
            let v = npy.into_vec::<f64>()?;
            check_finite(name, &v, per)?;
            v.into_iter().map(|v| spec.quantize(v)).collect()
        }
        other => bail!(
            "{name}: dtype {other} is not supported (use int8 codes, uint8 pixels, or float32 real values)"
        ),
    };
    Ok(Dataset {
        samples: flat.chunks_exact(per).map(<[u8]>::to_vec).collect(),
        labels: None,
        source: format!("{name} ({n} samples)"),
    })
}

/// Integer labels from a `.npy` (any integer dtype, any shape flattened).
pub fn load_labels(path: &Path) -> Result<Vec<usize>> {
    if !path.exists() {
        bail!("labels file {} does not exist", path.display());
    }
    parse_labels(&read(path)?, &path.display().to_string())
}

/// Integer labels from `.npy` bytes (`name` is for messages).
pub fn parse_labels(bytes: &[u8], name: &str) -> Result<Vec<usize>> {
    let npy = Npy::parse(bytes, name)?;
    let vals: Vec<i64> = match npy.kind.as_str() {
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
        other => bail!("{name}: labels must be integers, got dtype {other}"),
    };
    vals.into_iter()
        .enumerate()
        .map(|(i, v)| {
            usize::try_from(v).map_err(|_| anyhow!("{name}: label {v} at index {i} is negative"))
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
/// subfolder in sorted name order). A mix of both, or a class subfolder without images, is
/// refused with what to change: guessing would silently drop images or shift every label.
fn load_folder(dir: &Path, spec: &InputSpec, pixels: PixelRange) -> Result<Dataset> {
    let entries = sorted_entries(dir)?;
    let classes: Vec<&PathBuf> = entries.iter().filter(|p| p.is_dir()).collect();
    let top: Vec<&PathBuf> = entries.iter().filter(|p| is_image(p)).collect();
    let mut files: Vec<(PathBuf, Option<usize>)> = Vec::new();
    if classes.is_empty() {
        files.extend(top.iter().map(|p| ((*p).clone(), None)));
    } else {
        if let Some(first) = top.first() {
            bail!(
                "folder {} mixes {} images at its top level (e.g. {}) with {} subfolder(s) (e.g. {}): give either a flat folder of images (unlabeled) or one subfolder per class with every image inside one, not both",
                dir.display(),
                top.len(),
                file_name(first),
                classes.len(),
                file_name(classes[0])
            );
        }
        for (k, c) in classes.iter().enumerate() {
            let before = files.len();
            for p in sorted_entries(c)?.into_iter().filter(|p| is_image(p)) {
                files.push((p, Some(k)));
            }
            if files.len() == before {
                bail!(
                    "class folder {} (label {k}) has no .png/.jpg images: every subfolder of {} is one class; add its images or remove it (the labels are the subfolders' indices in sorted name order)",
                    c.display(),
                    dir.display()
                );
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

fn file_name(p: &Path) -> String {
    p.file_name()
        .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into())
}

/// CIFAR-10 binary records (label byte + planar 32×32 RGB); `name` is for messages.
pub fn parse_cifar(
    bytes: &[u8],
    name: &str,
    spec: &InputSpec,
    pixels: PixelRange,
) -> Result<Dataset> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(CIFAR_RECORD) {
        bail!(
            "{name} is {} bytes, not a whole number of {CIFAR_RECORD}-byte CIFAR-10 records",
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
        source: format!("{name} ({} records)", samples.len()),
        samples,
        labels: Some(labels),
    })
}
