//! The int8 dot-product hook. Kernels are generic over [`DotS8`] so a Cortex-M build can plug
//! in a DSP (SMLAD) or CMSIS-NN implementation; every implementation must return exactly the
//! same integers as [`PortableDot`].

/// int8 dot products with int32 accumulation.
///
/// Inputs never exceed [`crate::limits::MAX_CHANNELS`] elements, so with offsets in
/// −255..=255 the exact result fits in i32.
pub trait DotS8 {
    /// `Σ a[i]·b[i]` over `min(a.len(), b.len())` elements.
    fn dot(a: &[i8], b: &[i8]) -> i32;

    /// `Σ (x[i] + x_offset)·w[i]`: the activation-offset form used with zero points
    /// (TFLM's `input_offset = −zero_point`).
    fn dot_offset(x: &[i8], x_offset: i32, w: &[i8]) -> i32 {
        let n = x.len().min(w.len());
        let wsum: i32 = w[..n].iter().map(|&v| v as i32).sum();
        Self::dot(&x[..n], &w[..n]).wrapping_add(x_offset.wrapping_mul(wsum))
    }
}

/// Plain Rust implementation (the reference every other implementation must match).
#[derive(Clone, Copy, Debug, Default)]
pub struct PortableDot;

impl DotS8 for PortableDot {
    #[inline]
    fn dot(a: &[i8], b: &[i8]) -> i32 {
        a.iter()
            .zip(b.iter())
            .fold(0i32, |acc, (&x, &y)| acc.wrapping_add(x as i32 * y as i32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portable_dot_and_offset() {
        let a = [1i8, -2, 3, -128];
        let b = [127i8, 5, -7, -128];
        assert_eq!(PortableDot::dot(&a, &b), 127 - 10 - 21 + 16384);
        let off = 128;
        let want: i32 = a
            .iter()
            .zip(b.iter())
            .map(|(&x, &w)| (x as i32 + off) * w as i32)
            .sum();
        assert_eq!(PortableDot::dot_offset(&a, off, &b), want);
    }
}
