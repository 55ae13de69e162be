//! SNAP_PROJECT through CMSIS-NN (feature `cmsis-nn`): GAP in Rust, then the projection as
//! `arm_fully_connected_s8`. Same outputs as the portable kernel: see `snapuq_cmsis::nn` for
//! why the arithmetic is identical.
use crate::glue::{Failure, Problem};
use snapuq_cmsis::nn::{self, CmsisNnActivation, CmsisNnPerTensorQuantParams};
use snapuq_ops::project::{ProjectOptions, ProjectPlan};
use snapuq_ops::quant::gap_s8;
use snapuq_ops::{OpError, OpKind};

fn need(what: &'static str, got: usize, need: usize) -> Result<(), Failure> {
    if got < need {
        Err(OpError::Buffer {
            op: OpKind::Project,
            what,
            need,
            got,
        }
        .into())
    } else {
        Ok(())
    }
}

pub fn project(
    opts: &ProjectOptions,
    plan: &ProjectPlan,
    a: &[i8],
    p: &[i8],
    bias: Option<&[i32]>,
    z: &mut [i8],
    scratch: &mut [i8],
) -> Result<(), Failure> {
    let (c, r, batch) = (opts.c_in, opts.r, plan.act.batch);
    let per_sample = plan.act.spatial * c;
    need("input 0 (a)", a.len(), batch * per_sample)?;
    need("input 1 (P)", p.len(), r * c)?;
    need("output 0 (z)", z.len(), batch * r)?;
    need("scratch", scratch.len(), c)?;
    let bias = match bias {
        Some(b) => {
            need("input 2 (bias)", b.len(), r)?;
            &b[..r]
        }
        None => &[],
    };
    let quant = CmsisNnPerTensorQuantParams {
        multiplier: opts.z_mult,
        shift: opts.z_shift,
    };
    let clamp = CmsisNnActivation {
        min: -128,
        max: 127,
    };
    let g = &mut scratch[..c];
    for n in 0..batch {
        gap_s8(&a[n * per_sample..(n + 1) * per_sample], g);
        nn::fully_connected_s8(
            g,
            -opts.a_zp,
            &p[..r * c],
            bias,
            quant,
            opts.z_zp,
            clamp,
            &mut [],
            &mut z[n * r..(n + 1) * r],
        )
        .map_err(Problem::CmsisNn)?;
    }
    Ok(())
}
