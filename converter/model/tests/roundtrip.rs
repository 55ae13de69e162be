//! Parse → write with no edits is lossless on the four shared models: equal object trees,
//! stable bytes, and bit-identical TFLM outputs and tensor metadata.
mod common;

use snapuq_model::Model;
use snapuq_testkit::{oracle_python, shared_file, SHARED_MODELS};

#[test]
fn object_tree_survives_rewrite() {
    for rel in SHARED_MODELS {
        let Some(path) = shared_file(rel) else {
            return;
        };
        let original = Model::load(&path).unwrap();
        let bytes = original.to_bytes().unwrap();
        let again = Model::from_bytes(&bytes).unwrap();
        assert_eq!(
            original.object(),
            again.object(),
            "{rel}: object tree changed"
        );
        assert_eq!(
            bytes,
            again.to_bytes().unwrap(),
            "{rel}: rewrite is not stable"
        );
        // Constant data keeps the 16-byte alignment the schema asks for.
        let base = bytes.as_ptr() as usize;
        let fb = snapuq_model::schema::root_as_model(&bytes).unwrap();
        for b in fb.buffers().unwrap().iter() {
            if let Some(d) = b.data() {
                if !d.is_empty() {
                    assert_eq!((d.bytes().as_ptr() as usize - base) % 16, 0, "{rel}");
                }
            }
        }
    }
}

#[test]
fn shared_models_validate() {
    for rel in SHARED_MODELS {
        let Some(path) = shared_file(rel) else {
            return;
        };
        let m = Model::load(&path).unwrap();
        m.validate()
            .unwrap_or_else(|e| panic!("{rel} rejected: {e}"));
    }
}

#[test]
fn tflm_outputs_identical_after_rewrite() {
    let Some(python) = oracle_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for (k, rel) in SHARED_MODELS.iter().enumerate() {
        let Some(path) = shared_file(rel) else {
            return;
        };
        let m = Model::load(&path).unwrap();
        let out = dir.path().join(format!("rewritten{k}.tflite"));
        m.save(&out).unwrap();
        let n = 6;
        let inputs = common::seeded_inputs(&m, n, 1000 + k as u64);
        let a = common::oracle(&python, &path, &inputs, n, true);
        let b = common::oracle(&python, &out, &inputs, n, true);
        assert_eq!(a.details, b.details, "{rel}: input/output details differ");
        assert!(!a.arrays.is_empty());
        assert_eq!(
            a.arrays.len(),
            b.arrays.len(),
            "{rel}: different tensor sets"
        );
        for (name, arr) in &a.arrays {
            assert_eq!(Some(arr), b.arrays.get(name), "{rel}: {name} differs");
        }
        assert!(a.arrays.contains_key("out0"));
    }
}
