//! The evaluation record set: the labeled data split into dev and test halves, each clean ID
//! sample paired with shifted copies (CID) at every requested severity and with one OOD
//! stand-in. Every record is an int8 input ready for the executor; nothing here runs a model.
//!
//! * **Split**: samples are ordered by a seeded hash of their index (a deterministic shuffle),
//!   cut to `--limit`, then the first `dev_fraction` become dev and the rest test.
//!   With `--tune-data`, the dev half is that file instead (its own seeded order, also cut to
//!   `--limit`) and every sample of `--data` is test.
//! * **CID**: each ID sample gets one shifted copy per severity; the shift family rotates with
//!   the sample and the severity (`(position + severity) mod families`), so every family
//!   appears at every severity in both halves without multiplying the run time by the number
//!   of families. With `--all-families`, every test sample gets every family at every
//!   severity (a full grid per (family, severity) cell, ×families the CID run time); dev
//!   samples keep the rotation, as tuning does not need the grid. Images are dequantized to 8-bit pixels with the input quantization, corrupted
//!   by `snapuq_eval::shifts::image`, and requantized; other inputs use the feature-domain
//!   shifts of `snapuq_eval::shifts::audio` on the int8 tensor.
//! * **OOD stand-in** (no real OOD set is given to the command): even positions take the ID
//!   sample with its spatial positions (or, for non-image inputs, its elements) permuted by a
//!   seeded permutation — same value histogram, no structure — and odd positions are uniform
//!   noise (pixels in 0..=255 for images, codes in the sample's own int8 range otherwise).
use anyhow::{anyhow, bail, Result};
use snapuq_eval::shifts::audio::{AudioShift, Int8Features};
use snapuq_eval::shifts::image::{Corruption, ImageU8};
use snapuq_eval::streams::SegmentKind;

use crate::data::{Dataset, InputSpec, PixelRange};

/// SplitMix64 finalizer: a fixed, well-mixed hash of `(seed, x)` used for the deterministic
/// shuffles and noise here (no RNG state to thread through, so records are independent).
pub fn mix(seed: u64, x: u64) -> u64 {
    let mut z = seed ^ x.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `0..n` in the order of `mix(seed, i)`.
fn seeded_order(n: usize, seed: u64) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by_key(|&i| (mix(seed, i as u64), i));
    idx
}

/// Which half a record belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Half {
    /// Thresholds, temperatures, baseline fits, dev stream.
    Dev,
    /// Every reported number.
    Test,
}

/// One executor input and what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    pub half: Half,
    pub kind: SegmentKind,
    /// 1..=5 for CID, 0 otherwise.
    pub severity: u8,
    /// Index into [`RecordSet::shift_names`] for CID.
    pub shift: Option<usize>,
    /// Class label (ID and CID only).
    pub label: Option<usize>,
    /// Index of the source sample in its file (`--tune-data` for dev records when given,
    /// else `--data`): the shifted copies and the OOD stand-in of one sample share it.
    pub source: usize,
}

/// Shift families for CID.
#[derive(Debug, Clone, PartialEq)]
pub enum Shifts {
    Image(Vec<Corruption>),
    Audio(Vec<AudioShift>),
}

impl Shifts {
    pub fn names(&self) -> Vec<String> {
        match self {
            Shifts::Image(v) => v.iter().map(|c| c.name().to_string()).collect(),
            Shifts::Audio(v) => v.iter().map(|c| c.name().to_string()).collect(),
        }
    }

    fn len(&self) -> usize {
        match self {
            Shifts::Image(v) => v.len(),
            Shifts::Audio(v) => v.len(),
        }
    }
}

/// How to build the record set.
#[derive(Debug, Clone)]
pub struct RecordConfig {
    pub seed: u64,
    pub severities: Vec<u8>,
    pub shifts: Shifts,
    pub limit: Option<usize>,
    pub dev_fraction: f64,
    pub pixels: PixelRange,
    /// Every family at every severity for every test sample (instead of one rotating family).
    pub all_families: bool,
}

