use super::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// Isotonic regression by the min–max formula: f_i = max_{j≤i} min_{k≥i} avg_w(y_j..y_k).
fn brute_isotonic(y: &[f64], w: &[f64]) -> Vec<f64> {
    let n = y.len();
    let avg = |j: usize, k: usize| {
        let (mut s, mut ws) = (0.0, 0.0);
        for i in j..=k {
            s += y[i] * w[i];
            ws += w[i];
        }
        s / ws
    };
    (0..n)
        .map(|i| {
            (0..=i)
                .map(|j| (i..n).map(|k| avg(j, k)).fold(f64::INFINITY, f64::min))
                .fold(f64::NEG_INFINITY, f64::max)
        })
        .collect()
}

#[test]
fn pav_matches_brute_force_and_is_monotone() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for case in 0..300 {
        let n = rng.gen_range(1..12);
        let y: Vec<f64> = (0..n)
            .map(|_| {
                if case % 2 == 0 {
                    rng.gen_range(0..2) as f64
                } else {
                    rng.gen_range(-3.0..3.0)
                }
            })
            .collect();
        let w: Vec<f64> = (0..n).map(|_| rng.gen_range(0.1..3.0)).collect();
        let got = pav(&y, &w);
        let want = brute_isotonic(&y, &w);
        assert_eq!(got.len(), n);
        for i in 0..n {
            assert!(
                (got[i] - want[i]).abs() < 1e-12,
                "case {case}: {got:?} vs {want:?}"
            );
        }
        assert!(got.windows(2).all(|p| p[0] <= p[1] + 1e-15));
    }
}

#[test]
fn isotonic_table_is_compact_monotone_and_matches_pav() {
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    // Small case without compaction: table lookup at each distinct ψ equals the PAV fit.
    let psi: Vec<f32> = (0..40).map(|_| rng.gen_range(0..25) as f32 * 0.1).collect();
    let wrong: Vec<bool> = psi
        .iter()
        .map(|&p| rng.gen_bool((p as f64 / 2.5).min(1.0)))
        .collect();
    let t = fit_isotonic(&psi, &wrong, 1.0, 64).unwrap();
    let mut order: Vec<usize> = (0..40).collect();
    order.sort_by(|&a, &b| psi[a].total_cmp(&psi[b]));
    let mut xs: Vec<f32> = vec![];
    let (mut ys, mut ws): (Vec<f64>, Vec<f64>) = (vec![], vec![]);
    for &i in &order {
        if xs.last() == Some(&psi[i]) {
            let k = ys.len() - 1;
            ys[k] = (ys[k] * ws[k] + wrong[i] as u8 as f64) / (ws[k] + 1.0);
            ws[k] += 1.0;
        } else {
            xs.push(psi[i]);
            ys.push(wrong[i] as u8 as f64);
            ws.push(1.0);
        }
    }
    let want = brute_isotonic(&ys, &ws);
    for (x, f) in xs.iter().zip(&want) {
        let got = t.eval(*x, 0.0) as f64;
        assert!(
            (got - f.clamp(ISOTONIC_EPS, 1.0 - ISOTONIC_EPS)).abs() < 1e-6,
            "{x}: {got} vs {f}"
        );
    }
    // Large case: compaction to ≤ 64 steps keeps monotone values and sorted thresholds.
    let n = 5000;
    let psi: Vec<f32> = (0..n).map(|_| rng.gen_range(0.0f32..10.0)).collect();
    let wrong: Vec<bool> = psi
        .iter()
        .map(|&p| rng.gen_bool(1.0 / (1.0 + (-(p as f64 - 5.0)).exp())))
        .collect();
    let t = fit_isotonic(&psi, &wrong, 1.0, 64).unwrap();
    eprintln!("isotonic steps: {}", t.thresholds.len());
    assert!(t.thresholds.len() <= 64 && t.thresholds.len() > 4);
    assert!(t.thresholds.windows(2).all(|w| w[0] < w[1]));
    assert!(t.values.windows(2).all(|w| w[0] <= w[1]));
    assert!(t.values.iter().all(|&v| (1e-4..=1.0 - 1e-4).contains(&v)));
    snapuq_ops::calibrate::check_isotonic_table(&t.tensor(), t.thresholds.len()).unwrap();
    // The step function tracks the true curve.
    for p in [1.0f32, 3.0, 5.0, 7.0, 9.0] {
        let truth = 1.0 / (1.0 + (-(p as f64 - 5.0)).exp());
        assert!((t.eval(p, 0.0) as f64 - truth).abs() < 0.1, "ψ={p}");
    }
    let t8 = fit_isotonic(&psi, &wrong, 1.0, 8).unwrap();
    assert!(t8.thresholds.len() <= 8);
    assert!(t8.values.windows(2).all(|w| w[0] <= w[1]));
}

