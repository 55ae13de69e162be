//! Property tests of the three ops' prepare-time checks (`prepare`, and the option range
//! checks `validate` it runs first) on random options and random tensor descriptors: a
//! consistent set of tensors for valid options is accepted, invalid options are always an
//! `Err`, and no combination of dtypes, ranks and dimensions (zero, negative, huge) panics.
use proptest::prelude::*;
use snapuq_ops::calibrate::{self, CalibrateOptions, ClassifierKind, Mapping};
use snapuq_ops::project::{self, ProjectOptions};
use snapuq_ops::surprisal::{self, SurprisalQuant, Variant};
use snapuq_ops::{limits, DType, TensorDesc};

fn dtype() -> impl Strategy<Value = DType> {
    prop_oneof![
        4 => Just(DType::Int8),
        2 => Just(DType::Int32),
        2 => Just(DType::Float32),
        1 => Just(DType::UInt8),
        1 => Just(DType::Int16),
        1 => Just(DType::Bool),
        1 => (-5i32..20).prop_map(DType::Other),
    ]
}

fn dim() -> impl Strategy<Value = i32> {
    prop_oneof![
        6 => 1i32..20,
        1 => Just(0),
        1 => Just(-1),
        1 => Just(i32::MAX),
        1 => Just(1 << 16),
    ]
}

/// A random tensor descriptor (rank 0..=6), or absent.
fn desc() -> impl Strategy<Value = Option<(DType, Vec<i32>)>> {
    proptest::option::weighted(0.9, (dtype(), proptest::collection::vec(dim(), 0..7)))
}

fn descs(n: std::ops::Range<usize>) -> impl Strategy<Value = Vec<Option<(DType, Vec<i32>)>>> {
    proptest::collection::vec(desc(), n)
}

fn as_descs(v: &[Option<(DType, Vec<i32>)>]) -> Vec<Option<TensorDesc<'_>>> {
    v.iter()
        .map(|d| d.as_ref().map(|(t, dims)| TensorDesc::new(*t, dims)))
        .collect()
}

fn outs(v: &[(DType, Vec<i32>)]) -> Vec<TensorDesc<'_>> {
    v.iter().map(|(t, d)| TensorDesc::new(*t, d)).collect()
}

fn project_options() -> impl Strategy<Value = ProjectOptions> {
    (
        prop_oneof![1usize..40, Just(0), Just(limits::MAX_CHANNELS + 1)],
        prop_oneof![1usize..40, Just(0), Just(limits::MAX_RANK + 1)],
        prop_oneof![-128i32..=127, Just(300), Just(i32::MIN)],
        prop_oneof![-128i32..=127, Just(-129)],
        prop_oneof![0i32..i32::MAX, Just(-1)],
        prop_oneof![-31i32..=30, Just(31), Just(-40)],
    )
        .prop_map(|(c_in, r, a_zp, z_zp, z_mult, z_shift)| ProjectOptions {
            c_in,
            r,
            a_zp,
            z_zp,
            z_mult,
            z_shift,
        })
}

fn surprisal_quant() -> impl Strategy<Value = SurprisalQuant> {
    (
        1usize..24,
        1usize..16,
        prop_oneof![
            Just(Variant::Gaussian),
            (1u32..4).prop_map(|k| Variant::LowRank { k: k as _ }),
        ],
        0.001f32..1.0,
        -20i32..20,
        0.001f32..1.0,
        any::<bool>(),
    )
        .prop_map(
            |(c, r, variant, z_scale, zp, a_scale, log_det)| SurprisalQuant {
                c_out: c,
                r,
                variant,
                z_scale,
                z_zp: zp,
                a_scale,
                a_zp: -zp,
                wmu_scale: 0.01,
                wls_scale: 0.01,
                ls_scale: 0.06,
                ls_zp: 0,
                b_real_scale: 0.02,
                eps: 1e-4,
                log_det,
            },
        )
}

