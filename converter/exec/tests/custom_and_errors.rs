//! Custom-op registration by name (options, persistent state, reset, taps) and the typed
//! errors for bad models, on small models built with the generated schema's object API.
// The generated object-API structs are #[non_exhaustive]: they can only be filled field by field.
#![allow(clippy::field_reassign_with_default)]
use snapuq_exec::{
    arena_bytes_needed, custom_error, CustomKernel, ErrorKind, EvalContext, ExecError, Interpreter,
    OpResolver, Options, PrepareContext,
};
use snapuq_schema::tflite::{
    self, BufferT, BuiltinOperator, ModelT, OperatorCodeT, OperatorT, QuantizationParametersT,
    SubGraphT, TensorT, TensorType,
};

fn int8_tensor(name: &str, shape: &[i32]) -> TensorT {
    let mut q = QuantizationParametersT::default();
    q.scale = Some(vec![0.1]);
    q.zero_point = Some(vec![0]);
    let mut t = TensorT::default();
    t.shape = Some(shape.to_vec());
    t.type_ = TensorType::INT8;
    t.buffer = 0;
    t.name = Some(name.into());
    t.quantization = Some(Box::new(q));
    t
}

/// input [1,4] → CUSTOM `name` (options = [k]) → output [1,4].
fn custom_model(name: &str, k: u8) -> Vec<u8> {
    let mut code = OperatorCodeT::default();
    code.builtin_code = BuiltinOperator::CUSTOM;
    code.deprecated_builtin_code = 32;
    code.custom_code = Some(name.into());
    code.version = 1;
    let mut op = OperatorT::default();
    op.opcode_index = 0;
    op.inputs = Some(vec![0]);
    op.outputs = Some(vec![1]);
    op.custom_options = Some(vec![k]);
    let mut sg = SubGraphT::default();
    sg.tensors = Some(vec![int8_tensor("x", &[1, 4]), int8_tensor("y", &[1, 4])]);
    sg.inputs = Some(vec![0]);
    sg.outputs = Some(vec![1]);
    sg.operators = Some(vec![op]);
    let mut model = ModelT::default();
    model.version = 3;
    model.operator_codes = Some(vec![code]);
    model.subgraphs = Some(vec![sg]);
    model.buffers = Some(vec![BufferT::default()]);
    let mut fbb = flatbuffers::FlatBufferBuilder::new();
    let root = model.pack(&mut fbb);
    tflite::finish_model_buffer(&mut fbb, root);
    fbb.finished_data().to_vec()
}

/// y = x + k + (number of invocations so far), with the count in persistent memory.
struct AddCounter;

impl CustomKernel for AddCounter {
    fn prepare(&self, ctx: &PrepareContext<'_>) -> Result<usize, ExecError> {
        if ctx.options.len() != 1 || ctx.inputs.len() != 1 || ctx.outputs.len() != 1 {
            return Err(custom_error(
                "ADD_COUNTER needs one option byte, one input, one output",
            ));
        }
        Ok(4)
    }

    fn eval(&self, ctx: &mut EvalContext<'_, '_>) -> Result<(), ExecError> {
        let k = i8::try_from(ctx.options[0]).map_err(|_| custom_error("option out of range"))?;
        let count = u32::from_le_bytes(ctx.persistent[..4].try_into().unwrap_or([0; 4]));
        let x = ctx.inputs[0]
            .and_then(|t| t.as_i8())
            .ok_or(custom_error("input must be int8"))?;
        let y = ctx.outputs[0]
            .as_i8_mut()
            .ok_or(custom_error("output must be int8"))?;
        for (o, &v) in y.iter_mut().zip(x) {
            *o = v.saturating_add(k).saturating_add(count as i8);
        }
        ctx.persistent[..4].copy_from_slice(&(count + 1).to_le_bytes());
        Ok(())
    }
}

#[test]
fn custom_op_runs_by_name_with_state_and_taps() {
    let model = custom_model("ADD_COUNTER", 5);
    let kernel = AddCounter;
    let mut resolver = OpResolver::new();
    resolver.add_custom("ADD_COUNTER", &kernel).unwrap();
    let need = arena_bytes_needed(&model, &resolver, Options::default()).unwrap();
    let mut arena = vec![0u8; need];
    let mut it: Interpreter =
        Interpreter::new(&model, &mut arena, &resolver, Options::default()).unwrap();
    it.input_mut(0).unwrap().copy_from_slice(&[1, 2, 3, -4]);
    let mut seen = vec![];
    it.invoke_with(|op, outs| seen.push((op, outs[0].index, outs[0].as_i8().unwrap().to_vec())))
        .unwrap();
    assert_eq!(seen, vec![(0, 1, vec![6, 7, 8, 1])]);
    it.invoke().unwrap();
    assert_eq!(
        it.output(0).unwrap().as_i8().unwrap(),
        &[7, 8, 9, 2],
        "state must persist"
    );
    it.reset();
    it.invoke().unwrap();
    assert_eq!(
        it.output(0).unwrap().as_i8().unwrap(),
        &[6, 7, 8, 1],
        "reset must clear state"
    );
}

