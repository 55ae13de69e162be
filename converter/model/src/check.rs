//! Index integrity: every index stored in the file points at something that exists. Run on
//! every load and before every write, so queries and the executor can index without panics.
use crate::ModelError;
use snapuq_schema::tflite::ModelT;

fn in_range(what: impl FnOnce() -> String, index: i64, len: usize) -> Result<(), ModelError> {
    if index >= 0 && (index as u64) < len as u64 {
        Ok(())
    } else {
        Err(ModelError::bad_index(what(), index, len))
    }
}

/// Checks every cross-reference of `t` (see module doc).
pub(crate) fn structure(t: &ModelT) -> Result<(), ModelError> {
    let subgraphs = t.subgraphs.as_deref().unwrap_or(&[]);
    if subgraphs.is_empty() {
        return Err(ModelError::NoSubgraph);
    }
    let n_buffers = t.buffers.as_ref().map_or(0, Vec::len);
    let n_codes = t.operator_codes.as_ref().map_or(0, Vec::len);
    for (s, sg) in subgraphs.iter().enumerate() {
        let tensors = sg.tensors.as_deref().unwrap_or(&[]);
        let n = tensors.len();
        for (i, tensor) in tensors.iter().enumerate() {
            // Buffer 0 is the empty sentinel; a model without a buffers vector may still use 0.
            if tensor.buffer != 0 || n_buffers > 0 {
                in_range(
                    || format!("subgraph {s} tensor {i} buffer"),
                    i64::from(tensor.buffer),
                    n_buffers,
                )?;
            }
        }
        for (k, &x) in sg.inputs.iter().flatten().enumerate() {
            in_range(|| format!("subgraph {s} input {k}"), i64::from(x), n)?;
        }
        for (k, &x) in sg.outputs.iter().flatten().enumerate() {
            in_range(|| format!("subgraph {s} output {k}"), i64::from(x), n)?;
        }
        for (o, op) in sg.operators.iter().flatten().enumerate() {
            in_range(
                || format!("subgraph {s} operator {o} opcode"),
                i64::from(op.opcode_index),
                n_codes,
            )?;
            // -1 marks an optional input that is left out.
            for (k, &x) in op.inputs.iter().flatten().enumerate() {
                if x != -1 {
                    in_range(
                        || format!("subgraph {s} operator {o} input {k}"),
                        i64::from(x),
                        n,
                    )?;
                }
            }
            for (k, &x) in op.outputs.iter().flatten().enumerate() {
                in_range(
                    || format!("subgraph {s} operator {o} output {k}"),
                    i64::from(x),
                    n,
                )?;
            }
            for (k, &x) in op.intermediates.iter().flatten().enumerate() {
                in_range(
                    || format!("subgraph {s} operator {o} intermediate {k}"),
                    i64::from(x),
                    n,
                )?;
            }
        }
    }
    for (k, m) in t.metadata.iter().flatten().enumerate() {
        in_range(
            || format!("metadata {k} buffer"),
            i64::from(m.buffer),
            n_buffers,
        )?;
    }
    for (k, &b) in t.metadata_buffer.iter().flatten().enumerate() {
        in_range(|| format!("metadata_buffer {k}"), i64::from(b), n_buffers)?;
    }
    for (k, sig) in t.signature_defs.iter().flatten().enumerate() {
        let s = sig.subgraph_index as usize;
        in_range(
            || format!("signature {k} subgraph"),
            i64::from(sig.subgraph_index),
            subgraphs.len(),
        )?;
        let n = subgraphs[s].tensors.as_ref().map_or(0, Vec::len);
        for m in sig
            .inputs
            .iter()
            .flatten()
            .chain(sig.outputs.iter().flatten())
        {
            in_range(
                || format!("signature {k} tensor map"),
                i64::from(m.tensor_index),
                n,
            )?;
        }
    }
    Ok(())
}
