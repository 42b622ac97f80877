"""Arrays of model outputs."""
from typing import Any, Mapping, Optional

import numpy as np


def to_numpy(x: Any) -> np.ndarray:
    """A tensor (any device, detached) or an array-like as a numpy array."""
    if hasattr(x, 'detach'):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def check_predictions(where: str,
                      finite: Optional[Mapping] = None,
                      boxes: Optional[Mapping] = None,
                      scores: Optional[Mapping] = None,
                      normalised: Optional[Mapping] = None,
                      hint: str = '') -> None:
    """Refuse model outputs a metric cannot score right: ``finite``
    (``{field: array}``) with a NaN or infinity (a NaN box matches nothing,
    a NaN score sorts anywhere: a wrong AP with exit 0); ``boxes``
    (``{field: [..., 4] x1 y1 x2 y2}``) not finite or inverted; ``scores``
    not in [0, 1]; ``normalised`` boxes not finite or outside [0, 1] (a
    model's boxes are clipped to the frame and divided by its size: a
    coordinate above 1 is a pixel box, which matches nothing).

    Args:
        where (str): The sample, e.g. ``"video 'v' frame 3"``.
        finite, boxes, scores, normalised (Mapping[str, array], optional):
            The arrays of each kind by field. Defaults to None.
        hint (str): Appended to the message of a box outside [0, 1].
            Defaults to ``''``.

    Raises:
        ValueError: ``where`` (the sample), the field, the index of the
            first bad entry, its value and what was expected (the
            non-finite values of ``normalised`` and ``finite`` first).
    """
    checks = [
        (dict(normalised or {}, **(finite or {})), lambda a: np.isfinite(a),
         'not finite', 'finite numbers'),
        (boxes, lambda a: np.isfinite(a).all(-1) & (a[..., 2] >= a[..., 0]) &
         (a[..., 3] >= a[..., 1]), 'not finite or inverted',
         'finite boxes x1 y1 x2 y2 with x1 <= x2 and y1 <= y2'),
        (scores, lambda a: (a >= 0) & (a <= 1), 'not a probability',
         'scores in [0, 1] (after the sigmoid or softmax)'),
        (normalised, lambda a: (a >= 0) & (a <= 1), 'outside [0, 1] (pixels?)',
         'x1 y1 x2 y2 normalised by the frame '
         f'width and height{hint}'),
    ]
    for fields, ok, what, expected in checks:
        for name, arr in (fields or {}).items():
            arr = np.asarray(arr, np.float64)
            bad = ~ok(arr)
            if bad.any():
                i = tuple(int(j) for j in np.argwhere(bad)[0])
                raise ValueError(
                    f'{where}: pred_instances.{name}{list(i)} = '
                    f'{np.round(arr[i], 4).tolist()} is {what}: expected '
                    f'{expected}')