#[test]
fn unregistered_custom_op_is_named() {
    let model = custom_model("SNAP_SOMETHING", 1);
    let e = arena_bytes_needed(&model, &OpResolver::new(), Options::default()).unwrap_err();
    assert_eq!(e.op, Some(0));
    let ErrorKind::UnknownCustomOp(name) = e.kind else {
        panic!("{e}")
    };
    assert_eq!(name.as_str(), "SNAP_SOMETHING");
    assert!(e.to_string().contains("SNAP_SOMETHING"), "{e}");
}

#[test]
fn custom_prepare_errors_are_reported_with_the_op() {
    let mut model = custom_model("ADD_COUNTER", 5);
    // Same model, but the custom op gets no options: rebuild with an empty options vector.
    let mut m2 = tflite::root_as_model(&model).unwrap().unpack();
    m2.subgraphs.as_mut().unwrap()[0]
        .operators
        .as_mut()
        .unwrap()[0]
        .custom_options = Some(vec![]);
    let mut fbb = flatbuffers::FlatBufferBuilder::new();
    let root = m2.pack(&mut fbb);
    tflite::finish_model_buffer(&mut fbb, root);
    model = fbb.finished_data().to_vec();
    let kernel = AddCounter;
    let mut resolver = OpResolver::new();
    resolver.add_custom("ADD_COUNTER", &kernel).unwrap();
    let e = arena_bytes_needed(&model, &resolver, Options::default()).unwrap_err();
    assert_eq!(e.op, Some(0));
    assert!(matches!(e.kind, ErrorKind::Custom(_)), "{e}");
}

#[test]
fn bad_bytes_give_typed_errors_not_panics() {
    let r = OpResolver::new();
    let o = Options::default();
    let e = arena_bytes_needed(b"definitely not a model at all", &r, o).unwrap_err();
    assert!(
        matches!(
            e.kind,
            ErrorKind::WrongIdentifier | ErrorKind::InvalidFlatbuffer
        ),
        "{e}"
    );
    let good = custom_model("X", 1);
    for cut in [0, 4, 8, 16, good.len() / 2, good.len() - 1] {
        let e = arena_bytes_needed(&good[..cut], &r, o);
        assert!(e.is_err(), "truncated at {cut} must fail");
    }
    let mut wrong_id = good.clone();
    wrong_id[4..8].copy_from_slice(b"NOPE");
    assert_eq!(
        arena_bytes_needed(&wrong_id, &r, o).unwrap_err().kind,
        ErrorKind::WrongIdentifier
    );
    // Every single-byte corruption must be an error or a valid plan, never a panic.
    for i in 0..good.len() {
        let mut b = good.clone();
        b[i] ^= 0xA5;
        let _ = arena_bytes_needed(&b, &r, o);
    }
}

#[test]
fn arena_too_small_says_how_much() {
    let model = custom_model("ADD_COUNTER", 1);
    let kernel = AddCounter;
    let mut resolver = OpResolver::new();
    resolver.add_custom("ADD_COUNTER", &kernel).unwrap();
    let need = arena_bytes_needed(&model, &resolver, Options::default()).unwrap();
    let mut arena = vec![0u8; need];
    let used = {
        let it: Interpreter = Interpreter::new(&model, &mut arena, &resolver, Options::default())
            .expect("the advertised size is enough at any alignment");
        it.arena_used()
    };
    assert!(
        used > 0 && used < need,
        "need {need} = used {used} + alignment slack"
    );
    // An aligned arena needs exactly `used` bytes; one byte less is refused with `need`.
    let start = arena.as_ptr().align_offset(16);
    let exact = &mut arena[start..start + used];
    let it: Result<Interpreter, ExecError> =
        Interpreter::new(&model, exact, &resolver, Options::default());
    assert!(
        it.is_ok(),
        "an aligned arena of arena_used() bytes was refused"
    );
    let short = &mut arena[start..start + used - 1];
    let r: Result<Interpreter, ExecError> =
        Interpreter::new(&model, short, &resolver, Options::default());
    let e = r.err().unwrap();
    assert_eq!(e.kind, ErrorKind::ArenaTooSmall(need));
}

#[test]
fn unsupported_builtin_is_named() {
    let mut m = tflite::root_as_model(&custom_model("X", 1))
        .unwrap()
        .unpack();
    let code = &mut m.operator_codes.as_mut().unwrap()[0];
    code.builtin_code = BuiltinOperator::LSTM;
    code.deprecated_builtin_code = 16;
    code.custom_code = None;
    let mut fbb = flatbuffers::FlatBufferBuilder::new();
    let root = m.pack(&mut fbb);
    tflite::finish_model_buffer(&mut fbb, root);
    let e = arena_bytes_needed(fbb.finished_data(), &OpResolver::new(), Options::default())
        .unwrap_err();
    assert_eq!((e.kind, e.op), (ErrorKind::UnsupportedOp(16), Some(0)));
}
