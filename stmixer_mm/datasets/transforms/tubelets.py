"""Per-frame targets of tubelet queries (STMixer-T, docs/en/tubelets.md);
the boxes travel as ``gt_bboxes`` rows so geometric transforms move them."""
from typing import Dict

import numpy as np
import torch
from mmcv.transforms import BaseTransform

from stmixer_mm.models.roi_heads.stmixer_tubelet_decoder import \
    output_positions
from stmixer_mm.registry import TRANSFORMS
from stmixer_mm.utils.checks import check_ints
from .formatting import PackInputs
from .formatting import keyframe_where as _where


@TRANSFORMS.register_module()
class LoadTubeletTargets(BaseTransform):
    """The clip's GT as tubelets: one row per GT tube present on at least
    one output frame.

    Required keys: ``frame_inds``, ``start_index``, ``clip_len``
    (``SampleTubeFrames``), ``video_tubes``, ``resolution``, ``gt_labels``
    (``TubeDataset(with_tubelets=True)``). Set keys: ``gt_bboxes`` ``[n *
    T', 4]`` (normalised, tube-major), ``gt_labels`` ``[n, C + 1]``,
    ``entity_ids`` ``[n]``, ``tubelet_valid`` ``[n, T']`` (present; an
    absent frame's box is 0 and weighs nothing), ``tubelet_frames``
    ``[T']`` (1-based). Tubes with the same boxes share one multi-hot row.

    Args:
        num_frames (int): ``T'``, output frames (boxes) per tubelet; must
            divide the clip length and equal the model's ``num_frames``.
    """

    def __init__(self, num_frames: int) -> None:
        check_ints('LoadTubeletTargets', num_frames=num_frames)
        self.num_frames = num_frames

    def transform(self, results: Dict) -> Dict:
        if 'video_tubes' not in results:
            raise ValueError(
                f'LoadTubeletTargets: {_where(results)} has no per-frame '
                'boxes ("video_tubes"): build the dataset with '
                'TubeDataset(with_tubelets=True)')
        missing = [
            k for k in ('frame_inds', 'clip_len', 'resolution')
            if k not in results
        ]
        if missing:
            raise ValueError(f'LoadTubeletTargets: {_where(results)} lacks '
                             f'{missing}; put it after SampleTubeFrames')
        pos = output_positions(int(results['clip_len']), self.num_frames)
        frames = np.asarray(results['frame_inds']).reshape(-1) - \
            results.get('start_index', 1) + 1
        out_frames = frames[pos].astype(np.int64)
        h, w = results['resolution']
        scale = np.array([w, h, w, h], np.float64)
        ncols = np.asarray(results['gt_labels']).shape[1]
        T = self.num_frames
        per_tube: Dict[int, list] = {}
        for t, frame in enumerate(out_frames):
            for label, tube_id, box in results['video_tubes'].get(
                    int(frame), []):
                entry = per_tube.setdefault(
                    tube_id, [np.zeros(
                        (T, 4)), np.zeros(T, bool),
                              set()])
                entry[0][t] = np.asarray(box, np.float64) / scale
                entry[1][t] = True
                entry[2].add(int(label))
        rows: Dict[tuple, list] = {}
        for tube_id in sorted(per_tube):
            boxes, valid, labels = per_tube[tube_id]
            key = (tuple(np.round(boxes, 6).ravel()), tuple(valid))
            row = rows.setdefault(key, [boxes, valid, set(), tube_id])
            row[2] |= labels
        n = len(rows)
        label_rows = np.zeros((n, ncols), np.float32)
        for i, (_, _, labels, _) in enumerate(rows.values()):
            label_rows[i, [lb + 1 for lb in labels]] = 1.0
        results['gt_bboxes'] = np.array([r[0] for r in rows.values()],
                                        np.float32).reshape(-1, 4)
        results['gt_labels'] = label_rows
        results['entity_ids'] = np.array([r[3] for r in rows.values()],
                                         np.int64)
        results['tubelet_valid'] = np.array([r[1] for r in rows.values()],
                                            bool).reshape(n, T)
        results['tubelet_frames'] = out_frames
        del results['video_tubes']  # the video's dict: not carried further
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(num_frames={self.num_frames})'


@TRANSFORMS.register_module()
class PackTubeletInputs(PackInputs):
    """``PackActionInputs`` for tubelet targets: ``gt_instances.bboxes`` is
    each tubelet's box on the middle output frame (else the nearest where
    present), plus ``tubelet_bboxes`` ``[n, T', 4]`` (pixels),
    ``tubelet_valid`` and ``track_ids``; ``tubelet_frames`` joins
    ``meta_keys``. A sample without boxes (inference) is packed as
    ``PackActionInputs`` does.

    Args:
        meta_keys (Sequence[str]): Keys of ``results`` packed into the
            data sample's metainfo; ``'tubelet_frames'`` is added. Defaults to
            ``('img_shape', 'img_key', 'video_id', 'timestamp')``.
        collect_keys, algorithm_keys: As :class:`PackInputs`.
    """

    extra_meta_keys = ('tubelet_frames', )

    def transform(self, results: Dict) -> Dict:
        if 'tubelet_valid' not in results and 'gt_bboxes' not in results:
            return super().transform(results)  # inference: no targets
        if 'tubelet_valid' not in results:
            raise ValueError(
                f'PackTubeletInputs: {_where(results)} has no tubelet '
                'targets: put LoadTubeletTargets after SampleTubeFrames')
        valid = np.asarray(results['tubelet_valid'], bool)
        n, T = valid.shape
        boxes = np.asarray(results['gt_bboxes'], np.float32)
        if boxes.shape != (n * T, 4):
            raise ValueError(
                f'PackTubeletInputs: {_where(results)}: gt_bboxes has shape '
                f'{boxes.shape}, expected ({n * T}, 4) ({n} tubelets x {T} '
                'frames); a transform between LoadTubeletTargets and this '
                'one dropped or added boxes')
        boxes = boxes.reshape(n, T, 4)
        dist = np.abs(np.arange(T) - T // 2)[None].repeat(n, 0)
        nearest = np.where(valid, dist, T + 1).argmin(1)
        results['gt_bboxes'] = boxes[np.arange(n), nearest]
        ids = np.asarray(results['entity_ids'], np.int64)
        packed = super().transform(results)
        gt = packed['data_samples'].gt_instances
        gt.tubelet_bboxes = torch.from_numpy(boxes)
        gt.tubelet_valid = torch.from_numpy(valid)
        gt.track_ids = torch.from_numpy(ids)
        return packed
