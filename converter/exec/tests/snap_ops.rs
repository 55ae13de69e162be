//! The SNAP ops inside the executor: an augmented copy of the repo's example model (seeded
//! random int8 heads attached with snapuq-model's edit API) must give, on the example test
//! inputs, exactly what the `snapuq-ops` kernels give when called directly on the
//! unaugmented model's intermediate tensors, leave the original output bit-identical, and
//! keep U in [0,1]. Bad options fail with an error naming the op; `reset` restores the
//! controller.
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use snapuq_exec::snap::{self, SnapCalibrate, CALIBRATE_STATE_BYTES};
use snapuq_exec::{
    arena_bytes_needed, CustomKernel, DType, EvalContext, Interpreter, OpResolver, Options,
    PrepareContext, Shape, TensorMut, TensorView,
};
use snapuq_model::{Model, NewOperator, Quantization, TensorData, TensorType};
use snapuq_ops::calibrate::{
    self, CalibrateOptions, CalibrateOutputs, ClassifierData, ClassifierKind, Mapping,
};
use snapuq_ops::controller::{ControllerParams, ControllerState};
use snapuq_ops::project::{self, ProjectOptions};
use snapuq_ops::surprisal::{self, SurprisalInputs, SurprisalOptions, SurprisalQuant, Variant};
use snapuq_ops::{limits, DType as OpDType, PortableDot, TensorDesc};
use snapuq_testkit::repo_root;

const RANK: usize = 8;
const SAMPLES: usize = 120;

/// Everything the augmentation attached, for the direct computation.
struct Heads {
    a_prev: usize,
    a_tap: usize,
    probs: usize,
    a_prev_dims: Vec<i32>,
    a_tap_dims: Vec<i32>,
    project: ProjectOptions,
    p: Vec<i8>,
    p_bias: Vec<i32>,
    surprisal: SurprisalOptions,
    w_mu: Vec<i8>,
    b_mu: Vec<i32>,
    w_ls: Vec<i8>,
    b_ls: Vec<i32>,
    lut: Vec<i32>,
    calibrate: CalibrateOptions,
}

fn model_path() -> std::path::PathBuf {
    repo_root().join("examples/models/digits_cnn.tflite")
}

fn quant_of(m: &Model, t: usize) -> (f32, i32) {
    let q = m.quantization(t).expect("tapped tensor has quantization");
    (q.scale[0], q.zero_point[0] as i32)
}

fn rand_i8(rng: &mut ChaCha8Rng, n: usize) -> Vec<i8> {
    (0..n).map(|_| rng.gen_range(-127i32..=127) as i8).collect()
}

fn rand_i32(rng: &mut ChaCha8Rng, n: usize, bound: i32) -> Vec<i32> {
    (0..n).map(|_| rng.gen_range(-bound..=bound)).collect()
}

/// The first op writing an int8 rank-4 activation gives a_{ℓ−1}; the next op reading it
/// writes a_ℓ.
fn find_taps(m: &Model) -> (usize, usize, usize) {
    let is_act =
        |t: usize| m.tensor_type(t) == Some(TensorType::INT8) && m.tensor_shape(t).len() == 4;
    let n_ops = m.operators().len();
    let op0 = (0..n_ops)
        .find(|&k| m.op_outputs(k).first().is_some_and(|&t| is_act(t as usize)))
        .expect("an op writing an int8 NHWC activation");
    let a_prev = m.op_outputs(op0)[0] as usize;
    let op1 = (op0 + 1..n_ops)
        .find(|&k| {
            m.op_inputs(k).contains(&(a_prev as i32))
                && m.op_outputs(k).first().is_some_and(|&t| is_act(t as usize))
        })
        .expect("a later op reading a_{l-1} and writing an activation");
    (op0, op1, m.op_outputs(op1)[0] as usize)
}

