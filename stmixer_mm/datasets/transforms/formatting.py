"""Packing of samples with the ground-truth person ids (for a model that
tracks, e.g. ``projects/track_queries``), and the sample names of errors."""
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
from mmaction.datasets.transforms import PackActionInputs

from stmixer_mm.datasets.track_ids import track_ids_problem
from stmixer_mm.registry import TRANSFORMS


def sample_where(results: Dict) -> str:
    """The sample, for error messages: its ``img_key`` or video and time."""
    if 'img_key' in results:
        return f'sample {results["img_key"]!r}'
    return (f'sample video_id={results.get("video_id")!r}, '
            f'timestamp={results.get("timestamp")!r}')


def keyframe_where(results: Dict) -> str:
    """The sample's video and keyframe, for error messages."""
    return (f'video {results.get("video_id")!r} keyframe '
            f'{results.get("timestamp")}')


class PackInputs(PackActionInputs):
    """mmaction2's ``PackActionInputs`` whose key lists are checked: the
    base of the project's packing transforms (a string where a list goes
    would be read character by character); a subclass's
    :attr:`extra_meta_keys` join ``meta_keys``.

    Args:
        collect_keys (Sequence[str], optional): As mmaction2's.
        meta_keys (Sequence[str]): As mmaction2's.
        algorithm_keys (Sequence[str]): As mmaction2's.
    """

    #: metainfo keys a subclass always packs, added to ``meta_keys``
    extra_meta_keys: Tuple[str, ...] = ()

    def __init__(
        self,
        collect_keys: Optional[Sequence[str]] = None,
        meta_keys: Sequence[str] = ('img_shape', 'img_key', 'video_id',
                                    'timestamp'),
        algorithm_keys: Sequence[str] = ()
    ) -> None:
        given = dict(meta_keys=meta_keys, algorithm_keys=algorithm_keys)
        if collect_keys is not None:
            given['collect_keys'] = collect_keys
        for name, keys in given.items():
            if not isinstance(keys, (list, tuple)) or not all(
                    isinstance(k, str) for k in keys):
                raise ValueError(
                    f'{type(self).__name__}: {name} must be a list of '
                    f"result keys (e.g. ['img_shape']), got {keys!r}")
        meta_keys = tuple(meta_keys) + tuple(
            k for k in self.extra_meta_keys if k not in meta_keys)
        super().__init__(collect_keys, meta_keys, algorithm_keys)


@TRANSFORMS.register_module()
class PackTrackInputs(PackInputs):
    """``PackActionInputs`` that also packs ``results['entity_ids']`` (one per
    ``gt_bboxes`` row) as ``gt_instances.track_ids`` (int64 ``[n]``); no
    ``gt_bboxes``: as ``PackActionInputs``. Bad ids: ``ValueError``.

    Args: those of mmaction2's ``PackActionInputs``.
    """

    def transform(self, results: Dict) -> Dict:
        ids = None
        if 'gt_bboxes' in results:
            num_boxes = len(results['gt_bboxes'])
            where = sample_where(results)
            if 'entity_ids' not in results:
                raise ValueError(
                    f'PackTrackInputs: {where} has gt_bboxes ({num_boxes} '
                    'boxes) but no "entity_ids" (the person id of every box, '
                    'set by the dataset: TubeDataset, AVADataset); 0 ids for '
                    f'{num_boxes} boxes')
            ids = np.asarray(results['entity_ids'])
            if ids.ndim != 1 or len(ids) != num_boxes:
                raise ValueError(
                    f'PackTrackInputs: {where}: "entity_ids" has shape '
                    f'{ids.shape} ({ids.size} ids) but gt_bboxes has '
                    f'{num_boxes} boxes: expected one id per box')
            if ids.size and not np.issubdtype(ids.dtype, np.integer):
                raise ValueError(
                    f'PackTrackInputs: {where}: "entity_ids" must be '
                    f'integers, got dtype {ids.dtype}')
            problem = track_ids_problem(ids.tolist())
            if problem is not None:
                raise ValueError(f'PackTrackInputs: {where}: {problem}')
            ids = torch.from_numpy(ids.astype(np.int64))
        packed = super().transform(results)
        if ids is not None:
            packed['data_samples'].gt_instances.track_ids = ids
        return packed
