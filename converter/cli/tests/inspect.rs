//! `snap-convert inspect` on the shared models (text and JSON) and on bad files.
use std::process::Command;

fn snap_convert() -> Command {
    Command::new(env!("CARGO_BIN_EXE_snap-convert"))
}

#[test]
fn inspects_every_shared_model() {
    for rel in snapuq_testkit::SHARED_MODELS {
        let Some(path) = snapuq_testkit::shared_file(rel) else {
            return;
        };
        let out = snap_convert().arg("inspect").arg(&path).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{rel}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("total MACs"), "{rel}: {stdout}");
        assert!(stdout.contains("parameter bytes"), "{rel}");
        assert!(stdout.contains("candidate tap points"), "{rel}");
        assert!(stdout.contains("scale="), "{rel}");

        let out = snap_convert()
            .args(["inspect", "--json"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{rel} --json");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let ops = v["operators"].as_array().unwrap();
        assert!(!ops.is_empty());
        let total: u64 = ops.iter().map(|o| o["macs"].as_u64().unwrap()).sum();
        assert_eq!(v["total_macs"].as_u64().unwrap(), total, "{rel}");
        assert!(total > 0, "{rel}: no MACs counted");
        assert!(v["parameter_bytes"].as_u64().unwrap() > 0);
        // Every operator lists its tensors with dtype and shape.
        for o in ops {
            assert!(!o["outputs"].as_array().unwrap().is_empty());
            for t in o["inputs"].as_array().unwrap() {
                assert!(t["dtype"].as_str().is_some_and(|d| !d.is_empty()));
            }
        }
        let taps = v["taps"].as_array().unwrap();
        assert!(!taps.is_empty(), "{rel}: no tap candidates");
        for t in taps {
            assert!(t["channels"].as_u64().unwrap() > 0, "{rel}: {t}");
            assert!(t["prev_channels"].as_u64().unwrap() > 0, "{rel}: {t}");
        }
    }
}

/// The ResNet-8 taps are the ends of its residual blocks.
#[test]
fn resnet_taps_are_residual_adds() {
    let Some(path) = snapuq_testkit::shared_file("models/pretrainedResnet_quant.tflite") else {
        return;
    };
    let out = snap_convert()
        .args(["inspect", "--json"])
        .arg(&path)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let kinds: Vec<&str> = v["taps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "residual").count(),
        3,
        "{kinds:?}"
    );
}

fn assert_one_line_failure(args: &[&std::ffi::OsStr], want: &str) {
    let out = snap_convert().args(args).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains(want), "wanted {want:?} in {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_files_fail_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.tflite");
    std::fs::write(&text, "definitely not a flatbuffer, just some text").unwrap();
    assert_one_line_failure(
        &["inspect".as_ref(), text.as_os_str()],
        "not a TFLite model",
    );

    let empty = dir.path().join("empty.tflite");
    std::fs::write(&empty, b"").unwrap();
    assert_one_line_failure(&["inspect".as_ref(), empty.as_os_str()], "truncated");

    let missing = dir.path().join("missing.tflite");
    assert_one_line_failure(&["inspect".as_ref(), missing.as_os_str()], "cannot read");

    if let Some(path) = snapuq_testkit::shared_file("models/kws_ref_model.tflite") {
        let bytes = std::fs::read(path).unwrap();
        let cut = dir.path().join("cut.tflite");
        std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
        assert_one_line_failure(&["inspect".as_ref(), cut.as_os_str()], "truncated");
        let mut wrong = bytes.clone();
        wrong[4..8].copy_from_slice(b"ZZZZ");
        let p = dir.path().join("wrong.tflite");
        std::fs::write(&p, &wrong).unwrap();
        assert_one_line_failure(&["inspect".as_ref(), p.as_os_str()], "identifier");
    }
}
