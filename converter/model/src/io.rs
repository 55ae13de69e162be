//! Bytes ⇄ [`ModelT`]: verification, identifier check, unpacking, and packing back.
//!
//! Losslessness: every field of the schema round-trips through the owned object API. Two
//! representations are normalised on load so that editing is simple and a re-load compares
//! equal: data stored after the flatbuffer (`Buffer.offset/size`, `Operator.large_custom_
//! options_offset/size`, used by models over 2 GiB) is read into the ordinary `data` /
//! `custom_options` fields, and written back after the flatbuffer when the model was read that
//! way or would not fit in 2 GiB otherwise. Default-valued scalars are omitted on write, which
//! every reader treats the same as an explicit default.
use crate::align::aligned_bytes;
use crate::ModelError;
use flatbuffers::{FlatBufferBuilder, InvalidFlatbuffer, VerifierOptions, WIPOffset};
use snapuq_schema::tflite::{self, BufferT, ModelT};

/// Root offset plus file identifier.
const HEADER_LEN: usize = 8;

/// Inline data beyond this goes after the flatbuffer (a flatbuffer must stay under 2 GiB and
/// the tables need room too).
const INLINE_LIMIT: usize = (1 << 31) - (256 << 20);

/// How the original file stored its constant data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Layout {
    /// Buffers were stored after the flatbuffer (`Buffer.offset` > 1).
    pub appended_buffers: bool,
}

/// Verifier limits: deep enough and large enough for any real TFLite model (2 GiB is the
/// flatbuffer format's own limit), small enough that hostile input cannot run away.
/// The apparent-size cap (bytes the verifier may visit, counting shared objects once per
/// reference) scales with the file so a small hostile file cannot expand into gigabytes when
/// unpacked; real models stay within a few times their size.
fn verifier_options(len: usize) -> VerifierOptions {
    VerifierOptions {
        max_depth: 64,
        max_tables: 50_000_000,
        max_apparent_size: len.saturating_mul(16).clamp(1 << 20, 1 << 31),
        ignore_missing_null_terminator: false,
    }
}

fn show_id(id: &[u8]) -> String {
    format!("\"{}\"", id.escape_ascii())
}

/// First line of the verifier's multi-line message, for a one-line error.
fn one_line(e: &InvalidFlatbuffer) -> String {
    let s = e.to_string();
    s.lines()
        .next()
        .unwrap_or("invalid flatbuffer")
        .trim()
        .trim_end_matches('.')
        .to_string()
}

/// Classifies a verifier failure on a file that does carry the TFL3 identifier.
fn verify_error(e: &InvalidFlatbuffer, len: usize) -> ModelError {
    match e {
        // Data referenced past the end of the file: almost always a cut-off download or copy.
        InvalidFlatbuffer::RangeOutOfBounds { range, .. } if range.end > len => {
            ModelError::Truncated {
                len,
                needed: range.end,
            }
        }
        _ => ModelError::Corrupt {
            detail: one_line(e),
        },
    }
}

/// Verifies `bytes` as a TFLite model and unpacks it (see the module doc for what is
/// normalised). Structural index checks run afterwards in [`crate::check::structure`].
pub(crate) fn parse(bytes: &[u8]) -> Result<(ModelT, Layout), ModelError> {
    let len = bytes.len();
    if len < HEADER_LEN {
        return Err(ModelError::Truncated {
            len,
            needed: HEADER_LEN,
        });
    }
    let opts = verifier_options(len);
    let id = &bytes[4..HEADER_LEN];
    if id != tflite::MODEL_IDENTIFIER.as_bytes() {
        // A flatbuffer that verifies as a Model with subgraphs merely has the wrong identifier;
        // anything else is not a TFLite flatbuffer at all.
        let looks_like_model = tflite::root_as_model_with_opts(&opts, bytes)
            .map(|m| m.subgraphs().is_some_and(|s| !s.is_empty()))
            .unwrap_or(false);
        return Err(if looks_like_model {
            ModelError::WrongIdentifier { found: show_id(id) }
        } else {
            ModelError::NotFlatbuffer { found: show_id(id) }
        });
    }
    let model = tflite::root_as_model_with_opts(&opts, bytes).map_err(|e| verify_error(&e, len))?;
    check_unions(&model)?;
    let mut t = model.unpack();
    let layout = pull_appended(&mut t, bytes)?;
    Ok((t, layout))
}

