//! Embeds the model and a handful of its inputs into the firmware, after checking on the host
//! that the firmware can run it.
//!
//! The firmware reads the model through the lean schema (a verifier for only the fields the
//! executor reads), so this script is where the embedded bytes get the complete check:
//! 1. the complete TFLite schema verifier accepts them;
//! 2. they use nothing the firmware ignores silently (sparse, variable or externally stored
//!    tensors, `builtin_options_2`, custom options stored after the flatbuffer, more than one
//!    subgraph);
//! 3. the host executor (the same `snapuq-exec` code, `std` off) prepares and plans them with
//!    the SNAP ops registered: every op and option is one the firmware runs.
//!
//! Step 3 also sizes the firmware exactly: the interpreter's tables get the model's tensor and
//! operator counts and the static arena its exact byte need.
//!
//! * `SNAPUQ_MODEL`: the .tflite to embed (default `examples/models/digits_cnn.snap.tflite`, the
//!   repo's digits CNN augmented by snap-convert).
//! * `SNAPUQ_INPUTS`: an int8 .npy of N samples (default `examples/models/digits_test.npy`),
//!   and `SNAPUQ_LABELS`: an optional integer .npy of their labels (default
//!   `digits_test_labels.npy` beside the default inputs; printed, never used to decide).
//! * `SNAPUQ_SAMPLES`: how many samples to embed (default 8).
//! * `SNAPUQ_ARENA_BYTES`: size of the executor's static arena (default: exactly what the model
//!   needs; a larger value leaves headroom, a smaller one is refused here).
//!
//! Writes `model.tflite`, `inputs.bin` and `inputs.rs` (sizes, labels, sources, table
//! capacities, arena bytes) to `OUT_DIR`.
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(env("CARGO_MANIFEST_DIR").expect("cargo sets this"));
    let out = PathBuf::from(env("OUT_DIR").expect("cargo sets this"));
    let models = manifest.join("..").join("..").join("models");
    for k in [
        "SNAPUQ_MODEL",
        "SNAPUQ_INPUTS",
        "SNAPUQ_LABELS",
        "SNAPUQ_SAMPLES",
        "SNAPUQ_ARENA_BYTES",
    ] {
        println!("cargo:rerun-if-env-changed={k}");
    }
    println!("cargo:rerun-if-changed=build.rs");

    let model = env("SNAPUQ_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| models.join("digits_cnn.snap.tflite"));
    let (inputs, labels) = match env("SNAPUQ_INPUTS") {
        Some(p) => (PathBuf::from(p), env("SNAPUQ_LABELS").map(PathBuf::from)),
        None => (
            models.join("digits_test.npy"),
            Some(
                env("SNAPUQ_LABELS")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| models.join("digits_test_labels.npy")),
            ),
        ),
    };
    let want: usize = match env("SNAPUQ_SAMPLES") {
        Some(s) => s
            .parse()
            .unwrap_or_else(|_| fail(&format!("SNAPUQ_SAMPLES={s} is not a count"))),
        None => 8,
    };

    let arena: usize = match env("SNAPUQ_ARENA_BYTES") {
        Some(s) => s
            .parse()
            .unwrap_or_else(|_| fail(&format!("SNAPUQ_ARENA_BYTES={s} is not a byte count"))),
        None => 0,
    };

    let model_bytes = read(&model);
    let fit = check_model(&model, &model_bytes);
    if arena != 0 && arena < fit.arena_bytes {
        fail(&format!(
            "SNAPUQ_ARENA_BYTES={arena} is smaller than the {} bytes {} needs; unset it to get \
             the exact size",
            fit.arena_bytes,
            model.display()
        ));
    }
    let arena = if arena == 0 { fit.arena_bytes } else { arena };
    std::fs::write(out.join("model.tflite"), &model_bytes)
        .unwrap_or_else(|e| fail(&format!("cannot write model.tflite: {e}")));

    let x = Npy::parse(&inputs, &read(&inputs));
    if x.descr != "|i1" {
        fail(&format!(
            "{}: inputs must be int8 (descr |i1), found {}",
            inputs.display(),
            x.descr
        ));
    }
    let n_all = x.shape.first().copied().unwrap_or(0);
    let n = want.min(n_all);
    if n == 0 {
        fail(&format!("{}: no samples", inputs.display()));
    }
    let sample: usize = x.shape[1..].iter().product();
    std::fs::write(out.join("inputs.bin"), &x.data[..n * sample])
        .unwrap_or_else(|e| fail(&format!("cannot write inputs.bin: {e}")));

    let mut label_list = Vec::new();
    if let Some(lp) = labels.as_ref().filter(|p| p.is_file()) {
        let y = Npy::parse(lp, &read(lp));
        let width = match y.descr.as_str() {
            "<i8" | "<u8" => 8,
            "<i4" | "<u4" => 4,
            "|u1" | "|i1" => 1,
            d => fail(&format!(
                "{}: labels must be integers, found {d}",
                lp.display()
            )),
        };
        for i in 0..n.min(y.shape.first().copied().unwrap_or(0)) {
            let b = &y.data[i * width..(i + 1) * width];
            let mut v = [0u8; 8];
            v[..width].copy_from_slice(b);
            label_list.push(i64::from_le_bytes(v));
        }
        println!("cargo:rerun-if-changed={}", lp.display());
    }

    let rs = format!(
        "/// Samples embedded.\npub const SAMPLES: usize = {n};\n\
         /// Bytes of one sample (the model's input tensor).\npub const SAMPLE_BYTES: usize = {sample};\n\
         /// Labels of the embedded samples (empty when none were given), for the log only.\n\
         pub const LABELS: [i64; {nl}] = {labels:?};\n\
         /// Where the model came from.\npub const MODEL_SOURCE: &str = {ms:?};\n\
         /// Where the inputs came from.\npub const INPUT_SOURCE: &str = {is:?};\n\
         /// Bytes of the static arena: the model's exact need (or `SNAPUQ_ARENA_BYTES`).\n\
         pub const ARENA_BYTES: usize = {arena};\n\
         /// Arena bytes the model's plan uses (activations + persistent data).\n\
         pub const ARENA_NEEDED: usize = {needed};\n\
         /// Tensors in subgraph 0: the capacity of the interpreter's tensor table.\n\
         pub const MAX_TENSORS: usize = {tensors};\n\
         /// Operators in subgraph 0: the capacity of the interpreter's node table.\n\
         pub const MAX_OPS: usize = {ops};\n",
        nl = label_list.len(),
        labels = label_list,
        ms = file_name(&model),
        is = file_name(&inputs),
        needed = fit.arena_bytes,
        tensors = fit.tensors.max(1),
        ops = fit.ops.max(1),
    );
    std::fs::write(out.join("inputs.rs"), rs)
        .unwrap_or_else(|e| fail(&format!("cannot write inputs.rs: {e}")));
    println!("cargo:rerun-if-changed={}", model.display());
    println!("cargo:rerun-if-changed={}", inputs.display());
}

