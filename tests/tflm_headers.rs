//! The C ABI end to end: `include/snapuq.h` compiles as C11 and `include/snapuq_tflm.h` as
//! C++17 (host `cc`/`c++`, and `arm-none-eabi-g++` for Cortex-M4F) against minimal TFLM
//! declarations (`tflm/include/testing/`); a C program fetches the registrations from the host
//! `libsnapuq_tflm.a`; a C++ program registers them with `snapuq::AddOps`, plays the TFLM
//! interpreter for one node with a real variadic `ReportError`, and its outputs must equal
//! the ops crate called directly.
mod tflm_common;

use snapuq_ops::calibrate::{
    self, CalibrateOptions, CalibrateOutputs, ClassifierData, ClassifierKind, Mapping,
};
use snapuq_ops::controller::ControllerParams;
use snapuq_ops::project::{self, ProjectOptions};
use snapuq_ops::surprisal::{self, SurprisalInputs, SurprisalQuant, Variant};
use snapuq_ops::{limits, DType, PortableDot, TensorDesc};
use std::path::{Path, PathBuf};
use std::process::Command;
use tflm_common::*;

const INT8: i32 = 9;
const INT32: i32 = 2;
const UINT8: i32 = 3;
const FLOAT32: i32 = 1;

/// One tensor of a spec: type code, dims, raw bytes.
struct T(i32, Vec<i32>, Vec<u8>);

fn bytes<V: Copy>(v: &[V]) -> Vec<u8> {
    let n = std::mem::size_of_val(v);
    // SAFETY: plain numeric data viewed as bytes.
    unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, n) }.to_vec()
}

fn spec(
    name: &str,
    options: &[u8],
    tensors: &[T],
    ins: &[i32],
    outs: &[i32],
    invokes: u32,
    reset_last: bool,
) -> Vec<u8> {
    let mut s = b"SNQ1".to_vec();
    let u = |s: &mut Vec<u8>, v: u32| s.extend_from_slice(&v.to_le_bytes());
    u(&mut s, name.len() as u32);
    s.extend_from_slice(name.as_bytes());
    u(&mut s, options.len() as u32);
    s.extend_from_slice(options);
    u(&mut s, tensors.len() as u32);
    for T(ty, dims, data) in tensors {
        u(&mut s, *ty as u32);
        u(&mut s, dims.len() as u32);
        dims.iter().for_each(|&d| u(&mut s, d as u32));
        u(&mut s, data.len() as u32);
        s.extend_from_slice(data);
    }
    u(&mut s, ins.len() as u32);
    ins.iter().for_each(|&i| u(&mut s, i as u32));
    u(&mut s, outs.len() as u32);
    outs.iter().for_each(|&i| u(&mut s, i as u32));
    u(&mut s, invokes);
    u(&mut s, reset_last as u32);
    s
}

fn data_i8(seed: u32, n: usize) -> Vec<i8> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            s as i8
        })
        .collect()
}