/// Inputs and their descriptions, index-aligned.
pub struct RecordSet {
    pub records: Vec<Record>,
    pub inputs: Vec<Vec<u8>>,
    pub shift_names: Vec<String>,
    /// Human-readable description of the OOD stand-in (goes into the report notes).
    pub ood_note: String,
    /// Human-readable description of the shifts.
    pub shift_note: String,
}

impl RecordSet {
    /// Indices of records matching `f`.
    pub fn select(&self, f: impl Fn(&Record) -> bool) -> Vec<usize> {
        (0..self.records.len())
            .filter(|&i| f(&self.records[i]))
            .collect()
    }
}

/// Pixel conversion between int8 codes and 8-bit pixels for an image input.
struct Pixels<'a> {
    spec: &'a InputSpec,
    factor: f64,
}

impl Pixels<'_> {
    fn to_u8(&self, codes: &[u8]) -> Vec<u8> {
        codes
            .iter()
            .map(|&q| {
                (self.spec.dequantize(q) as f64 / self.factor)
                    .round()
                    .clamp(0.0, 255.0) as u8
            })
            .collect()
    }

    fn to_codes(&self, px: &[u8]) -> Vec<u8> {
        px.iter()
            .map(|&p| self.spec.quantize(p as f64 * self.factor))
            .collect()
    }
}

/// Salt of the seeds of `--tune-data` records, so a tuning sample never shares its shift noise
/// or OOD permutation with the test sample at the same index of the other file.
const TUNE_SALT: u64 = 0x7E4E_D47A;

fn labels_of(ds: &Dataset) -> Result<&[usize]> {
    ds.labels.as_deref().ok_or_else(|| {
        anyhow!(
            "{} has no labels: eval needs labeled data (pass --labels/--tune-labels labels.npy for a .npy, or use a CIFAR .bin / one subfolder per class)",
            ds.source
        )
    })
}

