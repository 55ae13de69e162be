//! AVX2 kernels (x86-64). Every `#[target_feature(enable = "avx2")]` function here is only
//! called through the safe wrappers at the bottom of each section, after [`super::isa`]
//! reported AVX2 (which `is_x86_feature_detected!` checked).
//!
//! Requantization is TFLM's `MultiplyByQuantizedMultiplier` (double rounding) in 8 lanes:
//! gemmlowp's `SaturatingRoundingDoublingHighMul` is `(a·b + 2^30) >> 31` on the exact 64-bit
//! product (its nudge and truncating division amount to exactly that, rounding halves up), which
//! `vpmuldq` computes for the even and odd lanes; `RoundingDivideByPOT` is its mask / threshold
//! form lane by lane.
use core::arch::x86_64::*;

use crate::kernels::add::AddParams;
use crate::kernels::conv::{self, ConvParams};
use crate::kernels::depthwise::DepthwiseParams;
use crate::kernels::fully_connected::FullyConnectedParams;
use crate::kernels::pooling::{self, PoolParams};
use crate::kernels::{requantize, PerChannel};

/// One 8-lane requantization: multiplier, left shift (≤ 30) and right shift (≤ 31) per lane.
#[derive(Clone, Copy)]
struct Rq8 {
    mult: __m256i,
    lsh: __m256i,
    rsh: __m256i,
}

/// Lanes from eight multipliers and eight shifts (positive: left).
#[target_feature(enable = "avx2")]
fn rq8(mult: &[i32; 8], shift: &[i8; 8]) -> Rq8 {
    // SAFETY: both pointers address 32 and 8 readable bytes (array references); unaligned
    // loads.
    let (m, s) = unsafe {
        (
            _mm256_loadu_si256(mult.as_ptr().cast()),
            _mm256_cvtepi8_epi32(_mm_loadl_epi64(shift.as_ptr().cast())),
        )
    };
    let zero = _mm256_setzero_si256();
    Rq8 {
        mult: m,
        lsh: _mm256_min_epi32(_mm256_max_epi32(s, zero), _mm256_set1_epi32(30)),
        rsh: _mm256_min_epi32(
            _mm256_max_epi32(_mm256_sub_epi32(zero, s), zero),
            _mm256_set1_epi32(31),
        ),
    }
}

/// The same multiplier and shift in every lane.
#[target_feature(enable = "avx2")]
fn rq8_splat(multiplier: i32, shift: i32) -> Rq8 {
    Rq8 {
        mult: _mm256_set1_epi32(multiplier),
        lsh: _mm256_set1_epi32(shift.clamp(0, 30)),
        rsh: _mm256_set1_epi32((-shift).clamp(0, 31)),
    }
}

/// TFLM `MultiplyByQuantizedMultiplier` in each lane.
#[target_feature(enable = "avx2")]
fn mbqm(x: __m256i, q: Rq8) -> __m256i {
    let x = _mm256_sllv_epi32(x, q.lsh);
    let nudge = _mm256_set1_epi64x(1 << 30);
    let even = _mm256_add_epi64(_mm256_mul_epi32(x, q.mult), nudge);
    let odd = _mm256_add_epi64(
        _mm256_mul_epi32(_mm256_srli_epi64::<32>(x), _mm256_srli_epi64::<32>(q.mult)),
        nudge,
    );
    // Bits 31..62 of each 64-bit sum: low half for the even lanes, high half for the odd ones.
    let r = _mm256_blend_epi32::<0b1010_1010>(
        _mm256_srli_epi64::<31>(even),
        _mm256_slli_epi64::<1>(odd),
    );
    // i32::MIN · i32::MIN saturates to i32::MAX (the sum above wrapped to i32::MIN: flip it).
    let min = _mm256_set1_epi32(i32::MIN);
    let sat = _mm256_and_si256(_mm256_cmpeq_epi32(x, min), _mm256_cmpeq_epi32(q.mult, min));
    let r = _mm256_xor_si256(r, sat);
    // RoundingDivideByPOT(r, rsh).
    let one = _mm256_set1_epi32(1);
    let mask = _mm256_sub_epi32(_mm256_sllv_epi32(one, q.rsh), one);
    let rem = _mm256_and_si256(r, mask);
    let thr = _mm256_add_epi32(_mm256_srli_epi32::<1>(mask), _mm256_srli_epi32::<31>(r));
    _mm256_sub_epi32(_mm256_srav_epi32(r, q.rsh), _mm256_cmpgt_epi32(rem, thr))
}

/// Requantized, offset and clamped lanes.
#[target_feature(enable = "avx2")]
fn finish(acc: __m256i, q: Rq8, offset: __m256i, lo: __m256i, hi: __m256i) -> __m256i {
    _mm256_min_epi32(
        _mm256_max_epi32(_mm256_add_epi32(mbqm(acc, q), offset), lo),
        hi,
    )
}