/// Runs the e2e program on a spec; returns (exit code, output bytes, stderr).
fn run_e2e(exe: &Path, dir: &Path, tag: &str, spec: &[u8]) -> (i32, Vec<u8>, String) {
    let sp = dir.join(format!("{tag}.spec"));
    let op = dir.join(format!("{tag}.out"));
    std::fs::write(&sp, spec).unwrap();
    let _ = std::fs::remove_file(&op);
    let out = Command::new(exe)
        .arg(&sp)
        .arg(&op)
        .output()
        .expect("run e2e");
    let code = out.status.code().unwrap_or(-1);
    let data = std::fs::read(&op).unwrap_or_default();
    (
        code,
        data,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn compile_host(lib: &StaticLib, dir: &Path) -> (PathBuf, PathBuf) {
    let [inc, testing] = include_dirs();
    let c_exe = dir.join("registrations");
    run(Command::new("cc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic"])
        .arg(format!("-I{}", inc.display()))
        .arg(format!("-I{}", testing.display()))
        .arg(ctest("registrations.c"))
        .arg(&lib.path)
        .args(&lib.native_libs)
        .arg("-o")
        .arg(&c_exe));
    let e2e = dir.join("e2e");
    run(Command::new("c++")
        .args(["-std=c++17", "-Wall", "-Wextra", "-Werror"])
        .arg(format!("-I{}", inc.display()))
        .arg(format!("-I{}", testing.display()))
        .arg(ctest("e2e.cc"))
        .arg(&lib.path)
        .args(&lib.native_libs)
        .arg("-o")
        .arg(&e2e));
    (c_exe, e2e)
}

#[test]
fn headers_compile_for_cortex_m4f() {
    if !require("arm-none-eabi-g++") {
        return;
    }
    let [inc, testing] = include_dirs();
    let dir = nested_target_dir().join("headers-arm");
    std::fs::create_dir_all(&dir).unwrap();
    let flags = [
        "-mcpu=cortex-m4",
        "-mthumb",
        "-mfloat-abi=hard",
        "-mfpu=fpv4-sp-d16",
        "-Os",
    ];
    run(Command::new("arm-none-eabi-g++")
        .args(flags)
        .args([
            "-std=c++17",
            "-fno-exceptions",
            "-fno-rtti",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-c",
        ])
        .arg(format!("-I{}", inc.display()))
        .arg(format!("-I{}", testing.display()))
        .arg(ctest("firmware_addops.cc"))
        .arg("-o")
        .arg(dir.join("firmware_addops.o")));
    run(Command::new("arm-none-eabi-gcc")
        .args(flags)
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-c"])
        .arg(format!("-I{}", inc.display()))
        .arg(format!("-I{}", testing.display()))
        .arg(ctest("registrations.c"))
        .arg("-o")
        .arg(dir.join("registrations.o")));
}

#[test]
fn c_and_cpp_programs_drive_the_ops_through_the_c_abi() {
    if !require("cc") || !require("c++") {
        return;
    }
    let lib = build_staticlib(None, &[]);
    let dir = nested_target_dir().join("headers-host");
    std::fs::create_dir_all(&dir).unwrap();
    let (c_exe, e2e) = compile_host(&lib, &dir);
    let out = run(&mut Command::new(&c_exe));
    for name in [
        "SNAP_PROJECT ok",
        "SNAP_SURPRISAL ok",
        "SNAP_CALIBRATE ok",
        "abi 1",
    ] {
        assert!(out.contains(name), "{out}");
    }

    // ---- SNAP_PROJECT, against the ops crate.
    let (c, r) = (16usize, 8usize);
    let po = ProjectOptions::from_scales(c, r, 0.05, -3, 0.01, 0.02, 2).unwrap();
    let a_dims = vec![2, 4, 4, c as i32];
    let a = data_i8(1, 2 * 16 * c);
    let p = data_i8(2, r * c);
    let bias: Vec<i32> = (0..r as i32).map(|j| 29 * j - 90).collect();
    let tensors = [
        T(INT8, a_dims.clone(), bytes(&a)),
        T(INT8, vec![r as i32, c as i32], bytes(&p)),
        T(INT32, vec![r as i32], bytes(&bias)),
        T(INT8, vec![2, r as i32], vec![0; 2 * r]),
    ];
    let (code, got, err) = run_e2e(
        &e2e,
        &dir,
        "project",
        &spec(
            "SNAP_PROJECT",
            &po.to_flexbuffer(),
            &tensors,
            &[0, 1, 2],
            &[3],
            1,
            false,
        ),
    );
    assert_eq!(code, 0, "{err}");
    let (p_dims, b_dims) = ([r as i32, c as i32], [r as i32]);
    let descs = [
        Some(TensorDesc::new(DType::Int8, &a_dims)),
        Some(TensorDesc::new(DType::Int8, &p_dims)),
        Some(TensorDesc::new(DType::Int32, &b_dims)),
    ];
    let plan =
        project::prepare(&po, &descs, &[TensorDesc::new(DType::Int8, &[2, r as i32])]).unwrap();
    let mut want = vec![0i8; 2 * r];
    let mut scratch = vec![0i8; c];
    project::eval::<PortableDot>(&po, &plan, &a, &p, Some(&bias), &mut want, &mut scratch).unwrap();
    assert_eq!(got, bytes(&want));

    // A wrong dtype reaches ReportError (variadic, in C++) and fails prepare.
    let mut bad = tensors;
    bad[0].0 = UINT8;
    let (code, _, err) = run_e2e(
        &e2e,
        &dir,
        "project-bad",
        &spec(
            "SNAP_PROJECT",
            &po.to_flexbuffer(),
            &bad,
            &[0, 1, 2],
            &[3],
            1,
            false,
        ),
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("SNAP_PROJECT: input 0 (a) is uint8 but must be int8"),
        "{err}"
    );
    // Truncated options: init reports, prepare fails.
    let opts = po.to_flexbuffer();
    let (code, _, err) = run_e2e(
        &e2e,
        &dir,
        "project-trunc",
        &spec(
            "SNAP_PROJECT",
            &opts[..opts.len() / 2],
            &bad,
            &[0, 1, 2],
            &[3],
            1,
            false,
        ),
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("custom options") && err.contains("init failed"),
        "{err}"
    );

    // ---- SNAP_SURPRISAL (Gaussian), against the ops crate.
    let (sc, sr) = (12usize, 8usize);
    let (so, lut) = SurprisalQuant {
        c_out: sc,
        r: sr,
        variant: Variant::Gaussian,
        z_scale: 0.05,
        z_zp: 3,
        a_scale: 0.04,
        a_zp: -5,
        wmu_scale: 0.01,
        wls_scale: 0.01,
        ls_scale: 0.06,
        ls_zp: 0,
        b_real_scale: 0.02,
        eps: 1e-4,
        log_det: false,
    }
    .build()
    .unwrap();
    let z = data_i8(11, 2 * sr);
    let sa_dims = vec![2, 3, 3, sc as i32];
    let sa = data_i8(12, 2 * 9 * sc);
    let w_mu = data_i8(13, sc * sr);
    let b_mu: Vec<i32> = (0..sc as i32).map(|i| 11 * i - 60).collect();
    let w_ls: Vec<i8> = data_i8(14, sc * sr).iter().map(|v| v / 4).collect();
    let b_ls: Vec<i32> = (0..sc as i32).map(|i| 7 * i - 40).collect();
    let (cs, rs) = (sc as i32, sr as i32);
    let tensors = [
        T(INT8, vec![2, rs], bytes(&z)),
        T(INT8, sa_dims.clone(), bytes(&sa)),
        T(INT8, vec![cs, rs], bytes(&w_mu)),
        T(INT32, vec![cs], bytes(&b_mu)),
        T(INT8, vec![cs, rs], bytes(&w_ls)),
        T(INT32, vec![cs], bytes(&b_ls)),
        T(INT32, vec![256], bytes(&lut)),
        T(FLOAT32, vec![2], vec![0; 8]),
    ];
    let (code, got, err) = run_e2e(
        &e2e,
        &dir,
        "surprisal",
        &spec(
            "SNAP_SURPRISAL",
            &so.to_flexbuffer(),
            &tensors,
            &[0, 1, 2, 3, 4, 5, 6],
            &[7],
            1,
            false,
        ),
    );
    assert_eq!(code, 0, "{err}");
    let dims: [&[i32]; 7] = [
        &[2, rs],
        &sa_dims,
        &[cs, rs],
        &[cs],
        &[cs, rs],
        &[cs],
        &[256],
    ];
    let types = [
        DType::Int8,
        DType::Int8,
        DType::Int8,
        DType::Int32,
        DType::Int8,
        DType::Int32,
        DType::Int32,
    ];
    let descs: Vec<Option<TensorDesc>> = dims
        .iter()
        .zip(types)
        .map(|(d, t)| Some(TensorDesc::new(t, d)))
        .collect();
    let plan = surprisal::prepare(&so, &descs, &[TensorDesc::new(DType::Float32, &[2])]).unwrap();
    let inputs = SurprisalInputs {
        z: &z,
        a: &sa,
        w_mu: &w_mu,
        b_mu: &b_mu,
        w_ls: &w_ls,
        b_ls: &b_ls,
        lut: &lut,
        b_lowrank: None,
    };
    let mut want = vec![0f32; 2];
    surprisal::eval::<PortableDot>(&so, &plan, &inputs, &mut want).unwrap();
    assert_eq!(got, bytes(&want));

    // ---- SNAP_CALIBRATE with the controller: 4 invokes, reset before the 4th.
    let mut weights = [0f32; limits::MAX_TAPS];
    weights[..2].copy_from_slice(&[0.6, 0.4]);
    let co = CalibrateOptions {
        stats: 0,
        taps: 2,
        weights,
        classes: 10,
        cls: ClassifierKind::Probs,
        cls_scale: 1.0 / 256.0,
        cls_zp: -128,
        alpha: 0.5,
        mapping: Mapping::Logistic {
            beta: [-2.0, 1.5, 2.0],
        },
        tau: 0.5,
        controller: Some(ControllerParams {
            budget: 0.2,
            eta: 0.5,
            kappa: 0.5,
            tau_min: 0.05,
            tau_max: 0.95,
        }),
    };
    let e0: Vec<f32> = (0..4).map(|i| 0.3 + i as f32).collect();
    let e1: Vec<f32> = (0..4).map(|i| 2.0 - 0.4 * i as f32).collect();
    let cls = data_i8(21, 40);
    let tensors = [
        T(FLOAT32, vec![4], bytes(&e0)),
        T(FLOAT32, vec![4], bytes(&e1)),
        T(INT8, vec![4, 10], bytes(&cls)),
        T(FLOAT32, vec![4], vec![0; 16]),
        T(FLOAT32, vec![4], vec![0; 16]),
        T(UINT8, vec![4], vec![0; 4]),
        T(UINT8, vec![4], vec![0; 4]),
    ];
    let (code, got, err) = run_e2e(
        &e2e,
        &dir,
        "calibrate",
        &spec(
            "SNAP_CALIBRATE",
            &co.to_flexbuffer(),
            &tensors,
            &[0, 1, 2],
            &[3, 4, 5, 6],
            4,
            true,
        ),
    );
    assert_eq!(code, 0, "{err}");
    // After reset the 4th invoke equals the first.
    let descs: Vec<Option<TensorDesc>> = vec![
        Some(TensorDesc::new(DType::Float32, &[4])),
        Some(TensorDesc::new(DType::Float32, &[4])),
        Some(TensorDesc::new(DType::Int8, &[4, 10])),
    ];
    let od = [4];
    let outs = [
        TensorDesc::new(DType::Float32, &od),
        TensorDesc::new(DType::Float32, &od),
        TensorDesc::new(DType::UInt8, &od),
        TensorDesc::new(DType::UInt8, &od),
    ];
    let plan = calibrate::prepare(&co, &descs, &outs).unwrap();
    let mut state = co.initial_state();
    let (mut u, mut s, mut ab, mut uq) = (vec![0f32; 4], vec![0f32; 4], vec![0u8; 4], vec![0u8; 4]);
    calibrate::eval(
        &co,
        &plan,
        &[&e0, &e1],
        ClassifierData::I8(&cls),
        None,
        state.as_mut(),
        CalibrateOutputs {
            u: &mut u,
            s: Some(&mut s),
            abstain: Some(&mut ab),
            u_q: Some(&mut uq),
        },
    )
    .unwrap();
    let mut want = bytes(&u);
    want.extend(bytes(&s));
    want.extend(&ab);
    want.extend(&uq);
    assert_eq!(got, want);
}
