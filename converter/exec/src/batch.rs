//! Batch execution over threads (rayon): each worker owns one arena and one interpreter and runs
//! a contiguous chunk of samples; results come back in sample order.
use crate::{ExecError, Interpreter, OpResolver, Options};
use rayon::prelude::*;

/// Batch runs are host-side: trade arena for speed.
const HOST_OPTIONS: Options = Options {
    preserve_all: false,
    widen_filters: true,
};

/// What one sample produced.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SampleResult {
    /// Raw bytes of every model output, in output order.
    pub outputs: Vec<Vec<u8>>,
    /// Raw bytes of each requested tap tensor, in the order requested.
    pub taps: Vec<Vec<u8>>,
}

/// Runs `model` on every sample. A sample is the concatenated raw bytes of all model inputs in
/// input order (just the input for single-input models). `taps` lists tensor indices to capture
/// as they are written (or, for inputs/constants, after the run).
pub fn run_batch<S: AsRef<[u8]> + Sync>(
    model: &[u8],
    resolver: &OpResolver<'_>,
    samples: &[S],
    taps: &[usize],
) -> Result<Vec<SampleResult>, ExecError> {
    let need = crate::interpreter::arena_bytes_needed(model, resolver, HOST_OPTIONS)?;
    let threads = rayon::current_num_threads().max(1);
    let chunk = samples.len().div_ceil(threads * 4).max(1);
    let parts: Vec<Result<Vec<SampleResult>, ExecError>> = samples
        .par_chunks(chunk)
        .map(|part| {
            let mut arena = vec![0u8; need];
            let mut it: Interpreter = Interpreter::new(model, &mut arena, resolver, HOST_OPTIONS)?;
            part.iter()
                .map(|s| run_one(&mut it, s.as_ref(), taps))
                .collect()
        })
        .collect();
    let mut out = Vec::with_capacity(samples.len());
    for p in parts {
        out.extend(p?);
    }
    Ok(out)
}

/// Runs one sample in an existing interpreter (inputs filled from `sample`, see [`run_batch`]).
pub fn run_one(
    it: &mut Interpreter<'_, '_, '_>,
    sample: &[u8],
    taps: &[usize],
) -> Result<SampleResult, ExecError> {
    let mut off = 0;
    for k in 0..it.input_count() {
        let dst = it.input_bytes_mut(k)?;
        let src = sample
            .get(off..off + dst.len())
            .ok_or(ExecError::new(crate::ErrorKind::NoSuchIO(k)))?;
        dst.copy_from_slice(src);
        off += dst.len();
    }
    let mut tap_data: Vec<Option<Vec<u8>>> = vec![None; taps.len()];
    it.invoke_with(|_, outs| {
        for t in outs {
            for (slot, &want) in tap_data.iter_mut().zip(taps) {
                if t.index == want {
                    *slot = Some(t.data.to_vec());
                }
            }
        }
    })?;
    let mut result = SampleResult::default();
    for k in 0..it.output_count() {
        result.outputs.push(it.output(k)?.data.to_vec());
    }
    for (slot, &want) in tap_data.into_iter().zip(taps) {
        let data = match slot {
            Some(d) => d,
            None => it
                .tensor(want)
                .map(|t| t.data.to_vec())
                .ok_or(ExecError::new(crate::ErrorKind::TensorIndexOutOfRange(
                    want as i32,
                )))?,
        };
        result.taps.push(data);
    }
    Ok(result)
}