/// Sixteen clamped i32 lanes (a: 0..8, b: 8..16) as sixteen i8 in order.
#[target_feature(enable = "avx2")]
fn pack16(a: __m256i, b: __m256i) -> __m128i {
    let w = _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_packs_epi32(a, b));
    _mm_packs_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256::<1>(w))
}

/// Stores the first `n` (≤ 16) bytes of `v` at `dst`.
#[target_feature(enable = "avx2")]
fn store_n(v: __m128i, dst: &mut [i8], n: usize) {
    if n >= 16 && dst.len() >= 16 {
        // SAFETY: `dst` has at least 16 writable bytes; unaligned store.
        unsafe { _mm_storeu_si128(dst.as_mut_ptr().cast(), v) };
    } else {
        let mut tmp = [0i8; 16];
        // SAFETY: `tmp` is 16 writable bytes; unaligned store.
        unsafe { _mm_storeu_si128(tmp.as_mut_ptr().cast(), v) };
        let n = n.min(dst.len()).min(16);
        dst[..n].copy_from_slice(&tmp[..n]);
    }
}

#[target_feature(enable = "avx2")]
fn hsum(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
    _mm_cvtsi128_si32(s)
}

/// Per-channel requantization of one 16-channel block, padded with harmless lanes.
#[derive(Clone, Copy)]
struct Block16 {
    rq: [Rq8; 2],
    bias: [__m256i; 2],
}

#[target_feature(enable = "avx2")]
fn block16(pc: &PerChannel<'_>, c0: usize, channels: usize) -> Block16 {
    let mut mult = [0i32; 16];
    let mut shift = [0i8; 16];
    let mut bias = [0i32; 16];
    for j in 0..16 {
        let c = c0 + j;
        if c < channels {
            mult[j] = pc.multiplier[c];
            shift[j] = pc.shift[c];
            bias[j] = pc.bias[c];
        }
    }
    let halves = |k: usize| -> ([i32; 8], [i8; 8], [i32; 8]) {
        let mut m = [0i32; 8];
        let mut s = [0i8; 8];
        let mut b = [0i32; 8];
        m.copy_from_slice(&mult[8 * k..8 * k + 8]);
        s.copy_from_slice(&shift[8 * k..8 * k + 8]);
        b.copy_from_slice(&bias[8 * k..8 * k + 8]);
        (m, s, b)
    };
    let (m0, s0, b0) = halves(0);
    let (m1, s1, b1) = halves(1);
    // SAFETY: b0 and b1 are 32 readable bytes each; unaligned loads.
    let bias = unsafe {
        [
            _mm256_loadu_si256(b0.as_ptr().cast()),
            _mm256_loadu_si256(b1.as_ptr().cast()),
        ]
    };
    Block16 {
        rq: [rq8(&m0, &s0), rq8(&m1, &s1)],
        bias,
    }
}

// ---------------------------------------------------------------------------------------------
// CONV_2D on the packed filter (`conv::widen_filter`): blocks of 16 output channels, each K
// pair of a channel adjacent, so one `vpmaddwd` of a broadcast input pair against a 32-byte
// filter row adds two taps into eight channel accumulators. MR output pixels share every
// filter load; the accumulators stay in registers for the whole K loop, then are requantized
// in place and stored as int8.

/// Output pixels per register tile.
const MR: usize = 4;
/// Most 16-channel blocks the AVX2 conv keeps requantization constants for (512 channels).
const MAX_BLOCKS: usize = 32;

#[target_feature(enable = "avx2")]
fn conv_avx2(p: &ConvParams, pc: &PerChannel<'_>, input: &[i8], packed: &[i16], output: &mut [i8]) {
    let kp = conv::patch_pairs(p);
    let kpad = 2 * kp;
    let blocks = p.out_c.div_ceil(16);
    let pixels = p.batches * p.out_h * p.out_w;
    let hw = p.out_h * p.out_w;
    if kpad > conv::PATCH_MAX
        || blocks > MAX_BLOCKS
        || packed.len() < blocks * kp * 32
        || output.len() < pixels * p.out_c
        || pc.shift.len() < p.out_c
        || pc.bias.len() < p.out_c
    {
        return;
    }
    let mut consts = [Block16 {
        rq: [rq8_splat(0, 0); 2],
        bias: [_mm256_setzero_si256(); 2],
    }; MAX_BLOCKS];
    for (cb, c) in consts.iter_mut().enumerate().take(blocks) {
        *c = block16(pc, cb * 16, p.out_c);
    }
    let offset = _mm256_set1_epi32(p.output_offset);
    let (lo, hi) = (_mm256_set1_epi32(p.act_min), _mm256_set1_epi32(p.act_max));
    let tile = Tile {
        consts: &consts[..blocks],
        offset,
        lo,
        hi,
        kp,
        out_c: p.out_c,
        vnni: super::isa() == super::Isa::Avx512Vnni,
    };
    if p.dilation_w == 1 {
        PADDED.with_borrow_mut(|img| conv_direct(p, &tile, input, packed, output, img));
        return;
    }
    let mut buf = [0i16; MR * conv::PATCH_MAX];
    let mut q = 0;
    while q < pixels {
        let np = MR.min(pixels - q);
        for j in 0..np {
            let (b, r) = ((q + j) / hw, (q + j) % hw);
            let dst = &mut buf[j * kpad..(j + 1) * kpad];
            conv::gather(p, input, b, r / p.out_w, r % p.out_w, dst);
        }
        // Pixels past the last one re-read the first patch (results not stored).
        let at: [usize; MR] = core::array::from_fn(|j| if j < np { j * kpad } else { 0 });
        // SAFETY: every offset in `at` plus 2·kp ≤ kpad elements stays inside `buf`.
        unsafe {
            tile_run(
                &tile,
                buf.as_ptr(),
                &at,
                &[0],
                kp,
                kp,
                packed,
                output,
                q,
                np,
            )
        };
        q += np;
    }
}

