//! `snap-convert eval model.snap.tflite --data … [--labels …] [--json FILE] [--html FILE]`:
//! is U worth its bytes on the user's own model and data? Runs the augmented model on the host
//! executor over clean ID, corrupted ID (CID, severities 1–5) and an OOD stand-in, scores U and
//! every single-pass baseline on the same samples, and reports failure detection, selective
//! prediction, calibration and streaming metrics (`snapuq-eval` computes every number).
//!
//! Protocol (docs/eval.md): the labeled data is split deterministically into a dev half (all
//! tuning: temperatures, ASH percentile, Mahalanobis fit, stream thresholds and the ID accuracy
//! band) and a test half (every reported number); with `--tune-data` the dev half is that other
//! file and all of `--data` is test, so a reserved test set is only ever reported on. See
//! [`records`] for CID and OOD. Besides the per-method table, the report holds AUROC per
//! condition (clean, family, family mean over severities, (family, severity) cell, pooled)
//! with the paired U − MSP bootstrap difference (`snapuq_eval::conditions`), and every
//! record's scores, so every number can be recomputed from the JSON.
use anyhow::{anyhow, bail, Context, Result};
use snapuq_eval::conditions::{self, ConditionInputs, RecordCondition};
use snapuq_eval::report::{
    self, EvalReport, MethodInputs, SampleRecord, StreamReport, StreamTrace,
};
use snapuq_eval::shifts::audio::AudioShift;
use snapuq_eval::shifts::image::Corruption;
use snapuq_eval::streams::{self, SegmentKind, StreamPools, StreamScores, StreamSpec, WINDOW};
use snapuq_eval::{baselines, metrics};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::data::{self, PixelRange};

mod features;
mod methods;
pub(crate) mod records;

use features::ModelFacts;
use records::{Half, RecordConfig, RecordSet, Shifts};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The augmented model (`*.snap.tflite` written by `snap-convert`).
    pub model: PathBuf,
    /// Labeled evaluation data: .npy (with --labels), a CIFAR-10 .bin, or a folder with one
    /// subfolder of images per class (same formats as the converter's --dev).
    #[arg(long)]
    pub data: PathBuf,
    /// Integer labels (.npy) for a .npy --data.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Write every number as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write an HTML report with the risk–coverage, reliability and stream-trace figures here.
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// Seed for the split, the shifts, the OOD stand-in, the streams and the bootstrap.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Severities for CID: a range `1..5`, a list `1,3,5` or one value.
    #[arg(long, default_value = "1..5")]
    pub severities: String,
    /// Shift families, comma-separated (default: every image corruption for image inputs,
    /// every audio-feature shift otherwise).
    #[arg(long, value_delimiter = ',')]
    pub corruptions: Option<Vec<String>>,
    /// Use at most this many labeled samples (before the dev/test split; with --tune-data, at
    /// most this many of each file).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Fraction of the samples in the dev half (without --tune-data).
    #[arg(long, default_value_t = 0.5, conflicts_with = "tune_data")]
    pub dev_fraction: f64,
    /// Labeled data for all tuning (the dev half: temperatures, Mahalanobis fit, ASH
    /// percentile, stream thresholds and ID band), same formats as --data. Every sample of
    /// --data is then test, so a reserved test set (e.g. CIFAR-10 test-5k) is only reported on.
    #[arg(long)]
    pub tune_data: Option<PathBuf>,
    /// Integer labels (.npy) for a .npy --tune-data.
    #[arg(long, requires = "tune_data")]
    pub tune_labels: Option<PathBuf>,
    /// Apply every shift family at every severity to every test sample (default: one family
    /// per sample and severity, rotating). Fills every (family, severity) cell with all test
    /// samples; multiplies the CID records, and so the run time, by the number of families
    /// (12 for images).
    #[arg(long)]
    pub all_families: bool,
    /// Evaluate a model without a `snapuq/U` output (baselines only) instead of failing.
    #[arg(long)]
    pub baselines_only: bool,
    /// How 8-bit pixels map to the model's real input range.
    #[arg(long, value_enum, default_value_t = PixelRange::Auto)]
    pub pixel_range: PixelRange,
}

