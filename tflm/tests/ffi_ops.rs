//! The three registrations driven through the harness exactly as TFLM drives them
//! (init → prepare → invoke → free), compared with calling the ops crate directly, plus every
//! kind of bad input: bad option values, truncated or garbage option buffers, wrong dtypes,
//! mismatched shapes, missing tensors, aliasing outputs, a too-small arena, reset.
use snapuq_ops::calibrate::{
    self, CalibrateOptions, CalibrateOutputs, ClassifierData, ClassifierKind, Mapping,
};
use snapuq_ops::controller::ControllerParams;
use snapuq_ops::project::{self, ProjectOptions};
use snapuq_ops::surprisal::{self, SurprisalInputs, SurprisalQuant, Variant};
use snapuq_ops::{limits, DType, PortableDot, TensorDesc};
use snapuq_tflm::ffi::types::*;
use snapuq_tflm::harness::{Failure, Harness, Stage};
use snapuq_tflm::REGISTRATIONS;

const ARENA: usize = 4096;

fn reg(name: &str) -> TFLMRegistration {
    REGISTRATIONS
        .iter()
        .find(|(n, _)| *n == name)
        .expect("registered")
        .1
}

/// xorshift data, deterministic per seed.
fn data_i8(seed: u32, n: usize) -> Vec<i8> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            s as i8
        })
        .collect()
}

fn expect_error(r: Result<(), Failure>, stage: Stage, needles: &[&str]) -> String {
    let f = r.expect_err("the node must fail");
    assert_eq!(f.stage, stage, "failed in the wrong stage: {}", f.text());
    assert_eq!(f.status, status_code(K_TF_LITE_ERROR));
    let text = f.text();
    eprintln!("{stage:?}: {text}");
    for n in needles {
        assert!(text.contains(n), "message {text:?} lacks {n:?}");
    }
    text
}

// ---------------------------------------------------------------- SNAP_PROJECT

struct ProjectCase {
    opts: ProjectOptions,
    a: Vec<i8>,
    a_dims: Vec<i32>,
    p: Vec<i8>,
    bias: Vec<i32>,
}

fn project_case() -> ProjectCase {
    let (c, r) = (16usize, 8usize);
    let opts = ProjectOptions::from_scales(c, r, 0.05, -3, 0.01, 0.02, 2).expect("valid scales");
    ProjectCase {
        opts,
        a: data_i8(1, 2 * 4 * 4 * c),
        a_dims: vec![2, 4, 4, c as i32],
        p: data_i8(2, r * c),
        bias: (0..r as i32).map(|j| j * 37 - 100).collect(),
    }
}

fn project_direct(case: &ProjectCase, with_bias: bool) -> Vec<i8> {
    let o = &case.opts;
    let a = TensorDesc::new(DType::Int8, &case.a_dims);
    let p_dims = [o.r as i32, o.c_in as i32];
    let b_dims = [o.r as i32];
    let z_dims = [case.a_dims[0], o.r as i32];
    let ins = [
        Some(a),
        Some(TensorDesc::new(DType::Int8, &p_dims)),
        with_bias.then_some(TensorDesc::new(DType::Int32, &b_dims)),
    ];
    let plan =
        project::prepare(o, &ins, &[TensorDesc::new(DType::Int8, &z_dims)]).expect("prepare");
    let mut z = vec![0i8; case.a_dims[0] as usize * o.r];
    let mut scratch = vec![0i8; project::scratch_bytes(o)];
    let bias = with_bias.then_some(&case.bias[..]);
    project::eval::<PortableDot>(o, &plan, &case.a, &case.p, bias, &mut z, &mut scratch)
        .expect("eval");
    z
}

/// Adds the project tensors; returns (inputs, output index).
fn project_tensors(h: &mut Harness, case: &ProjectCase, with_bias: bool) -> (Vec<i32>, i32) {
    let o = &case.opts;
    let a = h.add(&case.a_dims, &case.a);
    let p = h.add(&[o.r as i32, o.c_in as i32], &case.p);
    let b = if with_bias {
        h.add(&[o.r as i32], &case.bias)
    } else {
        -1
    };
    let z = h.add_zeros::<i8>(&[case.a_dims[0], o.r as i32]);
    (vec![a, p, b], z)
}

#[test]
fn registrations_are_complete() {
    for (name, r) in REGISTRATIONS {
        assert!(r.init.is_some() && r.free.is_some() && r.prepare.is_some());
        assert!(r.invoke.is_some() && r.reset.is_some());
        // SAFETY: custom_name points at a static NUL-terminated string.
        let c = unsafe { core::ffi::CStr::from_ptr(r.custom_name) };
        assert_eq!(c.to_str().unwrap(), name);
    }
    let by_value = snapuq_tflm::snapuq_register_SNAP_PROJECT();
    assert_eq!(by_value.custom_name, reg("SNAP_PROJECT").custom_name);
    assert_eq!(snapuq_tflm::snapuq_abi_version(), snapuq_tflm::ABI_VERSION);
}