/// The constants of one conv for the register tile.
struct Tile<'a> {
    consts: &'a [Block16],
    offset: __m256i,
    lo: __m256i,
    hi: __m256i,
    /// Tap pairs of the whole patch.
    kp: usize,
    out_c: usize,
    /// Run the AVX-512 VNNI tile (checked at dispatch).
    vnni: bool,
}

/// Runs every 16-channel block of `np` (≤ MR) output pixels starting at pixel `q`: pixel j's
/// patch is `rows` runs of `row_pairs` i16 pairs, run r at `x + at[j] + row_off[r]`.
///
/// # Safety
/// AVX2 must be available; for every j < MR and r < rows, `x + at[j] + row_off[r]` must address
/// `2·row_pairs` readable i16s; `rows · row_pairs == tile.kp`; `packed` must hold
/// `consts.len() · kp · 32` i16s and `output` `(q + np) · out_c` bytes.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2")]
unsafe fn tile_run(
    tile: &Tile<'_>,
    x: *const i16,
    at: &[usize],
    row_off: &[usize],
    row_pairs: usize,
    kp: usize,
    packed: &[i16],
    output: &mut [i8],
    q: usize,
    np: usize,
) {
    let _ = kp;
    for (cb, k) in tile.consts.iter().enumerate() {
        let mut wp = packed[cb * tile.kp * 32..(cb + 1) * tile.kp * 32].as_ptr();
        let mut acc = [[_mm256_setzero_si256(); 2]; MR];
        for &ro in row_off {
            let xs: [*const i16; MR] = core::array::from_fn(|j| x.add(at[j] + ro));
            for t in 0..row_pairs {
                // SAFETY (caller): the filter rows are inside `packed` (kp rows per block,
                // walked once); pair t of each run is inside its run.
                let f0 = _mm256_loadu_si256(wp.cast());
                let f1 = _mm256_loadu_si256(wp.add(16).cast());
                wp = wp.add(32);
                for (a, &xj) in acc.iter_mut().zip(&xs) {
                    let pair = xj.add(2 * t).cast::<i32>().read_unaligned();
                    let v = _mm256_set1_epi32(pair);
                    a[0] = _mm256_add_epi32(a[0], _mm256_madd_epi16(v, f0));
                    a[1] = _mm256_add_epi32(a[1], _mm256_madd_epi16(v, f1));
                }
            }
        }
        let n = 16.min(tile.out_c - cb * 16);
        for (j, a) in acc.iter().enumerate().take(np) {
            let v0 = finish(
                _mm256_add_epi32(a[0], k.bias[0]),
                k.rq[0],
                tile.offset,
                tile.lo,
                tile.hi,
            );
            let v1 = finish(
                _mm256_add_epi32(a[1], k.bias[1]),
                k.rq[1],
                tile.offset,
                tile.lo,
                tile.hi,
            );
            let o = (q + j) * tile.out_c + cb * 16;
            store_n(pack16(v0, v1), &mut output[o..], n);
        }
    }
}

/// Output pixels per AVX-512 tile: twelve independent `vpdpwssd` chains cover its latency.
#[cfg(snapuq_avx512)]
const MR512: usize = 8;

