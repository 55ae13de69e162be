//! The edit API: every edit survives save → load, bad edits are refused, and TFLM runs an
//! edited real model (an added RESHAPE and extra outputs) with the expected results.
mod common;

use snapuq_model::schema::{BuiltinOptionsT, ReshapeOptionsT, SignatureDefT};
use snapuq_model::{
    BuiltinOperator, Model, ModelError, NewOperator, OpCode, Quantization, TensorData, TensorType,
    SNAP_PROJECT,
};

fn tiny() -> Model {
    Model::from_object(common::tiny_conv(TensorType::INT8, TensorType::INT8)).unwrap()
}

fn reload(m: &Model) -> Model {
    Model::from_bytes(&m.to_bytes().unwrap()).unwrap()
}

#[test]
fn constant_tensors_of_every_type_round_trip() {
    let mut m = tiny();
    let per_channel = Quantization::per_channel(vec![0.5, 0.25, 0.125], 0);
    let cases = vec![
        (
            "w_i8",
            vec![3, 2],
            TensorData::Int8(vec![-128, -1, 0, 1, 2, 127]),
            Some(per_channel.clone()),
        ),
        (
            "w_u8",
            vec![2],
            TensorData::UInt8(vec![0, 255]),
            Some(Quantization::per_tensor(0.1, 128)),
        ),
        (
            "w_i16",
            vec![2, 1],
            TensorData::Int16(vec![-32768, 32767]),
            None,
        ),
        (
            "w_i32",
            vec![3],
            TensorData::Int32(vec![i32::MIN, -7, i32::MAX]),
            None,
        ),
        (
            "w_f32",
            vec![1, 2],
            TensorData::Float32(vec![1.5, -0.25]),
            None,
        ),
    ];
    let mut added = vec![];
    for (name, shape, data, q) in &cases {
        let i = m
            .add_constant_tensor(name, shape, data.clone(), q.clone())
            .unwrap();
        added.push(i);
    }
    let back = reload(&m);
    assert_eq!(back.object(), m.object());
    for ((name, shape, data, q), &i) in cases.iter().zip(&added) {
        let i = i as usize;
        assert_eq!(back.find_tensor(name), Some(i));
        let info = back.tensor_info(i).unwrap();
        assert_eq!(&info.shape, shape);
        assert_eq!(info.dtype, data.tensor_type());
        assert!(info.is_constant);
        assert_eq!(info.quant, *q);
        assert_eq!(back.tensor_data(i).unwrap(), data.to_le_bytes().as_slice());
    }
    assert!(back
        .quantization(added[0] as usize)
        .unwrap()
        .is_per_channel());
    // The new model still passes validation (constants are not read by any operator yet).
    back.validate().unwrap();
}

#[test]
fn bad_constants_are_refused() {
    let mut m = tiny();
    let e = m
        .add_constant_tensor("x", &[2, 3], TensorData::Int8(vec![0; 5]), None)
        .unwrap_err();
    assert!(e.to_string().contains("5 elements"), "{e}");
    let e = m
        .add_constant_tensor(
            "x",
            &[2, 3],
            TensorData::Int8(vec![0; 6]),
            Some(Quantization::per_channel(vec![1.0; 3], 0)),
        )
        .unwrap_err();
    assert!(e.to_string().contains("per-channel"), "{e}");
    let e = m
        .add_constant_tensor(
            "x",
            &[2, 3],
            TensorData::Int8(vec![0; 6]),
            Some(Quantization::per_channel(vec![1.0; 3], 4)),
        )
        .unwrap_err();
    assert!(e.to_string().contains("quantized_dimension"), "{e}");
    let e = m
        .add_intermediate_tensor(
            "y",
            &[1, 2],
            TensorType::INT8,
            Some(Quantization::per_tensor(0.0, 0)),
        )
        .unwrap_err();
    assert!(e.to_string().contains("scale"), "{e}");
    let e = m
        .add_intermediate_tensor("y", &[1, -1], TensorType::INT8, None)
        .unwrap_err();
    assert!(e.to_string().contains("not concrete"), "{e}");
}

