"""STMixer's 4-D adaptive sampling (dispatcher: :mod:`.dispatch`)."""
from .dispatch import (SAMPLE_4D_IMPLS, prepare_pyramid, sample_4d,
                       sample_4d_features)
from .geometry import make_sample_points, translate_to_linear_weight
from .pyramid import PreparedPyramid
from .reference import mhaq3d, sample_4d_reference

__all__ = [
    'make_sample_points', 'translate_to_linear_weight', 'mhaq3d',
    'sample_4d_reference', 'sample_4d', 'sample_4d_features',
    'prepare_pyramid', 'PreparedPyramid', 'SAMPLE_4D_IMPLS'
]
