"""The STMixer reference's training resize: the short side drawn per clip
from a list (the official ``TRAIN_MIN_SCALES = [256, 320]``: alphaction's
``random_short_side_scale_jitter`` picks one with ``np.random.choice``) or
a range, the long side capped at 1333 (mmaction2's ``RandomRescale`` has no
cap; the test resize is mmaction2's ``Resize(scale=(1333, 256),
keep_ratio=True)``).
"""
from typing import Optional, Sequence, Tuple

import numpy as np
from mmaction.datasets.transforms import Resize
from mmcv.transforms import BaseTransform

from stmixer_mm.registry import TRANSFORMS
from stmixer_mm.utils.checks import check_choice, is_int

#: ``mmcv.imresize``'s interpolations
INTERPOLATIONS = ('nearest', 'bilinear', 'bicubic', 'area', 'lanczos')


@TRANSFORMS.register_module()
class RandomShortSideResize(BaseTransform):
    """Resize a clip to a short side drawn per clip (aspect kept, the long
    side ``round(short * long / short_in)`` as the official code), the long
    side capped at ``max_long_edge``.

    Give exactly one of ``scales`` (one of the listed sizes, each equally
    likely: ``np.random.choice(scales)``, the official draw, so a captured
    training step sees few input shapes) and ``scale_range`` (a uniform
    integer in the inclusive range).

    Required keys: ``imgs``, ``img_shape``; optional ``gt_bboxes``,
    ``proposals``. Added keys: ``scale_factor``, ``keep_ratio``,
    ``short_edge`` (the drawn short side).

    Args:
        scales (Sequence[int], optional): The short sides to draw from
            (official ``[256, 320]``).
        scale_range (Sequence[int], optional): Inclusive ``(min, max)``
            short side.
        max_long_edge (int): cap of the long side. Defaults to 1333.
        interpolation (str): as in ``mmcv.imresize``.
    """

    def __init__(self,
                 scales: Optional[Sequence[int]] = None,
                 scale_range: Optional[Sequence[int]] = None,
                 max_long_edge: int = 1333,
                 interpolation: str = 'bilinear') -> None:
        name = 'RandomShortSideResize'
        if (scales is None) == (scale_range is None):
            raise ValueError(
                f'{name}: give exactly one of scales (a list of short sides, '
                'official [256, 320]) and scale_range (min, max), got '
                f'scales={scales!r}, scale_range={scale_range!r}')
        sizes = scales if scale_range is None else scale_range
        if not (isinstance(sizes, (list, tuple)) and len(sizes) >= 1
                and all(is_int(s) and s >= 1 for s in sizes)):
            raise ValueError(f'{name}: scales / scale_range must hold ints '
                             f'>= 1, got {sizes!r}')
        if scale_range is not None and not (len(sizes) == 2
                                            and sizes[0] <= sizes[1]):
            raise ValueError(f'{name}: scale_range must be two ints 0 < min '
                             f'<= max, got {scale_range!r}')
        if not is_int(max_long_edge) or max_long_edge < max(sizes):
            raise ValueError(
                f'{name}: max_long_edge must be an int >= the largest short '
                f'side ({max(sizes)}), got {max_long_edge!r}')
        check_choice(name, INTERPOLATIONS, interpolation=interpolation)
        self.scales = None if scales is None else tuple(scales)
        self.scale_range: Optional[Tuple[int,
                                         int]] = (None if scale_range is None
                                                  else tuple(scale_range))
        self.max_long_edge = max_long_edge
        self.interpolation = interpolation

    def draw_short_side(self) -> int:
        """One short side: ``np.random.choice(scales)`` or a uniform integer
        of ``scale_range`` (numpy's global generator, as mmcv's)."""
        if self.scales is not None:
            return int(np.random.choice(self.scales))
        return int(
            np.random.randint(self.scale_range[0], self.scale_range[1] + 1))

    def transform(self, results: dict) -> dict:
        short = self.draw_short_side()
        resize = Resize((self.max_long_edge, short),
                        keep_ratio=True,
                        interpolation=self.interpolation)
        results = resize(results)
        results['short_edge'] = short
        return results

    def __repr__(self) -> str:
        drawn = (f'scales={self.scales}' if self.scales is not None else
                 f'scale_range={self.scale_range}')
        return (f'{self.__class__.__name__}({drawn}, '
                f'max_long_edge={self.max_long_edge}, '
                f'interpolation={self.interpolation!r})')
