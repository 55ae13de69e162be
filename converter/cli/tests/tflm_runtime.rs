//! `snap-convert run --runtime tflm`.
//!
//! Built with feature `tflm` (CI: `cargo test -p snap-convert --features tflm --test
//! tflm_runtime`), the digits model (augmented and original) run in the real TFLM must give the
//! same outputs, in the same format, as the default host runtime on all 297 test inputs.
//! Built without it (as in `cargo test --workspace`), `--runtime tflm` must fail with a message
//! saying how to get it, and the default runtime is still the host executor.
use snapuq_testkit::repo_root;
use std::path::Path;
use std::process::{Command, Output};

fn run(model: &Path, runtime: Option<&str>, out: &Path) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_snap-convert"));
    cmd.arg("run")
        .arg(model)
        .arg("--input")
        .arg(repo_root().join("examples/models/digits_test.npy"))
        .arg("--print")
        .arg("3")
        .arg("--out")
        .arg(out);
    if let Some(r) = runtime {
        cmd.arg("--runtime").arg(r);
    }
    cmd.output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[cfg(feature = "tflm")]
#[test]
fn tflm_runtime_matches_host() {
    use snapuq_testkit::read_npz;
    let dir = tempfile::tempdir().unwrap();
    for name in ["digits_cnn.snap.tflite", "digits_cnn.tflite"] {
        let model = repo_root().join("examples/models").join(name);
        let host = dir.path().join("host.npz");
        let tflm = dir.path().join("tflm.npz");
        let h = run(&model, None, &host);
        assert!(h.status.success(), "host run: {}", text(&h));
        let t = run(&model, Some("tflm"), &tflm);
        assert!(t.status.success(), "tflm run: {}", text(&t));
        // Same printed format and values.
        assert_eq!(h.stdout, t.stdout, "{name}: printed outputs differ");
        assert!(String::from_utf8_lossy(&t.stdout).contains("297 samples"));
        assert!(String::from_utf8_lossy(&t.stderr).contains("tflm: arena_used_bytes="));
        let (h, t) = (
            snapuq_testkit::read_npz(&host).unwrap(),
            snapuq_testkit::read_npz(&tflm).unwrap(),
        );
        assert_eq!(h.len(), t.len());
        for (k, a) in &h {
            let b = &t[k];
            assert_eq!((&a.shape, &a.dtype), (&b.shape, &b.dtype), "{name} {k}");
            assert_eq!(a.shape[0], 297);
            assert_eq!(a.ints, b.ints, "{name} {k}: integer outputs differ");
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&a.floats),
                bits(&b.floats),
                "{name} {k}: float outputs differ"
            );
        }
    }
}

#[cfg(not(feature = "tflm"))]
#[test]
fn tflm_runtime_needs_the_feature() {
    let dir = tempfile::tempdir().unwrap();
    let model = repo_root().join("examples/models/digits_cnn.snap.tflite");
    let o = run(&model, Some("tflm"), &dir.path().join("x.npz"));
    assert!(!o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--features tflm") && err.contains("TFLM_DIR"),
        "{err}"
    );
    // The default is still the host executor.
    let o = run(&model, None, &dir.path().join("y.npz"));
    assert!(o.status.success(), "{}", text(&o));
}