/// Builds dev/test records from a labeled data set, or — with `tune` — dev records from
/// `tune` and test records from every sample of `ds`.
pub fn build(
    spec: &InputSpec,
    ds: &Dataset,
    tune: Option<&Dataset>,
    cfg: &RecordConfig,
) -> Result<RecordSet> {
    labels_of(ds)?;
    if let Some(t) = tune {
        labels_of(t)?;
    }
    if cfg.shifts.len() == 0 {
        bail!("no shift families selected; pass at least one name to --corruptions");
    }
    // (half, dataset, sample index in it, position for the family rotation, seed salt)
    type Planned<'d> = (Half, &'d Dataset, usize, usize, u64);
    let mut plan: Vec<Planned<'_>> = Vec::new();
    match tune {
        None => {
            if !(0.05..=0.95).contains(&cfg.dev_fraction) {
                bail!(
                    "--dev-fraction {} must be between 0.05 and 0.95",
                    cfg.dev_fraction
                );
            }
            let mut order = seeded_order(ds.len(), cfg.seed);
            if let Some(l) = cfg.limit {
                order.truncate(l);
            }
            let n = order.len();
            let n_dev = ((n as f64) * cfg.dev_fraction).round() as usize;
            if n_dev < 2 || n - n_dev < 2 {
                bail!(
                    "{} samples are too few to split into dev and test halves (need at least 4; raise --limit or give more data)",
                    n
                );
            }
            for (pos, &i) in order.iter().enumerate() {
                let half = if pos < n_dev { Half::Dev } else { Half::Test };
                plan.push((half, ds, i, pos, 0));
            }
        }
        Some(t) => {
            for (half, d, salt) in [(Half::Dev, t, TUNE_SALT), (Half::Test, ds, 0)] {
                let mut order = seeded_order(d.len(), cfg.seed ^ salt);
                if let Some(l) = cfg.limit {
                    order.truncate(l);
                }
                if order.len() < 2 {
                    bail!(
                        "{} gives {} samples after --limit: need at least 2 for the {} half",
                        d.source,
                        order.len(),
                        if half == Half::Dev {
                            "dev (--tune-data)"
                        } else {
                            "test (--data)"
                        }
                    );
                }
                for (pos, &i) in order.iter().enumerate() {
                    plan.push((half, d, i, pos, salt));
                }
            }
        }
    }
    let image = spec.image_hwc();
    if matches!(cfg.shifts, Shifts::Image(_)) && image.is_none() {
        bail!(
            "image corruptions need a [1, H, W, 1|3] input but the model input is {:?}; use audio shifts (--corruptions {})",
            spec.shape,
            AudioShift::ALL.map(|a| a.name()).join(",")
        );
    }
    let factor = match cfg.pixels.resolve(spec) {
        PixelRange::Unit => 1.0 / 255.0,
        _ => 1.0,
    };
    let px = Pixels { spec, factor };
    let n_shifts = cfg.shifts.len();
    let mut out = RecordSet {
        records: Vec::new(),
        inputs: Vec::new(),
        shift_names: cfg.shifts.names(),
        ood_note: String::new(),
        shift_note: String::new(),
    };
    let copies = |half: Half| {
        if cfg.all_families && half == Half::Test {
            n_shifts * cfg.severities.len()
        } else {
            cfg.severities.len()
        }
    };
    let total: usize = plan.iter().map(|p| copies(p.0) + 2).sum();
    let bar = crate::pipeline::progress(total as u64, "shifts");
    for &(half, d, i, pos, salt) in &plan {
        let x = &d.samples[i];
        let label = labels_of(d)?.get(i).copied();
        let seed0 = cfg.seed ^ salt;
        out.records.push(Record {
            half,
            kind: SegmentKind::Id,
            severity: 0,
            shift: None,
            label,
            source: i,
        });
        out.inputs.push(x.clone());
        for &s in &cfg.severities {
            // Rotating family (one copy per severity), or every family (--all-families, test
            // half only). The noise seed depends on (sample, severity) only, so the copy a
            // family gets is the same in both modes.
            let families: Vec<usize> = if cfg.all_families && half == Half::Test {
                (0..n_shifts).collect()
            } else {
                vec![(pos + s as usize) % n_shifts]
            };
            let seed = mix(seed0, ((i as u64) << 8) | s as u64);
            for k in families {
                let shifted = shift(&cfg.shifts, k, x, s, seed, spec, image, &px)?;
                out.records.push(Record {
                    half,
                    kind: SegmentKind::Cid,
                    severity: s,
                    shift: Some(k),
                    label,
                    source: i,
                });
                out.inputs.push(shifted);
            }
        }
        out.records.push(Record {
            half,
            kind: SegmentKind::Ood,
            severity: 0,
            shift: None,
            label: None,
            source: i,
        });
        out.inputs.push(ood_stand_in(x, image, &px, seed0, pos));
        bar.inc(copies(half) as u64 + 2);
    }
    bar.finish_and_clear();
    out.ood_note = if image.is_some() {
        "OOD is a stand-in, not a real OOD data set: half pixel-permuted ID images (seeded spatial permutation: same colours, no structure), half uniform-noise images".into()
    } else {
        "OOD is a stand-in, not a real OOD data set: half ID inputs with their elements permuted (seeded), half uniform int8 noise within each sample's own code range".into()
    };
    let layout = if cfg.all_families {
        "every family at every severity for every test sample (--all-families; dev samples keep one rotating family per severity)"
    } else {
        "one corruption per sample and severity (family rotates with the sample)"
    };
    out.shift_note = match &cfg.shifts {
        Shifts::Image(_) => format!(
            "CID: CIFAR-10-C style corruptions, {layout}, severities {:?}, families {}",
            cfg.severities,
            out.shift_names.join(", ")
        ),
        Shifts::Audio(_) => format!(
            "CID: feature-domain approximations of audio shifts (snapuq_eval::shifts::audio; not waveform corruptions), {layout}, severities {:?}, families {}",
            cfg.severities,
            out.shift_names.join(", ")
        ),
    };
    Ok(out)
}

