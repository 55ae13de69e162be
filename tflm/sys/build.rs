//! Build script of tflite-micro-sys: compiles TensorFlow Lite Micro from `TFLM_DIR` for the
//! host, the C++ shim (`shim/`), and generates bindings with bindgen.
//!
//! - `TFLM_DIR`: a TFLM source tree as `create_tflm_tree.py` exports it (or a tflite-micro
//!   checkout); default `../shared/tflm/reference` beside the workspace. Missing: the build
//!   fails with a message naming `TFLM_DIR`.
//! - Only what the interpreter needs is compiled: the core (`tensorflow/lite/{c,core,kernels,
//!   schema}`, `micro/` without tests and test helpers, arena allocators, memory planners,
//!   tflite bridge) and the kernels of the builtins the shim registers (CONV_2D,
//!   DEPTHWISE_CONV_2D, AVERAGE/MAX_POOL_2D, RESHAPE, FULLY_CONNECTED, SOFTMAX, ADD, QUANTIZE,
//!   DEQUANTIZE) with their shared helpers: about 60 of TFLM's ~190 sources.
//! - Objects are cached under `<target>/tflm-sys-cache/` (or `TFLM_SYS_CACHE`), keyed by the
//!   compiler, its flags, the source and a fingerprint of every header of the tree, so
//!   `cargo clippy`, `cargo test` and `cargo build` (which run this script with different
//!   OUT_DIRs) compile TFLM once, and nothing is recompiled until the tree or flags change.
//!   The flags do not follow the Cargo profile (always `-O2`), for the same reason.
//! - bindgen: the shim's C API (`shim/tflm_sys.h`) and the TFLM structs `snapuq-tflm` mirrors
//!   (`TfLiteContext`, `TfLiteNode`, `TfLiteEvalTensor`, `TfLiteIntArray`, `TfLitePtrUnion`,
//!   `TFLMRegistration`), as TFLM compiles them with `TF_LITE_STATIC_MEMORY`. Needs libclang
//!   and clang's builtin headers (`apt-get install libclang-dev`).
use std::collections::hash_map::DefaultHasher;
use std::env;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Kernel sources (under `tensorflow/lite/micro/kernels/`) of the registered builtins and the
/// helpers the core needs.
const KERNELS: &[&str] = &[
    "add.cc",
    "add_common.cc",
    "conv.cc",
    "conv_common.cc",
    "depthwise_conv.cc",
    "depthwise_conv_common.cc",
    "pooling.cc",
    "pooling_common.cc",
    "reshape.cc",
    "reshape_common.cc",
    "fully_connected.cc",
    "fully_connected_common.cc",
    "softmax.cc",
    "softmax_common.cc",
    "quantize.cc",
    "quantize_common.cc",
    "dequantize.cc",
    "dequantize_common.cc",
    "kernel_util.cc",
    "micro_tensor_utils.cc",
    "decompress.cc",
    "decompress_common.cc",
];

/// Core files left out: the shim provides DebugLog (to capture TFLM's error text), and the
/// test helpers pull in kernels we do not build.
const CORE_EXCLUDED: &[&str] = &[
    "debug_log.cc",
    "test_helpers.cc",
    "test_helper_custom_ops.cc",
    "mock_micro_graph.cc",
    "fake_micro_context.cc",
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=shim");
    println!("cargo:rerun-if-env-changed=TFLM_DIR");
    println!("cargo:rerun-if-env-changed=TFLM_SYS_CACHE");
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let workspace = manifest.join("../..");
    let include = manifest.join("../include");
    println!("cargo:rerun-if-changed={}", include.display());

    let tflm = tflm_dir(&workspace);
    for sub in ["tensorflow", "third_party"] {
        println!("cargo:rerun-if-changed={}", tflm.join(sub).display());
    }
    let includes = [
        tflm.clone(),
        tflm.join("third_party/flatbuffers/include"),
        tflm.join("third_party/gemmlowp"),
        tflm.join("third_party/ruy"),
    ];
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));

    let mut cpp = cc::Build::new();
    cpp.cpp(true)
        .std("c++17")
        .opt_level(2)
        .debug(false)
        .warnings(false)
        .flag("-fno-exceptions")
        .flag("-fno-rtti")
        .flag("-fno-threadsafe-statics")
        .define("TF_LITE_STATIC_MEMORY", None)
        .define("TF_LITE_DISABLE_X86_NEON", None);
    for i in &includes {
        cpp.include(i);
    }
    let objects = compile_tflm(&tflm, &cpp, &out);
    let lib = out.join("libtflm.a");
    archive(&cpp, &lib, &objects);

    // The shim, with the same flags plus our public headers.
    // TFLM's headers are included as system headers so that warnings stay about our code.
    let mut shim = cc::Build::new();
    shim.cpp(true)
        .std("c++17")
        .opt_level(2)
        .debug(false)
        .warnings(true)
        .extra_warnings(true)
        .flag("-fno-exceptions")
        .flag("-fno-rtti")
        .define("TF_LITE_STATIC_MEMORY", None)
        .define("TF_LITE_DISABLE_X86_NEON", None)
        .include(&include)
        .include(manifest.join("shim"));
    for i in &includes {
        shim.flag("-isystem").flag(i.to_string_lossy().as_ref());
    }
    shim.file(manifest.join("shim/tflm_sys.cc"))
        .compile("tflm_sys_shim");
    println!("cargo:rustc-link-search=native={}", out.display());
    println!("cargo:rustc-link-lib=static=tflm");

    bindings(&tflm, &manifest, &out);
}

