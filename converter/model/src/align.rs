//! 16-byte aligned byte vectors for `Buffer.data`.
//!
//! The schema asks for `force_align: 16` on buffer data (so int32/int64/float constants can be
//! read in place, and mmap users get SIMD-friendly data), but flatc's Rust generator ignores
//! `force_align`. Pushing the bytes as a 1-byte element type whose declared alignment is 16
//! makes the builder pad before the vector body and raise the buffer's minimum alignment.
use flatbuffers::{FlatBufferBuilder, Push, PushAlignment, Vector, WIPOffset};

/// One byte that the builder must place at a 16-byte aligned vector start.
#[derive(Clone, Copy)]
struct Aligned16Byte(u8);

impl Push for Aligned16Byte {
    type Output = u8;

    // SAFETY: no unsafe operation here; the builder hands us `dst` of at least `size()` = 1
    // byte (the trait's contract), and indexing is bounds-checked anyway.
    unsafe fn push(&self, dst: &mut [u8], _written_len: usize) {
        dst[0] = self.0;
    }

    fn size() -> usize {
        1
    }

    fn alignment() -> PushAlignment {
        PushAlignment::new(16)
    }
}

/// Writes `data` as a `[ubyte]` vector whose first element is 16-byte aligned in the final
/// buffer.
pub(crate) fn aligned_bytes<'b, A: flatbuffers::Allocator + 'b>(
    fbb: &mut FlatBufferBuilder<'b, A>,
    data: &[u8],
) -> WIPOffset<Vector<'b, u8>> {
    let items: Vec<Aligned16Byte> = data.iter().copied().map(Aligned16Byte).collect();
    fbb.create_vector(&items)
}
