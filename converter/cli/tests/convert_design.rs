//! The converter's dev design (issue 10): `--calib` and `--dev` naming the same file is warned
//! about and marked in-sample in both reports; a labeled `--calib` alone is split into
//! disjoint fit and dev parts by the seeded rule, and the report says which samples went where.
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

fn convert(dir: &Path, data: &[&std::ffi::OsStr]) -> (String, String, serde_json::Value) {
    let json = dir.join("report.json");
    let (stdout, stderr) = ok(
        snap_convert()
            .arg("convert")
            .arg(models().join("digits_cnn.tflite"))
            .args(data)
            .arg("-o")
            .arg(dir.join("out.snap.tflite"))
            .arg("--json")
            .arg(&json)
            .output()
            .unwrap(),
        "convert",
    );
    let report = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    (stdout, stderr, report)
}

#[test]
fn same_file_for_calib_and_dev_is_warned_and_marked_in_sample() {
    let m = models();
    let dir = tempfile::tempdir().unwrap();
    let (stdout, stderr, r) = convert(
        dir.path(),
        &[
            "--calib".as_ref(),
            m.join("digits_dev.npy").as_os_str(),
            "--dev".as_ref(),
            m.join("digits_dev.npy").as_os_str(),
            "--dev-labels".as_ref(),
            m.join("digits_dev_labels.npy").as_os_str(),
        ],
    );
    assert!(
        stderr.contains("WARNING") && stderr.contains("IN-SAMPLE"),
        "{stderr}"
    );
    assert!(stdout.contains("IN-SAMPLE"), "{stdout}");
    let d = &r["dev_design"];
    assert_eq!(d["source"], "same_file", "{d}");
    assert_eq!(d["in_sample"], true);
    assert_eq!(d["dev_samples"], 250);

    // Separate files: no warning, not in-sample.
    let dir = tempfile::tempdir().unwrap();
    let (stdout, stderr, r) = convert(
        dir.path(),
        &[
            "--calib".as_ref(),
            m.join("digits_calib.npy").as_os_str(),
            "--dev".as_ref(),
            m.join("digits_dev.npy").as_os_str(),
            "--dev-labels".as_ref(),
            m.join("digits_dev_labels.npy").as_os_str(),
        ],
    );
    assert!(!stderr.contains("IN-SAMPLE") && !stdout.contains("IN-SAMPLE"));
    assert_eq!(r["dev_design"]["source"], "separate_file");
    assert_eq!(r["dev_design"]["in_sample"], false);
}

/// A class-folder tree (labeled, loaded class by class) from the digits dev set: pixel =
/// int8 code + 128 (the digits input is [0, 1] with zero point −128, so this round-trips).
fn class_folder(dir: &Path) -> usize {
    let m = models();
    let x: Vec<i8> = npyz::NpyFile::new(std::fs::File::open(m.join("digits_dev.npy")).unwrap())
        .unwrap()
        .into_vec()
        .unwrap();
    let y: Vec<i64> =
        npyz::NpyFile::new(std::fs::File::open(m.join("digits_dev_labels.npy")).unwrap())
            .unwrap()
            .into_vec()
            .unwrap();
    for (i, (px, &label)) in x.chunks_exact(64).zip(&y).enumerate() {
        let sub = dir.join(format!("class{label}"));
        std::fs::create_dir_all(&sub).unwrap();
        let img =
            image::GrayImage::from_raw(8, 8, px.iter().map(|&c| (c as i16 + 128) as u8).collect())
                .unwrap();
        img.save(sub.join(format!("{i:04}.png"))).unwrap();
    }
    y.len()
}

#[test]
fn labeled_calib_alone_is_split_disjointly_by_the_seeded_rule() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("digits");
    let n = class_folder(&tree);
    let (stdout, stderr, r) = convert(dir.path(), &["--calib".as_ref(), tree.as_os_str()]);
    let d = &r["dev_design"];
    assert_eq!(d["source"], "auto_split", "{d}");
    assert_eq!(d["in_sample"], false);
    let fit = (n as f64 * 0.6).round() as u64;
    assert_eq!(d["calib_samples"], fit);
    assert_eq!(d["dev_samples"], n as u64 - fit);
    assert_eq!(r["calib_samples"], fit);
    let rule = d["rule"].as_str().unwrap();
    assert!(
        rule.contains("seed 0") && rule.contains("SplitMix64"),
        "{rule}"
    );
    assert!(
        stdout.contains("dev design: automatic disjoint split"),
        "{stdout}"
    );
    assert!(!stderr.contains("IN-SAMPLE"), "{stderr}");
}
