//! Throughput of snapuq-exec against the TFLM oracle (PyPI `tflite-micro`) on the same inputs.
//!
//! ```text
//! cargo run --release -p snapuq-exec --bin exec-bench -- \
//!     --model ../shared/models/pretrainedResnet_quant.tflite \
//!     --cifar ../shared/data/cifar10/train-5k.bin -n 1000 [--python /path/to/python] [--threads T]
//! ```
//!
//! Runs N CIFAR-10 images (pixel − 128 as int8, NHWC) through our executor (rayon across
//! samples) and through the oracle's Python loop in the same run, checks the outputs are
//! identical byte for byte, and prints samples/s for both and the ratio. Without `--cifar`
//! it feeds seeded int8 inputs of the model's input size (for the non-image models).
use snapuq_exec::batch::run_batch;
use snapuq_exec::{arena_bytes_needed, Interpreter, OpResolver, Options};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

struct Args {
    model: PathBuf,
    cifar: Option<PathBuf>,
    n: usize,
    python: Option<PathBuf>,
    threads: Option<usize>,
}

fn usage() -> String {
    "usage: exec-bench --model M.tflite [--cifar train-5k.bin] [-n N] [--python PY] [--threads T]"
        .into()
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        model: PathBuf::new(),
        cifar: None,
        n: 1000,
        python: None,
        threads: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut val = || {
            it.next()
                .ok_or_else(|| format!("{k} needs a value\n{}", usage()))
        };
        match k.as_str() {
            "--model" => a.model = val()?.into(),
            "--cifar" => a.cifar = Some(val()?.into()),
            "-n" | "--n" => a.n = val()?.parse().map_err(|e| format!("-n: {e}"))?,
            "--python" => a.python = Some(val()?.into()),
            "--threads" => a.threads = Some(val()?.parse().map_err(|e| format!("--threads: {e}"))?),
            "-h" | "--help" => return Err(usage()),
            other => return Err(format!("unknown argument {other}\n{}", usage())),
        }
    }
    if a.model.as_os_str().is_empty() {
        return Err(format!("--model is required\n{}", usage()));
    }
    if a.n == 0 {
        return Err("-n must be at least 1".into());
    }
    Ok(a)
}

/// N CIFAR images as int8 NHWC (pixel − 128).
fn read_cifar(path: &Path, n: usize) -> Result<Vec<Vec<u8>>, String> {
    const REC: usize = 3073;
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() % REC != 0 || bytes.len() / REC < n {
        return Err(format!(
            "{}: need {n} CIFAR records of 3073 bytes, file has {} bytes",
            path.display(),
            bytes.len()
        ));
    }
    Ok(bytes
        .chunks_exact(REC)
        .take(n)
        .map(|r| {
            let mut hwc = vec![0u8; 3072];
            for c in 0..3 {
                for p in 0..1024 {
                    hwc[p * 3 + c] = (i16::from(r[1 + c * 1024 + p]) - 128) as i8 as u8;
                }
            }
            hwc
        })
        .collect())
}

fn seeded(n: usize, len: usize) -> Vec<Vec<u8>> {
    let mut s: u64 = 0x5eed;
    (0..n)
        .map(|_| {
            (0..len)
                .map(|_| {
                    s = s
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (s >> 56) as u8
                })
                .collect()
        })
        .collect()
}

fn python(explicit: Option<PathBuf>) -> PathBuf {
    if let Some(p) = explicit {
        return p;
    }
    if let Ok(p) = std::env::var("SNAPUQ_PYTHON") {
        if !p.is_empty() {
            return p.into();
        }
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    if venv.is_file() {
        return venv;
    }
    "python3".into()
}

const ORACLE_LOOP: &str = r#"
import sys, time
import numpy as np
from tflite_micro.python.tflite_micro import runtime
model, inp, out, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
data = open(model, "rb").read()
it = runtime.Interpreter.from_bytes(data, arena_size=max(len(data) * 10, 4 << 20))
d = it.get_input_details(0)
x = np.fromfile(inp, dtype=np.int8).reshape([n] + [int(v) for v in d["shape"]])
outs = []
t0, c0 = time.perf_counter(), time.process_time()
for s in range(n):
    it.set_input(x[s], 0)
    it.invoke()
    outs.append(np.array(it.get_output(0)).tobytes())
dt, dc = time.perf_counter() - t0, time.process_time() - c0
open(out, "wb").write(b"".join(outs))
print(dt, dc)
"#;

/// CPU seconds (user + system, all threads) this process has used so far, from
/// `/proc/self/stat` (Linux; `None` elsewhere). On a shared machine wall time swings with the
/// load, CPU time much less: the per-core ratio compares the two sides' CPU seconds.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // USER_HZ, fixed at 100 by the Linux ABI for /proc.
    Some(ticks as f64 / 100.0)
}

