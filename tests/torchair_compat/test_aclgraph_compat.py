"""TorchAir's aclgraph (NPU graph capture) ``tests/st`` cases: read, classified, not ported.

airgraph lowers FX graphs to GE graphs; TorchAir's ``mode="reduce-overhead"``
and its ``npugraph_ex`` backend instead capture the graph with aclgraph (NPU
graph capture and replay on device streams), which airgraph does not provide
(issue 14 leaves it out of scope). Every case below runs aclgraph capture, or
unit-tests the private passes and helpers behind it, against TorchAir's
stubbed NPU. Each upstream case is listed by name in ``UPSTREAM`` and reported
as a skip with its reason, so the counts show.

==========================================  ======  =========================================
upstream file                               cases   reason (count)
==========================================  ======  =========================================
torchair_aclgraph_st.py                     83      (c) aclgraph capture (77); (c) torch.npu
                                                    streams and tagged events (1); (b) private
                                                    ``_acl_concrete_graph`` / ``GeConcreteGraph``
                                                    (2); (b) private aclgraph utils (3); its
                                                    2 npugraph_ex option cases are counted in
                                                    test_config_compat.py
torchair_aclgraph_reinplace_st.py           16      (c) aclgraph capture (8); (b) the private
                                                    aclgraph reinplace pass (8)
torchair_eager_st.py                        18      (c) aclgraph capture (17); (b) the private
                                                    aclgraph reinplace pass (1); its other 2
                                                    cases are ported in test_config_compat.py
torchair_npugraph_ex_compile_st.py          53      (c) the npugraph_ex backend (aclgraph
                                                    capture) (50); (b) private utils (3)
torchair_npugraph_ex_cache_st.py            12      (c) npugraph_ex's compile cache (12)
==========================================  ======  =========================================
"""

from __future__ import annotations

import pytest
from torchair_compat._support import not_ported_cases, upstream_names

ACLGRAPH = (
    "(c) aclgraph: NPU graph capture and replay (mode='reduce-overhead' or the npugraph_ex "
    "backend), which airgraph does not provide"
)
NPU_STREAMS = "(c) torch.npu streams and torchair.ops tagged events: NPU runtime only"
PRIVATE_GRAPH = "(b) private torchair._acl_concrete_graph / GeConcreteGraph internals"
ACL_UTILS = "(b) private aclgraph helpers: reconstruct_args_kwargs, WeakRef, LazyMessage"
REINPLACE_PASS = "(b) private aclgraph reinplace pass (_mutated_input_reinplace)"


