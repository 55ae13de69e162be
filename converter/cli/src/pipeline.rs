//! The conversion pipeline shared by `snap-convert` and its step subcommands: taps, head
//! fitting on the frozen backbone, int8 quantization, calibration on labeled dev data.
//! Attaching the ops to the model is in [`crate::attach`].
//!
//! Everything the device recomputes is computed here with the device's own kernels: `ē` with
//! [`QuantizedTap::run`] (the SNAP_PROJECT/SNAP_SURPRISAL kernels on the raw int8 tensors the
//! executor produced), `S`, `m`, `U` with the SNAP_CALIBRATE float32 code inside `snapuq-fit`.
//! So τ and the dev coverage in the report are what a host or device run of the written model
//! reproduces.
use anyhow::{anyhow, bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use snapuq_exec::batch::run_batch;
use snapuq_exec::OpResolver;
use snapuq_fit::calibrate::{
    self, Calibrator, ClassifierInput, DevPart, DevSet, OperatingPoint, ThresholdRule,
};
use snapuq_fit::heads::{fit_tap, HeadConfig, HeadDiagnostics, TapHeads};
use snapuq_fit::quantize::{
    pooled_previous, pooled_realized, quant_error, quantize_tap, ActQuant, QuantConfig, QuantError,
    QuantizedTap,
};
use snapuq_fit::taps::{self, PreviousActivation, RankPolicy, TapChoice};
use snapuq_model::{BuiltinOperator, Model, OpCode, TensorType};
use snapuq_ops::calibrate::ClassifierKind;

use crate::data::{Dataset, InputSpec};

/// Samples run per executor batch (bounds memory: only pooled vectors are kept per batch).
const CHUNK: usize = 256;
/// Held-out calibration samples: every `HOLDOUT_EVERY`-th (the same split as `fit_tap`).
const HOLDOUT_EVERY: usize = 5;

/// The backbone model and what the pipeline needs to know about it.
pub struct Backbone {
    pub model: Model,
    pub bytes: Vec<u8>,
    pub input: InputSpec,
    pub classifier: ClassifierSpec,
    pub macs: u64,
}

/// The tensor SNAP_CALIBRATE reads as the classifier output.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassifierSpec {
    pub tensor: usize,
    /// Index among the model outputs.
    pub output: usize,
    pub classes: usize,
    /// `true`: probabilities (the model ends in SOFTMAX); `false`: logits.
    pub probs: bool,
    pub int8: bool,
    pub scale: f32,
    pub zero_point: i32,
}

impl ClassifierSpec {
    pub fn kind(&self) -> ClassifierKind {
        if self.probs {
            ClassifierKind::Probs
        } else {
            ClassifierKind::Logits
        }
    }

    pub fn input(&self) -> ClassifierInput {
        ClassifierInput {
            classes: self.classes,
            kind: self.kind(),
            scale: self.scale,
            zero_point: self.zero_point,
        }
    }

    /// Dequantized output bytes of one sample (as SNAP_CALIBRATE sees them).
    pub fn values(&self, bytes: &[u8]) -> Vec<f32> {
        if self.int8 {
            let q: Vec<i8> = bytes.iter().map(|&b| b as i8).collect();
            calibrate::dequantize_classifier(&q, self.scale, self.zero_point)
        } else {
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        }
    }
}

/// A resolver with the SNAP ops registered (so augmented models run too).
pub fn resolver() -> Result<OpResolver<'static>> {
    let mut r = OpResolver::new();
    snapuq_exec::snap::register(&mut r)
        .map_err(|e| anyhow!("cannot register the SNAP ops: {}", e))?;
    Ok(r)
}

impl Backbone {
    pub fn load(path: &std::path::Path) -> Result<Backbone> {
        if !path.exists() {
            bail!("model file {} does not exist", path.display());
        }
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let model = Model::from_bytes(&bytes)
            .with_context(|| format!("{} is not a valid .tflite model", path.display()))?;
        let input = InputSpec::of(&model)?;
        if input.shape.first().copied().unwrap_or(1) != 1 {
            bail!(
                "the model input has batch dimension {:?}; snap-convert needs batch 1",
                input.shape
            );
        }
        let classifier = classifier_of(&model)?;
        let macs = model.total_cost().macs;
        Ok(Backbone {
            model,
            bytes,
            input,
            classifier,
            macs,
        })
    }

