//! SNAP_SURPRISAL: ē of one tap from z and the realized activation.
use crate::ffi::types::TFLMRegistration;
use crate::glue::{self, Failure, NodeTensors, OpData, SnapOp};
use core::ffi::CStr;
use snapuq_ops::surprisal::{self, SurprisalInputs, SurprisalOptions, SurprisalPlan};
use snapuq_ops::OpError;

/// Marker type of the op.
pub struct Surprisal;

impl SnapOp for Surprisal {
    const NAME: &'static CStr = c"SNAP_SURPRISAL";
    type Options = SurprisalOptions;
    type Plan = SurprisalPlan;
    type State = ();

    fn parse(options: &[u8]) -> Result<SurprisalOptions, OpError> {
        SurprisalOptions::parse(options)
    }

    fn initial_state(_: &SurprisalOptions) {}

    fn prepare(
        opts: &SurprisalOptions,
        t: &NodeTensors<'_>,
    ) -> Result<SurprisalPlan, glue::Failure> {
        let ins = t.input_descs();
        let outs = t.output_descs();
        Ok(surprisal::prepare(
            opts,
            &ins[..t.n_inputs],
            &outs[..t.n_outputs],
        )?)
    }

    fn scratch_bytes(opts: &SurprisalOptions, _: &SurprisalPlan) -> usize {
        surprisal::scratch_bytes(opts)
    }

    fn invoke(
        data: &mut OpData<Self>,
        plan: &SurprisalPlan,
        t: &NodeTensors<'_>,
        _scratch: &mut [u8],
    ) -> Result<(), Failure> {
        let inputs = SurprisalInputs {
            z: t.input::<i8>(surprisal::INPUT_Z)?,
            a: t.input::<i8>(surprisal::INPUT_A)?,
            w_mu: t.input::<i8>(surprisal::INPUT_W_MU)?,
            b_mu: t.input::<i32>(surprisal::INPUT_B_MU)?,
            w_ls: t.input::<i8>(surprisal::INPUT_W_LS)?,
            b_ls: t.input::<i32>(surprisal::INPUT_B_LS)?,
            lut: t.input::<i32>(surprisal::INPUT_LUT)?,
            b_lowrank: t.input_opt::<i8>(surprisal::INPUT_B_LOWRANK)?,
        };
        let out = t.output::<f32>(surprisal::OUTPUT_EBAR)?;
        surprisal::eval::<super::Dot>(&data.opts, plan, &inputs, out).map_err(Failure::from)
    }
}

/// The SNAP_SURPRISAL registration.
pub const REGISTRATION: TFLMRegistration = glue::registration::<Surprisal>();

/// Returns SNAP_SURPRISAL's `TFLMRegistration` by value.
#[no_mangle]
#[allow(non_snake_case)]
pub extern "C" fn snapuq_register_SNAP_SURPRISAL() -> TFLMRegistration {
    REGISTRATION
}
