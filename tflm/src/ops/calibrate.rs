//! SNAP_CALIBRATE: S, m, U, abstain flag, budgeted controller (state reset by `reset`).
use crate::ffi::context::K_BYTE_TYPES;
use crate::ffi::types::TFLMRegistration;
use crate::glue::{self, Failure, NodeTensors, OpData, Problem, SnapOp};
use core::ffi::CStr;
use snapuq_ops::calibrate::{
    self, CalibrateOptions, CalibrateOutputs, CalibratePlan, ClassifierData,
};
use snapuq_ops::controller::ControllerState;
use snapuq_ops::{limits, DType, OpError};

/// Marker type of the op.
pub struct Calibrate;

impl SnapOp for Calibrate {
    const NAME: &'static CStr = c"SNAP_CALIBRATE";
    type Options = CalibrateOptions;
    type Plan = CalibratePlan;
    type State = Option<ControllerState>;

    fn parse(options: &[u8]) -> Result<CalibrateOptions, OpError> {
        CalibrateOptions::parse(options)
    }

    fn initial_state(opts: &CalibrateOptions) -> Option<ControllerState> {
        opts.initial_state()
    }

    fn prepare(opts: &CalibrateOptions, t: &NodeTensors<'_>) -> Result<CalibratePlan, Failure> {
        let ins = t.input_descs();
        let outs = t.output_descs();
        Ok(calibrate::prepare(
            opts,
            &ins[..t.n_inputs],
            &outs[..t.n_outputs],
        )?)
    }

    fn scratch_bytes(_: &CalibrateOptions, _: &CalibratePlan) -> usize {
        0
    }

    fn invoke(
        data: &mut OpData<Self>,
        plan: &CalibratePlan,
        t: &NodeTensors<'_>,
        _scratch: &mut [u8],
    ) -> Result<(), Failure> {
        let taps = data.opts.taps;
        if taps > limits::MAX_TAPS {
            return Err(Problem::TooMany {
                output: false,
                count: taps,
            }
            .into());
        }
        let mut ebar: [&[f32]; limits::MAX_TAPS] = [&[]; limits::MAX_TAPS];
        for (i, e) in ebar.iter_mut().enumerate().take(taps) {
            *e = t.input::<f32>(i)?;
        }
        let cls = match plan.cls_dtype {
            DType::Int8 => ClassifierData::I8(t.input::<i8>(taps)?),
            DType::UInt8 => ClassifierData::U8(t.input::<u8>(taps)?),
            _ => ClassifierData::F32(t.input::<f32>(taps)?),
        };
        let table = if plan.table_len > 0 {
            Some(t.input::<f32>(taps + 1)?)
        } else {
            None
        };
        let mut stats: [&[f32]; limits::MAX_TAPS] = [&[]; limits::MAX_TAPS];
        let n_stats = if matches!(data.opts.mapping, calibrate::Mapping::Classwise) {
            data.opts.stats.min(limits::MAX_TAPS)
        } else {
            0
        };
        for (k, st) in stats.iter_mut().enumerate().take(n_stats) {
            *st = t.input::<f32>(taps + 2 + k)?;
        }
        let n = plan.num_outputs;
        let out = CalibrateOutputs {
            u: t.output::<f32>(calibrate::OUTPUT_U)?,
            s: if n > calibrate::OUTPUT_S {
                Some(t.output::<f32>(calibrate::OUTPUT_S)?)
            } else {
                None
            },
            abstain: if n > calibrate::OUTPUT_ABSTAIN {
                Some(t.output_bytes(calibrate::OUTPUT_ABSTAIN, &K_BYTE_TYPES)?)
            } else {
                None
            },
            u_q: if n > calibrate::OUTPUT_U_Q {
                Some(t.output::<u8>(calibrate::OUTPUT_U_Q)?)
            } else {
                None
            },
        };
        calibrate::eval_with_stats(
            &data.opts,
            plan,
            &ebar[..taps],
            cls,
            table,
            &stats[..n_stats],
            data.state.as_mut(),
            out,
        )
        .map_err(Failure::from)
    }
}

/// The SNAP_CALIBRATE registration.
pub const REGISTRATION: TFLMRegistration = glue::registration::<Calibrate>();

/// Returns SNAP_CALIBRATE's `TFLMRegistration` by value.
#[no_mangle]
#[allow(non_snake_case)]
pub extern "C" fn snapuq_register_SNAP_CALIBRATE() -> TFLMRegistration {
    REGISTRATION
}