    /// Tap candidates in the fitting crate's terms.
    pub fn candidates(&self) -> Vec<taps::TapCandidate> {
        self.model
            .tap_candidates()
            .into_iter()
            .map(|c| {
                let spatial = |t: usize| spatial_of(self.model.tensor_shape(t));
                let usable = self.act_quant(c.prev_tensor).and(self.act_quant(c.tensor));
                let reason = match &usable {
                    Ok(_) => None,
                    Err(e) => Some(format!("{e:#}")),
                };
                taps::TapCandidate {
                    tensor: c.tensor,
                    name: c.name.clone(),
                    c_out: c.channels,
                    out_hw: spatial(c.tensor),
                    previous: usable.ok().map(|_| PreviousActivation {
                        tensor: c.prev_tensor,
                        c_in: c.prev_channels,
                        in_hw: spatial(c.prev_tensor),
                    }),
                    unusable_reason: reason,
                    position: c.producer,
                }
            })
            .collect()
    }

    /// Per-tensor int8 quantization of an activation.
    pub fn act_quant(&self, t: usize) -> Result<ActQuant> {
        if self.model.tensor_type(t) != Some(TensorType::INT8) {
            bail!("tensor {t} is not int8");
        }
        let q = self
            .model
            .quantization(t)
            .filter(|q| q.scale.len() == 1)
            .ok_or_else(|| anyhow!("tensor {t} has no per-tensor quantization"))?;
        Ok(ActQuant {
            scale: q.scale[0],
            zero_point: q.zero_point.first().copied().unwrap_or(0) as i32,
        })
    }

    /// Fails when the backbone offers no tap at all.
    pub fn require_taps(&self) -> Result<()> {
        if self.candidates().is_empty() {
            bail!("the model has no usable tap: no block output (residual ADD, conv/pool block end, dense layer) with an int8 previous activation was found; snap-convert needs a conv/dense backbone");
        }
        Ok(())
    }

    /// Chooses taps (`--taps` or the default mid + penultimate) and ranks.
    pub fn select(&self, requested: Option<&[String]>, policy: RankPolicy) -> Result<Vec<Site>> {
        self.require_taps()?;
        let cands = self.candidates();
        let choices = taps::select_taps(&cands, requested, self.macs, policy)?;
        choices.into_iter().map(|c| self.site(c)).collect()
    }

    /// A [`Site`] for a choice.
    pub fn site(&self, choice: TapChoice) -> Result<Site> {
        let m = &self.model;
        let producer = m
            .producer(choice.tensor)
            .ok_or_else(|| anyhow!("tap tensor {} has no producer", choice.tensor))?;
        Ok(Site {
            prev: self.act_quant(choice.previous_tensor)?,
            act: self.act_quant(choice.tensor)?,
            spatial_in: spatial_of(m.tensor_shape(choice.previous_tensor)),
            spatial_out: spatial_of(m.tensor_shape(choice.tensor)),
            project_at: m.producer(choice.previous_tensor).map_or(0, |p| p + 1),
            surprisal_at: producer + 1,
            choice,
        })
    }

    /// Runs the backbone on `data`, keeping the raw bytes of `tensors` (concatenated over
    /// samples, one vector per tensor) and of the classifier output (one per sample).
    pub fn collect(
        &self,
        resolver: &OpResolver<'_>,
        data: &Dataset,
        tensors: &[usize],
        what: &str,
    ) -> Result<Collected> {
        let per = self.input.elements();
        if let Some((i, s)) = data
            .samples
            .iter()
            .enumerate()
            .find(|(_, s)| s.len() != per)
        {
            bail!(
                "shape mismatch: sample {i} of {} has {} values but the model input {:?} needs {per}",
                data.source,
                s.len(),
                self.input.shape
            );
        }
        let bar = progress(data.len() as u64, what);
        let mut out = Collected {
            tensors: vec![Vec::new(); tensors.len()],
            classifier: Vec::with_capacity(data.len()),
            outputs: Vec::with_capacity(data.len()),
        };
        for chunk in data.samples.chunks(CHUNK) {
            let res = run_batch(&self.bytes, resolver, chunk, tensors)
                .map_err(|e| anyhow!("executor failed on {}: {}", data.source, e))?;
            for r in res {
                for (dst, src) in out.tensors.iter_mut().zip(&r.taps) {
                    dst.extend(src.iter().map(|&b| b as i8));
                }
                out.classifier.push(
                    r.outputs
                        .get(self.classifier.output)
                        .cloned()
                        .unwrap_or_default(),
                );
                out.outputs.push(r.outputs);
            }
            bar.inc(chunk.len() as u64);
        }
        bar.finish_and_clear();
        Ok(out)
    }

