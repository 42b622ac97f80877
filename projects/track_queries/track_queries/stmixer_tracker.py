"""STMixer with track queries (as MOTR's): actors followed from keyframe to
keyframe by their queries, so tubes come with identities, no linking needed
(projects/track_queries/README.md)."""
from typing import Dict, List, Optional, Tuple

import torch
from mmdet.models.task_modules.assigners import AssignResult
from mmdet.models.utils import unpack_gt_instances
from mmdet.structures import SampleList
from mmdet.structures.bbox import get_box_tensor
from mmdet.utils import ConfigType, OptConfigType
from mmengine.dist import get_world_size
from mmengine.structures import InstanceData
from torch import Tensor

from stmixer_mm.datasets.track_ids import track_ids_problem
from stmixer_mm.models.detectors import STMixer
from stmixer_mm.registry import MODELS
from .query_tracker import QueryTracker

#: the keys of ``track_cfg`` and their defaults: training (``num_clips``
#: keyframes per sequence, ``drop_prob`` of a carried query), the decoder
#: stage where the carried queries join (``entry_stage``), inference
TRACK_CFG_DEFAULTS = dict(
    num_clips=4,
    drop_prob=0.1,
    entry_stage=1,
    birth_thr=0.5,
    track_thr=0.4,
    max_lost=2,
    dup_iou_thr=0.7)


def _int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _probability(value) -> bool:
    return isinstance(
        value,
        (int, float)) and not isinstance(value, bool) and 0 <= value <= 1