#[test]
fn project_good_path_equals_ops_crate() {
    let case = project_case();
    for with_bias in [true, false] {
        let mut h = Harness::new(ARENA);
        let (ins, z) = project_tensors(&mut h, &case, with_bias);
        let opts = case.opts.to_flexbuffer();
        h.run(&reg("SNAP_PROJECT"), Some(&opts), &ins, &[z])
            .unwrap_or_else(|f| panic!("{}", f.text()));
        let want = project_direct(&case, with_bias);
        assert_eq!(h.data::<i8>(z), want, "bias {with_bias}");
        assert!(want.iter().any(|&v| v != want[0]), "degenerate test data");
        assert!(h.persistent_bytes() > 0, "OpData must live in the arena");
        assert!(h.messages().is_empty(), "{:?}", h.messages());
    }
    // Two inputs (bias input left out entirely) also works.
    let mut h = Harness::new(ARENA);
    let (ins, z) = project_tensors(&mut h, &case, false);
    h.run(
        &reg("SNAP_PROJECT"),
        Some(&case.opts.to_flexbuffer()),
        &ins[..2],
        &[z],
    )
    .unwrap();
    assert_eq!(h.data::<i8>(z), project_direct(&case, false));
}

/// Square projector omitted from the model (`[a]`, `[a, -1]`, `[a, -1, bias]`): the identity,
/// equal to the ops crate with an explicit `P = I` of scale 1.
#[test]
fn project_without_p_is_the_identity() {
    let c = 16usize;
    let opts = ProjectOptions::from_scales(c, c, 0.05, -3, 1.0, 0.1, 2).expect("valid scales");
    let a = data_i8(7, 2 * 3 * c);
    let a_dims = [2, 3, c as i32];
    let bias: Vec<i32> = (0..c as i32).map(|j| 11 * j - 80).collect();
    let mut eye = vec![0i8; c * c];
    for j in 0..c {
        eye[j * c + j] = 1;
    }
    let explicit = ProjectCase {
        opts,
        a: a.clone(),
        a_dims: a_dims.to_vec(),
        p: eye,
        bias: bias.clone(),
    };
    for with_bias in [false, true] {
        let want = project_direct(&explicit, with_bias);
        assert!(want.iter().any(|&v| v != want[0]), "degenerate test data");
        let mut h = Harness::new(ARENA);
        let ta = h.add(&a_dims, &a);
        let z = h.add_zeros::<i8>(&[2, c as i32]);
        let ins = if with_bias {
            vec![ta, -1, h.add(&[c as i32], &bias)]
        } else {
            vec![ta]
        };
        h.run(
            &reg("SNAP_PROJECT"),
            Some(&opts.to_flexbuffer()),
            &ins,
            &[z],
        )
        .unwrap_or_else(|f| panic!("{}", f.text()));
        assert_eq!(h.data::<i8>(z), want, "bias {with_bias}");
    }
    // Not square: P is still required, and prepare says so.
    let case = project_case();
    let mut h = Harness::new(ARENA);
    let (ins, z) = project_tensors(&mut h, &case, false);
    let r = h.run(
        &reg("SNAP_PROJECT"),
        Some(&case.opts.to_flexbuffer()),
        &[ins[0], -1],
        &[z],
    );
    expect_error(r, Stage::Prepare, &["input 1 (P)", "only when r == c_in"]);
}

#[test]
fn project_repeated_invokes_are_stable() {
    let case = project_case();
    let mut h = Harness::new(ARENA);
    let (ins, z) = project_tensors(&mut h, &case, true);
    let id = h.init(
        &reg("SNAP_PROJECT"),
        Some(&case.opts.to_flexbuffer()),
        &ins,
        &[z],
    );
    h.prepare(id).unwrap();
    h.invoke(id).unwrap();
    let first = h.data::<i8>(z);
    h.invoke(id).unwrap();
    h.reset(id);
    h.invoke(id).unwrap();
    assert_eq!(h.data::<i8>(z), first);
    h.free(id);
}

#[test]
fn project_bad_option_values() {
    let case = project_case();
    for (opts, key) in [
        (
            ProjectOptions {
                c_in: 0,
                ..case.opts
            },
            "c_in",
        ),
        (
            ProjectOptions {
                r: 100_000,
                ..case.opts
            },
            "\"r\"",
        ),
        (
            ProjectOptions {
                a_zp: 300,
                ..case.opts
            },
            "a_zp",
        ),
        (
            ProjectOptions {
                z_shift: 40,
                ..case.opts
            },
            "z_shift",
        ),
        (
            ProjectOptions {
                z_mult: -5,
                ..case.opts
            },
            "z_mult",
        ),
    ] {
        let mut h = Harness::new(ARENA);
        let (ins, z) = project_tensors(&mut h, &case, true);
        let text = expect_error(
            h.run(
                &reg("SNAP_PROJECT"),
                Some(&opts.to_flexbuffer()),
                &ins,
                &[z],
            ),
            Stage::Prepare,
            &["SNAP_PROJECT", key, "init failed"],
        );
        assert_eq!(h.persistent_bytes(), 0, "no OpData for bad options: {text}");
    }
}

