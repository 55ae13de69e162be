//! The whole converter on the example digits model (always available): the augmented model
//! loads back and validates, its original outputs are bit-identical to the backbone's, U is in
//! [0, 1], and a host `run` of the written file reproduces the converter's numbers (U per dev
//! sample, τ's dev coverage). Also the step subcommands and `--heads` import.
use serde_json::Value;
use snapuq_model::Model;
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

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `run --json` of `model` on `input`: outputs[k].values[sample][element].
fn run_outputs(model: &Path, input: &Path, dir: &Path, tag: &str) -> Vec<Vec<Vec<f64>>> {
    let j = dir.join(format!("{tag}.json"));
    ok(
        snap_convert()
            .arg("run")
            .arg(model)
            .arg("--input")
            .arg(input)
            .arg("--json")
            .arg(&j)
            .output()
            .unwrap(),
        "run",
    );
    json(&j)["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            o["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    s.as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_f64().unwrap())
                        .collect()
                })
                .collect()
        })
        .collect()
}

fn convert(dir: &Path, extra: &[&str]) -> (PathBuf, Value) {
    let m = models();
    let out = dir.join("digits.snap.tflite");
    let rep = dir.join("report.json");
    // The bare form (no subcommand).
    let stdout = ok(
        snap_convert()
            .arg(m.join("digits_cnn.tflite"))
            .arg("--calib")
            .arg(m.join("digits_calib.npy"))
            .arg("--dev")
            .arg(m.join("digits_dev.npy"))
            .arg("--dev-labels")
            .arg(m.join("digits_dev_labels.npy"))
            .arg("-o")
            .arg(&out)
            .arg("--json")
            .arg(&rep)
            .args(extra)
            .output()
            .unwrap(),
        "convert",
    );
    println!("{stdout}");
    assert!(stdout.contains("tau ="), "{stdout}");
    (out, json(&rep))
}

fn check_augmented(dir: &Path, out: &Path, report: &Value) {
    let m = models();
    let aug = Model::load(out).unwrap();
    aug.validate().unwrap();
    let orig = Model::load(m.join("digits_cnn.tflite")).unwrap();
    let n_orig = orig.outputs().len();
    assert_eq!(aug.outputs().len(), n_orig + 3);
    assert_eq!(&aug.outputs()[..n_orig], orig.outputs());
    assert_eq!(aug.tensor_name(aug.outputs()[n_orig] as usize), "snapuq/U");
    assert_eq!(
        aug.tensor_name(aug.outputs()[n_orig + 1] as usize),
        "snapuq/S"
    );

    // Original outputs bit-identical on the test inputs; U in [0, 1].
    let test = m.join("digits_test.npy");
    let base = run_outputs(&m.join("digits_cnn.tflite"), &test, dir, "base");
    let snap = run_outputs(out, &test, dir, "snap");
    assert_eq!(base.len(), n_orig);
    for k in 0..n_orig {
        assert_eq!(base[k], snap[k], "output {k} differs");
    }
    let u = &snap[n_orig];
    assert_eq!(u.len(), 297);
    assert!(
        u.iter().all(|s| (0.0..=1.0).contains(&s[0])),
        "U outside [0,1]"
    );
    let s = &snap[n_orig + 1];
    assert!(s.iter().all(|v| v[0].is_finite() && v[0] >= 0.0));
    assert!(u.iter().any(|s| s[0] != u[0][0]), "U is constant");

    // Host run of the file on the dev set reproduces the reported U and the dev coverage.
    let dev = run_outputs(out, &m.join("digits_dev.npy"), dir, "dev");
    let dev_u: Vec<f32> = dev[n_orig].iter().map(|s| s[0] as f32).collect();
    let reported: Vec<f32> = report["dev_u"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    assert_eq!(dev_u, reported);
    let tau = report["tau"].as_f64().unwrap() as f32;
    // With the clean dev set alone the reported coverage is the one of this host run; with
    // the corruption suite it covers the whole mix, which this run does not reproduce.
    if report["dev_parts"].as_array().unwrap().len() == 1 {
        let cov = dev_u.iter().filter(|&&u| u < tau).count() as f64 / dev_u.len() as f64;
        let rep_cov = report["fit"]["operating_point"]["coverage"]
            .as_f64()
            .unwrap();
        assert!(
            (cov - rep_cov).abs() < 1e-12,
            "coverage {cov} vs reported {rep_cov}"
        );
    }
    // The abstain flag is U ≥ τ.
    for (a, &u) in dev[n_orig + 2].iter().zip(&dev_u) {
        assert_eq!(a[0] == 1.0, u >= tau);
    }
    assert!(report["host_check"]["original_outputs_identical"]
        .as_bool()
        .unwrap());
    assert_eq!(
        report["host_check"]["max_abs_u_diff"].as_f64().unwrap(),
        0.0
    );
}

#[test]
fn digits_full_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let (out, report) = convert(dir.path(), &[]);
    check_augmented(dir.path(), &out, &report);
    let fit = &report["fit"];
    assert!(fit["added_param_bytes"].as_u64().unwrap() > 0);
    assert!(fit["added_macs"].as_u64().unwrap() > 0);
    let arena = &fit["arena"];
    assert!(arena["after_bytes"].as_u64().unwrap() >= arena["before_bytes"].as_u64().unwrap());
    for t in report["taps"].as_array().unwrap() {
        let e = t["ebar_mean_holdout"].as_f64().unwrap();
        assert!(e > 0.3 && e < 3.0, "held-out E[ē] = {e} far from 1");
    }
    let cov = fit["operating_point"]["coverage"].as_f64().unwrap();
    assert!(cov >= 0.9, "coverage {cov} below the 0.90 target");
    // The defaults: the classwise map, fitted on clean dev data plus the 12-family suite.
    assert!(
        fit["calibrator"]["Classwise"].is_object(),
        "{}",
        fit["calibrator"]
    );
    assert_eq!(report["dev_parts"].as_array().unwrap().len(), 13);
}

