//! The augmented models in the real TFLM interpreter (tflite-micro-sys: TFLM compiled from
//! `TFLM_DIR`, builtins + our three ops registered through `snapuq::AddOps`) against
//! snapuq-exec, byte for byte, on every output:
//!
//! - digits: the committed `digits_cnn.snap.tflite` on the 297 test inputs;
//! - ResNet-8: converted here from 400 CIFAR-10 images (dev: the next 200), run on 200 more;
//! - DS-CNN (KWS) with `--rank 16`, a real projection (r < C_in), seeded int8 inputs;
//! - VWW (`--rank 32`): converted from CIFAR-10 images upscaled to 96×96, run on 200 more.
//!
//! For each, the original outputs of the augmented model must also equal the unaugmented
//! model's, in TFLM. The arena TFLM uses for both is printed (docs/tflm.md, "Arena").
//!
//! The TFLM tree is needed at build time (tflite-micro-sys fails the build without it, naming
//! `TFLM_DIR`); the shared models skip locally and fail under CI when missing.
use snapuq_exec::batch::run_batch;
use snapuq_exec::resolver::OpResolver;
use snapuq_model::Model;
use std::path::Path;
use std::process::Command;
use std::time::Instant;
use tflite_micro_sys::Interpreter;

const RECORD: usize = 3073;

fn snap_convert() -> Command {
    Command::new(env!("CARGO_BIN_EXE_snap-convert"))
}