/// Builds the augmented model; `project_options` replaces SNAP_PROJECT's options when given.
fn augment(project_options: Option<Vec<u8>>) -> (Vec<u8>, Heads) {
    let mut m = Model::load(model_path()).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(0x5a4b);
    let (op0, op1, a_tap) = find_taps(&m);
    let a_prev = m.op_outputs(op0)[0] as usize;
    let probs = m.outputs()[0] as usize;
    let a_prev_dims = m.tensor_shape(a_prev).to_vec();
    let a_tap_dims = m.tensor_shape(a_tap).to_vec();
    let c_in = *a_prev_dims.last().unwrap() as usize;
    let c_out = *a_tap_dims.last().unwrap() as usize;
    let classes = *m.tensor_shape(probs).last().unwrap() as usize;
    let (a_scale, a_zp) = quant_of(&m, a_prev);
    let (t_scale, t_zp) = quant_of(&m, a_tap);

    // SNAP_PROJECT: z scale sized so that typical |acc| maps to tens of LSBs.
    let p_scale = 0.02f32;
    let z_scale = a_scale * p_scale * 40.0 * (c_in as f32).sqrt();
    let project =
        ProjectOptions::from_scales(c_in, RANK, a_scale, a_zp, p_scale, z_scale, 0).unwrap();
    let p = rand_i8(&mut rng, RANK * c_in);
    let p_bias = rand_i32(&mut rng, RANK, 2000);

    // SNAP_SURPRISAL, diagonal Gaussian, recommended log σ² quantization.
    let (surprisal, lut) = SurprisalQuant {
        c_out,
        r: RANK,
        variant: Variant::Gaussian,
        z_scale,
        z_zp: 0,
        a_scale: t_scale,
        a_zp: t_zp,
        wmu_scale: 0.004,
        wls_scale: 0.002,
        ls_scale: 0.05418,
        ls_zp: 42,
        b_real_scale: 0.0,
        eps: 1e-4,
        log_det: false,
    }
    .build()
    .unwrap();
    let w_mu = rand_i8(&mut rng, c_out * RANK);
    let b_mu = rand_i32(&mut rng, c_out, 500);
    let w_ls = rand_i8(&mut rng, c_out * RANK);
    let b_ls = rand_i32(&mut rng, c_out, 5000);

    // SNAP_CALIBRATE with the budgeted controller, so persistent state matters.
    let mut weights = [0f32; limits::MAX_TAPS];
    weights[0] = 1.0;
    let calibrate = CalibrateOptions {
        stats: 0,
        taps: 1,
        weights,
        classes,
        cls: ClassifierKind::Probs,
        cls_scale: 1.0 / 256.0,
        cls_zp: -128,
        alpha: 0.5,
        mapping: Mapping::Logistic {
            beta: [-2.0, 0.05, 3.0],
        },
        tau: 0.3,
        controller: Some(ControllerParams {
            budget: 0.1,
            eta: 0.2,
            kappa: 0.05,
            tau_min: 0.0,
            tau_max: 1.0,
        }),
    };

    let q = |s: f32, zp: i32| Some(Quantization::per_tensor(s, zp as i64));
    let p_t = m
        .add_constant_tensor(
            "snap/P",
            &[RANK as i32, c_in as i32],
            TensorData::Int8(p.clone()),
            q(p_scale, 0),
        )
        .unwrap();
    let pb_t = m
        .add_constant_tensor(
            "snap/P_bias",
            &[RANK as i32],
            TensorData::Int32(p_bias.clone()),
            q(a_scale * p_scale, 0),
        )
        .unwrap();
    let z_t = m
        .add_intermediate_tensor("snap/z", &[1, RANK as i32], TensorType::INT8, q(z_scale, 0))
        .unwrap();
    let hd = [c_out as i32, RANK as i32];
    let wmu_t = m
        .add_constant_tensor(
            "snap/W_mu",
            &hd,
            TensorData::Int8(w_mu.clone()),
            q(0.004, 0),
        )
        .unwrap();
    let bmu_t = m
        .add_constant_tensor(
            "snap/b_mu",
            &[c_out as i32],
            TensorData::Int32(b_mu.clone()),
            None,
        )
        .unwrap();
    let wls_t = m
        .add_constant_tensor(
            "snap/W_ls",
            &hd,
            TensorData::Int8(w_ls.clone()),
            q(0.002, 0),
        )
        .unwrap();
    let bls_t = m
        .add_constant_tensor(
            "snap/b_ls",
            &[c_out as i32],
            TensorData::Int32(b_ls.clone()),
            None,
        )
        .unwrap();
    let lut_t = m
        .add_constant_tensor("snap/lut", &[256], TensorData::Int32(lut.to_vec()), None)
        .unwrap();
    let ebar_t = m
        .add_intermediate_tensor("snap/ebar", &[1], TensorType::FLOAT32, None)
        .unwrap();
    let u_t = m
        .add_intermediate_tensor("snap/U", &[1], TensorType::FLOAT32, None)
        .unwrap();
    let s_t = m
        .add_intermediate_tensor("snap/S", &[1], TensorType::FLOAT32, None)
        .unwrap();
    let abst_t = m
        .add_intermediate_tensor("snap/abstain", &[1], TensorType::UINT8, None)
        .unwrap();

    let popts = project_options.unwrap_or_else(|| project.to_flexbuffer());
    m.insert_operator(
        op0 + 1,
        NewOperator::custom(
            snapuq_model::SNAP_PROJECT,
            vec![a_prev as i32, p_t, pb_t],
            vec![z_t],
            popts,
        ),
    )
    .unwrap();
    m.insert_operator(
        op1 + 2,
        NewOperator::custom(
            snapuq_model::SNAP_SURPRISAL,
            vec![z_t, a_tap as i32, wmu_t, bmu_t, wls_t, bls_t, lut_t],
            vec![ebar_t],
            surprisal.to_flexbuffer(),
        ),
    )
    .unwrap();
    let end = m.operators().len();
    m.insert_operator(
        end,
        NewOperator::custom(
            snapuq_model::SNAP_CALIBRATE,
            vec![ebar_t, probs as i32],
            vec![u_t, s_t, abst_t],
            calibrate.to_flexbuffer(),
        ),
    )
    .unwrap();
    assert_eq!(m.add_output(u_t).unwrap(), 1);
    assert_eq!(m.add_output(s_t).unwrap(), 2);
    assert_eq!(m.add_output(abst_t).unwrap(), 3);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("digits.snap.tflite");
    m.save(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let heads = Heads {
        a_prev,
        a_tap,
        probs,
        a_prev_dims,
        a_tap_dims,
        project,
        p,
        p_bias,
        surprisal,
        w_mu,
        b_mu,
        w_ls,
        b_ls,
        lut: lut.to_vec(),
        calibrate,
    };
    (bytes, heads)
}

fn test_inputs() -> (Vec<i8>, usize) {
    let path = repo_root().join("examples/models/digits_test.npy");
    let bytes = std::fs::read(path).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = npy.shape().to_vec();
    let data = npy.into_vec::<i8>().unwrap();
    let per: usize = shape[1..].iter().product::<u64>() as usize;
    (data, per)
}

fn resolver_with_snap() -> OpResolver<'static> {
    let mut r = OpResolver::new();
    snap::register(&mut r).unwrap();
    r
}

