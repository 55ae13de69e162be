//! `snap-convert model.tflite --calib … --dev … [-o out]`: the whole pipeline (taps → head
//! fitting on the frozen backbone → int8 quantization → calibrator and τ → attach → report),
//! plus the options shared with the step subcommands (`taps`, `fit`, `calibrate`, `attach`).
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use snapuq_exec::batch::run_batch;
use snapuq_fit::calibrate::ThresholdRule;
use snapuq_fit::heads::{HeadDiagnostics, TapHeads};
use snapuq_fit::report::{ArenaEstimate, FitReport, TapParts};
use snapuq_fit::taps::RankPolicy;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::attach::{self, Plan, PlanTap, PLAN_FORMAT};
use crate::data::{self, Dataset, PixelRange};
use crate::pipeline::{
    self, Backbone, CalibConfig, Calibration, FittedTap, MappingChoice, PartSummary, Site,
};
use crate::shifts::ShiftMix;

/// Fraction of a labeled `--calib` set used for fitting when no `--dev` is given.
const CALIB_SPLIT: f64 = 0.6;
/// Seed of the automatic fit/dev split's shuffle. A shuffle, not file order, because a
/// class-folder tree loads class by class: a file-order cut would fit the heads on some
/// classes and measure the calibrator on the others.
const CALIB_SPLIT_SEED: u64 = 0;

/// Model and tap options.
#[derive(clap::Args, Debug, Clone)]
pub struct TapArgs {
    /// Taps by tensor name or index, comma-separated (default: a mid block and the penultimate block).
    #[arg(long, value_delimiter = ',')]
    pub taps: Option<Vec<String>>,
    /// Projection rank r for every tap (default: the largest of 16/32/64/128 within the budget).
    #[arg(long)]
    pub rank: Option<usize>,
    /// MAC budget per tap as a fraction of the backbone MACs.
    #[arg(long, default_value_t = 0.01)]
    pub rank_budget: f64,
}

impl TapArgs {
    pub fn policy(&self) -> RankPolicy {
        match self.rank {
            Some(r) => RankPolicy::Fixed(r),
            None => RankPolicy::Budget {
                budget_fraction: self.rank_budget,
            },
        }
    }
}

/// Data options.
#[derive(clap::Args, Debug, Clone)]
pub struct DataArgs {
    /// Calibration data (unlabeled): .npy (N × input shape; int8 codes, float32 real values or uint8 pixels), a folder of images, or a CIFAR-10 .bin file.
    #[arg(long)]
    pub calib: Option<PathBuf>,
    /// Use at most this many calibration samples.
    #[arg(long)]
    pub max_calib: Option<usize>,
    /// Labeled dev data for the calibrator: .npy (with --dev-labels), class-subfolder image tree, or CIFAR-10 .bin.
    #[arg(long)]
    pub dev: Option<PathBuf>,
    /// Integer labels (.npy) for a .npy --dev.
    #[arg(long)]
    pub dev_labels: Option<PathBuf>,
    /// Use at most this many dev samples.
    #[arg(long)]
    pub max_dev: Option<usize>,
    /// How 8-bit pixels map to the model's real input range.
    #[arg(long, value_enum, default_value_t = PixelRange::Auto)]
    pub pixel_range: PixelRange,
}

/// Where the calibrator's dev data came from relative to the data the heads were fitted on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DevSource {
    /// `--dev` is a different file from `--calib`.
    #[default]
    SeparateFile,
    /// `--dev` is the same file as `--calib`: the dev figures are in-sample.
    SameFile,
    /// No `--dev`: a labeled `--calib` was split into disjoint fit and dev parts.
    AutoSplit,
    /// No dev data was needed (e.g. the `taps` step).
    None,
}

/// The dev design of a conversion: which samples fitted the heads and which measured the
/// calibrator, so a reader of the report can tell honest dev figures from in-sample ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DevDesign {
    pub source: DevSource,
    /// True when the dev samples are (or include) the samples the heads were fitted on, so the
    /// report's dev AUROCs and coverage are optimistic.
    pub in_sample: bool,
    /// Samples used for fitting, after `--max-calib`.
    pub calib_samples: usize,
    /// Dev samples, after `--max-dev`.
    pub dev_samples: usize,
    /// Which samples went where, in words (file names, index ranges, the rule).
    pub rule: String,
}

