//! Every uncertainty method scored on every record (higher = more uncertain), with its
//! hyper-parameters tuned on the dev half only (`snapuq_eval::baselines` does the maths):
//!
//! * SNAP-UQ: the model's own `snapuq/U` output (nothing tuned here; the converter fixed it),
//!   and its raw surprisal `snapuq/S` as a method of its own when the model has it, so S can be
//!   judged apart from the calibrator that mixes it with the softmax term.
//! * MSP, entropy: from the logits.
//! * Energy, ODIN-lite: temperature from their grids, best dev AUROC (ID✓ vs ID✗ on dev ID+CID).
//! * Temperature scaling: `T` minimizing dev clean-ID NLL; score `1 − max softmax(z/T)`.
//! * Mahalanobis at the SNAP taps (globally pooled per channel): class means and diagonal
//!   covariance fitted on dev clean ID (the eval data has no separate train split), shrinkage
//!   and tap weights chosen by dev AUROC.
//! * ReAct and ASH at the penultimate features with the final FULLY_CONNECTED as head:
//!   ReAct clips at the 90th percentile of dev clean-ID activations; ASH-s prunes at the
//!   percentile (65/80/90) with the best dev AUROC. Both score by energy at T = 1.
use anyhow::{anyhow, Result};
use snapuq_eval::baselines::{
    self, Ash, AshVariant, Mahalanobis, ReAct, TapFeatures, ENERGY_TEMPERATURE_GRID,
    ODIN_TEMPERATURE_GRID,
};
use snapuq_eval::metrics;
use std::collections::BTreeMap;

use super::features::{ModelFacts, Outputs};

/// ASH pruning percentiles tried on dev.
const ASH_GRID: [f64; 3] = [65.0, 80.0, 90.0];
/// ReAct clip percentile (Sun et al.).
const REACT_PERCENTILE: f64 = 90.0;

/// Method name of the model's `snapuq/U` output.
pub const U_NAME: &str = "SNAP-UQ (U)";
/// Method name of the model's `snapuq/S` output.
pub const S_NAME: &str = "SNAP-UQ (S)";

/// One method's scores on all records.
pub struct Scored {
    pub name: String,
    pub params: BTreeMap<String, f64>,
    pub scores: Vec<f64>,
    /// Probabilities for selective NLL (`n * classes`), when the method changes them.
    pub probs: Option<Vec<f64>>,
}

/// Index sets the tuning needs.
pub struct DevSplit<'a> {
    /// Dev ID + CID records.
    pub dev: &'a [usize],
    /// Dev clean ID records.
    pub dev_id: &'a [usize],
    /// Correctness of every record.
    pub correct: &'a [bool],
    /// Label of every record (`usize::MAX` for OOD).
    pub labels: &'a [usize],
}

fn rows(flat: &[f64], width: usize, idx: &[usize]) -> Vec<f64> {
    idx.iter()
        .flat_map(|&i| flat[i * width..(i + 1) * width].iter().copied())
        .collect()
}

fn pick<T: Copy>(v: &[T], idx: &[usize]) -> Vec<T> {
    idx.iter().map(|&i| v[i]).collect()
}

fn e(err: snapuq_eval::EvalError) -> anyhow::Error {
    anyhow!("{err}")
}