/// Parses `1..5`, `1..=5`, `1,3,5` or `3` into sorted, unique severities in 1..=5.
pub fn parse_severities(s: &str) -> Result<Vec<u8>> {
    let bad = || {
        anyhow!("--severities `{s}`: expected a range like 1..5, a list like 1,3,5 or one value, each in 1..=5")
    };
    let mut v: Vec<u8> = if let Some((a, b)) = s.split_once("..") {
        let a: u8 = a.trim().parse().map_err(|_| bad())?;
        let b: u8 = b
            .trim()
            .trim_start_matches('=')
            .parse()
            .map_err(|_| bad())?;
        (a..=b).collect()
    } else {
        s.split(',')
            .map(|x| x.trim().parse::<u8>().map_err(|_| bad()))
            .collect::<Result<_>>()?
    };
    v.sort_unstable();
    v.dedup();
    if v.is_empty() || v.iter().any(|&x| !(1..=5).contains(&x)) {
        return Err(bad());
    }
    Ok(v)
}

fn shifts_for(names: Option<&[String]>, image: bool) -> Result<Shifts> {
    if image {
        let all = Corruption::ALL;
        let list = match names {
            None => all.to_vec(),
            Some(n) => n
                .iter()
                .map(|x| {
                    Corruption::from_name(x.trim()).ok_or_else(|| {
                        anyhow!(
                            "unknown corruption `{x}`; choose from {}",
                            all.map(|c| c.name()).join(", ")
                        )
                    })
                })
                .collect::<Result<_>>()?,
        };
        Ok(Shifts::Image(list))
    } else {
        let all = AudioShift::ALL;
        let list = match names {
            None => all.to_vec(),
            Some(n) => n
                .iter()
                .map(|x| {
                    all.into_iter()
                        .find(|a| a.name() == x.trim())
                        .ok_or_else(|| {
                            anyhow!(
                                "unknown shift `{x}` for a non-image input; choose from {}",
                                all.map(|c| c.name()).join(", ")
                            )
                        })
                })
                .collect::<Result<_>>()?,
        };
        Ok(Shifts::Audio(list))
    }
}

fn e(err: snapuq_eval::EvalError) -> anyhow::Error {
    anyhow!("{err}")
}

pub fn run(args: &Args) -> Result<()> {
    let report = evaluate(args)?;
    print!("{}", report.summary_table());
    if let Some(c) = &report.conditions {
        println!();
        println!(
            "AUROC wrong-vs-correct per condition (test ID+CID; [95% CI]: {}-resample bootstrap over source samples, U−MSP paired):",
            c.resamples
        );
        print!("{}", c.text());
    }
    for n in &report.notes {
        println!("note: {n}");
    }
    // Both files are written atomically (temporary file, then rename): an interrupted run
    // never leaves a truncated report that parses as a smaller one.
    if let Some(p) = &args.json {
        let text = report
            .to_json()
            .map_err(|err| anyhow!("cannot serialize the report: {err}"))?;
        crate::attach::write_atomic(p, text.as_bytes())?;
        println!("wrote {}", p.display());
    }
    if let Some(p) = &args.html {
        let html = report
            .to_html()
            .map_err(|err| anyhow!("cannot render the HTML report: {err}"))?;
        crate::attach::write_atomic(p, html.as_bytes())?;
        println!("wrote {}", p.display());
    }
    Ok(())
}

