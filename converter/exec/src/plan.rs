//! Arena planning: greedy first-fit by decreasing size over tensor lifetimes (the idea of TFLM's
//! `GreedyMemoryPlanner`): two tensors may share bytes only when their lifetimes are disjoint.

/// Alignment of every planned buffer (enough for f32/i32 views and SIMD loads).
pub const ALIGN: usize = 16;

/// One buffer to place: byte size and the first/last op index during which it must hold data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Request {
    pub size: usize,
    pub first: usize,
    pub last: usize,
}

/// `n` rounded up to [`ALIGN`].
pub(crate) fn align_up(n: usize) -> usize {
    n.div_ceil(ALIGN) * ALIGN
}

/// Places `reqs` and writes each offset into `offsets`; `order` is scratch of the same length.
/// Returns the total bytes the plan needs.
pub fn plan(reqs: &[Request], order: &mut [u16], offsets: &mut [usize]) -> usize {
    let n = reqs.len().min(order.len()).min(offsets.len());
    for (i, o) in order.iter_mut().take(n).enumerate() {
        *o = i as u16;
    }
    let order = &mut order[..n];
    // Largest first; ties by earlier start, then index, so plans are deterministic. A total
    // order, so any correct sort gives the same plan; insertion sort because n is a model's
    // tensor count (tens) and it is ~3 KB less firmware code than `sort_unstable_by`.
    let before = |a: u16, b: u16| {
        let (ra, rb) = (&reqs[usize::from(a)], &reqs[usize::from(b)]);
        rb.size
            .cmp(&ra.size)
            .then(ra.first.cmp(&rb.first))
            .then(a.cmp(&b))
            .is_lt()
    };
    for i in 1..order.len() {
        let mut j = i;
        while j > 0 && before(order[j], order[j - 1]) {
            order.swap(j, j - 1);
            j -= 1;
        }
    }
    let mut total = 0usize;
    for k in 0..n {
        let i = usize::from(order[k]);
        let r = reqs[i];
        let size = align_up(r.size);
        let placed = &order[..k];
        let conflicts = |j: usize| {
            let q = &reqs[j];
            q.size > 0 && q.first <= r.last && r.first <= q.last
        };
        // Candidate offsets: 0 and the end of every conflicting placed buffer.
        let mut best = usize::MAX;
        let mut try_at = |off: usize| {
            if off >= best {
                return;
            }
            let clash = placed.iter().any(|&pj| {
                let j = usize::from(pj);
                conflicts(j) && {
                    let (s, e) = (offsets[j], offsets[j] + align_up(reqs[j].size));
                    off < e && s < off + size
                }
            });
            if !clash {
                best = off;
            }
        };
        try_at(0);
        for &pj in placed {
            let j = usize::from(pj);
            if conflicts(j) {
                try_at(offsets[j] + align_up(reqs[j].size));
            }
        }
        offsets[i] = best;
        total = total.max(best + size);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disjoint_lifetimes_share_and_overlapping_do_not() {
        let reqs = [
            Request {
                size: 100,
                first: 0,
                last: 1,
            },
            Request {
                size: 50,
                first: 1,
                last: 2,
            },
            Request {
                size: 100,
                first: 2,
                last: 3,
            },
        ];
        let mut order = [0u16; 3];
        let mut off = [0usize; 3];
        let total = plan(&reqs, &mut order, &mut off);
        assert_eq!(off[0], 0);
        assert_eq!(off[2], 0, "buffers 0 and 2 never live together");
        assert_eq!(off[1], 112);
        assert_eq!(total, 112 + 64);
    }
}
