"""The STMixer reference's training resize: short side jittered in ``[256,
320]``, long side capped at 1333 (mmaction2's ``RandomRescale`` has no cap;
the test resize is mmaction2's ``Resize(scale=(1333, 256), keep_ratio=True)``).
"""
from typing import Sequence, Tuple

import numpy as np
from mmaction.datasets.transforms import Resize
from mmcv.transforms import BaseTransform

from stmixer_mm.registry import TRANSFORMS
from stmixer_mm.utils.setting_types import POSITIVE, Choice, Seq
from stmixer_mm.utils.settings import check_arguments


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
    SETTINGS = dict(
        scale_range=Seq(POSITIVE, length=2),
        max_long_edge=POSITIVE,
        interpolation=Choice('nearest', 'bilinear', 'bicubic', 'area',
                             'lanczos'))

    def __init__(self,
                 scale_range: Sequence[int] = (256, 320),
                 max_long_edge: int = 1333,
                 interpolation: str = 'bilinear') -> None:
        check_arguments(RandomShortSideResize, locals())
        scale_range = tuple(scale_range)
        if scale_range[0] > scale_range[1]:
            raise ValueError('scale_range must be two ints 0 < min <= max, '
                             f'got {scale_range}')
        if max_long_edge < scale_range[1]:
            raise ValueError(
                'max_long_edge must be an int >= scale_range[1], got '
                f'{max_long_edge}')
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
