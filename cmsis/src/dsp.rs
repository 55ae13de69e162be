//! int8 dot products with the DSP extension.
//!
//! Four int8 lanes are loaded as one word `[x0 x1 x2 x3]`; `SXTB16 w` sign-extends lanes 0
//! and 2 into two halfwords, `SXTB16 w, ROR #8` lanes 1 and 3; `SMLAD acc, a, b` adds both
//! halfword products to the accumulator. So eight `int8 × int8` products cost two `SMLAD`
//! and four `SXTB16` instead of eight `MLA` and sixteen byte extensions.
//!
//! The word algorithm is written once over [`Prims`]: on a DSP core the primitives are the
//! instructions themselves (inline `asm!`), elsewhere [`SoftPrims`] models each instruction's
//! architectural definition, so the host tests exercise the very packing the firmware runs.
use snapuq_ops::DotS8;

/// The three DSP instructions the dot product is made of.
pub trait Prims {
    /// `SXTB16 rd, rm`: bytes 0 and 2 of `x`, sign-extended to the two halfwords.
    fn sxtb16(x: u32) -> u32;
    /// `SXTB16 rd, rm, ROR #8`: bytes 1 and 3 of `x`, sign-extended to the two halfwords.
    fn sxtb16_ror8(x: u32) -> u32;
    /// `SMLAD rd, rn, rm, ra`: `ra + rn.lo·rm.lo + rn.hi·rm.hi` (signed halfwords, wrapping).
    fn smlad(a: u32, b: u32, acc: i32) -> i32;
}

/// Software model of the instructions (the Arm ARM pseudocode, in Rust).
#[derive(Clone, Copy, Debug, Default)]
pub struct SoftPrims;

impl Prims for SoftPrims {
    #[inline]
    fn sxtb16(x: u32) -> u32 {
        let lo = (x as u8 as i8 as i16) as u16 as u32;
        let hi = ((x >> 16) as u8 as i8 as i16) as u16 as u32;
        lo | (hi << 16)
    }
    #[inline]
    fn sxtb16_ror8(x: u32) -> u32 {
        Self::sxtb16(x.rotate_right(8))
    }
    #[inline]
    fn smlad(a: u32, b: u32, acc: i32) -> i32 {
        let p0 = (a as u16 as i16 as i32) * (b as u16 as i16 as i32);
        let p1 = ((a >> 16) as u16 as i16 as i32) * ((b >> 16) as u16 as i16 as i32);
        acc.wrapping_add(p0).wrapping_add(p1)
    }
}

/// The instructions themselves (Armv7E-M / Armv8-M Mainline with DSP).
#[cfg(snapuq_dsp)]
#[derive(Clone, Copy, Debug, Default)]
pub struct AsmPrims;

#[cfg(snapuq_dsp)]
impl Prims for AsmPrims {
    #[inline(always)]
    fn sxtb16(x: u32) -> u32 {
        let r: u32;
        // SAFETY: a pure register-to-register instruction of the DSP extension, which this
        // cfg guarantees the target has; no memory, stack or flags are touched.
        unsafe {
            core::arch::asm!("sxtb16 {r}, {x}", r = lateout(reg) r, x = in(reg) x,
                options(pure, nomem, nostack, preserves_flags))
        };
        r
    }
    #[inline(always)]
    fn sxtb16_ror8(x: u32) -> u32 {
        let r: u32;
        // SAFETY: as for `sxtb16`.
        unsafe {
            core::arch::asm!("sxtb16 {r}, {x}, ror #8", r = lateout(reg) r, x = in(reg) x,
                options(pure, nomem, nostack, preserves_flags))
        };
        r
    }
    #[inline(always)]
    fn smlad(a: u32, b: u32, acc: i32) -> i32 {
        let r: i32;
        // SAFETY: register-only DSP instruction; it may set the sticky Q flag on overflow,
        // which nothing reads (so `preserves_flags` is not claimed), and wraps the result.
        unsafe {
            core::arch::asm!("smlad {r}, {a}, {b}, {acc}", r = lateout(reg) r, a = in(reg) a,
                b = in(reg) b, acc = in(reg) acc, options(pure, nomem, nostack))
        };
        r
    }
}

/// The packed dot product over any implementation of the primitives.
#[inline]
pub fn dot_packed<P: Prims>(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = 0i32;
    let mut wa = a.chunks_exact(4);
    let mut wb = b.chunks_exact(4);
    for (ca, cb) in (&mut wa).zip(&mut wb) {
        let x = u32::from_le_bytes([ca[0] as u8, ca[1] as u8, ca[2] as u8, ca[3] as u8]);
        let y = u32::from_le_bytes([cb[0] as u8, cb[1] as u8, cb[2] as u8, cb[3] as u8]);
        acc = P::smlad(P::sxtb16(x), P::sxtb16(y), acc);
        acc = P::smlad(P::sxtb16_ror8(x), P::sxtb16_ror8(y), acc);
    }
    for (&x, &y) in wa.remainder().iter().zip(wb.remainder()) {
        acc = acc.wrapping_add(x as i32 * y as i32);
    }
    acc
}

/// [`DotS8`] using `SMLAD` on DSP cores and [`PortableDot`]'s loop elsewhere.
#[derive(Clone, Copy, Debug, Default)]
pub struct DspDot;

impl DotS8 for DspDot {
    #[inline]
    fn dot(a: &[i8], b: &[i8]) -> i32 {
        #[cfg(snapuq_dsp)]
        {
            dot_packed::<AsmPrims>(a, b)
        }
        #[cfg(not(snapuq_dsp))]
        {
            snapuq_ops::PortableDot::dot(a, b)
        }
    }
}

