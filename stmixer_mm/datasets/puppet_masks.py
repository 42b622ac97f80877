"""JHMDB-21's puppet masks (``puppet_mask.mat``), read with scipy.

JHMDB ships one MATLAB file per video, ``puppet_mask/<class>/<video>/
puppet_mask.mat``, whose variable ``part_mask`` is a ``uint8`` array
``[H, W, nframes]``: frame ``f`` (1-based) is ``part_mask[:, :, f - 1]``,
1 on the person (the puppet JHMDB's boxes are derived from), 0 elsewhere.
JHMDB has one person per video, the video's one tube.

The same file can hold several people: a pixel of value ``v > 0`` belongs
to the tube whose ``entity_id`` (:class:`~stmixer_mm.datasets.TubeDataset`:
the tubes of a video numbered in sorted ``(label, index)`` order) is ``v -
1`` (the synthetic tube generator's ``--masks`` writes that); JHMDB's
binary files are the case of one tube, id 0.

``scipy.io.loadmat`` reads MATLAB v4-v7.2 files; it builds arrays and
never runs code (MATLAB objects and function handles come back as opaque
arrays, never called).
"""
from typing import Sequence, Tuple

import numpy as np
from scipy.io import loadmat

#: the name of JHMDB's mask variable
PUPPET_MASK_KEY = 'part_mask'


def load_puppet_masks(path: str) -> np.ndarray:
    """``part_mask`` ``[H, W, nframes]`` (uint8) of a ``puppet_mask.mat``.

    Raises:
        FileNotFoundError: When the file is missing.
        ValueError: Naming the file when it is not a MATLAB file, has no
            ``part_mask`` or one that is not a 3-D integer array.
    """
    try:
        mat = loadmat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f'puppet mask file {path} not found')
    except Exception as e:  # scipy raises several kinds on a bad file
        raise ValueError(f'puppet mask file {path}: not a MATLAB (v4-v7.2) '
                         f'file scipy can read ({type(e).__name__}: {e})')
    if PUPPET_MASK_KEY not in mat:
        names = sorted(k for k in mat if not k.startswith('__'))
        raise ValueError(f'puppet mask file {path}: no variable '
                         f'"{PUPPET_MASK_KEY}" (has {names})')
    masks = np.asarray(mat[PUPPET_MASK_KEY])
    if masks.ndim == 2:  # a one-frame video
        masks = masks[:, :, None]
    if masks.ndim != 3 or not (np.issubdtype(masks.dtype, np.integer)
                               or masks.dtype == bool):
        raise ValueError(
            f'puppet mask file {path}: "{PUPPET_MASK_KEY}" must be an '
            f'integer array [H, W, nframes], got {masks.dtype} '
            f'{masks.shape}')
    return masks


def puppet_masks_at(masks: np.ndarray, path: str, video: str, frame: int,
                    resolution: Tuple[int, int],
                    entity_ids: Sequence[int]) -> np.ndarray:
    """The boolean masks ``[n, H, W]`` of the tubes ``entity_ids`` at the
    1-based ``frame``.

    Raises:
        ValueError: Naming the file, the video and the frame when the masks
            are not of the video's ``resolution`` (H, W), the file has
            fewer frames than ``frame``, or a tube has no pixel there.
    """
    where = f'puppet mask file {path} (video {video!r}, frame {frame})'
    if tuple(masks.shape[:2]) != tuple(resolution):
        raise ValueError(
            f'{where}: masks of {masks.shape[0]}x{masks.shape[1]} (HxW) but '
            f'the video is {resolution[0]}x{resolution[1]} (its "resolution" '
            'in the annotation file)')
    if frame > masks.shape[2]:
        raise ValueError(f'{where}: the file has masks for '
                         f'{masks.shape[2]} frames, none for frame {frame}')
    plane = masks[:, :, frame - 1]
    out = np.stack([plane == i + 1
                    for i in entity_ids]) if len(entity_ids) else np.zeros(
                        (0, ) + plane.shape, bool)
    for i, m in zip(entity_ids, out):
        if not m.any():
            values = sorted(int(v) for v in np.unique(plane) if v)
            raise ValueError(
                f'{where}: no pixel of tube {i} (value {i + 1}); the frame '
                f'has the values {values} (0 is the background)')
    return out
