"""Ground-truth actor masks in the data pipeline (docs/en/masks.md)."""
from typing import Dict

import cv2
import numpy as np
import torch
from mmcv.transforms import BaseTransform

from stmixer_mm.datasets.transforms.formatting import PackInputs
from stmixer_mm.datasets.transforms.formatting import sample_where as _where
from stmixer_mm.registry import TRANSFORMS
from stmixer_mm.utils.coco_rle import decode_mask
from .puppet_masks import load_puppet_masks, puppet_masks_at


@TRANSFORMS.register_module()
class LoadActorMasks(BaseTransform):
    """The ground-truth mask of every box of a sample, at the input's size.

    Place it after the geometric transforms, before :class:`PackActorInputs`:
    masks are read at ``original_shape``, resized to ``img_shape`` (nearest)
    and flipped as the frames; crops are refused (a mask cannot follow them).
    Sources: ``gt_masks_rle`` (``AVAMaskDataset``) or
    ``puppet_mask_file`` (``TubeMaskDataset``; the last file read
    is cached). A sample without ``gt_bboxes`` (inference) is passed through.
    Added keys: ``gt_masks`` (bool ``[n, h, w]``).
    """

    def __init__(self) -> None:
        super().__init__()
        self._puppet = (None, None)  # (path, part_mask)

    def _puppet_masks(self, path: str) -> np.ndarray:
        if self._puppet[0] != path:
            self._puppet = (path, load_puppet_masks(path))
        return self._puppet[1]

    def transform(self, results: Dict) -> Dict:
        if 'gt_bboxes' not in results:
            return results
        num_boxes = len(results['gt_bboxes'])
        if 'gt_masks_rle' in results:
            source = f'actor mask file {results.get("mask_file")}'
            original = tuple(int(s) for s in results['original_shape'][:2])
            # sizes checked before decoding (10^5 x 10^5 would take 10 GB)
            for i, rle in enumerate(results['gt_masks_rle']):
                h, w = (int(s) for s in rle['size'])
                if (h, w) != original:
                    raise ValueError(
                        f'LoadActorMasks: {_where(results)}: the mask of box '
                        f'{i} in {source} is {h}x{w} (HxW) but the frames '
                        f'are {original[0]}x{original[1]}')
            masks = [decode_mask(r) for r in results['gt_masks_rle']]
            masks = np.stack(masks) if masks else np.zeros(
                (0, ) + tuple(results['original_shape'][:2]), bool)
        elif 'puppet_mask_file' in results:
            source = f'puppet mask file {results["puppet_mask_file"]}'
            masks = puppet_masks_at(
                self._puppet_masks(results['puppet_mask_file']),
                results['puppet_mask_file'], results.get('video_id'),
                int(results['timestamp']), results['resolution'],
                [int(i) for i in results['entity_ids']])
        else:
            raise ValueError(
                f'LoadActorMasks: {_where(results)} has no masks: give the '
                'dataset its masks (AVAMaskDataset, '
                'TubeMaskDataset; docs/en/masks.md)')
        if len(masks) != num_boxes:
            raise ValueError(
                f'LoadActorMasks: {_where(results)}: {len(masks)} masks for '
                f'{num_boxes} boxes ({source})')
        original = tuple(int(s) for s in results['original_shape'][:2])
        if num_boxes and tuple(masks.shape[1:]) != original:
            raise ValueError(
                f'LoadActorMasks: {_where(results)}: the masks of {source} '
                f'are {masks.shape[1]}x{masks.shape[2]} (HxW) but the '
                f'frames are {original[0]}x{original[1]}')
        if results.get('lazy') is not None:
            raise ValueError('LoadActorMasks does not follow lazy '
                             'transforms (lazy=True): run them eagerly')
        quad = results.get('crop_quadruple')
        if quad is not None and not np.allclose(quad, [0, 0, 1, 1]):
            raise ValueError(
                f'LoadActorMasks: {_where(results)} was cropped '
                f'(crop_quadruple {np.round(quad, 4).tolist()}); masks '
                'follow resizes and flips only: remove the crop from the '
                'pipeline')
        h, w = (int(s) for s in results['img_shape'][:2])
        if num_boxes and tuple(masks.shape[1:]) != (h, w):
            masks = np.stack([
                cv2.resize(
                    m.astype(np.uint8), (w, h),
                    interpolation=cv2.INTER_NEAREST) for m in masks
            ]).astype(bool)
        elif not num_boxes:
            masks = np.zeros((0, h, w), bool)
        if results.get('flip', False):
            axis = 2 if results.get('flip_direction',
                                    'horizontal') == 'horizontal' else 1
            masks = np.flip(masks, axis=axis)
        results['gt_masks'] = np.ascontiguousarray(masks)
        return results


@TRANSFORMS.register_module()
class PackActorInputs(PackInputs):
    """``PackActionInputs`` that also packs ``gt_masks`` (bool ``[n, h, w]``)
    as ``gt_instances.masks``.

    Args: those of mmaction2's ``PackActionInputs``.
    """

    def transform(self, results: Dict) -> Dict:
        masks = results.get('gt_masks')
        packed = super().transform(results)
        if masks is not None and 'gt_bboxes' in results:
            packed['data_samples'].gt_instances.masks = torch.from_numpy(
                np.ascontiguousarray(masks))
        elif 'gt_bboxes' in results:
            raise ValueError(
                f'PackActorInputs: {_where(results)} has boxes but no '
                'gt_masks: put LoadActorMasks before it')
        return packed