impl DataArgs {
    /// Loads the calibration set, and the dev set (or splits a labeled calibration set).
    pub fn load(&self, bb: &Backbone, need_dev: bool) -> Result<(Dataset, Option<Dataset>)> {
        self.load_with_design(bb, need_dev).map(|(c, d, _)| (c, d))
    }

    /// [`DataArgs::load`] plus the dev design. Warns on stderr when `--calib` and `--dev` are
    /// the same file: the dev figures are then measured on the fitting samples.
    pub fn load_with_design(
        &self,
        bb: &Backbone,
        need_dev: bool,
    ) -> Result<(Dataset, Option<Dataset>, DevDesign)> {
        let Some(cp) = &self.calib else {
            bail!("--calib is required: give unlabeled calibration data (.npy, image folder or CIFAR .bin)");
        };
        let mut calib = data::load(cp, None, &bb.input, self.pixel_range)?;
        let mut split_at = None;
        let mut dev = match &self.dev {
            Some(d) => Some(data::load(d, self.dev_labels.as_deref(), &bb.input, self.pixel_range)?),
            None if need_dev && calib.labels.is_some() => {
                let total = calib.len();
                let n = (total as f64 * CALIB_SPLIT).round() as usize;
                split_at = Some((n, total));
                let (c, d) = seeded_split(calib, n, CALIB_SPLIT_SEED);
                calib = c;
                Some(d)
            }
            None if need_dev => bail!(
                "--dev is required: the calibrator needs labeled dev data (.npy with --dev-labels, a class-folder tree, or a CIFAR .bin)"
            ),
            None => None,
        };
        if let Some(m) = self.max_calib {
            calib.truncate(m);
        }
        if let (Some(d), Some(m)) = (dev.as_mut(), self.max_dev) {
            d.truncate(m);
        }
        if let Some(d) = &dev {
            if d.labels.is_none() {
                bail!(
                    "the dev data {} has no labels: give --dev-labels (for .npy), a class-folder tree, or a CIFAR .bin",
                    d.source
                );
            }
            data::check_labels(d, bb.classifier.classes)?;
        }
        let same = match (&self.dev, std::fs::canonicalize(cp)) {
            (Some(d), Ok(c)) => std::fs::canonicalize(d).is_ok_and(|d| d == c),
            _ => false,
        };
        let dev_n = dev.as_ref().map_or(0, Dataset::len);
        let design = match (&self.dev, split_at) {
            (Some(d), _) if same => DevDesign {
                source: DevSource::SameFile,
                in_sample: true,
                calib_samples: calib.len(),
                dev_samples: dev_n,
                rule: format!(
                    "--calib and --dev are the same file ({}): the heads were fitted on samples 0..{} and the dev figures use samples 0..{dev_n} of it, so the dev figures are in-sample (optimistic); give a disjoint --dev, or only a labeled --calib to split it automatically",
                    d.display(),
                    calib.len()
                ),
            },
            (Some(d), _) => DevDesign {
                source: DevSource::SeparateFile,
                in_sample: false,
                calib_samples: calib.len(),
                dev_samples: dev_n,
                rule: format!(
                    "heads fitted on {} ({} samples), dev = {} ({dev_n} samples)",
                    cp.display(),
                    calib.len(),
                    d.display()
                ),
            },
            (None, Some((n, total))) => DevDesign {
                source: DevSource::AutoSplit,
                in_sample: false,
                calib_samples: calib.len(),
                dev_samples: dev_n,
                rule: format!(
                    "automatic disjoint split of the labeled --calib {} ({total} samples): indices ordered by SplitMix64(seed {CALIB_SPLIT_SEED}, index), the first {n} ({:.0}%) fit the heads, the other {} are dev; then --max-calib/--max-dev keep the first {} / {dev_n} of each part",
                    cp.display(),
                    CALIB_SPLIT * 100.0,
                    total - n,
                    calib.len(),
                ),
            },
            (None, None) => DevDesign {
                source: DevSource::None,
                in_sample: false,
                calib_samples: calib.len(),
                dev_samples: 0,
                rule: format!("{} samples of {} (no dev data needed)", calib.len(), cp.display()),
            },
        };
        if design.in_sample {
            eprintln!(
                "WARNING: --calib and --dev are the same file: the dev AUROCs, τ and coverage in the report are IN-SAMPLE (measured on the samples the heads were fitted on) and overstate what a deployment will see. Give a disjoint --dev, or drop --dev to split a labeled --calib automatically."
            );
        }
        Ok((calib, dev, design))
    }
}

