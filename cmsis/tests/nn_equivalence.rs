//! SNAP_PROJECT's projection through the real CMSIS-NN (`arm_fully_connected_s8`, compiled
//! from `CMSIS_NN_DIR` by cmsis-nn-sys) gives the same bytes as the portable kernel
//! (`snapuq_ops::project::eval` with [`DspDot`]: the portable loop on hosts, SMLAD on
//! Armv7E-M), over seeded random shapes, zero points, multipliers and biases. This is what
//! `snapuq-tflm --features cmsis-nn` does for every non-identity SNAP_PROJECT.
use snapuq_cmsis::nn::{self, CmsisNnActivation, CmsisNnPerTensorQuantParams};
use snapuq_cmsis::DspDot;
use snapuq_ops::project::{eval, ProjectOptions, ProjectPlan};
use snapuq_ops::quant::{gap_s8, quantize_multiplier};
use snapuq_ops::tensor::ActShape;

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }
    fn range(&mut self, lo: i32, hi: i32) -> i32 {
        lo + (self.next() % (hi - lo + 1) as u32) as i32
    }
}

#[test]
fn cmsis_nn_projection_equals_portable() {
    let mut rng = Lcg(11);
    let mut cases = 0;
    let mut nonzero = 0;
    for _ in 0..400 {
        let c = [8usize, 16, 24, 32, 64, 96, 128][rng.range(0, 6) as usize];
        let r = [2usize, 4, 8, 16, 32][rng.range(0, 4) as usize].min(c - 1);
        let spatial = [1usize, 4, 9, 16][rng.range(0, 3) as usize];
        let real = 10f64.powf(rng.range(-4000, -300) as f64 / 1000.0);
        let (z_mult, z_shift) = quantize_multiplier(real).unwrap();
        let opts = ProjectOptions {
            c_in: c,
            r,
            a_zp: rng.range(-128, 127),
            z_zp: rng.range(-128, 127),
            z_mult,
            z_shift,
        };
        let a: Vec<i8> = (0..spatial * c)
            .map(|_| rng.range(-128, 127) as i8)
            .collect();
        let p: Vec<i8> = (0..r * c).map(|_| rng.range(-127, 127) as i8).collect();
        let with_bias = rng.range(0, 1) == 1;
        let bias: Vec<i32> = (0..r).map(|_| rng.range(-20000, 20000)).collect();
        let plan = ProjectPlan {
            act: ActShape {
                batch: 1,
                spatial,
                channels: c,
            },
            has_bias: with_bias,
            identity: false,
            stats: false,
        };
        let b = with_bias.then_some(bias.as_slice());
        let mut z_port = vec![0i8; r];
        let mut scratch = vec![0i8; c];
        eval::<DspDot>(&opts, &plan, &a, &p, b, &mut z_port, &mut scratch).unwrap();

        let mut g = vec![0i8; c];
        gap_s8(&a, &mut g);
        let mut z_nn = vec![0i8; r];
        nn::fully_connected_s8(
            &g,
            -opts.a_zp,
            &p,
            if with_bias { &bias } else { &[] },
            CmsisNnPerTensorQuantParams {
                multiplier: z_mult,
                shift: z_shift,
            },
            opts.z_zp,
            CmsisNnActivation {
                min: -128,
                max: 127,
            },
            &mut [],
            &mut z_nn,
        )
        .unwrap();
        assert_eq!(z_port, z_nn, "c={c} r={r} spatial={spatial} opts={opts:?}");
        cases += 1;
        nonzero += z_nn.iter().filter(|&&v| v != opts.z_zp as i8).count();
    }
    // The cases exercise the arithmetic (not all outputs clamped to the zero point).
    assert!(
        nonzero > cases,
        "{nonzero} non-trivial outputs over {cases} cases"
    );
}