/// Runs the whole evaluation and returns the report.
pub fn evaluate(args: &Args) -> Result<EvalReport> {
    let severities = parse_severities(&args.severities)?;
    let facts = ModelFacts::load(&args.model)?;
    if facts.u_output.is_none() && !args.baselines_only {
        bail!(
            "{} has no snapuq/U output, so there is no U to evaluate: augment it first with `snap-convert {} --calib … --dev …` and evaluate the written .snap.tflite (or pass --baselines-only to score the baselines alone)",
            args.model.display(),
            args.model.display()
        );
    }
    let spec = &facts.bb.input;
    let classes = facts.classes();
    let load = |path: &Path, labels: Option<&Path>, flag: &str| -> Result<data::Dataset> {
        let ds = data::load(path, labels, spec, args.pixel_range)
            .with_context(|| format!("loading {flag} {}", path.display()))?;
        if let Some(l) = &ds.labels {
            if let Some((i, &y)) = l.iter().enumerate().find(|(_, &y)| y >= classes) {
                bail!(
                    "{flag} {}: label {y} of sample {i} is out of range: the model has {classes} classes (labels must be 0..{classes})",
                    path.display()
                );
            }
        }
        Ok(ds)
    };
    if let Some(t) = &args.tune_data {
        if same_file(t, &args.data) {
            bail!(
                "--tune-data and --data are the same file ({}): tuning on the reported data biases every tuned baseline; give a separate tuning file (e.g. train-5k.bin) or drop --tune-data to split --data into dev/test halves",
                args.data.display()
            );
        }
    }
    let ds = load(&args.data, args.labels.as_deref(), "--data")?;
    let tune = match &args.tune_data {
        Some(t) => Some(load(t, args.tune_labels.as_deref(), "--tune-data")?),
        None => None,
    };
    let shifts = shifts_for(args.corruptions.as_deref(), spec.image_hwc().is_some())?;
    let cfg = RecordConfig {
        seed: args.seed,
        severities: severities.clone(),
        shifts,
        limit: args.limit,
        dev_fraction: args.dev_fraction,
        pixels: args.pixel_range,
        all_families: args.all_families,
    };
    let mut set = records::build(spec, &ds, tune.as_ref(), &cfg)?;
    let out = features::collect(&facts, &set.inputs)?;
    // The inputs are not needed after the pass; with --all-families they are ~1 GB for
    // CIFAR test-5k, so free them before the bootstraps and the per-sample records.
    set.inputs = Vec::new();

    // Correctness per record (OOD records are never correct).
    let pred = metrics::argmax_rows(&out.classifier, classes).map_err(e)?;
    let labels: Vec<usize> = set
        .records
        .iter()
        .map(|r| r.label.unwrap_or(usize::MAX))
        .collect();
    let correct: Vec<bool> = pred.iter().zip(&labels).map(|(p, y)| p == y).collect();

    let is_in = |r: &records::Record| r.kind != SegmentKind::Ood;
    let dev = set.select(|r| r.half == Half::Dev && is_in(r));
    let dev_id = set.select(|r| r.half == Half::Dev && r.kind == SegmentKind::Id);
    let test = set.select(|r| r.half == Half::Test && is_in(r));
    let test_id = set.select(|r| r.half == Half::Test && r.kind == SegmentKind::Id);
    let test_cid = set.select(|r| r.half == Half::Test && r.kind == SegmentKind::Cid);
    let test_ood = set.select(|r| r.half == Half::Test && r.kind == SegmentKind::Ood);

    let mut rep = EvalReport::new(&args.model.display().to_string());
    rep.notes.push(match &tune {
        None => format!(
            "data: {}; {} dev / {} test clean samples (seeded split, seed {}), every reported number is on the test half",
            ds.source,
            dev_id.len(),
            test_id.len(),
            args.seed
        ),
        Some(t) => format!(
            "tuning (dev) data: {} ({} clean samples used); test data: {} ({} clean samples, all of it unless --limit; seed {}); nothing is tuned on the test data",
            t.source,
            dev_id.len(),
            ds.source,
            test_id.len(),
            args.seed
        ),
    });
    if !facts.snap_taps.is_empty() {
        let names: Vec<&str> = facts.snap_taps.iter().map(|t| t.name.as_str()).collect();
        rep.notes.push(format!(
            "SNAP taps (Mahalanobis features, globally pooled): {}",
            names.join(", ")
        ));
    }
    rep.notes.push(set.shift_note.clone());
    rep.notes.push(set.ood_note.clone());
    let acc = |idx: &[usize]| {
        (!idx.is_empty())
            .then(|| idx.iter().filter(|&&i| correct[i]).count() as f64 / idx.len() as f64)
    };
    rep.dataset = report::DatasetSummary {
        n_classes: classes,
        id: test_id.len(),
        cid: test_cid.len(),
        ood: test_ood.len(),
        accuracy_id: acc(&test_id),
        accuracy_cid: acc(&test_cid),
    };

    let split = methods::DevSplit {
        dev: &dev,
        dev_id: &dev_id,
        correct: &correct,
        labels: &labels,
    };
    let scored = methods::score_all(&facts, &out, &split, &mut rep.notes)?;

    // Calibration of the classifier on clean test ID.
    let raw = baselines::softmax(&out.logits, classes, 1.0).map_err(e)?;
    let rows = |flat: &[f64], idx: &[usize]| -> Vec<f64> {
        idx.iter()
            .flat_map(|&i| flat[i * classes..(i + 1) * classes].iter().copied())
            .collect()
    };
    let test_y: Vec<usize> = test.iter().map(|&i| labels[i]).collect();
    let test_id_y: Vec<usize> = test_id.iter().map(|&i| labels[i]).collect();
    rep.calibration.push(
        report::calibration_report("softmax", None, &rows(&raw, &test_id), classes, &test_id_y)
            .map_err(e)?,
    );
    if let Some(ts) = scored.iter().find(|m| m.name == "Temp. scaling") {
        if let Some(p) = &ts.probs {
            rep.calibration.push(
                report::calibration_report(
                    "temperature",
                    ts.params.get("T").copied(),
                    &rows(p, &test_id),
                    classes,
                    &test_id_y,
                )
                .map_err(e)?,
            );
        }
    }

    // Non-streaming metrics per method on test ID+CID, OOD = test OOD stand-in.
    let test_correct: Vec<bool> = test.iter().map(|&i| correct[i]).collect();
    let clean: Vec<bool> = test
        .iter()
        .map(|&i| set.records[i].kind == SegmentKind::Id)
        .collect();
    let raw_test = rows(&raw, &test);
    for (k, m) in scored.iter().enumerate() {
        let s: Vec<f64> = test.iter().map(|&i| m.scores[i]).collect();
        let ood: Vec<f64> = test_ood.iter().map(|&i| m.scores[i]).collect();
        let probs = m
            .probs
            .as_ref()
            .map_or(raw_test.clone(), |p| rows(p, &test));
        let inputs = MethodInputs {
            scores: &s,
            correct: &test_correct,
            clean_id: Some(&clean),
            ood_scores: (!ood.is_empty()).then_some(ood.as_slice()),
            probs: Some((&probs, classes, &test_y)),
        };
        let mut mr = report::method_report(&m.name, inputs, args.seed.wrapping_add(100 * k as u64))
            .map_err(|err| anyhow!("{}: {err}", m.name))?;
        mr.params = m.params.clone();
        rep.methods.push(mr);
    }

    conditions_into(&mut rep, &set, &scored, &test, &correct, args.seed)?;
    rep.samples = sample_records(&set, &scored, &pred, &correct);

    streams_into(
        &mut rep,
        &set,
        &scored,
        &correct,
        severities.len(),
        args.seed,
    )?;
    Ok(rep)
}

