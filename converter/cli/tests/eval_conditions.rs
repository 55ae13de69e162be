//! Issue 10's honest-reporting tooling on the example digits model: the per-condition AUROC
//! table (clean, family pooled, family mean over severities, cells, pooled) with the paired
//! U − MSP difference, `--all-families`, per-record scores in the JSON from which every
//! AUROC is recomputed with `snapuq_eval::metrics::auroc`, `--tune-data`, and `run --out`
//! keyed by output tensor names.
use snapuq_eval::conditions::ConditionScope;
use snapuq_eval::metrics;
use snapuq_eval::report::{EvalReport, SampleRecord};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn snap_convert() -> Command {
    Command::new(env!("CARGO_BIN_EXE_snap-convert"))
}

fn models() -> PathBuf {
    snapuq_testkit::repo_root().join("examples/models")
}

fn ok(out: Output, what: &str) -> (String, String) {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        out.status.success(),
        "{what} failed:\nstdout: {stdout}\nstderr: {stderr}"
    );
    (stdout, stderr)
}

fn fails(out: Output, what: &str) -> String {
    assert!(!out.status.success(), "{what} should have failed");
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// The shipped augmented example (has `snapuq/U` and `snapuq/S`).
fn model() -> PathBuf {
    models().join("digits_cnn.snap.tflite")
}

fn eval(dir: &Path, extra: &[&str]) -> (String, EvalReport) {
    let m = models();
    let json = dir.join("eval.json");
    let (stdout, _) = ok(
        snap_convert()
            .arg("eval")
            .arg(model())
            .arg("--data")
            .arg(m.join("digits_test.npy"))
            .arg("--labels")
            .arg(m.join("digits_test_labels.npy"))
            .arg("--json")
            .arg(&json)
            .args(["--seed", "5"])
            .args(extra)
            .output()
            .unwrap(),
        "eval",
    );
    println!("{stdout}");
    let report = EvalReport::from_json(&std::fs::read_to_string(&json).unwrap()).unwrap();
    (stdout, report)
}

/// Test ID+CID records of the condition of a row, straight from the per-sample JSON.
fn records_of<'a>(
    report: &'a EvalReport,
    scope: ConditionScope,
    family: Option<&str>,
    severity: Option<u8>,
) -> Vec<&'a SampleRecord> {
    report
        .samples
        .iter()
        .filter(|s| s.half == "test" && s.kind != "ood")
        .filter(|s| match scope {
            ConditionScope::Clean => s.kind == "id",
            ConditionScope::Pooled => true,
            ConditionScope::Family | ConditionScope::FamilyMean => {
                s.kind == "cid" && s.family.as_deref() == family
            }
            ConditionScope::Cell => {
                s.kind == "cid" && s.family.as_deref() == family && s.severity == severity
            }
        })
        .collect()
}

fn auroc_of(recs: &[&SampleRecord], method: &str) -> f64 {
    let s: Vec<f64> = recs.iter().map(|r| r.scores[method]).collect();
    let wrong: Vec<bool> = recs.iter().map(|r| !r.correct).collect();
    metrics::auroc(&s, &wrong).unwrap()
}