/// [`tile_run`] on 512-bit lanes: one 16-channel block is one register, and `vpdpwssd` does
/// the pair multiply-add and the accumulation in one instruction.
///
/// # Safety
/// As [`tile_run`] (with `at` holding [`MR512`] offsets), and the CPU must have AVX-512 F, BW
/// and VNNI.
// The AVX-512 intrinsics are stable since Rust 1.89, above the workspace's 1.88 floor: this
// function only exists when build.rs found a compiler that has them (`cfg(snapuq_avx512)`).
#[cfg(snapuq_avx512)]
#[allow(clippy::too_many_arguments, clippy::incompatible_msrv)]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vnni")]
unsafe fn tile_run512(
    tile: &Tile<'_>,
    x: *const i16,
    at: &[usize],
    row_off: &[usize],
    row_pairs: usize,
    packed: &[i16],
    output: &mut [i8],
    q: usize,
    np: usize,
) {
    for (cb, k) in tile.consts.iter().enumerate() {
        let mut wp = packed[cb * tile.kp * 32..(cb + 1) * tile.kp * 32].as_ptr();
        let z = _mm512_setzero_si512();
        let (mut a0, mut a1, mut a2, mut a3, mut a4, mut a5, mut a6, mut a7) =
            (z, z, z, z, z, z, z, z);
        for &ro in row_off {
            let xs: [*const i16; MR512] = core::array::from_fn(|j| x.add(at[j] + ro));
            // Named accumulators (not an array) so they live in registers for the whole loop.
            for t in 0..row_pairs {
                // SAFETY (caller): as in `tile_run`; the 32 i16s at `wp` are one filter row.
                let f = _mm512_loadu_si512(wp.cast());
                wp = wp.add(32);
                let x =
                    |j: usize| _mm512_set1_epi32(xs[j].add(2 * t).cast::<i32>().read_unaligned());
                a0 = _mm512_dpwssd_epi32(a0, x(0), f);
                a1 = _mm512_dpwssd_epi32(a1, x(1), f);
                a2 = _mm512_dpwssd_epi32(a2, x(2), f);
                a3 = _mm512_dpwssd_epi32(a3, x(3), f);
                a4 = _mm512_dpwssd_epi32(a4, x(4), f);
                a5 = _mm512_dpwssd_epi32(a5, x(5), f);
                a6 = _mm512_dpwssd_epi32(a6, x(6), f);
                a7 = _mm512_dpwssd_epi32(a7, x(7), f);
            }
        }
        let acc = [a0, a1, a2, a3, a4, a5, a6, a7];
        let n = 16.min(tile.out_c - cb * 16);
        for (j, a) in acc.iter().enumerate().take(np) {
            let (a0, a1) = (
                _mm512_castsi512_si256(*a),
                _mm512_extracti64x4_epi64::<1>(*a),
            );
            let v0 = finish(
                _mm256_add_epi32(a0, k.bias[0]),
                k.rq[0],
                tile.offset,
                tile.lo,
                tile.hi,
            );
            let v1 = finish(
                _mm256_add_epi32(a1, k.bias[1]),
                k.rq[1],
                tile.offset,
                tile.lo,
                tile.hi,
            );
            let o = (q + j) * tile.out_c + cb * 16;
            store_n(pack16(v0, v1), &mut output[o..], n);
        }
    }
}

std::thread_local! {
    /// Per-thread zero-padded i16 copy of a conv input (grows to the largest layer, then stays).
    static PADDED: core::cell::RefCell<std::vec::Vec<i16>> =
        const { core::cell::RefCell::new(std::vec::Vec::new()) };
}

/// Dilation-free rows: the input is converted once per call to `x − zp` in i16 with the padding
/// materialised as zeros, so each filter row of each output pixel is a contiguous run of the
/// padded image and the tile reads it in place (no per-pixel gather).
#[target_feature(enable = "avx2")]
fn conv_direct(
    p: &ConvParams,
    tile: &Tile<'_>,
    input: &[i8],
    packed: &[i16],
    output: &mut [i8],
    img: &mut std::vec::Vec<i16>,
) {
    let rp = conv::row_pairs(p);
    let eff_h = (p.k_h - 1) * p.dilation_h + 1;
    let pad_b = ((p.out_h - 1) * p.stride_h + eff_h).saturating_sub(p.pad_h + p.in_h);
    let pad_r = ((p.out_w - 1) * p.stride_w + p.k_w).saturating_sub(p.pad_w + p.in_w);
    let (hp, wp) = (p.pad_h + p.in_h + pad_b, p.pad_w + p.in_w + pad_r);
    let c = p.in_c;
    // +2: the last pair of a row with an odd tap count reads one element past the run.
    let need = p.batches * hp * wp * c + 2;
    img.clear();
    img.resize(need, 0);
    let run = p.in_w * c;
    for b in 0..p.batches {
        for y in 0..p.in_h {
            let src = &input[(b * p.in_h + y) * run..][..run];
            let dst = &mut img[((b * hp + p.pad_h + y) * wp + p.pad_w) * c..][..run];
            for (d, &v) in dst.iter_mut().zip(src) {
                *d = (i32::from(v) + p.input_offset) as i16;
            }
        }
    }
    let row_off: [usize; 16] = core::array::from_fn(|fy| fy * p.dilation_h * wp * c);
    let rows = &row_off[..p.k_h.min(16)];
    let hw = p.out_h * p.out_w;
    let pixels = p.batches * hw;
    let base = |q: usize| {
        let (b, r) = (q / hw, q % hw);
        ((b * hp + (r / p.out_w) * p.stride_h) * wp + (r % p.out_w) * p.stride_w) * c
    };
    #[cfg(snapuq_avx512)]
    let group = if tile.vnni { MR512 } else { MR };
    #[cfg(not(snapuq_avx512))]
    let group = MR;
    let mut q = 0;
    while q < pixels {
        let np = group.min(pixels - q);
        let at: [usize; 16] = core::array::from_fn(|j| base(q + j.min(np - 1)));
        // SAFETY: pixel bases plus row offsets stay inside the padded image: the last row read
        // is (out_h−1)·stride_h + (k_h−1)·dilation_h < hp, the last column
        // (out_w−1)·stride_w + k_w − 1 < wp, and a run of 2·row_pairs ≤ k_w·c + 1 elements
        // ends at most one element past the image, inside the +2 slack; rows·row_pairs = kp;
        // `conv_avx2` checked `packed` and `output`; `vnni` is set only when the CPU has
        // AVX-512 F, BW and VNNI (`isa()`).
        unsafe {
            #[cfg(snapuq_avx512)]
            if tile.vnni {
                tile_run512(tile, img.as_ptr(), &at, rows, rp, packed, output, q, np);
                q += np;
                continue;
            }
            tile_run(
                tile,
                img.as_ptr(),
                &at,
                rows,
                rp,
                tile.kp,
                packed,
                output,
                q,
                np,
            );
        }
        q += np;
    }
}

