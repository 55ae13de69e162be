//! Throughput of snapuq-exec against the TFLM oracle (PyPI `tflite-micro`) and, when
//! `ai-edge-litert` is importable in the venv, LiteRT with and without XNNPACK, on the same
//! inputs in one run.
//!
//! ```text
//! cargo run --release -p snapuq-exec --bin exec-bench            # all four MLPerf Tiny models
//! cargo run --release -p snapuq-exec --bin exec-bench -- \
//!     --model ../shared/models/pretrainedResnet_quant.tflite [-n 500] [--min-cpu 2] \
//!     [--python /path/to/python] [--no-ref]
//! ```
//!
//! Inputs: ResNet-8 gets CIFAR-10 images (pixel − 128 as int8, NHWC) from the shared
//! `data/cifar10/train-5k.bin` (or `--cifar`), the other models seeded int8 inputs.
//!
//! Per model it prints samples per CPU-second (thread CPU time, which stays stable on a loaded
//! machine; the median over rounds of at least `--min-cpu`/5 seconds for snapuq-exec and over
//! chunks of 25 samples for the Python runtimes, each run for at least `--min-cpu` CPU seconds)
//! and per wall-second for: snapuq-exec on one thread with the best instruction set,
//! the same with the portable kernels, snapuq-exec on two threads (wall scaling over one thread,
//! and the CPU-normalised scaling 2·rate₂/rate₁ per CPU-second, which shows whether the two
//! threads slow each other down), then the Python runtimes (one thread each; their loop
//! includes setting the input and reading the output). Each reference's outputs are compared
//! with ours sample by sample: "identical" counts byte-identical outputs. A markdown table
//! (the README's) closes the report. Exit status 1 when the TFLM oracle and snapuq-exec differ.
use snapuq_exec::kernels::simd::{force_isa, Isa};
use snapuq_exec::{arena_bytes_needed, Interpreter, OpResolver, Options};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

const HOST: Options = Options {
    preserve_all: false,
    widen_filters: true,
};

const MODELS: [&str; 4] = [
    "models/pretrainedResnet_quant.tflite",
    "models/kws_ref_model.tflite",
    "models/vww_96_int8.tflite",
    "models/ad01_int8.tflite",
];

struct Args {
    models: Vec<PathBuf>,
    cifar: Option<PathBuf>,
    n: usize,
    min_cpu: f64,
    python: Option<PathBuf>,
    no_ref: bool,
}

fn usage() -> String {
    "usage: exec-bench [--model M.tflite]... [--cifar train-5k.bin] [-n N] [--min-cpu S] \
     [--python PY] [--no-ref]\n(no --model: the four MLPerf Tiny models of the shared folder)"
        .into()
}