fn calibrate_options() -> impl Strategy<Value = CalibrateOptions> {
    (
        prop_oneof![
            1usize..=limits::MAX_TAPS,
            Just(0),
            Just(limits::MAX_TAPS + 1)
        ],
        prop_oneof![2usize..12, Just(0), Just(1)],
        any::<bool>(),
        prop_oneof![0.0f32..=1.0, Just(f32::NAN), Just(1.5)],
        prop_oneof![0.0f32..=1.0, Just(f32::INFINITY), Just(-0.1)],
        -3.0f32..3.0,
    )
        .prop_map(|(taps, classes, probs, alpha, tau, b)| {
            let mut weights = [0f32; limits::MAX_TAPS];
            for (i, w) in weights.iter_mut().enumerate() {
                *w = 1.0 / (1 + i) as f32;
            }
            CalibrateOptions {
                stats: 0,
                taps,
                weights,
                classes,
                cls: if probs {
                    ClassifierKind::Probs
                } else {
                    ClassifierKind::Logits
                },
                cls_scale: 1.0 / 256.0,
                cls_zp: -128,
                alpha,
                mapping: Mapping::Logistic {
                    beta: [b, 1.0, 2.0],
                },
                tau,
                controller: None,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    /// Random options and descriptors: never a panic; invalid options always an Err.
    #[test]
    fn project_random(o in project_options(), ins in descs(0..5),
                      out in proptest::collection::vec((dtype(), proptest::collection::vec(dim(), 0..7)), 0..3)) {
        let r = project::prepare(&o, &as_descs(&ins), &outs(&out));
        if o.validate().is_err() {
            prop_assert!(r.is_err());
        }
    }

    /// Valid options with the tensors they describe are accepted; changing one dimension of
    /// one tensor is refused.
    #[test]
    fn project_consistent(c in 1usize..40, r in 1usize..40, n in 1i32..4, h in 1i32..5,
                          bias: bool, bump in proptest::option::of((0usize..3, 1i32..3))) {
        let o = ProjectOptions { c_in: c, r, a_zp: 3, z_zp: -2, z_mult: 1 << 30, z_shift: -3 };
        let mut dims = [vec![n, h, h, c as i32], vec![r as i32, c as i32], vec![r as i32]];
        let mut z = vec![n, r as i32];
        if let Some((i, d)) = bump {
            if i < 2 { let last = dims[i].len() - 1; dims[i][last] += d; } else { z[1] += d; }
        }
        let ins = [
            Some(TensorDesc::new(DType::Int8, &dims[0])),
            Some(TensorDesc::new(DType::Int8, &dims[1])),
            bias.then(|| TensorDesc::new(DType::Int32, &dims[2])),
        ];
        let res = project::prepare(&o, &ins, &[TensorDesc::new(DType::Int8, &z)]);
        if bump.is_some() {
            prop_assert!(res.is_err(), "accepted a changed dimension {bump:?}");
        } else {
            prop_assert!(res.is_ok(), "{res:?}");
        }
    }

    #[test]
    fn surprisal_random(q in surprisal_quant(), ins in descs(0..10),
                        out in proptest::collection::vec((dtype(), proptest::collection::vec(dim(), 0..7)), 0..3),
                        field in 0usize..6, value in prop_oneof![Just(-1i32), Just(0), Just(1 << 20), Just(i32::MIN)]) {
        let Some((mut o, _lut)) = q.build() else { return Ok(()); };
        // Corrupt one option field (or none).
        match field {
            0 => o.c_out = value.max(0) as usize,
            1 => o.r = value.max(0) as usize,
            2 => o.mu_shift = value,
            3 => o.ls_min = value,
            4 => o.lut_frac = value as u32,
            _ => {}
        }
        let r = surprisal::prepare(&o, &as_descs(&ins), &outs(&out));
        if o.validate().is_err() {
            prop_assert!(r.is_err());
        }
    }

    #[test]
    fn surprisal_consistent(q in surprisal_quant(), n in 1i32..4, h in 1i32..4,
                            bump in proptest::option::of(0usize..7)) {
        let Some((o, _)) = q.build() else { return Ok(()); };
        let (c, r) = (o.c_out as i32, o.r as i32);
        let mut shapes: Vec<(DType, Vec<i32>)> = vec![
            (DType::Int8, vec![n, r]),
            (DType::Int8, vec![n, h, h, c]),
            (DType::Int8, vec![c, r]),
            (DType::Int32, vec![c]),
            (DType::Int8, vec![c, r]),
            (DType::Int32, vec![c]),
            (DType::Int32, vec![256]),
        ];
        if let Variant::LowRank { k } = o.variant {
            shapes.push((DType::Int8, vec![c, k as i32]));
        }
        if let Some(i) = bump {
            let last = shapes[i].1.len() - 1;
            shapes[i].1[last] += 1;
        }
        let ins: Vec<Option<TensorDesc<'_>>> =
            shapes.iter().map(|(t, d)| Some(TensorDesc::new(*t, d))).collect();
        let res = surprisal::prepare(&o, &ins, &[TensorDesc::new(DType::Float32, &[n])]);
        if bump.is_some() {
            prop_assert!(res.is_err(), "accepted input {bump:?} with a changed dimension");
        } else {
            prop_assert!(res.is_ok(), "{res:?}");
        }
    }

    #[test]
    fn calibrate_random(o in calibrate_options(), ins in descs(0..8),
                        out in proptest::collection::vec((dtype(), proptest::collection::vec(dim(), 0..7)), 0..6)) {
        let r = calibrate::prepare(&o, &as_descs(&ins), &outs(&out));
        if o.validate().is_err() {
            prop_assert!(r.is_err());
        }
    }

    #[test]
    fn calibrate_consistent(taps in 1usize..=4, classes in 2i32..12, n in 1i32..5, outputs in 1usize..=3,
                            bump in proptest::option::of(0usize..6)) {
        let mut weights = [0f32; limits::MAX_TAPS];
        weights[..taps].fill(1.0 / taps as f32);
        let o = CalibrateOptions {
            stats: 0,
            taps,
            weights,
            classes: classes as usize,
            cls: ClassifierKind::Probs,
            cls_scale: 1.0 / 256.0,
            cls_zp: -128,
            alpha: 0.5,
            mapping: Mapping::Logistic { beta: [-2.0, 1.5, 2.0] },
            tau: 0.5,
            controller: None,
        };
        let mut shapes: Vec<(DType, Vec<i32>)> =
            (0..taps).map(|_| (DType::Float32, vec![n])).collect();
        shapes.push((DType::Int8, vec![n, classes]));
        let mut out_shapes: Vec<(DType, Vec<i32>)> = [DType::Float32, DType::Float32, DType::UInt8]
            .into_iter()
            .take(outputs)
            .map(|t| (t, vec![n]))
            .collect();
        if let Some(i) = bump {
            if i < shapes.len() {
                let last = shapes[i].1.len() - 1;
                shapes[i].1[last] += 1;
            } else {
                out_shapes[0].1[0] += 1;
            }
        }
        let ins: Vec<Option<TensorDesc<'_>>> =
            shapes.iter().map(|(t, d)| Some(TensorDesc::new(*t, d))).collect();
        let res = calibrate::prepare(&o, &ins, &outs(&out_shapes));
        if bump.is_some() {
            prop_assert!(res.is_err(), "accepted a changed dimension {bump:?}");
        } else {
            prop_assert!(res.is_ok(), "{res:?}");
        }
    }
}
