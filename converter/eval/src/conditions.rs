//! Failure detection **inside each condition** (issue 10): a score can separate conditions
//! (clean vs heavily corrupted) without ranking the samples of any one condition, and a pooled
//! AUROC rewards exactly that. This module computes AUROC wrong-vs-correct (wrong = positive)
//! per method on
//!
//! * clean ID;
//! * each shift family pooled over its severities, and the **mean of its per-severity
//!   AUROCs** (the CIFAR-10-C convention: it does not let the family's error rate rising with
//!   severity stand in for per-sample ranking);
//! * each (family, severity) cell;
//! * pooled clean ID + every shifted record;
//!
//! with 95 % bootstrap intervals for every method on the clean and pooled rows, and for the
//! **paired** difference AUROC(a) − AUROC(b) (normally U − MSP) on every row: each resample
//! draws the same records for both scores, so the interval is that of the difference itself,
//! which is what decides whether one score beats the other.
//!
//! The bootstrap resamples **source samples** (clusters), not records: the shifted copies of
//! one image are not independent draws, and treating them as such would make the pooled and
//! family intervals too narrow. Inside a (family, severity) cell every source contributes at
//! most one record, so there the cluster and record bootstraps coincide.
//!
//! Every AUROC is [`crate::metrics::auroc`]; every interval is [`crate::metrics::bootstrap_ci`].

use crate::error::{check_len, EvalError, Result};
use crate::metrics::{auroc, bootstrap_ci, Ci};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The condition a record belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordCondition {
    /// Clean in-distribution sample.
    Clean,
    /// A shifted copy: index into [`ConditionInputs::families`] and severity.
    Shifted {
        /// Index into the family names.
        family: usize,
        /// Severity (1..=5 for the project's suites).
        severity: u8,
    },
}

/// Inputs of [`condition_table`]. All per-record slices describe the same records.
#[derive(Debug, Clone, Copy)]
pub struct ConditionInputs<'a> {
    /// Method names and their scores (higher = more uncertain), one score per record.
    pub methods: &'a [(&'a str, &'a [f64])],
    /// Whether the classifier was right on the record.
    pub correct: &'a [bool],
    /// Condition of every record.
    pub condition: &'a [RecordCondition],
    /// Source sample of every record (cluster of the bootstrap).
    pub source: &'a [usize],
    /// Family names, indexed by [`RecordCondition::Shifted::family`].
    pub families: &'a [String],
    /// Indices into `methods` of the paired difference `AUROC(a) − AUROC(b)`, if wanted.
    pub difference: Option<(usize, usize)>,
    /// Bootstrap resamples (the paper uses [`crate::metrics::BOOTSTRAP_RESAMPLES`]).
    pub resamples: usize,
    /// Seed of every bootstrap (each row derives its own from it).
    pub seed: u64,
}

/// Which records a row covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConditionScope {
    /// Clean ID records.
    Clean,
    /// Clean ID and every shifted record.
    Pooled,
    /// One family, all its severities pooled into one AUROC.
    Family,
    /// One family: the mean of its per-severity AUROCs.
    FamilyMean,
    /// One (family, severity) cell.
    Cell,
}

/// One condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConditionRow {
    /// Display name ("clean", "fog", "fog mean s1-5", "fog s3", "pooled ID+CID").
    pub name: String,
    /// Which records the row covers.
    pub scope: ConditionScope,
    /// Family of family and cell rows.
    pub family: Option<String>,
    /// Severity of cell rows.
    pub severity: Option<u8>,
    /// Records in the condition.
    pub samples: usize,
    /// Wrong predictions among them (the positives).
    pub wrong: usize,
    /// AUROC per method, aligned with [`ConditionTable::methods`]; `None` where undefined
    /// (a condition with only right or only wrong predictions; reason in `skipped`).
    pub auroc: Vec<Option<f64>>,
    /// Bootstrap CI per method, aligned with [`ConditionTable::methods`]; computed on the
    /// clean and pooled rows only (`None` elsewhere).
    pub auroc_ci: Vec<Option<Ci>>,
    /// Paired bootstrap CI of [`ConditionTable::difference`] on this row.
    pub difference: Option<Ci>,
    /// Why a number is missing.
    pub skipped: Vec<String>,
}

