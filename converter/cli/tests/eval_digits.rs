//! `snap-convert eval` on the example digits model (always available): the converter augments
//! the model, eval writes a JSON that parses back into an `EvalReport`, an HTML page with SVG
//! figures, and a terminal table with one row per method; every AUROC is in [0, 1]. Also the
//! unaugmented model (refused, or baselines only with `--baselines-only`) and input errors.
use snapuq_eval::report::EvalReport;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn snap_convert() -> Command {
    Command::new(env!("CARGO_BIN_EXE_snap-convert"))
}

fn models() -> PathBuf {
    snapuq_testkit::repo_root().join("examples/models")
}

fn ok(out: Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{what} failed:\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn fails(out: Output, what: &str) -> String {
    assert!(!out.status.success(), "{what} should have failed");
    String::from_utf8_lossy(&out.stderr).to_string()
}

fn augment(dir: &Path) -> PathBuf {
    let m = models();
    let out = dir.join("digits.snap.tflite");
    ok(
        snap_convert()
            .arg("convert")
            .arg(m.join("digits_cnn.tflite"))
            .arg("--calib")
            .arg(m.join("digits_calib.npy"))
            .arg("--dev")
            .arg(m.join("digits_dev.npy"))
            .arg("--dev-labels")
            .arg(m.join("digits_dev_labels.npy"))
            .arg("-o")
            .arg(&out)
            .output()
            .unwrap(),
        "convert",
    );
    out
}

fn eval(model: &Path, dir: &Path, extra: &[&str]) -> (String, EvalReport, PathBuf) {
    let m = models();
    let json = dir.join("eval.json");
    let html = dir.join("eval.html");
    let stdout = ok(
        snap_convert()
            .arg("eval")
            .arg(model)
            .arg("--data")
            .arg(m.join("digits_test.npy"))
            .arg("--labels")
            .arg(m.join("digits_test_labels.npy"))
            .arg("--json")
            .arg(&json)
            .arg("--html")
            .arg(&html)
            .arg("--seed")
            .arg("3")
            .args(extra)
            .output()
            .unwrap(),
        "eval",
    );
    println!("{stdout}");
    let report = EvalReport::from_json(&std::fs::read_to_string(&json).unwrap()).unwrap();
    (stdout, report, html)
}

fn check_common(stdout: &str, report: &EvalReport, html: &Path) {
    let page = std::fs::read_to_string(html).unwrap();
    assert!(page.contains("<svg"), "the HTML report has no SVG figure");
    assert_eq!(report.dataset.n_classes, 10);
    assert!(report.dataset.id > 100 && report.dataset.cid > 0 && report.dataset.ood > 0);
    for name in [
        "MSP",
        "Entropy",
        "Energy",
        "Temp. scaling",
        "Mahalanobis",
        "ReAct",
        "ASH-s",
        "ODIN-lite",
    ] {
        let m = report
            .methods
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("method {name} missing from the report"));
        assert!(
            stdout.lines().any(|l| l.starts_with(name)),
            "no table row for {name}"
        );
        for ci in [m.auroc_id_error, m.auroc_id_ood].into_iter().flatten() {
            assert!(
                (0.0..=1.0).contains(&ci.estimate) && ci.lo <= ci.estimate + 1e-12,
                "{name}: AUROC {ci:?}"
            );
        }
        assert!(
            m.auroc_id_error.is_some(),
            "{name}: no AUROC ID✓/ID✗ ({:?})",
            m.skipped
        );
    }
    let stream = report.stream.as_ref().expect("stream report");
    assert_eq!(stream.segments.first().map(|s| s.start), Some(0));
    assert!(report.calibration.iter().any(|c| c.name == "softmax"));
}

#[test]
fn eval_augmented_digits_reports_u_and_every_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let model = augment(dir.path());
    let (stdout, report, html) = eval(&model, dir.path(), &[]);
    check_common(&stdout, &report, &html);
    let u = report
        .methods
        .iter()
        .find(|m| m.name == "SNAP-UQ (U)")
        .expect("U row");
    let a = u.auroc_id_error.expect("U AUROC");
    assert!((0.0..=1.0).contains(&a.estimate));
    assert!(stdout.lines().any(|l| l.starts_with("SNAP-UQ (U)")));
    assert_eq!(report.methods[0].name, "SNAP-UQ (U)");
    let trace = report.stream.as_ref().and_then(|s| s.trace.as_ref());
    if let Some(t) = trace {
        assert_eq!(t.method, "SNAP-UQ (U)");
    }
}

#[test]
fn eval_unaugmented_model_needs_baselines_only() {
    let m = models();
    let dir = tempfile::tempdir().unwrap();
    let err = fails(
        snap_convert()
            .arg("eval")
            .arg(m.join("digits_cnn.tflite"))
            .arg("--data")
            .arg(m.join("digits_test.npy"))
            .arg("--labels")
            .arg(m.join("digits_test_labels.npy"))
            .output()
            .unwrap(),
        "eval of an unaugmented model",
    );
    assert!(
        err.contains("snapuq/U") && err.contains("snap-convert"),
        "{err}"
    );
    let (stdout, report, html) = eval(
        &m.join("digits_cnn.tflite"),
        dir.path(),
        &[
            "--baselines-only",
            "--severities",
            "2,4",
            "--corruptions",
            "gaussian_noise,contrast",
        ],
    );
    check_common(&stdout, &report, &html);
    assert!(report.methods.iter().all(|m| m.name != "SNAP-UQ (U)"));
    assert!(
        report.notes.iter().any(|n| n.contains("no snapuq/U")),
        "{:?}",
        report.notes
    );
    assert!(
        report.notes.iter().any(|n| n.contains("penultimate")),
        "{:?}",
        report.notes
    );
}

#[test]
fn eval_input_errors_are_clear() {
    let m = models();
    let model = m.join("digits_cnn.tflite");
    let run = |args: &[&std::ffi::OsStr]| {
        fails(
            snap_convert()
                .arg("eval")
                .args(args)
                .arg("--baselines-only")
                .output()
                .unwrap(),
            "eval",
        )
    };
    let missing = run(&[
        model.as_os_str(),
        "--data".as_ref(),
        "/nonexistent/x.npy".as_ref(),
    ]);
    assert!(missing.contains("does not exist"), "{missing}");
    let mismatch = run(&[
        model.as_os_str(),
        "--data".as_ref(),
        m.join("digits_test.npy").as_os_str(),
        "--labels".as_ref(),
        m.join("digits_dev_labels.npy").as_os_str(),
    ]);
    assert!(mismatch.contains("count mismatch"), "{mismatch}");
    let unlabeled = run(&[
        model.as_os_str(),
        "--data".as_ref(),
        m.join("digits_test.npy").as_os_str(),
    ]);
    assert!(unlabeled.contains("--labels"), "{unlabeled}");
    let no_model = run(&[
        "/nonexistent/m.tflite".as_ref(),
        "--data".as_ref(),
        m.join("digits_test.npy").as_os_str(),
    ]);
    assert!(no_model.contains("does not exist"), "{no_model}");
    let bad_sev = run(&[
        model.as_os_str(),
        "--data".as_ref(),
        m.join("digits_test.npy").as_os_str(),
        "--labels".as_ref(),
        m.join("digits_test_labels.npy").as_os_str(),
        "--severities".as_ref(),
        "0..9".as_ref(),
    ]);
    assert!(bad_sev.contains("--severities"), "{bad_sev}");
}
