//! `snap-convert inspect model.tflite [--json]`: what the model computes, what it costs, and
//! where SNAP taps can go. The MAC formulas and the tap heuristic live in `snapuq-model`
//! (`Model::op_cost`, `Model::tap_candidates`), so the converter's budget uses the same numbers.
use anyhow::{Context, Result};
use serde::Serialize;
use snapuq_model::{dtype_name, Model};
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The .tflite model to describe.
    pub model: PathBuf,
    /// Print JSON instead of the text table.
    #[arg(long)]
    pub json: bool,
}

/// One tensor as reported.
#[derive(Serialize, Debug)]
struct TensorRow {
    index: usize,
    name: String,
    shape: Vec<i32>,
    dtype: String,
    /// First (or only) scale.
    scale: Option<f32>,
    zero_point: Option<i64>,
    /// Number of per-channel scales; 0 for per-tensor or unquantized.
    per_channel: usize,
    constant: bool,
}

#[derive(Serialize, Debug)]
struct OpRow {
    index: usize,
    op: String,
    macs: u64,
    /// Non-MAC element operations (pooling windows, element-wise work).
    ops: u64,
    param_bytes: usize,
    inputs: Vec<TensorRow>,
    outputs: Vec<TensorRow>,
}

#[derive(Serialize, Debug)]
struct TapRow {
    tensor: usize,
    name: String,
    shape: Vec<i32>,
    channels: usize,
    kind: &'static str,
    producer: usize,
    producer_op: String,
    /// The block's input activation a_{l-1}, which SNAP_PROJECT reads.
    prev_tensor: usize,
    prev_name: String,
    prev_channels: usize,
}

#[derive(Serialize, Debug)]
struct Report {
    model: String,
    subgraphs: usize,
    tensors: usize,
    inputs: Vec<TensorRow>,
    outputs: Vec<TensorRow>,
    operators: Vec<OpRow>,
    total_macs: u64,
    total_ops: u64,
    parameter_bytes: usize,
    taps: Vec<TapRow>,
}

fn tensor_row(m: &Model, index: usize) -> TensorRow {
    let q = m.quantization(index);
    TensorRow {
        index,
        name: m.tensor_name(index).to_string(),
        shape: m.tensor_shape(index).to_vec(),
        dtype: m.tensor_type(index).map_or_else(String::new, dtype_name),
        scale: q.as_ref().and_then(|q| q.scale.first().copied()),
        zero_point: q.as_ref().and_then(|q| q.zero_point.first().copied()),
        per_channel: q
            .as_ref()
            .map_or(0, |q| if q.is_per_channel() { q.scale.len() } else { 0 }),
        constant: m.is_constant(index),
    }
}

/// Tensor rows for an operand list; left-out optional inputs (-1) are skipped.
fn rows(m: &Model, list: &[i32]) -> Vec<TensorRow> {
    list.iter()
        .filter(|&&i| i >= 0)
        .map(|&i| tensor_row(m, i as usize))
        .collect()
}

fn report(m: &Model, path: &str) -> Report {
    let operators = m
        .execution_order()
        .into_iter()
        .map(|op| {
            let cost = m.op_cost(op);
            OpRow {
                index: op,
                op: m.op_name(op),
                macs: cost.macs,
                ops: cost.ops,
                param_bytes: m.op_parameter_bytes(op),
                inputs: rows(m, m.op_inputs(op)),
                outputs: rows(m, m.op_outputs(op)),
            }
        })
        .collect();
    let total = m.total_cost();
    let taps = m
        .tap_candidates()
        .into_iter()
        .map(|t| TapRow {
            prev_name: m.tensor_name(t.prev_tensor).to_string(),
            tensor: t.tensor,
            name: t.name,
            shape: t.shape,
            channels: t.channels,
            kind: t.kind,
            producer: t.producer,
            producer_op: t.producer_name,
            prev_tensor: t.prev_tensor,
            prev_channels: t.prev_channels,
        })
        .collect();
    Report {
        model: path.to_string(),
        subgraphs: m.num_subgraphs(),
        tensors: m.tensors().len(),
        inputs: rows(m, m.inputs()),
        outputs: rows(m, m.outputs()),
        operators,
        total_macs: total.macs,
        total_ops: total.ops,
        parameter_bytes: m.parameter_bytes(),
        taps,
    }
}

