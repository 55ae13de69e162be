//! `snap-convert run model.tflite --input X.npy [--out out.npz] [--json FILE]`: runs any model
//! (augmented or not) on the host executor with the SNAP ops registered — the same kernels as
//! the device — over a batch of inputs, and prints or saves every output. `--runtime tflm` runs
//! the same model in the real TFLM interpreter instead (feature `tflm`, `tflite-micro-sys`), with
//! the same output format, so the two can be compared byte for byte.
use anyhow::{anyhow, Context, Result};
use serde::Serialize;
use snapuq_exec::batch::{run_batch, SampleResult};
use snapuq_model::{Model, TensorType};
use std::path::PathBuf;

use crate::data::{self, InputSpec, PixelRange};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The .tflite model (augmented or not).
    pub model: PathBuf,
    /// Inputs: .npy (N × input shape), image folder or CIFAR .bin, converted as for --calib.
    #[arg(long)]
    pub input: PathBuf,
    /// Save the outputs as .npz (one array per output, keyed by the output tensor's name; an
    /// unnamed output, or one whose name an earlier output already took, is `output_<k>`, and
    /// NUL characters become `_`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Save the outputs as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Print at most this many samples (0 = none).
    #[arg(long, default_value_t = 10)]
    pub print: usize,
    /// How 8-bit pixels map to the model's real input range.
    #[arg(long, value_enum, default_value_t = PixelRange::Auto)]
    pub pixel_range: PixelRange,
    /// Which interpreter runs the model: the host executor (snapuq-exec), or the real TFLM
    /// built from TFLM_DIR (needs snap-convert built with `--features tflm`).
    #[arg(long, value_enum, default_value_t = Runtime::Host)]
    pub runtime: Runtime,
}

/// The interpreter behind `run`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    /// snapuq-exec, the executor the converter uses.
    Host,
    /// TensorFlow Lite Micro's MicroInterpreter with the SNAP ops (tflite-micro-sys).
    Tflm,
}

/// One output over all samples.
#[derive(Debug, Clone, Serialize)]
pub struct OutputValues {
    pub index: usize,
    pub tensor: usize,
    pub name: String,
    pub dtype: String,
    /// Per-sample shape (without the batch dimension).
    pub shape: Vec<usize>,
    /// `values[sample][element]`, as numbers (int codes for integer tensors).
    pub values: Vec<Vec<f64>>,
}

/// The .npz key of each output: its tensor name, as `np.load(...)[name]` expects. npz keys
/// are zip member names (`<key>.npy`), which hold any UTF-8 including `/` and `:` (numpy
/// and npyz read `snapuq/U.npy` back as `snapuq/U`), but not a NUL (readers cut the name
/// there), an empty name, or the same name twice; those fall back as the help says.
pub fn npz_keys(names: &[String]) -> Vec<String> {
    let mut used = std::collections::HashSet::new();
    names
        .iter()
        .enumerate()
        .map(|(k, n)| {
            let clean = n.replace('\0', "_");
            let key = if clean.is_empty() || used.contains(&clean) {
                format!("output_{k}")
            } else {
                clean
            };
            used.insert(key.clone());
            key
        })
        .collect()
}

fn decode(dtype: Option<TensorType>, b: &[u8]) -> Vec<f64> {
    match dtype {
        Some(TensorType::INT8) => b.iter().map(|&v| (v as i8) as f64).collect(),
        Some(TensorType::FLOAT32) => b
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
            .collect(),
        Some(TensorType::INT32) => b
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
            .collect(),
        Some(TensorType::INT16) => b
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]) as f64)
            .collect(),
        _ => b.iter().map(|&v| v as f64).collect(),
    }
}