/// Per sample of the unaugmented model: output 0 and the tapped tensors.
struct Plain {
    out: Vec<u8>,
    a_prev: Vec<i8>,
    a_tap: Vec<i8>,
    probs: Vec<i8>,
}

fn run_plain(model: &[u8], heads: &Heads, inputs: &[i8], per: usize) -> Vec<Plain> {
    let resolver = OpResolver::new();
    let need = arena_bytes_needed(model, &resolver, Options::default()).unwrap();
    let mut arena = vec![0u8; need];
    let mut it: Interpreter =
        Interpreter::new(model, &mut arena, &resolver, Options::default()).unwrap();
    let mut res = Vec::new();
    for x in inputs.chunks(per).take(SAMPLES) {
        it.input_mut(0).unwrap().copy_from_slice(x);
        let (mut a_prev, mut a_tap, mut probs) = (Vec::new(), Vec::new(), Vec::new());
        it.invoke_with(|_, outs| {
            for t in outs {
                let v = || t.as_i8().unwrap().to_vec();
                if t.index == heads.a_prev {
                    a_prev = v();
                } else if t.index == heads.a_tap {
                    a_tap = v();
                } else if t.index == heads.probs {
                    probs = v();
                }
            }
        })
        .unwrap();
        let out = it.output(0).unwrap().data.to_vec();
        res.push(Plain {
            out,
            a_prev,
            a_tap,
            probs,
        });
    }
    res
}

