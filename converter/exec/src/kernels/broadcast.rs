//! Broadcast indexing for binary elementwise ops (TFLM `NdArrayDesc` over up to 6 dims): each
//! input gets strides in the output's index space, with stride 0 on dimensions it broadcasts.
use crate::shape::{Shape, MAX_DIMS};

/// Output shape and per-input strides of a broadcast binary op.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Broadcast {
    pub out: [usize; MAX_DIMS],
    pub stride1: [usize; MAX_DIMS],
    pub stride2: [usize; MAX_DIMS],
}

fn strides(ext: &[usize; MAX_DIMS], out: &[usize; MAX_DIMS]) -> [usize; MAX_DIMS] {
    let mut s = [0usize; MAX_DIMS];
    let mut acc = 1usize;
    for d in (0..MAX_DIMS).rev() {
        s[d] = if ext[d] == 1 && out[d] != 1 { 0 } else { acc };
        acc = acc.saturating_mul(ext[d]);
    }
    s
}

impl Broadcast {
    /// Broadcast of `a` and `b`; `None` when a dimension pair is neither equal nor has a 1.
    pub fn new(a: &Shape, b: &Shape) -> Option<Self> {
        let ea = a.extended::<MAX_DIMS>();
        let eb = b.extended::<MAX_DIMS>();
        let mut out = [1usize; MAX_DIMS];
        for d in 0..MAX_DIMS {
            out[d] = match (ea[d], eb[d]) {
                (x, y) if x == y => x,
                (1, y) => y,
                (x, 1) => x,
                _ => return None,
            };
        }
        Some(Broadcast {
            out,
            stride1: strides(&ea, &out),
            stride2: strides(&eb, &out),
        })
    }

    /// Number of output elements.
    pub fn len(&self) -> usize {
        self.out.iter().product()
    }

    /// True when the output is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Calls `f(out_index, index1, index2)` for every output element in row-major order.
    pub fn for_each(&self, mut f: impl FnMut(usize, usize, usize)) {
        let mut idx = [0usize; MAX_DIMS];
        let n = self.len();
        let (mut i1, mut i2) = (0usize, 0usize);
        for o in 0..n {
            f(o, i1, i2);
            // Advance the odometer, last dimension fastest.
            let mut d = MAX_DIMS;
            while d > 0 {
                d -= 1;
                idx[d] += 1;
                i1 += self.stride1[d];
                i2 += self.stride2[d];
                if idx[d] < self.out[d] {
                    break;
                }
                i1 -= self.stride1[d] * self.out[d];
                i2 -= self.stride2[d] * self.out[d];
                idx[d] = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasts_row_against_matrix() {
        let a = Shape::new(&[2, 3]).unwrap();
        let b = Shape::new(&[3]).unwrap();
        let bc = Broadcast::new(&a, &b).unwrap();
        let mut seen = vec![];
        bc.for_each(|o, i, j| seen.push((o, i, j)));
        assert_eq!(
            seen,
            vec![
                (0, 0, 0),
                (1, 1, 1),
                (2, 2, 2),
                (3, 3, 0),
                (4, 4, 1),
                (5, 5, 2)
            ]
        );
        assert!(Broadcast::new(&a, &Shape::new(&[2]).unwrap()).is_none());
    }
}