/// CONV_2D on the packed i16 filter with AVX2; false when this CPU or geometry is not for it
/// (the caller then runs the portable path).
pub(crate) fn conv(
    p: &ConvParams,
    pc: &PerChannel<'_>,
    input: &[i8],
    packed: &[i16],
    output: &mut [i8],
) -> bool {
    if !super::isa().has_avx2()
        || p.out_c.div_ceil(16) > MAX_BLOCKS
        || p.k_h > 16
        || 2 * conv::patch_pairs(p) > conv::PATCH_MAX
        || p.out_h == 0
        || p.out_w == 0
    {
        return false;
    }
    // SAFETY: `isa()` is AVX2 only when `is_x86_feature_detected!("avx2")` said so.
    unsafe { conv_avx2(p, pc, input, packed, output) };
    true
}

// ---------------------------------------------------------------------------------------------
// DEPTHWISE_CONV_2D, depth multiplier 1: 16 channels at a time, (x − zp)·w exact in i16
// (|x − zp| ≤ 255, |w| ≤ 128), widened to i32 before accumulating.

#[target_feature(enable = "avx2")]
fn depthwise_avx2(
    p: &DepthwiseParams,
    pc: &PerChannel<'_>,
    input: &[i8],
    filter: &[i8],
    output: &mut [i8],
) {
    let c = p.in_c;
    let full = c / 16 * 16;
    let off16 = _mm256_set1_epi16(p.input_offset as i16);
    let offset = _mm256_set1_epi32(p.output_offset);
    let (lo, hi) = (_mm256_set1_epi32(p.act_min), _mm256_set1_epi32(p.act_max));
    let mut consts = [Block16 {
        rq: [rq8_splat(0, 0); 2],
        bias: [_mm256_setzero_si256(); 2],
    }; MAX_BLOCKS];
    for (cb, k) in consts.iter_mut().enumerate().take(full / 16) {
        *k = block16(pc, cb * 16, c);
    }
    // The filter widened to i16 and interleaved once per call, for fixed pairs of taps
    // (2k, 2k+1; an odd last tap is paired with a zero filter): per pair and 16-channel block,
    // 32 i16s in the lane order `vpunpck{l,h}wd` gives the interleaved inputs, so one
    // `vpmaddwd` adds two taps of eight channels. The wrapper bounds the sizes.
    let taps_n = p.k_h * p.k_w;
    let pairs = taps_n.div_ceil(2);
    let blocks = full / 16;
    let mut packed = [0i16; 2 * DW_FILTER_MAX];
    for pr in 0..pairs {
        for cb in 0..blocks {
            let widen16 = |t: usize| -> __m256i {
                if t >= taps_n {
                    return _mm256_setzero_si256();
                }
                let fs = &filter[t * c + cb * 16..][..16];
                // SAFETY: `fs` is 16 bytes; unaligned load.
                _mm256_cvtepi8_epi16(unsafe { _mm_loadu_si128(fs.as_ptr().cast()) })
            };
            let (fa, fb) = (widen16(2 * pr), widen16(2 * pr + 1));
            let dst = &mut packed[(pr * blocks + cb) * 32..][..32];
            // SAFETY: `dst` is 32 i16s (64 bytes): two unaligned 32-byte stores.
            unsafe {
                _mm256_storeu_si256(dst.as_mut_ptr().cast(), _mm256_unpacklo_epi16(fa, fb));
                _mm256_storeu_si256(
                    dst.as_mut_ptr().add(16).cast(),
                    _mm256_unpackhi_epi16(fa, fb),
                );
            }
        }
    }
    // Taps outside the image read a row of zero points: x − zp = 0 adds nothing (as TFLM's
    // skipped tap).
    let zp_row = [(-p.input_offset) as i8; DW_FILTER_MAX];
    for b in 0..p.batches {
        for oy in 0..p.out_h {
            let iy0 = (oy * p.stride_h) as isize - p.pad_h as isize;
            for ox in 0..p.out_w {
                let ix0 = (ox * p.stride_w) as isize - p.pad_w as isize;
                let out_base = ((b * p.out_h + oy) * p.out_w + ox) * c;
                // Each tap's input row for this pixel (the zero-point row when outside).
                let mut rows: [&[i8]; DW_TAPS + 1] = [&zp_row[..c]; DW_TAPS + 1];
                for fy in 0..p.k_h {
                    let iy = iy0 + (fy * p.dilation_h) as isize;
                    if iy < 0 || iy >= p.in_h as isize {
                        continue;
                    }
                    for fx in 0..p.k_w {
                        let ix = ix0 + (fx * p.dilation_w) as isize;
                        if ix < 0 || ix >= p.in_w as isize {
                            continue;
                        }
                        rows[fy * p.k_w + fx] =
                            &input[((b * p.in_h + iy as usize) * p.in_w + ix as usize) * c..][..c];
                    }
                }
                for (cb, k) in consts.iter().enumerate().take(blocks) {
                    let c0 = cb * 16;
                    let mut al = _mm256_setzero_si256();
                    let mut ah = _mm256_setzero_si256();
                    for pr in 0..pairs {
                        let (ra, rb) = (&rows[2 * pr][c0..c0 + 16], &rows[2 * pr + 1][c0..c0 + 16]);
                        let fp = &packed[(pr * blocks + cb) * 32..][..32];
                        // SAFETY: `ra`, `rb` are 16 bytes and `fp` 32 i16s; unaligned loads.
                        let (xa, xb, fl, fh) = unsafe {
                            (
                                _mm_loadu_si128(ra.as_ptr().cast()),
                                _mm_loadu_si128(rb.as_ptr().cast()),
                                _mm256_loadu_si256(fp.as_ptr().cast()),
                                _mm256_loadu_si256(fp.as_ptr().add(16).cast()),
                            )
                        };
                        let xa = _mm256_add_epi16(_mm256_cvtepi8_epi16(xa), off16);
                        let xb = _mm256_add_epi16(_mm256_cvtepi8_epi16(xb), off16);
                        al = _mm256_add_epi32(
                            al,
                            _mm256_madd_epi16(_mm256_unpacklo_epi16(xa, xb), fl),
                        );
                        ah = _mm256_add_epi32(
                            ah,
                            _mm256_madd_epi16(_mm256_unpackhi_epi16(xa, xb), fh),
                        );
                    }
                    // al holds channels 0–3 | 8–11, ah 4–7 | 12–15.
                    let a0 = _mm256_permute2x128_si256::<0x20>(al, ah);
                    let a1 = _mm256_permute2x128_si256::<0x31>(al, ah);
                    let v0 = finish(_mm256_add_epi32(a0, k.bias[0]), k.rq[0], offset, lo, hi);
                    let v1 = finish(_mm256_add_epi32(a1, k.bias[1]), k.rq[1], offset, lo, hi);
                    store_n(pack16(v0, v1), &mut output[out_base + c0..], 16);
                }
                for oc in full..c {
                    let mut acc = 0i32;
                    for fy in 0..p.k_h {
                        let iy = iy0 + (fy * p.dilation_h) as isize;
                        if iy < 0 || iy >= p.in_h as isize {
                            continue;
                        }
                        for fx in 0..p.k_w {
                            let ix = ix0 + (fx * p.dilation_w) as isize;
                            if ix < 0 || ix >= p.in_w as isize {
                                continue;
                            }
                            let x =
                                input[((b * p.in_h + iy as usize) * p.in_w + ix as usize) * c + oc];
                            let f = filter[(fy * p.k_w + fx) * c + oc];
                            acc = acc.wrapping_add(i32::from(f) * (i32::from(x) + p.input_offset));
                        }
                    }
                    output[out_base + oc] = requantize(
                        acc.wrapping_add(pc.bias[oc]),
                        pc.multiplier[oc],
                        i32::from(pc.shift[oc]),
                        p.output_offset,
                        p.act_min,
                        p.act_max,
                    );
                }
            }
        }
    }
}