/// Splits `ds` into the first `n` samples of a seeded order and the rest (each part keeps the
/// seeded order; sources say which file they came from).
fn seeded_split(ds: Dataset, n: usize, seed: u64) -> (Dataset, Dataset) {
    let mut order: Vec<usize> = (0..ds.len()).collect();
    order.sort_by_key(|&i| (crate::eval::records::mix(seed, i as u64), i));
    let n = n.min(order.len());
    let part = |idx: &[usize], what: &str| Dataset {
        samples: idx.iter().map(|&i| ds.samples[i].clone()).collect(),
        labels: ds
            .labels
            .as_ref()
            .map(|l| idx.iter().map(|&i| l[i]).collect()),
        source: format!("{} [{what} of the seeded split]", ds.source),
    };
    let fit = part(&order[..n], "fit part");
    let dev = part(&order[n..], "dev part");
    (fit, dev)
}

/// Calibrator options.
#[derive(clap::Args, Debug, Clone)]
pub struct CalibArgs {
    /// Label-free mapping: U = σ(β0 + β1·S) (β2 = 0).
    #[arg(long)]
    pub label_free: bool,
    /// The map from the features to U: `classwise` (default: a logistic per predicted class on
    /// ln(1 − C), ln ē per tap and the spatial statistics), `logistic` (the paper's
    /// σ(β0 + β1·S + β2·m)) or `isotonic` (PAV on ψ = γS + (1−γ)m).
    #[arg(long, value_enum, default_value_t = MappingChoice::Classwise)]
    pub mapping: MappingChoice,
    /// Same as `--mapping isotonic` (kept for scripts written before `--mapping`).
    #[arg(long, conflicts_with = "mapping")]
    pub isotonic: bool,
    /// τ so that this fraction of dev samples is accepted (U < τ).
    #[arg(long, default_value_t = 0.90, conflicts_with_all = ["budget", "tau"])]
    pub coverage: f64,
    /// τ so that at most this fraction of dev samples abstains.
    #[arg(long, conflicts_with = "tau")]
    pub budget: Option<f64>,
    /// A fixed τ.
    #[arg(long)]
    pub tau: Option<f64>,
    /// α of m(x) = α(1−C) + (1−α)(1−margin).
    #[arg(long, default_value_t = 0.5)]
    pub alpha: f32,
    /// Synthetic shifts in the dev mix: `auto` (default: the corruption suite for image
    /// inputs, none otherwise), `suite` (all 12 corruption families, each dev sample once per
    /// family at a rotating severity 1–5; docs/converter.md) or `none`. A bare `--shifts` means
    /// `suite`.
    #[arg(long, value_enum, default_value_t = ShiftMix::Auto, num_args = 0..=1, default_missing_value = "suite")]
    pub shifts: ShiftMix,
}

