//! The example model the repository carries (examples/models/digits_cnn.tflite, made by
//! scripts/make_example_model.py) must load in the official TFLM interpreter and classify its
//! held-out test split well: the README's quick start and the converter tests build on it, so a
//! broken or useless committed model has to fail CI rather than surface as odd results later.
use std::path::{Path, PathBuf};

use snapuq_testkit::{oracle_python, repo_root, run_oracle};

/// The accuracy the script checks is higher (0.90 on the same split); this bound leaves room for
/// a regenerated model while still rejecting one that has lost its training.
const MIN_ACCURACY: f64 = 0.85;

fn models_dir() -> PathBuf {
    repo_root().join("examples").join("models")
}

/// Reads an .npy file as (shape, elements widened to i64); only the integer dtypes the script
/// writes are accepted.
fn read_npy_ints(path: &Path) -> (Vec<usize>, Vec<i64>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (regenerate with scripts/make_example_model.py)",
            path.display()
        )
    });
    let npy = npyz::NpyFile::new(&bytes[..])
        .unwrap_or_else(|e| panic!("{} is not a valid .npy file: {e}", path.display()));
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let descr = match npy.dtype() {
        npyz::DType::Plain(ts) => ts.to_string(),
        other => panic!("{}: unexpected dtype {other:?}", path.display()),
    };
    let values = match descr.as_str() {
        "|i1" => npy
            .into_vec::<i8>()
            .expect("int8 payload")
            .into_iter()
            .map(i64::from)
            .collect(),
        "<i8" => npy.into_vec::<i64>().expect("int64 payload"),
        "<i4" => npy
            .into_vec::<i32>()
            .expect("int32 payload")
            .into_iter()
            .map(i64::from)
            .collect(),
        other => panic!(
            "{}: dtype {other} is neither int8 inputs nor integer labels",
            path.display()
        ),
    };
    (shape, values)
}

#[test]
fn example_model_is_accurate_in_tflm() {
    let Some(python) = oracle_python() else {
        return;
    };
    let dir = models_dir();
    let model = dir.join("digits_cnn.tflite");
    let (shape, xs) = read_npy_ints(&dir.join("digits_test.npy"));
    let (label_shape, labels) = read_npy_ints(&dir.join("digits_test_labels.npy"));
    assert_eq!(
        &shape[1..],
        &[8, 8, 1],
        "digits_test.npy must hold N 8x8x1 images"
    );
    let n = shape[0];
    assert_eq!(
        label_shape,
        vec![n],
        "one label per test image (labels {label_shape:?}, images {n})"
    );
    assert!(
        n >= 100,
        "the test split is too small to measure accuracy ({n})"
    );

    let bytes: Vec<u8> = xs.iter().map(|&v| v as i8 as u8).collect();
    let run = run_oracle(&python, &model, &[(&bytes, "int8", &[8, 8, 1])], n, false)
        .unwrap_or_else(|e| panic!("TFLM could not run {}: {e}", model.display()));

    let out = run.arrays.get("out0").expect("the model has one output");
    assert_eq!(out.dtype, "int8", "the output is the int8 softmax");
    let classes = out.ints.len() / n;
    assert_eq!(classes, 10, "digits has 10 classes");
    let correct = out
        .ints
        .chunks_exact(classes)
        .zip(&labels)
        .filter(|(probs, &label)| {
            // First maximum, as numpy's argmax picks it.
            let best = probs
                .iter()
                .enumerate()
                .fold(0, |b, (i, &p)| if p > probs[b] { i } else { b });
            best as i64 == label
        })
        .count();
    let accuracy = correct as f64 / n as f64;
    println!("example model: int8 top-1 accuracy in TFLM {accuracy:.4} on {n} test images");
    assert!(
        accuracy >= MIN_ACCURACY,
        "example model accuracy {accuracy:.4} < {MIN_ACCURACY}: regenerate it with \
         scripts/make_example_model.py"
    );

    // The output quantization is the TFLM softmax contract the converter relies on.
    let details = &run.details["outputs"][0];
    assert_eq!(details["zero_points"][0], -128, "softmax output zero point");
    let scale = details["scales"][0].as_f64().expect("output scale");
    assert!(
        (scale - 1.0 / 256.0).abs() < 1e-9,
        "softmax output scale {scale}"
    );
}
