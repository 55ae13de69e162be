//! The converter on the shared MLPerf Tiny models (skipped locally when ../shared is missing,
//! failing under CI=true):
//! * ResNet-8 with the shared CIFAR-10 images: fit on the first part, calibrate on the next,
//!   evaluate on the rest, clean and with synthetic Gaussian-noise and contrast shifts; prints
//!   U's AUROC for wrong-vs-correct next to MSP and entropy on the same samples.
//! * DS-CNN (KWS) with seeded int8 inputs: the pipeline runs and the original outputs are
//!   bit-identical.
use serde_json::Value;
use snapuq_eval::shifts::image::{Corruption, ImageU8};
use snapuq_model::Model;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

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

fn run_json(model: &Path, input: &Path, json: &Path) -> Vec<Vec<Vec<f64>>> {
    ok(
        snap_convert()
            .arg("run")
            .arg(model)
            .arg("--input")
            .arg(input)
            .arg("--print")
            .arg("0")
            .arg("--json")
            .arg(json),
        "run",
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    v["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            o["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    s.as_array()
                        .unwrap()
                        .iter()
                        .map(|x| x.as_f64().unwrap())
                        .collect()
                })
                .collect()
        })
        .collect()
}

/// CIFAR records with every image corrupted (planar RGB ↔ HWC around the corruption).
fn corrupt_records(records: &[u8], c: Corruption, severity: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.len());
    for (i, rec) in records.chunks_exact(RECORD).enumerate() {
        let mut hwc = vec![0u8; 3072];
        for p in 0..1024 {
            for ch in 0..3 {
                hwc[p * 3 + ch] = rec[1 + ch * 1024 + p];
            }
        }
        let img = ImageU8::new(32, 32, 3, hwc).unwrap();
        let s = c.apply(&img, severity, 1000 + i as u64).unwrap();
        out.push(rec[0]);
        for ch in 0..3 {
            for p in 0..1024 {
                out.push(s.data[p * 3 + ch]);
            }
        }
    }
    out
}

#[derive(Default)]
struct Scores {
    u: Vec<f64>,
    msp: Vec<f64>,
    entropy: Vec<f64>,
    wrong: Vec<bool>,
}

impl Scores {
    fn add(
        &mut self,
        outs: &[Vec<Vec<f64>>],
        u_index: usize,
        labels: &[usize],
        scale: f64,
        zp: f64,
    ) {
        for (i, row) in outs[0].iter().enumerate() {
            let p: Vec<f64> = row.iter().map(|&q| scale * (q - zp)).collect();
            let (arg, &max) =
                p.iter()
                    .enumerate()
                    .fold((0, &p[0]), |b, (j, v)| if *v > *b.1 { (j, v) } else { b });
            let total: f64 = p.iter().sum::<f64>().max(1e-12);
            let ent: f64 = p
                .iter()
                .map(|&v| v / total)
                .filter(|&v| v > 0.0)
                .map(|v| -v * v.ln())
                .sum();
            self.u.push(outs[u_index][i][0]);
            self.msp.push(1.0 - max);
            self.entropy.push(ent);
            self.wrong.push(arg != labels[i]);
        }
    }

    fn line(&self, name: &str) -> String {
        let a = |s: &[f64]| {
            snapuq_eval::metrics::auroc(s, &self.wrong).map_or("n/a".into(), |v| format!("{v:.3}"))
        };
        format!(
            "| {name} | {} | {} | {} | {} | {} |",
            self.u.len(),
            self.wrong.iter().filter(|w| **w).count(),
            a(&self.u),
            a(&self.msp),
            a(&self.entropy)
        )
    }
}

