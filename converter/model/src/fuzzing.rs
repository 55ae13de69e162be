//! The entry point shared by the cargo-fuzz target (`fuzz/fuzz_targets/parse_model.rs`) and
//! the stable-toolchain mutation test, so both exercise exactly the same code.

/// Feeds arbitrary bytes through everything a user-supplied file reaches: parse, validate,
/// queries, and (for files that parse) write and re-parse. Must never panic; it panics only
/// when a property is broken: a parsed model that cannot be written back, or a rewrite that is
/// not stable. Returns whether the bytes parsed as a model (so tests can check that mutations
/// reach past the parser).
pub fn parse_model(data: &[u8]) -> bool {
    let Ok(m) = crate::Model::from_bytes(data) else {
        return false;
    };
    let _ = m.validate();
    let _ = m.tap_candidates();
    let _ = m.total_cost();
    let _ = m.parameter_bytes();
    for t in 0..m.tensors().len() {
        let _ = m.tensor_info(t);
        let _ = m.consumers(t);
    }
    let bytes = match m.to_bytes() {
        Ok(b) => b,
        Err(crate::ModelError::TooLarge { .. }) => return true,
        Err(e) => panic!("a parsed model must serialize: {e}"),
    };
    let again = crate::Model::from_bytes(&bytes)
        .unwrap_or_else(|e| panic!("a written model must parse: {e}"));
    let bytes2 = again.to_bytes().expect("re-serialize");
    assert_eq!(bytes, bytes2, "rewrite is not stable");
    true
}