#[test]
fn project_missing_and_mistyped_keys() {
    let case = project_case();
    // A map without z_mult.
    let mut b = flexbuffers::Builder::default();
    let mut m = b.start_map();
    m.push("c_in", 16i64);
    m.push("r", 8i64);
    m.push("a_zp", 0i32);
    m.push("z_zp", 0i32);
    m.push("z_shift", 0i32);
    m.end_map();
    let missing = b.view().to_vec();
    // c_in as a string.
    let mut b = flexbuffers::Builder::default();
    let mut m = b.start_map();
    m.push("c_in", "sixteen");
    m.end_map();
    let mistyped = b.view().to_vec();
    // Root is a vector, not a map.
    let mut b = flexbuffers::Builder::default();
    let mut v = b.start_vector();
    v.push(1i32);
    v.end_vector();
    let not_map = b.view().to_vec();
    for (buf, needle) in [(missing, "z_mult"), (mistyped, "c_in"), (not_map, "map")] {
        let mut h = Harness::new(ARENA);
        let (ins, z) = project_tensors(&mut h, &case, true);
        expect_error(
            h.run(&reg("SNAP_PROJECT"), Some(&buf), &ins, &[z]),
            Stage::Prepare,
            &["SNAP_PROJECT", needle],
        );
    }
}

#[test]
fn project_truncated_and_garbage_options() {
    let case = project_case();
    let full = case.opts.to_flexbuffer();
    // Absent options (null, 0) and every prefix: none may crash; the short ones must fail.
    let mut h = Harness::new(ARENA);
    let (ins, z) = project_tensors(&mut h, &case, true);
    expect_error(
        h.run(&reg("SNAP_PROJECT"), None, &ins, &[z]),
        Stage::Prepare,
        &["SNAP_PROJECT", "custom options"],
    );
    let mut failures = 0;
    for len in 0..full.len() {
        let mut h = Harness::new(ARENA);
        let (ins, z) = project_tensors(&mut h, &case, true);
        if h.run(&reg("SNAP_PROJECT"), Some(&full[..len]), &ins, &[z])
            .is_err()
        {
            failures += 1;
            assert!(
                !h.messages().is_empty(),
                "a failure must be reported (len {len})"
            );
        }
    }
    assert!(
        failures >= full.len() - 1,
        "{failures} of {} truncations failed",
        full.len()
    );
    for len in [0usize, 1, 2, full.len() / 2, full.len() - 1] {
        let mut h = Harness::new(ARENA);
        let (ins, z) = project_tensors(&mut h, &case, true);
        expect_error(
            h.run(&reg("SNAP_PROJECT"), Some(&full[..len]), &ins, &[z]),
            Stage::Prepare,
            &["SNAP_PROJECT"],
        );
    }
    let (rejected, accepted) = garbage_option_sweep(
        "SNAP_PROJECT",
        &full,
        |b| ProjectOptions::parse(b).map(|_| ()),
        |h| {
            let (ins, z) = project_tensors(h, &case, true);
            (ins, vec![z])
        },
    );
    assert!(
        rejected >= 150 && accepted > 0,
        "{rejected} rejected, {accepted} accepted"
    );
}

/// Garbage and bit-flipped custom options for `op` (300 buffers made from `full`): `init` must
/// take its error path (null OpData, the ops crate's parse error reported under the op's name)
/// exactly when the ops crate's parser rejects the buffer, and `prepare` must then fail with
/// "init failed"; a buffer the parser accepts must get OpData and either run or fail in
/// prepare/invoke with an error naming the op. Afterwards the intact buffer still runs and
/// gives the same outputs as before the sweep (no state leaks between nodes). Returns
/// (rejected, accepted).
fn garbage_option_sweep(
    op: &str,
    full: &[u8],
    parse: impl Fn(&[u8]) -> Result<(), snapuq_ops::OpError>,
    setup: impl Fn(&mut Harness) -> (Vec<i32>, Vec<i32>),
) -> (usize, usize) {
    let registration = reg(op);
    let good_run = |h: &mut Harness| {
        let (ins, outs) = setup(h);
        h.run(&registration, Some(full), &ins, &outs)
            .unwrap_or_else(|f| panic!("{op}: the intact options fail: {}", f.text()));
        outs.iter()
            .map(|&o| h.data::<u8>(o))
            .collect::<Vec<Vec<u8>>>()
    };
    let before = good_run(&mut Harness::new(ARENA));
    let (mut rejected, mut accepted) = (0, 0);
    for seed in 0..300u32 {
        let mut buf = full.to_vec();
        let noise = data_i8(seed + 10, buf.len());
        if seed % 2 == 0 {
            buf.iter_mut().zip(&noise).for_each(|(b, n)| *b = *n as u8);
        } else {
            let i = seed as usize % buf.len();
            buf[i] ^= 1 << (seed % 8);
        }
        let mut h = Harness::new(ARENA);
        let (ins, outs) = setup(&mut h);
        let id = h.init(&registration, Some(&buf), &ins, &outs);
        match parse(&buf) {
            Err(e) => {
                rejected += 1;
                let want = e.message();
                assert!(
                    !h.has_op_data(id),
                    "{op} seed {seed}: init returned OpData for options the parser rejects ({})",
                    want.as_str()
                );
                assert!(
                    h.messages().iter().any(|m| m == want.as_str()),
                    "{op} seed {seed}: init reported {:?}, not the parse error {:?}",
                    h.messages(),
                    want.as_str()
                );
                assert!(want.as_str().contains(op), "{}", want.as_str());
                let f = h.prepare(id).expect_err("prepare after a failed init");
                assert_eq!(f.stage, Stage::Prepare);
                assert_eq!(f.status, status_code(K_TF_LITE_ERROR));
                assert!(f.text().contains("init failed"), "{}", f.text());
                let f = h.invoke(id).expect_err("invoke after a failed init");
                assert_eq!(f.status, status_code(K_TF_LITE_ERROR));
            }
            Ok(()) => {
                accepted += 1;
                assert!(
                    h.has_op_data(id),
                    "{op} seed {seed}: the parser accepts the options but init failed: {:?}",
                    h.messages()
                );
                if let Err(f) = h.prepare(id).and_then(|()| h.invoke(id)) {
                    assert_eq!(f.status, status_code(K_TF_LITE_ERROR));
                    assert!(
                        f.text().contains(op) && !f.text().contains("init failed"),
                        "{op} seed {seed}: {}",
                        f.text()
                    );
                }
            }
        }
        h.free(id);
    }
    assert_eq!(
        good_run(&mut Harness::new(ARENA)),
        before,
        "{op}: outputs changed"
    );
    (rejected, accepted)
}