/// What the kernels give when called directly: (U, S, abstain) per sample.
fn direct(heads: &Heads, plain: &[Plain]) -> Vec<(f32, f32, u8)> {
    let z_dims = [1, RANK as i32];
    let pplan = project::prepare(
        &heads.project,
        &[
            Some(TensorDesc::new(OpDType::Int8, &heads.a_prev_dims)),
            Some(TensorDesc::new(
                OpDType::Int8,
                &[RANK as i32, heads.project.c_in as i32],
            )),
            Some(TensorDesc::new(OpDType::Int32, &[RANK as i32])),
        ],
        &[TensorDesc::new(OpDType::Int8, &z_dims)],
    )
    .unwrap();
    let c_out = heads.surprisal.c_out as i32;
    let hd = [c_out, RANK as i32];
    let splan = surprisal::prepare(
        &heads.surprisal,
        &[
            Some(TensorDesc::new(OpDType::Int8, &z_dims)),
            Some(TensorDesc::new(OpDType::Int8, &heads.a_tap_dims)),
            Some(TensorDesc::new(OpDType::Int8, &hd)),
            Some(TensorDesc::new(OpDType::Int32, &[c_out])),
            Some(TensorDesc::new(OpDType::Int8, &hd)),
            Some(TensorDesc::new(OpDType::Int32, &[c_out])),
            Some(TensorDesc::new(OpDType::Int32, &[256])),
        ],
        &[TensorDesc::new(OpDType::Float32, &[1])],
    )
    .unwrap();
    let classes = heads.calibrate.classes as i32;
    let cplan = calibrate::prepare(
        &heads.calibrate,
        &[
            Some(TensorDesc::new(OpDType::Float32, &[1])),
            Some(TensorDesc::new(OpDType::Int8, &[1, classes])),
        ],
        &[
            TensorDesc::new(OpDType::Float32, &[1]),
            TensorDesc::new(OpDType::Float32, &[1]),
            TensorDesc::new(OpDType::UInt8, &[1]),
        ],
    )
    .unwrap();
    let mut state = heads.calibrate.initial_state().unwrap();
    let mut scratch = vec![0i8; project::scratch_bytes(&heads.project)];
    plain
        .iter()
        .map(|s| {
            let mut z = [0i8; RANK];
            project::eval::<PortableDot>(
                &heads.project,
                &pplan,
                &s.a_prev,
                &heads.p,
                Some(&heads.p_bias),
                &mut z,
                &mut scratch,
            )
            .unwrap();
            let mut ebar = [0f32; 1];
            let inp = SurprisalInputs {
                z: &z,
                a: &s.a_tap,
                w_mu: &heads.w_mu,
                b_mu: &heads.b_mu,
                w_ls: &heads.w_ls,
                b_ls: &heads.b_ls,
                lut: &heads.lut,
                b_lowrank: None,
            };
            surprisal::eval::<PortableDot>(&heads.surprisal, &splan, &inp, &mut ebar).unwrap();
            let (mut u, mut sc, mut ab) = ([0f32; 1], [0f32; 1], [0u8; 1]);
            calibrate::eval(
                &heads.calibrate,
                &cplan,
                &[&ebar],
                ClassifierData::I8(&s.probs),
                None,
                Some(&mut state),
                CalibrateOutputs {
                    u: &mut u,
                    s: Some(&mut sc),
                    abstain: Some(&mut ab),
                    u_q: None,
                },
            )
            .unwrap();
            (u[0], sc[0], ab[0])
        })
        .collect()
}

/// Runs the augmented model: (output 0 bytes, U, S, abstain) per sample.
fn run_augmented(
    it: &mut Interpreter<'_, '_, '_>,
    inputs: &[i8],
    per: usize,
) -> Vec<(Vec<u8>, f32, f32, u8)> {
    inputs
        .chunks(per)
        .take(SAMPLES)
        .map(|x| {
            it.input_mut(0).unwrap().copy_from_slice(x);
            it.invoke().unwrap();
            let f = |k| it.output(k).unwrap().as_f32().unwrap()[0];
            let (u, s) = (f(1), f(2));
            let a = it.output(3).unwrap().data[0];
            (it.output(0).unwrap().data.to_vec(), u, s, a)
        })
        .collect()
}

