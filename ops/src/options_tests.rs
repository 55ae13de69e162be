//! Options: flexbuffer round trips both ways, truncation/corruption robustness, and
//! prepare's error messages.

use crate::calibrate::{self, CalibrateOptions, ClassifierKind, Mapping};
use crate::controller::ControllerParams;
use crate::error::OpError;
use crate::flex::FlexProblem;
use crate::project::{self, ProjectOptions};
use crate::surprisal::{self, SurprisalOptions, SurprisalQuant, Variant};
use crate::tensor::{DType, TensorDesc};

fn project_opts() -> ProjectOptions {
    ProjectOptions::from_scales(64, 32, 0.05, -3, 0.01, 0.08, 5).unwrap()
}

fn surprisal_opts(variant: Variant) -> SurprisalOptions {
    SurprisalQuant {
        c_out: 128,
        r: 32,
        variant,
        z_scale: 0.08,
        z_zp: 5,
        a_scale: 0.04,
        a_zp: -20,
        wmu_scale: 0.01,
        wls_scale: 0.004,
        ls_scale: 0.054,
        ls_zp: 42,
        b_real_scale: 0.02,
        eps: 1e-4,
        log_det: matches!(variant, Variant::StudentT { .. }),
    }
    .build()
    .unwrap()
    .0
}

fn calibrate_opts(isotonic: bool, ctrl: bool) -> CalibrateOptions {
    let mut weights = [0f32; 8];
    weights[..3].copy_from_slice(&[0.5, 0.3, 0.2]);
    CalibrateOptions {
        stats: 0,
        taps: 3,
        weights,
        classes: 10,
        cls: if isotonic {
            ClassifierKind::Logits
        } else {
            ClassifierKind::Probs
        },
        cls_scale: 1.0 / 256.0,
        cls_zp: -128,
        alpha: 0.3,
        mapping: if isotonic {
            Mapping::Isotonic { gamma: 0.7 }
        } else {
            Mapping::Logistic {
                beta: [-3.0, 2.5, 1.25],
            }
        },
        tau: 0.6,
        controller: ctrl.then_some(ControllerParams {
            budget: 0.1,
            eta: 0.02,
            kappa: 0.05,
            tau_min: 0.2,
            tau_max: 0.95,
        }),
    }
}

fn all_buffers() -> Vec<(&'static str, Vec<u8>)> {
    let mut v = vec![("project", project_opts().to_flexbuffer())];
    for variant in [
        Variant::Gaussian,
        Variant::StudentT { nu: 3.0 },
        Variant::Huber { delta: 1.345 },
        Variant::LowRank { k: 8 },
    ] {
        v.push(("surprisal", surprisal_opts(variant).to_flexbuffer()));
    }
    for (iso, ctrl) in [(false, false), (true, true), (false, true)] {
        v.push(("calibrate", calibrate_opts(iso, ctrl).to_flexbuffer()));
    }
    v
}

fn parse_any(op: &str, buf: &[u8]) -> Result<(), OpError> {
    match op {
        "project" => ProjectOptions::parse(buf).map(|_| ()),
        "surprisal" => SurprisalOptions::parse(buf).map(|_| ()),
        _ => CalibrateOptions::parse(buf).map(|_| ()),
    }
}

#[test]
fn options_round_trip_writer_to_kernel() {
    let p = project_opts();
    assert_eq!(ProjectOptions::parse(&p.to_flexbuffer()).unwrap(), p);
    for variant in [
        Variant::Gaussian,
        Variant::StudentT { nu: 3.0 },
        Variant::Huber { delta: 1.345 },
        Variant::LowRank { k: 4 },
    ] {
        let s = surprisal_opts(variant);
        assert_eq!(SurprisalOptions::parse(&s.to_flexbuffer()).unwrap(), s);
    }
    for (iso, ctrl) in [(false, false), (true, false), (true, true), (false, true)] {
        let c = calibrate_opts(iso, ctrl);
        assert_eq!(CalibrateOptions::parse(&c.to_flexbuffer()).unwrap(), c);
    }
}

#[test]
fn options_written_are_readable_by_the_flexbuffers_crate() {
    let s = surprisal_opts(Variant::Huber { delta: 1.5 });
    let buf = s.to_flexbuffer();
    let root = flexbuffers::Reader::get_root(buf.as_slice()).unwrap();
    let m = root.as_map();
    assert_eq!(m.idx("c_out").as_i64(), 128);
    assert_eq!(m.idx("variant").as_str(), "huber");
    assert_eq!(m.idx("delta").as_f32(), 1.5);
    assert_eq!(m.idx("mu_mult").as_i32(), s.mu_mult);
    let c = calibrate_opts(false, true);
    let buf = c.to_flexbuffer();
    let root = flexbuffers::Reader::get_root(buf.as_slice()).unwrap();
    let m = root.as_map();
    let beta = m.idx("beta").as_vector();
    assert_eq!(beta.len(), 3);
    assert_eq!(beta.idx(2).as_f32(), 1.25);
    assert!(m.idx("ctrl").as_bool());
}

