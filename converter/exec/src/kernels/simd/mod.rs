//! Run-time selected SIMD paths of the host kernels (the only place in the executor with
//! `unsafe`, each block with its `// SAFETY:` reason).
//!
//! The portable kernels next door stay the reference and the MCU path (`no_std`, thumbv7em).
//! On an x86-64 host with the `std` feature, [`isa`] picks AVX2 when the CPU has it (checked
//! once with `is_x86_feature_detected!`); the AVX2 kernels compute the same integer sums in
//! another order (exact) and requantize with TFLM's `MultiplyByQuantizedMultiplier` lane by
//! lane, so their output bytes are the portable path's. `tests/simd_equivalence.rs` checks that
//! on random shapes, zero points and multipliers.
//!
//! [`force_isa`] pins the choice (benchmarks and tests compare both paths in one process).
#[cfg(all(feature = "std", target_arch = "x86_64"))]
pub(crate) mod x86;

/// Instruction set the host kernels run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// The plain Rust kernels (what the firmware runs).
    Portable,
    /// x86-64 AVX2 (Haswell, Zen 1 and later).
    Avx2,
    /// x86-64 AVX2 plus AVX-512 F/BW and VNNI (`vpdpwssd` on 512-bit lanes) for the conv tile;
    /// built only by compilers with the AVX-512 intrinsics (Rust 1.89+).
    Avx512Vnni,
}

impl Isa {
    /// Short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2 => "avx2",
            Isa::Avx512Vnni => "avx512-vnni",
        }
    }

    /// True when the AVX2 kernels may run (AVX-512 VNNI hosts run them for all but the conv
    /// tile).
    pub fn has_avx2(self) -> bool {
        matches!(self, Isa::Avx2 | Isa::Avx512Vnni)
    }
}

#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod select {
    use super::Isa;
    use core::sync::atomic::{AtomicU8, Ordering};

    /// 0: not chosen yet, 1: portable, 2: AVX2, 3: AVX-512 VNNI.
    static CHOSEN: AtomicU8 = AtomicU8::new(0);

    #[cfg(snapuq_avx512)]
    fn has_avx512_vnni() -> bool {
        std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vnni")
    }

    #[cfg(not(snapuq_avx512))]
    fn has_avx512_vnni() -> bool {
        false
    }

    pub fn best() -> Isa {
        if !std::is_x86_feature_detected!("avx2") {
            Isa::Portable
        } else if has_avx512_vnni() {
            Isa::Avx512Vnni
        } else {
            Isa::Avx2
        }
    }

    #[inline]
    pub fn isa() -> Isa {
        match CHOSEN.load(Ordering::Relaxed) {
            1 => Isa::Portable,
            2 => Isa::Avx2,
            3 => Isa::Avx512Vnni,
            _ => {
                let forced = std::env::var("SNAPUQ_EXEC_ISA").ok();
                let isa = match forced.as_deref() {
                    Some("portable") => Isa::Portable,
                    Some("avx2") => Isa::Avx2,
                    _ => best(),
                };
                force(Some(isa));
                isa
            }
        }
    }

    pub fn force(isa: Option<Isa>) -> Isa {
        let b = best();
        let isa = match isa {
            None => b,
            Some(Isa::Avx512Vnni) if b == Isa::Avx512Vnni => b,
            Some(Isa::Avx2 | Isa::Avx512Vnni) if b.has_avx2() => Isa::Avx2,
            Some(_) => Isa::Portable,
        };
        let code = match isa {
            Isa::Portable => 1,
            Isa::Avx2 => 2,
            Isa::Avx512Vnni => 3,
        };
        CHOSEN.store(code, Ordering::Relaxed);
        isa
    }
}

#[cfg(not(all(feature = "std", target_arch = "x86_64")))]
mod select {
    use super::Isa;
    pub fn best() -> Isa {
        Isa::Portable
    }
    #[inline]
    pub fn isa() -> Isa {
        Isa::Portable
    }
    pub fn force(_: Option<Isa>) -> Isa {
        Isa::Portable
    }
}

/// The instruction set the kernels use now: the best this CPU has, unless [`force_isa`] or the
/// environment variable `SNAPUQ_EXEC_ISA` (`portable` or `avx2`, read once) chose otherwise.
#[inline]
pub fn isa() -> Isa {
    select::isa()
}

/// The best instruction set this CPU and build support.
pub fn best_isa() -> Isa {
    select::best()
}

/// Pins the kernels to `isa` for the whole process (`None`: back to the best available).
/// Asking for an instruction set the CPU lacks gives the best lower one. Returns the choice.
pub fn force_isa(isa: Option<Isa>) -> Isa {
    select::force(isa)
}