/// The object API maps union tags it does not know to NONE, which would silently drop data on
/// rewrite; refuse such files instead.
fn check_unions(model: &tflite::Model<'_>) -> Result<(), ModelError> {
    let Some(subgraphs) = model.subgraphs() else {
        return Ok(());
    };
    for (s, sg) in subgraphs.iter().enumerate() {
        for (o, op) in sg.operators().into_iter().flatten().enumerate() {
            let t1 = op.builtin_options_type();
            if t1.0 > tflite::BuiltinOptions::ENUM_MAX {
                return Err(ModelError::UnknownUnion {
                    subgraph: s,
                    op: o,
                    field: "builtin_options",
                    tag: t1.0,
                });
            }
            let t2 = op.builtin_options_2_type();
            if t2.0 > tflite::BuiltinOptions2::ENUM_MAX {
                return Err(ModelError::UnknownUnion {
                    subgraph: s,
                    op: o,
                    field: "builtin_options_2",
                    tag: t2.0,
                });
            }
        }
        for tensor in sg.tensors().into_iter().flatten() {
            if let Some(q) = tensor.quantization() {
                let t = q.details_type();
                if t.0 > tflite::QuantizationDetails::ENUM_MAX {
                    return Err(ModelError::UnknownUnion {
                        subgraph: s,
                        op: usize::MAX,
                        field: "quantization details",
                        tag: t.0,
                    });
                }
            }
        }
    }
    Ok(())
}

fn slice_after(
    bytes: &[u8],
    offset: u64,
    size: u64,
    what: impl Fn() -> String,
) -> Result<Vec<u8>, ModelError> {
    let missing = || ModelError::AppendedDataMissing {
        what: what(),
        offset,
        size,
        file_len: bytes.len(),
    };
    let start = usize::try_from(offset).map_err(|_| missing())?;
    let end = start
        .checked_add(usize::try_from(size).map_err(|_| missing())?)
        .ok_or_else(missing)?;
    bytes
        .get(start..end)
        .map(<[u8]>::to_vec)
        .ok_or_else(missing)
}

/// Moves data stored after the flatbuffer into the tables (offsets are only meaningful when
/// > 1, as the format defines).
fn pull_appended(t: &mut ModelT, bytes: &[u8]) -> Result<Layout, ModelError> {
    let mut layout = Layout::default();
    for (i, b) in t.buffers.iter_mut().flatten().enumerate() {
        if b.offset > 1 {
            let data = slice_after(bytes, b.offset, b.size, || format!("buffer {i}"))?;
            b.data = Some(data);
            b.offset = 0;
            b.size = 0;
            layout.appended_buffers = true;
        }
    }
    for (s, sg) in t.subgraphs.iter_mut().flatten().enumerate() {
        for (o, op) in sg.operators.iter_mut().flatten().enumerate() {
            if op.large_custom_options_offset > 1 {
                let data = slice_after(
                    bytes,
                    op.large_custom_options_offset,
                    op.large_custom_options_size,
                    || format!("subgraph {s} operator {o} custom options"),
                )?;
                op.custom_options = Some(data);
                op.large_custom_options_offset = 0;
                op.large_custom_options_size = 0;
            }
        }
    }
    Ok(layout)
}

fn align16(x: usize) -> usize {
    x.div_ceil(16) * 16
}

/// Packs `t` into a finished `.tflite` file image.
pub(crate) fn serialize(t: &ModelT, layout: Layout) -> Result<Vec<u8>, ModelError> {
    let buffer_bytes: usize = t
        .buffers
        .iter()
        .flatten()
        .map(|b| b.data.as_ref().map_or(0, Vec::len))
        .sum();
    let custom: usize = t
        .subgraphs
        .iter()
        .flatten()
        .flat_map(|sg| sg.operators.iter().flatten())
        .map(|op| op.custom_options.as_ref().map_or(0, Vec::len))
        .sum();
    let inline = buffer_bytes + custom;
    if custom > INLINE_LIMIT {
        return Err(ModelError::TooLarge {
            detail: format!(
                "{custom} bytes of custom options exceed what fits in one flatbuffer; split the model"
            ),
        });
    }
    if !layout.appended_buffers && inline <= INLINE_LIMIT {
        let mut fbb = FlatBufferBuilder::with_capacity(inline + (1 << 16));
        let root = pack_model(&mut fbb, t, None);
        tflite::finish_model_buffer(&mut fbb, root);
        return Ok(fbb.finished_data().to_vec());
    }
    serialize_appended(t)
}