    /// Classifier values of every sample, flattened (`classes` per sample).
    pub fn classifier_values(&self, c: &Collected) -> Vec<f32> {
        c.classifier
            .iter()
            .flat_map(|b| self.classifier.values(b))
            .collect()
    }
}

/// What [`Backbone::collect`] returns.
pub struct Collected {
    pub tensors: Vec<Vec<i8>>,
    pub classifier: Vec<Vec<u8>>,
    pub outputs: Vec<Vec<Vec<u8>>>,
}

/// A chosen tap with its model facts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Site {
    pub choice: TapChoice,
    pub prev: ActQuant,
    pub act: ActQuant,
    pub spatial_in: usize,
    pub spatial_out: usize,
    /// Operator positions (in the original model) where SNAP_PROJECT / SNAP_SURPRISAL go:
    /// right after the producers of `a_{ℓ-1}` and `a_ℓ`.
    pub project_at: usize,
    pub surprisal_at: usize,
}

/// Product of the middle dims of `[N, …, C]` (1 for rank ≤ 2).
pub fn spatial_of(shape: &[i32]) -> usize {
    if shape.len() <= 2 {
        1
    } else {
        shape[1..shape.len() - 1]
            .iter()
            .map(|&d| d.max(1) as usize)
            .product()
    }
}

fn classifier_of(model: &Model) -> Result<ClassifierSpec> {
    let outs = model.outputs();
    let &t = outs
        .first()
        .ok_or_else(|| anyhow!("the model has no outputs"))?;
    let t = t as usize;
    let shape = model.tensor_shape(t);
    let classes = shape.last().copied().unwrap_or(0).max(0) as usize;
    // Checked: a corrupt shape must be refused below, not overflow.
    let elems = shape
        .iter()
        .try_fold(1i64, |a, &d| a.checked_mul(i64::from(d.max(1))));
    if classes < 2 || elems != Some(classes as i64) {
        bail!(
            "the model's first output `{}` has shape {:?}; snap-convert needs a classifier output [1, classes] with at least 2 classes",
            model.tensor_name(t),
            shape
        );
    }
    let dtype = model.tensor_type(t);
    let int8 = match dtype {
        Some(TensorType::INT8) => true,
        Some(TensorType::FLOAT32) => false,
        _ => bail!(
            "the classifier output `{}` is {}; SNAP_CALIBRATE reads int8 or float32",
            model.tensor_name(t),
            dtype.map_or("of unknown type".into(), snapuq_model::dtype_name)
        ),
    };
    let (scale, zero_point) = match model.quantization(t).filter(|q| !q.scale.is_empty()) {
        Some(q) => (
            q.scale[0],
            q.zero_point.first().copied().unwrap_or(0) as i32,
        ),
        None if int8 => bail!("the int8 classifier output has no quantization"),
        None => (1.0, 0),
    };
    let probs = model
        .producer(t)
        .and_then(|p| model.op_code(p))
        .is_some_and(|c| c == OpCode::Builtin(BuiltinOperator::SOFTMAX));
    Ok(ClassifierSpec {
        tensor: t,
        output: 0,
        classes,
        probs,
        int8,
        scale,
        zero_point,
    })
}