impl CalibArgs {
    pub fn config(&self) -> CalibConfig {
        let rule = match (self.tau, self.budget) {
            (Some(t), _) => ThresholdRule::Fixed(t),
            (None, Some(b)) => ThresholdRule::Budget(b),
            _ => ThresholdRule::Coverage(self.coverage),
        };
        CalibConfig {
            label_free: self.label_free,
            mapping: if self.isotonic {
                MappingChoice::Isotonic
            } else {
                self.mapping
            },
            alpha: self.alpha,
            rule,
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The int8 .tflite model to augment.
    pub model: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub taps: TapArgs,
    #[command(flatten)]
    pub calib: CalibArgs,
    /// Heads trained elsewhere (snapuq-heads/1 JSON, see docs/converter.md) instead of fitting.
    #[arg(long)]
    pub heads: Option<PathBuf>,
    /// Optimizer steps of the log σ² head fit.
    #[arg(long)]
    pub steps: Option<usize>,
    /// Output model (default: <name>.snap.tflite next to the input).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Also write the report as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// Format tag of heads files.
pub const HEADS_FORMAT: &str = "snapuq-heads/1";

/// A heads file: float P and heads per tap (written by `fit`, read by `--heads`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeadsFile {
    pub format: String,
    pub taps: Vec<HeadsTap>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeadsTap {
    /// Tapped tensor a_ℓ: name or index in the model.
    pub tensor: String,
    pub heads: TapHeads,
    /// Written by `fit` for information; ignored on import.
    #[serde(default, skip_deserializing)]
    pub diagnostics: Option<HeadDiagnostics>,
}

impl HeadsFile {
    pub fn read(path: &Path) -> Result<HeadsFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read heads file {}", path.display()))?;
        let h: HeadsFile = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a valid {HEADS_FORMAT} heads file",
                path.display()
            )
        })?;
        if h.format != HEADS_FORMAT {
            bail!(
                "{}: format `{}`, expected `{HEADS_FORMAT}`",
                path.display(),
                h.format
            );
        }
        if h.taps.is_empty() {
            bail!("{}: no taps", path.display());
        }
        Ok(h)
    }

    /// Sites for the taps of the file (rank from the heads).
    pub fn sites(&self, bb: &Backbone) -> Result<Vec<Site>> {
        let mut out = Vec::new();
        for t in &self.taps {
            let mut s = bb.select(
                Some(std::slice::from_ref(&t.tensor)),
                RankPolicy::Fixed(t.heads.rank),
            )?;
            out.append(&mut s);
        }
        Ok(out)
    }
}

/// Per-tap numbers of the report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TapSummary {
    pub name: String,
    pub tensor: usize,
    pub previous_tensor: usize,
    pub rank: usize,
    pub c_in: usize,
    pub c_out: usize,
    pub weight: f64,
    /// E[ē] of the int8 kernels on held-out calibration samples (App. G.8: ≈ 1).
    pub ebar_mean_holdout: f64,
    pub int8_vs_float_max_rel: f64,
    pub int8_vs_float_mean_rel: f64,
}

/// A host run of the written model on the ID dev samples, compared with the converter's numbers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostCheck {
    pub samples: usize,
    /// max |U_host − U_converter|.
    pub max_abs_u_diff: f64,
    /// The augmented model's original outputs equal the backbone's, byte for byte.
    pub original_outputs_identical: bool,
    /// Coverage (U < τ) of the host run.
    pub host_coverage: f64,
}

/// The conversion report (text and `--json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConvertReport {
    pub model: String,
    pub output: String,
    pub calib_samples: usize,
    pub taps: Vec<TapSummary>,
    pub fit: FitReport,
    pub dev_parts: Vec<PartSummary>,
    pub tau: f32,
    /// U of every ID dev sample (converter arithmetic), for reproducing on a host or device.
    pub dev_u: Vec<f32>,
    pub host_check: HostCheck,
    /// Which samples fitted the heads and which measured the calibrator; `in_sample` marks
    /// dev figures measured on fitting samples.
    #[serde(default)]
    pub dev_design: DevDesign,
    pub seconds: f64,
}