/// Most taps (k_h·k_w) and filter elements the AVX2 depthwise handles.
const DW_TAPS: usize = 64;
const DW_FILTER_MAX: usize = 8192;

/// DEPTHWISE_CONV_2D with AVX2 (depth multiplier 1, slices already checked by the caller);
/// false when not applicable.
pub(crate) fn depthwise(
    p: &DepthwiseParams,
    pc: &PerChannel<'_>,
    input: &[i8],
    filter: &[i8],
    output: &mut [i8],
) -> bool {
    if !super::isa().has_avx2()
        || p.depth_multiplier != 1
        || p.in_c < 16
        || p.in_c / 16 > MAX_BLOCKS
        || p.k_h * p.k_w > DW_TAPS
        || (p.k_h * p.k_w + 1) * p.in_c > DW_FILTER_MAX
        || !(-127..=128).contains(&p.input_offset)
    {
        return false;
    }
    // SAFETY: `isa()` is AVX2 only when `is_x86_feature_detected!("avx2")` said so.
    unsafe { depthwise_avx2(p, pc, input, filter, output) };
    true
}

// ---------------------------------------------------------------------------------------------
// ADD (equal shapes): both inputs rescaled, summed and requantized eight lanes at a time.

#[target_feature(enable = "avx2")]
fn add_avx2(p: &AddParams, a: &[i8], b: &[i8], out: &mut [i8]) {
    let n = out.len().min(a.len()).min(b.len());
    let q1 = rq8_splat(p.input1_multiplier, p.input1_shift);
    let q2 = rq8_splat(p.input2_multiplier, p.input2_shift);
    let qo = rq8_splat(p.output_multiplier, p.output_shift);
    let (o1, o2) = (
        _mm256_set1_epi32(p.input1_offset),
        _mm256_set1_epi32(p.input2_offset),
    );
    let ls = _mm_cvtsi32_si128(p.left_shift);
    let offset = _mm256_set1_epi32(p.output_offset);
    let (lo, hi) = (_mm256_set1_epi32(p.act_min), _mm256_set1_epi32(p.act_max));
    let lanes = |v: &[i8]| -> __m256i {
        // SAFETY: callers pass 8-byte slices; an 8-byte unaligned load.
        unsafe { _mm256_cvtepi8_epi32(_mm_loadl_epi64(v.as_ptr().cast())) }
    };
    let mut i = 0;
    while i + 16 <= n {
        let mut v = [_mm256_setzero_si256(); 2];
        for (h, vh) in v.iter_mut().enumerate() {
            let at = i + 8 * h;
            let x = _mm256_sll_epi32(_mm256_add_epi32(lanes(&a[at..at + 8]), o1), ls);
            let y = _mm256_sll_epi32(_mm256_add_epi32(lanes(&b[at..at + 8]), o2), ls);
            let sum = _mm256_add_epi32(mbqm(x, q1), mbqm(y, q2));
            *vh = finish(sum, qo, offset, lo, hi);
        }
        store_n(pack16(v[0], v[1]), &mut out[i..], 16);
        i += 16;
    }
    crate::kernels::add::eval_scalar(p, &a[i..n], &b[i..n], &mut out[i..n]);
}