pub fn progress(n: u64, what: &str) -> ProgressBar {
    let bar = if n >= 200 {
        ProgressBar::new(n)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

/// Raw activations of the taps on a data set: `(a_{ℓ-1}, a_ℓ)` per site.
pub struct TapActivations {
    pub pairs: Vec<(Vec<i8>, Vec<i8>)>,
    pub collected_classifier: Vec<f32>,
    pub outputs: Vec<Vec<Vec<u8>>>,
    pub n: usize,
}

pub fn tap_activations(
    bb: &Backbone,
    resolver: &OpResolver<'_>,
    sites: &[Site],
    data: &Dataset,
    what: &str,
) -> Result<TapActivations> {
    let tensors: Vec<usize> = sites
        .iter()
        .flat_map(|s| [s.choice.previous_tensor, s.choice.tensor])
        .collect();
    let mut c = bb.collect(resolver, data, &tensors, what)?;
    let cls = bb.classifier_values(&c);
    let mut pairs = Vec::with_capacity(sites.len());
    let mut it = std::mem::take(&mut c.tensors).into_iter();
    while let (Some(a), Some(b)) = (it.next(), it.next()) {
        pairs.push((a, b));
    }
    Ok(TapActivations {
        pairs,
        collected_classifier: cls,
        outputs: c.outputs,
        n: data.len(),
    })
}

/// One fitted (or imported) and quantized tap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedTap {
    pub site: Site,
    pub heads: TapHeads,
    pub diagnostics: HeadDiagnostics,
    pub quantized: QuantizedTap,
    /// Int8 vs float ē on the held-out calibration samples.
    pub int8_error: QuantError,
    /// Var and mean of the int8 ē on the held-out calibration samples.
    pub ebar_var: f64,
    pub ebar_mean: f64,
    pub weight: f64,
}

fn holdout<T: Copy>(flat: &[T], per: usize, n: usize) -> Vec<T> {
    (0..n)
        .filter(|i| i % HOLDOUT_EVERY == HOLDOUT_EVERY - 1)
        .flat_map(|i| flat[i * per..(i + 1) * per].iter().copied())
        .collect()
}

/// Fits (or, with `imported`, takes) the heads of every site on the calibration activations,
/// quantizes them, measures the int8 error and E[ē] on the held-out split, and sets the
/// inverse-variance tap weights.
pub fn fit_sites(
    sites: &[Site],
    acts: &TapActivations,
    imported: Option<&[TapHeads]>,
    steps: Option<usize>,
) -> Result<Vec<FittedTap>> {
    let mut out = Vec::with_capacity(sites.len());
    for (k, (site, (a_prev, a))) in sites.iter().zip(&acts.pairs).enumerate() {
        let c_in = site.choice.c_in;
        let c_out = site.choice.c_out;
        let x = pooled_previous(a_prev, site.spatial_in, c_in, site.prev);
        let y = pooled_realized(a, site.spatial_out, c_out, site.act);
        let per_in = site.spatial_in * c_in;
        let per_out = site.spatial_out * c_out;
        let hp = holdout(a_prev, per_in, acts.n);
        let ha = holdout(a, per_out, acts.n);
        let (heads, diag_fit) = match imported {
            Some(h) => {
                let h = h[k].clone();
                if h.c_in != c_in || h.c_out != c_out {
                    bail!(
                        "imported heads for tap `{}`: C_in × C_out = {} × {} but the model's tap is {} × {}",
                        site.choice.name, h.c_in, h.c_out, c_in, c_out
                    );
                }
                (h, None)
            }
            None => {
                let cfg = HeadConfig {
                    rank: site.choice.rank,
                    prev_quant: Some((site.prev.scale, site.prev.zero_point)),
                    steps: steps.unwrap_or(HeadConfig::default().steps),
                    ..HeadConfig::default()
                };
                let (h, d) = fit_tap(&x, &y, c_in, c_out, &cfg)
                    .with_context(|| format!("fitting tap `{}`", site.choice.name))?;
                (h, Some(d))
            }
        };
        let quantized = quantize_tap(&heads, site.prev, site.act, &x, &QuantConfig::default())
            .with_context(|| format!("quantizing tap `{}`", site.choice.name))?;
        if ha.is_empty() {
            bail!(
                "too few samples: {} calibration samples leave no held-out sample (need at least {HOLDOUT_EVERY})",
                acts.n
            );
        }
        let err = quant_error(
            &heads,
            &quantized,
            &hp,
            site.spatial_in,
            &ha,
            site.spatial_out,
        )?;
        let e = quantized.run(&hp, site.spatial_in, &ha, site.spatial_out)?;
        let n = e.len() as f64;
        let mean = e.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = e.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
        let diagnostics = diag_fit.unwrap_or_else(|| HeadDiagnostics {
            n_train: 0,
            n_holdout: e.len(),
            explained_variance: f64::NAN,
            mu_r2_holdout: f64::NAN,
            nll_start: f64::NAN,
            nll_end: f64::NAN,
            ebar_mean_train: f64::NAN,
            ebar_mean_holdout: mean,
            ebar_var_holdout: var,
            ebar_var_expected: 2.0 / c_out as f64,
            clamped_low: f64::NAN,
            clamped_high: f64::NAN,
            sanity_ok: (0.5..=2.0).contains(&mean),
        });
        out.push(FittedTap {
            site: site.clone(),
            heads,
            diagnostics,
            quantized,
            int8_error: err,
            ebar_var: var,
            ebar_mean: mean,
            weight: 0.0,
        });
    }
    let vars: Vec<f64> = out.iter().map(|t| t.ebar_var).collect();
    let w = snapuq_fit::heads::tap_weights(&vars)?;
    for (t, w) in out.iter_mut().zip(w) {
        t.weight = w;
    }
    Ok(out)
}

/// ē per tap (kernel arithmetic) of already collected activations.
pub fn ebars(taps: &[FittedTap], acts: &TapActivations) -> Result<Vec<Vec<f32>>> {
    taps.iter()
        .zip(&acts.pairs)
        .map(|(t, (p, a))| {
            Ok(t.quantized
                .run(p, t.site.spatial_in, a, t.site.spatial_out)?)
        })
        .collect()
}

/// Calibrator settings.
#[derive(Debug, Clone, Copy)]
pub struct CalibConfig {
    pub label_free: bool,
    pub mapping: MappingChoice,
    pub alpha: f32,
    pub rule: ThresholdRule,
}

/// The SNAP_CALIBRATE mapping the converter fits.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum MappingChoice {
    /// Per-predicted-class logistic on ln(1 − C) with ln ē and spatial statistics (default).
    #[default]
    Classwise,
    /// The paper's 3-parameter logistic σ(β0 + β1·S + β2·m) (eq. 11).
    Logistic,
    /// Isotonic (PAV) map of ψ = γS + (1−γ)m (App. J).
    Isotonic,
}

