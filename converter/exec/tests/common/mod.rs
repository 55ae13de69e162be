//! Shared by the oracle tests: run a model in our interpreter with every tensor preserved and
//! compare each tensor, sample by sample, with what PyPI `tflite-micro` computed.
#![allow(dead_code)]
use snapuq_exec::{arena_bytes_needed, DType, Interpreter, OpResolver, Options};
use snapuq_testkit::OracleRun;
use std::path::Path;

/// Per-sample raw input bytes (all inputs concatenated) and the oracle's view of them.
pub struct Batch {
    pub n: usize,
    /// One entry per model input: bytes of all N samples, numpy dtype, per-sample shape.
    pub inputs: Vec<(Vec<u8>, String, Vec<usize>)>,
}

/// Runs the oracle on `batch` with every tensor kept.
pub fn oracle(python: &Path, model: &Path, batch: &Batch) -> OracleRun {
    let ins: Vec<(&[u8], &str, &[usize])> = batch
        .inputs
        .iter()
        .map(|(b, d, s)| (b.as_slice(), d.as_str(), s.as_slice()))
        .collect();
    snapuq_testkit::run_oracle(python, model, &ins, batch.n, true).unwrap_or_else(|e| panic!("{e}"))
}

fn widen(dtype: DType, data: &[u8]) -> (Vec<i64>, Vec<f64>) {
    match dtype {
        DType::Int8 => (data.iter().map(|&b| i64::from(b as i8)).collect(), vec![]),
        DType::UInt8 => (data.iter().map(|&b| i64::from(b)).collect(), vec![]),
        DType::Int16 => (
            data.chunks_exact(2)
                .map(|b| i64::from(i16::from_le_bytes([b[0], b[1]])))
                .collect(),
            vec![],
        ),
        DType::Int32 => (
            data.chunks_exact(4)
                .map(|b| i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])))
                .collect(),
            vec![],
        ),
        DType::Float32 => (
            vec![],
            data.chunks_exact(4)
                .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
                .collect(),
        ),
        _ => (vec![], vec![]),
    }
}

/// Outcome of a comparison: tensors compared and elements compared.
pub struct Compared {
    pub tensors: usize,
    pub activation_tensors: usize,
    pub elements: usize,
}

/// Runs every sample through our interpreter (preserve_all) and asserts every tensor the oracle
/// reported is identical. Also asserts every activation tensor of ours was covered.
/// `widen_filters` selects which conv inner loop runs (both must match the oracle).
pub fn compare_all(
    model_bytes: &[u8],
    batch: &Batch,
    run: &OracleRun,
    label: &str,
    widen_filters: bool,
) -> Compared {
    let resolver = OpResolver::new();
    let opts = Options {
        preserve_all: true,
        widen_filters,
    };
    let need =
        arena_bytes_needed(model_bytes, &resolver, opts).unwrap_or_else(|e| panic!("{label}: {e}"));
    let mut arena = vec![0u8; need];
    let mut it: Interpreter = Interpreter::new(model_bytes, &mut arena, &resolver, opts)
        .unwrap_or_else(|e| panic!("{label}: {e}"));
    let n_t = it.tensor_count();
    // Which op writes each tensor, for messages.
    let mut producer = vec![None; n_t];
    let mut compared = Compared {
        tensors: 0,
        activation_tensors: 0,
        elements: 0,
    };
    let mut covered = vec![false; n_t];
    for s in 0..batch.n {
        for (k, (bytes, _, shape)) in batch.inputs.iter().enumerate() {
            let per: usize = shape.iter().product::<usize>()
                * (bytes.len() / batch.n / shape.iter().product::<usize>().max(1));
            let dst = it.input_bytes_mut(k).unwrap();
            assert_eq!(dst.len(), per, "{label}: input {k} size");
            dst.copy_from_slice(&bytes[s * per..(s + 1) * per]);
        }
        it.invoke_with(|op, outs| {
            for t in outs {
                producer[t.index] = Some(op);
            }
        })
        .unwrap_or_else(|e| panic!("{label}: sample {s}: {e}"));
        for t in 0..n_t {
            let Some(arr) = run.arrays.get(&format!("t{t}")) else {
                continue;
            };
            let view = it
                .tensor(t)
                .unwrap_or_else(|| panic!("{label}: oracle has tensor {t}, we do not"));
            let per = arr.ints.len().max(arr.floats.len()) / batch.n;
            let (ints, floats) = widen(view.dtype, view.data);
            let is_act = matches!(
                it.tensor_info(t).unwrap().location,
                snapuq_exec::tensor::Location::Arena { .. }
            );
            if !arr.ints.is_empty() {
                let want = &arr.ints[s * per..(s + 1) * per];
                if ints != want {
                    let first = ints.iter().zip(want).position(|(a, b)| a != b);
                    panic!(
                        "{label}: sample {s}: tensor {t} ({} {:?}, written by op {:?}) differs from TFLM at element {:?}: ours {:?} vs oracle {:?} (len ours {} oracle {})",
                        view.dtype.name(), view.shape.dims(), producer[t], first,
                        first.map(|i| ints.get(i)), first.map(|i| want[i]), ints.len(), want.len()
                    );
                }
            } else {
                let want = &arr.floats[s * per..(s + 1) * per];
                assert!(
                    floats.len() == want.len()
                        && floats
                            .iter()
                            .zip(want)
                            .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{label}: sample {s}: float tensor {t} differs from TFLM"
                );
            }
            if s == 0 {
                compared.tensors += 1;
                if is_act {
                    compared.activation_tensors += 1;
                }
            }
            covered[t] = true;
            compared.elements += per;
        }
    }
    for (t, &seen) in covered.iter().enumerate() {
        let info = it.tensor_info(t).unwrap();
        if matches!(info.location, snapuq_exec::tensor::Location::Arena { .. }) {
            assert!(seen, "{label}: activation tensor {t} was not reported by the oracle, so it was not checked");
        }
    }
    compared
}