/// Family `k` of `shifts` applied to the int8 input `x` at severity `s`.
#[allow(clippy::too_many_arguments)]
fn shift(
    shifts: &Shifts,
    k: usize,
    x: &[u8],
    s: u8,
    seed: u64,
    spec: &InputSpec,
    image: Option<(usize, usize, usize)>,
    px: &Pixels<'_>,
) -> Result<Vec<u8>> {
    Ok(match shifts {
        Shifts::Image(v) => {
            let (h, w, c) = image.unwrap_or((1, x.len(), 1));
            let img = ImageU8::new(h, w, c, px.to_u8(x)).map_err(|e| anyhow!("{e}"))?;
            let y = v[k]
                .apply(&img, s, seed)
                .map_err(|e| anyhow!("{} at severity {s}: {e}", v[k].name()))?;
            px.to_codes(&y.data)
        }
        Shifts::Audio(v) => {
            let (frames, coeffs) = feature_layout(spec);
            let codes: Vec<i8> = x.iter().map(|&b| b as i8).collect();
            let f = Int8Features {
                data: &codes,
                frames,
                coeffs,
                scale: spec.scale,
                zero_point: spec.zero_point,
            };
            v[k].apply_int8(&f, s, seed)
                .map_err(|e| anyhow!("{} at severity {s}: {e}", v[k].name()))?
                .into_iter()
                .map(|q| q as u8)
                .collect()
        }
    })
}

/// `(frames, coefficients)` of a non-image input `[1, T, F, …]`: the second dimension is time,
/// the rest are coefficients.
pub fn feature_layout(spec: &InputSpec) -> (usize, usize) {
    let dims: Vec<usize> = spec.shape.iter().skip(1).copied().collect();
    match dims.as_slice() {
        [] => (1, 1),
        [f] => (1, *f),
        [t, rest @ ..] => (*t, rest.iter().product()),
    }
}

fn ood_stand_in(
    x: &[u8],
    image: Option<(usize, usize, usize)>,
    px: &Pixels<'_>,
    seed: u64,
    pos: usize,
) -> Vec<u8> {
    let s = mix(seed ^ 0x00D0_00D0, pos as u64);
    match (image, pos % 2) {
        (Some((h, w, c)), 0) => {
            let perm = seeded_order(h * w, s);
            let mut y = Vec::with_capacity(x.len());
            for &p in &perm {
                y.extend_from_slice(&x[p * c..(p + 1) * c]);
            }
            y
        }
        (Some(_), _) => {
            let noise: Vec<u8> = (0..x.len())
                .map(|j| (mix(s, j as u64) & 0xFF) as u8)
                .collect();
            px.to_codes(&noise)
        }
        (None, 0) => seeded_order(x.len(), s).into_iter().map(|j| x[j]).collect(),
        (None, _) => {
            let lo = x.iter().map(|&b| b as i8).min().unwrap_or(-128) as i64;
            let hi = x.iter().map(|&b| b as i8).max().unwrap_or(127) as i64;
            let span = (hi - lo + 1) as u64;
            (0..x.len())
                .map(|j| ((lo + (mix(s, j as u64) % span) as i64) as i8) as u8)
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_order_is_a_deterministic_permutation() {
        let a = seeded_order(50, 7);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        assert_eq!(a, seeded_order(50, 7));
        assert_ne!(a, seeded_order(50, 8));
        assert_ne!(a, (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn feature_layout_splits_time_from_coefficients() {
        let spec = InputSpec {
            tensor: 0,
            shape: vec![1, 49, 10, 1],
            scale: 1.0,
            zero_point: 0,
        };
        assert_eq!(feature_layout(&spec), (49, 10));
    }
}
