"""The STMixer reference's training resize: short side jittered in ``[256,
320]``, long side capped at 1333 (mmaction2's ``RandomRescale`` has no cap;
the test resize is mmaction2's ``Resize(scale=(1333, 256), keep_ratio=True)``).
"""
from typing import Sequence, Tuple

import numpy as np
from mmaction.datasets.transforms import Resize
from mmcv.transforms import BaseTransform

from stmixer_mm.registry import TRANSFORMS
from stmixer_mm.utils.settings import is_int

#: ``mmcv.imresize``'s interpolations
INTERPOLATIONS = ('nearest', 'bilinear', 'bicubic', 'area', 'lanczos')


@TRANSFORMS.register_module()
class RandomShortSideResize(BaseTransform):
    """Resize a clip to a uniformly drawn integer short side in
    ``scale_range`` (aspect kept), the long side capped at ``max_long_edge``.

    Required keys: ``imgs``, ``img_shape``; optional ``gt_bboxes``,
    ``proposals``. Added keys: ``scale_factor``, ``keep_ratio``,
    ``short_edge`` (the drawn short side).

    Args:
        scale_range (Sequence[int]): inclusive ``(min, max)`` short side.
        max_long_edge (int): cap of the long side. Defaults to 1333.
        interpolation (str): as in ``mmcv.imresize``.
    """

    def __init__(self,
                 scale_range: Sequence[int] = (256, 320),
                 max_long_edge: int = 1333,
                 interpolation: str = 'bilinear') -> None:
        if not (isinstance(scale_range,
                           (list, tuple)) and len(scale_range) == 2
                and all(is_int(s) and s >= 1 for s in scale_range)
                and scale_range[0] <= scale_range[1]):
            raise ValueError('RandomShortSideResize: scale_range must be two '
                             f'ints 0 < min <= max, got {scale_range!r}')
        scale_range = tuple(scale_range)
        if not is_int(max_long_edge) or max_long_edge < scale_range[1]:
            raise ValueError(
                'RandomShortSideResize: max_long_edge must be an int >= '
                f'scale_range[1], got {max_long_edge!r}')
        if interpolation not in INTERPOLATIONS:
            raise ValueError('RandomShortSideResize: interpolation must be '
                             f'one of {INTERPOLATIONS}, got {interpolation!r}')
        self.scale_range: Tuple[int, int] = scale_range
        self.max_long_edge = max_long_edge
        self.interpolation = interpolation

    def transform(self, results: dict) -> dict:
        short = int(
            np.random.randint(self.scale_range[0], self.scale_range[1] + 1))
        resize = Resize((self.max_long_edge, short),
                        keep_ratio=True,
                        interpolation=self.interpolation)
        results = resize(results)
        results['short_edge'] = short
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(scale_range={self.scale_range}, '
                f'max_long_edge={self.max_long_edge}, '
                f'interpolation={self.interpolation!r})')