/// Per-condition AUROCs of every method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConditionTable {
    /// Method names, in the order of every per-method vector of the rows.
    pub methods: Vec<String>,
    /// `[a, b]`: the rows' `difference` is AUROC(a) − AUROC(b).
    pub difference: Option<[String; 2]>,
    /// Bootstrap resamples (clusters = source samples).
    pub resamples: usize,
    /// Severities present among the shifted records.
    pub severities: Vec<u8>,
    /// Clean, pooled, then per family: pooled, mean over severities, each severity.
    pub rows: Vec<ConditionRow>,
    /// Columns of the terminal table, `[header, method name]` (set by the caller; the JSON
    /// holds every method regardless).
    #[serde(default)]
    pub shown: Vec<[String; 2]>,
}

/// A row before its numbers: which records it covers.
struct RowSpec {
    name: String,
    scope: ConditionScope,
    family: Option<usize>,
    severity: Option<u8>,
    idx: Vec<usize>,
}

/// Records of `idx` grouped by source sample, in first-seen order.
fn clusters(idx: &[usize], source: &[usize]) -> Vec<Vec<usize>> {
    let mut pos: BTreeMap<usize, usize> = BTreeMap::new();
    let mut out: Vec<Vec<usize>> = Vec::new();
    for &i in idx {
        let k = *pos.entry(source[i]).or_insert_with(|| {
            out.push(Vec::new());
            out.len() - 1
        });
        out[k].push(i);
    }
    out
}

fn sub_auroc(scores: &[f64], correct: &[bool], idx: &[usize]) -> Result<f64> {
    let s: Vec<f64> = idx.iter().map(|&i| scores[i]).collect();
    let p: Vec<bool> = idx.iter().map(|&i| !correct[i]).collect();
    auroc(&s, &p)
}

/// The statistic of a row on a set of records: one AUROC, or the mean over severities of the
/// per-severity AUROCs (family-mean rows).
#[derive(Clone, Copy)]
enum Statistic<'a> {
    Plain,
    MeanOverSeverities(&'a [RecordCondition]),
}

impl Statistic<'_> {
    fn eval(&self, scores: &[f64], correct: &[bool], idx: &[usize]) -> Result<f64> {
        match self {
            Statistic::Plain => sub_auroc(scores, correct, idx),
            Statistic::MeanOverSeverities(cond) => {
                let mut by_sev: BTreeMap<u8, Vec<usize>> = BTreeMap::new();
                for &i in idx {
                    if let RecordCondition::Shifted { severity, .. } = cond[i] {
                        by_sev.entry(severity).or_default().push(i);
                    }
                }
                if by_sev.is_empty() {
                    return Err(EvalError::Empty("family records"));
                }
                let mut sum = 0.0;
                for (s, recs) in &by_sev {
                    sum += sub_auroc(scores, correct, recs)
                        .map_err(|e| EvalError::Undefined(format!("severity {s}: {e}")))?;
                }
                Ok(sum / by_sev.len() as f64)
            }
        }
    }
}

/// Bootstrap over source samples: each resample draws sources with replacement and takes all
/// their records in `idx`.
fn cluster_ci(
    idx: &[usize],
    source: &[usize],
    resamples: usize,
    seed: u64,
    mut stat: impl FnMut(&[usize]) -> Option<f64>,
) -> Result<Ci> {
    let cl = clusters(idx, source);
    let mut recs = Vec::with_capacity(idx.len());
    bootstrap_ci(cl.len(), resamples, seed, |pick| {
        recs.clear();
        for &c in pick {
            recs.extend_from_slice(&cl[c]);
        }
        stat(&recs)
    })
}

