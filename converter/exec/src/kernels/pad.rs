//! PAD / PADV2 for byte-sized elements, as TFLM's `reference_ops::Pad`: every output cell
//! outside the copied input block gets the pad value (the output zero point for int8 PAD).
use crate::shape::MAX_DIMS;

/// Geometry of one PAD.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PadParams {
    pub rank: usize,
    pub input: [usize; MAX_DIMS],
    pub before: [usize; MAX_DIMS],
    pub output: [usize; MAX_DIMS],
    pub pad_value: i8,
}

/// Fills `output` (row-major over `p.output`) from `input`.
#[inline(never)]
pub fn eval(p: &PadParams, input: &[i8], output: &mut [i8]) {
    let n_out: usize = p.output[..p.rank].iter().product();
    let n_in: usize = p.input[..p.rank].iter().product();
    if output.len() < n_out || input.len() < n_in {
        return;
    }
    let mut idx = [0usize; MAX_DIMS];
    let mut in_i = 0usize;
    for o in output.iter_mut().take(n_out) {
        let inside =
            (0..p.rank).all(|d| idx[d] >= p.before[d] && idx[d] < p.before[d] + p.input[d]);
        if inside {
            *o = input[in_i];
            in_i += 1;
        } else {
            *o = p.pad_value;
        }
        let mut d = p.rank;
        while d > 0 {
            d -= 1;
            idx[d] += 1;
            if idx[d] < p.output[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_a_matrix() {
        let mut p = PadParams {
            rank: 2,
            pad_value: -7,
            ..Default::default()
        };
        p.input[..2].copy_from_slice(&[1, 2]);
        p.before[..2].copy_from_slice(&[1, 0]);
        p.output[..2].copy_from_slice(&[3, 3]);
        let mut out = [0i8; 9];
        eval(&p, &[4, 5], &mut out);
        assert_eq!(out, [-7, -7, -7, 4, 5, -7, -7, -7, -7]);
    }
}
