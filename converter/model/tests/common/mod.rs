//! Helpers shared by this crate's integration tests.
#![allow(dead_code)]
use snapuq_model::schema::{
    BufferT, BuiltinOptionsT, Conv2DOptionsT, OperatorCodeT, OperatorT, QuantizationParametersT,
    SubGraphT, TensorT,
};
use snapuq_model::{BuiltinOperator, Model, ModelT, OpCode, TensorType};
use std::path::Path;

pub fn tensor(name: &str, shape: &[i32], ty: TensorType, buffer: u32, scale: &[f32]) -> TensorT {
    let mut t = TensorT::default();
    t.name = Some(name.into());
    t.shape = Some(shape.to_vec());
    t.type_ = ty;
    t.buffer = buffer;
    if !scale.is_empty() {
        let mut q = QuantizationParametersT::default();
        q.scale = Some(scale.to_vec());
        q.zero_point = Some(vec![0; scale.len()]);
        q.quantized_dimension = 0;
        t.quantization = Some(Box::new(q));
    }
    t
}

pub fn buffer(data: Option<Vec<u8>>) -> BufferT {
    let mut b = BufferT::default();
    b.data = data;
    b
}

pub fn op(code: u32, inputs: &[i32], outputs: &[i32], options: BuiltinOptionsT) -> OperatorT {
    let mut o = OperatorT::default();
    o.opcode_index = code;
    o.inputs = Some(inputs.to_vec());
    o.outputs = Some(outputs.to_vec());
    o.builtin_options = options;
    o
}

/// A tiny full-integer model: int8 input [1,4,4,2] → CONV_2D 1×1 (3 filters, per-channel) →
/// int8 output [1,4,4,3]. `act` sets the activation type, `weights` the filter type, so the
/// float and hybrid variants come from the same builder.
pub fn tiny_conv(act: TensorType, weights: TensorType) -> ModelT {
    let wsize = if weights == TensorType::FLOAT32 { 4 } else { 1 };
    let mut sg = SubGraphT::default();
    sg.tensors = Some(vec![
        tensor("input", &[1, 4, 4, 2], act, 0, &[0.5]),
        tensor("filter", &[3, 1, 1, 2], weights, 1, &[0.1, 0.2, 0.3]),
        tensor("bias", &[3], TensorType::INT32, 2, &[0.05, 0.1, 0.15]),
        tensor("output", &[1, 4, 4, 3], act, 0, &[0.25]),
    ]);
    sg.inputs = Some(vec![0]);
    sg.outputs = Some(vec![3]);
    let mut opts = Conv2DOptionsT::default();
    opts.stride_w = 1;
    opts.stride_h = 1;
    sg.operators = Some(vec![op(
        0,
        &[0, 1, 2],
        &[3],
        BuiltinOptionsT::Conv2DOptions(Box::new(opts)),
    )]);
    sg.name = Some("main".into());
    let code: OperatorCodeT = OpCode::Builtin(BuiltinOperator::CONV_2D).to_table(1);
    let mut m = ModelT::default();
    m.version = 3;
    m.operator_codes = Some(vec![code]);
    m.subgraphs = Some(vec![sg]);
    m.description = Some("tiny".into());
    m.buffers = Some(vec![
        buffer(None),
        buffer(Some(
            (0..6 * wsize).map(|i| (i as u8).wrapping_mul(7)).collect(),
        )),
        buffer(Some((0..12).map(|i| i as u8).collect())),
    ]);
    m
}

/// Bytes of the tiny int8 model.
pub fn tiny_bytes() -> Vec<u8> {
    Model::from_object(tiny_conv(TensorType::INT8, TensorType::INT8))
        .unwrap()
        .to_bytes()
        .unwrap()
}

/// numpy dtype name of a tensor type the oracle takes.
pub fn np_dtype(t: TensorType) -> &'static str {
    match t {
        TensorType::INT8 => "int8",
        TensorType::UINT8 => "uint8",
        TensorType::INT16 => "int16",
        TensorType::INT32 => "int32",
        TensorType::FLOAT32 => "float32",
        other => panic!("no oracle dtype for {other:?}"),
    }
}

/// Seeded inputs for every model input: (bytes, dtype, per-sample shape).
pub fn seeded_inputs(m: &Model, n: usize, seed: u64) -> Vec<(Vec<u8>, &'static str, Vec<usize>)> {
    m.inputs()
        .iter()
        .enumerate()
        .map(|(k, &t)| {
            let t = t as usize;
            let shape: Vec<usize> = m
                .tensor_shape(t)
                .iter()
                .skip(1)
                .map(|&d| d as usize)
                .collect();
            let per: usize = shape.iter().product();
            let ty = m.tensor_type(t).unwrap();
            let dtype = np_dtype(ty);
            let bytes: Vec<u8> = match ty {
                TensorType::FLOAT32 => snapuq_testkit::seeded_i8(seed + k as u64, n * per)
                    .into_iter()
                    .flat_map(|v| (f32::from(v) / 64.0).to_le_bytes())
                    .collect(),
                _ => snapuq_testkit::seeded_i8(seed + k as u64, n * per * ty_size(ty))
                    .into_iter()
                    .map(|v| v as u8)
                    .collect(),
            };
            (bytes, dtype, shape)
        })
        .collect()
}

fn ty_size(t: TensorType) -> usize {
    snapuq_model::dtype_size(t).unwrap()
}

/// Runs the oracle on `path` with `inputs`.
pub fn oracle(
    python: &Path,
    path: &Path,
    inputs: &[(Vec<u8>, &'static str, Vec<usize>)],
    n: usize,
    all: bool,
) -> snapuq_testkit::OracleRun {
    let refs: Vec<(&[u8], &str, &[usize])> = inputs
        .iter()
        .map(|(b, d, s)| (b.as_slice(), *d, s.as_slice()))
        .collect();
    snapuq_testkit::run_oracle(python, path, &refs, n, all)
        .unwrap_or_else(|e| panic!("oracle on {}: {e}", path.display()))
}
