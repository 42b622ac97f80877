from .adaptive_mixing import AdaptiveMixing
from .sampling.sampler import (SAMPLE_4D_IMPLS, PreparedPyramid,
                               make_sample_points, mhaq3d, prepare_pyramid,
                               sample_4d, sample_4d_features,
                               sample_4d_reference, translate_to_linear_weight)
from .sampling_mixing import STMixerSamplingMixing

__all__ = [
    'AdaptiveMixing', 'SAMPLE_4D_IMPLS', 'PreparedPyramid',
    'make_sample_points', 'mhaq3d', 'prepare_pyramid', 'sample_4d',
    'sample_4d_features', 'sample_4d_reference', 'translate_to_linear_weight',
    'STMixerSamplingMixing'
]
