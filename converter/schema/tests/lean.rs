//! The lean (firmware) schema reads the same bytes as the complete one: same union
//! discriminants, unknown option variants skipped rather than rejected, read fields verified.
//! The `lean` feature comes from this crate's dev-dependency on itself (Cargo.toml), so
//! `cargo test --workspace` runs these tests.

use snapuq_schema::lean::tflite as lean;
use snapuq_schema::tflite as full;

#[test]
fn lean_option_variants_keep_their_discriminants() {
    let mut n = 0;
    for v in lean::BuiltinOptions::ENUM_VALUES {
        if *v == lean::BuiltinOptions::NONE {
            continue;
        }
        let name = v.variant_name().expect("a named variant");
        assert_eq!(
            full::BuiltinOptions(v.0).variant_name(),
            Some(name),
            "lean BuiltinOptions::{name} = {} names another table in the complete schema",
            v.0
        );
        n += 1;
    }
    assert!(
        n >= 8,
        "the lean union lost option tables the executor reads"
    );
}

/// A model with one CONV_2D (Conv2DOptions, which the lean schema keeps) and one RESHAPE
/// (ReshapeOptions, which it drops), plus fields the lean schema does not read.
fn model_bytes() -> Vec<u8> {
    let mut conv_opts = full::Conv2DOptionsT::default();
    conv_opts.stride_w = 2;
    conv_opts.stride_h = 3;
    let mut conv = full::OperatorT::default();
    conv.opcode_index = 0;
    conv.inputs = Some(vec![0]);
    conv.outputs = Some(vec![1]);
    conv.builtin_options = full::BuiltinOptionsT::Conv2DOptions(Box::new(conv_opts));
    let mut reshape_opts = full::ReshapeOptionsT::default();
    reshape_opts.new_shape = Some(vec![1, -1]);
    let mut reshape = full::OperatorT::default();
    reshape.opcode_index = 1;
    reshape.inputs = Some(vec![1]);
    reshape.outputs = Some(vec![2]);
    reshape.builtin_options = full::BuiltinOptionsT::ReshapeOptions(Box::new(reshape_opts));
    reshape.builtin_options_2 = full::BuiltinOptions2T::StablehloShiftLeftOptions(Box::default());
    let tensor = |name: &str| {
        let mut t = full::TensorT::default();
        t.shape = Some(vec![1, 4]);
        t.type_ = full::TensorType::INT8;
        t.name = Some(name.into());
        t
    };
    let code = |op: full::BuiltinOperator| {
        let mut c = full::OperatorCodeT::default();
        c.builtin_code = op;
        c.deprecated_builtin_code = op.0 as i8;
        c
    };
    let mut sg = full::SubGraphT::default();
    sg.tensors = Some(vec![tensor("x"), tensor("y"), tensor("z")]);
    sg.inputs = Some(vec![0]);
    sg.outputs = Some(vec![2]);
    sg.operators = Some(vec![conv, reshape]);
    sg.name = Some("main".into());
    let mut model = full::ModelT::default();
    model.version = 3;
    model.description = Some("lean schema test".into());
    model.operator_codes = Some(vec![
        code(full::BuiltinOperator::CONV_2D),
        code(full::BuiltinOperator::RESHAPE),
    ]);
    model.subgraphs = Some(vec![sg]);
    model.buffers = Some(vec![full::BufferT::default()]);
    let mut fbb = flatbuffers::FlatBufferBuilder::new();
    let root = model.pack(&mut fbb);
    full::finish_model_buffer(&mut fbb, root);
    fbb.finished_data().to_vec()
}

#[test]
fn lean_reader_reads_kept_options_and_skips_dropped_ones() {
    let bytes = model_bytes();
    full::root_as_model(&bytes).expect("the complete schema accepts the model");
    let m = lean::root_as_model(&bytes).expect("the lean schema accepts the model");
    let ops = m
        .subgraphs()
        .expect("subgraphs")
        .get(0)
        .operators()
        .expect("ops");
    let conv = ops.get(0);
    let o = conv
        .builtin_options_as_conv_2_doptions()
        .expect("Conv2DOptions read through the lean schema");
    assert_eq!((o.stride_w(), o.stride_h()), (2, 3));
    let reshape = ops.get(1);
    assert_eq!(reshape.builtin_options_type().0, 17, "ReshapeOptions' tag");
    assert!(reshape.builtin_options_type().variant_name().is_none());
    assert!(reshape.builtin_options_as_conv_2_doptions().is_none());
}

#[test]
fn lean_reader_still_verifies_what_it_reads() {
    let bytes = model_bytes();
    // Point the conv's stride_w field (an i32 the lean reader reads) past the end of the buffer
    // by cutting the buffer short: both readers must refuse it.
    for cut in [bytes.len() / 2, bytes.len() - 8] {
        let short = &bytes[..cut];
        assert!(full::root_as_model(short).is_err());
        assert!(
            lean::root_as_model(short).is_err(),
            "the lean verifier accepted a model cut at {cut} of {} bytes",
            bytes.len()
        );
    }
}