#[test]
fn project_wrong_dtypes() {
    let case = project_case();
    let opts = case.opts.to_flexbuffer();
    let o = &case.opts;
    // a as uint8
    let mut h = Harness::new(ARENA);
    let bytes: Vec<u8> = case.a.iter().map(|&v| v as u8).collect();
    let a = h.add(&case.a_dims, &bytes);
    let p = h.add(&[o.r as i32, o.c_in as i32], &case.p);
    let z = h.add_zeros::<i8>(&[2, o.r as i32]);
    expect_error(
        h.run(&reg("SNAP_PROJECT"), Some(&opts), &[a, p], &[z]),
        Stage::Prepare,
        &["SNAP_PROJECT", "input 0", "uint8", "int8"],
    );
    // bias as float32
    let mut h = Harness::new(ARENA);
    let a = h.add(&case.a_dims, &case.a);
    let p = h.add(&[o.r as i32, o.c_in as i32], &case.p);
    let b = h.add(&[o.r as i32], &vec![0f32; o.r]);
    let z = h.add_zeros::<i8>(&[2, o.r as i32]);
    expect_error(
        h.run(&reg("SNAP_PROJECT"), Some(&opts), &[a, p, b], &[z]),
        Stage::Prepare,
        &["input 2", "float32", "int32"],
    );
    // output as float32
    let mut h = Harness::new(ARENA);
    let a = h.add(&case.a_dims, &case.a);
    let p = h.add(&[o.r as i32, o.c_in as i32], &case.p);
    let z = h.add_zeros::<f32>(&[2, o.r as i32]);
    expect_error(
        h.run(&reg("SNAP_PROJECT"), Some(&opts), &[a, p], &[z]),
        Stage::Prepare,
        &["output 0", "float32"],
    );
    // an unknown type code
    let mut h = Harness::new(ARENA);
    let a = h.add_raw(42, &case.a_dims, &bytes);
    let p = h.add(&[o.r as i32, o.c_in as i32], &case.p);
    let z = h.add_zeros::<i8>(&[2, o.r as i32]);
    expect_error(
        h.run(&reg("SNAP_PROJECT"), Some(&opts), &[a, p], &[z]),
        Stage::Prepare,
        &["input 0", "42"],
    );
}

#[test]
fn project_mismatched_shapes() {
    let case = project_case();
    let opts = case.opts.to_flexbuffer();
    let o = &case.opts;
    // (a dims, P dims, z dims, the port the message must name)
    type ShapeCase<'a> = (&'a [i32], &'a [i32], &'a [i32], &'a str);
    let cases: [ShapeCase; 4] = [
        (&[2, 4, 4, 15], &[8, 16], &[2, 8], "input 0"),
        (&[2, 4, 4, 16], &[8, 15], &[2, 8], "input 1"),
        (&[2, 4, 4, 16], &[8, 16], &[1, 8], "output 0"),
        (&[2, 4, 4, 4, 16], &[8, 16], &[2, 8], "input 0"),
    ];
    for (a_dims, p_dims, z_dims, needle) in cases {
        let mut h = Harness::new(ARENA);
        let n: usize = a_dims.iter().product::<i32>() as usize;
        let a = h.add(a_dims, &data_i8(3, n));
        let p = h.add(p_dims, &data_i8(4, (p_dims[0] * p_dims[1]) as usize));
        let z = h.add_zeros::<i8>(z_dims);
        expect_error(
            h.run(&reg("SNAP_PROJECT"), Some(&opts), &[a, p], &[z]),
            Stage::Prepare,
            &["SNAP_PROJECT", needle, "shape"],
        );
    }
    // bias of the wrong length
    let mut h = Harness::new(ARENA);
    let a = h.add(&case.a_dims, &case.a);
    let p = h.add(&[o.r as i32, o.c_in as i32], &case.p);
    let b = h.add(&[o.r as i32 + 1], &vec![0i32; o.r + 1]);
    let z = h.add_zeros::<i8>(&[2, o.r as i32]);
    expect_error(
        h.run(&reg("SNAP_PROJECT"), Some(&opts), &[a, p, b], &[z]),
        Stage::Prepare,
        &["input 2", "bias"],
    );
}

