//! Bad input to the converter: each case exits non-zero with a message that names the problem.
use snapuq_model::schema::{
    BufferT, BuiltinOptionsT, OperatorT, QuantizationParametersT, SubGraphT, TensorT,
};
use snapuq_model::{BuiltinOperator, Model, ModelT, OpCode, TensorType};
use std::path::{Path, PathBuf};
use std::process::Command;

fn models() -> PathBuf {
    snapuq_testkit::repo_root().join("examples/models")
}

/// Runs `snap-convert` with `args`, expects failure, returns stderr.
fn fails(args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_snap-convert"))
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !out.status.success(),
        "expected failure for {args:?}; stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(stderr.starts_with("error: "), "{stderr}");
    stderr
}

/// The digits conversion with some arguments replaced.
fn digits(
    model: &Path,
    calib: &Path,
    dev: &Path,
    labels: &Path,
    out: &Path,
) -> Vec<std::ffi::OsString> {
    vec![
        model.into(),
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

fn os(v: &[std::ffi::OsString]) -> Vec<&std::ffi::OsStr> {
    v.iter().map(|s| s.as_os_str()).collect()
}

struct Files {
    model: PathBuf,
    calib: PathBuf,
    dev: PathBuf,
    labels: PathBuf,
}

fn files() -> Files {
    let m = models();
    Files {
        model: m.join("digits_cnn.tflite"),
        calib: m.join("digits_calib.npy"),
        dev: m.join("digits_dev.npy"),
        labels: m.join("digits_dev_labels.npy"),
    }
}

#[test]
fn missing_calibration_file() {
    let f = files();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.npy");
    let e = fails(&os(&digits(
        &f.model,
        &missing,
        &f.dev,
        &f.labels,
        &dir.path().join("o.tflite"),
    )));
    assert!(
        e.contains("does not exist") && e.contains("nope.npy"),
        "{e}"
    );
}

#[test]
fn mismatched_calibration_shape() {
    let f = files();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.npy");
    snapuq_testkit::write_npy_raw(&bad, &vec![0u8; 50 * 16], "int8", &[50, 4, 4, 1]).unwrap();
    let e = fails(&os(&digits(
        &f.model,
        &bad,
        &f.dev,
        &f.labels,
        &dir.path().join("o.tflite"),
    )));
    assert!(e.contains("shape mismatch") && e.contains("64"), "{e}");
}

#[test]
fn too_few_samples() {
    let f = files();
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small.npy");
    let bytes = snapuq_testkit::seeded_i8(3, 30 * 64)
        .into_iter()
        .map(|v| v as u8)
        .collect::<Vec<_>>();
    snapuq_testkit::write_npy_raw(&small, &bytes, "int8", &[30, 8, 8, 1]).unwrap();
    let e = fails(&os(&digits(
        &f.model,
        &small,
        &f.dev,
        &f.labels,
        &dir.path().join("o.tflite"),
    )));
    assert!(
        e.contains("too few samples") && e.contains("need at least"),
        "{e}"
    );
}

#[test]
fn labels_count_mismatch() {
    let f = files();
    let dir = tempfile::tempdir().unwrap();
    let labels = dir.path().join("labels.npy");
    let l: Vec<u8> = (0..10i64).flat_map(|v| v.to_le_bytes()).collect();
    snapuq_testkit::write_npy_raw(&labels, &l, "int64", &[10]).unwrap();
    let e = fails(&os(&digits(
        &f.model,
        &f.calib,
        &f.dev,
        &labels,
        &dir.path().join("o.tflite"),
    )));
    assert!(
        e.contains("labels count mismatch") && e.contains("10 labels"),
        "{e}"
    );
}

#[test]
fn unwritable_output_and_input_overwrite() {
    let f = files();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("no/such/dir/o.tflite");
    let e = fails(&os(&digits(&f.model, &f.calib, &f.dev, &f.labels, &out)));
    assert!(e.contains("cannot write to output folder"), "{e}");
    let e = fails(&os(&digits(
        &f.model, &f.calib, &f.dev, &f.labels, &f.model,
    )));
    assert!(e.contains("refusing to write"), "{e}");
}

fn tensor(name: &str, shape: &[i32], ty: TensorType, buffer: u32, scale: f32) -> TensorT {
    let mut t = TensorT::default();
    t.name = Some(name.into());
    t.shape = Some(shape.to_vec());
    t.type_ = ty;
    t.buffer = buffer;
    if ty != TensorType::FLOAT32 {
        let mut q = QuantizationParametersT::default();
        q.scale = Some(vec![scale]);
        q.zero_point = Some(vec![0]);
        t.quantization = Some(Box::new(q));
    }
    t
}

/// input [1, 8] → FULLY_CONNECTED → [1, 4]: a classifier with no block to tap.
fn single_dense(act: TensorType) -> Vec<u8> {
    let (w_ty, b_ty, wsize, bsize) = if act == TensorType::FLOAT32 {
        (TensorType::FLOAT32, TensorType::FLOAT32, 4, 4)
    } else {
        (TensorType::INT8, TensorType::INT32, 1, 4)
    };
    let mut sg = SubGraphT::default();
    sg.tensors = Some(vec![
        tensor("input", &[1, 8], act, 0, 0.5),
        tensor("weights", &[4, 8], w_ty, 1, 0.1),
        tensor("bias", &[4], b_ty, 2, 0.05),
        tensor("logits", &[1, 4], act, 0, 0.25),
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
            (0..32 * wsize).map(|i| (i as u8).wrapping_mul(7)).collect(),
        )),
        buf(Some(vec![0; 4 * bsize])),
    ]);
    Model::from_object(m).unwrap().to_bytes().unwrap()
}

fn npy8(dir: &Path) -> PathBuf {
    let p = dir.join("x.npy");
    let bytes: Vec<u8> = snapuq_testkit::seeded_i8(5, 400 * 8)
        .into_iter()
        .map(|v| v as u8)
        .collect();
    snapuq_testkit::write_npy_raw(&p, &bytes, "int8", &[400, 8]).unwrap();
    p
}

#[test]
fn model_without_usable_tap() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("dense.tflite");
    std::fs::write(&model, single_dense(TensorType::INT8)).unwrap();
    let x = npy8(dir.path());
    let e = fails(&[model.as_os_str(), "--calib".as_ref(), x.as_os_str()]);
    assert!(e.contains("no usable tap"), "{e}");
    let e = fails(&["taps".as_ref(), model.as_os_str()]);
    assert!(e.contains("no usable tap"), "{e}");
}

#[test]
fn float_model() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("float.tflite");
    std::fs::write(&model, single_dense(TensorType::FLOAT32)).unwrap();
    let x = npy8(dir.path());
    let e = fails(&[model.as_os_str(), "--calib".as_ref(), x.as_os_str()]);
    assert!(
        e.contains("int8-quantized") && e.to_lowercase().contains("float32"),
        "{e}"
    );
}