/// Fitted taps for `args`: imported heads or a fresh fit on the calibration data.
pub fn fitted_taps(
    bb: &Backbone,
    resolver: &snapuq_exec::OpResolver<'_>,
    taps: &TapArgs,
    heads: Option<&Path>,
    calib: &Dataset,
    steps: Option<usize>,
) -> Result<Vec<FittedTap>> {
    let (sites, imported) = match heads {
        Some(p) => {
            let h = HeadsFile::read(p)?;
            let sites = h.sites(bb)?;
            (
                sites,
                Some(h.taps.into_iter().map(|t| t.heads).collect::<Vec<_>>()),
            )
        }
        None => (bb.select(taps.taps.as_deref(), taps.policy())?, None),
    };
    let acts = pipeline::tap_activations(bb, resolver, &sites, calib, "calibration")?;
    pipeline::fit_sites(&sites, &acts, imported.as_deref(), steps)
}

/// The plan for fitted taps and a calibration.
pub fn make_plan(bb: &Backbone, taps: &[FittedTap], cal: &Calibration) -> Plan {
    Plan {
        format: PLAN_FORMAT.into(),
        taps: taps
            .iter()
            .map(|t| PlanTap {
                site: t.site.clone(),
                quantized: t.quantized.clone(),
                weight: t.weight,
            })
            .collect(),
        classifier: bb.classifier,
        alpha: cal.alpha,
        calibrator: cal.calibrator.clone(),
        tau: cal.operating_point.tau,
    }
}

pub fn run(args: &Args) -> Result<()> {
    let t0 = Instant::now();
    let bb = Backbone::load(&args.model)?;
    let out = args
        .output
        .clone()
        .unwrap_or_else(|| attach::default_output(&args.model));
    attach::check_output(&args.model, &out)?;
    attach::check_writable(&out)?;
    let resolver = pipeline::resolver()?;
    // A model problem is reported before any data is read: no point loading calibration data
    // for a backbone without a tap.
    bb.require_taps()?;
    let (calib, dev, design) = args.data.load_with_design(&bb, true)?;
    let dev = dev.context("no dev data")?;
    let taps = fitted_taps(
        &bb,
        &resolver,
        &args.taps,
        args.heads.as_deref(),
        &calib,
        args.steps,
    )?;
    let parts = pipeline::dev_parts(
        &bb,
        &resolver,
        &taps,
        &dev,
        args.calib.shifts.resolve(&bb.input),
        args.calib.config().mapping.stats(),
        args.data.pixel_range,
    )?;
    let cal = pipeline::calibrate(&taps, &bb.classifier, &parts, &args.calib.config())?;
    let plan = make_plan(&bb, &taps, &cal);
    let (model, attached) = attach::attach(&bb, &plan)?;
    let bytes = model.to_bytes()?;

    // Host run of the written model on the ID dev samples.
    let n_id = dev.len();
    let res = run_batch(&bytes, &resolver, &dev.samples, &[])
        .map_err(|e| anyhow::anyhow!("running the augmented model: {}", e))?;
    let mut max_diff = 0f64;
    let mut identical = true;
    let mut accepted = 0usize;
    let n_orig = bb.model.outputs().len();
    for (i, r) in res.iter().enumerate() {
        let u = f32_of(&r.outputs[attached.u_output]);
        max_diff = max_diff.max((u as f64 - cal.u[i] as f64).abs());
        accepted += (u < plan.tau) as usize;
        identical &= r.outputs[..n_orig] == parts[0].outputs[i][..];
    }
    let host = HostCheck {
        samples: n_id,
        max_abs_u_diff: max_diff,
        original_outputs_identical: identical,
        host_coverage: accepted as f64 / n_id.max(1) as f64,
    };
    let opts = snapuq_exec::Options::default();
    let arena = ArenaEstimate {
        before_bytes: snapuq_exec::arena_bytes_needed(&bb.bytes, &resolver, opts)
            .map_err(|e| anyhow::anyhow!("arena of the backbone: {}", e))?
            as u64,
        after_bytes: snapuq_exec::arena_bytes_needed(&bytes, &resolver, opts)
            .map_err(|e| anyhow::anyhow!("arena of the augmented model: {}", e))?
            as u64,
    };
    let report = build_report(
        &args.model,
        &out,
        &bb,
        &taps,
        &cal,
        &attached,
        calib.len(),
        host,
        arena,
        design,
        t0,
    )?;
    attach::write_atomic(&out, &bytes)?;
    print_report(&report);
    if let Some(j) = &args.json {
        write_json(j, &report)?;
    }
    Ok(())
}

