//! The augmented example model the repository carries (`examples/models/digits_cnn.snap.tflite`)
//! is what the README's first command writes today. The firmware examples and the QEMU test
//! embed that file, so when the converter changes its output (new fitting, new op layout), this
//! test fails until the committed model is regenerated with that command — the firmware never
//! silently runs a model the current converter would not produce.
use std::path::PathBuf;
use std::process::Command;

fn models() -> PathBuf {
    snapuq_testkit::repo_root().join("examples/models")
}

#[test]
fn committed_augmented_example_is_current() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fresh = dir.path().join("digits_cnn.snap.tflite");
    let m = models();
    // The README's quick-start command, with the output redirected to a temporary folder.
    let out = Command::new(env!("CARGO_BIN_EXE_snap-convert"))
        .arg(m.join("digits_cnn.tflite"))
        .arg("--calib")
        .arg(m.join("digits_calib.npy"))
        .arg("--dev")
        .arg(m.join("digits_dev.npy"))
        .arg("--dev-labels")
        .arg(m.join("digits_dev_labels.npy"))
        .arg("-o")
        .arg(&fresh)
        .output()
        .expect("snap-convert starts");
    assert!(
        out.status.success(),
        "snap-convert failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A new output is readable by others like any plainly created file (the atomic write goes
    // through a temporary file, which starts as owner-only).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&fresh)
            .expect("output exists")
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o644,
            "new output has mode {:o}",
            mode & 0o777
        );
    }
    let committed_path = m.join("digits_cnn.snap.tflite");
    let committed = std::fs::read(&committed_path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; create it with the README's first command",
            committed_path.display()
        )
    });
    let fresh = std::fs::read(&fresh).expect("converter output");
    assert!(
        committed == fresh,
        "{} ({} bytes) differs from what snap-convert writes now ({} bytes): regenerate it with \
         the README's first command and commit it (the firmware tests embed it)",
        committed_path.display(),
        committed.len(),
        fresh.len()
    );
}