/// Whether two paths name the same existing file (canonical paths equal).
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Method names of the terminal condition table's columns, `(header, method)`.
const CONDITION_COLUMNS: [(&str, &str); 4] = [
    ("U", methods::U_NAME),
    ("S", methods::S_NAME),
    ("MSP", "MSP"),
    ("Entropy", "Entropy"),
];

/// AUROC per condition of every method on the test ID+CID records (`test`), with the paired
/// U − MSP difference when the model has U.
fn conditions_into(
    rep: &mut EvalReport,
    set: &RecordSet,
    scored: &[methods::Scored],
    test: &[usize],
    correct: &[bool],
    seed: u64,
) -> Result<()> {
    let per: Vec<Vec<f64>> = scored
        .iter()
        .map(|m| test.iter().map(|&i| m.scores[i]).collect())
        .collect();
    let list: Vec<(&str, &[f64])> = scored
        .iter()
        .zip(&per)
        .map(|(m, s)| (m.name.as_str(), s.as_slice()))
        .collect();
    let cond: Vec<RecordCondition> = test
        .iter()
        .map(|&i| {
            let r = &set.records[i];
            match (r.kind, r.shift) {
                (SegmentKind::Cid, Some(k)) => RecordCondition::Shifted {
                    family: k,
                    severity: r.severity,
                },
                _ => RecordCondition::Clean,
            }
        })
        .collect();
    let source: Vec<usize> = test.iter().map(|&i| set.records[i].source).collect();
    let test_correct: Vec<bool> = test.iter().map(|&i| correct[i]).collect();
    let find = |n: &str| scored.iter().position(|m| m.name == n);
    let difference = find(methods::U_NAME).zip(find("MSP"));
    let mut table = conditions::condition_table(&ConditionInputs {
        methods: &list,
        correct: &test_correct,
        condition: &cond,
        source: &source,
        families: &set.shift_names,
        difference,
        resamples: metrics::BOOTSTRAP_RESAMPLES,
        seed: seed.wrapping_add(50_000),
    })
    .map_err(|err| anyhow!("per-condition AUROC: {err}"))?;
    table.shown = CONDITION_COLUMNS
        .iter()
        .map(|(h, m)| [h.to_string(), m.to_string()])
        .collect();
    rep.conditions = Some(table);
    Ok(())
}