#[test]
fn project_runtime_faults() {
    let case = project_case();
    let opts = case.opts.to_flexbuffer();
    // Arena too small for OpData: init reports, prepare fails.
    let mut h = Harness::new(8);
    let (ins, z) = project_tensors(&mut h, &case, true);
    expect_error(
        h.run(&reg("SNAP_PROJECT"), Some(&opts), &ins, &[z]),
        Stage::Prepare,
        &["AllocatePersistentBuffer", "arena"],
    );
    // A tensor index the runtime does not have.
    let mut h = Harness::new(ARENA);
    let (mut ins, z) = project_tensors(&mut h, &case, true);
    ins[1] = 99;
    expect_error(
        h.run(&reg("SNAP_PROJECT"), Some(&opts), &ins, &[z]),
        Stage::Prepare,
        &["input 1", "tensor 99"],
    );
    // Output aliasing an input (same tensor, right type and shape): refused at invoke.
    let square = ProjectOptions {
        c_in: 8,
        r: 8,
        ..case.opts
    };
    let mut h = Harness::new(ARENA);
    let a = h.add(&[2, 8], &data_i8(7, 16));
    let p = h.add(&[8, 8], &data_i8(8, 64));
    let id = h.init(
        &reg("SNAP_PROJECT"),
        Some(&square.to_flexbuffer()),
        &[a, p],
        &[a],
    );
    h.prepare(id).unwrap();
    let before = h.data::<i8>(a);
    expect_error(h.invoke(id), Stage::Invoke, &["output 0", "shares memory"]);
    assert_eq!(h.data::<i8>(a), before, "nothing may be written");
    // No GetEvalTensor in the context.
    let mut h = Harness::new(ARENA);
    let (ins, z) = project_tensors(&mut h, &case, true);
    h.without_eval_tensor_accessor();
    expect_error(
        h.run(&reg("SNAP_PROJECT"), Some(&opts), &ins, &[z]),
        Stage::Prepare,
        &["GetEvalTensor"],
    );
    // Too many inputs.
    let mut h = Harness::new(ARENA);
    let (ins, z) = project_tensors(&mut h, &case, true);
    let many: Vec<i32> = (0..17).map(|i| ins[i % 2]).collect();
    expect_error(
        h.run(&reg("SNAP_PROJECT"), Some(&opts), &many, &[z]),
        Stage::Prepare,
        &["17 inputs"],
    );
    // invoke without prepare.
    let mut h = Harness::new(ARENA);
    let (ins, z) = project_tensors(&mut h, &case, true);
    let id = h.init(&reg("SNAP_PROJECT"), Some(&opts), &ins, &[z]);
    expect_error(
        h.invoke(id),
        Stage::Invoke,
        &["without a successful prepare"],
    );
}

// ---------------------------------------------------------------- SNAP_SURPRISAL

struct SurprisalCase {
    quant: SurprisalQuant,
    z: Vec<i8>,
    a: Vec<i8>,
    a_dims: Vec<i32>,
    w_mu: Vec<i8>,
    b_mu: Vec<i32>,
    w_ls: Vec<i8>,
    b_ls: Vec<i32>,
}

fn surprisal_case(variant: Variant) -> SurprisalCase {
    let (c, r, n) = (12usize, 8usize, 2usize);
    let quant = SurprisalQuant {
        c_out: c,
        r,
        variant,
        z_scale: 0.05,
        z_zp: 3,
        a_scale: 0.04,
        a_zp: -5,
        wmu_scale: 0.01,
        wls_scale: 0.01,
        ls_scale: 0.06,
        ls_zp: 0,
        b_real_scale: 0.02,
        eps: 1e-4,
        log_det: false,
    };
    SurprisalCase {
        quant,
        z: data_i8(11, n * r),
        a: data_i8(12, n * 3 * 3 * c),
        a_dims: vec![n as i32, 3, 3, c as i32],
        w_mu: data_i8(13, c * r),
        b_mu: (0..c as i32).map(|i| i * 11 - 60).collect(),
        w_ls: data_i8(14, c * r).iter().map(|v| v / 4).collect(),
        b_ls: (0..c as i32).map(|i| i * 7 - 40).collect(),
    }
}

fn surprisal_tensors(h: &mut Harness, case: &SurprisalCase, lut: &[i32]) -> (Vec<i32>, i32) {
    let q = &case.quant;
    let (c, r) = (q.c_out as i32, q.r as i32);
    let n = case.a_dims[0];
    let ins = vec![
        h.add(&[n, r], &case.z),
        h.add(&case.a_dims, &case.a),
        h.add(&[c, r], &case.w_mu),
        h.add(&[c], &case.b_mu),
        h.add(&[c, r], &case.w_ls),
        h.add(&[c], &case.b_ls),
        h.add(&[256], lut),
    ];
    let out = h.add_zeros::<f32>(&[n]);
    (ins, out)
}