#[test]
fn options_hand_written_by_another_writer_parse() {
    // Narrow ints, f64 floats, untyped vector, keys in arbitrary insertion order: what a
    // Python/C++ flexbuffers writer may produce.
    let mut b = flexbuffers::Builder::default();
    let mut m = b.start_map();
    m.push("z_shift", -9i8);
    m.push("z_mult", 1_500_000_000i64);
    m.push("r", 16u8);
    m.push("c_in", 300u16);
    m.push("a_zp", -128i16);
    m.push("z_zp", 7i64);
    m.end_map();
    let o = ProjectOptions::parse(b.view()).unwrap();
    assert_eq!(
        o,
        ProjectOptions {
            c_in: 300,
            r: 16,
            a_zp: -128,
            z_zp: 7,
            z_mult: 1_500_000_000,
            z_shift: -9
        }
    );
    assert_eq!(ProjectOptions::parse(&o.to_flexbuffer()).unwrap(), o);

    let mut b = flexbuffers::Builder::default();
    let mut m = b.start_map();
    m.push("taps", 2u8);
    let mut v = m.start_vector("weights");
    v.push(1i8); // an int among floats makes the vector untyped
    v.push(0.5f64);
    v.end_vector();
    m.push("classes", 4i32);
    m.push("cls", "logits");
    m.push("cls_scale", 0.125f64);
    m.push("cls_zp", 0i8);
    let mut v = m.start_vector("beta");
    v.push(-1.0f64);
    v.push(2.0f64);
    v.push(0.0f64);
    v.end_vector();
    m.end_map();
    let o = CalibrateOptions::parse(b.view()).unwrap();
    assert_eq!(o.taps, 2);
    assert_eq!(&o.weights[..2], &[1.0, 0.5]);
    assert_eq!(o.cls, ClassifierKind::Logits);
    assert_eq!(
        o.mapping,
        Mapping::Logistic {
            beta: [-1.0, 2.0, 0.0]
        }
    );
    assert_eq!((o.alpha, o.tau, o.controller), (0.5, 0.5, None));
}

#[test]
fn every_prefix_of_valid_options_is_an_error() {
    for (op, buf) in all_buffers() {
        parse_any(op, &buf).unwrap();
        for n in 0..buf.len() {
            assert!(
                parse_any(op, &buf[..n]).is_err(),
                "{op}: prefix of {n}/{} bytes parsed",
                buf.len()
            );
        }
    }
}

#[test]
fn corrupted_options_never_panic() {
    for (op, buf) in all_buffers() {
        for i in 0..buf.len() {
            for x in [0x01u8, 0x02, 0x10, 0x40, 0x80, 0xff] {
                let mut b = buf.clone();
                b[i] ^= x;
                let _ = parse_any(op, &b);
            }
        }
        // Random garbage of all lengths.
        let mut s = 0x1234_5678u32;
        for len in 0..200 {
            let g: Vec<u8> = (0..len)
                .map(|_| {
                    s = s.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (s >> 16) as u8
                })
                .collect();
            assert!(parse_any(op, &g).is_err() || len > 20);
        }
    }
}

#[test]
fn option_errors_name_the_key() {
    let mut b = flexbuffers::Builder::default();
    let mut m = b.start_map();
    m.push("c_in", 8);
    m.push("r", 4);
    m.push("a_zp", 0);
    m.push("z_zp", 0);
    m.push("z_mult", "oops");
    m.push("z_shift", 0);
    m.end_map();
    let e = ProjectOptions::parse(b.view()).unwrap_err();
    assert!(matches!(
        e,
        OpError::Options { err, .. } if err.key == "z_mult" && matches!(err.problem, FlexProblem::WrongType(_))
    ));
    let msg = e.message();
    assert!(
        msg.as_str()
            .starts_with("SNAP_PROJECT: custom options: key \"z_mult\""),
        "{msg}"
    );
    assert_eq!(*msg.as_bytes_with_nul().last().unwrap(), 0);

    let mut s = surprisal_opts(Variant::Gaussian);
    s.ls_min = 10;
    s.ls_max = 5;
    let e = SurprisalOptions::parse(&s.to_flexbuffer()).unwrap_err();
    assert!(e.message().as_str().contains("ls_min"), "{}", e.message());

    let e = CalibrateOptions::parse(&[]).unwrap_err();
    assert!(
        e.message().as_str().contains("empty or truncated"),
        "{}",
        e.message()
    );
}

