//! Every class of bad input gets its own typed, one-line error naming the operator or tensor,
//! and none of them panics. Inputs are crafted here; nothing is written to ../shared.
mod common;

use snapuq_model::schema::{self, BuiltinOptionsT};
use snapuq_model::{BuiltinOperator, Model, ModelError, ModelT, OpCode, TensorType};

fn one_line(e: &ModelError) -> String {
    let s = e.to_string();
    assert!(!s.contains('\n'), "multi-line error: {s}");
    s
}

fn tiny() -> ModelT {
    common::tiny_conv(TensorType::INT8, TensorType::INT8)
}

/// Validation error of a crafted model that survives the bytes round trip.
fn invalid(t: ModelT) -> ModelError {
    let bytes = Model::from_object(t).unwrap().to_bytes().unwrap();
    let m = Model::from_bytes(&bytes).unwrap();
    m.validate().unwrap_err()
}

#[test]
fn not_a_flatbuffer() {
    let e = Model::from_bytes(b"this is plainly a text file and not a model").unwrap_err();
    assert!(matches!(e, ModelError::NotFlatbuffer { .. }), "{e}");
    assert!(one_line(&e).contains("TFL3"));
}

#[test]
fn too_short_and_truncated() {
    for len in [0, 3, 7] {
        let e = Model::from_bytes(&vec![0u8; len]).unwrap_err();
        assert!(matches!(e, ModelError::Truncated { .. }), "{len}: {e}");
    }
    let bytes = common::tiny_bytes();
    let mut truncated = 0;
    for cut in (8..bytes.len()).step_by(8) {
        match Model::from_bytes(&bytes[..cut]) {
            Err(ModelError::Truncated { len, needed }) => {
                assert_eq!(len, cut);
                assert!(needed > cut);
                truncated += 1;
            }
            Err(e) => {
                one_line(&e);
            }
            Ok(_) => panic!("cut at {cut} of {} parsed", bytes.len()),
        }
    }
    assert!(truncated > 0, "no cut was reported as truncated");
    let e = Model::from_bytes(&bytes[..bytes.len() / 2]).unwrap_err();
    assert!(one_line(&e).contains("truncated"), "{e}");
}

#[test]
fn wrong_identifier() {
    let mut bytes = common::tiny_bytes();
    bytes[4..8].copy_from_slice(b"TFL2");
    let e = Model::from_bytes(&bytes).unwrap_err();
    assert!(matches!(e, ModelError::WrongIdentifier { .. }), "{e}");
    assert!(one_line(&e).contains("\"TFL2\""), "{e}");
}

#[test]
fn corrupt_offsets() {
    let mut bytes = common::tiny_bytes();
    // Point the root table's vtable offset far outside the buffer.
    let root = u32::from_le_bytes(bytes[0..4].try_into().unwrap()) as usize;
    bytes[root..root + 4].copy_from_slice(&i32::MIN.to_le_bytes());
    let e = Model::from_bytes(&bytes).unwrap_err();
    assert!(
        matches!(e, ModelError::Corrupt { .. } | ModelError::Truncated { .. }),
        "{e}"
    );
    one_line(&e);
}

#[test]
fn unknown_union_type_is_refused_not_dropped() {
    let mut bytes = common::tiny_bytes();
    let pos = {
        let m = schema::root_as_model(&bytes).unwrap();
        let op = m.subgraphs().unwrap().get(0).operators().unwrap().get(0);
        let field = op
            ._tab
            .vtable()
            .get(schema::Operator::VT_BUILTIN_OPTIONS_TYPE) as usize;
        assert!(field > 0);
        op._tab.loc() + field
    };
    bytes[pos] = 200;
    let e = Model::from_bytes(&bytes).unwrap_err();
    assert!(
        matches!(
            e,
            ModelError::UnknownUnion {
                op: 0,
                tag: 200,
                ..
            }
        ),
        "{e}"
    );
    one_line(&e);
}