fn ok(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{what} failed:\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A TFLM interpreter with the smallest power-of-two arena that allocates, starting above
/// twice snapuq-exec's estimate: a too-small arena can make this TFLM build abort inside a
/// builtin's Prepare (a failed temporary allocation reaches a DCHECK) instead of failing.
fn tflm(model: &[u8]) -> Interpreter {
    let mut resolver = snapuq_exec::OpResolver::new();
    snapuq_exec::snap::register(&mut resolver).unwrap();
    let estimate =
        snapuq_exec::arena_bytes_needed(model, &resolver, snapuq_exec::Options::default())
            .unwrap_or(0);
    let mut arena = (2 * estimate + (32 << 10))
        .next_power_of_two()
        .max(16 << 10);
    loop {
        match Interpreter::new(model, arena) {
            Ok(it) => return it,
            Err(e) if e.step == "AllocateTensors" && arena < 64 << 20 => arena *= 2,
            Err(e) => panic!("{e}"),
        }
    }
}

/// Every output of every sample in TFLM.
fn run_tflm(model: &[u8], samples: &[Vec<u8>]) -> (Vec<Vec<Vec<u8>>>, usize) {
    let mut it = tflm(model);
    let used = it.arena_used_bytes();
    let outs = samples.iter().map(|s| it.run(&[s]).unwrap()).collect();
    (outs, used)
}

/// Every output of every sample in snapuq-exec with the SNAP ops.
fn run_exec(model: &[u8], samples: &[Vec<u8>]) -> Vec<Vec<Vec<u8>>> {
    let mut r = OpResolver::new();
    snapuq_exec::snap::register(&mut r).unwrap();
    run_batch(model, &r, samples, &[])
        .unwrap()
        .into_iter()
        .map(|s| s.outputs)
        .collect()
}

/// Compares the augmented model in both runtimes and its original outputs with the
/// unaugmented model; returns a summary line.
fn check(name: &str, original: &Path, augmented: &Path, samples: &[Vec<u8>]) -> String {
    assert!(
        samples.len() >= 200 || name == "digits",
        "{name}: {} inputs",
        samples.len()
    );
    let orig = std::fs::read(original).unwrap();
    let snap = std::fs::read(augmented).unwrap();
    let n_orig = Model::from_bytes(&orig).unwrap().outputs().len();
    let n_snap = Model::from_bytes(&snap).unwrap().outputs().len();
    assert_eq!(n_snap, n_orig + 3, "{name}: U, S and abstain are appended");

    let t0 = Instant::now();
    let (t_snap, used_snap) = run_tflm(&snap, samples);
    let (t_orig, used_orig) = run_tflm(&orig, samples);
    let t_tflm = t0.elapsed();
    let e_snap = run_exec(&snap, samples);

    let mut differ = Vec::new();
    for (i, (t, e)) in t_snap.iter().zip(&e_snap).enumerate() {
        assert_eq!(t.len(), n_snap);
        for k in 0..n_snap {
            if t[k] != e[k] {
                differ.push(format!(
                    "sample {i} output {k}: tflm {:?} exec {:?}",
                    t[k], e[k]
                ));
            }
        }
        for k in 0..n_orig {
            if t[k] != t_orig[i][k] {
                differ.push(format!(
                    "sample {i} original output {k} differs from the unaugmented model"
                ));
            }
        }
    }
    assert!(
        differ.is_empty(),
        "{name}: {} differences between real TFLM and snapuq-exec, first: {:?}",
        differ.len(),
        &differ[..differ.len().min(5)]
    );
    // The check can fail: U must vary over real inputs (a constant output would hide a broken op).
    let u: std::collections::BTreeSet<&Vec<u8>> = t_snap.iter().map(|o| &o[n_orig]).collect();
    assert!(
        u.len() > 1,
        "{name}: U is constant over {} inputs",
        samples.len()
    );
    let line = format!(
        "{name}: {}/{} inputs bit-exact on all {n_snap} outputs (and {n_orig} original outputs = \
         unaugmented model); TFLM arena_used_bytes original {used_orig}, augmented {used_snap} \
         (+{}); TFLM time {:.2?}",
        samples.len(),
        samples.len(),
        used_snap as i64 - used_orig as i64,
        t_tflm
    );
    println!("{line}");
    line
}

/// The samples of an int8 `.npy` (N × sample shape), one byte vector each.
fn npy_samples(path: &Path) -> Vec<Vec<u8>> {
    let f = std::fs::File::open(path).unwrap();
    let npy = npyz::NpyFile::new(std::io::BufReader::new(f)).unwrap();
    let n = npy.shape()[0] as usize;
    let v: Vec<i8> = npy.into_vec().unwrap();
    v.chunks_exact(v.len() / n)
        .map(|c| c.iter().map(|&x| x as u8).collect())
        .collect()
}

fn write_i8(path: &Path, samples: &[Vec<u8>], shape: &[u64]) {
    let mut s = vec![samples.len() as u64];
    s.extend(shape);
    snapuq_testkit::write_npy_raw(path, &samples.concat(), "int8", &s).unwrap();
}

/// CIFAR records `from..from + n` as int8 HWC images quantized with scale 1/255 or 1 and zero
/// point −128 (ResNet-8 and VWW both map pixel p to p − 128), upscaled `k`× (nearest).
fn cifar_i8(records: &[u8], from: usize, n: usize, k: usize) -> Vec<Vec<u8>> {
    records[from * RECORD..(from + n) * RECORD]
        .chunks_exact(RECORD)
        .map(|rec| {
            let side = 32 * k;
            let mut img = Vec::with_capacity(side * side * 3);
            for y in 0..side {
                for x in 0..side {
                    for c in 0..3 {
                        let p = rec[1 + c * 1024 + (y / k) * 32 + x / k];
                        img.push((p as i32 - 128) as i8 as u8);
                    }
                }
            }
            img
        })
        .collect()
}

fn labels(path: &Path, n: usize, classes: i64, seed: u64) {
    let l: Vec<u8> = snapuq_testkit::seeded_i8(seed, n)
        .into_iter()
        .flat_map(|v| (v as i64).rem_euclid(classes).to_le_bytes())
        .collect();
    snapuq_testkit::write_npy_raw(path, &l, "int64", &[n as u64]).unwrap();
}

fn convert(
    model: &Path,
    out: &Path,
    extra: &[&str],
    calib: &Path,
    dev: &Path,
    dev_labels: Option<&Path>,
) -> String {
    let t0 = Instant::now();
    let mut cmd = snap_convert();
    cmd.arg(model)
        .arg("--calib")
        .arg(calib)
        .arg("--dev")
        .arg(dev)
        .args(extra)
        .arg("-o")
        .arg(out);
    if let Some(l) = dev_labels {
        cmd.arg("--dev-labels").arg(l);
    }
    let stdout = ok(&mut cmd, "convert");
    println!("converted {} in {:.1?}", model.display(), t0.elapsed());
    stdout
}

/// `(r, C_in)` of every tap in the converter's report.
fn ranks(report: &str) -> Vec<(usize, usize)> {
    let num = |line: &str, key: &str| -> Option<usize> {
        let rest = &line[line.find(key)? + key.len()..];
        rest.split_whitespace().next()?.parse().ok()
    };
    report
        .lines()
        .filter_map(|l| Some((num(l, " r=")?, num(l, "C_in=")?)))
        .collect()
}

#[test]
fn digits_real_tflm_bitexact() {
    let dir = snapuq_testkit::repo_root().join("examples/models");
    let samples = npy_samples(&dir.join("digits_test.npy"));
    assert_eq!(samples.len(), 297);
    check(
        "digits",
        &dir.join("digits_cnn.tflite"),
        &dir.join("digits_cnn.snap.tflite"),
        &samples,
    );
}

fn cifar() -> Option<Vec<u8>> {
    let p = snapuq_testkit::shared_file(snapuq_testkit::CIFAR_5K)?;
    Some(std::fs::read(p).unwrap())
}

#[test]
fn resnet8_real_tflm_bitexact() {
    let Some(model) = snapuq_testkit::shared_file("models/pretrainedResnet_quant.tflite") else {
        return;
    };
    let Some(records) = cifar() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let calib = d.join("calib.bin");
    std::fs::write(&calib, &records[..400 * RECORD]).unwrap();
    let dev = d.join("dev.bin");
    std::fs::write(&dev, &records[400 * RECORD..600 * RECORD]).unwrap();
    let out = d.join("resnet8.snap.tflite");
    convert(&model, &out, &[], &calib, &dev, None);
    check("ResNet-8", &model, &out, &cifar_i8(&records, 600, 200, 1));
}

#[test]
fn dscnn_rank16_real_tflm_bitexact() {
    let Some(model) = snapuq_testkit::shared_file("models/kws_ref_model.tflite") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let per = 49 * 10;
    let seeded = |n: usize, seed: u64| -> Vec<Vec<u8>> {
        snapuq_testkit::seeded_i8(seed, n * per)
            .chunks_exact(per)
            .map(|c| c.iter().map(|&v| v as u8).collect())
            .collect()
    };
    let calib = d.join("calib.npy");
    write_i8(&calib, &seeded(300, 21), &[49, 10, 1]);
    let dev = d.join("dev.npy");
    write_i8(&dev, &seeded(200, 22), &[49, 10, 1]);
    let lab = d.join("labels.npy");
    labels(&lab, 200, 12, 23);
    let out = d.join("kws.snap.tflite");
    let report = convert(&model, &out, &["--rank", "16"], &calib, &dev, Some(&lab));
    // A real projection: every tap's C_in is above the rank.
    let taps = ranks(&report);
    assert!(!taps.is_empty(), "no taps in the report:\n{report}");
    assert!(taps.iter().all(|&(r, c)| r == 16 && r < c), "{taps:?}");
    check("DS-CNN r16", &model, &out, &seeded(200, 24));
}

#[test]
fn vww_real_tflm_bitexact() {
    let Some(model) = snapuq_testkit::shared_file("models/vww_96_int8.tflite") else {
        return;
    };
    let Some(records) = cifar() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let calib = d.join("calib.npy");
    write_i8(&calib, &cifar_i8(&records, 0, 200, 3), &[96, 96, 3]);
    let dev = d.join("dev.npy");
    write_i8(&dev, &cifar_i8(&records, 200, 200, 3), &[96, 96, 3]);
    let lab = d.join("labels.npy");
    labels(&lab, 200, 2, 31);
    let out = d.join("vww.snap.tflite");
    // Rank 32: the converter's default (up to 128) needs more than 200 calibration samples.
    convert(&model, &out, &["--rank", "32"], &calib, &dev, Some(&lab));
    check("VWW r32", &model, &out, &cifar_i8(&records, 400, 200, 3));
}
