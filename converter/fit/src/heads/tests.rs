//! Synthetic linear-Gaussian dynamics with known answers.

use super::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// `x = L u + 0.01 ν` (u ∈ R^k), `y = A x + b + σ(x) ⊙ ε`.
pub(crate) struct Synthetic {
    pub c_in: usize,
    pub c_out: usize,
    pub l: Vec<f64>, // c_in × k
    pub k: usize,
    pub a: Vec<f64>, // c_out × c_in
    pub b: Vec<f64>,
    pub sigma: Vec<f64>,
    /// Heteroscedastic slope: log σ_i(x) = log σ_i + hetero · u_0.
    pub hetero: f64,
}

pub(crate) struct Sample {
    pub x: Vec<f32>,
    pub y: Vec<f32>,
    pub mean: Vec<f64>,
    pub var: Vec<f64>,
}

impl Synthetic {
    pub fn new(c_in: usize, c_out: usize, k: usize, hetero: f64, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let n01 = Normal::new(0.0, 1.0).unwrap();
        let l = (0..c_in * k).map(|_| n01.sample(&mut rng) * 0.5).collect();
        let a = (0..c_out * c_in)
            .map(|_| n01.sample(&mut rng) / (c_in as f64).sqrt())
            .collect();
        let b = (0..c_out).map(|_| n01.sample(&mut rng)).collect();
        let sigma = (0..c_out)
            .map(|i| 0.05 * (10f64).powf(i as f64 / (c_out - 1) as f64))
            .collect();
        Synthetic {
            c_in,
            c_out,
            l,
            k,
            a,
            b,
            sigma,
            hetero,
        }
    }

    /// `n` samples; `shift` > 0 perturbs x inside its subspace without y following it.
    pub fn sample(&self, n: usize, shift: f64, seed: u64) -> Sample {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let n01 = Normal::new(0.0, 1.0).unwrap();
        let (mut xs, mut ys, mut means, mut vars) = (vec![], vec![], vec![], vec![]);
        for _ in 0..n {
            let u: Vec<f64> = (0..self.k).map(|_| n01.sample(&mut rng)).collect();
            let x: Vec<f64> = (0..self.c_in)
                .map(|j| {
                    (0..self.k)
                        .map(|q| self.l[j * self.k + q] * u[q])
                        .sum::<f64>()
                        + 1.0
                        + 0.01 * n01.sample(&mut rng)
                })
                .collect();
            for i in 0..self.c_out {
                let m = (0..self.c_in)
                    .map(|j| self.a[i * self.c_in + j] * x[j])
                    .sum::<f64>()
                    + self.b[i];
                let sd = self.sigma[i] * (self.hetero * u[0]).exp();
                ys.push((m + sd * n01.sample(&mut rng)) as f32);
                means.push(m);
                vars.push(sd * sd);
            }
            let du: Vec<f64> = (0..self.k).map(|_| shift * n01.sample(&mut rng)).collect();
            for j in 0..self.c_in {
                let d: f64 = (0..self.k).map(|q| self.l[j * self.k + q] * du[q]).sum();
                xs.push((x[j] + d) as f32);
            }
        }
        Sample {
            x: xs,
            y: ys,
            mean: means,
            var: vars,
        }
    }
}

fn cfg(rank: usize) -> HeadConfig {
    // Float fits: these tests check the estimator itself; the int8 path is tested in quantize.
    HeadConfig {
        rank,
        fake_quant: false,
        ..HeadConfig::default()
    }
}

#[test]
fn recovers_linear_gaussian_dynamics() {
    let syn = Synthetic::new(48, 32, 12, 0.0, 1);
    let train = syn.sample(3000, 0.0, 2);
    let (heads, diag) = fit_tap(&train.x, &train.y, 48, 32, &cfg(16)).unwrap();
    eprintln!("{diag:#?}");
    assert!(
        diag.explained_variance > 0.99,
        "{}",
        diag.explained_variance
    );
    assert!(diag.nll_end <= diag.nll_start + 1e-9);

    let test = syn.sample(2000, 0.0, 3);
    let (mut ss_res, mut ss_tot, mut ebar) = (0.0, 0.0, vec![]);
    let mean_of_true: f64 = test.mean.iter().sum::<f64>() / test.mean.len() as f64;
    let mut var_ratio = vec![0.0; 32];
    for s in 0..2000 {
        let x = &test.x[s * 48..(s + 1) * 48];
        let z = heads.project(x);
        let (mu, lv) = heads.heads(&z);
        for i in 0..32 {
            let t = test.mean[s * 32 + i];
            ss_res += (mu[i] - t).powi(2);
            ss_tot += (t - mean_of_true).powi(2);
            var_ratio[i] += lv[i].exp() / test.var[s * 32 + i] / 2000.0;
        }
        ebar.push(heads.surprisal(x, &test.y[s * 32..(s + 1) * 32]));
    }
    let r2 = 1.0 - ss_res / ss_tot;
    eprintln!("R² of μ vs A x + b: {r2:.5}; σ² ratio per channel: {var_ratio:.3?}");
    assert!(r2 > 0.999, "R² {r2}");
    for (i, v) in var_ratio.iter().enumerate() {
        assert!(
            (0.85..1.15).contains(v),
            "channel {i}: fitted/true σ² = {v}"
        );
    }
    let (m, v) = mean_var(&ebar);
    eprintln!(
        "held-out E[ē] = {m:.4}, Var[ē] = {v:.5} (2/d = {:.5})",
        2.0 / 32.0
    );
    assert!((m - 1.0).abs() < 0.08, "E[ē] = {m}");
    assert!((diag.ebar_mean_holdout - 1.0).abs() < 0.1);
    assert!(diag.sanity_ok);
    assert!((v / (2.0 / 32.0) - 1.0).abs() < 0.3, "Var[ē] = {v}");

    let shifted = syn.sample(500, 1.0, 4);
    let e_shift = heads.surprisal_batch(&shifted.x, &shifted.y).unwrap();
    let (ms, _) = mean_var(&e_shift);
    eprintln!("shifted E[ē] = {ms:.3}");
    assert!(ms > 10.0 * m, "shifted E[ē] {ms} vs ID {m}");
}

