#![no_std]
//! Cortex-M fast paths for the SNAP kernels.
//!
//! - [`DspDot`]: the ops crate's [`DotS8`] with the Armv7E-M DSP extension (`SXTB16` +
//!   `SMLAD`, two int8 MACs per instruction) when compiled for a core that has it
//!   (`thumbv7em-*`: Cortex-M4/M7; see `build.rs`), and the portable loop elsewhere. Results are identical to
//!   [`snapuq_ops::PortableDot`] by construction: both compute the exact int32 sum with
//!   wrapping (two's-complement) addition, which is associative, so the pairwise order of the
//!   DSP path cannot change a single bit.
//! - [`self_check`]: a deterministic battery comparing [`DspDot`] with a scalar reference,
//!   callable from a `no_std` firmware (QEMU or hardware) to prove the instruction path.
//! - `nn` (feature `cmsis-nn`): `extern "C"` declarations of the CMSIS-NN functions the
//!   firmware links from its own `CMSIS_NN_DIR`, with `#[repr(C)]` mirrors of their structs.
pub mod dsp;
#[cfg(feature = "cmsis-nn")]
pub mod nn;

pub use dsp::{self_check, DspDot, Mismatch};
pub use snapuq_ops::DotS8;