/// Elementwise ADD with AVX2; false when this CPU is not for it.
pub(crate) fn add(p: &AddParams, a: &[i8], b: &[i8], out: &mut [i8]) -> bool {
    if !super::isa().has_avx2() || !(0..=31).contains(&p.left_shift) {
        return false;
    }
    // SAFETY: `isa()` is AVX2 only when `is_x86_feature_detected!("avx2")` said so.
    unsafe { add_avx2(p, a, b, out) };
    true
}

// ---------------------------------------------------------------------------------------------
// FULLY_CONNECTED: four units share each 16-byte input load; i16 multiply-add, horizontal sum.

#[target_feature(enable = "avx2")]
fn fully_connected_avx2(
    p: &FullyConnectedParams,
    pc: &PerChannel<'_>,
    input: &[i8],
    filter: &[i8],
    output: &mut [i8],
) {
    let d = p.depth;
    let body = d / 16 * 16;
    let k = d as i32;
    let tail = |x: &[i8], w: &[i8]| -> i32 {
        x[body..].iter().zip(&w[body..]).fold(0i32, |a, (&x, &w)| {
            a.wrapping_add(i32::from(x) * i32::from(w))
        })
    };
    for b in 0..p.batches {
        let x = &input[b * d..][..d];
        let xsum = x.iter().fold(0i32, |a, &v| a.wrapping_add(i32::from(v)));
        let mut dots = [0i32; 4];
        let mut u = 0;
        while u < p.units {
            let nu = 4.min(p.units - u);
            let row = |j: usize| &filter[(u + j.min(nu - 1)) * d..][..d];
            let (w0, w1, w2, w3) = (row(0), row(1), row(2), row(3));
            let z = _mm256_setzero_si256();
            let (mut s0, mut s1, mut s2, mut s3) = (z, z, z, z);
            let mut t = 0;
            while t + 16 <= body {
                // SAFETY: t + 16 ≤ body ≤ d, and `x` and every `wj` hold d bytes; unaligned.
                let (xv, f0, f1, f2, f3) = unsafe {
                    let ld =
                        |v: &[i8]| _mm256_cvtepi8_epi16(_mm_loadu_si128(v.as_ptr().add(t).cast()));
                    (ld(x), ld(w0), ld(w1), ld(w2), ld(w3))
                };
                s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(xv, f0));
                s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(xv, f1));
                s2 = _mm256_add_epi32(s2, _mm256_madd_epi16(xv, f2));
                s3 = _mm256_add_epi32(s3, _mm256_madd_epi16(xv, f3));
                t += 16;
            }
            let acc = [s0, s1, s2, s3];
            let w = [w0, w1, w2, w3];
            for j in 0..nu {
                dots[j] = hsum(acc[j]).wrapping_add(tail(x, w[j]));
            }
            for (j, &dot) in dots.iter().enumerate().take(nu) {
                let unit = u + j;
                let acc = dot
                    .wrapping_add(p.input_offset.wrapping_mul(pc.filter_sum[unit]))
                    .wrapping_add(p.filter_offset.wrapping_mul(xsum))
                    .wrapping_add(k.wrapping_mul(p.filter_offset).wrapping_mul(p.input_offset))
                    .wrapping_add(pc.bias[unit]);
                output[b * p.units + unit] = requantize(
                    acc,
                    pc.multiplier[unit],
                    i32::from(pc.shift[unit]),
                    p.output_offset,
                    p.act_min,
                    p.act_max,
                );
            }
            u += nu;
        }
    }
}