#[test]
fn prepare_reports_shape_and_dtype_problems() {
    let s = surprisal_opts(Variant::Gaussian);
    let z = [1, 32];
    let a = [1, 4, 4, 128];
    let w_bad = [64, 32];
    let w = [128, 32];
    let c = [128];
    let l = [256];
    let o = [1];
    let mk = |wmu: &'static [i32]| -> Vec<Option<TensorDesc<'static>>> {
        vec![
            Some(TensorDesc::new(DType::Int8, Box::leak(Box::new(z)))),
            Some(TensorDesc::new(DType::Int8, Box::leak(Box::new(a)))),
            Some(TensorDesc::new(DType::Int8, wmu)),
            Some(TensorDesc::new(DType::Int32, Box::leak(Box::new(c)))),
            Some(TensorDesc::new(DType::Int8, Box::leak(Box::new(w)))),
            Some(TensorDesc::new(DType::Int32, Box::leak(Box::new(c)))),
            Some(TensorDesc::new(DType::Int32, Box::leak(Box::new(l)))),
        ]
    };
    let outs = [TensorDesc::new(DType::Float32, &o)];
    assert!(surprisal::prepare(&s, &mk(Box::leak(Box::new(w))), &outs).is_ok());
    let e = surprisal::prepare(&s, &mk(Box::leak(Box::new(w_bad))), &outs).unwrap_err();
    assert_eq!(
        e.message().as_str(),
        "SNAP_SURPRISAL: input 2 (W_mu) has shape [64,32] but expected [128,32] (c_out × r from options)"
    );
    let mut ins = mk(Box::leak(Box::new(w)));
    ins[1] = Some(TensorDesc::new(DType::Float32, Box::leak(Box::new(a))));
    let e = surprisal::prepare(&s, &ins, &outs).unwrap_err();
    assert_eq!(
        e.message().as_str(),
        "SNAP_SURPRISAL: input 1 (a) is float32 but must be int8"
    );
    let e = surprisal::prepare(&s, &ins[..5], &outs).unwrap_err();
    assert!(e.message().as_str().contains("has 5 inputs but needs 7"));
    let ins = mk(Box::leak(Box::new(w)));
    let e = surprisal::prepare(&s, &ins, &[TensorDesc::new(DType::Float32, &[2])]).unwrap_err();
    assert!(
        e.message().as_str().contains("output 0 (ebar)"),
        "{}",
        e.message()
    );
    // Low-rank needs input 7.
    let lr = surprisal_opts(Variant::LowRank { k: 4 });
    let e = surprisal::prepare(&lr, &ins, &outs).unwrap_err();
    assert!(e.message().as_str().contains("needs 8"), "{}", e.message());

    // Project: c_in mismatch and absent P.
    let p = project_opts();
    let e = project::prepare(
        &p,
        &[
            Some(TensorDesc::new(DType::Int8, &[1, 8, 8, 63])),
            Some(TensorDesc::new(DType::Int8, &[32, 64])),
        ],
        &[TensorDesc::new(DType::Int8, &[1, 32])],
    )
    .unwrap_err();
    assert!(
        e.message()
            .as_str()
            .contains("last dim must equal option c_in"),
        "{}",
        e.message()
    );
    let e = project::prepare(
        &p,
        &[Some(TensorDesc::new(DType::Int8, &[1, 8, 8, 64])), None],
        &[TensorDesc::new(DType::Int8, &[1, 32])],
    )
    .unwrap_err();
    assert_eq!(
        e.message().as_str(),
        "SNAP_PROJECT: input 1 (P) is required but absent (it may be omitted only when r == c_in)"
    );
    // Project: eval with short buffers errors instead of panicking.
    let plan = project::prepare(
        &p,
        &[
            Some(TensorDesc::new(DType::Int8, &[1, 8, 8, 64])),
            Some(TensorDesc::new(DType::Int8, &[32, 64])),
            None,
        ],
        &[TensorDesc::new(DType::Int8, &[1, 32])],
    )
    .unwrap();
    let mut z = [0i8; 32];
    let mut scratch = [0i8; 8];
    let e = project::eval::<crate::PortableDot>(
        &p,
        &plan,
        &[0; 8 * 8 * 64],
        &[0; 32 * 64],
        None,
        &mut z,
        &mut scratch,
    )
    .unwrap_err();
    assert!(
        e.message()
            .as_str()
            .contains("scratch holds 8 elements but 64"),
        "{}",
        e.message()
    );

    // Calibrate: classifier classes mismatch; isotonic table not monotone at eval.
    let c = calibrate_opts(true, false);
    let e1 = [2];
    let ins = [
        Some(TensorDesc::new(DType::Float32, &e1)),
        Some(TensorDesc::new(DType::Float32, &e1)),
        Some(TensorDesc::new(DType::Float32, &e1)),
        Some(TensorDesc::new(DType::Int8, &[2, 9])),
        Some(TensorDesc::new(DType::Float32, &[2, 3])),
    ];
    let outs = [TensorDesc::new(DType::Float32, &e1)];
    let e = calibrate::prepare(&c, &ins, &outs).unwrap_err();
    assert!(
        e.message()
            .as_str()
            .contains("input 3 (classifier) has shape [2,9]"),
        "{}",
        e.message()
    );
    let mut ins = ins;
    ins[3] = Some(TensorDesc::new(DType::Int8, &[2, 10]));
    let plan = calibrate::prepare(&c, &ins, &outs).unwrap();
    let eb = [0.5f32, 1.0];
    let mut u = [0f32; 2];
    let e = calibrate::eval(
        &c,
        &plan,
        &[&eb, &eb, &eb],
        calibrate::ClassifierData::I8(&[0; 20]),
        Some(&[0.0, 1.0, 2.0, 0.5, 0.4, 0.9]),
        None,
        calibrate::CalibrateOutputs {
            u: &mut u,
            s: None,
            abstain: None,
            u_q: None,
        },
    )
    .unwrap_err();
    assert!(
        e.message()
            .as_str()
            .contains("values must be in [0,1] and non-decreasing"),
        "{}",
        e.message()
    );
}

