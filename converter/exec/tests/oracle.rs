//! Bit-exactness against TFLM (PyPI `tflite-micro`, kPreserveAllTensors): every tensor of every
//! shared MLPerf Tiny model, on 200 inputs each (real CIFAR-10 images for ResNet-8, seeded int8
//! for the others), must equal the oracle's.
mod common;

use common::{compare_all, oracle, Batch};
use snapuq_exec::{arena_bytes_needed, OpResolver, Options};
use snapuq_testkit::{oracle_python, read_cifar, seeded_i8, shared_file, CIFAR_5K, SHARED_MODELS};

const SAMPLES: usize = 200;

fn input_shape(model: &[u8]) -> Vec<usize> {
    let resolver = OpResolver::new();
    let need = arena_bytes_needed(model, &resolver, Options::default()).unwrap();
    let mut arena = vec![0u8; need];
    let it: snapuq_exec::Interpreter =
        snapuq_exec::Interpreter::new(model, &mut arena, &resolver, Options::default()).unwrap();
    it.tensor_info(it.input_index(0).unwrap())
        .unwrap()
        .shape
        .dims()
        .to_vec()
}

fn run_model(rel: &str) {
    let Some(python) = oracle_python() else {
        return;
    };
    let Some(path) = shared_file(rel) else { return };
    let bytes = std::fs::read(&path).unwrap();
    let shape = input_shape(&bytes);
    let per: usize = shape.iter().product();
    let data: Vec<u8> = if rel.contains("Resnet") {
        let Some(cifar) = shared_file(CIFAR_5K) else {
            return;
        };
        let imgs = read_cifar(&cifar, SAMPLES).unwrap();
        assert_eq!(imgs.len(), SAMPLES);
        assert_eq!(per, 3072);
        imgs.iter()
            .flat_map(|im| im.hwc.iter().map(|&p| (i16::from(p) - 128) as i8 as u8))
            .collect()
    } else {
        seeded_i8(0x5eed ^ per as u64, per * SAMPLES)
            .into_iter()
            .map(|v| v as u8)
            .collect()
    };
    let batch = Batch {
        n: SAMPLES,
        inputs: vec![(data, "int8".into(), shape)],
    };
    let run = oracle(&python, &path, &batch);
    // The host fast path (i16 filters) for the image models, the MCU path for the others.
    let widen = rel.contains("Resnet") || rel.contains("vww");
    let c = compare_all(&bytes, &batch, &run, rel, widen);
    eprintln!(
        "{rel}: {SAMPLES} samples, {} tensors ({} activations) bit-exact, {} elements compared",
        c.tensors, c.activation_tensors, c.elements
    );
    assert!(c.activation_tensors > 0);
}

#[test]
fn kws_ds_cnn_bit_exact() {
    run_model(SHARED_MODELS[0]);
}

#[test]
fn resnet8_cifar_bit_exact() {
    run_model(SHARED_MODELS[1]);
}

#[test]
fn vww_mobilenet_bit_exact() {
    run_model(SHARED_MODELS[2]);
}

#[test]
fn anomaly_autoencoder_bit_exact() {
    run_model(SHARED_MODELS[3]);
}
