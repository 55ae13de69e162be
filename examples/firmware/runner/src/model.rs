//! Runs the embedded model end to end with the `no_std` executor over the embedded inputs.
//!
//! Per sample it prints
//! `infer sample=I label=L class=C backbone=N snap=M out0=HEX ...` where `backbone`/`snap` are
//! the meter's counts summed over the backbone's and the SNAP ops' operators, `class` is the
//! argmax of output 0 and `outK` the raw bytes of output K. The host test runs the same model on
//! the same inputs with the host executor and compares every output byte.
use crate::board::{hprint, hprintln, Aligned, Meter, TakeOnce};
use crate::snap;
use snapuq_exec::{Interpreter, Options};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/inputs.rs"));
}

/// Model bytes, aligned like a flatbuffer the executor may view as i32 arrays.
#[repr(C, align(16))]
struct AlignedModel<T: ?Sized>(T);
static MODEL: &AlignedModel<[u8]> =
    &AlignedModel(*include_bytes!(concat!(env!("OUT_DIR"), "/model.tflite")));
static INPUTS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/inputs.bin"));

/// Capacity of the interpreter's fixed tables (subgraph 0). The tables live on the stack
/// (and `Interpreter::new` currently holds several copies of them: ~4 KB of stack per 8
/// tensors + 4 ops), so the Small tier keeps them to the digits CNN augmented with two taps;
/// the Big tier also fits the DS-CNN (35 tensors, 13 ops), ResNet-8 (38, 16) and VWW (89, 31).
#[cfg(feature = "big")]
const MAX_TENSORS: usize = 128;
#[cfg(feature = "big")]
const MAX_OPS: usize = 64;
#[cfg(all(feature = "small", not(feature = "big")))]
const MAX_TENSORS: usize = 48;
#[cfg(all(feature = "small", not(feature = "big")))]
const MAX_OPS: usize = 24;
type Interp<'m, 'a> = Interpreter<'m, 'a, 'static, MAX_TENSORS, MAX_OPS>;

/// Tier default arena when the build does not set `SNAPUQ_ARENA_BYTES`.
#[cfg(feature = "big")]
const DEFAULT_ARENA: usize = 256 * 1024;
#[cfg(all(feature = "small", not(feature = "big")))]
const DEFAULT_ARENA: usize = 16 * 1024;
pub(crate) const ARENA_BYTES: usize = match embedded::ARENA_BYTES {
    Some(n) => n,
    None => DEFAULT_ARENA,
};
static ARENA: TakeOnce<Aligned<ARENA_BYTES>> = TakeOnce::new(Aligned::zeroed());

/// Which operators are SNAP ops, by index in subgraph 0.
fn snap_mask(model: &[u8]) -> [bool; MAX_OPS] {
    let mut mask = [false; MAX_OPS];
    let Ok(m) = snapuq_schema::tflite::root_as_model(model) else {
        return mask;
    };
    let (Some(codes), Some(sg)) = (m.operator_codes(), m.subgraphs()) else {
        return mask;
    };
    let Some(ops) = sg.iter().next().and_then(|g| g.operators()) else {
        return mask;
    };
    for (k, op) in ops.iter().enumerate().take(MAX_OPS) {
        let code = codes.iter().nth(op.opcode_index() as usize);
        mask[k] = code
            .and_then(|c| c.custom_code())
            .is_some_and(snap::is_snap);
    }
    mask
}

fn argmax(v: &[i8]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// Runs every embedded sample; false (after printing why) if anything failed. Not inlined, so
/// the interpreter's tables occupy the stack only while the model runs.
#[inline(never)]
pub fn run(meter: &Meter) -> bool {
    let model: &[u8] = &MODEL.0;
    let resolver = match snap::resolver() {
        Ok(r) => r,
        Err(e) => {
            hprintln!("error: cannot register the SNAP ops: {}", e);
            return false;
        }
    };
    hprintln!(
        "model source={} bytes={} inputs={} samples={} arena_capacity={}",
        embedded::MODEL_SOURCE,
        model.len(),
        embedded::INPUT_SOURCE,
        embedded::SAMPLES,
        ARENA_BYTES
    );
    let Some(arena) = ARENA.take() else {
        hprintln!("error: the arena was already taken");
        return false;
    };
    let mut it = match Interp::new(model, &mut arena.0, &resolver, Options::default()) {
        Ok(it) => it,
        Err(e) => {
            hprintln!("error: cannot prepare the model: {}", e);
            return false;
        }
    };
    let mask = snap_mask(model);
    let n_snap = mask.iter().filter(|&&b| b).count();
    hprintln!(
        "interpreter ops={} snap_ops={} tensors={} outputs={} arena_used={} interpreter_bytes={}",
        it.op_count(),
        n_snap,
        it.tensor_count(),
        it.output_count(),
        it.arena_used(),
        core::mem::size_of::<Interp>()
    );
    for s in 0..embedded::SAMPLES {
        let sample = &INPUTS[s * embedded::SAMPLE_BYTES..(s + 1) * embedded::SAMPLE_BYTES];
        match it.input_bytes_mut(0) {
            Ok(dst) if dst.len() == sample.len() => dst.copy_from_slice(sample),
            Ok(dst) => {
                hprintln!(
                    "error: model input 0 has {} bytes, the embedded samples {}",
                    dst.len(),
                    sample.len()
                );
                return false;
            }
            Err(e) => {
                hprintln!("error: model input 0: {}", e);
                return false;
            }
        }
        let (mut backbone, mut snap_count) = (0u64, 0u64);
        let mut stamp = meter.start();
        let res = it.invoke_with(|op, _| {
            let c = meter.stop(stamp);
            if mask.get(op).copied().unwrap_or(false) {
                snap_count += c;
            } else {
                backbone += c;
            }
            stamp = meter.start();
        });
        if let Err(e) = res {
            hprintln!("error: sample {}: {}", s, e);
            return false;
        }
        let class = it
            .output(0)
            .ok()
            .and_then(|t| t.as_i8())
            .map(argmax)
            .unwrap_or(0);
        let label = embedded::LABELS.get(s).copied().unwrap_or(-1);
        hprint!(
            "infer sample={} label={} class={} backbone={} snap={}",
            s,
            label,
            class,
            backbone,
            snap_count
        );
        for k in 0..it.output_count() {
            hprint!(" out{}=", k);
            if let Ok(t) = it.output(k) {
                for b in t.data {
                    hprint!("{:02x}", b);
                }
            }
        }
        hprintln!();
    }
    true
}