/// SNAP_PROJECT stats inputs the classwise mapping reads (the first tap's `a_{ℓ−1}`: the
/// earliest, highest-resolution activation the kit already pools).
pub const CLASSWISE_STATS: usize = 1;

impl MappingChoice {
    /// Stats inputs this mapping reads.
    pub fn stats(self) -> usize {
        match self {
            MappingChoice::Classwise => CLASSWISE_STATS,
            _ => 0,
        }
    }
}

/// One labeled dev part's per-sample values.
pub struct DevData {
    pub name: String,
    pub ebar: Vec<Vec<f32>>,
    pub classifier: Vec<f32>,
    pub labels: Vec<usize>,
    pub shifted: bool,
    /// SNAP_PROJECT stats per stats input (`[N, 2]` each, classwise mapping).
    pub stats: Vec<Vec<f32>>,
    /// Raw model outputs per sample.
    pub outputs: Vec<Vec<Vec<u8>>>,
}

/// The fitted calibrator with its dev evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub calibrator: Calibrator,
    pub alpha: f32,
    pub operating_point: OperatingPoint,
    pub dev: DevSet,
    /// U per dev sample (kernel arithmetic), in dev order (ID part first).
    pub u: Vec<f32>,
    pub auroc: Option<snapuq_fit::report::DevAuroc>,
    /// Per part: name, samples, wrong, AUROC of U / MSP / entropy.
    pub parts: Vec<PartSummary>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartSummary {
    pub name: String,
    pub samples: usize,
    pub wrong: usize,
    pub auroc_u: Option<f64>,
    pub auroc_msp: Option<f64>,
    pub auroc_entropy: Option<f64>,
}