#[test]
fn eval_with_garbage_plans_and_options_errors_instead_of_panicking() {
    use crate::tensor::ActShape;
    use crate::PortableDot;
    let huge = ActShape {
        batch: usize::MAX / 3,
        spatial: usize::MAX / 5,
        channels: 7,
    };
    let p = project_opts();
    let mut z = [0i8; 32];
    let mut scratch = [0i8; 64];
    assert!(project::eval::<PortableDot>(
        &p,
        &project::ProjectPlan {
            act: huge,
            has_bias: false,
            identity: false,
            stats: false,
        },
        &[0; 64],
        &[0; 32 * 64],
        None,
        &mut z,
        &mut scratch
    )
    .is_err());
    let mut bad = p;
    bad.z_shift = 99;
    let plan = project::ProjectPlan {
        act: ActShape {
            batch: 1,
            spatial: 1,
            channels: 64,
        },
        has_bias: false,
        identity: false,
        stats: false,
    };
    assert!(project::eval::<PortableDot>(
        &bad,
        &plan,
        &[0; 64],
        &[0; 32 * 64],
        None,
        &mut z,
        &mut scratch
    )
    .is_err());

    let mut s = surprisal_opts(Variant::Gaussian);
    s.ls_min = -1000;
    let lut = [0i32; 256];
    let inputs = surprisal::SurprisalInputs {
        z: &[0; 32],
        a: &[0; 128],
        w_mu: &[0; 128 * 32],
        b_mu: &[0; 128],
        w_ls: &[0; 128 * 32],
        b_ls: &[0; 128],
        lut: &lut,
        b_lowrank: None,
    };
    let mut out = [0f32; 1];
    let splan = surprisal::SurprisalPlan {
        act: ActShape {
            batch: 1,
            spatial: 1,
            channels: 128,
        },
    };
    assert!(surprisal::eval::<PortableDot>(&s, &splan, &inputs, &mut out).is_err());
    let s = surprisal_opts(Variant::Gaussian);
    assert!(surprisal::eval::<PortableDot>(&s, &splan, &inputs, &mut out).is_ok());
    assert!(surprisal::eval::<PortableDot>(
        &s,
        &surprisal::SurprisalPlan { act: huge },
        &inputs,
        &mut out
    )
    .is_err());
    // Low-rank without B.
    let lr = surprisal_opts(Variant::LowRank { k: 2 });
    let e = surprisal::eval::<PortableDot>(&lr, &splan, &inputs, &mut out).unwrap_err();
    assert!(e.message().as_str().contains("input 7 (B)") || e.message().as_str().contains("(B)"));

    let c = calibrate_opts(true, false);
    let cplan = calibrate::CalibratePlan {
        batch: usize::MAX / 2,
        cls_dtype: DType::Int8,
        table_len: usize::MAX / 2,
        num_outputs: 1,
    };
    let eb = [0.0f32; 4];
    let mut u = [0f32; 4];
    assert!(calibrate::eval(
        &c,
        &cplan,
        &[&eb, &eb, &eb],
        calibrate::ClassifierData::I8(&[0; 40]),
        Some(&[0.0; 8]),
        None,
        calibrate::CalibrateOutputs {
            u: &mut u,
            s: None,
            abstain: None,
            u_q: None
        }
    )
    .is_err());
    assert!(calibrate::isotonic_lookup(&[], 5, 1.0).is_nan());
}
