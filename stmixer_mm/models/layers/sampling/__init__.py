"""STMixer's 4-D adaptive sampling (:mod:`.sampler`; mmcv's kernel as a
PyTorch operator: :mod:`.mmcv_op`)."""
from .sampler import (SAMPLE_4D_IMPLS, PreparedPyramid, make_sample_points,
                      mhaq3d, prepare_pyramid, sample_4d, sample_4d_features,
                      sample_4d_reference, translate_to_linear_weight)

__all__ = [
    'make_sample_points', 'translate_to_linear_weight', 'mhaq3d',
    'sample_4d_reference', 'sample_4d', 'sample_4d_features',
    'prepare_pyramid', 'PreparedPyramid', 'SAMPLE_4D_IMPLS'
]
