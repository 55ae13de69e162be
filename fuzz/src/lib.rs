//! The fuzz entry points, one per reader of user-supplied bytes (see README.md for the list).
//! `fuzz_targets/*.rs` are one-line libFuzzer wrappers around them, so the coverage-guided
//! runs (`cargo fuzz`, or `.ci/fuzz` on stable) and any replay go through the same code.
//!
//! Each entry must return for every input (Ok or a clear error) and never panic, abort or
//! allocate without bound; it panics only when a property is broken (a reader accepted data
//! and produced something inconsistent with it). Each returns whether the input was accepted,
//! so the seed check in `.ci/fuzz` can tell that the corpus reaches past the first error.
use snap_convert::data::{self, InputSpec, PixelRange};
use std::path::PathBuf;

/// Model inputs the data readers are fuzzed against: the example model's `[1, 8, 8, 1]`, an
/// RGB image input (resizing and channel paths) and a flat vector input. The first input byte
/// picks one, so the corpus covers all three.
fn spec(selector: u8) -> (InputSpec, PixelRange) {
    let shapes: [&[usize]; 3] = [&[1, 8, 8, 1], &[1, 32, 32, 3], &[1, 64]];
    let pixels = [PixelRange::Auto, PixelRange::Byte, PixelRange::Unit];
    (
        InputSpec {
            tensor: 0,
            shape: shapes[selector as usize % 3].to_vec(),
            scale: 2.0 / 255.0,
            zero_point: -1,
        },
        pixels[(selector as usize / 3) % 3],
    )
}

/// Checks that an accepted dataset is consistent with the spec it was read for.
fn check_dataset(ds: &data::Dataset, spec: &InputSpec) {
    for s in &ds.samples {
        assert_eq!(
            s.len(),
            spec.elements(),
            "sample size differs from the input"
        );
    }
    if let Some(l) = &ds.labels {
        assert_eq!(
            l.len(),
            ds.samples.len(),
            "labels count differs from samples"
        );
    }
}

/// `.npy` data for `--calib` / `--dev` / `run --input`: selector byte, then the file.
pub fn npy(input: &[u8]) -> bool {
    let Some((&sel, bytes)) = input.split_first() else {
        return false;
    };
    let (spec, pixels) = spec(sel);
    match data::parse_npy(bytes, "fuzz.npy", &spec, pixels.resolve(&spec)) {
        Ok(ds) => {
            check_dataset(&ds, &spec);
            true
        }
        Err(e) => {
            assert!(!format!("{e:#}").is_empty());
            false
        }
    }
}

/// `.npy` labels for `--dev-labels` / `eval --labels`.
pub fn npy_labels(input: &[u8]) -> bool {
    data::parse_labels(input, "fuzz.npy").is_ok()
}

/// CIFAR-10 `.bin` records: selector byte, then the file.
pub fn cifar(input: &[u8]) -> bool {
    let Some((&sel, bytes)) = input.split_first() else {
        return false;
    };
    let (spec, pixels) = spec(sel);
    match data::parse_cifar(bytes, "fuzz.bin", &spec, pixels.resolve(&spec)) {
        Ok(ds) => {
            check_dataset(&ds, &spec);
            assert_eq!(ds.samples.len(), bytes.len() / data::CIFAR_RECORD);
            true
        }
        Err(_) => false,
    }
}

/// A scratch folder of this process, emptied before each use (one fuzz process runs one
/// input at a time).
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("snapuq-fuzz-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create the fuzz scratch folder");
    d
}

/// An image folder, encoded as: selector byte, then entries of
/// `[kind][name length][name][content length u16 LE][content]` where kind 0 is a file at the
/// top, 1 a subfolder, 2 a file in the last subfolder. Names are made safe (no separators).
pub fn image_folder(input: &[u8]) -> bool {
    let Some((&sel, mut rest)) = input.split_first() else {
        return false;
    };
    let (spec, pixels) = spec(sel);
    let root = scratch("images");
    let mut sub: Option<PathBuf> = None;
    let mut entries = 0;
    while rest.len() >= 4 && entries < 32 {
        let kind = rest[0] % 3;
        // Low bits: name length; high bits: the extension (images, upper case, other files).
        let nlen = (rest[1] as usize & 7).min(rest.len() - 2);
        let ext = ["png", "jpg", "jpeg", "PNG", "txt", ""][(rest[1] as usize >> 3) % 6];
        let stem: String = rest[2..2 + nlen]
            .iter()
            .map(|&b| (b'a' + b % 26) as char)
            .collect();
        rest = &rest[2 + nlen..];
        let clen = match rest {
            [a, b, ..] => u16::from_le_bytes([*a, *b]) as usize,
            _ => 0,
        };
        rest = rest.get(2..).unwrap_or(&[]);
        let content = &rest[..clen.min(rest.len())];
        rest = &rest[content.len()..];
        let name = if ext.is_empty() || kind == 1 {
            format!("n{stem}")
        } else {
            format!("n{stem}.{ext}")
        };
        entries += 1;
        match kind {
            0 => {
                let _ = std::fs::write(root.join(&name), content);
            }
            1 => {
                let d = root.join(&name);
                if std::fs::create_dir_all(&d).is_ok() {
                    sub = Some(d);
                }
            }
            _ => {
                if let Some(d) = &sub {
                    let _ = std::fs::write(d.join(&name), content);
                }
            }
        }
    }
    let ok = match data::load(&root, None, &spec, pixels) {
        Ok(ds) => {
            check_dataset(&ds, &spec);
            true
        }
        Err(_) => false,
    };
    let _ = std::fs::remove_dir_all(&root);
    ok
}

