//! `snap-convert eval` end to end on the shared ResNet-8 with the shared CIFAR-10 images
//! (skipped locally when ../shared is missing, failing under CI=true): the converter augments
//! the model from the first 1500 images (1000 fit, 500 dev), then eval runs on a seeded subset
//! of the remaining images (ID, every corruption family at severities 1–5, OOD stand-in,
//! streams) and prints the summary table that docs/eval.md records.
use snapuq_eval::report::EvalReport;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

const RECORD: usize = 3073;
/// Images the converter sees (fit + dev); eval uses only images after these.
const CONVERT_IMAGES: usize = 1500;
/// Eval subset (before its own dev/test split); keeps the test within a few minutes.
const EVAL_LIMIT: &str = "1000";

fn snap_convert() -> Command {
    Command::new(env!("CARGO_BIN_EXE_snap-convert"))
}

fn ok(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{what} failed:\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn resnet8_cifar_eval_end_to_end() {
    let Some(model) = snapuq_testkit::shared_file("models/pretrainedResnet_quant.tflite") else {
        return;
    };
    let Some(cifar) = snapuq_testkit::shared_file(snapuq_testkit::CIFAR_5K) else {
        return;
    };
    let bytes = std::fs::read(&cifar).unwrap();
    assert!(bytes.len() > (CONVERT_IMAGES + 1000) * RECORD);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let part = |name: &str, from: usize, to: usize| -> PathBuf {
        let p = d.join(name);
        std::fs::write(&p, &bytes[from * RECORD..to * RECORD]).unwrap();
        p
    };
    let fit = part("fit.bin", 0, 1000);
    let dev = part("dev.bin", 1000, CONVERT_IMAGES);
    let rest = part("eval.bin", CONVERT_IMAGES, bytes.len() / RECORD);
    let aug = d.join("resnet8.snap.tflite");
    let t0 = Instant::now();
    ok(
        snap_convert()
            .arg("convert")
            .arg(&model)
            .arg("--calib")
            .arg(&fit)
            .arg("--dev")
            .arg(&dev)
            .arg("-o")
            .arg(&aug),
        "convert ResNet-8",
    );
    let convert_s = t0.elapsed().as_secs_f64();
    let json = d.join("eval.json");
    let html = d.join("eval.html");
    let t1 = Instant::now();
    let stdout = ok(
        snap_convert()
            .arg("eval")
            .arg(&aug)
            .arg("--data")
            .arg(&rest)
            .arg("--limit")
            .arg(EVAL_LIMIT)
            .arg("--json")
            .arg(&json)
            .arg("--html")
            .arg(&html),
        "eval ResNet-8",
    );
    let eval_s = t1.elapsed().as_secs_f64();
    println!("convert {convert_s:.1} s, eval {eval_s:.1} s\n{stdout}");
    let report = EvalReport::from_json(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(std::fs::read_to_string(&html).unwrap().contains("<svg"));
    assert_eq!(report.dataset.n_classes, 10);
    assert_eq!(report.methods[0].name, "SNAP-UQ (U)");
    assert!(
        report.methods.len() >= 9,
        "{:?}",
        report.methods.iter().map(|m| &m.name).collect::<Vec<_>>()
    );
    for m in &report.methods {
        let a = m
            .auroc_id_error
            .unwrap_or_else(|| panic!("{}: {:?}", m.name, m.skipped));
        assert!((0.0..=1.0).contains(&a.estimate), "{}: {a:?}", m.name);
        assert!(
            stdout.lines().any(|l| l.starts_with(&m.name)),
            "no row for {}",
            m.name
        );
    }
    // CID must actually hurt the classifier, or the ID✓/ID✗ task is not what it claims.
    let (acc_id, acc_cid) = (
        report.dataset.accuracy_id.unwrap(),
        report.dataset.accuracy_cid.unwrap(),
    );
    assert!(
        acc_cid < acc_id,
        "CID accuracy {acc_cid} not below ID {acc_id}"
    );
}