#[test]
fn dangling_indices() {
    let mut t = tiny();
    t.subgraphs.as_mut().unwrap()[0].operators.as_mut().unwrap()[0].inputs = Some(vec![0, 9, 2]);
    let e = Model::from_object(t).unwrap_err();
    assert!(matches!(e, ModelError::BadIndex { index: 9, .. }), "{e}");
    assert!(one_line(&e).contains("operator 0 input 1"), "{e}");
    let mut t = tiny();
    t.subgraphs.as_mut().unwrap()[0].tensors.as_mut().unwrap()[1].buffer = 17;
    assert!(matches!(
        Model::from_object(t),
        Err(ModelError::BadIndex { index: 17, .. })
    ));
    let mut t = tiny();
    t.subgraphs = Some(vec![]);
    assert!(matches!(Model::from_object(t), Err(ModelError::NoSubgraph)));
}

#[test]
fn float_model() {
    let e = invalid(common::tiny_conv(TensorType::FLOAT32, TensorType::FLOAT32));
    assert!(
        matches!(
            e,
            ModelError::FloatModel {
                op: 0,
                tensor: 0,
                ..
            }
        ),
        "{e}"
    );
    assert!(one_line(&e).contains("full-integer"));
}

#[test]
fn hybrid_model() {
    let e = invalid(common::tiny_conv(TensorType::FLOAT32, TensorType::INT8));
    assert!(
        matches!(
            e,
            ModelError::HybridModel {
                op: 0,
                tensor: 0,
                ..
            }
        ),
        "{e}"
    );
    one_line(&e);
}

#[test]
fn unsupported_op() {
    let mut t = tiny();
    t.operator_codes.as_mut().unwrap()[0] = OpCode::Builtin(BuiltinOperator::TANH).to_table(1);
    let e = invalid(t);
    assert!(matches!(e, ModelError::UnsupportedOp { op: 0, .. }), "{e}");
    assert!(one_line(&e).contains("TANH"));
    let mut t = tiny();
    t.operator_codes.as_mut().unwrap()[0] = OpCode::Custom("MY_OP".into()).to_table(1);
    let e = invalid(t);
    assert!(one_line(&e).contains("CUSTOM(MY_OP)"), "{e}");
}

#[test]
fn buffer_size_mismatch() {
    let mut t = tiny();
    t.buffers.as_mut().unwrap()[1].data = Some(vec![1; 5]);
    let e = invalid(t);
    assert!(
        matches!(
            e,
            ModelError::BufferSize {
                tensor: 1,
                expected: 6,
                actual: 5,
                ..
            }
        ),
        "{e}"
    );
    one_line(&e);
}

#[test]
fn operand_count_and_shapes() {
    let mut t = tiny();
    t.subgraphs.as_mut().unwrap()[0].operators.as_mut().unwrap()[0].inputs = Some(vec![0]);
    let e = invalid(t);
    assert!(
        matches!(
            e,
            ModelError::OperandCount {
                op: 0,
                found: 1,
                ..
            }
        ),
        "{e}"
    );
    one_line(&e);

    let mut t = tiny();
    t.subgraphs.as_mut().unwrap()[0].tensors.as_mut().unwrap()[3].shape = Some(vec![1, 4, 4, 5]);
    let e = invalid(t);
    assert!(matches!(e, ModelError::Shape { op: 0, .. }), "{e}");
    assert!(one_line(&e).contains("channels"), "{e}");

    let mut t = tiny();
    let sg = &mut t.subgraphs.as_mut().unwrap()[0];
    sg.tensors.as_mut().unwrap()[2].shape = Some(vec![4]);
    t.buffers.as_mut().unwrap()[2].data = Some(vec![0; 16]);
    let e = invalid(t);
    assert!(one_line(&e).contains("bias"), "{e}");

    let mut t = tiny();
    t.subgraphs.as_mut().unwrap()[0].operators.as_mut().unwrap()[0].builtin_options =
        BuiltinOptionsT::NONE;
    t.subgraphs.as_mut().unwrap()[0].tensors.as_mut().unwrap()[0].shape = Some(vec![1, 16, 2]);
    let e = invalid(t);
    assert!(one_line(&e).contains("4-D"), "{e}");
}

#[test]
fn execution_order() {
    let mut t = tiny();
    t.subgraphs.as_mut().unwrap()[0].inputs = Some(vec![]);
    let e = invalid(t);
    assert!(
        matches!(
            e,
            ModelError::Order {
                op: 0,
                tensor: 0,
                ..
            }
        ),
        "{e}"
    );
    one_line(&e);
}

#[test]
fn the_tiny_model_itself_is_valid() {
    let m = Model::from_bytes(&common::tiny_bytes()).unwrap();
    m.validate().unwrap();
}