/// Recomputes every defined AUROC of the condition table from the per-sample records.
fn check_recomputed(report: &EvalReport) -> usize {
    let t = report.conditions.as_ref().expect("condition table");
    let mut checked = 0;
    for row in &t.rows {
        let recs = records_of(report, row.scope, row.family.as_deref(), row.severity);
        assert_eq!(recs.len(), row.samples, "{}", row.name);
        assert_eq!(
            recs.iter().filter(|r| !r.correct).count(),
            row.wrong,
            "{}",
            row.name
        );
        for (k, m) in t.methods.iter().enumerate() {
            let Some(reported) = row.auroc[k] else {
                continue;
            };
            let again = if row.scope == ConditionScope::FamilyMean {
                let cells: Vec<f64> = t
                    .severities
                    .iter()
                    .map(|&s| {
                        auroc_of(
                            &records_of(
                                report,
                                ConditionScope::Cell,
                                row.family.as_deref(),
                                Some(s),
                            ),
                            m,
                        )
                    })
                    .collect();
                cells.iter().sum::<f64>() / cells.len() as f64
            } else {
                auroc_of(&recs, m)
            };
            assert!(
                (again - reported).abs() < 1e-12,
                "{} / {m}: recomputed {again} vs reported {reported}",
                row.name
            );
            checked += 1;
        }
        if let Some(d) = row.difference {
            let u = t.method("SNAP-UQ (U)").unwrap();
            let msp = t.method("MSP").unwrap();
            let diff = row.auroc[u].unwrap() - row.auroc[msp].unwrap();
            assert!((d.estimate - diff).abs() < 1e-12, "{}", row.name);
            assert!(
                d.lo <= d.estimate && d.estimate <= d.hi,
                "{}: {d:?}",
                row.name
            );
        }
    }
    // The per-method pooled AUROC of the main table is the pooled row too.
    let pooled = t
        .rows
        .iter()
        .find(|r| r.scope == ConditionScope::Pooled)
        .unwrap();
    for m in &report.methods {
        let k = t.method(&m.name).unwrap();
        assert_eq!(
            m.auroc_id_error.map(|c| c.estimate),
            pooled.auroc[k],
            "{}",
            m.name
        );
    }
    checked
}

#[test]
fn per_condition_table_with_all_families_recomputes_from_per_sample_scores() {
    let dir = tempfile::tempdir().unwrap();
    let (stdout, report) = eval(
        dir.path(),
        &[
            "--all-families",
            "--severities",
            "2,4",
            "--corruptions",
            "gaussian_noise,contrast,fog",
        ],
    );
    let t = report.conditions.as_ref().expect("condition table");
    assert_eq!(t.resamples, 1000);
    assert_eq!(t.severities, vec![2, 4]);
    // S is a method of its own; the table's difference is U − MSP.
    assert!(t.method("SNAP-UQ (S)").is_some(), "{:?}", t.methods);
    assert_eq!(
        t.difference,
        Some(["SNAP-UQ (U)".to_string(), "MSP".to_string()])
    );
    // clean, pooled, and per family: pooled + mean + 2 cells.
    assert_eq!(t.rows.len(), 2 + 3 * 4);
    // --all-families: every cell holds every clean test sample once.
    let clean = &t.rows[0];
    assert_eq!(clean.scope, ConditionScope::Clean);
    assert_eq!(clean.samples, report.dataset.id);
    for r in t.rows.iter().filter(|r| r.scope == ConditionScope::Cell) {
        assert_eq!(r.samples, clean.samples, "{}", r.name);
    }
    assert_eq!(report.dataset.cid, clean.samples * 3 * 2);
    // CIs on clean and pooled, paired difference with CI on every row.
    assert!(clean.auroc_ci.iter().all(Option::is_some));
    assert!(t.rows.iter().all(|r| r.difference.is_some()));
    // The terminal table: header with the four columns and the difference, one line per row.
    let header = stdout
        .lines()
        .find(|l| l.starts_with("Condition"))
        .expect("condition table header");
    for h in ["U", "S", "MSP", "Entropy", "U−MSP [95% CI]"] {
        assert!(header.contains(h), "{header}");
    }
    assert!(stdout.lines().any(|l| l.starts_with("fog s4")));
    assert!(stdout.lines().any(|l| l.starts_with("contrast mean s2-4")));
    // Every record is in the JSON, and every AUROC comes back from it.
    assert_eq!(
        report
            .samples
            .iter()
            .filter(|s| s.half == "test" && s.kind == "ood")
            .count(),
        report.dataset.ood
    );
    let first = &report.samples[0];
    assert!(first.scores.contains_key("SNAP-UQ (U)") && first.scores.contains_key("Mahalanobis"));
    let checked = check_recomputed(&report);
    assert!(checked > 50, "only {checked} AUROCs checked");
}

