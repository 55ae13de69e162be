//! Test support shared by every crate's tests: where the shared reference material lives, how
//! to reach the Python oracle (PyPI `tflite-micro`), and small readers for the data formats.
//!
//! The shared root is `SNAPUQ_SHARED` or `../shared` beside the repository. When it is missing,
//! tests that need it skip with a message on a developer's machine, and fail under CI
//! (`CI=true` or `SNAPUQ_REQUIRE_SHARED=1`), so CI can never pass without running them.
pub mod qemu;

use std::path::{Path, PathBuf};
use std::process::Command;

/// Root of the repository (the workspace directory).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..")
}

/// True when missing material must fail tests instead of skipping them.
pub fn strict() -> bool {
    let on = |k: &str| {
        std::env::var(k)
            .map(|v| !v.is_empty() && v != "0" && v != "false")
            .unwrap_or(false)
    };
    on("CI") || on("SNAPUQ_REQUIRE_SHARED")
}

/// The shared-material root, whether or not it exists.
pub fn shared_root() -> PathBuf {
    match std::env::var("SNAPUQ_SHARED") {
        Ok(p) if !p.is_empty() => PathBuf::from(p),
        _ => repo_root().join("..").join("shared"),
    }
}

/// Path of a file under the shared root, or `None` (after printing why) when it is missing and
/// we are not strict. Panics with a clear message under CI.
pub fn shared_file(rel: &str) -> Option<PathBuf> {
    let p = shared_root().join(rel);
    if p.is_file() {
        return Some(p);
    }
    let msg = format!(
        "shared material {} is missing (set SNAPUQ_SHARED to the folder holding models/ and data/)",
        p.display()
    );
    if strict() {
        panic!("{msg}; CI requires it");
    }
    eprintln!("SKIPPED: {msg}");
    None
}

/// The four MLPerf Tiny models every executor and round-trip test covers.
pub const SHARED_MODELS: [&str; 4] = [
    "models/kws_ref_model.tflite",
    "models/pretrainedResnet_quant.tflite",
    "models/vww_96_int8.tflite",
    "models/ad01_int8.tflite",
];

/// The CIFAR-10 images shipped in the shared root.
pub const CIFAR_5K: &str = "data/cifar10/train-5k.bin";
/// The CIFAR-10 **test** images: for reported results and quality gates only, never for
/// fitting or tuning anything.
pub const CIFAR_TEST_5K: &str = "data/cifar10/test-5k.bin";

/// Python interpreter with `tflite-micro` and numpy: `SNAPUQ_PYTHON`, else `<repo>/.venv`,
/// else `python3`. Returns `None` (after printing why) when it cannot import the oracle and we
/// are not strict; panics under CI.
pub fn oracle_python() -> Option<PathBuf> {
    let candidates: Vec<PathBuf> = match std::env::var("SNAPUQ_PYTHON") {
        Ok(p) if !p.is_empty() => vec![PathBuf::from(p)],
        _ => vec![
            repo_root().join(".venv").join("bin").join("python"),
            PathBuf::from("python3"),
        ],
    };
    for c in &candidates {
        let ok = Command::new(c)
            .args([
                "-c",
                "import numpy, tflite_micro.python.tflite_micro.runtime",
            ])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if ok {
            return Some(c.clone());
        }
    }
    let msg = "no Python with `tflite-micro` and numpy found (run `.ci/setup-python` or set SNAPUQ_PYTHON)";
    if strict() {
        panic!("{msg}; CI requires the oracle");
    }
    eprintln!("SKIPPED: {msg}");
    None
}

/// What the oracle computed for a batch: every output and, on request, every tensor.
pub struct OracleRun {
    /// `out{i}` and `t{k}` arrays from `tests/oracle/tflm_oracle.py`.
    pub arrays: std::collections::HashMap<String, Array>,
    /// Interpreter's input/output details (dtype, shape, scales, zero points) as JSON.
    pub details: serde_json::Value,
}

/// A dense array read back from the oracle's npz, widened to i64 (or f64 for float tensors).
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub dtype: String,
    pub ints: Vec<i64>,
    pub floats: Vec<f64>,
}

/// Runs the TFLM oracle on `inputs` (one entry per model input: raw little-endian bytes of N
/// samples, dtype name as numpy spells it, per-sample shape).
pub fn run_oracle(
    python: &Path,
    model: &Path,
    inputs: &[(&[u8], &str, &[usize])],
    n: usize,
    all_tensors: bool,
) -> Result<OracleRun, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let script = repo_root()
        .join("tests")
        .join("oracle")
        .join("tflm_oracle.py");
    let out = dir.path().join("out.npz");
    let details = dir.path().join("details.json");
    let mut cmd = Command::new(python);
    cmd.arg(&script).arg("--model").arg(model);
    for (k, (bytes, dtype, shape)) in inputs.iter().enumerate() {
        let p = dir.path().join(format!("in{k}.npy"));
        let mut full = vec![n as u64];
        full.extend(shape.iter().map(|&d| d as u64));
        write_npy_raw(&p, bytes, dtype, &full)?;
        cmd.arg("--inputs").arg(&p);
    }
    cmd.arg("--out").arg(&out).arg("--details").arg(&details);
    if all_tensors {
        cmd.arg("--all-tensors");
    }
    let o = cmd
        .output()
        .map_err(|e| format!("cannot start {}: {e}", python.display()))?;
    if !o.status.success() {
        return Err(format!(
            "oracle failed ({}): {}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    let details: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&details).map_err(|e| format!("oracle wrote no details: {e}"))?,
    )
    .map_err(|e| e.to_string())?;
    Ok(OracleRun {
        arrays: read_npz(&out)?,
        details,
    })
}

fn descr(dtype: &str) -> Result<&'static str, String> {
    Ok(match dtype {
        "int8" => "|i1",
        "uint8" => "|u1",
        "int16" => "<i2",
        "int32" => "<i4",
        "int64" => "<i8",
        "float32" => "<f4",
        "float64" => "<f8",
        _ => return Err(format!("unsupported dtype {dtype}")),
    })
}

