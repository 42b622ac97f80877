"""The inference API: ``init_detector`` / ``inference_detector``, the
``STMixerInferencer``, its video input (:mod:`.video_io`), person tracks
(:mod:`.tracking`) and result files (:mod:`.results`)."""
from stmixer_mm.datasets.class_names import (check_label_map, class_names,
                                             load_label_map,
                                             model_action_columns,
                                             test_dataset_cfg)
from stmixer_mm.moved import moved_error
from .greedy_tracker import OnlineTubeTracker
from .inference import (build_clip_pipeline, check_clip,
                        clip_keyframe_from_cfg, clip_sampling_from_cfg,
                        inference_clips, inference_detector, init_detector)
from .inferencers import KeyframeResult, STMixerInferencer, resolve_model_name
from .video_io import clip_indices

__all__ = [
    'init_detector', 'inference_detector', 'inference_clips',
    'build_clip_pipeline', 'resolve_model_name', 'clip_indices',
    'clip_sampling_from_cfg', 'clip_keyframe_from_cfg', 'check_clip',
    'check_label_map', 'class_names', 'load_label_map', 'model_action_columns',
    'test_dataset_cfg', 'STMixerInferencer', 'KeyframeResult',
    'OnlineTubeTracker'
]


def __getattr__(name: str):
    """A name of an earlier layout: an error naming where it is now
    (:mod:`stmixer_mm.moved`)."""
    raise moved_error(__name__, name)