/// Writes non-empty buffers after the flatbuffer, 16-byte aligned, with `Buffer.offset/size`
/// pointing at them (offsets from the start of the file).
fn serialize_appended(t: &ModelT) -> Result<Vec<u8>, ModelError> {
    let buffers: &[BufferT] = t.buffers.as_deref().unwrap_or(&[]);
    // Pass 1 with placeholder offsets (any value > 1 takes the same room) to learn the
    // flatbuffer's length; pass 2 with the real offsets.
    let placeholder: Vec<Option<u64>> = buffers
        .iter()
        .map(|b| match &b.data {
            Some(d) if !d.is_empty() => Some(2),
            _ => None,
        })
        .collect();
    let mut fbb = FlatBufferBuilder::new();
    let root = pack_model(&mut fbb, t, Some(&placeholder));
    tflite::finish_model_buffer(&mut fbb, root);
    let fb_len = fbb.finished_data().len();

    let mut pos = align16(fb_len);
    let mut offsets = Vec::with_capacity(buffers.len());
    for (b, p) in buffers.iter().zip(&placeholder) {
        if p.is_some() {
            offsets.push(Some(pos as u64));
            pos = align16(pos + b.data.as_ref().map_or(0, Vec::len));
        } else {
            offsets.push(None);
        }
    }
    let mut fbb = FlatBufferBuilder::new();
    let root = pack_model(&mut fbb, t, Some(&offsets));
    tflite::finish_model_buffer(&mut fbb, root);
    let fb = fbb.finished_data();
    if fb.len() != fb_len {
        return Err(ModelError::TooLarge {
            detail: format!(
                "flatbuffer length changed between passes ({fb_len} then {}); report this as a bug",
                fb.len()
            ),
        });
    }
    let mut out = Vec::with_capacity(pos);
    out.extend_from_slice(fb);
    for (b, off) in buffers.iter().zip(&offsets) {
        if let (Some(off), Some(d)) = (off, &b.data) {
            out.resize(*off as usize, 0);
            out.extend_from_slice(d);
        }
    }
    out.resize(align16(out.len()), 0);
    Ok(out)
}

fn pack_buffer<'b>(
    fbb: &mut FlatBufferBuilder<'b>,
    b: &BufferT,
    appended_at: Option<u64>,
) -> WIPOffset<tflite::Buffer<'b>> {
    let (data, offset, size) = match appended_at {
        Some(off) => (None, off, b.data.as_ref().map_or(0, Vec::len) as u64),
        None => (
            b.data.as_ref().map(|d| aligned_bytes(fbb, d)),
            b.offset,
            b.size,
        ),
    };
    tflite::Buffer::create(fbb, &tflite::BufferArgs { data, offset, size })
}

/// `ModelT::pack` with buffers written by [`pack_buffer`] (16-byte alignment, optional
/// appended storage); every other table uses the generated packer.
fn pack_model<'b>(
    fbb: &mut FlatBufferBuilder<'b>,
    t: &ModelT,
    appended: Option<&[Option<u64>]>,
) -> WIPOffset<tflite::Model<'b>> {
    let operator_codes = t.operator_codes.as_ref().map(|v| {
        let w: Vec<_> = v.iter().map(|x| x.pack(fbb)).collect();
        fbb.create_vector(&w)
    });
    let subgraphs = t.subgraphs.as_ref().map(|v| {
        let w: Vec<_> = v.iter().map(|x| x.pack(fbb)).collect();
        fbb.create_vector(&w)
    });
    let description = t.description.as_ref().map(|s| fbb.create_string(s));
    let buffers = t.buffers.as_ref().map(|v| {
        let w: Vec<_> = v
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let at = appended.and_then(|a| a.get(i).copied().flatten());
                pack_buffer(fbb, b, at)
            })
            .collect();
        fbb.create_vector(&w)
    });
    let metadata_buffer = t.metadata_buffer.as_ref().map(|v| fbb.create_vector(v));
    let metadata = t.metadata.as_ref().map(|v| {
        let w: Vec<_> = v.iter().map(|x| x.pack(fbb)).collect();
        fbb.create_vector(&w)
    });
    let signature_defs = t.signature_defs.as_ref().map(|v| {
        let w: Vec<_> = v.iter().map(|x| x.pack(fbb)).collect();
        fbb.create_vector(&w)
    });
    let external_buffer_groups = t.external_buffer_groups.as_ref().map(|v| {
        let w: Vec<_> = v.iter().map(|x| x.pack(fbb)).collect();
        fbb.create_vector(&w)
    });
    let external_buffers = t.external_buffers.as_ref().map(|v| {
        let w: Vec<_> = v.iter().map(|x| x.pack(fbb)).collect();
        fbb.create_vector(&w)
    });
    tflite::Model::create(
        fbb,
        &tflite::ModelArgs {
            version: t.version,
            operator_codes,
            subgraphs,
            description,
            buffers,
            metadata_buffer,
            metadata,
            signature_defs,
            external_buffer_groups,
            external_buffers,
        },
    )
}