/// Probabilities from classifier values (softmax for logits).
fn probs_of(values: &[f32], classes: usize, probs: bool) -> Vec<f64> {
    values
        .chunks_exact(classes)
        .flat_map(|row| {
            if probs {
                row.iter().map(|&v| v as f64).collect::<Vec<_>>()
            } else {
                let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
                let e: Vec<f64> = row.iter().map(|&v| (v as f64 - m).exp()).collect();
                let s: f64 = e.iter().sum();
                e.into_iter().map(|v| v / s).collect()
            }
        })
        .collect()
}

/// AUROCs of U, MSP (1 − C) and entropy for wrong-vs-correct.
pub fn aurocs(
    u: &[f32],
    msp: &[f32],
    probs: &[f64],
    classes: usize,
    wrong: &[bool],
) -> Option<snapuq_fit::report::DevAuroc> {
    use snapuq_eval::metrics::auroc;
    let ent = snapuq_eval::baselines::entropy_from_probs(probs, classes).ok()?;
    let f = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<_>>();
    Some(snapuq_fit::report::DevAuroc {
        u: auroc(&f(u), wrong).ok()?,
        msp: auroc(&f(msp), wrong).ok()?,
        entropy: auroc(&ent, wrong).ok()?,
    })
}

/// Fits the calibrator on the dev parts and chooses τ.
pub fn calibrate(
    taps: &[FittedTap],
    cls: &ClassifierSpec,
    parts: &[DevData],
    cfg: &CalibConfig,
) -> Result<Calibration> {
    let weights: Vec<f32> = taps.iter().map(|t| t.weight as f32).collect();
    let refs: Vec<Vec<&[f32]>> = parts
        .iter()
        .map(|p| p.ebar.iter().map(Vec::as_slice).collect())
        .collect();
    let stat_refs: Vec<Vec<&[f32]>> = parts
        .iter()
        .map(|p| p.stats.iter().map(Vec::as_slice).collect())
        .collect();
    let dev_parts: Vec<DevPart<'_>> = parts
        .iter()
        .zip(&refs)
        .zip(&stat_refs)
        .map(|((p, r), st)| DevPart {
            ebar: r,
            classifier: &p.classifier,
            classes: cls.classes,
            kind: cls.kind(),
            labels: &p.labels,
            shifted: p.shifted,
            stats: st,
        })
        .collect();
    let dev = calibrate::assemble_dev_set(&dev_parts, &weights, cfg.alpha)?;
    if dev.len() < 20 {
        bail!(
            "too few dev samples: got {}, need at least 20 labeled samples to fit the calibrator",
            dev.len()
        );
    }
    let calibrator = match cfg.mapping {
        MappingChoice::Isotonic => {
            let gamma = if cfg.label_free {
                1.0
            } else {
                calibrate::tune_gamma(&dev.s, &dev.m, &dev.wrong)?
            };
            let psi = calibrate::blend(&dev.s, &dev.m, gamma);
            Calibrator::Isotonic(calibrate::fit_isotonic(
                &psi,
                &dev.wrong,
                gamma,
                calibrate::DEFAULT_MAX_STEPS,
            )?)
        }
        MappingChoice::Logistic => Calibrator::Logistic(calibrate::fit_logistic(
            &dev.s,
            &dev.m,
            &dev.wrong,
            !cfg.label_free,
            true,
            calibrate::DEFAULT_L2,
        )?),
        MappingChoice::Classwise => {
            let n_stats = parts.first().map_or(0, |p| p.stats.len());
            Calibrator::Classwise(snapuq_fit::classwise::fit_classwise(
                snapuq_fit::classwise::ClasswiseData {
                    class: &dev.class,
                    l: &dev.l,
                    feats: &dev.feats,
                    features: dev.features,
                    wrong: &dev.wrong,
                },
                cls.classes,
                n_stats,
                snapuq_fit::classwise::DEFAULT_CLASSWISE_L2,
            )?)
        }
    };
    let u = calibrator.u_all(&dev);
    let op = calibrate::choose_threshold(&u, &dev.wrong, cfg.rule)?;
    let all_probs: Vec<f64> = parts
        .iter()
        .flat_map(|p| probs_of(&p.classifier, cls.classes, cls.probs))
        .collect();
    // `DevSet::msp` holds the confidence C; the MSP score for "wrong" is 1 − C.
    let msp_score: Vec<f32> = dev.msp.iter().map(|c| 1.0 - c).collect();
    let auroc = aurocs(&u, &msp_score, &all_probs, cls.classes, &dev.wrong);
    let mut summaries = Vec::new();
    let mut start = 0;
    for p in parts {
        let n = p.labels.len();
        let r = start..start + n;
        let probs = probs_of(&p.classifier, cls.classes, cls.probs);
        let a = aurocs(
            &u[r.clone()],
            &msp_score[r.clone()],
            &probs,
            cls.classes,
            &dev.wrong[r.clone()],
        );
        summaries.push(PartSummary {
            name: p.name.clone(),
            samples: n,
            wrong: dev.wrong[r].iter().filter(|w| **w).count(),
            auroc_u: a.map(|a| a.u),
            auroc_msp: a.map(|a| a.msp),
            auroc_entropy: a.map(|a| a.entropy),
        });
        start += n;
    }
    Ok(Calibration {
        calibrator,
        alpha: cfg.alpha,
        operating_point: op,
        dev,
        u,
        auroc,
        parts: summaries,
    })
}

