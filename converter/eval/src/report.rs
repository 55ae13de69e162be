//! The evaluation report: one serde struct holding every number ([`EvalReport`]), a plain-text
//! summary table for the terminal, SVG figures (risk–coverage, reliability diagram, stream
//! trace) drawn with `plotters`' SVG backend, and an HTML page embedding them.
//!
//! Typical CLI flow: compute scores per method, call [`method_report`] for each, attach
//! [`crate::streams::evaluate_stream`] results to `MethodReport::stream`, fill
//! [`EvalReport::calibration`] with [`calibration_report`], then `write_json` / `write_html`
//! and print [`EvalReport::summary_table`].

use crate::conditions::ConditionTable;
use crate::error::{check_len, EvalError, Result};
use crate::metrics::{
    self, auprc_ci, auroc_ci, fpr_at_recall, id_ood_task, risk_coverage, Ci, ReliabilityBin,
    RiskCoverage, SelectivePoint, COVERAGE_TARGETS, ECE_BINS,
};
use crate::streams::{Event, IdBand, Segment, SegmentKind, StreamMetrics, StreamSpec};
use plotters::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Version of the JSON layout; bump when fields change meaning.
/// 2: per-condition table (`conditions`) and per-record scores (`samples`).
pub const REPORT_SCHEMA_VERSION: u32 = 2;
/// Risk–coverage curves are thinned to at most this many points in the report.
pub const CURVE_POINTS: usize = 201;

/// Everything `snap-convert eval` measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// [`REPORT_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Model file evaluated.
    pub model: String,
    /// Sample counts and accuracies.
    pub dataset: DatasetSummary,
    /// ID calibration of the classifier (raw softmax, temperature-scaled, …).
    pub calibration: Vec<CalibrationReport>,
    /// One entry per uncertainty method (U and every baseline).
    pub methods: Vec<MethodReport>,
    /// Streaming setup shared by all methods, if streams were run.
    pub stream: Option<StreamReport>,
    /// Free-form notes (approximations used, skipped metrics and why).
    pub notes: Vec<String>,
    /// AUROC wrong-vs-correct per condition (clean, family, family mean, cell, pooled) on the
    /// test records, with bootstrap CIs and the paired U − MSP difference.
    #[serde(default)]
    pub conditions: Option<ConditionTable>,
    /// Every scored record with its description and every method's score, so every number of
    /// the report can be recomputed from the JSON alone.
    #[serde(default)]
    pub samples: Vec<SampleRecord>,
}

/// One scored record (what `snap-convert eval --json` keeps per sample).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleRecord {
    /// Index of the source sample in its file (`--data` for test records, `--tune-data` for
    /// dev records when given, else `--data`).
    pub source: usize,
    /// "dev" (tuning only) or "test" (reported).
    pub half: String,
    /// "id" (clean), "cid" (shifted copy) or "ood" (stand-in).
    pub kind: String,
    /// Shift family of a CID record.
    pub family: Option<String>,
    /// Severity of a CID record.
    pub severity: Option<u8>,
    /// Class label (ID and CID records).
    pub label: Option<usize>,
    /// Arg-max class of the classifier output.
    pub prediction: usize,
    /// `prediction == label` (false for OOD records).
    pub correct: bool,
    /// Score of every method by name (higher = more uncertain).
    pub scores: BTreeMap<String, f64>,
}

/// Sample counts and accuracies.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DatasetSummary {
    /// Classes.
    pub n_classes: usize,
    /// Clean ID samples.
    pub id: usize,
    /// Corrupted ID samples.
    pub cid: usize,
    /// OOD samples.
    pub ood: usize,
    /// Top-1 accuracy on clean ID.
    pub accuracy_id: Option<f64>,
    /// Top-1 accuracy on CID.
    pub accuracy_cid: Option<f64>,
}

