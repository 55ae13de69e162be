//! CONCATENATION along one axis, as TFLM's `reference_ops::Concatenation`: a plain byte copy of
//! each input's block per outer index (int8 inputs must share the output's quantization, which
//! the interpreter checks at prepare).

/// Copies `inputs` (each with `axis_bytes[i]` = its axis size × inner size × element size bytes
/// per outer index) into `output`, for `outer` outer indices.
#[inline(never)]
pub fn eval(outer: usize, inputs: &[&[u8]], axis_bytes: &[usize], output: &mut [u8]) {
    let total: usize = axis_bytes.iter().sum();
    if output.len() < outer * total {
        return;
    }
    let mut o = 0;
    for k in 0..outer {
        for (inp, &n) in inputs.iter().zip(axis_bytes) {
            if let Some(src) = inp.get(k * n..(k + 1) * n) {
                output[o..o + n].copy_from_slice(src);
            }
            o += n;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn interleaves_blocks_per_outer_index() {
        let mut out = [0u8; 6];
        super::eval(2, &[&[1, 2], &[3, 4, 5, 6]], &[1, 2], &mut out);
        assert_eq!(out, [1, 3, 4, 2, 5, 6]);
    }
}
