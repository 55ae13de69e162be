//! Quality gate of issue 10 (docs/converter.md, "Calibrator"): on a fixed, seeded subset of
//! 1000 real CIFAR-10 **test** images, the default conversion's U must not rank wrong-vs-correct
//! worse than the softmax the model already has (AUROC(U) ≥ AUROC(MSP) − 0.01 on clean images).
//!
//! The converter fits on `train-5k.bin` only (2000 images for the heads, 2000 labeled dev
//! images plus the default corruption suite for the calibrator); `test-5k.bin` is only scored.
//! MSP is computed from the float softmax of the dequantized logits (the FULLY_CONNECTED output
//! in front of SOFTMAX), as `snap-convert eval` does, so U is compared with the strongest
//! form of the baseline. Skipped locally without ../shared, failing under CI.
use snapuq_eval::metrics::auroc;
use snapuq_model::{BuiltinOperator, Model, OpCode};
use std::process::Command;

const RECORD: usize = 3073;
const FIT: usize = 2000;
const DEV: usize = 2000;
const SUBSET: usize = 1000;
const SEED: u64 = 0x5eed_0010;

/// SplitMix64: a fixed, seeded order of the test images.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[test]
fn resnet8_u_not_below_msp_on_clean_test_images() {
    let Some(model) = snapuq_testkit::shared_file("models/pretrainedResnet_quant.tflite") else {
        return;
    };
    let Some(train) = snapuq_testkit::shared_file(snapuq_testkit::CIFAR_5K) else {
        return;
    };
    let Some(test) = snapuq_testkit::shared_file(snapuq_testkit::CIFAR_TEST_5K) else {
        return;
    };
    let bytes = std::fs::read(&train).unwrap();
    assert!(bytes.len() >= (FIT + DEV) * RECORD);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fit = d.join("fit.bin");
    let dev = d.join("dev.bin");
    std::fs::write(&fit, &bytes[..FIT * RECORD]).unwrap();
    std::fs::write(&dev, &bytes[FIT * RECORD..(FIT + DEV) * RECORD]).unwrap();
    let aug = d.join("resnet8.snap.tflite");
    let out = Command::new(env!("CARGO_BIN_EXE_snap-convert"))
        .arg(&model)
        .arg("--calib")
        .arg(&fit)
        .arg("--dev")
        .arg(&dev)
        .arg("-o")
        .arg(&aug)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "convert failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The fixed subset of the test images.
    let images = snapuq_testkit::read_cifar(&test, usize::MAX).unwrap();
    let mut order: Vec<usize> = (0..images.len()).collect();
    order.sort_by_key(|&i| mix(SEED ^ i as u64));
    order.truncate(SUBSET);
    let samples: Vec<Vec<u8>> = order
        .iter()
        .map(|&i| {
            images[i]
                .hwc
                .iter()
                .map(|&p| (p as i16 - 128) as i8 as u8)
                .collect()
        })
        .collect();

    let model_bytes = std::fs::read(&aug).unwrap();
    let m = Model::from_bytes(&model_bytes).unwrap();
    let softmax = (0..m.operators().len())
        .find(|&i| m.op_code(i) == Some(OpCode::Builtin(BuiltinOperator::SOFTMAX)))
        .expect("ResNet-8 ends in SOFTMAX");
    let logits = m.op_inputs(softmax)[0] as usize;
    let q = m.quantization(logits).expect("int8 logits are quantized");
    let (scale, zp) = (q.scale[0], q.zero_point[0] as i32);
    // Outputs: the original classifier, then U, S, abstain (attach appends them).
    let u_out = m.outputs().len() - 3;

    let mut resolver = snapuq_exec::OpResolver::new();
    snapuq_exec::snap::register(&mut resolver).unwrap();
    let res = snapuq_exec::batch::run_batch(&model_bytes, &resolver, &samples, &[logits]).unwrap();
    let mut u = Vec::new();
    let mut msp = Vec::new();
    let mut wrong = Vec::new();
    for (r, &i) in res.iter().zip(&order) {
        let z: Vec<f64> = r.taps[0]
            .iter()
            .map(|&b| scale as f64 * (b as i8 as i32 - zp) as f64)
            .collect();
        let top = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = z.iter().map(|v| (v - top).exp()).sum();
        msp.push(1.0 - 1.0 / sum);
        let probs = &r.outputs[0];
        let pred = (0..probs.len())
            .max_by_key(|&k| (probs[k] as i8, std::cmp::Reverse(k)))
            .unwrap();
        wrong.push(pred != images[i].label as usize);
        let b = &r.outputs[u_out];
        u.push(f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64);
    }
    let a_u = auroc(&u, &wrong).unwrap();
    let a_msp = auroc(&msp, &wrong).unwrap();
    let n_wrong = wrong.iter().filter(|w| **w).count();
    println!(
        "ResNet-8, {SUBSET} seeded CIFAR-10 test images ({n_wrong} wrong): AUROC U {a_u:.4}, MSP {a_msp:.4}, U − MSP {:+.4}",
        a_u - a_msp
    );
    assert!(
        a_u >= a_msp - 0.01,
        "U ranks wrong-vs-correct below the softmax on clean test images: AUROC U {a_u:.4} < MSP {a_msp:.4} − 0.01"
    );
}
