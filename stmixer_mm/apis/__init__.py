from .inference import (build_clip_pipeline, check_clip, clip_indices,
                        clip_sampling_from_cfg, inference_detector,
                        init_detector)

__all__ = [
    'init_detector', 'inference_detector', 'build_clip_pipeline',
    'clip_indices', 'clip_sampling_from_cfg', 'check_clip'
]