/// Calibration numbers for one probability source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationReport {
    /// E.g. "softmax" or "temperature".
    pub name: String,
    /// Temperature applied, if any.
    pub temperature: Option<f64>,
    /// Mean NLL.
    pub nll: f64,
    /// Brier score.
    pub brier: f64,
    /// 15-bin adaptive ECE.
    pub ece: f64,
    /// Reliability bins.
    pub bins: Vec<ReliabilityBin>,
}

/// NLL, Brier and 15-bin ECE of `probs` (flat `n * n_classes`) against `labels`.
pub fn calibration_report(
    name: &str,
    temperature: Option<f64>,
    probs: &[f64],
    n_classes: usize,
    labels: &[usize],
) -> Result<CalibrationReport> {
    let e = metrics::ece(probs, n_classes, labels, ECE_BINS)?;
    Ok(CalibrationReport {
        name: name.to_string(),
        temperature,
        nll: metrics::nll(probs, n_classes, labels)?,
        brier: metrics::brier(probs, n_classes, labels)?,
        ece: e.ece,
        bins: e.bins,
    })
}

/// Every non-streaming number for one method, plus its streaming metrics when available.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodReport {
    /// Display name ("SNAP-UQ", "MSP", "Energy", …).
    pub name: String,
    /// Tuned hyper-parameters (e.g. `"T" → 1.5`).
    pub params: BTreeMap<String, f64>,
    /// AUROC, ID✓ vs ID✗ over ID+CID.
    pub auroc_id_error: Option<Ci>,
    /// AUPRC, ID✓ vs ID✗.
    pub auprc_id_error: Option<Ci>,
    /// AUROC, ID✓ vs OOD.
    pub auroc_id_ood: Option<Ci>,
    /// AUPRC, ID✓ vs OOD.
    pub auprc_id_ood: Option<Ci>,
    /// FPR at 90% OOD recall.
    pub fpr_at_90_recall_ood: Option<f64>,
    /// Area under risk–coverage.
    pub aurc: Option<f64>,
    /// Risk at 80/90/95% coverage.
    pub risk_at_coverage: Vec<SelectivePoint>,
    /// Selective NLL at 90% coverage.
    pub selective_nll_90: Option<f64>,
    /// Thinned risk–coverage curve.
    pub risk_coverage: Option<RiskCoverage>,
    /// Streaming metrics (frame AUPRC, delay, …).
    pub stream: Option<StreamMetrics>,
    /// Why any number above is missing.
    pub skipped: Vec<String>,
}

/// Inputs of [`method_report`]. All per-sample slices describe the same ID+CID samples.
#[derive(Debug, Clone, Copy)]
pub struct MethodInputs<'a> {
    /// Method score per sample, higher = more uncertain.
    pub scores: &'a [f64],
    /// Whether the classifier was right on the sample.
    pub correct: &'a [bool],
    /// Which samples are clean ID (negatives of ID✓ vs OOD are correct clean-ID samples);
    /// `None` treats every sample as clean ID.
    pub clean_id: Option<&'a [bool]>,
    /// Scores of OOD samples, if any.
    pub ood_scores: Option<&'a [f64]>,
    /// Probabilities (`n * n_classes`) and labels for selective NLL, if available.
    pub probs: Option<(&'a [f64], usize, &'a [usize])>,
}

/// Keeps at most `max_points` points of a curve, always including the last.
pub fn thin_curve(rc: &RiskCoverage, max_points: usize) -> RiskCoverage {
    let n = rc.coverage.len();
    if n <= max_points || max_points < 2 {
        return rc.clone();
    }
    let idx: Vec<usize> = (0..max_points)
        .map(|k| k * (n - 1) / (max_points - 1))
        .collect();
    RiskCoverage {
        thresholds: idx.iter().map(|&i| rc.thresholds[i]).collect(),
        coverage: idx.iter().map(|&i| rc.coverage[i]).collect(),
        risk: idx.iter().map(|&i| rc.risk[i]).collect(),
    }
}