/// `TFLM_DIR`, or the shared tree beside the workspace; fails naming the variable when it is
/// not a TFLM tree.
fn tflm_dir(workspace: &Path) -> PathBuf {
    let (dir, from_env) = match env::var_os("TFLM_DIR") {
        Some(d) if !d.is_empty() => (PathBuf::from(d), true),
        _ => (workspace.join("../shared/tflm/reference"), false),
    };
    let probe = dir.join("tensorflow/lite/micro/micro_interpreter.h");
    if !probe.is_file() {
        let how = if from_env {
            format!(
                "TFLM_DIR={} is not a TensorFlow Lite Micro tree",
                dir.display()
            )
        } else {
            format!(
                "TFLM_DIR is not set and the default TFLM tree {} does not exist",
                dir.display()
            )
        };
        panic!(
            "tflite-micro-sys: {how} ({} is missing). Set TFLM_DIR to a tflite-micro checkout \
             or a create_tflm_tree.py export with the reference kernels, e.g. \
             TFLM_DIR=/path/to/shared/tflm/reference",
            probe.display()
        );
    }
    dir.canonicalize().unwrap_or(dir)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn ext(p: &Path) -> &str {
    p.extension().and_then(|e| e.to_str()).unwrap_or("")
}

fn file_stamp(p: &Path, h: &mut DefaultHasher) {
    p.hash(h);
    if let Ok(m) = fs::metadata(p) {
        m.len().hash(h);
        if let Ok(t) = m.modified() {
            t.hash(h);
        }
    }
}

/// The sources to compile, in a stable order.
fn sources(tflm: &Path) -> Vec<PathBuf> {
    let mut all = Vec::new();
    walk(&tflm.join("tensorflow"), &mut all);
    let kernels = tflm.join("tensorflow/lite/micro/kernels");
    all.into_iter()
        .filter(|p| ext(p) == "cc")
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let s = p.to_string_lossy();
            if s.contains("/tools/") || s.contains("/examples/") || s.contains("/testing/") {
                return false;
            }
            if name.ends_with("_test.cc") || name.contains("benchmark") {
                return false;
            }
            if p.starts_with(&kernels) {
                return p.parent() == Some(kernels.as_path()) && KERNELS.contains(&name);
            }
            if p.parent() == Some(tflm.join("tensorflow/lite/micro").as_path()) {
                return !CORE_EXCLUDED.contains(&name);
            }
            true
        })
        .collect()
}