#[test]
fn augmented_model_matches_direct_kernels_and_keeps_original_outputs() {
    let (aug, heads) = augment(None);
    let plain_model = std::fs::read(model_path()).unwrap();
    let (inputs, per) = test_inputs();
    let plain = run_plain(&plain_model, &heads, &inputs, per);
    assert_eq!(plain.len(), SAMPLES);
    let want = direct(&heads, &plain);

    let resolver = resolver_with_snap();
    let need = arena_bytes_needed(&aug, &resolver, Options::default()).unwrap();
    let mut arena = vec![0u8; need];
    let mut it: Interpreter =
        Interpreter::new(&aug, &mut arena, &resolver, Options::default()).unwrap();
    let got = run_augmented(&mut it, &inputs, per);

    let mut abstained = 0;
    let mut distinct_s = std::collections::BTreeSet::new();
    for (n, ((out, u, s, a), (wu, ws, wa))) in got.iter().zip(&want).enumerate() {
        assert_eq!(out, &plain[n].out, "sample {n}: original output changed");
        assert_eq!(
            u.to_bits(),
            wu.to_bits(),
            "sample {n}: U {u} vs direct {wu}"
        );
        assert_eq!(
            s.to_bits(),
            ws.to_bits(),
            "sample {n}: S {s} vs direct {ws}"
        );
        assert_eq!(a, wa, "sample {n}: abstain flag");
        assert!((0.0..=1.0).contains(u), "sample {n}: U = {u}");
        assert!(s.is_finite() && *s >= 0.0, "sample {n}: S = {s}");
        abstained += usize::from(*a);
        distinct_s.insert(s.to_bits());
    }
    // The heads are random but the data are not: S must vary across inputs, and the
    // controller must both abstain and accept (otherwise the state test above proves little).
    assert!(
        distinct_s.len() > SAMPLES / 2,
        "S takes only {} values",
        distinct_s.len()
    );
    assert!(
        abstained > 0 && abstained < SAMPLES,
        "abstained on {abstained} of {SAMPLES}"
    );

    // Reset restores the controller: a second pass after reset repeats the first exactly.
    it.reset();
    let again = run_augmented(&mut it, &inputs, per);
    assert_eq!(got, again);
}

#[test]
fn bad_project_options_name_the_op() {
    let (good, _) = augment(None);
    let resolver = resolver_with_snap();
    let proj = ProjectOptions::from_scales(4, RANK, 0.1, 0, 0.02, 0.05, 0)
        .unwrap()
        .to_flexbuffer();
    for (label, opts) in [
        ("garbage", vec![1u8, 2, 3]),
        ("empty", Vec::new()),
        ("truncated", proj[..proj.len() / 2].to_vec()),
        ("wrong c_in", proj.clone()),
    ] {
        let (aug, _) = augment(Some(opts));
        let e = arena_bytes_needed(&aug, &resolver, Options::default())
            .map(|_| ())
            .expect_err(label);
        let msg = e.to_string();
        assert!(msg.contains("SNAP_PROJECT"), "{label}: {msg}");
        assert!(
            e.op.is_some(),
            "{label}: error not attributed to an operator: {msg}"
        );
    }
    // The good model loads and the detailed OpError text is there for hosts that want it.
    assert!(arena_bytes_needed(&good, &resolver, Options::default()).is_ok());
    let ctx = PrepareContext {
        op_index: 0,
        options: &[1, 2, 3],
        inputs: &[],
        outputs: &[],
    };
    let detailed = snap::PROJECT.check(&ctx).unwrap_err().message();
    assert!(
        detailed
            .as_str()
            .starts_with("SNAP_PROJECT: custom options"),
        "{detailed}"
    );
}