fn simulate(beta: [f64; 3], n: usize, seed: u64) -> (Vec<f32>, Vec<f32>, Vec<bool>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let g = Normal::new(1.5, 0.8).unwrap();
    let (mut s, mut m, mut y) = (vec![], vec![], vec![]);
    for _ in 0..n {
        let sv: f64 = g.sample(&mut rng);
        let mv: f64 = rng.gen_range(0.0..1.0);
        let p = 1.0 / (1.0 + (-(beta[0] + beta[1] * sv + beta[2] * mv)).exp());
        s.push(sv as f32);
        m.push(mv as f32);
        y.push(rng.gen_bool(p));
    }
    (s, m, y)
}

#[test]
fn logistic_recovers_known_coefficients() {
    let truth = [-4.0, 1.5, 2.0];
    let (s, m, y) = simulate(truth, 40_000, 7);
    let fit = fit_logistic(&s, &m, &y, true, false, 0.0).unwrap();
    eprintln!("unbalanced fit {:?}", fit);
    assert!(fit.converged);
    for j in 0..3 {
        assert!(
            (fit.beta[j] - truth[j]).abs() < 0.15,
            "β{j}: {} vs {}",
            fit.beta[j],
            truth[j]
        );
    }
    // Class balancing only moves the intercept, by log(n_neg / n_pos).
    let bal = fit_logistic(&s, &m, &y, true, true, 0.0).unwrap();
    let n_pos = y.iter().filter(|v| **v).count() as f64;
    let shift = ((y.len() as f64 - n_pos) / n_pos).ln();
    eprintln!(
        "balanced fit {:?}, expected intercept shift {shift:.3}",
        bal
    );
    assert!((bal.beta[0] - (truth[0] + shift)).abs() < 0.2);
    assert!((bal.beta[1] - truth[1]).abs() < 0.15 && (bal.beta[2] - truth[2]).abs() < 0.2);
    // Label-free mode: β2 = 0 exactly; S-only data recovers its slope.
    let (s2, _, y2) = simulate([-3.0, 2.0, 0.0], 40_000, 8);
    let lf = fit_logistic(&s2, &[], &y2, false, false, 0.0).unwrap();
    assert_eq!(lf.beta[2], 0.0);
    assert!(lf.label_free);
    assert!(
        (lf.beta[0] + 3.0).abs() < 0.15 && (lf.beta[1] - 2.0).abs() < 0.1,
        "{lf:?}"
    );
}

#[test]
fn logistic_survives_separable_data_and_rejects_one_class() {
    let s: Vec<f32> = (0..100).map(|i| i as f32).collect();
    let y: Vec<bool> = (0..100).map(|i| i >= 50).collect();
    let fit = fit_logistic(&s, &[], &y, false, true, DEFAULT_L2).unwrap();
    assert!(fit.beta.iter().all(|v| v.is_finite()) && fit.beta[1] > 0.0);
    let c = Calibrator::Logistic(fit);
    assert!(c.u(10.0, 0.0) < 0.5 && c.u(90.0, 0.0) > 0.5);
    assert!(matches!(
        fit_logistic(&s, &[], &[false; 100], false, true, DEFAULT_L2),
        Err(FitError::OneClassDev {
            wrong: 0,
            correct: 100
        })
    ));
}

#[test]
fn coverage_threshold_gives_requested_coverage() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let wrong: Vec<bool> = (0..1000).map(|_| rng.gen_bool(0.2)).collect();
    // Continuous U: exact coverage ceil(c·n)/n.
    let u: Vec<f32> = (0..1000).map(|_| rng.gen_range(0.0f32..1.0)).collect();
    for c in [0.5, 0.8, 0.9, 0.95, 0.999, 1.0] {
        let op = choose_threshold(&u, &wrong, ThresholdRule::Coverage(c)).unwrap();
        assert!(
            (op.coverage - (c * 1000.0).ceil() / 1000.0).abs() < 1e-12,
            "{c}: {op:?}"
        );
        let acc = u.iter().filter(|&&v| v < op.tau).count();
        assert_eq!(acc as f64 / 1000.0, op.coverage);
    }
    // Discrete U (isotonic-like ties): coverage ≥ c, and the next lower candidate τ falls short.
    let ud: Vec<f32> = u.iter().map(|v| (v * 7.0).floor() / 7.0).collect();
    for c in [0.5, 0.9] {
        let op = choose_threshold(&ud, &wrong, ThresholdRule::Coverage(c)).unwrap();
        assert!(op.coverage >= c);
        let lower = ud
            .iter()
            .copied()
            .filter(|&v| v < op.tau)
            .fold(f32::MIN, f32::max);
        let cov_lower = ud.iter().filter(|&&v| v < lower).count() as f64 / 1000.0;
        assert!(cov_lower < c, "{c}: τ {} not minimal", op.tau);
    }
    // Budget b: abstention ≤ b.
    let op = choose_threshold(&u, &wrong, ThresholdRule::Budget(0.1)).unwrap();
    assert!(op.abstain_rate <= 0.1 + 1e-12 && op.abstain_rate > 0.09);
    // Fixed τ; risk among accepted.
    let op = choose_threshold(&u, &wrong, ThresholdRule::Fixed(0.5)).unwrap();
    let acc: Vec<usize> = (0..1000).filter(|&i| u[i] < 0.5).collect();
    let risk = acc.iter().filter(|&&i| wrong[i]).count() as f64 / acc.len() as f64;
    assert!((op.selective_risk - risk).abs() < 1e-12);
    assert!(choose_threshold(&u, &wrong, ThresholdRule::Coverage(1.5)).is_err());
}