/// Computes every non-streaming metric for one method. Undefined metrics (e.g. no errors, no
/// OOD data) are `None` with the reason in `skipped`; only malformed input is an error.
pub fn method_report(name: &str, inputs: MethodInputs<'_>, seed: u64) -> Result<MethodReport> {
    let n = inputs.scores.len();
    check_len("correct flags", n, inputs.correct.len())?;
    if let Some(m) = inputs.clean_id {
        check_len("clean-ID mask", n, m.len())?;
    }
    let mut skipped = Vec::new();
    let mut keep = |what: &str, r: Result<Ci>| match r {
        Ok(v) => Some(v),
        Err(e) => {
            skipped.push(format!("{what}: {e}"));
            None
        }
    };
    let errors: Vec<bool> = inputs.correct.iter().map(|c| !c).collect();
    let auroc_id_error = keep("AUROC ID✓/ID✗", auroc_ci(inputs.scores, &errors, seed));
    let auprc_id_error = keep(
        "AUPRC ID✓/ID✗",
        auprc_ci(inputs.scores, &errors, seed.wrapping_add(1)),
    );
    let (mut auroc_id_ood, mut auprc_id_ood, mut fpr_ood) = (None, None, None);
    if let Some(ood) = inputs.ood_scores {
        let (id_s, id_c): (Vec<f64>, Vec<bool>) = (0..n)
            .filter(|&i| inputs.clean_id.is_none_or(|m| m[i]))
            .map(|i| (inputs.scores[i], inputs.correct[i]))
            .unzip();
        let task = id_ood_task(&id_s, &id_c, ood)?;
        auroc_id_ood = keep(
            "AUROC ID✓/OOD",
            auroc_ci(&task.scores, &task.positive, seed.wrapping_add(2)),
        );
        auprc_id_ood = keep(
            "AUPRC ID✓/OOD",
            auprc_ci(&task.scores, &task.positive, seed.wrapping_add(3)),
        );
        match fpr_at_recall(&task.scores, &task.positive, 0.9) {
            Ok(op) => fpr_ood = Some(op.fpr),
            Err(e) => skipped.push(format!("FPR@90%R OOD: {e}")),
        }
    } else {
        skipped.push("ID✓/OOD metrics: no OOD samples given".into());
    }
    let (mut aurc, mut risk_at, mut curve) = (None, Vec::new(), None);
    match risk_coverage(inputs.scores, &errors) {
        Ok(rc) => {
            aurc = Some(rc.aurc());
            for t in COVERAGE_TARGETS {
                risk_at.push(rc.at_coverage(t)?);
            }
            curve = Some(thin_curve(&rc, CURVE_POINTS));
        }
        Err(e) => skipped.push(format!("risk–coverage: {e}")),
    }
    let mut selective_nll_90 = None;
    match inputs.probs {
        Some((p, l, y)) => match metrics::selective_nll(inputs.scores, p, l, y, 0.9) {
            Ok(v) => selective_nll_90 = Some(v),
            Err(e) => skipped.push(format!("selective NLL: {e}")),
        },
        None => skipped.push("selective NLL: no probabilities given".into()),
    }
    Ok(MethodReport {
        name: name.to_string(),
        params: BTreeMap::new(),
        auroc_id_error,
        auprc_id_error,
        auroc_id_ood,
        auprc_id_ood,
        fpr_at_90_recall_ood: fpr_ood,
        aurc,
        risk_at_coverage: risk_at,
        selective_nll_90,
        risk_coverage: curve,
        stream: None,
        skipped,
    })
}

/// Streaming setup and one method's trace for plotting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamReport {
    /// Segment lengths used.
    pub spec: StreamSpec,
    /// ID accuracy band used for labels.
    pub band: IdBand,
    /// Test-stream segments.
    pub segments: Vec<Segment>,
    /// Test-stream events.
    pub events: Vec<Event>,
    /// Score trace of one method (normally SNAP-UQ) for the figure.
    pub trace: Option<StreamTrace>,
}