/// Drives SNAP_CALIBRATE by hand through init → eval → reset, reading the persistent bytes.
#[test]
fn reset_restores_the_controller_state() {
    let mut weights = [0f32; limits::MAX_TAPS];
    weights[0] = 2.0;
    let params = ControllerParams {
        budget: 0.2,
        eta: 0.5,
        kappa: 0.1,
        tau_min: 0.05,
        tau_max: 0.95,
    };
    let opts = CalibrateOptions {
        stats: 0,
        taps: 1,
        weights,
        classes: 3,
        cls: ClassifierKind::Logits,
        cls_scale: 0.1,
        cls_zp: 0,
        alpha: 0.5,
        mapping: Mapping::Logistic {
            beta: [0.0, 1.0, 0.0],
        },
        tau: 0.01, // below tau_min: init must clamp it
        controller: Some(params),
    };
    let flex = opts.to_flexbuffer();
    let one = Shape::new(&[1]).unwrap();
    let cls_shape = Shape::new(&[1, 3]).unwrap();
    let view = |dtype, shape, data| TensorView {
        index: 0,
        shape,
        dtype,
        quant: Default::default(),
        data,
    };
    let ebar_words = [0.8f32];
    let ebar_data: &[u8] = bytemuck::cast_slice(&ebar_words);
    let cls_data = [10u8, 250, 3];
    let inputs = [
        Some(view(DType::Float32, one, ebar_data)),
        Some(view(DType::Int8, cls_shape, &cls_data[..])),
    ];
    let outputs = [
        view(DType::Float32, one, &[]),
        view(DType::Float32, one, &[]),
        view(DType::UInt8, one, &[]),
    ];
    let pctx = PrepareContext {
        op_index: 7,
        options: &flex,
        inputs: &inputs,
        outputs: &outputs,
    };
    let bytes = snap::CALIBRATE.prepare(&pctx).unwrap();
    assert_eq!(bytes, CALIBRATE_STATE_BYTES);
    let mut persistent = vec![0u8; bytes];
    snap::CALIBRATE.init(&pctx, &mut persistent).unwrap();
    let initial = SnapCalibrate::state(&persistent).unwrap();
    assert_eq!(initial, ControllerState::new(0.01, &params));
    assert_eq!(initial.tau, 0.05);

    let mut reference = initial;
    for _ in 0..5 {
        let mut a = [0u8; 1];
        let mut u_w = [0f32; 1];
        let mut s_w = [0f32; 1];
        {
            let mut outs = [
                TensorMut {
                    index: 0,
                    shape: one,
                    dtype: DType::Float32,
                    quant: Default::default(),
                    data: bytemuck::cast_slice_mut(&mut u_w),
                },
                TensorMut {
                    index: 0,
                    shape: one,
                    dtype: DType::Float32,
                    quant: Default::default(),
                    data: bytemuck::cast_slice_mut(&mut s_w),
                },
                TensorMut {
                    index: 0,
                    shape: one,
                    dtype: DType::UInt8,
                    quant: Default::default(),
                    data: &mut a,
                },
            ];
            let mut ectx = EvalContext {
                op_index: 7,
                options: &flex,
                inputs: &inputs,
                outputs: &mut outs,
                persistent: &mut persistent,
            };
            snap::CALIBRATE.eval(&mut ectx).unwrap();
        }
        assert_eq!(s_w[0], 2.0 * 0.8);
        let flag = reference.step(u_w[0], &params);
        assert_eq!(a[0], u8::from(flag));
        assert_eq!(SnapCalibrate::state(&persistent), Some(reference));
    }
    assert_eq!(reference.steps, 5);
    assert_ne!(
        reference, initial,
        "the controller never moved; the reset check would be vacuous"
    );
    snap::CALIBRATE.reset(&mut persistent);
    assert_eq!(SnapCalibrate::state(&persistent), Some(initial));

    // Without ctrl the node needs no persistent bytes.
    let plain = CalibrateOptions {
        stats: 0,
        controller: None,
        ..opts
    }
    .to_flexbuffer();
    let pctx = PrepareContext {
        options: &plain,
        ..pctx
    };
    assert_eq!(snap::CALIBRATE.prepare(&pctx).unwrap(), 0);
}
