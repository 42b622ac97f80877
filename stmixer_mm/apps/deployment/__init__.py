"""ONNX export for a fixed clip size and a numpy post-processing equal to
``STMixer.predict``. Not imported by ``import stmixer_mm`` (needs ``onnx``)."""
from .onnx_export import (EXPORTERS, INPUT_NAME, META_KEY, OUTPUT_NAMES,
                          STMixerONNXWrapper, check_exportable,
                          create_ort_session, export_class_names, export_meta,
                          export_onnx, get_sampling_impls,
                          keyframe_graph_differs, normalize_clip,
                          read_export_meta, run_ort, set_sampling_impl)
from .postprocess import (AVA_TEST_CFG_DEFAULTS, person_scores_from_logits,
                          postprocess, postprocess_ava)
from .verify import compare_with_torch, random_frames, torch_predict

__all__ = [
    'EXPORTERS', 'INPUT_NAME', 'META_KEY', 'OUTPUT_NAMES',
    'STMixerONNXWrapper', 'create_ort_session', 'export_meta', 'export_onnx',
    'normalize_clip', 'read_export_meta', 'run_ort', 'set_sampling_impl',
    'get_sampling_impls', 'AVA_TEST_CFG_DEFAULTS', 'person_scores_from_logits',
    'postprocess', 'postprocess_ava', 'compare_with_torch', 'random_frames',
    'torch_predict', 'check_exportable', 'keyframe_graph_differs',
    'export_class_names'
]