/// Writes raw little-endian element bytes as an .npy file.
pub fn write_npy_raw(path: &Path, bytes: &[u8], dtype: &str, shape: &[u64]) -> Result<(), String> {
    let shape_s = match shape.len() {
        1 => format!("({},)", shape[0]),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}",
        descr(dtype)?,
        shape_s
    );
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut buf = Vec::with_capacity(10 + header.len() + bytes.len());
    buf.extend_from_slice(b"\x93NUMPY\x01\x00");
    buf.extend_from_slice(&(header.len() as u16).to_le_bytes());
    buf.extend_from_slice(header.as_bytes());
    buf.extend_from_slice(bytes);
    std::fs::write(path, buf).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Reads every array of an .npz written by numpy (uncompressed `np.savez`).
pub fn read_npz(path: &Path) -> Result<std::collections::HashMap<String, Array>, String> {
    let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut npz = npyz::npz::NpzArchive::new(std::io::BufReader::new(f))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let names: Vec<String> = npz.array_names().map(|s| s.to_string()).collect();
    let mut out = std::collections::HashMap::new();
    for name in names {
        let arr = npz
            .by_name(&name)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("npz lost {name}"))?;
        let shape: Vec<usize> = arr.shape().iter().map(|&d| d as usize).collect();
        let dt = arr.dtype();
        let descr = match &dt {
            npyz::DType::Plain(ts) => ts.to_string(),
            other => return Err(format!("{name}: unsupported dtype {other:?}")),
        };
        let (dtype, ints, floats) = match descr.as_str() {
            "|i1" => (
                "int8",
                arr.into_vec::<i8>()
                    .map_err(|e| e.to_string())?
                    .into_iter()
                    .map(i64::from)
                    .collect(),
                vec![],
            ),
            "|u1" => (
                "uint8",
                arr.into_vec::<u8>()
                    .map_err(|e| e.to_string())?
                    .into_iter()
                    .map(i64::from)
                    .collect(),
                vec![],
            ),
            "<i2" => (
                "int16",
                arr.into_vec::<i16>()
                    .map_err(|e| e.to_string())?
                    .into_iter()
                    .map(i64::from)
                    .collect(),
                vec![],
            ),
            "<i4" => (
                "int32",
                arr.into_vec::<i32>()
                    .map_err(|e| e.to_string())?
                    .into_iter()
                    .map(i64::from)
                    .collect(),
                vec![],
            ),
            "<i8" => (
                "int64",
                arr.into_vec::<i64>().map_err(|e| e.to_string())?,
                vec![],
            ),
            "<f4" => (
                "float32",
                vec![],
                arr.into_vec::<f32>()
                    .map_err(|e| e.to_string())?
                    .into_iter()
                    .map(f64::from)
                    .collect(),
            ),
            "<f8" => (
                "float64",
                vec![],
                arr.into_vec::<f64>().map_err(|e| e.to_string())?,
            ),
            other => return Err(format!("{name}: unsupported dtype {other}")),
        };
        let key = name.trim_end_matches(".npy").to_string();
        out.insert(
            key,
            Array {
                shape,
                dtype: dtype.to_string(),
                ints,
                floats,
            },
        );
    }
    Ok(out)
}

/// One CIFAR-10 record: label and the image as NHWC RGB bytes (32×32×3).
pub struct CifarImage {
    pub label: u8,
    pub hwc: Vec<u8>,
}

/// Reads CIFAR binary records (label byte + R, G, B planes) into NHWC images.
pub fn read_cifar(path: &Path, limit: usize) -> Result<Vec<CifarImage>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    const REC: usize = 1 + 3 * 1024;
    if bytes.len() % REC != 0 {
        return Err(format!(
            "{}: {} bytes is not a whole number of 3073-byte CIFAR records",
            path.display(),
            bytes.len()
        ));
    }
    Ok(bytes
        .chunks_exact(REC)
        .take(limit)
        .map(|r| {
            let mut hwc = vec![0u8; 3072];
            for c in 0..3 {
                for p in 0..1024 {
                    hwc[p * 3 + c] = r[1 + c * 1024 + p];
                }
            }
            CifarImage { label: r[0], hwc }
        })
        .collect())
}

/// Deterministic pseudo-random int8 inputs (SplitMix64), so oracle tests are reproducible
/// without pulling a RNG crate into every test.
pub fn seeded_i8(seed: u64, len: usize) -> Vec<i8> {
    let mut s = seed;
    (0..len)
        .map(|_| {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) as i8
        })
        .collect()
}