#[test]
fn surprisal_good_path_equals_ops_crate() {
    for variant in [
        Variant::Gaussian,
        Variant::StudentT { nu: 4.0 },
        Variant::Huber { delta: 1.5 },
    ] {
        let case = surprisal_case(variant);
        let (opts, lut) = case.quant.build().expect("valid quantization");
        let mut h = Harness::new(ARENA);
        let (ins, out) = surprisal_tensors(&mut h, &case, &lut);
        h.run(
            &reg("SNAP_SURPRISAL"),
            Some(&opts.to_flexbuffer()),
            &ins,
            &[out],
        )
        .unwrap_or_else(|f| panic!("{variant:?}: {}", f.text()));
        // Direct call.
        let (c, r) = (opts.c_out as i32, opts.r as i32);
        let n = case.a_dims[0];
        let dims: [&[i32]; 7] = [&[n, r], &case.a_dims, &[c, r], &[c], &[c, r], &[c], &[256]];
        let types = [
            DType::Int8,
            DType::Int8,
            DType::Int8,
            DType::Int32,
            DType::Int8,
            DType::Int32,
            DType::Int32,
        ];
        let descs: Vec<Option<TensorDesc>> = dims
            .iter()
            .zip(types)
            .map(|(d, t)| Some(TensorDesc::new(t, d)))
            .collect();
        let plan =
            surprisal::prepare(&opts, &descs, &[TensorDesc::new(DType::Float32, &[n])]).unwrap();
        let inputs = SurprisalInputs {
            z: &case.z,
            a: &case.a,
            w_mu: &case.w_mu,
            b_mu: &case.b_mu,
            w_ls: &case.w_ls,
            b_ls: &case.b_ls,
            lut: &lut,
            b_lowrank: None,
        };
        let mut want = vec![0f32; n as usize];
        surprisal::eval::<PortableDot>(&opts, &plan, &inputs, &mut want).unwrap();
        let got = h.data::<f32>(out);
        assert_eq!(
            got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            want.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            "{variant:?}"
        );
        assert!(got.iter().all(|v| v.is_finite() && *v >= 0.0), "{got:?}");
    }
}

#[test]
fn surprisal_bad_inputs() {
    let case = surprisal_case(Variant::Gaussian);
    let (opts, lut) = case.quant.build().unwrap();
    let buf = opts.to_flexbuffer();
    // LUT as int8 instead of int32.
    let mut h = Harness::new(ARENA);
    let (mut ins, out) = surprisal_tensors(&mut h, &case, &lut);
    ins[6] = h.add(&[256], &vec![0i8; 256]);
    expect_error(
        h.run(&reg("SNAP_SURPRISAL"), Some(&buf), &ins, &[out]),
        Stage::Prepare,
        &["SNAP_SURPRISAL", "input 6", "int8"],
    );
    // W_mu with the wrong shape.
    let mut h = Harness::new(ARENA);
    let (mut ins, out) = surprisal_tensors(&mut h, &case, &lut);
    ins[2] = h.add(&[12, 7], &data_i8(5, 84));
    expect_error(
        h.run(&reg("SNAP_SURPRISAL"), Some(&buf), &ins, &[out]),
        Stage::Prepare,
        &["SNAP_SURPRISAL", "input 2", "shape"],
    );
    // Output int8 instead of float32.
    let mut h = Harness::new(ARENA);
    let (ins, _) = surprisal_tensors(&mut h, &case, &lut);
    let out = h.add_zeros::<i8>(&[2]);
    expect_error(
        h.run(&reg("SNAP_SURPRISAL"), Some(&buf), &ins, &[out]),
        Stage::Prepare,
        &["output 0"],
    );
    // Missing an input in the middle (index -1 for W_ls).
    let mut h = Harness::new(ARENA);
    let (mut ins, out) = surprisal_tensors(&mut h, &case, &lut);
    ins[4] = -1;
    expect_error(
        h.run(&reg("SNAP_SURPRISAL"), Some(&buf), &ins, &[out]),
        Stage::Prepare,
        &["input 4", "absent"],
    );
    // Truncated options.
    let mut h = Harness::new(ARENA);
    let (ins, out) = surprisal_tensors(&mut h, &case, &lut);
    expect_error(
        h.run(
            &reg("SNAP_SURPRISAL"),
            Some(&buf[..buf.len() / 3]),
            &ins,
            &[out],
        ),
        Stage::Prepare,
        &["SNAP_SURPRISAL", "init failed"],
    );
    // Low-rank variant without its B input.
    let lr = surprisal_case(Variant::LowRank { k: 2 });
    let (lr_opts, lr_lut) = lr.quant.build().unwrap();
    let mut h = Harness::new(ARENA);
    let (ins, out) = surprisal_tensors(&mut h, &lr, &lr_lut);
    let r = h.run(
        &reg("SNAP_SURPRISAL"),
        Some(&lr_opts.to_flexbuffer()),
        &ins,
        &[out],
    );
    let f = r.expect_err("low-rank needs B");
    assert!(f.text().contains("SNAP_SURPRISAL"), "{}", f.text());
}