/// Computes the per-condition table. Malformed input (length mismatch, a family index out of
/// range, a difference index out of range) is an error; an undefined AUROC is a `None` with
/// the reason in the row's `skipped`.
pub fn condition_table(inp: &ConditionInputs<'_>) -> Result<ConditionTable> {
    let n = inp.correct.len();
    check_len("record conditions", n, inp.condition.len())?;
    check_len("record sources", n, inp.source.len())?;
    for (name, s) in inp.methods {
        check_len("method scores", n, s.len())?;
        if s.iter().any(|v| !v.is_finite()) {
            return Err(EvalError::InvalidArgument(format!(
                "{name}: scores must be finite"
            )));
        }
    }
    if let Some((a, b)) = inp.difference {
        if a >= inp.methods.len() || b >= inp.methods.len() {
            return Err(EvalError::InvalidArgument(format!(
                "difference methods ({a}, {b}) out of range for {} methods",
                inp.methods.len()
            )));
        }
    }
    let mut severities: Vec<u8> = Vec::new();
    for c in inp.condition {
        if let RecordCondition::Shifted { family, severity } = *c {
            if family >= inp.families.len() {
                return Err(EvalError::InvalidArgument(format!(
                    "family index {family} out of range for {} families",
                    inp.families.len()
                )));
            }
            severities.push(severity);
        }
    }
    severities.sort_unstable();
    severities.dedup();

    let select = |f: &dyn Fn(RecordCondition) -> bool| -> Vec<usize> {
        (0..n).filter(|&i| f(inp.condition[i])).collect()
    };
    let sev_span = match (severities.first(), severities.last()) {
        (Some(a), Some(b)) if a != b => format!("s{a}-{b}"),
        (Some(a), _) => format!("s{a}"),
        _ => String::new(),
    };
    let spec = |name: String, scope, family, severity, idx| RowSpec {
        name,
        scope,
        family,
        severity,
        idx,
    };
    let mut specs = vec![
        spec(
            "clean".into(),
            ConditionScope::Clean,
            None,
            None,
            select(&|c| c == RecordCondition::Clean),
        ),
        spec(
            "pooled ID+CID".into(),
            ConditionScope::Pooled,
            None,
            None,
            (0..n).collect(),
        ),
    ];
    for (k, fam) in inp.families.iter().enumerate() {
        let of_family =
            select(&|c| matches!(c, RecordCondition::Shifted { family, .. } if family == k));
        if of_family.is_empty() {
            continue;
        }
        specs.push(spec(
            fam.clone(),
            ConditionScope::Family,
            Some(k),
            None,
            of_family.clone(),
        ));
        specs.push(spec(
            format!("{fam} mean {sev_span}"),
            ConditionScope::FamilyMean,
            Some(k),
            None,
            of_family,
        ));
        for &s in &severities {
            let cell = select(&|c| {
                c == RecordCondition::Shifted {
                    family: k,
                    severity: s,
                }
            });
            if !cell.is_empty() {
                specs.push(spec(
                    format!("{fam} s{s}"),
                    ConditionScope::Cell,
                    Some(k),
                    Some(s),
                    cell,
                ));
            }
        }
    }

    let mut rows = Vec::with_capacity(specs.len());
    for (r, sp) in specs.into_iter().enumerate() {
        let RowSpec {
            name,
            scope,
            family,
            severity,
            idx,
        } = sp;
        let stat = if scope == ConditionScope::FamilyMean {
            Statistic::MeanOverSeverities(inp.condition)
        } else {
            Statistic::Plain
        };
        let mut skipped = Vec::new();
        let mut au = Vec::with_capacity(inp.methods.len());
        for (name, s) in inp.methods {
            match stat.eval(s, inp.correct, &idx) {
                Ok(v) => au.push(Some(v)),
                Err(e) => {
                    skipped.push(format!("{name}: AUROC: {e}"));
                    au.push(None);
                }
            }
        }
        let row_seed = inp
            .seed
            .wrapping_add(1_000_003u64.wrapping_mul(r as u64 + 1));
        let with_ci = matches!(scope, ConditionScope::Clean | ConditionScope::Pooled);
        let mut cis = vec![None; inp.methods.len()];
        if with_ci && !idx.is_empty() {
            for (m, (name, s)) in inp.methods.iter().enumerate() {
                if au[m].is_none() {
                    continue;
                }
                match cluster_ci(
                    &idx,
                    inp.source,
                    inp.resamples,
                    row_seed.wrapping_add(m as u64),
                    |recs| stat.eval(s, inp.correct, recs).ok(),
                ) {
                    Ok(ci) => cis[m] = Some(ci),
                    Err(e) => skipped.push(format!("{name}: CI: {e}")),
                }
            }
        }
        let mut difference = None;
        if let Some((a, b)) = inp.difference {
            if au[a].is_some() && au[b].is_some() {
                let (sa, sb) = (inp.methods[a].1, inp.methods[b].1);
                // Same resampled records for both scores: the paired bootstrap.
                match cluster_ci(
                    &idx,
                    inp.source,
                    inp.resamples,
                    row_seed.wrapping_add(0xD1FF),
                    |recs| {
                        let x = stat.eval(sa, inp.correct, recs).ok()?;
                        let y = stat.eval(sb, inp.correct, recs).ok()?;
                        Some(x - y)
                    },
                ) {
                    Ok(ci) => difference = Some(ci),
                    Err(e) => skipped.push(format!("difference: {e}")),
                }
            }
        }
        rows.push(ConditionRow {
            name,
            scope,
            family: family.map(|k| inp.families[k].clone()),
            severity,
            samples: idx.len(),
            wrong: idx.iter().filter(|&&i| !inp.correct[i]).count(),
            auroc: au,
            auroc_ci: cis,
            difference,
            skipped,
        });
    }
    Ok(ConditionTable {
        methods: inp.methods.iter().map(|(n, _)| n.to_string()).collect(),
        difference: inp
            .difference
            .map(|(a, b)| [inp.methods[a].0.to_string(), inp.methods[b].0.to_string()]),
        resamples: inp.resamples,
        severities,
        rows,
        shown: Vec::new(),
    })
}

