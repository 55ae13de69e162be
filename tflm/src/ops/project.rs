//! SNAP_PROJECT: `z = requant(P · GAP(a) + bias)` (P absent: the identity, r == c_in).
use crate::ffi::context::i8_from_bytes;
use crate::ffi::types::TFLMRegistration;
use crate::glue::{self, Failure, NodeTensors, OpData, SnapOp};
use core::ffi::CStr;
use snapuq_ops::project::{self, ProjectOptions, ProjectPlan};
use snapuq_ops::OpError;

/// Marker type of the op.
pub struct Project;

impl SnapOp for Project {
    const NAME: &'static CStr = c"SNAP_PROJECT";
    type Options = ProjectOptions;
    type Plan = ProjectPlan;
    type State = ();

    fn parse(options: &[u8]) -> Result<ProjectOptions, OpError> {
        ProjectOptions::parse(options)
    }

    fn initial_state(_: &ProjectOptions) {}

    fn prepare(opts: &ProjectOptions, t: &NodeTensors<'_>) -> Result<ProjectPlan, Failure> {
        let ins = t.input_descs();
        let outs = t.output_descs();
        Ok(project::prepare(
            opts,
            &ins[..t.n_inputs],
            &outs[..t.n_outputs],
        )?)
    }

    fn scratch_bytes(opts: &ProjectOptions, _: &ProjectPlan) -> usize {
        project::scratch_bytes(opts)
    }

    fn invoke(
        data: &mut OpData<Self>,
        plan: &ProjectPlan,
        t: &NodeTensors<'_>,
        scratch: &mut [u8],
    ) -> Result<(), Failure> {
        let a = t.input::<i8>(project::INPUT_A)?;
        // Absent P (r == c_in): the identity, checked by prepare.
        let p = if plan.identity {
            &[]
        } else {
            t.input::<i8>(project::INPUT_P)?
        };
        let bias = if plan.has_bias {
            t.input_opt::<i32>(project::INPUT_BIAS)?
        } else {
            None
        };
        let z = t.output::<i8>(project::OUTPUT_Z)?;
        let stats = if plan.stats {
            Some(t.output::<f32>(project::OUTPUT_STATS)?)
        } else {
            None
        };
        let scratch = i8_from_bytes(scratch);
        // The identity has no matrix for CMSIS-NN to multiply; the stats pass re-pools `a`
        // after the CMSIS-NN projection (the portable path pools once for both).
        #[cfg(feature = "cmsis-nn")]
        let result = if plan.identity {
            project::eval_with_stats::<super::Dot>(&data.opts, plan, a, p, bias, z, stats, scratch)
                .map_err(Failure::from)
        } else {
            crate::cmsis_nn::project(&data.opts, plan, a, p, bias, z, scratch).and_then(|()| {
                match stats {
                    Some(st) => {
                        project::eval_stats(&data.opts, plan, a, st, scratch).map_err(Failure::from)
                    }
                    None => Ok(()),
                }
            })
        };
        #[cfg(not(feature = "cmsis-nn"))]
        let result =
            project::eval_with_stats::<super::Dot>(&data.opts, plan, a, p, bias, z, stats, scratch)
                .map_err(Failure::from);
        result
    }
}

/// The SNAP_PROJECT registration (C: `snapuq_register_SNAP_PROJECT`).
pub const REGISTRATION: TFLMRegistration = glue::registration::<Project>();

/// Returns SNAP_PROJECT's `TFLMRegistration` by value, like TFLM's own `Register_*()`.
#[no_mangle]
#[allow(non_snake_case)]
pub extern "C" fn snapuq_register_SNAP_PROJECT() -> TFLMRegistration {
    REGISTRATION
}
