//! Single-op models for what the shared models lack (written by
//! `tests/oracle/make_op_models.py` with the schema shipped in PyPI `tflite-micro`), each run on
//! seeded inputs in our executor and in the TFLM oracle: every tensor must be identical.
mod common;

use common::{compare_all, oracle, Batch};
use snapuq_exec::{arena_bytes_needed, DType, Interpreter, OpResolver, Options};
use snapuq_testkit::{oracle_python, repo_root, seeded_i8};
use std::process::Command;

const SAMPLES: usize = 64;

/// Per-input (dtype, per-sample shape) of a model, from our own parser.
fn input_specs(model: &[u8]) -> Vec<(DType, Vec<usize>)> {
    let resolver = OpResolver::new();
    let need = arena_bytes_needed(model, &resolver, Options::default()).unwrap();
    let mut arena = vec![0u8; need];
    let it: Interpreter =
        Interpreter::new(model, &mut arena, &resolver, Options::default()).unwrap();
    (0..it.input_count())
        .map(|k| {
            let t = it.tensor_info(it.input_index(k).unwrap()).unwrap();
            (t.dtype, t.shape.dims().to_vec())
        })
        .collect()
}

#[test]
fn single_op_models_match_tflm() {
    let Some(python) = oracle_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let script = repo_root().join("tests/oracle/make_op_models.py");
    let o = Command::new(&python)
        .arg(&script)
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "make_op_models.py failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut models: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tflite"))
        .collect();
    models.sort();
    assert!(
        models.len() >= 20,
        "expected the generated op models, found {}",
        models.len()
    );
    for (m, path) in models.iter().enumerate() {
        let bytes = std::fs::read(path).unwrap();
        let label = path.file_name().unwrap().to_string_lossy().to_string();
        let inputs = input_specs(&bytes)
            .into_iter()
            .enumerate()
            .map(|(k, (dtype, shape))| {
                let per: usize = shape.iter().product();
                let raw = seeded_i8(1000 * m as u64 + k as u64, per * SAMPLES);
                match dtype {
                    DType::Int8 => (
                        raw.into_iter().map(|v| v as u8).collect(),
                        "int8".to_string(),
                        shape,
                    ),
                    DType::Float32 => (
                        raw.into_iter()
                            .flat_map(|v| (f32::from(v) * 0.061).to_le_bytes())
                            .collect(),
                        "float32".to_string(),
                        shape,
                    ),
                    other => panic!("{label}: unexpected input type {other:?}"),
                }
            })
            .collect();
        let batch = Batch { n: SAMPLES, inputs };
        let run = oracle(&python, path, &batch);
        let c = compare_all(&bytes, &batch, &run, &label, m % 2 == 0);
        eprintln!(
            "{label}: {} tensors ({} activations) bit-exact over {SAMPLES} samples",
            c.tensors, c.activation_tensors
        );
        assert!(
            c.activation_tensors >= 2,
            "{label}: too few tensors compared"
        );
    }
}