/// Scores every method. Methods whose prerequisites are missing (no U output, no SNAP taps, no
/// final FULLY_CONNECTED) or whose tuning fails are skipped with a note.
pub fn score_all(
    facts: &ModelFacts,
    out: &Outputs,
    split: &DevSplit<'_>,
    notes: &mut Vec<String>,
) -> Result<Vec<Scored>> {
    let c = facts.classes();
    let z = &out.logits;
    let dev_z = rows(z, c, split.dev);
    let dev_correct = pick(split.correct, split.dev);
    let mut methods = Vec::new();
    let plain = |name: &str, scores: Vec<f64>| Scored {
        name: name.into(),
        params: BTreeMap::new(),
        scores,
        probs: None,
    };
    match &out.u {
        Some(u) => methods.push(plain(U_NAME, u.clone())),
        None => notes.push("SNAP-UQ: the model has no snapuq/U output (baselines only)".into()),
    }
    if let Some(s) = &out.s {
        methods.push(plain(S_NAME, s.clone()));
    }
    methods.push(plain("MSP", baselines::msp_score(z, c).map_err(e)?));
    methods.push(plain("Entropy", baselines::entropy_score(z, c).map_err(e)?));

    let mut tuned = |name: &str, key: &str, r: snapuq_eval::Result<baselines::Tuned>| match r {
        Ok(t) => Some(t.value),
        Err(err) => {
            notes.push(format!(
                "{name}: dev tuning failed ({err}); using {key} = 1"
            ));
            None
        }
    };
    let t_energy = tuned(
        "Energy",
        "T",
        baselines::tune_energy_temperature(&dev_z, c, &dev_correct, &ENERGY_TEMPERATURE_GRID),
    )
    .unwrap_or(1.0);
    let t_odin = tuned(
        "ODIN-lite",
        "T",
        baselines::tune_odin_temperature(&dev_z, c, &dev_correct, &ODIN_TEMPERATURE_GRID),
    )
    .unwrap_or(1.0);
    let mut m = plain(
        "Energy",
        baselines::energy_score(z, c, t_energy).map_err(e)?,
    );
    m.params.insert("T".into(), t_energy);
    methods.push(m);

    let dev_id_z = rows(z, c, split.dev_id);
    let dev_id_y = pick(split.labels, split.dev_id);
    let t_scale = baselines::fit_temperature(&dev_id_z, c, &dev_id_y).map_err(e)?;
    let scaled = baselines::softmax(z, c, t_scale).map_err(e)?;
    let mut m = plain(
        "Temp. scaling",
        baselines::msp_from_probs(&scaled, c).map_err(e)?,
    );
    m.params.insert("T".into(), t_scale);
    m.probs = Some(scaled);
    methods.push(m);

    // Mahalanobis reads the SNAP taps; a model without them falls back to the penultimate
    // features so the baseline still exists (noted).
    let tap_sets: Vec<(&[f64], usize)> = if out.taps.is_empty() {
        match (&facts.head, &out.penultimate) {
            (Some(h), Some(p)) => {
                notes.push(
                    "Mahalanobis: no SNAP taps in the model; using the penultimate features".into(),
                );
                vec![(p.as_slice(), h.linear.in_dim)]
            }
            _ => Vec::new(),
        }
    } else {
        out.taps
            .iter()
            .zip(&facts.snap_taps)
            .map(|(d, t)| (d.as_slice(), t.dim))
            .collect()
    };
    if tap_sets.is_empty() {
        notes.push("Mahalanobis: the model has no SNAP taps or penultimate features".into());
    } else {
        let all: Vec<TapFeatures<'_>> = tap_sets
            .iter()
            .map(|&(data, dim)| TapFeatures { data, dim })
            .collect();
        let fit_data: Vec<Vec<f64>> = tap_sets
            .iter()
            .map(|&(d, dim)| rows(d, dim, split.dev_id))
            .collect();
        let dev_data: Vec<Vec<f64>> = tap_sets
            .iter()
            .map(|&(d, dim)| rows(d, dim, split.dev))
            .collect();
        let fit: Vec<TapFeatures<'_>> = fit_data
            .iter()
            .zip(&tap_sets)
            .map(|(d, &(_, dim))| TapFeatures { data: d, dim })
            .collect();
        let dev: Vec<TapFeatures<'_>> = dev_data
            .iter()
            .zip(&tap_sets)
            .map(|(d, &(_, dim))| TapFeatures { data: d, dim })
            .collect();
        let maha = match Mahalanobis::tune(&fit, &dev_id_y, c, &dev, &dev_correct) {
            Ok((m, _)) => Some(m),
            Err(err) => {
                notes.push(format!(
                    "Mahalanobis: dev tuning failed ({err}); using uniform tap weights, no shrinkage"
                ));
                Mahalanobis::fit(&fit, &dev_id_y, c, 0.0).ok()
            }
        };
        if let Some(maha) = maha {
            let mut m = plain("Mahalanobis", maha.score(&all).map_err(e)?);
            for (k, w) in maha.weights.iter().enumerate() {
                m.params.insert(format!("w_tap{k}"), *w);
            }
            methods.push(m);
        }
    }

    match (&facts.head, &out.penultimate) {
        (Some(h), Some(feat)) => {
            let d = h.linear.in_dim;
            let react = ReAct::fit(
                &rows(feat, d, split.dev_id),
                h.linear.clone(),
                REACT_PERCENTILE,
                false,
                1.0,
            )
            .map_err(e)?;
            let mut m = plain("ReAct", react.score(feat).map_err(e)?);
            m.params.insert("percentile".into(), REACT_PERCENTILE);
            if let baselines::Clip::PerTensor(cl) = react.clip {
                m.params.insert("clip".into(), cl);
            }
            methods.push(m);

            let dev_feat = rows(feat, d, split.dev);
            let errors: Vec<bool> = dev_correct.iter().map(|c| !c).collect();
            let mut best: Option<(f64, f64)> = None;
            for p in ASH_GRID {
                let ash = Ash::new(p, AshVariant::Scale, h.linear.clone(), 1.0).map_err(e)?;
                let s = ash.score(&dev_feat).map_err(e)?;
                if let Ok(a) = metrics::auroc(&s, &errors) {
                    if best.is_none_or(|(_, b)| a > b) {
                        best = Some((p, a));
                    }
                }
            }
            let p = best.map_or(90.0, |b| b.0);
            let ash = Ash::new(p, AshVariant::Scale, h.linear.clone(), 1.0).map_err(e)?;
            let mut m = plain("ASH-s", ash.score(feat).map_err(e)?);
            m.params.insert("percentile".into(), p);
            methods.push(m);
        }
        _ => notes
            .push("ReAct/ASH: no final FULLY_CONNECTED found behind the classifier output".into()),
    }

    let mut m = plain(
        "ODIN-lite",
        baselines::odin_lite_score(z, c, t_odin).map_err(e)?,
    );
    m.params.insert("T".into(), t_odin);
    methods.push(m);
    Ok(methods)
}
