//! Runs the embedded model end to end with the `no_std` executor over the embedded inputs.
//!
//! Per sample it prints
//! `infer sample=I label=L class=C backbone=N snap=M out0=HEX ...` where `backbone`/`snap` are
//! the meter's counts summed over the backbone's and the SNAP ops' operators, `class` is the
//! argmax of output 0 and `outK` the raw bytes of output K; for an augmented model (SNAP ops
//! present; its last three outputs are U, S and abstain) also `uncertainty sample=I u=BITS`,
//! U's f32 bits in hex (exact; the host test decodes and prints them). The host test runs the same model on the
//! same inputs with the host executor and compares every output byte.
//!
//! RAM: build.rs sizes the interpreter's tables to the model's tensor and operator counts and
//! the arena to the plan's exact bytes; the interpreter lives in a zeroed `static` (.bss) and is
//! loaded in place, so neither its tables nor the arena are ever on the stack.
use crate::board::{hprint, hprintln, Aligned, Meter, TakeOnce};
use crate::snap;
use snapuq_exec::{DType, Interpreter, OpResolver, Options};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/inputs.rs"));
}

/// Model bytes, aligned like a flatbuffer the executor may view as i32 arrays.
#[repr(C, align(16))]
struct AlignedModel<T: ?Sized>(T);
static MODEL: &AlignedModel<[u8]> =
    &AlignedModel(*include_bytes!(concat!(env!("OUT_DIR"), "/model.tflite")));
static INPUTS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/inputs.bin"));

/// Capacity of the interpreter's tables: exactly the embedded model's tensors and operators.
const MAX_TENSORS: usize = embedded::MAX_TENSORS;
const MAX_OPS: usize = embedded::MAX_OPS;
type Interp = Interpreter<'static, 'static, 'static, MAX_TENSORS, MAX_OPS>;
static INTERPRETER: TakeOnce<Interp> = TakeOnce::new(Interp::empty());

/// Bytes of the static arena: the model's exact need unless `SNAPUQ_ARENA_BYTES` asked for more.
pub(crate) const ARENA_BYTES: usize = embedded::ARENA_BYTES;
static ARENA: TakeOnce<Aligned<ARENA_BYTES>> = TakeOnce::new(Aligned::zeroed());
/// The op resolver (builtins + SNAP ops), static so its 256 bytes are not on the stack.
static RESOLVER: TakeOnce<OpResolver<'static>> = TakeOnce::new(OpResolver::new());
/// Static RAM of the model: arena + interpreter.
#[cfg_attr(not(feature = "ballast"), allow(dead_code))]
pub(crate) const STATIC_BYTES: usize = ARENA_BYTES + core::mem::size_of::<Interp>();

/// Which operators are SNAP ops, by index in subgraph 0.
fn snap_mask(it: &Interp) -> [bool; MAX_OPS] {
    let mut mask = [false; MAX_OPS];
    for (k, m) in mask.iter_mut().enumerate() {
        *m = it.op_custom_code(k).is_some_and(snap::is_snap);
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

/// Runs every embedded sample; false (after printing why) if anything failed. Never inlined,
/// so its frame shows separately in stack measurements.
#[inline(never)]
pub fn run(meter: &Meter) -> bool {
    let model: &[u8] = &MODEL.0;
    let Some(resolver) = RESOLVER.take() else {
        hprintln!("error: the resolver was already taken");
        return false;
    };
    if let Err(e) = snap::register(resolver) {
        hprintln!("error: cannot register the SNAP ops: {}", e);
        return false;
    }
    hprintln!(
        "model source={} bytes={} inputs={} samples={} arena_capacity={} arena_needed={}",
        embedded::MODEL_SOURCE,
        model.len(),
        embedded::INPUT_SOURCE,
        embedded::SAMPLES,
        ARENA_BYTES,
        embedded::ARENA_NEEDED
    );
    let (Some(arena), Some(it)) = (ARENA.take(), INTERPRETER.take()) else {
        hprintln!("error: the arena or the interpreter was already taken");
        return false;
    };
    if let Err(e) = it.load(model, &mut arena.0, resolver, Options::default()) {
        hprintln!("error: cannot prepare the model: {}", e);
        return false;
    }
    let mask = snap_mask(it);
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
        // Per-operator counts of the first sample, printed below as `op` lines (a profile).
        let mut per_op = [0u64; MAX_OPS];
        let res = it.invoke_with(|op, _| {
            let c = meter.stop(stamp);
            if s == 0 {
                if let Some(slot) = per_op.get_mut(op) {
                    *slot = c;
                }
            }
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
        if s == 0 {
            for (k, &c) in per_op.iter().enumerate().take(it.op_count()) {
                hprintln!(
                    "op index={} custom={} snap={} count={}",
                    k,
                    it.op_custom_code(k).unwrap_or("-"),
                    mask.get(k).copied().unwrap_or(false),
                    c
                );
            }
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
        if n_snap > 0 {
            print_uncertainty(it, s);
        }
    }
    true
}

/// Prints U of an augmented model: output `count - 3` (snap-convert appends U, S, abstain).
fn print_uncertainty(it: &Interp, sample: usize) {
    let n = it.output_count();
    let u = n
        .checked_sub(3)
        .and_then(|k| it.output(k).ok())
        .filter(|t| t.dtype == DType::Float32)
        .and_then(|t| t.as_f32())
        .and_then(|v| v.first().copied());
    match u {
        // Bits only: exact, and no float formatting code in the image.
        Some(u) => hprintln!("uncertainty sample={} u={:08x}", sample, u.to_bits()),
        None => hprintln!(
            "uncertainty sample={} u=none (output {} is not a float32 U)",
            sample,
            n.saturating_sub(3)
        ),
    }
}