/// What the firmware needs to hold the model.
struct Fit {
    tensors: usize,
    ops: usize,
    arena_bytes: usize,
}

/// Steps 1–3 of the module docs; fails the build naming what the firmware cannot run.
fn check_model(path: &Path, bytes: &[u8]) -> Fit {
    use snapuq_schema::tflite;
    let name = path.display();
    let m = tflite::root_as_model(bytes).unwrap_or_else(|e| {
        fail(&format!(
            "{name}: not a valid TFLite flatbuffer ({e}); the firmware reads it unchecked \
             beyond the fields it uses, so it must pass the complete verifier here"
        ))
    });
    let subgraphs = m.subgraphs().map(|s| s.len()).unwrap_or(0);
    if subgraphs != 1 {
        fail(&format!(
            "{name}: {subgraphs} subgraphs; the firmware runs exactly one (no control flow)"
        ));
    }
    let sg = m.subgraphs().expect("checked above").get(0);
    for (i, t) in sg.tensors().iter().flatten().enumerate() {
        let what = if t.sparsity().is_some() {
            Some("sparse")
        } else if t.is_variable() {
            Some("a variable (state) tensor")
        } else if t.variant_tensors().is_some() {
            Some("a variant tensor")
        } else if t.external_buffer() != 0 {
            Some("stored in an external buffer")
        } else {
            None
        };
        if let Some(what) = what {
            fail(&format!(
                "{name}: tensor {i} ({}) is {what}, which the firmware's executor does not run",
                t.name().unwrap_or("")
            ));
        }
    }
    for (k, op) in sg.operators().iter().flatten().enumerate() {
        if op.builtin_options_2_type() != tflite::BuiltinOptions2::NONE {
            fail(&format!(
                "{name}: operator {k} uses builtin_options_2 ({:?}), which the firmware does \
                 not read",
                op.builtin_options_2_type()
            ));
        }
        if op.large_custom_options_offset() > 1 {
            fail(&format!(
                "{name}: operator {k} stores its custom options after the flatbuffer, which the \
                 firmware does not read"
            ));
        }
    }

    let mut resolver = snapuq_exec::OpResolver::new();
    snapuq_exec::snap::register(&mut resolver)
        .unwrap_or_else(|e| fail(&format!("cannot register the SNAP ops: {e}")));
    let options = snapuq_exec::Options::default();
    let need = snapuq_exec::arena_bytes_needed(bytes, &resolver, options).unwrap_or_else(|e| {
        fail(&format!(
            "{name}: the firmware's executor cannot run this model: {e}"
        ))
    });
    let mut arena = vec![0u8; need];
    let it: snapuq_exec::Interpreter =
        snapuq_exec::Interpreter::new(bytes, &mut arena, &resolver, options).unwrap_or_else(|e| {
            fail(&format!(
                "{name}: the firmware's executor cannot run this model: {e}"
            ))
        });
    Fit {
        tensors: it.tensor_count(),
        ops: it.op_count(),
        arena_bytes: it.arena_used(),
    }
}

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