/// True when [`DspDot`] runs the `SMLAD` instructions (a DSP-capable Arm target).
pub const USES_SMLAD: bool = cfg!(snapuq_dsp);

/// The scalar definition every path must equal: `Σ a[i]·b[i]`, wrapping.
pub fn scalar_dot(a: &[i8], b: &[i8]) -> i32 {
    let mut acc = 0i32;
    let n = a.len().min(b.len());
    let mut i = 0;
    while i < n {
        acc = acc.wrapping_add(a[i] as i32 * b[i] as i32);
        i += 1;
    }
    acc
}

/// A case where [`DspDot`] (or `dot_offset`) differed from the scalar reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// Case number within [`self_check`].
    pub case: u32,
    /// Vector length.
    pub len: usize,
    /// What [`DspDot`] returned.
    pub got: i32,
    /// What the scalar reference returned.
    pub want: i32,
}

/// xorshift32: deterministic test data without any dependency.
fn next(state: &mut u32) -> u32 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    x
}

/// Compares [`DspDot`] with [`scalar_dot`] (and `dot_offset` with its definition) on
/// `cases` pseudo-random vectors of every length 0..=67 (all remainders, both word parities),
/// plus the extremes (all −128, all 127, alternating). No heap, no panics: firmware calls this
/// and prints the result. Returns the number of comparisons made.
pub fn self_check(seed: u32, cases: u32) -> Result<u32, Mismatch> {
    const MAX: usize = 67;
    let mut a = [0i8; MAX];
    let mut b = [0i8; MAX];
    let mut state = seed | 1;
    let mut checked = 0u32;
    for case in 0..cases.saturating_add(3) {
        for i in 0..MAX {
            let (x, y) = match case.checked_sub(cases) {
                Some(0) => (-128, -128),
                Some(1) => (127, -128),
                Some(_) => (if i % 2 == 0 { -128 } else { 127 }, 127),
                None => (next(&mut state) as i8, next(&mut state) as i8),
            };
            a[i] = x;
            b[i] = y;
        }
        for len in 0..=MAX {
            let (x, y) = (&a[..len], &b[..len]);
            let got = DspDot::dot(x, y);
            let want = scalar_dot(x, y);
            if got != want {
                return Err(Mismatch {
                    case,
                    len,
                    got,
                    want,
                });
            }
            let offset = (case as i32 % 256) - 128;
            let got = DspDot::dot_offset(x, offset, y);
            let mut want = 0i32;
            for i in 0..len {
                want = want.wrapping_add((x[i] as i32 + offset) * y[i] as i32);
            }
            if got != want {
                return Err(Mismatch {
                    case,
                    len,
                    got,
                    want,
                });
            }
            checked += 2;
        }
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_model_of_the_instructions() {
        // bytes (LE): 0x80 = -128, 0x7f = 127, 0x01, 0xff = -1
        let w = u32::from_le_bytes([0x80, 0x7f, 0x01, 0xff]);
        assert_eq!(SoftPrims::sxtb16(w), 0x0001_ff80);
        assert_eq!(SoftPrims::sxtb16_ror8(w), 0xffff_007f);
        // (-128)(-128) + (1)(1) + 5
        let a = SoftPrims::sxtb16(w);
        assert_eq!(SoftPrims::smlad(a, a, 5), 16384 + 1 + 5);
        // wrapping, like the hardware
        assert_eq!(
            SoftPrims::smlad(0x8000_8000, 0x8000_8000, i32::MAX),
            i32::MAX.wrapping_add(1 << 31)
        );
    }

    #[test]
    fn packed_algorithm_equals_scalar_on_every_length() {
        let mut state = 0x1234_5678u32;
        for len in 0..200 {
            let a: [i8; 200] = core::array::from_fn(|_| next(&mut state) as i8);
            let b: [i8; 200] = core::array::from_fn(|_| next(&mut state) as i8);
            let (x, y) = (&a[..len], &b[..len]);
            assert_eq!(dot_packed::<SoftPrims>(x, y), scalar_dot(x, y), "len {len}");
            assert_eq!(
                snapuq_ops::PortableDot::dot(x, y),
                scalar_dot(x, y),
                "len {len}"
            );
            assert_eq!(DspDot::dot(x, y), scalar_dot(x, y), "len {len}");
        }
        // unequal lengths use the shorter one
        assert_eq!(dot_packed::<SoftPrims>(&[1, 2, 3, 4, 5], &[1, 1]), 3);
    }

    #[test]
    fn extremes_and_overflow_wrap_identically() {
        let a = [-128i8; 4096];
        let b = [-128i8; 4096];
        // 4096 · 16384 = 2^26: exact.
        assert_eq!(dot_packed::<SoftPrims>(&a, &b), 1 << 26);
        assert_eq!(scalar_dot(&a, &b), 1 << 26);
    }

    #[test]
    fn self_check_passes_and_can_fail() {
        let n = self_check(7, 50).expect("DspDot equals the scalar reference");
        assert_eq!(n, 53 * 68 * 2);
        // The checker detects a wrong implementation: a model that drops lanes 1 and 3.
        let a = [1i8, 2, 3, 4];
        let broken = SoftPrims::smlad(
            SoftPrims::sxtb16(u32::from_le_bytes([1, 2, 3, 4])),
            SoftPrims::sxtb16(u32::from_le_bytes([1, 2, 3, 4])),
            0,
        );
        assert_ne!(broken, scalar_dot(&a, &a));
    }
}