/// Every record (dev and test, ID, CID and OOD) with its description and every method's
/// score: the JSON's raw material for recomputing any number of the report.
fn sample_records(
    set: &RecordSet,
    scored: &[methods::Scored],
    pred: &[usize],
    correct: &[bool],
) -> Vec<SampleRecord> {
    set.records
        .iter()
        .enumerate()
        .map(|(i, r)| SampleRecord {
            source: r.source,
            half: match r.half {
                Half::Dev => "dev",
                Half::Test => "test",
            }
            .into(),
            kind: match r.kind {
                SegmentKind::Id => "id",
                SegmentKind::Cid => "cid",
                SegmentKind::Ood => "ood",
            }
            .into(),
            family: r.shift.map(|k| set.shift_names[k].clone()),
            severity: (r.kind == SegmentKind::Cid).then_some(r.severity),
            label: r.label,
            prediction: pred[i],
            correct: correct[i],
            scores: scored
                .iter()
                .map(|m| (m.name.clone(), m.scores[i]))
                .collect::<BTreeMap<_, _>>(),
        })
        .collect()
}

/// Builds the dev and test streams from disjoint record pools, labels events from the dev ID
/// band, and attaches every method's streaming metrics (failures become notes).
fn streams_into(
    rep: &mut EvalReport,
    set: &RecordSet,
    scored: &[methods::Scored],
    correct: &[bool],
    n_sev: usize,
    seed: u64,
) -> Result<()> {
    let pools = |half: Half| {
        let id = set.select(|r| r.half == half && r.kind == SegmentKind::Id);
        let ood = set.select(|r| r.half == half && r.kind == SegmentKind::Ood);
        let mut cid = vec![vec![Vec::new(); set.shift_names.len()]; n_sev];
        let sevs = {
            let mut s: Vec<u8> = set
                .records
                .iter()
                .map(|r| r.severity)
                .filter(|&s| s > 0)
                .collect();
            s.sort_unstable();
            s.dedup();
            s
        };
        for (i, r) in set.records.iter().enumerate() {
            if r.half == half && r.kind == SegmentKind::Cid {
                if let (Some(k), Some(p)) = (r.shift, sevs.iter().position(|&s| s == r.severity)) {
                    cid[p][k].push(i);
                }
            }
        }
        (id, cid, ood)
    };
    let (dev_id, dev_cid, dev_ood) = pools(Half::Dev);
    let (test_id, test_cid, test_ood) = pools(Half::Test);
    let spec = StreamSpec {
        severities: n_sev as u8,
        ..StreamSpec::default()
    };
    let build = |id: &[usize], cid: &[Vec<Vec<usize>>], ood: &[usize], s: &StreamSpec, seed| {
        streams::build_stream(&StreamPools { id, cid, ood }, s, seed).map_err(e)
    };
    let id_only = StreamSpec {
        id_len: 2000,
        cid_len: 0,
        ood_len: 0,
        type_cycle: 1,
        severities: 0,
    };
    let band_run = build(&dev_id, &[], &[], &id_only, seed ^ 0xBA4D)?;
    let band_correct: Vec<bool> = band_run.frames.iter().map(|f| correct[f.record]).collect();
    let band = streams::id_band(&band_correct, WINDOW).map_err(e)?;
    let dev_stream = build(&dev_id, &dev_cid, &dev_ood, &spec, seed ^ 0xDE5)?;
    let test_stream = build(&test_id, &test_cid, &test_ood, &spec, seed ^ 0x7E57)?;
    let frame_correct =
        |s: &streams::Stream| -> Vec<bool> { s.frames.iter().map(|f| correct[f.record]).collect() };
    let dev_labels = streams::event_labels(&frame_correct(&dev_stream), &band).map_err(e)?;
    let test_labels = streams::event_labels(&frame_correct(&test_stream), &band).map_err(e)?;
    let clean = test_stream.clean_id_mask();
    rep.notes.push(format!(
        "streams: dev and test streams built from the disjoint dev/test record pools ({} frames each; records repeat when a pool is shorter than its segment); event band μ−3σ = {:.3} from a 2000-frame dev ID-only run",
        test_stream.frames.len(),
        band.threshold()
    ));
    let mut trace = None;
    for (k, m) in scored.iter().enumerate() {
        let per = |s: &streams::Stream| -> Vec<f64> {
            s.frames.iter().map(|f| m.scores[f.record]).collect()
        };
        let (ds, ts) = (per(&dev_stream), per(&test_stream));
        match streams::evaluate_stream(
            StreamScores {
                scores: &ds,
                labels: &dev_labels,
            },
            StreamScores {
                scores: &ts,
                labels: &test_labels,
            },
            &clean,
            seed.wrapping_add(7000 + k as u64),
        ) {
            Ok(sm) => {
                if k == 0 {
                    trace = Some(StreamTrace {
                        method: m.name.clone(),
                        scores: ts.clone(),
                        threshold: sm.dev_threshold.threshold,
                    });
                }
                rep.methods[k].stream = Some(sm);
            }
            Err(err) => rep.methods[k]
                .skipped
                .push(format!("stream metrics: {err}")),
        }
    }
    rep.stream = Some(StreamReport {
        spec,
        band,
        segments: test_stream.segments.clone(),
        events: streams::events_from_labels(&test_labels),
        trace,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_parse_ranges_lists_and_reject_junk() {
        assert_eq!(parse_severities("1..5").unwrap(), vec![1, 2, 3, 4, 5]);
        assert_eq!(parse_severities("2..=3").unwrap(), vec![2, 3]);
        assert_eq!(parse_severities("5,1,3,3").unwrap(), vec![1, 3, 5]);
        assert_eq!(parse_severities("4").unwrap(), vec![4]);
        assert!(parse_severities("0..5").is_err());
        assert!(parse_severities("1..6").is_err());
        assert!(parse_severities("x").is_err());
        assert!(parse_severities("").is_err());
    }

    #[test]
    fn shift_names_resolve_or_list_the_choices() {
        let s = shifts_for(Some(&["fog".into(), "contrast".into()]), true).unwrap();
        assert_eq!(s.names(), vec!["fog", "contrast"]);
        let err = shifts_for(Some(&["snow".into()]), true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("gaussian_noise"), "{err}");
        assert_eq!(shifts_for(None, false).unwrap().names().len(), 4);
    }
}
