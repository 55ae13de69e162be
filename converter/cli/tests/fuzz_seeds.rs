//! The seed corpus of the fuzz targets (`fuzz/seeds/<target>/`) is made here from the
//! repository's own example model and data, never copied from elsewhere:
//!
//! ```sh
//! SNAPUQ_WRITE_SEEDS=1 cargo test -p snap-convert --test fuzz_seeds
//! ```
//!
//! Without the variable the test checks that the committed seeds are what this code makes
//! (the heads and plan files, which depend on the fitting code, only have to load and attach),
//! so the corpus cannot silently go stale or stop reaching past the readers' first checks.
use snap_convert::data::{self, InputSpec, PixelRange};
use snapuq_model::{Model, OpCode};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

fn repo() -> PathBuf {
    snapuq_testkit::repo_root()
}

fn models() -> PathBuf {
    repo().join("examples/models")
}

/// An `.npy` file in memory (the same writer the other tests use, through a scratch file).
fn npy(bytes: &[u8], dtype: &str, shape: &[u64]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.npy");
    snapuq_testkit::write_npy_raw(&p, bytes, dtype, shape).unwrap();
    std::fs::read(p).unwrap()
}

fn with_selector(sel: u8, bytes: &[u8]) -> Vec<u8> {
    let mut v = vec![sel];
    v.extend_from_slice(bytes);
    v
}

fn png(w: u32, h: u32, rgb: bool) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    if rgb {
        image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 9) as u8, (y * 7) as u8, 99]))
            .write_to(&mut out, image::ImageFormat::Png)
            .unwrap();
    } else {
        image::GrayImage::from_fn(w, h, |x, y| image::Luma([(x * 30 + y) as u8]))
            .write_to(&mut out, image::ImageFormat::Png)
            .unwrap();
    }
    out.into_inner()
}

fn jpeg(w: u32, h: u32) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 9) as u8, (y * 7) as u8, 40]))
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .unwrap();
    out.into_inner()
}

/// One entry of the `image_folder` target's encoding (fuzz/src/lib.rs): kind (0 top-level
/// file, 1 subfolder, 2 file in the last subfolder), name byte (low 3 bits: stem length, then
/// the extension index: 0 png, 1 jpg), stem, u16 content length, content.
fn entry(kind: u8, ext: u8, stem: &[u8], content: &[u8]) -> Vec<u8> {
    let mut v = vec![kind, (ext << 3) | stem.len() as u8];
    v.extend_from_slice(stem);
    v.extend_from_slice(&(content.len() as u16).to_le_bytes());
    v.extend_from_slice(content);
    v
}

/// The custom options of the first operator with custom code `code` in `model`.
fn custom_options(model: &Model, code: &str) -> Vec<u8> {
    (0..model.operators().len())
        .find(|&i| matches!(model.op_code(i), Some(OpCode::Custom(c)) if c == code))
        .and_then(|i| model.operators()[i].custom_options.clone())
        .unwrap_or_else(|| panic!("no {code} with options"))
}