impl ConditionTable {
    /// Index of a method by name.
    pub fn method(&self, name: &str) -> Option<usize> {
        self.methods.iter().position(|m| m == name)
    }

    /// [`ConditionTable::text_with`] the columns of [`ConditionTable::shown`].
    pub fn text(&self) -> String {
        let cols: Vec<(&str, &str)> = self
            .shown
            .iter()
            .map(|[h, m]| (h.as_str(), m.as_str()))
            .collect();
        self.text_with(&cols)
    }

    /// Plain-text table: one line per condition with `n`, wrong, the AUROC of each method of
    /// `columns` (`(header, method name)`; methods not in the table are left out), with its CI
    /// where computed, and the paired difference with its CI.
    pub fn text_with(&self, columns: &[(&str, &str)]) -> String {
        let cols: Vec<(&str, usize)> = columns
            .iter()
            .filter_map(|&(h, m)| self.method(m).map(|k| (h, k)))
            .collect();
        let diff_header = self
            .difference
            .as_ref()
            .map(|[a, b]| {
                let short = |x: &str| {
                    columns
                        .iter()
                        .find(|(_, m)| *m == x)
                        .map_or(x.to_string(), |(h, _)| h.to_string())
                };
                format!("{}−{} [95% CI]", short(a), short(b))
            })
            .unwrap_or_default();
        let mut header = vec!["Condition".to_string(), "n".into(), "wrong".into()];
        header.extend(cols.iter().map(|(h, _)| h.to_string()));
        if self.difference.is_some() {
            header.push(diff_header);
        }
        let mut rows = vec![header];
        for r in &self.rows {
            let mut line = vec![r.name.clone(), r.samples.to_string(), r.wrong.to_string()];
            for &(_, k) in &cols {
                line.push(match (r.auroc[k], r.auroc_ci[k]) {
                    (Some(_), Some(c)) => format!("{:.3} [{:.3},{:.3}]", c.estimate, c.lo, c.hi),
                    (Some(v), None) => format!("{v:.3}"),
                    _ => "-".into(),
                });
            }
            if self.difference.is_some() {
                line.push(r.difference.map_or("-".into(), |c| {
                    format!("{:+.3} [{:+.3},{:+.3}]", c.estimate, c.lo, c.hi)
                }));
            }
            rows.push(line);
        }
        let cols_n = rows[0].len();
        let widths: Vec<usize> = (0..cols_n)
            .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
            .collect();
        let mut out = String::new();
        for (k, r) in rows.iter().enumerate() {
            let cells: Vec<String> = r
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
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
            if k == 0 {
                let total: usize = widths.iter().sum::<usize>() + 2 * (cols_n - 1);
                out.push_str(&"-".repeat(total));
                out.push('\n');
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::BOOTSTRAP_RESAMPLES;

    /// Correct flags, conditions, sources, and the `good` and `flat` scores.
    type Data = (
        Vec<bool>,
        Vec<RecordCondition>,
        Vec<usize>,
        Vec<f64>,
        Vec<f64>,
    );

    /// 40 sources, each clean + two families × two severities. `good` ranks errors perfectly
    /// inside every condition; `flat` is the condition's error rate only (constant within a
    /// condition), which a pooled AUROC rewards but a per-condition AUROC must not.
    fn data() -> Data {
        let (mut correct, mut cond, mut src, mut good, mut flat) =
            (vec![], vec![], vec![], vec![], vec![]);
        for i in 0..40usize {
            let mut push = |c: RecordCondition, rate: f64, k: usize| {
                let wrong = ((i * 7 + k * 3) % 10) as f64 / 10.0 < rate;
                correct.push(!wrong);
                cond.push(c);
                src.push(i);
                good.push(if wrong { 1.0 } else { 0.0 } + (i % 5) as f64 * 0.01);
                flat.push(rate);
            };
            push(RecordCondition::Clean, 0.2, 0);
            for f in 0..2 {
                for s in [1u8, 3] {
                    let rate = 0.2 + 0.1 * s as f64 + 0.1 * f as f64;
                    push(
                        RecordCondition::Shifted {
                            family: f,
                            severity: s,
                        },
                        rate,
                        1 + f * 2 + s as usize,
                    );
                }
            }
        }
        (correct, cond, src, good, flat)
    }

    #[test]
    fn per_condition_auroc_separates_ranking_from_condition_rates() {
        let (correct, cond, src, good, flat) = data();
        let fams = vec!["noise".to_string(), "fog".to_string()];
        let methods: Vec<(&str, &[f64])> = vec![("good", &good), ("rate", &flat)];
        let t = condition_table(&ConditionInputs {
            methods: &methods,
            correct: &correct,
            condition: &cond,
            source: &src,
            families: &fams,
            difference: Some((0, 1)),
            resamples: 200,
            seed: 3,
        })
        .unwrap();
        // clean, pooled, and per family: pooled + mean + 2 cells.
        assert_eq!(t.rows.len(), 2 + 2 * 4);
        assert_eq!(t.severities, vec![1, 3]);
        let row = |name: &str| t.rows.iter().find(|r| r.name == name).unwrap();
        assert_eq!(row("clean").samples, 40);
        assert_eq!(row("pooled ID+CID").samples, 200);
        assert_eq!(row("fog s3").samples, 40);
        // Perfect ranking inside every condition.
        for r in &t.rows {
            assert_eq!(r.auroc[0], Some(1.0), "{}", r.name);
        }
        // A per-condition constant is at chance inside a condition, above chance pooled.
        assert_eq!(row("fog s1").auroc[1], Some(0.5));
        assert_eq!(row("fog mean s1-3").auroc[1], Some(0.5));
        assert!(row("pooled ID+CID").auroc[1].unwrap() > 0.55);
        // The family-mean row is the mean of its cells, computed with metrics::auroc.
        let cells: Vec<f64> = [1u8, 3]
            .iter()
            .map(|&s| {
                let idx: Vec<usize> = (0..cond.len())
                    .filter(|&i| {
                        cond[i]
                            == RecordCondition::Shifted {
                                family: 0,
                                severity: s,
                            }
                    })
                    .collect();
                sub_auroc(&flat, &correct, &idx).unwrap()
            })
            .collect();
        let mean = row("noise mean s1-3").auroc[1].unwrap();
        assert!((mean - (cells[0] + cells[1]) / 2.0).abs() < 1e-12);
        // CIs on clean and pooled only; the paired difference everywhere, clearly positive.
        assert!(row("clean").auroc_ci[0].is_some() && row("fog s1").auroc_ci[0].is_none());
        for r in &t.rows {
            let d = r.difference.unwrap();
            assert!(
                d.lo > 0.0 && d.lo <= d.estimate && d.estimate <= d.hi,
                "{r:?}"
            );
        }
        let text = t.text_with(&[("G", "good"), ("R", "rate"), ("X", "missing")]);
        assert_eq!(text.lines().count(), 2 + t.rows.len());
        assert!(text.lines().next().unwrap().contains("G−R [95% CI]"));
        assert!(!text.contains(" X "));
    }

    #[test]
    fn paired_difference_of_a_score_with_itself_is_exactly_zero() {
        let (correct, cond, src, good, _) = data();
        let fams = vec!["noise".to_string(), "fog".to_string()];
        let methods: Vec<(&str, &[f64])> = vec![("a", &good), ("b", &good)];
        let t = condition_table(&ConditionInputs {
            methods: &methods,
            correct: &correct,
            condition: &cond,
            source: &src,
            families: &fams,
            difference: Some((0, 1)),
            resamples: BOOTSTRAP_RESAMPLES,
            seed: 0,
        })
        .unwrap();
        let d = t.rows[1].difference.unwrap();
        // Unpaired resampling would give a spread around 0; paired gives none.
        assert_eq!((d.estimate, d.lo, d.hi), (0.0, 0.0, 0.0));
    }

    #[test]
    fn undefined_conditions_and_bad_input() {
        // Every clean record right: clean AUROC undefined, reported as skipped.
        let correct = [true, true, false, true];
        let cond = [
            RecordCondition::Clean,
            RecordCondition::Clean,
            RecordCondition::Shifted {
                family: 0,
                severity: 2,
            },
            RecordCondition::Shifted {
                family: 0,
                severity: 2,
            },
        ];
        let s = [0.1, 0.2, 0.9, 0.3];
        let fams = vec!["fog".to_string()];
        let methods: Vec<(&str, &[f64])> = vec![("a", &s)];
        let mut inp = ConditionInputs {
            methods: &methods,
            correct: &correct,
            condition: &cond,
            source: &[0, 1, 0, 1],
            families: &fams,
            difference: None,
            resamples: 50,
            seed: 0,
        };
        let t = condition_table(&inp).unwrap();
        assert_eq!(t.rows[0].auroc[0], None);
        assert!(t.rows[0].skipped[0].contains("both classes"));
        assert_eq!(t.rows[1].auroc[0], Some(1.0));
        inp.difference = Some((0, 4));
        assert!(condition_table(&inp).is_err());
        inp.difference = None;
        inp.source = &[0, 1];
        assert!(condition_table(&inp).is_err());
    }
}