pub fn run(args: &Args) -> Result<()> {
    if !args.model.exists() {
        anyhow::bail!("model file {} does not exist", args.model.display());
    }
    let bytes = std::fs::read(&args.model)
        .with_context(|| format!("cannot read {}", args.model.display()))?;
    let model = Model::from_bytes(&bytes)
        .with_context(|| format!("{} is not a valid .tflite model", args.model.display()))?;
    let spec = InputSpec::of(&model)?;
    let ds = data::load(&args.input, None, &spec, args.pixel_range)?;
    let results = match args.runtime {
        Runtime::Host => run_host(&bytes, &ds.samples)?,
        Runtime::Tflm => run_tflm(&bytes, &ds.samples)?,
    };
    let outs: Vec<OutputValues> = model
        .outputs()
        .iter()
        .enumerate()
        .map(|(k, &t)| {
            let t = t as usize;
            let dtype = model.tensor_type(t);
            let shape = model.tensor_shape(t);
            OutputValues {
                index: k,
                tensor: t,
                name: model.tensor_name(t).to_string(),
                dtype: dtype.map_or("unknown".into(), snapuq_model::dtype_name),
                shape: shape.iter().skip(1).map(|&d| d.max(1) as usize).collect(),
                values: results
                    .iter()
                    .map(|r| decode(dtype, &r.outputs[k]))
                    .collect(),
            }
        })
        .collect();
    let names: Vec<String> = outs.iter().map(|o| o.name.clone()).collect();
    let keys = npz_keys(&names);
    for i in 0..ds.len().min(args.print) {
        let line: Vec<String> = outs
            .iter()
            .zip(&keys)
            .map(|(o, key)| {
                let v = &o.values[i];
                let shown: Vec<String> = v.iter().take(12).map(|x| format!("{x}")).collect();
                let more = if v.len() > 12 { ", …" } else { "" };
                format!("{key}=[{}{more}]", shown.join(", "))
            })
            .collect();
        println!("sample {i}: {}", line.join("  "));
    }
    println!("{} samples, {} outputs", ds.len(), outs.len());
    if let Some(p) = &args.json {
        crate::convert::write_json(
            p,
            &serde_json::json!({ "samples": ds.len(), "outputs": outs }),
        )?;
    }
    if let Some(p) = &args.out {
        write_npz(p, &outs, &keys, &results, &model)?;
    }
    Ok(())
}

