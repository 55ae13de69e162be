//! Compile-time comparison of our mirrors with the layouts bindgen derived from `$TFLM_DIR`
//! (feature `bindgen`; see `build.rs`). Any size or offset difference is a build error naming
//! the struct and member.
#![allow(
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    dead_code,
    clippy::all
)]

mod tflm {
    include!(concat!(env!("OUT_DIR"), "/tflm_bindings.rs"));
}

use super::types as ours;
use core::mem::{offset_of, size_of};

macro_rules! same_layout {
    ($ours:ident, $theirs:ident { $($o:ident = $t:ident),* $(,)? }) => {
        const _: () = {
            assert!(
                size_of::<ours::$ours>() == size_of::<tflm::$theirs>(),
                concat!("size of ", stringify!($theirs), " differs from the TFLM headers")
            );
            $(assert!(
                offset_of!(ours::$ours, $o) == offset_of!(tflm::$theirs, $t),
                concat!("offset of ", stringify!($theirs), ".", stringify!($t),
                        " differs from the TFLM headers")
            );)*
        };
    };
}

same_layout!(TfLiteIntArray, TfLiteIntArray { size = size, data = data });
same_layout!(TfLitePtrUnion, TfLitePtrUnion {});
same_layout!(TfLiteEvalTensor, TfLiteEvalTensor { data = data, dims = dims, type_ = type_ });
same_layout!(TfLiteNode, TfLiteNode {
    inputs = inputs,
    outputs = outputs,
    intermediates = intermediates,
    user_data = user_data,
    builtin_data = builtin_data,
    custom_initial_data = custom_initial_data,
    custom_initial_data_size = custom_initial_data_size,
});
same_layout!(TfLiteContext, TfLiteContext {
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
same_layout!(TFLMRegistration, TFLMRegistration {
    init = init,
    free = free,
    prepare = prepare,
    invoke = invoke,
    reset = reset,
    builtin_code = builtin_code,
    custom_name = custom_name,
});