/// Compiles every source into the shared cache (only the missing objects), in parallel with
/// Cargo's job count; returns the object paths.
fn compile_tflm(tflm: &Path, build: &cc::Build, out: &Path) -> Vec<PathBuf> {
    let srcs = sources(tflm);
    let tool = build.get_compiler();
    let mut base = DefaultHasher::new();
    tool.path().hash(&mut base);
    for a in tool.args() {
        a.hash(&mut base);
    }
    if let Ok(o) = Command::new(tool.path()).arg("--version").output() {
        o.stdout.hash(&mut base);
    }
    // Any header change invalidates every object (headers are shared across the tree).
    let mut headers = Vec::new();
    walk(&tflm.join("tensorflow"), &mut headers);
    walk(&tflm.join("third_party"), &mut headers);
    for h in headers.iter().filter(|p| ext(p) == "h") {
        file_stamp(h, &mut base);
    }
    let cache = cache_dir(out);
    fs::create_dir_all(&cache).unwrap_or_else(|e| {
        panic!(
            "cannot create the TFLM object cache {}: {e}",
            cache.display()
        )
    });

    let jobs: Vec<(PathBuf, PathBuf)> = srcs
        .iter()
        .map(|src| {
            let mut h = base.clone();
            file_stamp(src, &mut h);
            let stem = src.file_stem().and_then(|s| s.to_str()).unwrap_or("src");
            (
                src.clone(),
                cache.join(format!("{stem}-{:016x}.o", h.finish())),
            )
        })
        .collect();
    let todo: Vec<&(PathBuf, PathBuf)> = jobs.iter().filter(|(_, o)| !o.is_file()).collect();
    println!(
        "cargo:warning=tflite-micro-sys: {} TFLM sources from {}, {} to compile, {} cached in {}",
        jobs.len(),
        tflm.display(),
        todo.len(),
        jobs.len() - todo.len(),
        cache.display()
    );
    let threads: usize = env::var("NUM_JOBS")
        .ok()
        .and_then(|j| j.parse().ok())
        .unwrap_or(1)
        .clamp(1, 16);
    let next = AtomicUsize::new(0);
    let errors = Mutex::new(Vec::<String>::new());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some((src, obj)) = todo.get(i) else { break };
                // Write under a unique name and rename, so concurrent builds sharing the cache
                // never see a half-written object.
                let tmp = obj.with_extension(format!("{}.tmp", std::process::id()));
                let mut cmd = tool.to_command();
                cmd.arg("-c").arg(src).arg("-o").arg(&tmp);
                match cmd.output() {
                    Ok(o) if o.status.success() => {
                        if let Err(e) = fs::rename(&tmp, obj) {
                            errors
                                .lock()
                                .unwrap()
                                .push(format!("{}: {e}", obj.display()));
                        }
                    }
                    Ok(o) => errors.lock().unwrap().push(format!(
                        "compiling {} failed:\n{}",
                        src.display(),
                        String::from_utf8_lossy(&o.stderr)
                    )),
                    Err(e) => errors
                        .lock()
                        .unwrap()
                        .push(format!("cannot run {}: {e}", tool.path().display())),
                }
            });
        }
    });
    let errors = errors.into_inner().unwrap();
    if !errors.is_empty() {
        panic!(
            "tflite-micro-sys: TFLM build failed:\n{}",
            errors.join("\n")
        );
    }
    jobs.into_iter().map(|(_, o)| o).collect()
}

/// `TFLM_SYS_CACHE`, else `tflm-sys-cache` in the target directory (found from OUT_DIR:
/// `<target>[/<triple>]/<profile>/build/<pkg>-<hash>/out`), shared by every profile.
fn cache_dir(out: &Path) -> PathBuf {
    if let Some(d) = env::var_os("TFLM_SYS_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    out.ancestors()
        .nth(4)
        .map(|t| t.join("tflm-sys-cache"))
        .unwrap_or_else(|| out.join("tflm-sys-cache"))
}

fn archive(build: &cc::Build, lib: &Path, objects: &[PathBuf]) {
    let _ = fs::remove_file(lib);
    let mut ar = build.get_archiver();
    ar.arg("crs").arg(lib).args(objects);
    let status = ar
        .status()
        .unwrap_or_else(|e| panic!("tflite-micro-sys: cannot run the archiver: {e}"));
    if !status.success() {
        panic!("tflite-micro-sys: creating {} failed", lib.display());
    }
}

fn bindings(tflm: &Path, manifest: &Path, out: &Path) {
    let shim = manifest.join("shim/tflm_sys.h");
    let mut builder = bindgen::Builder::default()
        .header(shim.to_string_lossy())
        .header_contents(
            "tflm_types.h",
            "#include \"tensorflow/lite/c/common.h\"\n\
             #include \"tensorflow/lite/micro/micro_common.h\"\n",
        )
        .clang_arg("-xc++")
        .clang_arg("-std=c++17")
        .clang_arg("-DTF_LITE_STATIC_MEMORY")
        .clang_arg(format!("-I{}", tflm.display()))
        .allowlist_function("tflm_sys_.*")
        .allowlist_type("tflm_sys_.*")
        .layout_tests(false)
        .derive_default(true)
        .generate_comments(false);
    for t in [
        "TfLiteContext",
        "TfLiteNode",
        "TfLiteEvalTensor",
        "TfLiteIntArray",
        "TfLitePtrUnion",
        "TFLMRegistration",
    ] {
        builder = builder.allowlist_type(t);
    }
    let b = builder.generate().unwrap_or_else(|e| {
        panic!(
            "tflite-micro-sys: bindgen could not parse {} and the TFLM headers under {}: {e}. \
             bindgen needs libclang and clang's builtin headers (stddef.h, stdarg.h): \
             apt-get install libclang-dev",
            shim.display(),
            tflm.display()
        )
    });
    let path = out.join("bindings.rs");
    b.write_to_file(&path)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}