pub fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(v)?;
    attach::write_atomic(path, text.as_bytes())
}

pub fn f32_of(b: &[u8]) -> f32 {
    b.get(..4)
        .map_or(f32::NAN, |c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
}

#[allow(clippy::too_many_arguments)]
fn build_report(
    model: &Path,
    out: &Path,
    bb: &Backbone,
    taps: &[FittedTap],
    cal: &Calibration,
    attached: &attach::Attached,
    calib_samples: usize,
    host: HostCheck,
    arena: ArenaEstimate,
    dev_design: DevDesign,
    t0: Instant,
) -> Result<ConvertReport> {
    let parts: Vec<TapParts<'_>> = taps
        .iter()
        .map(|t| TapParts {
            choice: &t.site.choice,
            weight: t.weight,
            diagnostics: &t.diagnostics,
            quantized: &t.quantized,
            int8_error: Some(t.int8_error),
            spatial_in: t.site.spatial_in,
            spatial_out: t.site.spatial_out,
        })
        .collect();
    let mut fit = FitReport::new(
        &parts,
        bb.macs,
        attached.calibrate_cost,
        cal.calibrator.clone(),
        cal.alpha,
        cal.operating_point,
        cal.dev.len(),
        cal.dev.n_wrong(),
    )?;
    fit.dev_auroc = cal.auroc;
    fit.arena = Some(arena);
    if host.max_abs_u_diff != 0.0 {
        fit.notes.push(format!(
            "host run of the written model differs from the converter's U by up to {}",
            fmt_diff(host.max_abs_u_diff)
        ));
    }
    if let Some(w) = cal
        .parts
        .first()
        .and_then(|p| dev_accuracy_warning(p.samples, p.wrong, bb.classifier.classes))
    {
        eprintln!("warning: {w}");
        fit.notes.push(w);
    }
    let n_id = cal.parts.first().map_or(0, |p| p.samples);
    Ok(ConvertReport {
        model: model.display().to_string(),
        output: out.display().to_string(),
        calib_samples,
        taps: taps
            .iter()
            .map(|t| TapSummary {
                name: t.site.choice.name.clone(),
                tensor: t.site.choice.tensor,
                previous_tensor: t.site.choice.previous_tensor,
                rank: t.quantized.rank,
                c_in: t.quantized.c_in,
                c_out: t.quantized.c_out,
                weight: t.weight,
                ebar_mean_holdout: t.ebar_mean,
                int8_vs_float_max_rel: t.int8_error.max_rel,
                int8_vs_float_mean_rel: t.int8_error.mean_rel,
            })
            .collect(),
        fit,
        dev_parts: cal.parts.clone(),
        tau: cal.operating_point.tau,
        dev_u: cal.u[..n_id].to_vec(),
        host_check: host,
        dev_design,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// A dev accuracy near chance almost always means the data does not match the model (a
/// layout mix-up, a wrong pixel range, labels from another class order), and the fitted
/// calibrator is then meaningless; say so with the likely causes.
fn dev_accuracy_warning(samples: usize, wrong: usize, classes: usize) -> Option<String> {
    if samples < 20 || classes < 2 {
        return None;
    }
    let acc = 1.0 - wrong as f64 / samples as f64;
    let chance = 1.0 / classes as f64;
    (acc < (2.0 * chance).min(0.5)).then(|| {
        format!(
            "dev accuracy is {acc:.3}, near chance ({chance:.3} for {classes} classes): the dev data probably does not match the model; check the layout (channels last, N × H × W × C), --pixel-range and that the labels use the model's class order"
        )
    })
}

/// `|ΔU|` for the report: `0` when identical, else 3 significant digits (not `0e0`).
fn fmt_diff(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else {
        format!("{v:.2e}")
    }
}

fn opt(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.3}"))
}

pub fn print_report(r: &ConvertReport) {
    let f = &r.fit;
    println!("snap-convert: {} -> {}", r.model, r.output);
    println!(
        "calibration samples: {}, dev samples: {} ({} wrong)",
        r.calib_samples, f.dev_samples, f.dev_wrong
    );
    println!("dev design: {}", r.dev_design.rule);
    if r.dev_design.in_sample {
        println!(
            "WARNING: the dev figures below are IN-SAMPLE (--calib and --dev are the same file)"
        );
    }
    println!("taps:");
    for t in &r.taps {
        println!(
            "  {:<40} tensor {:>3} <- {:>3}  r={:<3} C_in={:<4} C_out={:<4} w={:.3}  E[ē] held-out={:.3}  int8 vs float ē: mean {:.2}% max {:.2}%",
            t.name, t.tensor, t.previous_tensor, t.rank, t.c_in, t.c_out, t.weight,
            t.ebar_mean_holdout, 100.0 * t.int8_vs_float_mean_rel, 100.0 * t.int8_vs_float_max_rel
        );
    }
    println!(
        "added: {} parameter bytes, {} MACs ({:.3}% of the backbone's {} MACs)",
        f.added_param_bytes, f.added_macs, f.added_macs_percent, f.backbone_macs
    );
    if let Some(a) = f.arena {
        println!("arena: {} -> {} bytes", a.before_bytes, a.after_bytes);
    }
    println!(
        "dev AUROC (wrong vs correct){}:",
        if r.dev_design.in_sample {
            " — IN-SAMPLE, optimistic"
        } else {
            ""
        }
    );
    println!(
        "  {:<24} {:>6} {:>6} {:>8} {:>8} {:>8}",
        "part", "n", "wrong", "U", "MSP", "entropy"
    );
    for p in &r.dev_parts {
        println!(
            "  {:<24} {:>6} {:>6} {:>8} {:>8} {:>8}",
            p.name,
            p.samples,
            p.wrong,
            opt(p.auroc_u),
            opt(p.auroc_msp),
            opt(p.auroc_entropy)
        );
    }
    if let Some(a) = f.dev_auroc {
        println!(
            "  {:<24} {:>6} {:>6} {:>8.3} {:>8.3} {:>8.3}",
            "all", f.dev_samples, f.dev_wrong, a.u, a.msp, a.entropy
        );
    }
    let op = &f.operating_point;
    println!(
        "tau = {:.6} ({:?}): dev coverage {:.3}, selective risk {:.3} (risk without abstention {:.3})",
        op.tau, op.rule, op.coverage, op.selective_risk, op.full_risk
    );
    println!(
        "host check: {} ID dev samples, max |ΔU| = {}, original outputs identical: {}, coverage {:.3}",
        r.host_check.samples, fmt_diff(r.host_check.max_abs_u_diff), r.host_check.original_outputs_identical, r.host_check.host_coverage
    );
    for n in &f.notes {
        println!("note: {n}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_split_is_disjoint_deterministic_and_mixes_classes() {
        // Class-sorted like a class-folder tree: a file-order cut would give the dev part
        // only the last classes.
        let ds = Dataset {
            samples: (0..100u8).map(|i| vec![i]).collect(),
            labels: Some((0..100).map(|i| i / 10).collect()),
            source: "tree".into(),
        };
        let (fit, dev) = seeded_split(ds.clone(), 60, CALIB_SPLIT_SEED);
        assert_eq!((fit.len(), dev.len()), (60, 40));
        let mut all: Vec<u8> = fit
            .samples
            .iter()
            .chain(&dev.samples)
            .map(|s| s[0])
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..100u8).collect::<Vec<_>>());
        for part in [&fit, &dev] {
            let mut classes: Vec<usize> = part.labels.clone().unwrap();
            classes.sort_unstable();
            classes.dedup();
            assert_eq!(classes.len(), 10, "{}", part.source);
            // Labels still belong to their samples.
            for (s, &l) in part.samples.iter().zip(part.labels.as_ref().unwrap()) {
                assert_eq!(s[0] as usize / 10, l);
            }
        }
        let (again, _) = seeded_split(ds, 60, CALIB_SPLIT_SEED);
        assert_eq!(again.samples, fit.samples);
    }
}