#[test]
fn surprisal_garbage_options() {
    for variant in [Variant::Gaussian, Variant::LowRank { k: 2 }] {
        let case = surprisal_case(variant);
        let (opts, lut) = case.quant.build().unwrap();
        if matches!(variant, Variant::LowRank { .. }) {
            // Low-rank needs its B input, which the shared tensor set lacks: only the init
            // path is swept (every run then fails in prepare, naming the op).
            let full = opts.to_flexbuffer();
            let mut h = Harness::new(ARENA);
            let (ins, out) = surprisal_tensors(&mut h, &case, &lut);
            let id = h.init(&reg("SNAP_SURPRISAL"), Some(&full), &ins, &[out]);
            assert!(h.has_op_data(id), "{:?}", h.messages());
            h.free(id);
            continue;
        }
        let (rejected, accepted) = garbage_option_sweep(
            "SNAP_SURPRISAL",
            &opts.to_flexbuffer(),
            |b| surprisal::SurprisalOptions::parse(b).map(|_| ()),
            |h| {
                let (ins, out) = surprisal_tensors(h, &case, &lut);
                (ins, vec![out])
            },
        );
        assert!(
            rejected >= 150 && accepted > 0,
            "{rejected} rejected, {accepted} accepted"
        );
    }
}

// ---------------------------------------------------------------- SNAP_CALIBRATE

fn calibrate_opts(controller: bool) -> CalibrateOptions {
    let mut weights = [0f32; limits::MAX_TAPS];
    weights[0] = 0.6;
    weights[1] = 0.4;
    CalibrateOptions {
        stats: 0,
        taps: 2,
        weights,
        classes: 10,
        cls: ClassifierKind::Probs,
        cls_scale: 1.0 / 256.0,
        cls_zp: -128,
        alpha: 0.5,
        mapping: Mapping::Logistic {
            beta: [-2.0, 1.5, 2.0],
        },
        tau: 0.5,
        controller: controller.then_some(ControllerParams {
            budget: 0.2,
            eta: 0.5,
            kappa: 0.5,
            tau_min: 0.05,
            tau_max: 0.95,
        }),
    }
}

struct CalibrateData {
    e0: Vec<f32>,
    e1: Vec<f32>,
    cls: Vec<i8>,
}

fn calibrate_data() -> CalibrateData {
    let n = 4;
    CalibrateData {
        e0: (0..n).map(|i| 0.3 + i as f32).collect(),
        e1: (0..n).map(|i| 2.0 - 0.4 * i as f32).collect(),
        cls: data_i8(21, n * 10),
    }
}

fn calibrate_tensors(h: &mut Harness, d: &CalibrateData) -> (Vec<i32>, Vec<i32>) {
    let n = d.e0.len() as i32;
    let ins = vec![
        h.add(&[n], &d.e0),
        h.add(&[n, 1], &d.e1),
        h.add(&[n, 10], &d.cls),
    ];
    let outs = vec![
        h.add_zeros::<f32>(&[n]),
        h.add_zeros::<f32>(&[n]),
        h.add_zeros::<u8>(&[n]),
        h.add_zeros::<u8>(&[n]),
    ];
    (ins, outs)
}

fn calibrate_direct(
    opts: &CalibrateOptions,
    d: &CalibrateData,
    steps: usize,
) -> (Vec<f32>, Vec<f32>, Vec<u8>, Vec<u8>) {
    let n = d.e0.len() as i32;
    let dims: [&[i32]; 3] = [&[n], &[n, 1], &[n, 10]];
    let types = [DType::Float32, DType::Float32, DType::Int8];
    let descs: Vec<Option<TensorDesc>> = dims
        .iter()
        .zip(types)
        .map(|(d, t)| Some(TensorDesc::new(t, d)))
        .collect();
    let od = [n];
    let outs = [
        TensorDesc::new(DType::Float32, &od),
        TensorDesc::new(DType::Float32, &od),
        TensorDesc::new(DType::UInt8, &od),
        TensorDesc::new(DType::UInt8, &od),
    ];
    let plan = calibrate::prepare(opts, &descs, &outs).unwrap();
    let mut state = opts.initial_state();
    let (mut u, mut s, mut ab, mut uq) = (vec![0f32; 4], vec![0f32; 4], vec![0u8; 4], vec![0u8; 4]);
    for _ in 0..steps {
        calibrate::eval(
            opts,
            &plan,
            &[&d.e0, &d.e1],
            ClassifierData::I8(&d.cls),
            None,
            state.as_mut(),
            CalibrateOutputs {
                u: &mut u,
                s: Some(&mut s),
                abstain: Some(&mut ab),
                u_q: Some(&mut uq),
            },
        )
        .unwrap();
    }
    (u, s, ab, uq)
}

