//! Each SIMD kernel against the portable one on random shapes, zero points, multipliers,
//! biases and activation ranges (proptest). Both paths run in this process: the kernels are
//! pinned with `force_isa` under a lock (the choice is process-wide). On a CPU without the
//! SIMD instruction set both runs take the portable path and the test checks nothing new; CI
//! runs it on an AVX2 machine, and `simd_path_is_tested_here` says which one ran.
use proptest::prelude::*;
use snapuq_exec::kernels::simd::{best_isa, force_isa, Isa};
use snapuq_exec::kernels::{add, conv, depthwise, fully_connected, pooling, PerChannel};
use snapuq_exec::quant::{quantize_multiplier, Activation};
use std::sync::Mutex;

static ISA_LOCK: Mutex<()> = Mutex::new(());

/// Runs `f` with the portable kernels, then with each SIMD level this CPU has (AVX2, then
/// AVX-512 VNNI where present); returns the portable result and the others.
fn both<T>(mut f: impl FnMut() -> T) -> (T, Vec<T>) {
    let _guard = ISA_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    force_isa(Some(Isa::Portable));
    let a = f();
    let mut simd = vec![];
    for want in [Isa::Avx2, Isa::Avx512Vnni] {
        if force_isa(Some(want)) == want {
            simd.push(f());
        }
    }
    force_isa(None);
    (a, simd)
}

/// Per-channel requantization constants, owned.
#[derive(Clone, Debug)]
struct Chan {
    multiplier: Vec<i32>,
    shift: Vec<i8>,
    bias: Vec<i32>,
    filter_sum: Vec<i32>,
}

impl Chan {
    fn pc(&self) -> PerChannel<'_> {
        PerChannel {
            multiplier: &self.multiplier,
            shift: &self.shift,
            bias: &self.bias,
            filter_sum: &self.filter_sum,
        }
    }
}

/// Real multipliers from 2^-24 to 2^4 (TFLM's usual range is below 1; a few above exercise
/// the left shift), as `quantize_multiplier` makes them.
fn multiplier() -> impl Strategy<Value = (i32, i8)> {
    (-24.0f64..4.0).prop_map(|e| {
        let m = quantize_multiplier(2f64.powf(e));
        (m.multiplier, m.shift as i8)
    })
}

fn chans(n: usize) -> impl Strategy<Value = (Vec<(i32, i8)>, Vec<i32>)> {
    (
        prop::collection::vec(multiplier(), n),
        prop::collection::vec(-(1i32 << 20)..(1 << 20), n),
    )
}

fn act_range() -> impl Strategy<Value = (i32, i32)> {
    (-128i32..=127, -128i32..=127).prop_map(|(a, b)| (a.min(b), a.max(b)))
}

fn bytes(n: usize) -> impl Strategy<Value = Vec<i8>> {
    prop::collection::vec(any::<i8>(), n)
}

#[derive(Clone, Debug)]
struct ConvCase {
    p: conv::ConvParams,
    input: Vec<i8>,
    filter: Vec<i8>,
    chan: Chan,
}

fn conv_case() -> impl Strategy<Value = ConvCase> {
    (
        (1usize..3, 1usize..10, 1usize..10, 1usize..40, 1usize..40),
        (1usize..5, 1usize..5, 1usize..4, 1usize..3, 0usize..3),
        (-128i32..=127, -128i32..=127, act_range()),
    )
        .prop_filter_map(
            "window larger than the padded input",
            |((batches, in_h, in_w, in_c, out_c), (k_h, k_w, stride, dil, pad), (zi, zo, act))| {
                let eff_h = (k_h - 1) * dil + 1;
                let eff_w = (k_w - 1) * dil + 1;
                let (pad_h, pad_w) = (pad.min(k_h - 1), pad.min(k_w - 1));
                if in_h + 2 * pad_h < eff_h || in_w + 2 * pad_w < eff_w {
                    return None;
                }
                Some(conv::ConvParams {
                    batches,
                    in_h,
                    in_w,
                    in_c,
                    out_h: (in_h + 2 * pad_h - eff_h) / stride + 1,
                    out_w: (in_w + 2 * pad_w - eff_w) / stride + 1,
                    out_c,
                    k_h,
                    k_w,
                    filter_in_c: in_c,
                    stride_h: stride,
                    stride_w: stride,
                    dilation_h: dil,
                    dilation_w: dil,
                    pad_h,
                    pad_w,
                    input_offset: -zi,
                    output_offset: zo,
                    act_min: act.0,
                    act_max: act.1,
                })
            },
        )
        .prop_flat_map(|p| {
            let (ni, nf, _) = p.sizes();
            (Just(p), bytes(ni), bytes(nf), chans(p.out_c))
        })
        .prop_map(|(p, input, filter, (m, bias))| {
            let per = filter.len() / p.out_c;
            let filter_sum = filter
                .chunks(per)
                .map(|c| c.iter().map(|&v| i32::from(v)).sum())
                .collect();
            ConvCase {
                p,
                input,
                filter,
                chan: Chan {
                    multiplier: m.iter().map(|v| v.0).collect(),
                    shift: m.iter().map(|v| v.1).collect(),
                    bias,
                    filter_sum,
                },
            }
        })
}