/// The example model as the backbone the JSON readers and `attach` are checked against.
fn digits() -> &'static snap_convert::pipeline::Backbone {
    static BB: std::sync::OnceLock<snap_convert::pipeline::Backbone> = std::sync::OnceLock::new();
    BB.get_or_init(|| {
        let p =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/models/digits_cnn.tflite");
        snap_convert::pipeline::Backbone::load(&p).expect("the example model loads")
    })
}

fn scratch_file(name: &str, bytes: &[u8]) -> PathBuf {
    let p = std::env::temp_dir().join(format!("snapuq-fuzz-{}-{name}", std::process::id()));
    std::fs::write(&p, bytes).expect("write the fuzz scratch file");
    p
}

/// A heads file (`--heads`, snapuq-heads/1 JSON): read it, then resolve its taps against the
/// example model.
pub fn heads_json(input: &[u8]) -> bool {
    let p = scratch_file("heads.json", input);
    let ok = match snap_convert::convert::HeadsFile::read(&p) {
        Ok(h) => h.sites(digits()).is_ok(),
        Err(_) => false,
    };
    let _ = std::fs::remove_file(&p);
    ok
}

/// A plan file (`attach --plan`, snapuq-plan/1 JSON): read it and attach it to the example
/// model; an attached model must serialize and parse again.
pub fn plan_json(input: &[u8]) -> bool {
    let p = scratch_file("plan.json", input);
    let ok = match snap_convert::attach::Plan::read(&p) {
        Ok(plan) => attach_checked(digits(), &plan),
        Err(_) => false,
    };
    let _ = std::fs::remove_file(&p);
    ok
}

fn attach_checked(
    bb: &snap_convert::pipeline::Backbone,
    plan: &snap_convert::attach::Plan,
) -> bool {
    match snap_convert::attach::attach(bb, plan) {
        Ok((m, _)) => {
            if let Ok(bytes) = m.to_bytes() {
                snapuq_model::Model::from_bytes(&bytes).expect("an attached model must parse");
            }
            true
        }
        Err(_) => false,
    }
}

/// `attach` on a mutated model: the input is the model file, the plan is the one the seed
/// corpus carries for the example model (`seeds/plan_json/digits.plan.json`, made by
/// `snap-convert calibrate`, see README.md).
pub fn attach_model(input: &[u8]) -> bool {
    static PLAN: std::sync::OnceLock<snap_convert::attach::Plan> = std::sync::OnceLock::new();
    let plan = PLAN.get_or_init(|| {
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("seeds/plan_json/digits.plan.json");
        snap_convert::attach::Plan::read(&p).expect("the seed plan reads")
    });
    let p = scratch_file("model.tflite", input);
    let ok = match snap_convert::pipeline::Backbone::load(&p) {
        Ok(bb) => attach_checked(&bb, plan),
        Err(_) => false,
    };
    let _ = std::fs::remove_file(&p);
    ok
}

/// `run` on a mutated (augmented or plain) model: parse, validate, then one invocation of the
/// executor with the SNAP ops on an all-zero input.
pub fn run_model(input: &[u8]) -> bool {
    static RESOLVER: std::sync::OnceLock<snapuq_exec::resolver::OpResolver<'static>> =
        std::sync::OnceLock::new();
    let resolver =
        RESOLVER.get_or_init(|| snap_convert::pipeline::resolver().expect("SNAP resolver"));
    let Ok(m) = snapuq_model::Model::from_bytes(input) else {
        return false;
    };
    if m.validate().is_err() {
        return false;
    }
    let Ok(spec) = InputSpec::of(&m) else {
        return false;
    };
    if spec.elements() > 1 << 20 {
        return false;
    }
    let sample = vec![0u8; spec.elements()];
    snapuq_exec::batch::run_batch(input, resolver, &[sample], &[]).is_ok()
}

/// SNAP_PROJECT's custom options: parse, and an accepted value must round-trip.
pub fn project_options(input: &[u8]) -> bool {
    use snapuq_ops::project::ProjectOptions;
    match ProjectOptions::parse(input) {
        Ok(o) => {
            let again = ProjectOptions::parse(&o.to_flexbuffer()).expect("re-parse");
            assert_eq!(o, again);
            true
        }
        Err(e) => {
            assert!(!e.message().as_str().is_empty());
            false
        }
    }
}

/// SNAP_SURPRISAL's custom options: parse, and an accepted value must round-trip.
pub fn surprisal_options(input: &[u8]) -> bool {
    use snapuq_ops::surprisal::SurprisalOptions;
    match SurprisalOptions::parse(input) {
        Ok(o) => {
            let again = SurprisalOptions::parse(&o.to_flexbuffer()).expect("re-parse");
            assert_eq!(format!("{o:?}"), format!("{again:?}"));
            true
        }
        Err(e) => {
            assert!(!e.message().as_str().is_empty());
            false
        }
    }
}

/// SNAP_CALIBRATE's custom options: parse, and an accepted value must round-trip.
pub fn calibrate_options(input: &[u8]) -> bool {
    use snapuq_ops::calibrate::CalibrateOptions;
    match CalibrateOptions::parse(input) {
        Ok(o) => {
            let again = CalibrateOptions::parse(&o.to_flexbuffer()).expect("re-parse");
            assert_eq!(format!("{o:?}"), format!("{again:?}"));
            true
        }
        Err(e) => {
            assert!(!e.message().as_str().is_empty());
            false
        }
    }
}