fn run() -> Result<(), String> {
    let a = parse_args()?;
    if let Some(t) = a.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build_global()
            .map_err(|e| e.to_string())?;
    }
    let model = std::fs::read(&a.model).map_err(|e| format!("{}: {e}", a.model.display()))?;
    let resolver = OpResolver::new();
    let need =
        arena_bytes_needed(&model, &resolver, Options::default()).map_err(|e| e.to_string())?;
    let in_len = {
        let mut arena = vec![0u8; need];
        let it: Interpreter = Interpreter::new(&model, &mut arena, &resolver, Options::default())
            .map_err(|e| e.to_string())?;
        if it.input_count() != 1 || it.output_count() < 1 {
            return Err("exec-bench drives single-input models".into());
        }
        it.input_index(0)
            .ok()
            .and_then(|i| it.tensor_info(i))
            .map(|t| t.bytes)
            .unwrap_or(0)
    };
    let samples = match &a.cifar {
        Some(p) => read_cifar(p, a.n)?,
        None => seeded(a.n, in_len),
    };
    if samples[0].len() != in_len {
        return Err(format!(
            "model input is {in_len} bytes but a sample is {}",
            samples[0].len()
        ));
    }

    // Ours: one warm-up sample, then the timed batch.
    run_batch(&model, &resolver, &samples[..1], &[]).map_err(|e| e.to_string())?;
    let c0 = cpu_seconds();
    let t0 = Instant::now();
    let ours = run_batch(&model, &resolver, &samples, &[]).map_err(|e| e.to_string())?;
    let ours_s = t0.elapsed().as_secs_f64();
    let ours_cpu = cpu_seconds().zip(c0).map(|(b, a)| b - a);

    // Oracle: the same inputs through PyPI tflite-micro in a Python loop.
    let dir = std::env::temp_dir().join(format!("exec-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let inp = dir.join("in.bin");
    let outp = dir.join("out.bin");
    std::fs::write(&inp, samples.concat()).map_err(|e| e.to_string())?;
    let py = python(a.python);
    let o = Command::new(&py)
        .arg("-c")
        .arg(ORACLE_LOOP)
        .arg(&a.model)
        .arg(&inp)
        .arg(&outp)
        .arg(a.n.to_string())
        .output()
        .map_err(|e| {
            format!(
                "cannot start {}: {e} (pass --python or set SNAPUQ_PYTHON)",
                py.display()
            )
        })?;
    if !o.status.success() {
        return Err(format!(
            "oracle failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    let times: Vec<f64> = String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .map(|t| {
            t.parse()
                .map_err(|e| format!("oracle printed no time: {e}"))
        })
        .collect::<Result<_, _>>()?;
    let (oracle_s, oracle_cpu) = match times[..] {
        [wall, cpu] => (wall, cpu),
        _ => return Err("oracle printed no wall and CPU time".into()),
    };
    let oracle_out = std::fs::read(&outp).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&dir);

    let ours_out: Vec<u8> = ours
        .iter()
        .flat_map(|r| r.outputs[0].iter().copied())
        .collect();
    let identical = ours_out == oracle_out;
    let ours_rate = a.n as f64 / ours_s;
    let oracle_rate = a.n as f64 / oracle_s;
    println!("model: {}", a.model.display());
    println!(
        "samples: {} ({} threads)",
        a.n,
        rayon::current_num_threads()
    );
    println!("snapuq-exec: {ours_rate:.1} samples/s ({ours_s:.3} s)");
    println!("tflite-micro (PyPI): {oracle_rate:.1} samples/s ({oracle_s:.3} s)");
    println!("ratio: {:.1}x", ours_rate / oracle_rate);
    if let Some(c) = ours_cpu.filter(|&c| c > 0.0) {
        println!(
            "cpu time: snapuq-exec {c:.2} s, tflite-micro {oracle_cpu:.2} s, per-core ratio: {:.1}x",
            oracle_cpu / c
        );
    }
    println!("outputs identical: {identical}");
    if !identical {
        return Err("outputs differ from the oracle".into());
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("exec-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