fn shared_root() -> PathBuf {
    match std::env::var("SNAPUQ_SHARED") {
        Ok(s) if !s.is_empty() => s.into(),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    }
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        models: vec![],
        cifar: None,
        n: 500,
        min_cpu: 2.0,
        python: None,
        no_ref: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut val = || {
            it.next()
                .ok_or_else(|| format!("{k} needs a value\n{}", usage()))
        };
        match k.as_str() {
            "--model" => a.models.push(val()?.into()),
            "--cifar" => a.cifar = Some(val()?.into()),
            "-n" | "--n" => a.n = val()?.parse().map_err(|e| format!("-n: {e}"))?,
            "--min-cpu" => a.min_cpu = val()?.parse().map_err(|e| format!("--min-cpu: {e}"))?,
            "--python" => a.python = Some(val()?.into()),
            "--no-ref" => a.no_ref = true,
            "-h" | "--help" => return Err(usage()),
            other => return Err(format!("unknown argument {other}\n{}", usage())),
        }
    }
    if a.models.is_empty() {
        let root = shared_root();
        a.models = MODELS.iter().map(|m| root.join(m)).collect();
    }
    if a.cifar.is_none() {
        let c = shared_root().join("data/cifar10/train-5k.bin");
        if c.is_file() {
            a.cifar = Some(c);
        }
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

/// Runs each available runtime over the inputs, one thread, and prints one line per runtime:
/// `name wall_s cpu_s` (or `name unavailable reason`); outputs go to `<out>.<name>`.
const REF_LOOP: &str = r#"
import sys, time
import numpy as np
model, inp, out, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
min_cpu = float(sys.argv[5])
data = open(model, "rb").read()

def timed(name, setup):
    try:
        set_in, invoke, get_out, shape = setup()
    except Exception as e:
        print(name, "unavailable", str(e).replace("\n", " ")[:120], flush=True)
        return
    x = np.fromfile(inp, dtype=np.int8).reshape([n] + shape)
    set_in(x[0]); invoke(); get_out()
    outs, rates = [], []
    tc = 0.0
    done = passes = 0
    t0, c0 = time.perf_counter(), time.process_time()
    while passes == 0 or tc < min_cpu:
        k0 = time.process_time()
        for s in range(n):
            set_in(x[s])
            invoke()
            o = get_out()
            if passes == 0:
                outs.append(np.array(o).tobytes())
            if (s + 1) % 25 == 0 or s + 1 == n:
                k1 = time.process_time()
                if k1 > k0:
                    rates.append(((s % 25) + 1) / (k1 - k0))
                k0 = k1
        done += n
        passes += 1
        tc = time.process_time() - c0
    wc = time.perf_counter() - t0
    rates.sort()
    open(out + "." + name, "wb").write(b"".join(outs))
    print(name, wc, tc, done, rates[len(rates) // 2] if rates else 0.0, flush=True)

def tflm():
    from tflite_micro.python.tflite_micro import runtime
    it = runtime.Interpreter.from_bytes(data, arena_size=max(len(data) * 10, 4 << 20))
    d = it.get_input_details(0)
    return (lambda v: it.set_input(v, 0), it.invoke, lambda: it.get_output(0),
            [int(v) for v in d["shape"]])

def litert(kind):
    def setup():
        from ai_edge_litert import interpreter as L
        it = L.Interpreter(model_content=data, num_threads=1,
                           experimental_op_resolver_type=getattr(L.OpResolverType, kind))
        it.allocate_tensors()
        i, o = it.get_input_details()[0], it.get_output_details()[0]
        shape = [int(v) for v in i["shape"]]
        return (lambda v: it.set_tensor(i["index"], v.reshape(shape)), it.invoke,
                lambda: it.get_tensor(o["index"]), shape)
    return setup

timed("tflm", tflm)
timed("litert-xnnpack", litert("AUTO"))
timed("litert-builtin", litert("BUILTIN_WITHOUT_DEFAULT_DELEGATES"))
"#;

/// CPU seconds (user + system) of the calling thread, from `/proc/thread-self/stat` (Linux;
/// `None` elsewhere). 10 ms ticks: each measurement runs for seconds.
fn thread_cpu() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // USER_HZ, fixed at 100 by the Linux ABI for /proc.
    Some(ticks as f64 / 100.0)
}

/// One timed run: samples, wall seconds, CPU seconds (all threads).
#[derive(Clone, Copy, Debug, Default)]
struct Timing {
    samples: usize,
    wall: f64,
    cpu: f64,
    /// Median over rounds of samples per CPU-second (0: use the totals).
    median: f64,
}

impl Timing {
    fn per_cpu(&self) -> f64 {
        if self.median > 0.0 {
            return self.median;
        }
        self.samples as f64 / self.cpu.max(1e-9)
    }
    /// Samples per CPU-second over the whole run.
    fn total_per_cpu(&self) -> f64 {
        self.samples as f64 / self.cpu.max(1e-9)
    }
    fn per_wall(&self) -> f64 {
        self.samples as f64 / self.wall.max(1e-9)
    }
}

/// A thread's timing and the outputs of its first pass.
type ThreadRun = (Timing, Vec<Vec<u8>>);

/// Runs `samples` in one interpreter on this thread, whole passes until `min_cpu` seconds of
/// this thread's CPU time; the first pass's first outputs are returned.
fn run_thread(
    model: &[u8],
    samples: &[&[u8]],
    min_cpu: f64,
    passes: Option<usize>,
) -> Result<ThreadRun, String> {
    let resolver = OpResolver::new();
    let need = arena_bytes_needed(model, &resolver, HOST).map_err(|e| e.to_string())?;
    let mut arena = vec![0u8; need];
    let mut it: Interpreter =
        Interpreter::new(model, &mut arena, &resolver, HOST).map_err(|e| e.to_string())?;
    let mut one = |s: &[u8]| -> Result<Vec<u8>, String> {
        it.input_bytes_mut(0)
            .map_err(|e| e.to_string())?
            .copy_from_slice(s);
        it.invoke().map_err(|e| e.to_string())?;
        Ok(it.output(0).map_err(|e| e.to_string())?.data.to_vec())
    };
    one(samples[0])?;
    let (c0, t0) = (thread_cpu().unwrap_or(0.0), Instant::now());
    let mut outs = Vec::with_capacity(samples.len());
    let (mut done, mut pass) = (0, 0);
    // Rounds of at least a fifth of `min_cpu` (whole samples): the median round rate is the
    // figure, robust to bursts of contention on a shared machine.
    let round_cpu = min_cpu / 5.0;
    let mut rates = vec![];
    let (mut r_cpu0, mut r_n) = (0.0, 0usize);
    loop {
        for s in samples {
            let o = one(s)?;
            if pass == 0 {
                outs.push(o);
            }
            done += 1;
            r_n += 1;
            if passes.is_none() && r_n >= 8 {
                let cpu = thread_cpu().unwrap_or(0.0) - c0;
                if cpu - r_cpu0 >= round_cpu {
                    rates.push(r_n as f64 / (cpu - r_cpu0));
                    r_cpu0 = cpu;
                    r_n = 0;
                }
            }
        }
        pass += 1;
        let cpu = thread_cpu().unwrap_or(0.0) - c0;
        let enough = match passes {
            Some(p) => pass >= p,
            None => cpu >= min_cpu,
        };
        if enough {
            rates.sort_by(f64::total_cmp);
            let t = Timing {
                samples: done,
                wall: t0.elapsed().as_secs_f64(),
                cpu,
                median: rates.get(rates.len() / 2).copied().unwrap_or(0.0),
            };
            return Ok((t, outs));
        }
    }
}

/// Two threads, each its own interpreter over half of the samples, `passes` passes.
fn run_two(model: &[u8], samples: &[&[u8]], passes: usize) -> Result<Timing, String> {
    let halves: Vec<Vec<&[u8]>> = (0..2)
        .map(|t| samples.iter().skip(t).step_by(2).copied().collect())
        .collect();
    let t0 = Instant::now();
    let parts: Vec<Result<ThreadRun, String>> = std::thread::scope(|s| {
        let hs: Vec<_> = halves
            .iter()
            .map(|h| s.spawn(move || run_thread(model, h, 0.0, Some(passes))))
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("worker panicked".into())))
            .collect()
    });
    let wall = t0.elapsed().as_secs_f64();
    let mut t = Timing {
        wall,
        ..Timing::default()
    };
    for p in parts {
        let (pt, _) = p?;
        t.samples += pt.samples;
        t.cpu += pt.cpu;
    }
    Ok(t)
}