#[test]
fn operator_codes_follow_the_deprecated_code_rules() {
    let mut m = tiny();
    let conv = m.operator_code(&OpCode::Builtin(BuiltinOperator::CONV_2D), 1);
    assert_eq!(conv, 0, "existing code is reused");
    let add = m.operator_code(&OpCode::Builtin(BuiltinOperator::ADD), 2);
    let cumsum = m.operator_code(&OpCode::Builtin(BuiltinOperator::CUMSUM), 1);
    let snap = m.operator_code(&OpCode::Custom(SNAP_PROJECT.into()), 1);
    assert_eq!(
        m.operator_code(&OpCode::Custom(SNAP_PROJECT.into()), 3),
        snap
    );
    let back = reload(&m);
    let codes = back.object().operator_codes.as_ref().unwrap();
    let a = &codes[add as usize];
    assert_eq!(
        (a.builtin_code, a.deprecated_builtin_code, a.version),
        (BuiltinOperator::ADD, 0, 2)
    );
    let c = &codes[cumsum as usize];
    assert_eq!(c.builtin_code, BuiltinOperator::CUMSUM);
    assert_eq!(c.deprecated_builtin_code, 127);
    let s = &codes[snap as usize];
    assert_eq!(s.builtin_code, BuiltinOperator::CUSTOM);
    assert_eq!(s.deprecated_builtin_code, 32);
    assert_eq!(s.custom_code.as_deref(), Some(SNAP_PROJECT));
    assert_eq!(s.version, 3, "version raised to the highest requested");
    assert_eq!(codes.len(), 4);
}

fn flex_options() -> Vec<u8> {
    let mut b = flexbuffers::Builder::default();
    let mut map = b.start_map();
    map.push("rank", 16i32);
    map.push("out_scale", 0.125f32);
    map.end_map();
    b.view().to_vec()
}

#[test]
fn custom_operator_insert_and_outputs() {
    let mut m = tiny();
    let z = m
        .add_intermediate_tensor(
            "snap/z",
            &[1, 4],
            TensorType::INT8,
            Some(Quantization::per_tensor(0.05, -3)),
        )
        .unwrap();
    let p = m
        .add_constant_tensor(
            "snap/P",
            &[4, 2],
            TensorData::Int8(vec![1; 8]),
            Some(Quantization::per_tensor(0.01, 0)),
        )
        .unwrap();
    let pos = m
        .insert_operator(
            1,
            NewOperator::custom(SNAP_PROJECT, vec![0, p], vec![z], flex_options()),
        )
        .unwrap();
    assert_eq!(pos, 1);
    let k = m.add_output(z).unwrap();
    assert_eq!(k, 1);
    m.set_tensor_name(z, "snap/z0").unwrap();
    let back = reload(&m);
    assert_eq!(back.outputs(), &[3, z]);
    assert_eq!(back.find_tensor("snap/z0"), Some(z as usize));
    assert_eq!(back.producer(z as usize), Some(1));
    assert_eq!(back.consumers(0), vec![0, 1]);
    assert_eq!(back.execution_order(), vec![0, 1]);
    assert_eq!(back.op_name(1), "CUSTOM(SNAP_PROJECT)");
    let opts = back.custom_options(1).unwrap();
    let r = flexbuffers::Reader::get_root(opts).unwrap().as_map();
    assert_eq!(r.idx("rank").as_i32(), 16);
    assert_eq!(r.idx("out_scale").as_f32(), 0.125);
    assert_eq!(
        back.operators()[1].custom_options_format,
        snapuq_model::schema::CustomOptionsFormat::FLEXBUFFERS
    );
    back.validate().unwrap();
    // 1x1 conv 4*4*3 outputs × 2 input channels, plus P's 8 MACs.
    assert_eq!(back.op_cost(0).macs, 96);
    assert_eq!(back.op_cost(1).macs, 8);
    assert_eq!(back.total_cost().macs, 104);
}

#[test]
fn bad_operator_inserts_are_refused() {
    let mut m = tiny();
    let y = m
        .add_intermediate_tensor("y", &[1, 4, 4, 3], TensorType::INT8, None)
        .unwrap();
    let relu = |ins: Vec<i32>, outs: Vec<i32>| {
        NewOperator::builtin(BuiltinOperator::RELU, ins, outs, BuiltinOptionsT::NONE)
    };
    let cases: Vec<(usize, NewOperator, &str)> = vec![
        (5, relu(vec![3], vec![y]), "past the end"),
        (0, relu(vec![3], vec![y]), "runs at or after"),
        (1, relu(vec![0], vec![3]), "already written"),
        (1, relu(vec![0], vec![1]), "constant"),
        (1, relu(vec![99], vec![y]), "does not exist"),
        (1, relu(vec![0], vec![]), "at least one output"),
    ];
    for (pos, op, want) in cases {
        let e = m.insert_operator(pos, op).unwrap_err();
        assert!(matches!(e, ModelError::Edit(_)), "{e}");
        assert!(e.to_string().contains(want), "{e} (wanted {want})");
    }
    assert!(m.add_output(42).is_err());
    assert!(m.set_tensor_name(-1, "x").is_err());
    assert_eq!(
        m.operators().len(),
        1,
        "refused edits leave the graph alone"
    );
}