/// Every seed file this code makes, by target (heads and plan are made by the CLI, below).
fn seeds() -> BTreeMap<&'static str, Vec<(String, Vec<u8>)>> {
    let calib = std::fs::read(models().join("digits_calib.npy")).unwrap();
    let digits_i8 = &calib[calib.len() - 250 * 64..][..4 * 64];
    let f32s: Vec<u8> = digits_i8
        .iter()
        .take(2 * 64)
        .flat_map(|&b| ((b as i8) as f32 / 127.0).to_le_bytes())
        .collect();
    let f64s: Vec<u8> = digits_i8
        .iter()
        .take(2 * 64)
        .flat_map(|&b| ((b as i8) as f64 / 127.0).to_le_bytes())
        .collect();
    let pixels: Vec<u8> = (0..2 * 3072).map(|i| (i * 37 % 256) as u8).collect();
    let labels: Vec<u8> = [3i64, 0, 9, 1, 2]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let cifar: Vec<u8> = (0..2 * data::CIFAR_RECORD)
        .map(|i| {
            if i % data::CIFAR_RECORD == 0 {
                (i / data::CIFAR_RECORD) as u8 + 3
            } else {
                (i * 13 % 256) as u8
            }
        })
        .collect();
    let plain = std::fs::read(models().join("digits_cnn.tflite")).unwrap();
    let snap = std::fs::read(models().join("digits_cnn.snap.tflite")).unwrap();
    let m = Model::from_bytes(&snap).unwrap();
    let s = |n: &str, b: Vec<u8>| (n.to_string(), b);
    let mut t = BTreeMap::new();
    t.insert(
        "npy",
        vec![
            s(
                "digits_i8",
                with_selector(0, &npy(digits_i8, "int8", &[4, 8, 8, 1])),
            ),
            s(
                "digits_f32",
                with_selector(0, &npy(&f32s, "float32", &[2, 8, 8, 1])),
            ),
            s(
                "rgb_u8",
                with_selector(1, &npy(&pixels, "uint8", &[2, 32, 32, 3])),
            ),
            s(
                "flat_f64",
                with_selector(2, &npy(&f64s, "float64", &[2, 64])),
            ),
            s(
                "grey_u8_byte",
                with_selector(3, &npy(&pixels[..128], "uint8", &[2, 8, 8])),
            ),
        ],
    );
    t.insert(
        "npy_labels",
        vec![
            s("int64", npy(&labels, "int64", &[5])),
            s("uint8", npy(&[1, 2, 3, 4], "uint8", &[2, 2])),
        ],
    );
    t.insert(
        "cifar",
        vec![
            s("rgb32", with_selector(1, &cifar)),
            s("grey8", with_selector(0, &cifar[..data::CIFAR_RECORD])),
        ],
    );
    let mut flat = vec![0u8];
    flat.extend(entry(0, 0, b"ab", &png(8, 8, false)));
    flat.extend(entry(0, 1, b"c", &jpeg(12, 10)));
    let mut tree = vec![1u8];
    tree.extend(entry(1, 0, b"cat", &[]));
    tree.extend(entry(2, 0, b"x", &png(32, 32, true)));
    tree.extend(entry(1, 0, b"dog", &[]));
    tree.extend(entry(2, 1, b"y", &jpeg(16, 16)));
    t.insert("image_folder", vec![s("flat", flat), s("classes", tree)]);
    t.insert(
        "project_options",
        vec![s("digits", custom_options(&m, "SNAP_PROJECT"))],
    );
    t.insert(
        "surprisal_options",
        vec![s("digits", custom_options(&m, "SNAP_SURPRISAL"))],
    );
    t.insert(
        "calibrate_options",
        vec![s("digits", custom_options(&m, "SNAP_CALIBRATE"))],
    );
    t.insert("parse_model", vec![s("digits_cnn.tflite", plain.clone())]);
    t.insert("attach_model", vec![s("digits_cnn.tflite", plain.clone())]);
    t.insert(
        "run_model",
        vec![
            s("digits_cnn.tflite", plain),
            s("digits_cnn.snap.tflite", snap),
        ],
    );
    t
}

fn seed_dir(target: &str) -> PathBuf {
    repo().join("fuzz/seeds").join(target)
}

