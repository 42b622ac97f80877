"""JHMDB-21's puppet masks (``puppet_mask.mat``, docs/en/masks.md), read with
``scipy.io.loadmat`` (builds arrays, never runs code).

``part_mask`` is ``uint8 [H, W, nframes]`` (frame ``f`` 1-based); a pixel of
value ``v > 0`` belongs to the tube whose ``entity_id`` is ``v - 1`` (JHMDB's
binary files: one tube, id 0).
"""
import os.path as osp
from typing import List, Sequence, Tuple

import numpy as np
from scipy.io import loadmat

from stmixer_mm.datasets.fileio_utils import is_file
from stmixer_mm.datasets.tube_dataset import TubeDataset
from stmixer_mm.registry import DATASETS

PUPPET_MASK_KEY = 'part_mask'


def load_puppet_masks(path: str) -> np.ndarray:
    """``part_mask`` ``[H, W, nframes]`` (uint8) of a ``puppet_mask.mat``.

    Raises:
        FileNotFoundError: When the file is missing.
        ValueError: Not a MATLAB file, or no 3-D integer ``part_mask``.
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
    """``[n, H, W]`` bool masks of tubes ``entity_ids`` at 1-based ``frame``.

    Args:
        masks (np.ndarray): ``part_mask`` of :func:`load_puppet_masks`,
            shape (H, W, nframes), integer.
        path (str): The mask file, named in errors.
        video (str): The video, named in errors.
        frame (int): 1-based frame number.
        resolution (tuple[int, int]): The video's (height, width) from the
            annotation file; must equal the masks' (H, W).
        entity_ids (Sequence[int]): Tube ids; tube ``i`` has pixel value
            ``i + 1``.

    Returns:
        np.ndarray: bool, shape (len(entity_ids), H, W), one mask per id in
        order.

    Raises:
        ValueError: Masks not of the video's ``resolution``, too few
            frames, or a tube without a pixel there.
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


@DATASETS.register_module()
class TubeMaskDataset(TubeDataset):
    """``TubeDataset`` whose samples also carry their video's puppet mask
    file (``puppet_mask_file``, read by ``LoadActorMasks``): JHMDB-21's
    ``puppet_mask/<video>/puppet_mask.mat``, checked with the media.

    Args:
        *args: Those of ``TubeDataset``.
        mask_root (str): The folder of the puppet masks (JHMDB's
            ``puppet_mask/``).
        mask_file_tmpl (str): A video's mask file under ``mask_root``, with
            ``{video}``. Defaults to ``'{video}/puppet_mask.mat'``.
        **kwargs: Those of ``TubeDataset``.
    """

    def __init__(self,
                 *args,
                 mask_root: str,
                 mask_file_tmpl: str = '{video}/puppet_mask.mat',
                 **kwargs) -> None:
        for name, value in (('mask_root', mask_root), ('mask_file_tmpl',
                                                       mask_file_tmpl)):
            if not isinstance(value, str) or not value:
                raise ValueError(f'TubeMaskDataset: {name} must be a path, '
                                 f'got {value!r}')
        # (read by load_data_list, which TubeDataset's __init__ calls)
        self.mask_root, self.mask_file_tmpl = mask_root, mask_file_tmpl
        super().__init__(*args, **kwargs)

    def mask_file_of(self, video: str) -> str:
        """The puppet mask file of ``video``."""
        return osp.join(self.mask_root,
                        self.mask_file_tmpl.format(video=video))

    def load_data_list(self) -> List[dict]:
        """``TubeDataset``'s samples, each with ``puppet_mask_file``; with
        ``check_files``, a video's missing mask file is named first."""
        data_list, checked = super().load_data_list(), set()
        for info in data_list:
            info['puppet_mask_file'] = self.mask_file_of(info['video_id'])
            if self.check_files and info['video_id'] not in checked and \
                    not is_file(info['puppet_mask_file'], self.backend_args):
                raise FileNotFoundError(
                    f'puppet mask file of video {info["video_id"]!r} (in '
                    f'{self.ann_file}) not found: '
                    f'{info["puppet_mask_file"]} (mask_root='
                    f'{self.mask_root!r}, mask_file_tmpl='
                    f'{self.mask_file_tmpl!r})')
            checked.add(info['video_id'])
        return data_list