#[test]
fn rotating_families_fill_cells_with_a_share_of_the_samples() {
    let dir = tempfile::tempdir().unwrap();
    let (_, report) = eval(
        dir.path(),
        &[
            "--severities",
            "1,3,5",
            "--corruptions",
            "gaussian_noise,contrast",
        ],
    );
    let t = report.conditions.as_ref().unwrap();
    let n = report.dataset.id;
    let cells: Vec<usize> = t
        .rows
        .iter()
        .filter(|r| r.scope == ConditionScope::Cell)
        .map(|r| r.samples)
        .collect();
    assert_eq!(cells.len(), 6);
    assert_eq!(cells.iter().sum::<usize>(), n * 3);
    assert!(cells.iter().all(|&c| c < n), "{cells:?}");
    check_recomputed(&report);
}

#[test]
fn tune_data_makes_all_of_data_test() {
    let m = models();
    let dir = tempfile::tempdir().unwrap();
    let (_, report) = eval(
        dir.path(),
        &[
            "--tune-data",
            m.join("digits_dev.npy").to_str().unwrap(),
            "--tune-labels",
            m.join("digits_dev_labels.npy").to_str().unwrap(),
            "--severities",
            "3",
        ],
    );
    // digits_test has 297 samples: all of them are test.
    assert_eq!(report.dataset.id, 297);
    let test_sources: std::collections::BTreeSet<usize> = report
        .samples
        .iter()
        .filter(|s| s.half == "test" && s.kind == "id")
        .map(|s| s.source)
        .collect();
    assert_eq!(test_sources.len(), 297);
    // The dev half is the 250 tuning samples.
    assert_eq!(
        report
            .samples
            .iter()
            .filter(|s| s.half == "dev" && s.kind == "id")
            .count(),
        250
    );
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("nothing is tuned on the test data")),
        "{:?}",
        report.notes
    );
    check_recomputed(&report);

    // The same file for both, a .npy without labels, and --dev-fraction with it are refused.
    let run = |extra: &[&std::ffi::OsStr]| {
        fails(
            snap_convert()
                .arg("eval")
                .arg(model())
                .arg("--data")
                .arg(m.join("digits_test.npy"))
                .arg("--labels")
                .arg(m.join("digits_test_labels.npy"))
                .args(extra)
                .output()
                .unwrap(),
            "eval",
        )
    };
    let same = run(&[
        "--tune-data".as_ref(),
        m.join("digits_test.npy").as_os_str(),
        "--tune-labels".as_ref(),
        m.join("digits_test_labels.npy").as_os_str(),
    ]);
    assert!(same.contains("same file"), "{same}");
    let unlabeled = run(&["--tune-data".as_ref(), m.join("digits_dev.npy").as_os_str()]);
    assert!(unlabeled.contains("--tune-labels"), "{unlabeled}");
    let both = run(&[
        "--tune-data".as_ref(),
        m.join("digits_dev.npy").as_os_str(),
        "--dev-fraction".as_ref(),
        "0.3".as_ref(),
    ]);
    assert!(both.contains("--dev-fraction"), "{both}");
}

#[test]
fn run_out_npz_keys_are_output_tensor_names() {
    let m = models();
    let dir = tempfile::tempdir().unwrap();
    let npz = dir.path().join("out.npz");
    let json = dir.path().join("out.json");
    ok(
        snap_convert()
            .arg("run")
            .arg(model())
            .arg("--input")
            .arg(m.join("digits_test.npy"))
            .arg("--out")
            .arg(&npz)
            .arg("--json")
            .arg(&json)
            .args(["--print", "0"])
            .output()
            .unwrap(),
        "run",
    );
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let names: Vec<String> = j["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_string())
        .collect();
    assert!(names.iter().any(|n| n == "snapuq/U"), "{names:?}");
    let mut archive = npyz::npz::NpzArchive::open(&npz).unwrap();
    let mut keys: Vec<String> = archive.array_names().map(str::to_string).collect();
    keys.sort();
    let mut want = names.clone();
    want.sort();
    assert_eq!(keys, want);
    // The U array holds one value per sample, equal to the JSON's.
    let u = archive.by_name("snapuq/U").unwrap().unwrap();
    assert_eq!(u.shape()[0], 297);
    let values: Vec<f32> = u.into_vec().unwrap();
    let k = names.iter().position(|n| n == "snapuq/U").unwrap();
    let from_json = j["outputs"][k]["values"][0][0].as_f64().unwrap();
    assert_eq!(values[0] as f64, from_json);
}