fn snap_convert(args: &[&std::ffi::OsStr]) {
    let out = Command::new(env!("CARGO_BIN_EXE_snap-convert"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Heads and plan for the example model, made by `snap-convert fit` and `calibrate` (small
/// rank and few steps: the seeds only need to be valid files, not good heads).
fn write_json_seeds() {
    let m = models();
    let heads = seed_dir("heads_json").join("digits.heads.json");
    let plan = seed_dir("plan_json").join("digits.plan.json");
    std::fs::create_dir_all(heads.parent().unwrap()).unwrap();
    std::fs::create_dir_all(plan.parent().unwrap()).unwrap();
    let model = m.join("digits_cnn.tflite");
    let calib = m.join("digits_calib.npy");
    snap_convert(&[
        "fit".as_ref(),
        model.as_os_str(),
        "--calib".as_ref(),
        calib.as_os_str(),
        "--rank".as_ref(),
        "16".as_ref(),
        "--steps".as_ref(),
        "20".as_ref(),
        "-o".as_ref(),
        heads.as_os_str(),
    ]);
    snap_convert(&[
        "calibrate".as_ref(),
        model.as_os_str(),
        "--heads".as_ref(),
        heads.as_os_str(),
        "--calib".as_ref(),
        calib.as_os_str(),
        "--dev".as_ref(),
        m.join("digits_dev.npy").as_os_str(),
        "--dev-labels".as_ref(),
        m.join("digits_dev_labels.npy").as_os_str(),
        "-o".as_ref(),
        plan.as_os_str(),
    ]);
}

fn spec(shape: &[usize]) -> InputSpec {
    InputSpec {
        tensor: 0,
        shape: shape.to_vec(),
        scale: 2.0 / 255.0,
        zero_point: -1,
    }
}

#[test]
fn seed_corpus_is_made_here_and_current() {
    let seeds = seeds();
    if std::env::var_os("SNAPUQ_WRITE_SEEDS").is_some() {
        for (target, files) in &seeds {
            let d = seed_dir(target);
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d).unwrap();
            for (name, bytes) in files {
                std::fs::write(d.join(name), bytes).unwrap();
            }
        }
        write_json_seeds();
    }
    for (target, files) in &seeds {
        let d = seed_dir(target);
        let mut committed: Vec<String> = std::fs::read_dir(&d)
            .unwrap_or_else(|e| panic!("{}: {e}; write the seeds (module doc)", d.display()))
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        committed.sort();
        let mut made: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
        made.sort();
        assert_eq!(committed, made, "{target}: seed files differ; rewrite them");
        for (name, bytes) in files {
            let on_disk = std::fs::read(d.join(name)).unwrap();
            assert!(
                on_disk == *bytes,
                "fuzz/seeds/{target}/{name} is stale; rewrite the seeds (module doc)"
            );
        }
    }

    seeds_are_accepted_by_their_readers(&seeds);
}

/// The seeds reach the readers' success paths (a corpus of rejected files would only fuzz the
/// first check). Run after the seeds are written, in the same test.
fn seeds_are_accepted_by_their_readers(s: &BTreeMap<&'static str, Vec<(String, Vec<u8>)>>) {
    let shapes: [&[usize]; 3] = [&[1, 8, 8, 1], &[1, 32, 32, 3], &[1, 64]];
    for (name, b) in &s["npy"] {
        let sp = spec(shapes[b[0] as usize % 3]);
        data::parse_npy(&b[1..], name, &sp, PixelRange::Unit)
            .unwrap_or_else(|e| panic!("{name}: {e:#}"));
    }
    for (name, b) in &s["npy_labels"] {
        data::parse_labels(b, name).unwrap();
    }
    for (name, b) in &s["cifar"] {
        let sp = spec(shapes[b[0] as usize % 3]);
        let ds = data::parse_cifar(&b[1..], name, &sp, PixelRange::Unit).unwrap();
        assert_eq!(ds.labels.unwrap()[0], 3);
    }
    for (_, b) in &s["project_options"] {
        snapuq_ops::project::ProjectOptions::parse(b).unwrap();
    }
    for (_, b) in &s["surprisal_options"] {
        snapuq_ops::surprisal::SurprisalOptions::parse(b).unwrap();
    }
    for (_, b) in &s["calibrate_options"] {
        snapuq_ops::calibrate::CalibrateOptions::parse(b).unwrap();
    }
    let bb = snap_convert::pipeline::Backbone::load(&models().join("digits_cnn.tflite")).unwrap();
    let heads =
        snap_convert::convert::HeadsFile::read(&seed_dir("heads_json").join("digits.heads.json"))
            .unwrap();
    heads.sites(&bb).unwrap();
    let plan =
        snap_convert::attach::Plan::read(&seed_dir("plan_json").join("digits.plan.json")).unwrap();
    snap_convert::attach::attach(&bb, &plan).unwrap();
}
