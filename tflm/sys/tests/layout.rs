//! `snapuq-tflm`'s `#[repr(C)]` mirrors against the structs bindgen generated from the TFLM
//! headers this crate was built with (`TFLM_DIR`, `TF_LITE_STATIC_MEMORY`): size, alignment and
//! the offset of every member, so that any drift between the mirrors and TFLM fails here.
//! (The 32-bit Arm layouts are checked the same way, at compile time, by
//! `cargo build -p snapuq-tflm --features bindgen --target thumbv7em-none-eabihf`, in CI.)
use snapuq_tflm::ffi::types as ours;
use std::mem::{align_of, offset_of, size_of};
use tflite_micro_sys::bindings as tflm;

/// (struct, what, ours, theirs) for every compared quantity.
type Row = (&'static str, &'static str, usize, usize);

macro_rules! rows {
    ($rows:ident, $ours:ident, $theirs:ident { $($o:ident = $t:ident),* $(,)? }) => {
        $rows.push((stringify!($theirs), "size", size_of::<ours::$ours>(), size_of::<tflm::$theirs>()));
        $rows.push((stringify!($theirs), "align", align_of::<ours::$ours>(), align_of::<tflm::$theirs>()));
        $($rows.push((
            stringify!($theirs),
            stringify!($t),
            offset_of!(ours::$ours, $o),
            offset_of!(tflm::$theirs, $t),
        ));)*
    };
}

fn all_rows() -> Vec<Row> {
    let mut r: Vec<Row> = Vec::new();
    rows!(r, TfLiteIntArray, TfLiteIntArray { size = size, data = data });
    rows!(r, TfLitePtrUnion, TfLitePtrUnion {});
    rows!(r, TfLiteEvalTensor, TfLiteEvalTensor { data = data, dims = dims, type_ = type_ });
    rows!(r, TfLiteNode, TfLiteNode {
        inputs = inputs,
        outputs = outputs,
        intermediates = intermediates,
        user_data = user_data,
        builtin_data = builtin_data,
        custom_initial_data = custom_initial_data,
        custom_initial_data_size = custom_initial_data_size,
    });
    rows!(r, TfLiteContext, TfLiteContext {
        tensors_size = tensors_size,
        get_execution_plan = GetExecutionPlan,
        tensors = tensors,
        impl_ = impl_,
        resize_tensor = ResizeTensor,
        report_error = ReportError,
        add_tensors = AddTensors,
        get_node_and_registration = GetNodeAndRegistration,
        replace_node_subsets_with_delegate_kernels = ReplaceNodeSubsetsWithDelegateKernels,
        recommended_num_threads = recommended_num_threads,
        get_external_context = GetExternalContext,
        set_external_context = SetExternalContext,
        allow_fp32_relax_to_fp16 = allow_fp32_relax_to_fp16,
        profiler = profiler,
        allocate_persistent_buffer = AllocatePersistentBuffer,
        allocate_buffer_for_eval = AllocateBufferForEval,
        request_scratch_buffer_in_arena = RequestScratchBufferInArena,
        get_scratch_buffer = GetScratchBuffer,
        resize_tensor_explicit = ResizeTensorExplicit,
        preview_delegate_partitioning = PreviewDelegatePartitioning,
        get_tensor = GetTensor,
        get_eval_tensor = GetEvalTensor,
        get_model_metadata = GetModelMetadata,
        acquire_subgraph_context = AcquireSubgraphContext,
        release_subgraph_context = ReleaseSubgraphContext,
    });
    rows!(r, TFLMRegistration, TFLMRegistration {
        init = init,
        free = free,
        prepare = prepare,
        invoke = invoke,
        reset = reset,
        builtin_code = builtin_code,
        custom_name = custom_name,
    });
    r
}

#[test]
fn mirrors_match_the_bindgen_layouts() {
    let rows = all_rows();
    let bad: Vec<String> = rows
        .iter()
        .filter(|(_, _, a, b)| a != b)
        .map(|(s, w, a, b)| format!("{s}.{w}: ours {a}, TFLM {b}"))
        .collect();
    assert!(
        bad.is_empty(),
        "snapuq-tflm's mirrors differ from the TFLM headers:\n{}",
        bad.join("\n")
    );
    // Every mirror is covered, with its members (not only sizes).
    assert_eq!(rows.iter().filter(|r| r.1 == "align").count(), 6);
    assert!(rows.len() > 50, "{} rows", rows.len());
}

/// The layout pins in `snapuq-tflm` (`ffi::layout::LAYOUTS`, which its header tests also use)
/// name the same sizes as the generated structs.
#[test]
fn layout_table_matches_bindgen() {
    let sizes = [
        ("TfLiteIntArray", size_of::<tflm::TfLiteIntArray>()),
        ("TfLitePtrUnion", size_of::<tflm::TfLitePtrUnion>()),
        ("TfLiteEvalTensor", size_of::<tflm::TfLiteEvalTensor>()),
        ("TfLiteNode", size_of::<tflm::TfLiteNode>()),
        ("TfLiteContext", size_of::<tflm::TfLiteContext>()),
        ("TFLMRegistration", size_of::<tflm::TFLMRegistration>()),
    ];
    for (name, size) in sizes {
        let row = snapuq_tflm::ffi::layout::LAYOUTS
            .iter()
            .find(|l| l.0 == name)
            .unwrap_or_else(|| panic!("{name} missing from snapuq_tflm::ffi::layout::LAYOUTS"));
        assert_eq!(row.1, size, "{name}: pinned size vs TFLM headers");
    }
}