/// `1234567` → `1,234,567`.
fn group(n: u64) -> String {
    let s = n.to_string();
    let head_len = match s.len() % 3 {
        0 => 3.min(s.len()),
        r => r,
    };
    let (head, rest) = s.split_at(head_len);
    let mut out = head.to_string();
    for chunk in rest.as_bytes().chunks(3) {
        out.push(',');
        out.extend(chunk.iter().map(|&b| char::from(b)));
    }
    out
}

fn tensor_text(t: &TensorRow) -> String {
    let mut s = format!(
        "#{:<4} {:<14} {:<7} {}",
        t.index,
        format!("{:?}", t.shape).replace(' ', ""),
        t.dtype,
        if t.constant { "const " } else { "" }
    );
    if let (Some(scale), Some(zp)) = (t.scale, t.zero_point) {
        s.push_str(&format!("scale={scale:.6e} zp={zp}"));
        if t.per_channel > 0 {
            s.push_str(&format!(" per-channel({})", t.per_channel));
        }
    }
    if !t.name.is_empty() {
        s.push_str(&format!("  {}", t.name));
    }
    s
}

fn write_text(w: &mut impl Write, r: &Report) -> std::io::Result<()> {
    writeln!(
        w,
        "{}: {} operators, {} tensors, {} subgraph(s)",
        r.model,
        r.operators.len(),
        r.tensors,
        r.subgraphs
    )?;
    for t in &r.inputs {
        writeln!(w, "input   {}", tensor_text(t))?;
    }
    for t in &r.outputs {
        writeln!(w, "output  {}", tensor_text(t))?;
    }
    writeln!(w)?;
    writeln!(
        w,
        "{:>4}  {:<24} {:>14} {:>12} {:>10}",
        "op", "operator", "MACs", "elem ops", "param B"
    )?;
    for op in &r.operators {
        writeln!(
            w,
            "{:>4}  {:<24} {:>14} {:>12} {:>10}",
            op.index,
            op.op,
            group(op.macs),
            group(op.ops),
            group(op.param_bytes as u64)
        )?;
        for t in &op.inputs {
            writeln!(w, "        in  {}", tensor_text(t))?;
        }
        for t in &op.outputs {
            writeln!(w, "        out {}", tensor_text(t))?;
        }
    }
    writeln!(w)?;
    writeln!(w, "total MACs        {}", group(r.total_macs))?;
    writeln!(w, "total elem ops    {}", group(r.total_ops))?;
    writeln!(w, "parameter bytes   {}", group(r.parameter_bytes as u64))?;
    writeln!(w)?;
    writeln!(w, "candidate tap points ({}):", r.taps.len())?;
    for t in &r.taps {
        writeln!(
            w,
            "  #{:<4} {:<16} C={:<5} {:<8} after op {} {}; block input #{} C={} {}",
            t.tensor,
            format!("{:?}", t.shape).replace(' ', ""),
            t.channels,
            t.kind,
            t.producer,
            t.producer_op,
            t.prev_tensor,
            t.prev_channels,
            t.name
        )?;
    }
    Ok(())
}

pub fn run(args: &Args) -> Result<()> {
    let path = args.model.display().to_string();
    let m = match Model::load(&args.model) {
        Ok(m) => m,
        // The read error already names the path.
        Err(e @ snapuq_model::ModelError::Read { .. }) => return Err(e.into()),
        Err(e) => return Err(anyhow::Error::new(e).context(path)),
    };
    m.validate().with_context(|| path.clone())?;
    let r = report(&m, &path);
    let stdout = std::io::stdout();
    let mut w = std::io::BufWriter::new(stdout.lock());
    let res = if args.json {
        serde_json::to_writer_pretty(&mut w, &r)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(w))
    } else {
        write_text(&mut w, &r)
    }
    .and_then(|()| w.flush());
    match res {
        // A closed pipe (`| head`) is the reader's choice, not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to stdout"),
    }
}

#[cfg(test)]
mod tests {
    use super::group;

    #[test]
    fn groups_thousands() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1234567), "1,234,567");
    }
}