#[test]
fn outputs_are_added_to_signatures_and_metadata_is_kept() {
    let mut m = tiny();
    let mut sig = SignatureDefT::default();
    sig.signature_key = Some("serving_default".into());
    m.object_mut().signature_defs = Some(vec![sig]);
    m.add_output(0).unwrap();
    m.set_metadata("snapuq", b"v1".to_vec());
    m.set_metadata("snapuq", b"v2".to_vec());
    let back = reload(&m);
    let sig = &back.object().signature_defs.as_ref().unwrap()[0];
    let outs = sig.outputs.as_ref().unwrap();
    assert_eq!(outs.len(), 1);
    assert_eq!(outs[0].name.as_deref(), Some("input"));
    assert_eq!(outs[0].tensor_index, 0);
    assert_eq!(back.metadata("snapuq"), Some(&b"v2"[..]));
    assert_eq!(back.object().metadata.as_ref().unwrap().len(), 1);
}

#[test]
fn appended_buffers_round_trip() {
    let mut m = tiny();
    m.set_appended_buffers(true);
    let bytes = m.to_bytes().unwrap();
    let back = Model::from_bytes(&bytes).unwrap();
    assert!(back.layout().appended_buffers);
    assert_eq!(back.object(), m.object());
    assert_eq!(back.tensor_data(1), m.tensor_data(1));
    // The data really is outside the flatbuffer.
    let fb = snapuq_model::schema::root_as_model(&bytes).unwrap();
    let b1 = fb.buffers().unwrap().get(1);
    assert!(b1.data().is_none());
    assert!(b1.offset() > 1);
    assert_eq!(b1.size(), 6);
    assert_eq!(b1.offset() % 16, 0);
    let off = b1.offset() as usize;
    assert_eq!(&bytes[off..off + 6], m.tensor_data(1).unwrap());
    // Cut off the appended data: a clear error, not a panic.
    let e = Model::from_bytes(&bytes[..off + 3]).unwrap_err();
    assert!(matches!(e, ModelError::AppendedDataMissing { .. }), "{e}");
    assert!(e.to_string().contains("buffer 1"), "{e}");
}

/// Adds a RESHAPE of an intermediate tensor and two new outputs to a real model and checks
/// TFLM returns the intermediate's values through both, with the original outputs untouched.
#[test]
fn tflm_runs_an_edited_model() {
    let Some(python) = snapuq_testkit::oracle_python() else {
        return;
    };
    let Some(path) = snapuq_testkit::shared_file("models/kws_ref_model.tflite") else {
        return;
    };
    let original = Model::load(&path).unwrap();
    let mut m = original.clone();
    // The output of the second operator is an int8 intermediate activation.
    let tap = m.op_outputs(1)[0];
    let shape = m.tensor_shape(tap as usize).to_vec();
    let n_elems: i32 = shape.iter().product();
    let quant = m.quantization(tap as usize);
    let flat = m
        .add_intermediate_tensor("snapuq/flat", &[1, n_elems], TensorType::INT8, quant)
        .unwrap();
    let new_shape = m
        .add_constant_tensor(
            "snapuq/shape",
            &[2],
            TensorData::Int32(vec![1, n_elems]),
            None,
        )
        .unwrap();
    let mut opts = ReshapeOptionsT::default();
    opts.new_shape = Some(vec![1, n_elems]);
    let end = m.operators().len();
    m.insert_operator(
        end,
        NewOperator::builtin(
            BuiltinOperator::RESHAPE,
            vec![tap, new_shape],
            vec![flat],
            BuiltinOptionsT::ReshapeOptions(Box::new(opts)),
        ),
    )
    .unwrap();
    let n_out = m.outputs().len();
    assert_eq!(m.add_output(flat).unwrap(), n_out);
    assert_eq!(m.add_output(tap).unwrap(), n_out + 1);
    m.validate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let edited = dir.path().join("edited.tflite");
    m.save(&edited).unwrap();
    assert_eq!(Model::load(&edited).unwrap().object(), m.object());

    let n = 4;
    let inputs = common::seeded_inputs(&original, n, 77);
    let a = common::oracle(&python, &path, &inputs, n, true);
    let b = common::oracle(&python, &edited, &inputs, n, false);
    for k in 0..n_out {
        let key = format!("out{k}");
        assert_eq!(a.arrays.get(&key), b.arrays.get(&key), "{key} changed");
    }
    let want = &a.arrays[&format!("t{tap}")];
    let flat_out = &b.arrays[&format!("out{n_out}")];
    let tap_out = &b.arrays[&format!("out{}", n_out + 1)];
    assert_eq!(
        flat_out.ints, want.ints,
        "RESHAPE output differs from the tap"
    );
    assert_eq!(flat_out.shape, vec![n, 1, n_elems as usize]);
    assert_eq!(tap_out.ints, want.ints);
    assert_eq!(b.details["outputs"].as_array().unwrap().len(), n_out + 2);
}