@MODELS.register_module()
class STMixerTracker(STMixer):
    """STMixer with track queries: at keyframe ``k + 1`` the decoder also
    receives the final queries and boxes of the persons kept at keyframe
    ``k``, updated by a :class:`QueryInteractionBlock`. Training takes
    batches of ``S * num_clips`` samples (``TrackSequenceSampler``); losses
    are averaged over keyframes.

    Args:
        query_interaction (dict): :class:`QueryInteractionBlock` config
            (``hidden_channels`` and ``with_temporal`` are filled in).
        track_cfg (dict, optional): Keys and defaults:
            :data:`TRACK_CFG_DEFAULTS`.
        **kwargs: :class:`STMixer`'s arguments.
    """

    def __init__(self,
                 *args,
                 query_interaction: ConfigType = dict(
                     type='QueryInteractionBlock'),
                 track_cfg: OptConfigType = None,
                 **kwargs) -> None:
        cfg = {**TRACK_CFG_DEFAULTS, **(track_cfg or {})}
        if set(cfg) != set(TRACK_CFG_DEFAULTS):
            raise ValueError(
                'STMixerTracker: track_cfg has unknown key(s) '
                f'{sorted(set(cfg) - set(TRACK_CFG_DEFAULTS))}; its keys are '
                f'{list(TRACK_CFG_DEFAULTS)}')
        for key, fits, expected in (
            ('num_clips', _int(cfg['num_clips']) and cfg['num_clips'] >= 2,
             'an int >= 2'), ('drop_prob', _probability(cfg['drop_prob'])
                              and cfg['drop_prob'] < 1, 'a float in [0, 1)'),
                *((k, _int(cfg[k]) and cfg[k] >= 0, 'an int >= 0')
                  for k in ('entry_stage', 'max_lost')),
                *((k, _probability(cfg[k]), 'a float in [0, 1]')
                  for k in ('birth_thr', 'track_thr', 'dup_iou_thr'))):
            if not fits:
                raise ValueError(f'STMixerTracker: track_cfg.{key} must be '
                                 f'{expected}, got {cfg[key]!r}')
        super().__init__(*args, **kwargs)
        if self.roi_head.label_convention != 'ava':
            raise ValueError(
                'STMixerTracker needs the decoder\'s label_convention '
                f"'ava' (person score + action scores), got "
                f"'{self.roi_head.label_convention}'")
        self.track_cfg = cfg
        if not 0 <= self.track_cfg['entry_stage'] < self.roi_head.num_stages:
            raise ValueError(
                'track_cfg.entry_stage must be a stage of the decoder (0..'
                f'{self.roi_head.num_stages - 1}), got '
                f'{self.track_cfg["entry_stage"]}')
        qi = dict(query_interaction)
        qi.setdefault('hidden_channels', self.roi_head.hidden_channels)
        qi.setdefault('with_temporal', self.roi_head.with_temporal_queries)
        if qi['hidden_channels'] != self.roi_head.hidden_channels or \
                qi['with_temporal'] != self.roi_head.with_temporal_queries:
            raise ValueError(
                'query_interaction must have hidden_channels='
                f'{self.roi_head.hidden_channels} and with_temporal='
                f'{self.roi_head.with_temporal_queries} (the decoder\'s), got '
                f'{qi["hidden_channels"]} and {qi["with_temporal"]}')
        self.query_interaction = MODELS.build(qi)
        #: the per-video inference state (tracks, finished videos)
        self.tracker = QueryTracker(
            **{
                k: self.track_cfg[k]
                for k in ('birth_thr', 'track_thr', 'max_lost', 'dup_iou_thr')
            })

    # ----- shared -----
    def _queries(
        self, batch_inputs: Tensor, batch_data_samples: SampleList
    ) -> Tuple[tuple, Tensor, Tensor, Optional[Tensor]]:
        """The pyramid (as the decoder reads it) and the learned queries
        of every sample."""
        x = self.extract_feat(batch_inputs)
        rpn_results_list = self.rpn_head.predict(x, batch_data_samples)
        x = self.roi_head.prepare_features(x)
        xyzr, spatial, temporal = self.roi_head.queries_from_proposals(
            rpn_results_list)
        return x, xyzr, spatial, temporal

    def _run(self, x: tuple, i: int, xyzr: Tensor, spatial: Tensor,
             temporal: Optional[Tensor], carried: dict) -> List[dict]:
        """The decoder on sample ``i``: its learned queries, joined by the
        carried ones (updated by the query interaction block) at stage
        ``track_cfg.entry_stage``; earlier stage outputs hold the learned ones
        only."""
        decoder = self.roi_head
        x = decoder.stages[0].prepare_pyramid(tuple(f[i:i + 1] for f in x))
        queries = [xyzr[i:i + 1], spatial[i:i + 1], temporal]
        if temporal is not None:
            queries[2] = temporal[i:i + 1]
        extra = None
        if carried.get('xyzr') is not None and carried['xyzr'].size(1):
            extra = (carried['xyzr'], *self.query_interaction(
                carried['spatial'], carried['temporal'], carried['xyzr']))
        results, bboxes = [], None
        for k in range(decoder.num_stages):
            if extra is not None and k == self.track_cfg['entry_stage']:
                queries = [
                    None if q is None else torch.cat([q, e.to(q.dtype)], 1)
                    for q, e in zip(queries, extra)
                ]
                bboxes = None
            out = decoder.run_stage(k, x, *queries, bboxes)
            results.append(out)
            bboxes = out['bboxes']
            queries = [
                out[key]
                for key in ('xyzr', 'spatial_queries', 'temporal_queries')
            ]
        return results

    # ----- training -----
    def sequences(self, batch_data_samples: SampleList) -> List[List[int]]:
        """Indices of the batch's sequences, checked: ``num_clips``
        consecutive samples of one video with increasing timestamps."""
        n = len(batch_data_samples)
        length = int(self.track_cfg['num_clips'])
        if n % length:
            raise ValueError(
                f'STMixerTracker: a training batch of {n} samples is not '
                f'made of sequences of track_cfg.num_clips={length} keyframes;'
                ' use TrackSequenceSampler(num_clips='
                f'{length}) and a batch_size that is a multiple of {length}')
        out = []
        for start in range(0, n, length):
            idx = list(range(start, start + length))
            metas = [batch_data_samples[i].metainfo for i in idx]
            for key in ('video_id', 'timestamp'):
                if any(key not in m for m in metas):
                    raise ValueError(
                        f'STMixerTracker: training samples need {key!r} in '
                        'their metainfo (PackTrackInputs meta_keys)')
            videos = {str(m['video_id']) for m in metas}
            stamps = [m['timestamp'] for m in metas]
            shapes = {tuple(m['img_shape'][:2]) for m in metas}
            if len(shapes) > 1:
                raise ValueError(
                    f'STMixerTracker: the keyframes of one sequence (samples '
                    f'{idx[0]}..{idx[-1]}) have input sizes {sorted(shapes)}: '
                    'carried boxes are in pixels of the input, so a sequence '
                    'needs one size (a fixed Resize, no per-clip random '
                    'resize or crop in the training pipeline)')
            if len(videos) != 1 or any(b <= a
                                       for a, b in zip(stamps, stamps[1:])):
                raise ValueError(
                    f'STMixerTracker: samples {idx[0]}..{idx[-1]} of the '
                    f'batch should be one sequence of one video in '
                    f'increasing time, got videos {sorted(videos)} at '
                    f'timestamps {stamps}; use TrackSequenceSampler(num_clips'
                    f'={length}) with a batch_size that is a multiple of '
                    f'{length} and no shuffling transform of the batch')
            out.append(idx)
        return out

    @staticmethod
    def _track_ids(gt_instances: InstanceData, where: str) -> Tensor:
        if 'track_ids' not in gt_instances:
            raise ValueError(
                f'STMixerTracker: {where} has no gt_instances.track_ids (the '
                'person / tube id of each GT box); pack the samples with '
                'PackTrackInputs (TubeDataset and AVA data give entity_ids)')
        ids = gt_instances.track_ids
        if len(ids) != len(gt_instances):
            raise ValueError(f'STMixerTracker: {where} has {len(ids)} '
                             f'track_ids for {len(gt_instances)} GT boxes')
        problem = track_ids_problem(ids.tolist())
        if problem is not None:
            raise ValueError(f'STMixerTracker: {where}: {problem}')
        return ids

    def assign(self, stage: int, results: Dict[str, Tensor],
               gt_instances: InstanceData, img_meta: dict, num_learned: int,
               carried_ids: Tensor) -> AssignResult:
        """MOTR's matching for one keyframe and stage: carried query ``j``
        (index ``num_learned + j``) takes the GT box with its id (none if
        absent), the learned queries the other GT boxes by the stage's
        Hungarian assigner."""
        gt_ids = self._track_ids(
            gt_instances, f'video '
            f'{img_meta.get("video_id")} timestamp '
            f'{img_meta.get("timestamp")}')
        num_queries = results['person_logits'].size(1)
        num_gts = len(gt_instances)
        device = results['person_logits'].device
        gt_inds = torch.zeros(num_queries, dtype=torch.long, device=device)
        claimed = torch.zeros(num_gts, dtype=torch.bool, device=device)
        if len(carried_ids) and num_gts:
            same = carried_ids.to(device)[:, None] == gt_ids.to(device)[None]
            has, where = same.any(1), same.float().argmax(1)
            rows = torch.nonzero(has, as_tuple=False).squeeze(1)
            gt_inds[num_learned + rows] = where[rows] + 1
            claimed[where[rows]] = True
        rest = torch.nonzero(~claimed, as_tuple=False).squeeze(1)
        if len(rest):
            gt_bboxes = get_box_tensor(gt_instances.bboxes)[rest]
            sub = self.roi_head.assigners[stage].assign(
                pred_instances=InstanceData(
                    scores=results['person_logits'][0, :num_learned].detach(),
                    bboxes=results['bboxes'][0, :num_learned].detach()),
                gt_instances=InstanceData(
                    bboxes=gt_bboxes.to(results['bboxes'].dtype),
                    labels=gt_bboxes.new_zeros(len(rest), dtype=torch.long)),
                img_meta=img_meta)
            pos = torch.nonzero(sub.gt_inds > 0, as_tuple=False).squeeze(1)
            gt_inds[pos] = rest[sub.gt_inds[pos] - 1] + 1
        labels = torch.full_like(gt_inds, -1)
        labels[gt_inds > 0] = 0
        return AssignResult(num_gts, gt_inds, None, labels=labels)

    def loss(self, batch_inputs: Tensor,
             batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """Losses of every stage and keyframe of the batch's sequences
        (keys as :class:`STMixer`'s, averaged over the keyframes)."""
        if self.roi_head.assigners is None:
            raise ValueError('STMixerTracker.loss needs train_cfg (the '
                             'assigner configs)')
        sequences = self.sequences(batch_data_samples)
        gts, _, metas = unpack_gt_instances(batch_data_samples)
        x, xyzr0, spatial0, temporal0 = self._queries(batch_inputs,
                                                      batch_data_samples)
        num_learned = xyzr0.size(1)
        entry = self.track_cfg['entry_stage']
        losses: Dict[str, Tensor] = {}
        count = 0
        decoder = self.roi_head
        for seq in sequences:
            carried = dict(ids=xyzr0.new_zeros(0, dtype=torch.long))
            for i in seq:
                results = self._run(x, i, xyzr0, spatial0, temporal0, carried)
                ids = carried['ids']
                for stage, stage_results in enumerate(results):
                    # the carried queries take part from the entry stage on
                    assign_result = self.assign(
                        stage, stage_results, gts[i], metas[i], num_learned,
                        ids if stage >= entry else ids[:0])
                    stage_losses = decoder.weight_losses(
                        stage, decoder.stages[stage].loss_and_target(
                            stage_results, [assign_result], [gts[i]],
                            [metas[i]]))
                    for key, value in stage_losses.items():
                        losses[key] = losses.get(key, 0) + value
                count += 1
                carried = self._carry_matched(results[-1], assign_result,
                                              gts[i])
        return {k: v / count for k, v in losses.items()}

    def _carry_matched(self, last: Dict[str, Tensor], assign: AssignResult,
                       gt_instances: InstanceData) -> dict:
        """The queries matched at this keyframe's last stage, with the id
        of their GT person, minus a random ``drop_prob`` share."""
        keep = torch.nonzero(assign.gt_inds > 0, as_tuple=False).squeeze(1)
        p = self.track_cfg['drop_prob']
        if p > 0 and len(keep):
            keep = keep[torch.rand(len(keep), device=keep.device) >= p]
        gt_ids = gt_instances.track_ids.to(keep.device)
        temporal = last['temporal_queries']
        return dict(
            ids=gt_ids[assign.gt_inds[keep] - 1],
            spatial=last['spatial_queries'][:, keep],
            temporal=None if temporal is None else temporal[:, keep],
            xyzr=last['xyzr'][:, keep].detach())

    # ----- inference -----
    def reset_tracks(self) -> None:
        """Forget the videos tracked so far: ``self.tracker.reset()``. Called
        by :meth:`train` too, so every test / validation loop starts afresh."""
        self.tracker.reset()

    def train(self, mode: bool = True):
        self.reset_tracks()
        return super().train(mode)

    def predict(self,
                batch_inputs: Tensor,
                batch_data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        """Tracked detections: as :class:`STMixer`'s (AVA format), plus
        ``pred_instances.track_ids`` ``[n]``; the batch's samples in order, one
        keyframe each."""
        if get_world_size() > 1:
            raise RuntimeError(
                'STMixerTracker: track-query inference carries state from '
                'keyframe to keyframe of a video, so every keyframe of a '
                'video must reach one process in order; test it with one '
                'process (tools/test.py without a launcher)')
        x, xyzr0, spatial0, temporal0 = self._queries(batch_inputs,
                                                      batch_data_samples)
        head = self.roi_head.stages[-1]
        test_cfg = self.roi_head.test_cfg  # parsed when it was built
        results_list = []
        for i, sample in enumerate(batch_data_samples):
            state = self.tracker.video(sample.metainfo)
            last = self._run(x, i, xyzr0, spatial0, temporal0,
                             state.carried())[-1]
            results_list.append(
                self.tracker.step(state, last, xyzr0.size(1), sample.metainfo,
                                  head, test_cfg))
        return self.add_pred_to_datasample(batch_data_samples, results_list)
