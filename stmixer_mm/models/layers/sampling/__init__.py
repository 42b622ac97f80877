"""STMixer's 4-D adaptive sampling: geometry (:mod:`.geometry`), the
reference operator (:mod:`.reference`), the prepared pyramid
(:mod:`.pyramid`), the PyTorch and mmcv paths (:mod:`.pytorch_path`,
:mod:`.mmcv_path`), the choice of a path (:mod:`.impls`) and the
dispatcher (:mod:`.dispatch`)."""
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