#[test]
fn resnet8_cifar_auroc() {
    let Some(model) = snapuq_testkit::shared_file("models/pretrainedResnet_quant.tflite") else {
        return;
    };
    let Some(cifar) = snapuq_testkit::shared_file("data/cifar10/train-5k.bin") else {
        return;
    };
    let n_fit = 1000;
    let n_dev = 500;
    let n_test = 500;
    let bytes = std::fs::read(&cifar).unwrap();
    assert!(bytes.len() >= (n_fit + n_dev + n_test) * RECORD);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let part = |name: &str, from: usize, n: usize| -> PathBuf {
        let p = d.join(name);
        std::fs::write(&p, &bytes[from * RECORD..(from + n) * RECORD]).unwrap();
        p
    };
    let fit = part("fit.bin", 0, n_fit);
    let dev = part("dev.bin", n_fit, n_dev);
    let test_from = n_fit + n_dev;
    let test = part("test.bin", test_from, n_test);
    let out = d.join("resnet8.snap.tflite");
    let rep = d.join("report.json");
    let t0 = Instant::now();
    let stdout = ok(
        snap_convert()
            .arg(&model)
            .arg("--calib")
            .arg(&fit)
            .arg("--dev")
            .arg(&dev)
            .arg("--shifts")
            .arg("-o")
            .arg(&out)
            .arg("--json")
            .arg(&rep),
        "convert ResNet-8",
    );
    let convert_s = t0.elapsed().as_secs_f64();
    println!("{stdout}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&rep).unwrap()).unwrap();
    assert!(report["host_check"]["original_outputs_identical"]
        .as_bool()
        .unwrap());
    assert_eq!(
        report["host_check"]["max_abs_u_diff"].as_f64().unwrap(),
        0.0
    );

    let aug = Model::load(&out).unwrap();
    aug.validate().unwrap();
    let orig = Model::load(&model).unwrap();
    let n_orig = orig.outputs().len();
    let q = orig.quantization(orig.outputs()[0] as usize).unwrap();
    let (scale, zp) = (q.scale[0] as f64, q.zero_point[0] as f64);
    let test_records = &bytes[test_from * RECORD..(test_from + n_test) * RECORD];
    let labels: Vec<usize> = test_records
        .chunks_exact(RECORD)
        .map(|r| r[0] as usize)
        .collect();

    let mut table = vec![
        "| test part | n | wrong | AUROC U | AUROC MSP | AUROC entropy |".to_string(),
        "|---|---|---|---|---|---|".to_string(),
    ];
    let mut all = Scores::default();
    let sets: Vec<(String, PathBuf)> = vec![
        ("clean".into(), test.clone()),
        ("gaussian_noise-3".into(), {
            let p = d.join("noise.bin");
            std::fs::write(
                &p,
                corrupt_records(test_records, Corruption::GaussianNoise, 3),
            )
            .unwrap();
            p
        }),
        ("contrast-3".into(), {
            let p = d.join("contrast.bin");
            std::fs::write(&p, corrupt_records(test_records, Corruption::Contrast, 3)).unwrap();
            p
        }),
    ];
    for (name, path) in &sets {
        let snap = run_json(&out, path, &d.join(format!("{name}.json")));
        let base = run_json(&model, path, &d.join(format!("{name}-base.json")));
        for k in 0..n_orig {
            assert_eq!(base[k], snap[k], "{name}: original output {k} differs");
        }
        assert!(snap[n_orig].iter().all(|u| (0.0..=1.0).contains(&u[0])));
        let mut s = Scores::default();
        s.add(&snap, n_orig, &labels, scale, zp);
        all.add(&snap, n_orig, &labels, scale, zp);
        table.push(s.line(name));
    }
    table.push(all.line("all (clean + shifts)"));
    println!("ResNet-8, fit {n_fit} / dev {n_dev} (+ --shifts) / test {n_test} CIFAR-10 train-5k images; convert took {convert_s:.1} s");
    println!("{}", table.join("\n"));
    let a = snapuq_eval::metrics::auroc(&all.u, &all.wrong).unwrap();
    assert!(a > 0.5, "U's AUROC {a} is no better than chance");
}

#[test]
fn kws_seeded_pipeline_bit_identical() {
    let Some(model) = snapuq_testkit::shared_file("models/kws_ref_model.tflite") else {
        return;
    };
    let m = Model::load(&model).unwrap();
    let input = m.inputs()[0] as usize;
    let shape: Vec<u64> = m.tensor_shape(input).iter().map(|&v| v as u64).collect();
    let per: usize = shape.iter().product::<u64>() as usize;
    let classes = *m.tensor_shape(m.outputs()[0] as usize).last().unwrap() as u64;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let npy = |name: &str, n: usize, seed: u64| -> PathBuf {
        let p = d.join(name);
        let bytes: Vec<u8> = snapuq_testkit::seeded_i8(seed, n * per)
            .into_iter()
            .map(|v| v as u8)
            .collect();
        let mut s = vec![n as u64];
        s.extend(&shape[1..]);
        snapuq_testkit::write_npy_raw(&p, &bytes, "int8", &s).unwrap();
        p
    };
    let calib = npy("calib.npy", 400, 11);
    let dev = npy("dev.npy", 200, 12);
    let test = npy("test.npy", 50, 13);
    let labels = d.join("labels.npy");
    let l: Vec<u8> = snapuq_testkit::seeded_i8(14, 200)
        .into_iter()
        .flat_map(|v| ((v as i64).rem_euclid(classes as i64)).to_le_bytes())
        .collect();
    snapuq_testkit::write_npy_raw(&labels, &l, "int64", &[200]).unwrap();
    let out = d.join("kws.snap.tflite");
    let stdout = ok(
        snap_convert()
            .arg(&model)
            .arg("--calib")
            .arg(&calib)
            .arg("--dev")
            .arg(&dev)
            .arg("--dev-labels")
            .arg(&labels)
            .arg("-o")
            .arg(&out),
        "convert DS-CNN",
    );
    println!("{stdout}");
    Model::load(&out).unwrap().validate().unwrap();
    let base = run_json(&model, &test, &d.join("base.json"));
    let snap = run_json(&out, &test, &d.join("snap.json"));
    let n_orig = m.outputs().len();
    for k in 0..n_orig {
        assert_eq!(base[k], snap[k], "original output {k} differs");
    }
    assert!(snap[n_orig].iter().all(|u| (0.0..=1.0).contains(&u[0])));
}
