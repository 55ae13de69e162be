//! Data that used to be accepted silently, and messages that used to mislead (issue 15): each
//! case must now exit non-zero (or warn) with a message that names the problem and the fix.
use snapuq_model::schema::{
    BufferT, BuiltinOptionsT, OperatorT, QuantizationParametersT, SubGraphT, TensorT,
};
use snapuq_model::{BuiltinOperator, Model, ModelT, OpCode, TensorType};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn models() -> PathBuf {
    snapuq_testkit::repo_root().join("examples/models")
}

fn snap_convert(args: &[&OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_snap-convert"))
        .args(args)
        .output()
        .unwrap()
}

/// Runs `snap-convert` with `args`, expects failure with a one-line `error:`, returns stderr.
fn fails(args: &[&OsStr]) -> String {
    let out = snap_convert(args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !out.status.success(),
        "expected failure for {args:?}; stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(stderr.starts_with("error: "), "{stderr}");
    stderr
}

/// `snap-convert digits_cnn.tflite --calib calib --dev dev --dev-labels labels -o out`.
fn convert(calib: &Path, dev: &Path, labels: &Path, out: &Path) -> Vec<std::ffi::OsString> {
    vec![
        models().join("digits_cnn.tflite").into(),
        "--calib".into(),
        calib.into(),
        "--dev".into(),
        dev.into(),
        "--dev-labels".into(),
        labels.into(),
        "-o".into(),
        out.into(),
    ]
}

fn os(v: &[std::ffi::OsString]) -> Vec<&OsStr> {
    v.iter().map(|s| s.as_os_str()).collect()
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// `n` float samples of the digits input shape, values in [−1, 1].
fn digits_f32(n: usize) -> Vec<f32> {
    snapuq_testkit::seeded_i8(11, n * 64)
        .into_iter()
        .map(|v| v as f32 / 128.0)
        .collect()
}

fn calib() -> PathBuf {
    models().join("digits_calib.npy")
}
fn dev() -> PathBuf {
    models().join("digits_dev.npy")
}
fn labels() -> PathBuf {
    models().join("digits_dev_labels.npy")
}

#[test]
fn nan_in_float_calibration_data() {
    let dir = tempfile::tempdir().unwrap();
    let x = dir.path().join("calib_f32.npy");
    let mut v = digits_f32(250);
    v[3 * 64 + 5] = f32::NAN;
    v[7 * 64] = f32::NAN;
    snapuq_testkit::write_npy_raw(&x, &f32_bytes(&v), "float32", &[250, 8, 8, 1]).unwrap();
    let e = fails(&os(&convert(
        &x,
        &dev(),
        &labels(),
        &dir.path().join("o.tflite"),
    )));
    assert!(e.contains("calib_f32.npy"), "{e}");
    assert!(e.contains("2 of 16000 values are NaN or ±Inf"), "{e}");
    assert!(e.contains("in sample 3"), "{e}");
    assert!(e.contains("np.isfinite"), "{e}");
    assert!(!dir.path().join("o.tflite").exists());
}

#[test]
fn infinity_in_float_dev_data() {
    let dir = tempfile::tempdir().unwrap();
    let x = dir.path().join("dev_f64.npy");
    let mut v: Vec<f64> = digits_f32(250).into_iter().map(f64::from).collect();
    v[100 * 64 + 1] = f64::INFINITY;
    v[101 * 64 + 1] = f64::NEG_INFINITY;
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    snapuq_testkit::write_npy_raw(&x, &bytes, "float64", &[250, 8, 8, 1]).unwrap();
    let e = fails(&os(&convert(
        &calib(),
        &x,
        &labels(),
        &dir.path().join("o.tflite"),
    )));
    assert!(e.contains("dev_f64.npy"), "{e}");
    assert!(e.contains("2 of 16000 values are NaN or ±Inf"), "{e}");
    assert!(e.contains("(the first, inf, in sample 100)"), "{e}");
}

#[test]
fn all_nan_dev_data() {
    let dir = tempfile::tempdir().unwrap();
    let x = dir.path().join("dev_nan.npy");
    let v = vec![f32::NAN; 250 * 64];
    snapuq_testkit::write_npy_raw(&x, &f32_bytes(&v), "float32", &[250, 8, 8, 1]).unwrap();
    let e = fails(&os(&convert(
        &calib(),
        &x,
        &labels(),
        &dir.path().join("o.tflite"),
    )));
    assert!(e.contains("16000 of 16000 values are NaN"), "{e}");
}

#[test]
fn same_element_count_wrong_rank() {
    let dir = tempfile::tempdir().unwrap();
    let x = dir.path().join("flat.npy");
    let bytes = std::fs::read(calib()).unwrap();
    // The calibration set's own int8 values, flattened per sample to (250, 64).
    let data = &bytes[bytes.len() - 250 * 64..];
    snapuq_testkit::write_npy_raw(&x, data, "int8", &[250, 64]).unwrap();
    let e = fails(&os(&convert(
        &x,
        &dev(),
        &labels(),
        &dir.path().join("o.tflite"),
    )));
    assert!(e.contains("shape mismatch"), "{e}");
    assert!(e.contains("[250, 64]") && e.contains("[8, 8, 1]"), "{e}");
    assert!(e.contains("reshape"), "{e}");
    // Axes of length 1 do not change the order of the values: (N, 8, 8) is accepted.
    let ok = dir.path().join("squeezed.npy");
    snapuq_testkit::write_npy_raw(&ok, data, "int8", &[250, 8, 8]).unwrap();
    let out = snap_convert(&[
        "run".as_ref(),
        models().join("digits_cnn.tflite").as_os_str(),
        "--input".as_ref(),
        ok.as_os_str(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn tensor(name: &str, shape: &[i32], ty: TensorType, buffer: u32, scale: f32) -> TensorT {
    let mut t = TensorT::default();
    t.name = Some(name.into());
    t.shape = Some(shape.to_vec());
    t.type_ = ty;
    t.buffer = buffer;
    let mut q = QuantizationParametersT::default();
    q.scale = Some(vec![scale]);
    q.zero_point = Some(vec![0]);
    t.quantization = Some(Box::new(q));
    t
}

/// An int8 image classifier with a `[1, 32, 32, 3]` (NHWC) input: FULLY_CONNECTED over the
/// flattened image to 4 classes. Enough for the data loaders, which run before any fitting.
fn nhwc_model() -> Vec<u8> {
    let mut sg = SubGraphT::default();
    sg.tensors = Some(vec![
        tensor("image", &[1, 32, 32, 3], TensorType::INT8, 0, 1.0 / 128.0),
        tensor("weights", &[4, 3072], TensorType::INT8, 1, 0.01),
        tensor("bias", &[4], TensorType::INT32, 2, 0.0001),
        tensor("logits", &[1, 4], TensorType::INT8, 0, 0.25),
    ]);
    sg.inputs = Some(vec![0]);
    sg.outputs = Some(vec![3]);
    let mut op = OperatorT::default();
    op.opcode_index = 0;
    op.inputs = Some(vec![0, 1, 2]);
    op.outputs = Some(vec![3]);
    op.builtin_options = BuiltinOptionsT::FullyConnectedOptions(Box::default());
    sg.operators = Some(vec![op]);
    let mut m = ModelT::default();
    m.version = 3;
    m.operator_codes = Some(vec![
        OpCode::Builtin(BuiltinOperator::FULLY_CONNECTED).to_table(1)
    ]);
    m.subgraphs = Some(vec![sg]);
    let buf = |d: Option<Vec<u8>>| {
        let mut b = BufferT::default();
        b.data = d;
        b
    };
    m.buffers = Some(vec![
        buf(None),
        buf(Some(
            (0..4 * 3072).map(|i| (i as u8).wrapping_mul(7)).collect(),
        )),
        buf(Some(vec![0; 16])),
    ]);
    Model::from_object(m).unwrap().to_bytes().unwrap()
}

#[test]
fn channels_first_images_for_a_channels_last_model() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("nhwc.tflite");
    std::fs::write(&model, nhwc_model()).unwrap();
    let pixels: Vec<u8> = (0..6 * 3072).map(|i| (i * 31 % 251) as u8).collect();
    for (dtype, bytes) in [
        ("uint8", pixels.clone()),
        (
            "float32",
            f32_bytes(&pixels.iter().map(|&p| p as f32 / 255.0).collect::<Vec<_>>()),
        ),
    ] {
        let x = dir.path().join(format!("nchw_{dtype}.npy"));
        snapuq_testkit::write_npy_raw(&x, &bytes, dtype, &[6, 3, 32, 32]).unwrap();
        // `run --input`, `--calib` and `--dev` share the loader (`data::load`); this toy
        // model has no tap for the converter, so `run` is the command that reaches it.
        let e = fails(&[
            "run".as_ref(),
            model.as_os_str(),
            "--input".as_ref(),
            x.as_os_str(),
        ]);
        assert!(e.contains("channels first (NCHW)"), "{dtype}: {e}");
        assert!(e.contains("[6, 3, 32, 32]"), "{e}");
        assert!(e.contains("np.transpose(x, (0, 2, 3, 1))"), "{e}");
        // The same values in NHWC order load.
        let ok = dir.path().join(format!("nhwc_{dtype}.npy"));
        snapuq_testkit::write_npy_raw(&ok, &bytes, dtype, &[6, 32, 32, 3]).unwrap();
        let out = snap_convert(&[
            "run".as_ref(),
            model.as_os_str(),
            "--input".as_ref(),
            ok.as_os_str(),
        ]);
        assert!(
            out.status.success(),
            "{dtype}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Labels are checked against the model's classes when the data is loaded, before fitting.
#[test]
fn out_of_range_labels_fail_up_front() {
    let dir = tempfile::tempdir().unwrap();
    let l = dir.path().join("labels.npy");
    let mut labels: Vec<i64> = (0..250).map(|i| i % 10).collect();
    labels[7] = 10;
    labels[9] = 12;
    let bytes: Vec<u8> = labels.iter().flat_map(|v| v.to_le_bytes()).collect();
    snapuq_testkit::write_npy_raw(&l, &bytes, "int64", &[250]).unwrap();
    let t0 = std::time::Instant::now();
    let e = fails(&os(&convert(
        &calib(),
        &dev(),
        &l,
        &dir.path().join("o.tflite"),
    )));
    assert!(e.contains("label 10 at index 7 is out of range"), "{e}");
    assert!(e.contains("2 of 250 labels are"), "{e}");
    assert!(e.contains("10 classes") && e.contains("0..=9"), "{e}");
    assert!(!e.contains("invalid setting"), "{e}");
    // Loading the data takes milliseconds; the old check ran after about 5 s of fitting.
    assert!(t0.elapsed().as_secs_f64() < 60.0);
}

fn write_png(path: &Path) {
    let img = image::GrayImage::from_fn(8, 8, |x, y| image::Luma([(x * 30 + y) as u8]));
    img.save(path).unwrap();
}

#[test]
fn flat_folder_with_an_empty_subfolder() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("images");
    std::fs::create_dir_all(f.join("f2")).unwrap();
    for i in 0..3 {
        write_png(&f.join(format!("img{i}.png")));
    }
    let model = models().join("digits_cnn.tflite");
    let e = fails(&[
        "run".as_ref(),
        model.as_os_str(),
        "--input".as_ref(),
        f.as_os_str(),
    ]);
    assert!(
        e.contains("mixes 3 images at its top level (e.g. img0.png) with 1 subfolder(s) (e.g. f2)"),
        "{e}"
    );
    assert!(!e.contains("has no .png/.jpg images"), "{e}");
    // Without the stray subfolder, the flat folder loads.
    std::fs::remove_dir(f.join("f2")).unwrap();
    let out = snap_convert(&[
        "run".as_ref(),
        model.as_os_str(),
        "--input".as_ref(),
        f.as_os_str(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn class_tree_with_an_empty_class_folder() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("classes");
    for c in ["a", "b", "c"] {
        std::fs::create_dir_all(f.join(c)).unwrap();
    }
    write_png(&f.join("a/x.png"));
    write_png(&f.join("c/y.png"));
    let model = models().join("digits_cnn.tflite");
    let e = fails(&[
        "run".as_ref(),
        model.as_os_str(),
        "--input".as_ref(),
        f.as_os_str(),
    ]);
    assert!(e.contains("class folder") && e.contains("(label 1)"), "{e}");
    assert!(e.contains("add its images or remove it"), "{e}");
}

#[test]
fn byte_flip_is_not_called_a_cut_off_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(models().join("digits_cnn.tflite")).unwrap();
    let p = dir.path().join("flipped.tflite");
    // The flatbuffer's root offset (bytes 0..4) pointed past the end: a damaged offset in a
    // file of the right length.
    let mut bad = good.clone();
    bad[2] ^= 0x7f;
    std::fs::write(&p, &bad).unwrap();
    let e = fails(&["inspect".as_ref(), p.as_os_str()]);
    assert!(e.contains("truncated or corrupt"), "{e}");
    assert!(e.contains("cut off or damaged"), "{e}");
    assert!(
        e.contains(&format!("the file has {} bytes", good.len())),
        "{e}"
    );
}

#[test]
fn one_byte_file_says_1_byte() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("one.tflite");
    std::fs::write(&p, [0u8]).unwrap();
    let e = fails(&["inspect".as_ref(), p.as_os_str()]);
    assert!(e.contains("the file has 1 byte, too short"), "{e}");
    assert!(!e.contains("1 bytes"), "{e}");
}

#[test]
fn os_error_is_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    let e = fails(&["inspect".as_ref(), dir.path().as_os_str()]);
    assert_eq!(e.matches("os error").count(), 1, "{e}");
    assert_eq!(
        e.matches(&*dir.path().display().to_string()).count(),
        1,
        "{e}"
    );
}

/// The quick start itself: the report prints `max |ΔU| = 0`, not `0e0`, and the over-budget
/// rank note says what it costs and what to do. Dev labels from another class order (the
/// kind of mismatch a layout mix-up also causes) give a warning about dev accuracy.
#[test]
fn quick_start_report_wording_and_dev_accuracy_warning() {
    let dir = tempfile::tempdir().unwrap();
    let out = snap_convert(&os(&convert(
        &calib(),
        &dev(),
        &labels(),
        &dir.path().join("o.tflite"),
    )));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stdout.contains("0e0"), "{stdout}");
    let host = stdout
        .lines()
        .find(|l| l.starts_with("host check:"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(host.contains("max |ΔU| = 0,"), "{host}");
    let note = stdout
        .lines()
        .find(|l| l.contains("over the budget"))
        .unwrap_or_else(|| panic!("no over-budget note: {stdout}"));
    assert!(note.contains("% of the backbone's"), "{note}");
    assert!(
        note.contains("--taps") && note.contains("--rank-budget 0.0"),
        "{note}"
    );
    assert!(!stderr.contains("dev accuracy"), "{stderr}");

    // Permuted labels: the model is now "wrong" on ~90% of the dev set.
    let l = dir.path().join("shuffled.npy");
    let bytes = std::fs::read(labels()).unwrap();
    let vals: Vec<i64> = bytes[bytes.len() - 250 * 8..]
        .chunks_exact(8)
        .map(|c| (i64::from_le_bytes(c.try_into().unwrap()) + 3) % 10)
        .collect();
    let b: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
    snapuq_testkit::write_npy_raw(&l, &b, "int64", &[250]).unwrap();
    let out = snap_convert(&os(&convert(
        &calib(),
        &dev(),
        &l,
        &dir.path().join("o2.tflite"),
    )));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: dev accuracy is") && stderr.contains("near chance"),
        "{stderr}"
    );
    assert!(stderr.contains("layout"), "{stderr}");
}

/// A header nested like a structured dtype (or a corrupt one) is refused at once; npyz's
/// parser took minutes on such headers (found by the `npy_labels` fuzz target).
#[test]
fn deeply_nested_npy_header_fails_fast() {
    let dir = tempfile::tempdir().unwrap();
    let l = dir.path().join("nested.npy");
    let header = format!("{{'shape': {}2{}, }}", "(".repeat(60), ")".repeat(60));
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    std::fs::write(&l, &bytes).unwrap();
    let t0 = std::time::Instant::now();
    let e = fails(&os(&convert(
        &calib(),
        &dev(),
        &l,
        &dir.path().join("o.tflite"),
    )));
    assert!(e.contains("nested.npy is not a valid .npy file"), "{e}");
    assert!(e.contains("nested deeper"), "{e}");
    assert!(t0.elapsed().as_secs() < 30);
}