#[derive(Clone, Debug)]
struct DwCase {
    p: depthwise::DepthwiseParams,
    input: Vec<i8>,
    filter: Vec<i8>,
    chan: Chan,
}

fn dw_case() -> impl Strategy<Value = DwCase> {
    (
        (1usize..3, 1usize..9, 1usize..9, 1usize..70, 1usize..3),
        (1usize..5, 1usize..5, 1usize..3, 1usize..3, 0usize..3),
        (-128i32..=127, -128i32..=127, act_range()),
    )
        .prop_filter_map(
            "window larger than the padded input",
            |((batches, in_h, in_w, in_c, mult), (k_h, k_w, stride, dil, pad), (zi, zo, act))| {
                let eff_h = (k_h - 1) * dil + 1;
                let eff_w = (k_w - 1) * dil + 1;
                let (pad_h, pad_w) = (pad.min(k_h - 1), pad.min(k_w - 1));
                if in_h + 2 * pad_h < eff_h || in_w + 2 * pad_w < eff_w {
                    return None;
                }
                Some(depthwise::DepthwiseParams {
                    batches,
                    in_h,
                    in_w,
                    in_c,
                    out_h: (in_h + 2 * pad_h - eff_h) / stride + 1,
                    out_w: (in_w + 2 * pad_w - eff_w) / stride + 1,
                    depth_multiplier: mult,
                    k_h,
                    k_w,
                    stride_h: stride,
                    stride_w: stride,
                    dilation_h: dil,
                    dilation_w: dil,
                    pad_h,
                    pad_w,
                    input_offset: -zi,
                    output_offset: zo,
                    act_min: act.0,
                    act_max: act.1,
                })
            },
        )
        .prop_flat_map(|p| {
            let (ni, nf, _) = p.sizes();
            (Just(p), bytes(ni), bytes(nf), chans(p.out_c()))
        })
        .prop_map(|(p, input, filter, (m, bias))| DwCase {
            chan: Chan {
                multiplier: m.iter().map(|v| v.0).collect(),
                shift: m.iter().map(|v| v.1).collect(),
                bias,
                filter_sum: vec![0; p.out_c()],
            },
            p,
            input,
            filter,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn conv_simd_equals_portable(c in conv_case()) {
        let (_, _, no) = c.p.sizes();
        let pc = c.chan.pc();
        // The narrow patch path (the MCU's) is the reference; it has no SIMD variant.
        let mut scratch = vec![0i16; conv::patch_len(&c.p)];
        let mut reference = vec![0i8; no];
        conv::eval(&c.p, &pc, &c.input, &c.filter, None, &mut scratch, &mut reference);
        let mut wide = vec![0i16; conv::widened_len(&c.p)];
        conv::widen_filter(&c.p, &c.filter, &mut wide);
        let (portable, simd) = both(|| {
            let mut out = vec![0i8; no];
            conv::eval(&c.p, &pc, &c.input, &c.filter, Some(&wide), &mut [], &mut out);
            out
        });
        prop_assert_eq!(&portable, &reference);
        for s in &simd {
            prop_assert_eq!(s, &reference);
        }
    }

    #[test]
    fn depthwise_simd_equals_portable(c in dw_case()) {
        let (_, _, no) = c.p.sizes();
        let pc = c.chan.pc();
        let (portable, simd) = both(|| {
            let mut out = vec![0i8; no];
            depthwise::eval(&c.p, &pc, &c.input, &c.filter, &mut out);
            out
        });
        for s in &simd {
            prop_assert_eq!(s, &portable);
        }
    }

    #[test]
    fn fully_connected_simd_equals_portable(
        (batches, depth, units) in (1usize..4, 1usize..300, 1usize..40),
        (zi, zw, zo, act) in (-128i32..=127, -20i32..=20, -128i32..=127, act_range()),
        seed in any::<u64>(),
        (m, bias) in chans(40),
    ) {
        let input: Vec<i8> = (0..batches * depth).map(|i| (seed.wrapping_mul(i as u64 + 7) >> 40) as i8).collect();
        let filter: Vec<i8> = (0..units * depth).map(|i| (seed.rotate_left(17).wrapping_mul(i as u64 + 3) >> 44) as i8).collect();
        let chan = Chan {
            multiplier: m.iter().map(|v| v.0).take(units).collect(),
            shift: m.iter().map(|v| v.1).take(units).collect(),
            bias: bias[..units].to_vec(),
            filter_sum: filter.chunks(depth).map(|c| c.iter().map(|&v| i32::from(v)).sum()).collect(),
        };
        let p = fully_connected::FullyConnectedParams {
            batches, depth, units,
            input_offset: -zi, filter_offset: -zw, output_offset: zo,
            act_min: act.0, act_max: act.1,
        };
        let pc = chan.pc();
        let (portable, simd) = both(|| {
            let mut out = vec![0i8; batches * units];
            fully_connected::eval(&p, &pc, &input, &filter, &mut out);
            out
        });
        for s in &simd {
            prop_assert_eq!(s, &portable);
        }
    }

    #[test]
    fn add_simd_equals_portable(
        len in prop_oneof![0usize..64, 900usize..1200],
        (s1, s2, so) in (1e-3f32..1.0, 1e-3f32..1.0, 1e-3f32..1.0),
        (z1, z2, zo) in (-128i32..=127, -128i32..=127, -128i32..=127),
        relu in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let a: Vec<i8> = (0..len).map(|i| (seed.wrapping_mul(2 * i as u64 + 1) >> 33) as i8).collect();
        let b: Vec<i8> = (0..len).map(|i| (seed.rotate_left(29).wrapping_mul(2 * i as u64 + 5) >> 37) as i8).collect();
        let act = if relu { Activation::Relu } else { Activation::None };
        let p = add::prepare(s1, z1, s2, z2, so, zo, act);
        let (portable, simd) = both(|| {
            let mut out = vec![0i8; len];
            add::eval(&p, &a, &b, &mut out);
            out
        });
        for s in &simd {
            prop_assert_eq!(s, &portable);
        }
    }

    #[test]
    fn average_pool_simd_equals_portable(
        (batches, in_h, in_w, channels) in (1usize..3, 1usize..12, 1usize..12, 1usize..100),
        (f_h, f_w, stride, pad) in (1usize..5, 1usize..5, 1usize..3, 0usize..2),
        act in act_range(),
        seed in any::<u64>(),
    ) {
        let (pad_h, pad_w) = (pad.min(f_h - 1), pad.min(f_w - 1));
        prop_assume!(in_h + 2 * pad_h >= f_h && in_w + 2 * pad_w >= f_w);
        let p = pooling::PoolParams {
            batches, in_h, in_w, channels,
            out_h: (in_h + 2 * pad_h - f_h) / stride + 1,
            out_w: (in_w + 2 * pad_w - f_w) / stride + 1,
            filter_h: f_h, filter_w: f_w, stride_h: stride, stride_w: stride,
            pad_h, pad_w, act_min: act.0, act_max: act.1,
        };
        let input: Vec<i8> = (0..batches * in_h * in_w * channels).map(|i| (seed.wrapping_mul(i as u64 + 1) >> 50) as i8).collect();
        let n_out = batches * p.out_h * p.out_w * channels;
        let (portable, simd) = both(|| {
            let mut out = vec![0i8; n_out];
            let ok = pooling::eval_average(&p, &input, &mut out);
            (ok, out)
        });
        for s in &simd {
            prop_assert_eq!(s, &portable);
        }
    }
}

#[test]
fn simd_path_is_tested_here() {
    let best = best_isa();
    eprintln!("SIMD equivalence ran portable vs AVX2 and {}", best.name());
    // Under CI on x86-64 the SIMD path must actually be exercised (CI machines have AVX2).
    if std::env::var("CI").is_ok_and(|v| v == "true") && cfg!(target_arch = "x86_64") {
        assert!(best.has_avx2(), "CI expects an AVX2 machine");
    }
}