fn fail(msg: &str) -> ! {
    eprintln!("error: snapuq-runner build: {msg}");
    std::process::exit(1)
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", p.display())))
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The parts of a C-order .npy (format 1.0–3.0) the firmware needs.
struct Npy {
    descr: String,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl Npy {
    fn parse(path: &Path, b: &[u8]) -> Npy {
        let bad =
            |why: &str| -> ! { fail(&format!("{}: not a usable .npy: {why}", path.display())) };
        if b.len() < 10 || &b[..6] != b"\x93NUMPY" {
            bad("missing the \\x93NUMPY magic");
        }
        let (hlen, start) = match b[6] {
            1 => (usize::from(u16::from_le_bytes([b[8], b[9]])), 10),
            2 | 3 if b.len() >= 12 => (u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize, 12),
            v => bad(&format!("format version {v}")),
        };
        let header = b
            .get(start..start + hlen)
            .map(String::from_utf8_lossy)
            .unwrap_or_else(|| bad("header runs past the end"));
        if header.contains("'fortran_order': True") {
            bad("Fortran order");
        }
        let descr = header
            .split("'descr':")
            .nth(1)
            .and_then(|s| s.split('\'').nth(1))
            .unwrap_or_else(|| bad("no descr"))
            .to_string();
        let shape_s = header
            .split("'shape':")
            .nth(1)
            .and_then(|s| s.split('(').nth(1))
            .and_then(|s| s.split(')').next())
            .unwrap_or_else(|| bad("no shape"));
        let shape: Vec<usize> = shape_s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().unwrap_or_else(|_| bad("shape is not integers")))
            .collect();
        let data = b[start + hlen..].to_vec();
        let width = match descr.as_str() {
            "|i1" | "|u1" => 1,
            "<i4" | "<u4" => 4,
            "<i8" | "<u8" => 8,
            _ => 1,
        };
        if data.len() < shape.iter().product::<usize>() * width {
            bad("data shorter than its shape");
        }
        Npy { descr, shape, data }
    }
}