#[test]
fn dev_set_assembly() {
    let e1 = [1.0f32, 2.0, 3.0];
    let e2 = [0.5f32, 0.5, 4.0];
    let taps: [&[f32]; 2] = [&e1, &e2];
    let probs = [0.9f32, 0.1, 0.4, 0.6, 0.5, 0.5];
    let labels = [0usize, 0, 1];
    let part = DevPart {
        stats: &[],
        ebar: &taps,
        classifier: &probs,
        classes: 2,
        kind: ClassifierKind::Probs,
        labels: &labels,
        shifted: false,
    };
    let shifted = DevPart {
        stats: &[],
        shifted: true,
        ..part
    };
    let dev = assemble_dev_set(&[part, shifted], &[0.25, 0.75], 0.5).unwrap();
    assert_eq!(dev.len(), 6);
    assert_eq!(dev.wrong, vec![false, true, true, false, true, true]);
    assert_eq!(dev.shifted, vec![false, false, false, true, true, true]);
    assert!((dev.s[2] - (0.25 * 3.0 + 0.75 * 4.0)).abs() < 1e-6);
    // m = ½(1−C) + ½(1−margin): sample 0 → ½·0.1 + ½·0.2 = 0.15.
    assert!((dev.m[0] - 0.15).abs() < 1e-6);
    assert!((dev.msp[1] - 0.6).abs() < 1e-6);
    let bad = [5usize, 0, 0];
    let p = DevPart {
        stats: &[],
        labels: &bad,
        ..part
    };
    assert!(assemble_dev_set(&[p], &[0.25, 0.75], 0.5).is_err());
}

#[test]
fn auroc_and_gamma() {
    assert_eq!(
        auroc(&[0.1, 0.2, 0.3, 0.4], &[false, false, true, true]),
        Some(1.0)
    );
    assert_eq!(auroc(&[0.5, 0.5], &[false, true]), Some(0.5));
    // S carries the signal, m is noise → γ = 1.
    let mut rng = ChaCha8Rng::seed_from_u64(10);
    let wrong: Vec<bool> = (0..2000).map(|_| rng.gen_bool(0.3)).collect();
    let s: Vec<f32> = wrong
        .iter()
        .map(|&w| w as u8 as f32 + rng.gen_range(0.0..0.8))
        .collect();
    let m: Vec<f32> = (0..2000).map(|_| rng.gen_range(0.0..1.0)).collect();
    assert_eq!(tune_gamma(&s, &m, &wrong).unwrap(), 1.0);
}

#[test]
fn calibrate_options_round_trip_and_match_u() {
    let (s, m, y) = simulate([-4.0, 1.5, 2.0], 3000, 12);
    let cal = Calibrator::Logistic(fit_logistic(&s, &m, &y, true, true, DEFAULT_L2).unwrap());
    let cls = ClassifierInput {
        classes: 10,
        kind: ClassifierKind::Probs,
        scale: 1.0 / 256.0,
        zero_point: -128,
    };
    let o = calibrate_options(&[0.25, 0.75], cls, 0.5, &cal, 0.4, None).unwrap();
    let back = CalibrateOptions::parse(&o.to_flexbuffer()).unwrap();
    assert_eq!(back, o);
    let Mapping::Logistic { beta } = back.mapping else {
        panic!("expected a logistic mapping");
    };
    assert_eq!(
        cal.u(1.2, 0.3),
        sigmoid(beta[0] + beta[1] * 1.2 + beta[2] * 0.3)
    );
    let iso = Calibrator::Isotonic(fit_isotonic(&s, &y, 1.0, 64).unwrap());
    let o = calibrate_options(&[1.0], cls, 0.5, &iso, 0.4, None).unwrap();
    assert_eq!(o.num_inputs(), 3);
    assert!(calibrate_options(&[], cls, 0.5, &iso, 0.4, None).is_err());
    assert!(calibrate_options(&[1.0], cls, 1.5, &iso, 0.4, None).is_err());
    // Dequantized int8 probabilities give the kernel's own m.
    let q: Vec<i8> = vec![127, -100, -128, -128, -128, -128, -128, -128, -128, -128];
    let p = dequantize_classifier(&q, cls.scale, cls.zero_point);
    let m_ours = confidence_term(&p, 10, ClassifierKind::Probs, 0.5).unwrap()[0];
    let data = snapuq_ops::calibrate::ClassifierData::I8(&q);
    let (c, mg) = snapuq_ops::calibrate::confidence_margin(
        ClassifierKind::Probs,
        &data,
        0,
        10,
        cls.scale,
        cls.zero_point,
    );
    assert_eq!(m_ours, 0.5 * (1.0 - c) + 0.5 * (1.0 - mg));
}