# upstream file -> reason -> its test names (read from Ascend/torchair tests/st)
UPSTREAM = {
    "torchair_aclgraph_st.py": {
        ACLGRAPH: upstream_names("""
        test_aclgraph_capture_and_replay
        test_aclgraph_capture_and_replay_keep_inference_input_mutations_true
        test_aclgraph_capture_and_replay_keep_inference_input_mutations_false
        test_aclgraph_update test_aclgraph_custom_update test_aclgraph_dynamic_sym_in_tensor
        test_aclgraph_dynamic_sym_in_scale_and_tensor test_aclgraph_unsupported_dump
        test_npu_stream_switch_with_stream_closure test_npu_stream_switch_with_tagged_event
        test_npu_stream_switch_with_super_kernel_scope
        test_npu_stream_switch_with_super_kernel_scope_with_nest_scope
        test_npu_stream_switch_no_support_npu_wait_tensor_with_reduce_over_head
        test_record_stream_with_reduce_over_head
        test_reinplace_pass_disblabled_with_multi_stream
        test_aclgraph_capture_and_replay_keep_inference_input_mutations_true_default_enable_reinplace_pass
        test_aclgraph_capture_and_replay_keep_inference_input_mutations_true_disable_reinplace_pass_with_slice
        test_aclgraph_keep_inference_input_mutations_true_disable_mutated_input_pass_with_slice
        test_aclgraph_capture_and_replay_keep_inference_input_mutations_true_disable_reinplace_mutated_input
        test_aclgraph_capture_and_replay_keep_inference_input_mutations_true_disable_reinplace_inplaceable_ops
        test_aclgraph_capture_and_replay_keep_inference_input_mutations_false_enable_reinplace_ops
        test_aclgraph_capture_and_replay_keep_inference_input_mutations_false_disable_reinplace_ops
        test_graph_dump_with_py test_aclgraph_dynamic_output_construct_in_share_memory
        test_aclgraph_dynamic_disable_mempool_reuse_in_same_fx
        test_aclgraph_dynamic_use_custom_pool test_aclgraph_cache
        test_aclgraph_cache_assert_size_stride
        test_aclgraph_cache_dynamic_assert_size_stride
        test_aclgraph_cache_capture_and_replay_keep_inference_input_mutations_true
        test_compile_static_kernel test_aclgraph_cache_npu_stream_switch_with_tagged_event
        test_aclgraph_cache_closure_vars test_aclgraph_cache_with_nan
        test_npu_multi_stream_with_multi_graph test_aclgraph_supported_blocking_env
        test_aclgraph_static_capture_size_limit
        test_aclgraph_static_capture_size_limit_cache
        test_aclgraph_recapture_non_mutated_input_with_address_change_and_input_with_no_address_change
        test_aclgraph_recapture_mutated_input_with_address_change
        test_aclgraph_recapture_multi_graph_with_address_change
        test_aclgraph_recapture_with_parameter_address_change
        test_aclgraph_recapture_with_parameter_address_change_with_frozen_parameter
        test_aclgraph_cache_tensor_constant test_aclgraph_cache_compile_with_static_kernel
        test_npu_stream_record_wait_with_wait test_npu_stream_record_wait_with_record
        test_npu_stream_record_wait_with_record_wait test_aclgraph_cache_with_record_wait
        test_multi_mutated_input test_multi_mutated_input_with_view_before
        test_multi_mutated_input_with_view_after test_enable_remove_noop_ops_slice_acl
        test_enable_remove_noop_ops_and_eliminate_dead_code_acl
        test_disable_remove_noop_ops_and_eliminate_dead_code_acl
        test_torch_compile_acl_debug_dump test_torch_compile_acl_debug_dump_low_version
        test_limit_core_num_in_aclgraph
        test_aclgraph_userinput_construct_in_share_memory_with_parameter_and_mutated
        test_aclgraph_userinput_construct_in_share_memory_with_frozen_parameter
        test_aclgraph_userinput_construct_in_share_memory_with_no_frozen_parameter
        test_aclgraph_not_assert_size_stride_empty_tensor
        test_aclgraph_cache_recompile_with_warning
        test_aclgraph_cache_compile_with_parameters_in_high_version_of_torch
        test_aclgraph_core_limit_with_static_kernel test_capture_and_recapture_cnt
        test_debug_compare_fx_graphs test_force_eager_with_multi_stream_and_static_kernel
        test_force_eager_with_multi_stream
        test_aclgraph_cache_compile_static_kernel_run_eagerly test_cat_optimization_basic
        test_cat_optimization_wrong_order_success test_cat_optimization_skip_non_first_dim
        test_cat_optimization_skip_no_out_variant test_cat_optimization_different_ops
        test_cat_optimization_with_node_has_diff_out
        test_pattern_pass_transpose_batchmatmul_logger
        """),
        PRIVATE_GRAPH: upstream_names("""
        test_fx_node_shape_analysis test_ge_with_multi_stream_event
        """),
        NPU_STREAMS: upstream_names("""
        test_eager_with_multi_stream_event
        """),
        ACL_UTILS: upstream_names("""
        test_reconstruct_args_kwargs test_weak_ref test_lazy_message
        """),
    },
    "torchair_aclgraph_reinplace_st.py": {
        REINPLACE_PASS: upstream_names("""
        test_counters_functionalize_old test_counters_functionalize_v2
        test_view_inplaced_functionalize_v2 test_view_inplaced2_functionalize_v2
        test_views_not_inplaced_functionalize_v2 test_views_not_inplaced2_functionalize_v2
        test_views_not_inplaced3_functionalize_v2 test_self_copy_no_crash
        """),
        ACLGRAPH: upstream_names("""
        test_multiple_mutations test_multiple_intermediate test_multi_output_intermeditate
        test_lists_functionalize_v2 test_lists_old_functionalize
        test_multi_reinplace_intermediate_no_later_usage
        test_multi_reinplace_intermediate_has_later_usage
        test_multi_reinplace_intermediate_cross_stream_fail
        """),
    },
    "torchair_eager_st.py": {
        ACLGRAPH: upstream_names("""
        test_acl_graph_eager_mode_dynamic_false test_aclgraph_run_eagerly_with_static_kernel
        test_aclgraph_run_eagerly_with_static_kernel_compilation_range_check
        test_aclgraph_single_reinplace_within_mix_stream_scope
        test_aclgraph_multi_reinplace_within_same_stream_scope
        test_aclgraph_multi_reinplace_within_mix_stream_scope
        test_aclgraph_single_reinplace_within_mix_stream_scope_success
        test_aclgraph_multi_reinplace_within_mix_stream_scope_success
        test_aclgraph_multi_reinplace_within_mix_stream_scope_fail
        test_aclgraph_single_reinplace_with_multi_stream_scope_success
        test_aclgraph_single_reinplace_with_multi_stream_scope_failed
        test_aclgraph_single_reinplace_with_multi_streams_scope_success
        test_aclgraph_single_reinplace_with_multi_streams_scope_failed_1
        test_aclgraph_single_reinplace_with_multi_streams_scope_failed_2
        test_aclgraph_single_mutated_reinplace_with_multi_stream_scope_success
        test_aclgraph_single_mutated_reinplace_with_multi_stream_scope_failed
        test_aclgraph_single_mutated_reinplace_with_multi_streams_scope_success
        """),
        REINPLACE_PASS: upstream_names("""
        test_aclgraph_single_mutated_reinplace_with_multi_stream_scope_has_stream_label
        """),
    },
    "torchair_npugraph_ex_compile_st.py": {
        ACLGRAPH: upstream_names("""
        test_aclgraph_capture_and_replay test_fx_node_shape_analysis
        test_aclgraph_capture_and_replay_keep_inference_input_mutations_true
        test_aclgraph_capture_and_replay_keep_inference_input_mutations_false
        test_aclgraph_update test_aclgraph_custom_update test_aclgraph_dynamic_sym_in_tensor
        test_aclgraph_dynamic_sym_in_scale_and_tensor
        test_aclgraph_capture_and_replay_keep_inference_input_mutations_true_default_enable_reinplace_pass
        test_aclgraph_capture_and_replay_keep_inference_input_mutations_true_disable_reinplace_pass_with_slice
        test_aclgraph_keep_inference_input_mutations_true_disable_mutated_input_pass_with_slice
        test_aclgraph_capture_and_replay_keep_inference_input_mutations_true_disable_reinplace_mutated_input
        test_aclgraph_capture_and_replay_keep_inference_input_mutations_true_disable_reinplace_inplaceable_ops
        test_aclgraph_capture_and_replay_keep_inference_input_mutations_false_enable_reinplace_ops
        test_aclgraph_capture_and_replay_keep_inference_input_mutations_false_disable_reinplace_ops
        test_aclgraph_dynamic_output_construct_in_share_memory
        test_aclgraph_dynamic_use_custom_pool test_aclgraph_supported_blocking_env
        test_aclgraph_static_capture_size_limit
        test_aclgraph_recapture_non_mutated_input_with_address_change_and_input_with_no_address_change
        test_aclgraph_recapture_mutated_input_with_address_change
        test_aclgraph_recapture_multi_graph_with_address_change
        test_aclgraph_recapture_with_parameter_address_change
        test_aclgraph_recapture_with_parameter_address_change_with_frozen_parameter
        test_enable_remove_noop_ops_slice_acl
        test_enable_remove_noop_ops_and_eliminate_dead_code_acl
        test_disable_remove_noop_ops_and_eliminate_dead_code_acl
        test_torch_compile_acl_debug_dump test_torch_compile_acl_debug_dump_low_version
        test_compile_fx_debug_dump
        test_aclgraph_userinput_construct_in_share_memory_with_parameter_and_mutated
        test_aclgraph_userinput_construct_in_share_memory_with_frozen_parameter
        test_aclgraph_userinput_construct_in_share_memory_with_no_frozen_parameter
        test_aclgraph_not_assert_size_stride_empty_tensor test_self_copy_no_crash
        test_self_copy_user_write_chain test_self_copy_preserves_normal_copy
        test_self_copy_with_arithmetic test_self_copy_return_different_alias
        test_self_copy_with_decompose test_capture_and_recapture_cnt
        test_debug_compare_fx_graphs test_cat_optimization_basic
        test_cat_optimization_wrong_order_success test_cat_optimization_skip_non_first_dim
        test_cat_optimization_skip_no_out_variant test_cat_optimization_different_ops
        test_npugraph_ex_process_kwargs_options_invalid_option test_compile_fx
        test_capture_error_mode_option
        """),
        ACL_UTILS: upstream_names("""
        test_reconstruct_args_kwargs test_weak_ref test_lazy_message
        """),
    },
    "torchair_npugraph_ex_cache_st.py": {
        ACLGRAPH: upstream_names("""
        test_aclgraph_cache test_aclgraph_cache_assert_size_stride
        test_aclgraph_cache_dynamic_assert_size_stride
        test_aclgraph_cache_capture_and_replay_keep_inference_input_mutations_true
        test_aclgraph_cache_closure_vars test_aclgraph_cache_with_nan
        test_aclgraph_static_capture_size_limit_cache test_aclgraph_cache_tensor_constant
        test_aclgraph_cache_compile_with_static_kernel
        test_aclgraph_cache_recompile_with_warning
        test_aclgraph_cache_compile_with_parameters_in_high_version_of_torch
        test_aclgraph_cache_compile_static_kernel_run_eagerly
        """),
    },
}


def test_counts_match_the_docstring():
    counts = {file: sum(map(len, groups.values())) for file, groups in UPSTREAM.items()}
    assert counts == {
        "torchair_aclgraph_st.py": 83,
        "torchair_aclgraph_reinplace_st.py": 16,
        "torchair_eager_st.py": 18,
        "torchair_npugraph_ex_compile_st.py": 53,
        "torchair_npugraph_ex_cache_st.py": 12,
    }
    for file, groups in UPSTREAM.items():
        names = [n for ns in groups.values() for n in ns]
        assert len(names) == len(set(names)), file


@not_ported_cases(UPSTREAM)
def test_not_ported(file, name, reason):
    """Upstream aclgraph cases (listed so the count shows)."""
    pytest.skip(f"{file}: {name}: {reason}")