#[test]
fn digits_isotonic_label_free_budget() {
    let dir = tempfile::tempdir().unwrap();
    let (out, report) = convert(
        dir.path(),
        &[
            "--isotonic",
            "--shifts",
            "none",
            "--label-free",
            "--budget",
            "0.2",
            "--rank",
            "16",
        ],
    );
    check_augmented(dir.path(), &out, &report);
    assert!(report["fit"]["calibrator"]["Isotonic"].is_object());
    for t in report["taps"].as_array().unwrap() {
        assert_eq!(t["rank"].as_u64().unwrap(), 16);
    }
    let abst = report["fit"]["operating_point"]["abstain_rate"]
        .as_f64()
        .unwrap();
    assert!(abst <= 0.2 + 1e-12);
}

#[test]
fn digits_steps_and_heads_import() {
    let m = models();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let model = m.join("digits_cnn.tflite");
    let stdout = ok(
        snap_convert().arg("taps").arg(&model).output().unwrap(),
        "taps",
    );
    assert!(stdout.contains("chosen:"), "{stdout}");
    let heads = d.join("heads.json");
    ok(
        snap_convert()
            .arg("fit")
            .arg(&model)
            .arg("--calib")
            .arg(m.join("digits_calib.npy"))
            .arg("-o")
            .arg(&heads)
            .output()
            .unwrap(),
        "fit",
    );
    assert_eq!(json(&heads)["format"], "snapuq-heads/1");
    let plan = d.join("plan.json");
    ok(
        snap_convert()
            .arg("calibrate")
            .arg(&model)
            .arg("--heads")
            .arg(&heads)
            .arg("--calib")
            .arg(m.join("digits_calib.npy"))
            .arg("--dev")
            .arg(m.join("digits_dev.npy"))
            .arg("--dev-labels")
            .arg(m.join("digits_dev_labels.npy"))
            .arg("-o")
            .arg(&plan)
            .output()
            .unwrap(),
        "calibrate",
    );
    let out = d.join("stepwise.tflite");
    ok(
        snap_convert()
            .arg("attach")
            .arg(&model)
            .arg("--plan")
            .arg(&plan)
            .arg("-o")
            .arg(&out)
            .output()
            .unwrap(),
        "attach",
    );
    Model::load(&out).unwrap().validate().unwrap();
    // The whole pipeline with the imported heads gives the same model as the steps.
    let (whole, _) = convert(d, &["--heads", heads.to_str().unwrap()]);
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&whole).unwrap());
    // npz output of `run`.
    let npz = d.join("out.npz");
    ok(
        snap_convert()
            .arg("run")
            .arg(&out)
            .arg("--input")
            .arg(m.join("digits_test.npy"))
            .arg("--out")
            .arg(&npz)
            .output()
            .unwrap(),
        "run --out",
    );
    let arrays = snapuq_testkit::read_npz(&npz).unwrap();
    assert_eq!(arrays.len(), Model::load(&out).unwrap().outputs().len());
}
