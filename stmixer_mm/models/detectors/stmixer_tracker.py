"""STMixer with temporal object queries (track queries, as MOTR's): actors
followed from keyframe to keyframe by their queries, so that tubes come
with identities and need no linking afterwards.

At keyframe ``k + 1`` the decoder receives, besides the learned queries of
the query generator, the final spatial / temporal queries and boxes of the
persons kept at keyframe ``k``, updated by a :class:`QueryInteractionBlock`.
Everything else is :class:`STMixer`'s (same backbone, neck, query
generator, decoder, losses and checkpoint names, plus the block's
``query_interaction.*`` weights), so an STMixer checkpoint loads into it
(the block starts as the identity) and the plain detector is unchanged.
"""
from typing import Dict, List, Optional, Tuple

import torch
from mmdet.models.task_modules.assigners import AssignResult
from mmdet.models.utils import unpack_gt_instances
from mmdet.structures import SampleList
from mmdet.structures.bbox import bbox_overlaps, get_box_tensor
from mmdet.utils import ConfigType, OptConfigType
from mmengine.dist import get_world_size
from mmengine.structures import InstanceData
from torch import Tensor

from stmixer_mm.registry import MODELS
# the track_cfg keys, their defaults and their settings are declared once,
# in stmixer_mm.utils.settings_specs
from stmixer_mm.utils.settings_specs import TRACK_CFG_DEFAULTS
from stmixer_mm.utils.track_ids import track_ids_problem
from .stmixer import STMixer


class _VideoState:
    """The tracks of the video being predicted."""

    def __init__(self, video: str) -> None:
        self.video = video
        self.timestamp = None
        self.img_shape = None
        self.next_id = 1
        self.ids: List[int] = []
        self.lost: List[int] = []
        self.spatial: Optional[Tensor] = None  # [1, M, C]
        self.temporal: Optional[Tensor] = None
        self.xyzr: Optional[Tensor] = None  # [1, M, 4]

    def new_ids(self, n: int) -> List[int]:
        ids = list(range(self.next_id, self.next_id + n))
        self.next_id += n
        return ids

    @property
    def num_tracks(self) -> int:
        return len(self.ids)