/// Dev parts from a labeled data set: the ID part and, with `shifts`, the corruption suite
/// of [`crate::shifts::suite`] (one part per family, rotating severities 1–5). For the
/// classwise calibrator, the SNAP_PROJECT statistics of the first `stats` taps' `a_{ℓ−1}` are
/// computed with the kernel's own code.
pub fn dev_parts(
    bb: &Backbone,
    resolver: &OpResolver<'_>,
    taps: &[FittedTap],
    dev: &Dataset,
    shifts: bool,
    stats: usize,
    pixels: crate::data::PixelRange,
) -> Result<Vec<DevData>> {
    if dev.labels.is_none() {
        bail!(
            "the dev data {} has no labels (give --dev-labels, a class-folder tree or a CIFAR .bin)",
            dev.source
        );
    }
    let sites: Vec<Site> = taps.iter().map(|t| t.site.clone()).collect();
    let mut sets = vec![("id".to_string(), dev.clone(), false)];
    if shifts {
        for (name, set) in crate::shifts::suite(&bb.input, dev, pixels)? {
            sets.push((name, set, true));
        }
    }
    let mut out = Vec::new();
    for (name, set, shifted) in sets {
        let acts = tap_activations(bb, resolver, &sites, &set, &format!("dev {name}"))?;
        let labels = set.labels.clone().unwrap_or_default();
        let stats = (0..stats.min(taps.len()))
            .map(|k| projector_stats(&taps[k], &acts.pairs[k].0, acts.n))
            .collect::<Result<Vec<_>>>()?;
        out.push(DevData {
            name,
            ebar: ebars(taps, &acts)?,
            classifier: acts.collected_classifier,
            labels,
            shifted,
            stats,
            outputs: acts.outputs,
        });
    }
    Ok(out)
}

/// SNAP_PROJECT's `stats` output of one tap on `n` samples of its `a_{ℓ−1}` (raw int8),
/// computed with the kernel function the device runs.
pub fn projector_stats(tap: &FittedTap, prev: &[i8], n: usize) -> Result<Vec<f32>> {
    let c = tap.quantized.c_in;
    let per = tap.site.spatial_in * c;
    if prev.len() != n * per || c == 0 {
        bail!(
            "tap {}: {} activation values for {n} samples of {per}",
            tap.site.choice.name,
            prev.len()
        );
    }
    let mut g = vec![0i8; c];
    let mut out = Vec::with_capacity(n * snapuq_ops::project::STATS_PER_SAMPLE);
    for sample in prev.chunks_exact(per) {
        snapuq_ops::quant::gap_s8(sample, &mut g);
        out.extend_from_slice(&snapuq_ops::quant::spatial_stats(sample, &g));
    }
    Ok(out)
}