#[test]
fn log_variance_head_tracks_heteroscedastic_noise() {
    let syn = Synthetic::new(24, 16, 6, 0.4, 7);
    let train = syn.sample(4000, 0.0, 8);
    let (heads, diag) = fit_tap(&train.x, &train.y, 24, 16, &cfg(8)).unwrap();
    let test = syn.sample(1000, 0.0, 9);
    let (mut fit, mut truth) = (vec![], vec![]);
    for s in 0..1000 {
        let (_, lv) = heads.heads(&heads.project(&test.x[s * 24..(s + 1) * 24]));
        for i in 0..16 {
            fit.push(lv[i]);
            truth.push(test.var[s * 16 + i].ln());
        }
    }
    let (mf, vf) = mean_var(&fit);
    let (mt, vt) = mean_var(&truth);
    let cov = fit
        .iter()
        .zip(&truth)
        .map(|(a, b)| (a - mf) * (b - mt))
        .sum::<f64>()
        / (fit.len() - 1) as f64;
    let corr = cov / (vf * vt).sqrt();
    let mae = fit
        .iter()
        .zip(&truth)
        .map(|(a, b)| (a - b).abs())
        .sum::<f64>()
        / fit.len() as f64;
    eprintln!("corr(log σ² fit, true) = {corr:.4}, MAE = {mae:.4}; {diag:?}");
    assert!(corr > 0.98, "corr {corr}");
    assert!(mae < 0.1, "MAE {mae}");
    assert!((diag.ebar_mean_holdout - 1.0).abs() < 0.1);
}

#[test]
fn adam_improves_on_closed_form_start() {
    let syn = Synthetic::new(24, 16, 6, 0.4, 11);
    let train = syn.sample(2000, 0.0, 12);
    let mut c = cfg(8);
    c.steps = 0;
    let (_, d0) = fit_tap(&train.x, &train.y, 24, 16, &c).unwrap();
    let (_, d1) = fit_tap(&train.x, &train.y, 24, 16, &cfg(8)).unwrap();
    eprintln!("closed form NLL {} → Adam {}", d0.nll_end, d1.nll_end);
    assert!(d1.nll_end < d0.nll_end);
}

#[test]
fn constant_channel_hits_the_floor_not_nan() {
    let syn = Synthetic::new(16, 8, 4, 0.0, 21);
    let mut s = syn.sample(600, 0.0, 22);
    for i in 0..600 {
        s.y[i * 8 + 3] = 0.0; // a dead ReLU channel
    }
    let (heads, diag) = fit_tap(&s.x, &s.y, 16, 8, &cfg(4)).unwrap();
    let (_, lv) = heads.heads(&heads.project(&s.x[..16]));
    assert!((lv[3] - heads.logvar_min as f64).abs() < 1e-3, "{}", lv[3]);
    assert!(diag.ebar_mean_holdout.is_finite());
}

#[test]
fn bad_inputs_are_errors() {
    let syn = Synthetic::new(16, 8, 4, 0.0, 31);
    let s = syn.sample(30, 0.0, 32);
    assert!(matches!(
        fit_tap(&s.x, &s.y, 16, 8, &cfg(8)),
        Err(FitError::TooFewSamples { .. })
    ));
    assert!(matches!(
        fit_tap(&s.x, &s.y, 16, 8, &cfg(17)),
        Err(FitError::BadConfig { .. })
    ));
    let s = syn.sample(400, 0.0, 33);
    assert!(matches!(
        fit_tap(&s.x, &s.y[..10], 16, 8, &cfg(4)),
        Err(FitError::ShapeMismatch { .. })
    ));
    let mut x = s.x.clone();
    x[5] = f32::NAN;
    assert!(matches!(
        fit_tap(&x, &s.y, 16, 8, &cfg(4)),
        Err(FitError::NonFinite { index: 5, .. })
    ));
    let flat = vec![1.0f32; 400 * 16];
    assert!(matches!(
        fit_tap(&flat, &s.y, 16, 8, &cfg(4)),
        Err(FitError::Numerical { .. })
    ));
}

#[test]
fn tap_weights_are_inverse_variance() {
    let w = tap_weights(&[0.1, 0.3]).unwrap();
    assert!((w[0] - 0.75).abs() < 1e-12 && (w[1] - 0.25).abs() < 1e-12);
    assert!(tap_weights(&[0.1, 0.0]).is_err());
    assert!(tap_weights(&[]).is_err());
}