struct RefResult {
    name: String,
    timing: Option<Timing>,
    identical: usize,
    note: String,
}

fn run_refs(
    min_cpu: f64,
    py: &Path,
    model: &Path,
    samples: &[Vec<u8>],
    ours: &[Vec<u8>],
) -> Result<Vec<RefResult>, String> {
    let dir = std::env::temp_dir().join(format!("exec-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let inp = dir.join("in.bin");
    let outp = dir.join("out");
    std::fs::write(&inp, samples.concat()).map_err(|e| e.to_string())?;
    let o = Command::new(py)
        .arg("-c")
        .arg(REF_LOOP)
        .arg(model)
        .arg(&inp)
        .arg(&outp)
        .arg(samples.len().to_string())
        .arg(min_cpu.to_string())
        .output()
        .map_err(|e| {
            format!(
                "cannot start {}: {e} (pass --python or set SNAPUQ_PYTHON)",
                py.display()
            )
        })?;
    if !o.status.success() {
        return Err(format!(
            "reference runtimes failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    let mut res = vec![];
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let Some(&name) = f.first() else { continue };
        if f.get(1) == Some(&"unavailable") {
            res.push(RefResult {
                name: name.into(),
                timing: None,
                identical: 0,
                note: f[2..].join(" "),
            });
            continue;
        }
        let num = |k: usize| f.get(k).and_then(|v| v.parse::<f64>().ok());
        let (Some(wall), Some(cpu), Some(done), Some(median)) = (num(1), num(2), num(3), num(4))
        else {
            return Err(format!("reference printed {line:?}"));
        };
        let bytes =
            std::fs::read(format!("{}.{name}", outp.display())).map_err(|e| e.to_string())?;
        let per = ours.first().map_or(0, Vec::len);
        let identical = if per > 0 && bytes.len() == per * ours.len() {
            bytes
                .chunks_exact(per)
                .zip(ours)
                .filter(|(a, b)| a == &b.as_slice())
                .count()
        } else {
            0
        };
        res.push(RefResult {
            name: name.into(),
            timing: Some(Timing {
                samples: done as usize,
                wall,
                cpu,
                median,
            }),
            identical,
            note: String::new(),
        });
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(res)
}

struct Row {
    model: String,
    best: Timing,
    portable: Timing,
    two: Timing,
    refs: Vec<RefResult>,
    n: usize,
}

fn bench_model(a: &Args, path: &Path) -> Result<Row, String> {
    let model = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let resolver = OpResolver::new();
    let need = arena_bytes_needed(&model, &resolver, HOST).map_err(|e| e.to_string())?;
    let in_len = {
        let mut arena = vec![0u8; need];
        let it: Interpreter =
            Interpreter::new(&model, &mut arena, &resolver, HOST).map_err(|e| e.to_string())?;
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
        Some(p) if in_len == 3072 => read_cifar(p, a.n)?,
        _ => seeded(a.n, in_len),
    };
    if samples[0].len() != in_len {
        return Err(format!(
            "model input is {in_len} bytes but a sample is {}",
            samples[0].len()
        ));
    }
    let refs: Vec<&[u8]> = samples.iter().map(Vec::as_slice).collect();
    let isa = force_isa(None);
    let (best, ours) = run_thread(&model, &refs, a.min_cpu, None)?;
    force_isa(Some(Isa::Portable));
    let (portable, ours_portable) = run_thread(&model, &refs, a.min_cpu / 2.0, None)?;
    force_isa(None);
    if ours_portable != ours {
        return Err(format!(
            "{name}: {} and portable outputs differ",
            isa.name()
        ));
    }
    let passes = best.samples.div_ceil(samples.len()).max(1);
    let two = run_two(&model, &refs, passes)?;
    let refs = if a.no_ref {
        vec![]
    } else {
        run_refs(a.min_cpu, &python(a.python.clone()), path, &samples, &ours)?
    };
    Ok(Row {
        model: name,
        best,
        portable,
        two,
        refs,
        n: samples.len(),
    })
}

fn run() -> Result<bool, String> {
    let a = parse_args()?;
    let isa = force_isa(None);
    println!(
        "snapuq-exec kernels: {} (portable also measured)",
        isa.name()
    );
    let mut rows = vec![];
    for m in &a.models {
        let r = bench_model(&a, m)?;
        println!("\n{} ({} samples)", r.model, r.n);
        let line = |what: &str, t: &Timing| {
            println!(
                "  {what:<28} {:>9.1} samples/CPU-s {:>9.1} samples/s  ({} samples, {:.2} s CPU, {:.2} s wall)",
                t.per_cpu(),
                t.per_wall(),
                t.samples,
                t.cpu,
                t.wall
            )
        };
        line(&format!("snapuq-exec {} 1 thread", isa.name()), &r.best);
        line("snapuq-exec portable 1 thread", &r.portable);
        line(&format!("snapuq-exec {} 2 threads", isa.name()), &r.two);
        println!(
            "  2-thread scaling: {:.2}x wall, {:.2}x CPU-normalised",
            r.two.per_wall() / r.best.per_wall(),
            2.0 * r.two.total_per_cpu() / r.best.total_per_cpu()
        );
        for x in &r.refs {
            match &x.timing {
                Some(t) => {
                    line(&x.name, t);
                    println!(
                        "  {:<28} identical outputs {}/{}; snapuq-exec is {:.1}x per CPU-s",
                        "",
                        x.identical,
                        r.n,
                        r.best.per_cpu() / t.per_cpu()
                    );
                }
                None => println!("  {:<28} unavailable: {}", x.name, x.note),
            }
        }
        rows.push(r);
    }
    let cell = |r: &Row, name: &str| -> String {
        r.refs
            .iter()
            .find(|x| x.name == name)
            .and_then(|x| x.timing.map(|t| (t, x.identical)))
            .map(|(t, id)| format!("{:.0} ({id}/{})", t.per_cpu(), r.n))
            .unwrap_or_else(|| "—".into())
    };
    println!(
        "\n| model | snapuq-exec {} 1 thread | portable | 2-thread scaling (wall / CPU-norm.) | TFLM (identical) | × TFLM | LiteRT + XNNPACK (identical) | LiteRT built-in (identical) |",
        isa.name()
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut exact = true;
    for r in &rows {
        let tflm = r.refs.iter().find(|x| x.name == "tflm");
        let ratio = tflm
            .and_then(|x| x.timing)
            .map(|t| format!("{:.1}×", r.best.per_cpu() / t.per_cpu()))
            .unwrap_or_else(|| "—".into());
        if let Some(x) = tflm {
            if x.timing.is_some() && x.identical != r.n {
                exact = false;
            }
        }
        println!(
            "| {} | {:.0} | {:.0} | {:.2}× / {:.2}× | {} | {} | {} | {} |",
            r.model,
            r.best.per_cpu(),
            r.portable.per_cpu(),
            r.two.per_wall() / r.best.per_wall(),
            2.0 * r.two.total_per_cpu() / r.best.total_per_cpu(),
            cell(r, "tflm"),
            ratio,
            cell(r, "litert-xnnpack"),
            cell(r, "litert-builtin"),
        );
    }
    println!(
        "\n(samples per CPU-second, one thread unless stated; identical = byte-identical outputs)"
    );
    Ok(exact)
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("exec-bench: outputs differ from the TFLM oracle");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("exec-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
