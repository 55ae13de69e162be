//! C entry points that run each SNAP op's parse → prepare → eval from raw buffers, so a C
//! `main` can keep exactly the code a firmware needs for them (see ../measure-size.sh).
#![no_std]
use core::slice::from_raw_parts as s;
use core::slice::from_raw_parts_mut as sm;
use snapuq_ops::calibrate::{self, CalibrateOptions, CalibrateOutputs, ClassifierData};
use snapuq_ops::project::{self, ProjectOptions};
use snapuq_ops::surprisal::{self, SurprisalInputs, SurprisalOptions};
use snapuq_ops::{DType, OpError, PortableDot, TensorDesc};

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}

/// Buffers handed over by the C side (opaque to the optimizer).
#[repr(C)]
pub struct Io {
    pub opts: *const u8,
    pub opts_len: usize,
    pub dims: *const i32,
    pub ranks: *const usize,
    pub n_in: usize,
    pub n_out: usize,
    pub bufs: *const *mut u8,
    pub lens: *const usize,
}

fn code(r: Result<(), OpError>) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => 1 + e.op() as i32,
    }
}

/// # Safety
/// `io` describes valid buffers.
unsafe fn descs<'a>(io: &'a Io) -> ([Option<TensorDesc<'a>>; 16], [TensorDesc<'a>; 4]) {
    let mut ins = [None; 16];
    let mut outs = [TensorDesc::new(DType::Other(0), &[]); 4];
    let mut at = 0;
    for i in 0..io.n_in + io.n_out {
        let rank = *io.ranks.add(i);
        let d = TensorDesc::new(
            DType::from_tflite(*io.dims.add(at)),
            s(io.dims.add(at + 1), rank),
        );
        at += rank + 1;
        if i < io.n_in {
            ins[i] = Some(d);
        } else {
            outs[i - io.n_in] = d;
        }
    }
    (ins, outs)
}

unsafe fn buf<'a, T>(io: &'a Io, i: usize) -> &'a mut [T] {
    sm(*io.bufs.add(i) as *mut T, *io.lens.add(i))
}

/// # Safety
/// `io` describes valid buffers.
#[no_mangle]
pub unsafe extern "C" fn probe_project(io: &Io) -> i32 {
    code((|| {
        let o = ProjectOptions::parse(s(io.opts, io.opts_len))?;
        let (ins, outs) = descs(io);
        let plan = project::prepare(&o, &ins[..io.n_in], &outs[..io.n_out])?;
        let bias = if plan.has_bias {
            Some(&*buf::<i32>(io, 2))
        } else {
            None
        };
        project::eval::<PortableDot>(
            &o,
            &plan,
            buf(io, 0),
            buf(io, 1),
            bias,
            buf(io, 3),
            buf(io, 4),
        )
    })())
}

/// # Safety
/// `io` describes valid buffers.
#[no_mangle]
pub unsafe extern "C" fn probe_surprisal(io: &Io) -> i32 {
    code((|| {
        let o = SurprisalOptions::parse(s(io.opts, io.opts_len))?;
        let (ins, outs) = descs(io);
        let plan = surprisal::prepare(&o, &ins[..io.n_in], &outs[..io.n_out])?;
        let inp = SurprisalInputs {
            z: buf(io, 0),
            a: buf(io, 1),
            w_mu: buf(io, 2),
            b_mu: buf(io, 3),
            w_ls: buf(io, 4),
            b_ls: buf(io, 5),
            lut: buf(io, 6),
            b_lowrank: if io.n_in > 7 {
                Some(&*buf::<i8>(io, 7))
            } else {
                None
            },
        };
        surprisal::eval::<PortableDot>(&o, &plan, &inp, buf(io, 8))
    })())
}

/// # Safety
/// `io` describes valid buffers; the controller state (if any) is buffer 15.
#[no_mangle]
pub unsafe extern "C" fn probe_calibrate(io: &Io) -> i32 {
    code((|| {
        let o = CalibrateOptions::parse(s(io.opts, io.opts_len))?;
        let (ins, outs) = descs(io);
        let plan = calibrate::prepare(&o, &ins[..io.n_in], &outs[..io.n_out])?;
        let e0: &[f32] = buf(io, 0);
        let ebar: [&[f32]; 2] = [e0, buf(io, 1)];
        let table = if plan.table_len > 0 {
            Some(&*buf::<f32>(io, 3))
        } else {
            None
        };
        let mut st = o.initial_state();
        calibrate::eval(
            &o,
            &plan,
            &ebar[..o.taps.min(2)],
            ClassifierData::I8(buf(io, 2)),
            table,
            st.as_mut(),
            CalibrateOutputs {
                u: buf(io, 4),
                s: Some(buf(io, 5)),
                abstain: Some(buf(io, 6)),
                u_q: Some(buf(io, 7)),
            },
        )
    })())
}