/// FULLY_CONNECTED with AVX2 (slices already checked by the caller); false when not applicable.
pub(crate) fn fully_connected(
    p: &FullyConnectedParams,
    pc: &PerChannel<'_>,
    input: &[i8],
    filter: &[i8],
    output: &mut [i8],
) -> bool {
    if !super::isa().has_avx2() || p.units == 0 || p.depth == 0 {
        return false;
    }
    // SAFETY: `isa()` is AVX2 only when `is_x86_feature_detected!("avx2")` said so.
    unsafe { fully_connected_avx2(p, pc, input, filter, output) };
    true
}

// ---------------------------------------------------------------------------------------------
// AVERAGE_POOL_2D: the portable channel-blocked loop, compiled for AVX2 (the compiler widens
// its channel loop to 256-bit lanes).

#[target_feature(enable = "avx2")]
fn average_avx2(p: &PoolParams, input: &[i8], output: &mut [i8]) -> bool {
    pooling::average_blocked(p, input, output)
}

/// Average pooling with AVX2 code generation; `None` when this CPU is not for it.
pub(crate) fn average_pool(p: &PoolParams, input: &[i8], output: &mut [i8]) -> Option<bool> {
    if !super::isa().has_avx2() {
        return None;
    }
    // SAFETY: `isa()` is AVX2 only when `is_x86_feature_detected!("avx2")` said so.
    Some(unsafe { average_avx2(p, input, output) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::mul_by_quantized_multiplier;
    use proptest::prelude::*;

    /// Eight-lane requantization against the scalar TFLM transcription.
    fn lanes(x: [i32; 8], mult: [i32; 8], shift: [i8; 8]) -> Option<[i32; 8]> {
        if !std::is_x86_feature_detected!("avx2") {
            return None;
        }
        #[target_feature(enable = "avx2")]
        fn run(x: &[i32; 8], mult: &[i32; 8], shift: &[i8; 8]) -> [i32; 8] {
            let mut out = [0i32; 8];
            // SAFETY: `x` and `out` are 32 bytes each; unaligned load and store.
            unsafe {
                let v = mbqm(_mm256_loadu_si256(x.as_ptr().cast()), rq8(mult, shift));
                _mm256_storeu_si256(out.as_mut_ptr().cast(), v);
            }
            out
        }
        // SAFETY: AVX2 was detected just above.
        Some(unsafe { run(&x, &mult, &shift) })
    }

    fn check(x: [i32; 8], mult: [i32; 8], shift: [i8; 8]) -> Result<(), TestCaseError> {
        if let Some(got) = lanes(x, mult, shift) {
            for l in 0..8 {
                let want = mul_by_quantized_multiplier(x[l], mult[l], i32::from(shift[l]));
                prop_assert_eq!(got[l], want, "x {} m {} s {}", x[l], mult[l], shift[l]);
            }
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn mbqm_lanes_equal_scalar(
            x in prop::array::uniform8(any::<i32>()),
            mult in prop::array::uniform8(prop_oneof![(1i32 << 30)..=i32::MAX, Just(0), Just(i32::MIN), any::<i32>()]),
            shift in prop::array::uniform8(-40i8..=40),
        ) {
            check(x, mult, shift)?;
        }
    }

    #[test]
    fn mbqm_edges() {
        let e = [
            i32::MIN,
            i32::MAX,
            0,
            -1,
            1,
            1 << 30,
            -(1 << 30),
            -(1 << 30) - 1,
        ];
        for &m in &[i32::MIN, i32::MAX, 1 << 30, (1 << 30) + 12345] {
            for s in -33i8..=32 {
                check(e, [m; 8], [s; 8]).unwrap();
            }
        }
    }
}