/// Per-frame scores of one method on the test stream and its frozen dev threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamTrace {
    /// Method name.
    pub method: String,
    /// Score per frame.
    pub scores: Vec<f64>,
    /// Alarm threshold `τ*`.
    pub threshold: f64,
}

fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".to_string(), |x| format!("{x:.digits$}"))
}

fn fmt_ci(c: &Option<Ci>) -> String {
    c.as_ref().map_or_else(
        || "-".to_string(),
        |c| format!("{:.3} [{:.3},{:.3}]", c.estimate, c.lo, c.hi),
    )
}

impl EvalReport {
    /// An empty report for `model`.
    pub fn new(model: &str) -> Self {
        Self {
            schema_version: REPORT_SCHEMA_VERSION,
            model: model.to_string(),
            dataset: DatasetSummary::default(),
            calibration: Vec::new(),
            methods: Vec::new(),
            stream: None,
            notes: Vec::new(),
            conditions: None,
            samples: Vec::new(),
        }
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// Parses [`EvalReport::to_json`] output.
    pub fn from_json(s: &str) -> Result<Self> {
        Ok(serde_json::from_str(s)?)
    }

    /// Writes the JSON report.
    pub fn write_json(&self, path: &Path) -> Result<()> {
        std::fs::write(path, self.to_json()?)?;
        Ok(())
    }

    /// Plain-text table with aligned columns, one row per method.
    pub fn summary_table(&self) -> String {
        let header = [
            "Method",
            "AUROC ID✓/ID✗ [95% CI]",
            "AUPRC ID✓/ID✗",
            "AUROC ID✓/OOD",
            "AURC",
            "Risk@90",
            "sNLL@90",
            "Stream AUPRC",
            "Delay (med)",
            "Miss",
            "FPR@90R",
        ];
        let mut rows: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
        for m in &self.methods {
            let risk90 = m
                .risk_at_coverage
                .iter()
                .find(|p| (p.target - 0.9).abs() < 1e-9)
                .map(|p| p.risk);
            let s = m.stream.as_ref();
            rows.push(vec![
                m.name.clone(),
                fmt_ci(&m.auroc_id_error),
                fmt_opt(m.auprc_id_error.map(|c| c.estimate), 3),
                fmt_opt(m.auroc_id_ood.map(|c| c.estimate), 3),
                fmt_opt(m.aurc, 4),
                fmt_opt(risk90, 3),
                fmt_opt(m.selective_nll_90, 3),
                fmt_opt(s.map(|s| s.auprc), 3),
                fmt_opt(s.and_then(|s| s.delay.median), 1),
                fmt_opt(s.map(|s| s.delay.miss_rate), 2),
                fmt_opt(s.and_then(|s| s.clean_id_fpr.map(|c| c.fpr)), 3),
            ]);
        }
        let cols = header.len();
        let widths: Vec<usize> = (0..cols)
            .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
            .collect();
        let mut out = String::new();
        for (k, r) in rows.iter().enumerate() {
            let line: Vec<String> = r
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(c, (cell, &w))| {
                    let pad = " ".repeat(w - cell.chars().count());
                    if c == 0 {
                        format!("{cell}{pad}")
                    } else {
                        format!("{pad}{cell}")
                    }
                })
                .collect();
            out.push_str(line.join("  ").trim_end());
            out.push('\n');
            if k == 0 {
                let total: usize = widths.iter().sum::<usize>() + 2 * (cols - 1);
                out.push_str(&"-".repeat(total));
                out.push('\n');
            }
        }
        out
    }

