use super::*;
use crate::heads::tests::Synthetic;
use crate::heads::{fit_tap, HeadConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Int8 activations `[n, spatial, c]` whose spatial mean is `v` (per-position jitter).
fn to_codes(v: &[f32], c: usize, spatial: usize, q: ActQuant, rng: &mut ChaCha8Rng) -> Vec<i8> {
    let mut out = Vec::with_capacity(v.len() * spatial);
    for row in v.chunks_exact(c) {
        let jitter: Vec<f32> = (0..spatial * c)
            .map(|_| rng.gen_range(-1.0f32..1.0))
            .collect();
        for s in 0..spatial {
            for (ch, &x) in row.iter().enumerate() {
                // Zero-mean jitter of up to ±1 LSB per position.
                let j = if spatial > 1 { jitter[s * c + ch] } else { 0.0 };
                let code = (x / q.scale).round() + q.zero_point as f32 + j.round();
                out.push(code.clamp(-128.0, 127.0) as i8);
            }
        }
    }
    out
}

fn range_quant(v: &[f32]) -> ActQuant {
    let lo = v.iter().copied().fold(0.0f32, f32::min) as f64 * 1.05;
    let hi = v.iter().copied().fold(0.0f32, f32::max) as f64 * 1.05;
    let (scale, zero_point) = affine_params(lo, hi);
    ActQuant { scale, zero_point }
}

type Setup = (TapHeads, QuantizedTap, Vec<i8>, Vec<i8>, Vec<i8>, Vec<i8>);

fn setup(spatial: usize) -> Setup {
    setup_rank(spatial, 16)
}

fn setup_rank(spatial: usize, rank: usize) -> Setup {
    let syn = Synthetic::new(48, 32, 12, 0.2, 41);
    let train = syn.sample(3000, 0.0, 42);
    let test = syn.sample(1000, 0.0, 43);
    let shifted = syn.sample(300, 1.0, 44);
    let (qx, qy) = (range_quant(&train.x), range_quant(&train.y));
    let mut rng = ChaCha8Rng::seed_from_u64(45);
    let tx = to_codes(&train.x, 48, spatial, qx, &mut rng);
    let ty = to_codes(&train.y, 32, spatial, qy, &mut rng);
    let x = pooled_previous(&tx, spatial, 48, qx);
    let y = pooled_realized(&ty, spatial, 32, qy);
    let cfg = HeadConfig {
        rank,
        prev_quant: Some((qx.scale, qx.zero_point)),
        ..HeadConfig::default()
    };
    let (heads, diag) = fit_tap(&x, &y, 48, 32, &cfg).unwrap();
    eprintln!("fit on int8 data: {diag:?}");
    let q = quantize_tap(&heads, qx, qy, &x, &QuantConfig::default()).unwrap();
    let hx = to_codes(&test.x, 48, spatial, qx, &mut rng);
    let hy = to_codes(&test.y, 32, spatial, qy, &mut rng);
    let sx = to_codes(&shifted.x, 48, spatial, qx, &mut rng);
    let sy = to_codes(&shifted.y, 32, spatial, qy, &mut rng);
    (heads, q, hx, hy, sx, sy)
}

#[test]
fn int8_heads_reproduce_float_ebar() {
    for spatial in [1usize, 4] {
        let (heads, q, hx, hy, sx, sy) = setup(spatial);
        // Structural facts of the contract.
        assert_eq!(q.p.len(), 16 * 48);
        assert_eq!(q.lut.len(), 256);
        assert!(lut::is_monotone(&q.lut));
        assert!(q.p.iter().any(|&v| v == 127 || v == -127));
        assert!((q.logvar.scale - 0.054_18).abs() < 1e-4 && q.logvar.zero_point == 42);
        let po = q.project_options().unwrap();
        assert_eq!(ProjectOptions::parse(&po.to_flexbuffer()).unwrap(), po);
        let so = q.surprisal_options().unwrap();
        assert_eq!(SurprisalOptions::parse(&so.to_flexbuffer()).unwrap(), so);

        let err = quant_error(&heads, &q, &hx, spatial, &hy, spatial).unwrap();
        eprintln!("spatial {spatial}: held-out ID int8 vs float {err:?}");
        assert!(err.mean_rel < 0.01, "{err:?}");
        assert!(err.max_rel < 0.03, "{err:?}");
        assert!((err.mean_ebar_int8 - 1.0).abs() < 0.05, "{err:?}");
        let errs = quant_error(&heads, &q, &sx, spatial, &sy, spatial).unwrap();
        eprintln!("spatial {spatial}: shifted int8 vs float {errs:?}");
        assert!(errs.mean_rel < 0.01 && errs.max_rel < 0.03, "{errs:?}");
        assert!(errs.mean_ebar_int8 > 5.0 * err.mean_ebar_int8);
        let (cp, cs) = q.cost(spatial, spatial).unwrap();
        assert_eq!(cp.macs, (spatial * 48 + 16 * 48) as u64);
        assert_eq!(cs.macs, (spatial * 32 + 2 * 16 * 32) as u64);
    }
}

/// r = C_in: no P and no bias are stored; z is the pooled previous activation on its own grid,
/// and the int8 kernels still reproduce the float heads.
#[test]
fn full_rank_tap_uses_the_identity_projector() {
    for spatial in [1usize, 4] {
        let (heads, q, hx, hy, sx, sy) = setup_rank(spatial, 48);
        assert!(heads.is_identity() && heads.p.is_empty() && heads.p_bias.is_empty());
        assert!(q.is_identity() && q.p.is_empty() && q.p_bias.is_empty());
        assert_eq!(
            (q.z.scale, q.z.zero_point),
            (q.prev.scale, q.prev.zero_point)
        );
        let po = q.project_options().unwrap();
        // a_scale · 1 / z_scale = 1 exactly: z is GAP(a_{ℓ-1}) code for code.
        assert_eq!(
            (po.z_mult, po.z_shift),
            snapuq_ops::quant::quantize_multiplier(1.0).unwrap()
        );
        let err = quant_error(&heads, &q, &hx, spatial, &hy, spatial).unwrap();
        eprintln!("identity, spatial {spatial}: held-out ID int8 vs float {err:?}");
        assert!(err.mean_rel < 0.02 && err.max_rel < 0.06, "{err:?}");
        assert!((err.mean_ebar_int8 - 1.0).abs() < 0.1, "{err:?}");
        let errs = quant_error(&heads, &q, &sx, spatial, &sy, spatial).unwrap();
        assert!(errs.mean_ebar_int8 > 5.0 * err.mean_ebar_int8, "{errs:?}");
        let (cp, cs) = q.cost(spatial, spatial).unwrap();
        assert_eq!(cp.macs, (spatial * 48 + 48) as u64);
        assert_eq!(cp.param_bytes, 0);
        assert_eq!(cs.macs, (spatial * 32 + 2 * 48 * 32) as u64);
    }
}

#[test]
fn bad_quantization_is_an_error() {
    let (heads, ..) = setup(1);
    let x = vec![0.5f32; 48 * 4];
    let good = ActQuant {
        scale: 0.1,
        zero_point: 0,
    };
    let bad = ActQuant {
        scale: 0.0,
        zero_point: 0,
    };
    assert!(quantize_tap(&heads, bad, good, &x, &QuantConfig::default()).is_err());
    let bad_zp = ActQuant {
        scale: 0.1,
        zero_point: 300,
    };
    assert!(quantize_tap(&heads, good, bad_zp, &x, &QuantConfig::default()).is_err());
    assert!(quantize_tap(&heads, good, good, &x[..47], &QuantConfig::default()).is_err());
}
