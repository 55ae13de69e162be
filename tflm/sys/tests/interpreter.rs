//! The real TFLM interpreter through the shim: the digits model (original and augmented) runs,
//! its outputs have the shapes the converter wrote, bad input gets TFLM's own error text.
use snapuq_testkit::repo_root;
use tflite_micro_sys::{Interpreter, TYPE_INT8};

fn model(name: &str) -> Vec<u8> {
    let p = repo_root().join("examples/models").join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn resolver_holds_the_builtins_and_the_snap_ops() {
    // 10 builtins + SNAP_PROJECT, SNAP_SURPRISAL, SNAP_CALIBRATE through snapuq::AddOps.
    assert_eq!(tflite_micro_sys::registered_ops(), 13);
}

#[test]
fn digits_runs_in_real_tflm() {
    let mut it = Interpreter::new(&model("digits_cnn.snap.tflite"), 64 << 10).unwrap();
    assert_eq!(it.inputs(), 1);
    let info = it.input_info(0).unwrap();
    assert_eq!(info.dtype, TYPE_INT8);
    assert_eq!(info.shape(), &[1, 8, 8, 1]);
    // Original output + U, S, abstain.
    assert_eq!(it.outputs(), 4);
    let x = vec![0u8; info.bytes()];
    let outs = it.run(&[&x]).unwrap();
    assert_eq!(outs[0].len(), 10);
    assert!(it.arena_used_bytes() > 0 && it.arena_used_bytes() < 64 << 10);
    assert!(it.input_info(1).is_none() && it.output(4).is_none());
}

#[test]
fn errors_carry_tflm_text() {
    // Arena far too small: AllocateTensors fails and TFLM says why.
    let e = match Interpreter::new(&model("digits_cnn.snap.tflite"), 512) {
        Err(e) => e,
        Ok(_) => panic!("a 512-byte arena cannot hold the digits model"),
    };
    assert_eq!(e.step, "AllocateTensors");
    assert!(e.log.contains("arena") || e.log.contains("Failed"), "{e}");
    // Wrong input size is refused before TFLM sees it.
    let mut it = Interpreter::new(&model("digits_cnn.tflite"), 64 << 10).unwrap();
    let e = it.run(&[&[0u8; 3]]).unwrap_err();
    assert!(e.to_string().contains("64 bytes"), "{e}");
}