    /// Risk–coverage curves of every method with a curve (SVG).
    pub fn risk_coverage_svg(&self) -> Result<String> {
        let curves: Vec<(&str, &RiskCoverage)> = self
            .methods
            .iter()
            .filter_map(|m| m.risk_coverage.as_ref().map(|c| (m.name.as_str(), c)))
            .collect();
        let y_max = curves
            .iter()
            .flat_map(|(_, c)| c.risk.iter().copied())
            .fold(0.0f64, f64::max)
            .max(0.01)
            * 1.05;
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (720, 480)).into_drawing_area();
            root.fill(&WHITE).map_err(plot_err)?;
            let mut chart = ChartBuilder::on(&root)
                .caption("Risk–coverage (lower is better)", ("sans-serif", 20))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(56)
                .build_cartesian_2d(0f64..1f64, 0f64..y_max)
                .map_err(plot_err)?;
            chart
                .configure_mesh()
                .x_desc("Coverage")
                .y_desc("Risk")
                .draw()
                .map_err(plot_err)?;
            for (i, (name, c)) in curves.iter().enumerate() {
                let color = Palette99::pick(i).to_rgba();
                let pts: Vec<(f64, f64)> = c
                    .coverage
                    .iter()
                    .copied()
                    .zip(c.risk.iter().copied())
                    .collect();
                chart
                    .draw_series(LineSeries::new(pts, color.stroke_width(2)))
                    .map_err(plot_err)?
                    .label(*name)
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                    });
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(plot_err)?;
            root.present().map_err(plot_err)?;
        }
        Ok(svg)
    }

    /// Reliability diagram (accuracy vs confidence per adaptive bin) for every calibration
    /// entry, with the diagonal (SVG).
    pub fn reliability_svg(&self) -> Result<String> {
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (520, 520)).into_drawing_area();
            root.fill(&WHITE).map_err(plot_err)?;
            let mut chart = ChartBuilder::on(&root)
                .caption("Reliability (15 equal-mass bins)", ("sans-serif", 20))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(48)
                .build_cartesian_2d(0f64..1f64, 0f64..1f64)
                .map_err(plot_err)?;
            chart
                .configure_mesh()
                .x_desc("Confidence")
                .y_desc("Accuracy")
                .draw()
                .map_err(plot_err)?;
            chart
                .draw_series(LineSeries::new(
                    vec![(0.0, 0.0), (1.0, 1.0)],
                    BLACK.mix(0.4),
                ))
                .map_err(plot_err)?
                .label("perfect calibration")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.4)));
            for (i, cal) in self.calibration.iter().enumerate() {
                let color = Palette99::pick(i).to_rgba();
                let pts: Vec<(f64, f64)> = cal
                    .bins
                    .iter()
                    .map(|b| (b.confidence, b.accuracy))
                    .collect();
                chart
                    .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                    .map_err(plot_err)?
                    .label(format!("{} (ECE {:.3})", cal.name, cal.ece))
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                    });
                chart
                    .draw_series(pts.into_iter().map(|p| Circle::new(p, 4, color.filled())))
                    .map_err(plot_err)?;
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(plot_err)?;
            root.present().map_err(plot_err)?;
        }
        Ok(svg)
    }

    /// Stream trace: score over time, CID/OOD segments and events shaded, threshold line and
    /// alarm onsets (first frame of each run at or above `τ*`) marked (SVG). `None` when the
    /// report has no trace.
    pub fn stream_trace_svg(&self) -> Result<Option<String>> {
        let Some(stream) = &self.stream else {
            return Ok(None);
        };
        let Some(trace) = &stream.trace else {
            return Ok(None);
        };
        let t = trace.scores.len();
        if t == 0 {
            return Ok(None);
        }
        let lo = trace
            .scores
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min)
            .min(trace.threshold);
        let hi = trace
            .scores
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max)
            .max(trace.threshold);
        let pad = ((hi - lo) * 0.05).max(1e-6);
        let (lo, hi) = (lo - pad, hi + pad);
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (1100, 380)).into_drawing_area();
            root.fill(&WHITE).map_err(plot_err)?;
            let mut chart = ChartBuilder::on(&root)
                .caption(
                    format!("Stream trace: {}", trace.method),
                    ("sans-serif", 20),
                )
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(56)
                .build_cartesian_2d(0f64..t as f64, lo..hi)
                .map_err(plot_err)?;
            chart
                .configure_mesh()
                .x_desc("Frame")
                .y_desc("Score")
                .draw()
                .map_err(plot_err)?;
            let seg_color = |k: SegmentKind| match k {
                SegmentKind::Id => None,
                SegmentKind::Cid => Some(RGBColor(255, 200, 80).mix(0.18)),
                SegmentKind::Ood => Some(RGBColor(160, 80, 220).mix(0.25)),
            };
            chart
                .draw_series(stream.segments.iter().filter_map(|s| {
                    seg_color(s.kind).map(|c| {
                        Rectangle::new([(s.start as f64, lo), (s.end as f64, hi)], c.filled())
                    })
                }))
                .map_err(plot_err)?;
            let event_style = RGBColor(220, 40, 40).mix(0.15);
            chart
                .draw_series(stream.events.iter().map(|e| {
                    Rectangle::new(
                        [
                            (e.onset as f64, lo),
                            ((e.offset + 1) as f64, lo + (hi - lo) * 0.06),
                        ],
                        event_style.filled(),
                    )
                }))
                .map_err(plot_err)?
                .label("events (accuracy below ID band)")
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 4), (x + 20, y + 4)], event_style.filled())
                });
            let step = (t / 4000).max(1);
            let pts: Vec<(f64, f64)> = trace
                .scores
                .iter()
                .enumerate()
                .step_by(step)
                .map(|(i, &s)| (i as f64, s))
                .collect();
            let line = RGBColor(30, 90, 200);
            chart
                .draw_series(LineSeries::new(pts, line))
                .map_err(plot_err)?
                .label(format!("score ({})", trace.method))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], line));
            chart
                .draw_series(LineSeries::new(
                    vec![(0.0, trace.threshold), (t as f64, trace.threshold)],
                    BLACK.mix(0.6),
                ))
                .map_err(plot_err)?
                .label("threshold τ*")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.6)));
            let alarms: Vec<usize> = (0..t)
                .filter(|&i| {
                    trace.scores[i] >= trace.threshold
                        && (i == 0 || trace.scores[i - 1] < trace.threshold)
                })
                .collect();
            let alarm_color = RGBColor(200, 0, 0);
            chart
                .draw_series(alarms.iter().map(|&i| {
                    TriangleMarker::new((i as f64, hi - pad * 0.5), 5, alarm_color.filled())
                }))
                .map_err(plot_err)?
                .label("alarms")
                .legend(move |(x, y)| TriangleMarker::new((x + 10, y), 5, alarm_color.filled()));
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(plot_err)?;
            root.present().map_err(plot_err)?;
        }
        Ok(Some(svg))
    }

    /// A self-contained HTML page: summary table, notes, and the SVG figures inline.
    pub fn to_html(&self) -> Result<String> {
        let mut html = String::from(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>snapuq evaluation</title>\
             <style>body{font-family:sans-serif;margin:2em}pre{background:#f6f6f6;padding:1em}</style>\
             </head><body>\n",
        );
        html.push_str(&format!("<h1>Evaluation of {}</h1>\n", escape(&self.model)));
        html.push_str(&format!("<pre>{}</pre>\n", escape(&self.summary_table())));
        if let Some(c) = &self.conditions {
            html.push_str("<h2>AUROC wrong-vs-correct per condition</h2>\n");
            html.push_str(&format!("<pre>{}</pre>\n", escape(&c.text())));
        }
        if !self.notes.is_empty() {
            html.push_str("<ul>\n");
            for n in &self.notes {
                html.push_str(&format!("<li>{}</li>\n", escape(n)));
            }
            html.push_str("</ul>\n");
        }
        html.push_str("<h2>Risk–coverage</h2>\n");
        html.push_str(&self.risk_coverage_svg()?);
        html.push_str("\n<h2>Reliability</h2>\n");
        html.push_str(&self.reliability_svg()?);
        if let Some(s) = self.stream_trace_svg()? {
            html.push_str("\n<h2>Stream</h2>\n");
            html.push_str(&s);
        }
        html.push_str("\n</body></html>\n");
        Ok(html)
    }

    /// Writes [`EvalReport::to_html`].
    pub fn write_html(&self, path: &Path) -> Result<()> {
        std::fs::write(path, self.to_html()?)?;
        Ok(())
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn plot_err<E: std::fmt::Display>(e: E) -> EvalError {
    EvalError::Plot(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::streams::{
        build_stream, evaluate_stream, events_from_labels, StreamPools, StreamScores,
    };

    fn sample_report() -> EvalReport {
        let n = 400;
        let correct: Vec<bool> = (0..n).map(|i| (i * 7) % 10 < 8).collect();
        let good: Vec<f64> = (0..n)
            .map(|i| if correct[i] { 0.2 } else { 0.7 } + ((i * 13) % 17) as f64 * 0.02)
            .collect();
        let weak: Vec<f64> = (0..n).map(|i| ((i * 31) % 97) as f64 / 97.0).collect();
        let ood: Vec<f64> = (0..50).map(|i| 0.6 + (i as f64) * 0.005).collect();
        let labels: Vec<usize> = (0..n).map(|i| i % 3).collect();
        let probs: Vec<f64> = (0..n)
            .flat_map(|i| {
                let hit = if correct[i] {
                    labels[i]
                } else {
                    (labels[i] + 1) % 3
                };
                let conf = 0.5 + 0.4 * ((i * 11) % 13) as f64 / 13.0;
                (0..3).map(move |c| if c == hit { conf } else { (1.0 - conf) / 2.0 })
            })
            .collect();
        let mut r = EvalReport::new("model<&>.snap.tflite");
        r.dataset = DatasetSummary {
            n_classes: 3,
            id: n,
            cid: 0,
            ood: 50,
            accuracy_id: Some(0.8),
            accuracy_cid: None,
        };
        r.calibration
            .push(calibration_report("softmax", None, &probs, 3, &labels).unwrap());
        for (name, s) in [("SNAP-UQ", &good), ("Entropy", &weak)] {
            let inputs = MethodInputs {
                scores: s,
                correct: &correct,
                clean_id: None,
                ood_scores: Some(&ood),
                probs: Some((&probs, 3, &labels)),
            };
            let mut m = method_report(name, inputs, 1).unwrap();
            m.params.insert("T".into(), 1.5);
            r.methods.push(m);
        }
        // A small stream: ID then a bad CID stretch; a perfect tracker as the trace.
        let id: Vec<usize> = (0..10).collect();
        let cid = vec![vec![vec![100usize]]; 1];
        let spec = StreamSpec {
            id_len: 300,
            cid_len: 300,
            ood_len: 0,
            type_cycle: 100,
            severities: 1,
        };
        let st = build_stream(
            &StreamPools {
                id: &id,
                cid: &cid,
                ood: &[],
            },
            &spec,
            0,
        )
        .unwrap();
        let labels_s: Vec<bool> = (0..600).map(|t| t >= 320).collect();
        let scores_s: Vec<f64> = (0..600)
            .map(|t| {
                if t >= 310 {
                    0.9
                } else {
                    0.1 + (t % 7) as f64 * 0.01
                }
            })
            .collect();
        let sm = evaluate_stream(
            StreamScores {
                scores: &scores_s,
                labels: &labels_s,
            },
            StreamScores {
                scores: &scores_s,
                labels: &labels_s,
            },
            &st.clean_id_mask(),
            2,
        )
        .unwrap();
        r.methods[0].stream = Some(sm.clone());
        r.stream = Some(StreamReport {
            spec,
            band: IdBand {
                mean: 0.9,
                std: 0.01,
                window: 100,
            },
            segments: st.segments.clone(),
            events: events_from_labels(&labels_s),
            trace: Some(StreamTrace {
                method: "SNAP-UQ".into(),
                scores: scores_s,
                threshold: sm.dev_threshold.threshold,
            }),
        });
        r.notes
            .push("audio shifts are feature-domain approximations".into());
        r
    }

    #[test]
    fn json_round_trips() {
        let r = sample_report();
        let json = r.to_json().unwrap();
        let back = EvalReport::from_json(&json).unwrap();
        // Bit-exact floats need serde_json's `float_roundtrip` feature (enabled in Cargo.toml).
        assert!(back == r, "JSON round trip changed the report");
        assert!(json.contains("\"auroc_id_error\""));
        let m = &r.methods[0];
        assert!(m.auroc_id_error.unwrap().estimate > 0.9);
        assert!(m.auroc_id_ood.is_some() && m.selective_nll_90.is_some());
        assert_eq!(m.risk_at_coverage.len(), 3);
        assert!(m.risk_coverage.as_ref().unwrap().coverage.len() <= CURVE_POINTS);
        assert!(EvalReport::from_json("{").is_err());
    }

    #[test]
    fn summary_table_is_aligned() {
        let r = sample_report();
        let t = r.summary_table();
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 2 + r.methods.len());
        assert!(lines[2].starts_with("SNAP-UQ") && lines[3].starts_with("Entropy"));
        // Right-aligned columns end at the same character position.
        let w = lines[0].chars().count();
        assert!(lines[2..].iter().all(|l| l.chars().count() <= w));
        assert!(lines[2].contains('['), "CI missing: {}", lines[2]);
        // Entropy has no stream metrics: shown as '-'.
        assert!(lines[3].trim_end().ends_with('-'));
    }

    #[test]
    fn svgs_are_well_formed_ish() {
        let r = sample_report();
        let rc = r.risk_coverage_svg().unwrap();
        assert!(rc.trim_start().starts_with("<svg") && rc.trim_end().ends_with("</svg>"));
        assert!(rc.contains("SNAP-UQ") && rc.contains("Entropy") && rc.contains("Coverage"));
        let rel = r.reliability_svg().unwrap();
        assert!(
            rel.trim_start().starts_with("<svg")
                && rel.contains("softmax")
                && rel.contains("perfect calibration")
        );
        let tr = r.stream_trace_svg().unwrap().unwrap();
        assert!(
            tr.trim_start().starts_with("<svg")
                && tr.contains("alarms")
                && tr.contains("threshold")
        );
        assert!(
            tr.matches("<rect").count() >= 2,
            "segments/events not shaded"
        );
        let html = r.to_html().unwrap();
        assert!(html.contains("model&lt;&amp;&gt;") && html.matches("<svg").count() == 3);
        let dir = std::env::temp_dir().join(format!("snapuq-eval-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        r.write_json(&dir.join("r.json")).unwrap();
        r.write_html(&dir.join("r.html")).unwrap();
        assert!(std::fs::metadata(dir.join("r.html")).unwrap().len() > 1000);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn method_report_records_skips() {
        let m = method_report(
            "MSP",
            MethodInputs {
                scores: &[0.1, 0.2],
                correct: &[true, true],
                clean_id: None,
                ood_scores: None,
                probs: None,
            },
            0,
        )
        .unwrap();
        assert!(m.auroc_id_error.is_none());
        assert!(m.skipped.iter().any(|s| s.contains("AUROC")));
        assert!(method_report(
            "MSP",
            MethodInputs {
                scores: &[0.1],
                correct: &[true, true],
                clean_id: None,
                ood_scores: None,
                probs: None
            },
            0
        )
        .is_err());
    }
}