fn run_host(bytes: &[u8], samples: &[Vec<u8>]) -> Result<Vec<SampleResult>> {
    let resolver = crate::pipeline::resolver()?;
    let bar = crate::pipeline::progress(samples.len() as u64, "run");
    let mut results = Vec::with_capacity(samples.len());
    for chunk in samples.chunks(256) {
        results.extend(
            run_batch(bytes, &resolver, chunk, &[])
                .map_err(|e| anyhow!("executor failed: {}", e))?,
        );
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(results)
}

#[cfg(not(feature = "tflm"))]
fn run_tflm(_: &[u8], _: &[Vec<u8>]) -> Result<Vec<SampleResult>> {
    anyhow::bail!(
        "--runtime tflm: this snap-convert was built without the real TFLM; rebuild it with \
         `cargo build --release -p snap-convert --features tflm` (compiles TFLM from TFLM_DIR, \
         default ../shared/tflm/reference)"
    )
}

/// Runs every sample in TFLM's MicroInterpreter, one interpreter per worker thread. The arena
/// starts at 256 KiB and doubles until AllocateTensors succeeds; the bytes TFLM used are
/// printed on stderr (stdout keeps `run`'s format).
#[cfg(feature = "tflm")]
fn run_tflm(bytes: &[u8], samples: &[Vec<u8>]) -> Result<Vec<SampleResult>> {
    use rayon::prelude::*;
    use tflite_micro_sys::Interpreter;
    const MAX_ARENA: usize = 256 << 20;
    let mut arena = 256 << 10;
    let probe = loop {
        match Interpreter::new(bytes, arena) {
            Ok(it) => break it,
            Err(e) if e.step == "AllocateTensors" && arena < MAX_ARENA => arena *= 2,
            Err(e) => return Err(anyhow!("{e}")),
        }
    };
    let sizes: Vec<usize> = (0..probe.inputs())
        .map(|i| probe.input_info(i).map_or(0, |t| t.bytes()))
        .collect();
    let total: usize = sizes.iter().sum();
    eprintln!(
        "tflm: arena_used_bytes={} (arena {} bytes)",
        probe.arena_used_bytes(),
        arena
    );
    drop(probe);
    if let Some((i, s)) = samples.iter().enumerate().find(|(_, s)| s.len() != total) {
        anyhow::bail!(
            "sample {i} has {} bytes, the model's inputs take {total} ({sizes:?})",
            s.len()
        );
    }
    let bar = crate::pipeline::progress(samples.len() as u64, "run (tflm)");
    let chunk = samples
        .len()
        .div_ceil(rayon::current_num_threads().max(1) * 4)
        .max(1);
    let parts: Vec<Result<Vec<SampleResult>>> = samples
        .par_chunks(chunk)
        .map(|part| {
            let mut it = Interpreter::new(bytes, arena).map_err(|e| anyhow!("{e}"))?;
            let mut out = Vec::with_capacity(part.len());
            for s in part {
                let mut inputs = Vec::with_capacity(sizes.len());
                let mut at = 0;
                for &n in &sizes {
                    inputs.push(&s[at..at + n]);
                    at += n;
                }
                let outputs = it.run(&inputs).map_err(|e| anyhow!("{e}"))?;
                out.push(SampleResult {
                    outputs,
                    taps: Vec::new(),
                });
                bar.inc(1);
            }
            Ok(out)
        })
        .collect();
    bar.finish_and_clear();
    let mut results = Vec::with_capacity(samples.len());
    for p in parts {
        results.extend(p?);
    }
    Ok(results)
}

fn write_npz(
    path: &std::path::Path,
    outs: &[OutputValues],
    keys: &[String],
    results: &[SampleResult],
    model: &Model,
) -> Result<()> {
    use npyz::WriterBuilder;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), |d| d.to_path_buf());
    let tmp = tempfile::NamedTempFile::new_in(&dir)
        .with_context(|| format!("cannot write to output folder {}", dir.display()))?;
    {
        let mut npz = npyz::npz::NpzWriter::new(std::io::BufWriter::new(tmp.as_file()));
        for (o, name) in outs.iter().zip(keys) {
            let mut shape = vec![results.len() as u64];
            shape.extend(o.shape.iter().map(|&d| d as u64));
            let opts = npyz::zip::write::FileOptions::default();
            let dtype = model.tensor_type(o.tensor);
            let cols = results.iter().map(|r| &r.outputs[o.index]);
            macro_rules! put {
                ($t:ty, $conv:expr) => {{
                    let mut w = npz
                        .array::<$t>(name, opts)?
                        .default_dtype()
                        .shape(&shape)
                        .begin_nd()?;
                    for b in cols {
                        w.extend($conv(b))?;
                    }
                    w.finish()?;
                }};
            }
            match dtype {
                Some(TensorType::INT8) => put!(i8, |b: &Vec<u8>| b
                    .iter()
                    .map(|&v| v as i8)
                    .collect::<Vec<_>>()),
                Some(TensorType::FLOAT32) => put!(f32, |b: &Vec<u8>| b
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect::<Vec<_>>()),
                Some(TensorType::INT32) => put!(i32, |b: &Vec<u8>| b
                    .chunks_exact(4)
                    .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect::<Vec<_>>()),
                _ => put!(u8, |b: &Vec<u8>| b.clone()),
            }
        }
        npz.zip_writer().finish()?;
    }
    crate::attach::set_output_permissions(tmp.as_file(), path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    tmp.persist(path)
        .map_err(|e| anyhow!("cannot write {}: {}", path.display(), e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::npz_keys;

    #[test]
    fn npz_keys_are_tensor_names_with_documented_fallbacks() {
        let names: Vec<String> = ["Identity", "snapuq/U", "", "snapuq/U", "a\0b"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            npz_keys(&names),
            vec!["Identity", "snapuq/U", "output_2", "output_3", "a_b"]
        );
    }
}
