//! Compile-time pins of the mirrors' layouts. The numbers were worked out from the C
//! declarations for the two ABIs we ship: 32-bit Arm (AAPCS, Cortex-M) and 64-bit hosts
//! (LP64). A change in a mirror that moves any member fails the build here.
use super::types::*;
use core::mem::{align_of, offset_of, size_of};

/// One mirrored struct's layout as `(name, size, [(member, offset)])`, shared with the
/// `bindgen` check in `build.rs`'s output comparison and with the header tests.
pub type Layout = (&'static str, usize, &'static [(&'static str, usize)]);

/// The layouts of every mirror on the target this crate is compiled for.
pub const LAYOUTS: &[Layout] = &[
    (
        "TfLiteIntArray",
        size_of::<TfLiteIntArray>(),
        &[
            ("size", offset_of!(TfLiteIntArray, size)),
            ("data", offset_of!(TfLiteIntArray, data)),
        ],
    ),
    ("TfLitePtrUnion", size_of::<TfLitePtrUnion>(), &[]),
    (
        "TfLiteEvalTensor",
        size_of::<TfLiteEvalTensor>(),
        &[
            ("data", offset_of!(TfLiteEvalTensor, data)),
            ("dims", offset_of!(TfLiteEvalTensor, dims)),
            ("type", offset_of!(TfLiteEvalTensor, type_)),
        ],
    ),
    (
        "TfLiteNode",
        size_of::<TfLiteNode>(),
        &[
            ("inputs", offset_of!(TfLiteNode, inputs)),
            ("outputs", offset_of!(TfLiteNode, outputs)),
            ("intermediates", offset_of!(TfLiteNode, intermediates)),
            ("user_data", offset_of!(TfLiteNode, user_data)),
            ("builtin_data", offset_of!(TfLiteNode, builtin_data)),
            (
                "custom_initial_data",
                offset_of!(TfLiteNode, custom_initial_data),
            ),
            (
                "custom_initial_data_size",
                offset_of!(TfLiteNode, custom_initial_data_size),
            ),
        ],
    ),
    (
        "TfLiteContext",
        size_of::<TfLiteContext>(),
        &[
            ("tensors_size", offset_of!(TfLiteContext, tensors_size)),
            ("impl_", offset_of!(TfLiteContext, impl_)),
            ("ReportError", offset_of!(TfLiteContext, report_error)),
            (
                "recommended_num_threads",
                offset_of!(TfLiteContext, recommended_num_threads),
            ),
            (
                "allow_fp32_relax_to_fp16",
                offset_of!(TfLiteContext, allow_fp32_relax_to_fp16),
            ),
            (
                "AllocatePersistentBuffer",
                offset_of!(TfLiteContext, allocate_persistent_buffer),
            ),
            (
                "RequestScratchBufferInArena",
                offset_of!(TfLiteContext, request_scratch_buffer_in_arena),
            ),
            (
                "GetScratchBuffer",
                offset_of!(TfLiteContext, get_scratch_buffer),
            ),
            ("GetTensor", offset_of!(TfLiteContext, get_tensor)),
            ("GetEvalTensor", offset_of!(TfLiteContext, get_eval_tensor)),
            (
                "ReleaseSubgraphContext",
                offset_of!(TfLiteContext, release_subgraph_context),
            ),
        ],
    ),
    (
        "TFLMRegistration",
        size_of::<TFLMRegistration>(),
        &[
            ("init", offset_of!(TFLMRegistration, init)),
            ("free", offset_of!(TFLMRegistration, free)),
            ("prepare", offset_of!(TFLMRegistration, prepare)),
            ("invoke", offset_of!(TFLMRegistration, invoke)),
            ("reset", offset_of!(TFLMRegistration, reset)),
            ("builtin_code", offset_of!(TFLMRegistration, builtin_code)),
            ("custom_name", offset_of!(TFLMRegistration, custom_name)),
        ],
    ),
];

/// Expected sizes and offsets on 32-bit Arm (AAPCS: 4-byte pointers, `size_t` and `int`).
#[cfg(target_pointer_width = "32")]
const _: () = {
    assert!(size_of::<TfLiteIntArray>() == 4);
    assert!(size_of::<TfLitePtrUnion>() == 4);
    assert!(size_of::<TfLiteEvalTensor>() == 12);
    assert!(offset_of!(TfLiteEvalTensor, dims) == 4);
    assert!(offset_of!(TfLiteEvalTensor, type_) == 8);
    assert!(size_of::<TfLiteNode>() == 28);
    assert!(offset_of!(TfLiteNode, user_data) == 12);
    assert!(offset_of!(TfLiteNode, custom_initial_data) == 20);
    assert!(offset_of!(TfLiteNode, custom_initial_data_size) == 24);
    assert!(size_of::<TfLiteContext>() == 100);
    assert!(offset_of!(TfLiteContext, impl_) == 12);
    assert!(offset_of!(TfLiteContext, report_error) == 20);
    assert!(offset_of!(TfLiteContext, recommended_num_threads) == 36);
    assert!(offset_of!(TfLiteContext, allow_fp32_relax_to_fp16) == 48);
    assert!(offset_of!(TfLiteContext, allocate_persistent_buffer) == 56);
    assert!(offset_of!(TfLiteContext, request_scratch_buffer_in_arena) == 64);
    assert!(offset_of!(TfLiteContext, get_scratch_buffer) == 68);
    assert!(offset_of!(TfLiteContext, get_tensor) == 80);
    assert!(offset_of!(TfLiteContext, get_eval_tensor) == 84);
    assert!(offset_of!(TfLiteContext, release_subgraph_context) == 96);
    assert!(size_of::<TFLMRegistration>() == 28);
    assert!(offset_of!(TFLMRegistration, reset) == 16);
    assert!(offset_of!(TFLMRegistration, builtin_code) == 20);
    assert!(offset_of!(TFLMRegistration, custom_name) == 24);
    assert!(align_of::<TfLiteContext>() == 4);
};

/// Expected sizes and offsets on 64-bit hosts (LP64: 8-byte pointers and `size_t`, 4-byte `int`).
#[cfg(target_pointer_width = "64")]
const _: () = {
    assert!(size_of::<TfLiteIntArray>() == 4);
    assert!(size_of::<TfLitePtrUnion>() == 8);
    assert!(size_of::<TfLiteEvalTensor>() == 24);
    assert!(offset_of!(TfLiteEvalTensor, dims) == 8);
    assert!(offset_of!(TfLiteEvalTensor, type_) == 16);
    assert!(size_of::<TfLiteNode>() == 56);
    assert!(offset_of!(TfLiteNode, user_data) == 24);
    assert!(offset_of!(TfLiteNode, custom_initial_data) == 40);
    assert!(offset_of!(TfLiteNode, custom_initial_data_size) == 48);
    assert!(size_of::<TfLiteContext>() == 200);
    assert!(offset_of!(TfLiteContext, impl_) == 24);
    assert!(offset_of!(TfLiteContext, report_error) == 40);
    assert!(offset_of!(TfLiteContext, recommended_num_threads) == 72);
    assert!(offset_of!(TfLiteContext, allow_fp32_relax_to_fp16) == 96);
    assert!(offset_of!(TfLiteContext, allocate_persistent_buffer) == 112);
    assert!(offset_of!(TfLiteContext, request_scratch_buffer_in_arena) == 128);
    assert!(offset_of!(TfLiteContext, get_scratch_buffer) == 136);
    assert!(offset_of!(TfLiteContext, get_tensor) == 160);
    assert!(offset_of!(TfLiteContext, get_eval_tensor) == 168);
    assert!(offset_of!(TfLiteContext, release_subgraph_context) == 192);
    assert!(size_of::<TFLMRegistration>() == 56);
    assert!(offset_of!(TFLMRegistration, reset) == 32);
    assert!(offset_of!(TFLMRegistration, builtin_code) == 40);
    assert!(offset_of!(TFLMRegistration, custom_name) == 48);
    assert!(align_of::<TfLiteContext>() == 8);
};