#[test]
fn calibrate_good_path_equals_ops_crate() {
    let opts = calibrate_opts(false);
    let d = calibrate_data();
    let mut h = Harness::new(ARENA);
    let (ins, outs) = calibrate_tensors(&mut h, &d);
    h.run(
        &reg("SNAP_CALIBRATE"),
        Some(&opts.to_flexbuffer()),
        &ins,
        &outs,
    )
    .unwrap_or_else(|f| panic!("{}", f.text()));
    let (u, s, ab, uq) = calibrate_direct(&opts, &d, 1);
    assert_eq!(h.data::<f32>(outs[0]), u);
    assert_eq!(h.data::<f32>(outs[1]), s);
    assert_eq!(h.data::<u8>(outs[2]), ab);
    assert_eq!(h.data::<u8>(outs[3]), uq);
    assert!(u.iter().all(|v| (0.0..=1.0).contains(v)), "{u:?}");
    // Only U requested (a prefix of the outputs).
    let mut h = Harness::new(ARENA);
    let (ins, outs) = calibrate_tensors(&mut h, &d);
    h.run(
        &reg("SNAP_CALIBRATE"),
        Some(&opts.to_flexbuffer()),
        &ins,
        &outs[..1],
    )
    .unwrap();
    assert_eq!(h.data::<f32>(outs[0]), u);
}

#[test]
fn calibrate_controller_state_persists_and_reset_restores_it() {
    let opts = calibrate_opts(true);
    let d = calibrate_data();
    let mut h = Harness::new(ARENA);
    let (ins, outs) = calibrate_tensors(&mut h, &d);
    let id = h.init(
        &reg("SNAP_CALIBRATE"),
        Some(&opts.to_flexbuffer()),
        &ins,
        &outs,
    );
    h.prepare(id).unwrap();
    let mut flags = Vec::new();
    for step in 1..=6 {
        h.invoke(id).unwrap();
        let (_, _, ab, _) = calibrate_direct(&opts, &d, step);
        assert_eq!(h.data::<u8>(outs[2]), ab, "step {step}");
        flags.push(ab);
    }
    h.reset(id);
    h.invoke(id).unwrap();
    assert_eq!(
        h.data::<u8>(outs[2]),
        flags[0],
        "reset must restore the controller's state"
    );
    h.free(id);
}

#[test]
fn calibrate_bad_inputs() {
    let opts = calibrate_opts(false);
    let buf = opts.to_flexbuffer();
    let d = calibrate_data();
    // ē as int8.
    let mut h = Harness::new(ARENA);
    let (mut ins, outs) = calibrate_tensors(&mut h, &d);
    ins[0] = h.add(&[4], &[1i8, 2, 3, 4]);
    expect_error(
        h.run(&reg("SNAP_CALIBRATE"), Some(&buf), &ins, &outs),
        Stage::Prepare,
        &["SNAP_CALIBRATE", "input 0"],
    );
    // Classifier with the wrong class count.
    let mut h = Harness::new(ARENA);
    let (mut ins, outs) = calibrate_tensors(&mut h, &d);
    ins[2] = h.add(&[4, 9], &data_i8(3, 36));
    expect_error(
        h.run(&reg("SNAP_CALIBRATE"), Some(&buf), &ins, &outs),
        Stage::Prepare,
        &["SNAP_CALIBRATE", "input 2"],
    );
    // Batch mismatch between taps.
    let mut h = Harness::new(ARENA);
    let (mut ins, outs) = calibrate_tensors(&mut h, &d);
    ins[1] = h.add(&[3], &[0.1f32, 0.2, 0.3]);
    expect_error(
        h.run(&reg("SNAP_CALIBRATE"), Some(&buf), &ins, &outs),
        Stage::Prepare,
        &["SNAP_CALIBRATE", "input 1"],
    );
    // Wrong number of inputs (one tap missing).
    let mut h = Harness::new(ARENA);
    let (ins, outs) = calibrate_tensors(&mut h, &d);
    expect_error(
        h.run(&reg("SNAP_CALIBRATE"), Some(&buf), &ins[1..], &outs),
        Stage::Prepare,
        &["SNAP_CALIBRATE", "inputs"],
    );
    // Bad option value: taps beyond the limit; truncated options.
    for bad in [
        CalibrateOptions { taps: 99, ..opts }.to_flexbuffer(),
        buf[..buf.len() - 1].to_vec(),
        Vec::new(),
    ] {
        let mut h = Harness::new(ARENA);
        let (ins, outs) = calibrate_tensors(&mut h, &d);
        expect_error(
            h.run(&reg("SNAP_CALIBRATE"), Some(&bad), &ins, &outs),
            Stage::Prepare,
            &["SNAP_CALIBRATE", "init failed"],
        );
    }
}

#[test]
fn calibrate_garbage_options() {
    let d = calibrate_data();
    for controller in [false, true] {
        let opts = calibrate_opts(controller);
        let (rejected, accepted) = garbage_option_sweep(
            "SNAP_CALIBRATE",
            &opts.to_flexbuffer(),
            |b| CalibrateOptions::parse(b).map(|_| ()),
            |h| calibrate_tensors(h, &d),
        );
        assert!(
            rejected >= 150 && accepted > 0,
            "controller {controller}: {rejected} rejected, {accepted} accepted"
        );
    }
}
