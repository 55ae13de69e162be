//! Tensor shapes of up to [`MAX_DIMS`] dimensions, stored inline (no allocation).

/// Most dimensions a tensor may have (TFLM's broadcast kernels go up to 6).
pub const MAX_DIMS: usize = 6;

/// A tensor shape, row-major (NHWC for images).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shape {
    dims: [usize; MAX_DIMS],
    len: usize,
}

impl Shape {
    /// Rank 0, all zero bytes (the `const` form of `Shape::default()`).
    pub const EMPTY: Shape = Shape {
        dims: [0; MAX_DIMS],
        len: 0,
    };

    /// Shape from dimension sizes; `None` when there are more than [`MAX_DIMS`] or one is negative.
    pub fn from_i32(dims: impl IntoIterator<Item = i32>) -> Option<Self> {
        let mut s = Shape::default();
        for d in dims {
            if s.len == MAX_DIMS || d < 0 {
                return None;
            }
            s.dims[s.len] = d as usize;
            s.len += 1;
        }
        Some(s)
    }

    /// Shape from `usize` dimension sizes (at most [`MAX_DIMS`]).
    pub fn new(dims: &[usize]) -> Option<Self> {
        if dims.len() > MAX_DIMS {
            return None;
        }
        let mut s = Shape::default();
        s.dims[..dims.len()].copy_from_slice(dims);
        s.len = dims.len();
        Some(s)
    }

    /// The dimension sizes.
    pub fn dims(&self) -> &[usize] {
        &self.dims[..self.len]
    }

    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.len
    }

    /// Size of dimension `i` (1 when out of range, like an extended shape).
    pub fn dim(&self, i: usize) -> usize {
        if i < self.len {
            self.dims[i]
        } else {
            1
        }
    }

    /// Product of all dimensions (saturating, so absurd shapes fail size checks instead of wrapping).
    pub fn num_elements(&self) -> usize {
        self.dims().iter().fold(1usize, |a, &d| a.saturating_mul(d))
    }

    /// The shape left-padded with ones to `n` dimensions (`n` ≥ rank, ≤ [`MAX_DIMS`]).
    pub fn extended<const N: usize>(&self) -> [usize; N] {
        let mut out = [1usize; N];
        for (i, d) in self.dims().iter().rev().take(N).enumerate() {
            out[N - 1 - i] = *d;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extends_with_leading_ones() {
        let s = Shape::new(&[2, 3]).unwrap();
        assert_eq!(s.extended::<4>(), [1, 1, 2, 3]);
        assert_eq!(s.num_elements(), 6);
        assert!(Shape::from_i32([1, -1]).is_none());
    }
}