@MODELS.register_module()
class STMixerTracker(STMixer):
    """STMixer with track queries (see the module docstring).

    Training takes batches of sequences: ``batch_size = S * num_clips``
    samples, ``num_clips`` consecutive keyframes of one video after another
    (``TrackSequenceSampler``), each sample's ``gt_instances.track_ids``
    giving the person / tube id of its boxes (``PackTrackInputs``). The
    keyframes of a sequence are run in order; from the second on, the
    queries matched at the previous keyframe are carried. The matching is
    MOTR's: a carried query is assigned to the GT person it tracks (by id;
    to no object when that person is gone), the learned queries are matched
    to the other GT persons by the decoder's Hungarian assigners; the losses
    are the decoder's on both, every stage, averaged over the keyframes.

    Inference runs keyframe after keyframe over a video (the test loop's
    order: the samples of a video in increasing ``timestamp``; a new
    ``video_id`` starts afresh) and gives every detection a
    ``pred_instances.track_ids`` (ids unique within a video). A carried
    query is kept while its person score reaches ``track_thr``, and dropped
    after more than ``max_lost`` keyframes below it (until then it is still
    output, with its low score, so that a track has a box at every keyframe
    of its extent); a learned query with a person score ``>= birth_thr``
    starts a track unless its box overlaps an output track's (or a better
    new one's) with IoU ``>= dup_iou_thr``. When nothing is output the
    decoder's ``num_fallback`` best learned queries are, each with an id of
    its own that is not carried.

    Args:
        query_interaction (dict): :class:`QueryInteractionBlock` config
            (``hidden_channels`` and ``with_temporal`` are filled in).
        track_cfg (dict, optional): ``num_clips`` (keyframes per training
            sequence), ``drop_prob`` (training: probability that a carried
            query is dropped, as MOTR, so that lost persons are found again
            by the learned queries), ``birth_thr``, ``track_thr``,
            ``max_lost``, ``dup_iou_thr`` (inference, see above).
        **kwargs: :class:`STMixer`'s arguments.
    """

    def __init__(self,
                 *args,
                 query_interaction: ConfigType = dict(
                     type='QueryInteractionBlock'),
                 track_cfg: OptConfigType = None,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.decoder.label_convention != 'ava':
            raise ValueError(
                'STMixerTracker needs the decoder\'s label_convention '
                f"'ava' (person score + action scores), got "
                f"'{self.decoder.label_convention}'")
        cfg = dict(track_cfg or {})
        unknown = sorted(set(cfg) - set(TRACK_CFG_DEFAULTS))
        if unknown:
            raise ValueError(f'track_cfg has unknown keys {unknown}; its '
                             f'keys are {sorted(TRACK_CFG_DEFAULTS)}')
        self.track_cfg = {**TRACK_CFG_DEFAULTS, **cfg}
        # the declared ranges (stmixer_mm/utils/settings_specs.py), also for
        # a model built without check_config
        from stmixer_mm.utils.settings import declared_settings
        declared_settings('STMixerTracker')['track_cfg'].check(
            self.track_cfg, 'track_cfg')
        if int(self.track_cfg['num_clips']) < 2:
            raise ValueError('track_cfg.num_clips must be >= 2 (a sequence '
                             'carries queries from one keyframe to the '
                             f'next), got {self.track_cfg["num_clips"]}')
        if not 0 <= self.track_cfg['entry_stage'] < self.decoder.num_stages:
            raise ValueError(
                'track_cfg.entry_stage must be a stage of the decoder (0..'
                f'{self.decoder.num_stages - 1}), got '
                f'{self.track_cfg["entry_stage"]}')
        if not 0 <= self.track_cfg['drop_prob'] < 1:
            raise ValueError('track_cfg.drop_prob must be in [0, 1), got '
                             f'{self.track_cfg["drop_prob"]}')
        qi = dict(query_interaction)
        qi.setdefault('hidden_channels', self.decoder.hidden_channels)
        qi.setdefault('with_temporal', self.decoder.with_temporal_queries)
        if qi['hidden_channels'] != self.decoder.hidden_channels or \
                qi['with_temporal'] != self.decoder.with_temporal_queries:
            raise ValueError(
                'query_interaction must have hidden_channels='
                f'{self.decoder.hidden_channels} and with_temporal='
                f'{self.decoder.with_temporal_queries} (the decoder\'s), got '
                f'{qi["hidden_channels"]} and {qi["with_temporal"]}')
        self.query_interaction = MODELS.build(qi)
        self._state: Optional[_VideoState] = None
        #: videos finished since the last reset (a video that comes back
        #: would restart its tracks without a word)
        self._done_videos: set = set()

    # ------------------------------------------------------------------
    # shared
    # ------------------------------------------------------------------
    def _queries(
        self, batch_inputs: Tensor, batch_data_samples: SampleList
    ) -> Tuple[tuple, Tensor, Tensor, Optional[Tensor]]:
        """The pyramid (as the decoder reads it) and the learned queries
        of every sample."""
        x = self.extract_feat(batch_inputs)
        rpn_results_list = self.query_generator.predict(x, batch_data_samples)
        x = self.decoder.prepare_features(x)
        xyzr, spatial, temporal = self.decoder.queries_from_proposals(
            rpn_results_list)
        return x, xyzr, spatial, temporal

    def _run(self, x: tuple, i: int, xyzr: Tensor, spatial: Tensor,
             temporal: Optional[Tensor], carried: dict) -> List[dict]:
        """The decoder on sample ``i``: its learned queries, joined by the
        carried ones (updated by the query interaction block) at stage
        ``track_cfg.entry_stage``. Stage outputs before that stage hold the
        learned queries only."""
        xyzr, spatial = xyzr[i:i + 1], spatial[i:i + 1]
        temporal = None if temporal is None else temporal[i:i + 1]
        extra = None
        if carried.get('xyzr') is not None and carried['xyzr'].size(1):
            c_s, c_t = self.query_interaction(carried['spatial'],
                                              carried['temporal'],
                                              carried['xyzr'])
            extra = (carried['xyzr'], c_s, c_t)
        return self.decoder.run_stages(
            tuple(f[i:i + 1] for f in x),
            xyzr,
            spatial,
            temporal,
            extra_queries=extra,
            extra_stage=self.track_cfg['entry_stage'])

    # ------------------------------------------------------------------
    # training
    # ------------------------------------------------------------------
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
        (index ``num_learned + j``) takes the GT box with its id (none when
        that person is absent), the learned queries are matched to the
        other GT boxes by the stage's Hungarian assigner."""
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
            sub = self.decoder.assigners[stage].assign(
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
        if self.decoder.assigners is None:
            raise ValueError('STMixerTracker.loss needs train_cfg (the '
                             'assigner configs)')
        sequences = self.sequences(batch_data_samples)
        gts, _, metas = unpack_gt_instances(batch_data_samples)
        x, xyzr0, spatial0, temporal0 = self._queries(batch_inputs,
                                                      batch_data_samples)
        num_learned = xyzr0.size(1)
        losses: Dict[str, Tensor] = {}
        count = 0
        for seq in sequences:
            carried = dict(ids=xyzr0.new_zeros(0, dtype=torch.long))
            for i in seq:
                results = self._run(x, i, xyzr0, spatial0, temporal0, carried)
                ids = carried['ids']
                for stage, stage_results in enumerate(results):
                    self.decoder.check_finite(stage, stage_results)
                    assign = self.assign(
                        stage, stage_results, gts[i], metas[i], num_learned,
                        ids
                        if stage >= self.track_cfg['entry_stage'] else ids[:0])
                    stage_losses = self.decoder.stages[stage].loss_and_target(
                        stage_results, [assign], [gts[i]], [metas[i]])
                    weight = self.decoder.stage_loss_weights[stage]
                    for name, value in stage_losses.items():
                        key = f's{stage}.{name}'
                        losses[key] = losses.get(key, 0) + value * weight
                count += 1
                carried = self._carry_matched(results[-1], assign, gts[i])
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

    # ------------------------------------------------------------------
    # inference
    # ------------------------------------------------------------------
    def reset_tracks(self) -> None:
        """Forget the videos tracked so far (the next sample starts one).
        Called by :meth:`train` too, so every test / validation loop (which
        switches the model to eval mode) starts afresh."""
        self._state = None
        self._done_videos = set()

    def train(self, mode: bool = True):
        self.reset_tracks()
        return super().train(mode)

    def _video_state(self, meta: dict) -> _VideoState:
        for key in ('video_id', 'timestamp'):
            if key not in meta:
                raise ValueError(
                    f'STMixerTracker.predict needs {key!r} in the metainfo of '
                    'every sample (meta_keys of PackActionInputs) to carry '
                    'track queries along a video')
        video, t = str(meta['video_id']), meta['timestamp']
        state = self._state
        if state is None or state.video != video:
            if video in self._done_videos:
                raise ValueError(
                    f'STMixerTracker: video {video!r} came back after '
                    f'video {state.video!r}: track queries need the '
                    'keyframes of a video one after another (a sequential, '
                    'unshuffled test sampler, one process); its tracks '
                    'would restart silently. Call reset_tracks() to run '
                    'the videos again')
            if state is not None:
                self._done_videos.add(state.video)
            state = self._state = _VideoState(video)
        elif t <= state.timestamp:
            raise ValueError(
                f'STMixerTracker: video {video!r} came at timestamp {t} after '
                f'{state.timestamp}: track queries need the keyframes of a '
                'video in increasing order (a sequential test sampler, one '
                'process); call reset_tracks() to start the video again')
        shape = tuple(meta['img_shape'][:2])
        if state.timestamp is not None and shape != state.img_shape:
            raise ValueError(
                f'STMixerTracker: video {video!r} changed its input size from '
                f'{state.img_shape} to {shape} at timestamp {t}: carried '
                'boxes are in pixels of the input; resize every keyframe of '
                'a video to one size')
        state.timestamp, state.img_shape = t, shape
        return state

    def predict(self,
                batch_inputs: Tensor,
                batch_data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        """Tracked detections: as :class:`STMixer`'s (AVA format), plus
        ``pred_instances.track_ids`` ``[n]`` (see the class docstring).
        The samples of the batch are taken in order, one keyframe each."""
        if get_world_size() > 1:
            raise RuntimeError(
                'STMixerTracker: track-query inference carries state from '
                'keyframe to keyframe of a video, so every keyframe of a '
                'video must reach one process in order; test it with one '
                'process (tools/test.py without a launcher)')
        x, xyzr0, spatial0, temporal0 = self._queries(batch_inputs,
                                                      batch_data_samples)
        results_list = []
        for i, sample in enumerate(batch_data_samples):
            state = self._video_state(sample.metainfo)
            carried = dict(
                spatial=state.spatial,
                temporal=state.temporal,
                xyzr=state.xyzr)
            last = self._run(x, i, xyzr0, spatial0, temporal0, carried)[-1]
            results_list.append(
                self._track_step(state, last, xyzr0.size(1), sample.metainfo))
        return self.add_pred_to_datasample(batch_data_samples, results_list)

    def _track_step(self, state: _VideoState, last: Dict[str, Tensor],
                    num_learned: int, meta: dict) -> InstanceData:
        cfg = self.track_cfg
        head = self.decoder.stages[-1]
        test_cfg = head.parse_test_cfg(self.test_cfg)
        scores = head.person_scores(last['person_logits'])[0]
        boxes = last['bboxes'][0]
        device = scores.device
        # carried queries: kept, lost (still output) or dropped
        m = state.num_tracks
        track_rows = torch.arange(num_learned, num_learned + m, device=device)
        found = scores[track_rows] >= cfg['track_thr']
        lost = [0 if f else n + 1 for f, n in zip(found.tolist(), state.lost)]
        alive = [n <= cfg['max_lost'] for n in lost]
        rows = [int(r) for r, a in zip(track_rows.tolist(), alive) if a]
        ids = [d for d, a in zip(state.ids, alive) if a]
        lost = [n for n, a in zip(lost, alive) if a]
        # learned queries: births
        cand = torch.nonzero(
            scores[:num_learned] >= cfg['birth_thr'],
            as_tuple=False).squeeze(1)
        cand = cand[scores[cand].argsort(descending=True)]
        taken = boxes[rows] if rows else boxes.new_zeros(0, 4)
        born = []
        for q in cand.tolist():
            if len(taken) and float(
                    bbox_overlaps(boxes[q:q + 1],
                                  taken).max()) >= cfg['dup_iou_thr']:
                continue
            born.append(q)
            taken = torch.cat([taken, boxes[q:q + 1]])
        carried_rows = rows + born
        ids += state.new_ids(len(born))
        lost += [0] * len(born)
        out_rows, out_ids = list(carried_rows), list(ids)
        if not out_rows and test_cfg['num_fallback'] > 0:
            k = min(test_cfg['num_fallback'], num_learned)
            out_rows = scores[:num_learned].topk(k).indices.tolist()
            out_ids = state.new_ids(len(out_rows))
        # the state for the next keyframe
        sel = torch.tensor(carried_rows, dtype=torch.long, device=device)
        temporal = last['temporal_queries']
        state.ids, state.lost = ids, lost
        state.spatial = last['spatial_queries'][:, sel]
        state.temporal = None if temporal is None else temporal[:, sel]
        state.xyzr = last['xyzr'][:, sel]
        # outputs, in the format of the decoder's predict
        sel = torch.tensor(out_rows, dtype=torch.long, device=device)
        subset = {
            k: last[k][:, sel]
            for k in ('person_logits', 'action_logits', 'bboxes')
        }
        result = head.predict_ava(
            subset, [meta],
            dict(test_cfg, person_threshold=-1.0, num_fallback=0))[0]
        result.track_ids = torch.tensor(
            out_ids, dtype=torch.long, device=device)
        return result
