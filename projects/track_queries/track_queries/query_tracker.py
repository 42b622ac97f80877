"""The per-video inference state of ``STMixerTracker``, in a tracker the model
owns (as mmdet's MOT models own a ``BaseTracker``)."""
from typing import Dict, List, Optional

import torch
from mmdet.structures.bbox import bbox_overlaps
from mmengine.structures import InstanceData
from torch import Tensor

__all__ = ['VideoTracks', 'QueryTracker']


class VideoTracks:
    """The tracks of the video being predicted: the ids, how many keyframes
    each has been lost for, and the carried queries and boxes."""

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

    def carried(self) -> dict:
        """The queries to carry into the next keyframe (``spatial``,
        ``temporal``, ``xyzr``; None before the first keyframe)."""
        return dict(
            spatial=self.spatial, temporal=self.temporal, xyzr=self.xyzr)


class QueryTracker:
    """Track-query inference over the keyframes of one video after another
    (rules: ``projects/track_queries/README.md``, "How it works").

    Its settings are checked by ``STMixerTracker`` (``track_cfg``).

    Args:
        birth_thr (float): Person score a learned query needs to start a track.
        track_thr (float): Person score that keeps a track found.
        max_lost (int): Keyframes a track may be lost before it is dropped.
        dup_iou_thr (float): IoU with a kept track above which a new track is
            a duplicate.
    """

    def __init__(self, birth_thr: float, track_thr: float, max_lost: int,
                 dup_iou_thr: float) -> None:
        self.birth_thr = float(birth_thr)
        self.track_thr = float(track_thr)
        self.max_lost = max_lost
        self.dup_iou_thr = float(dup_iou_thr)
        self.reset()

    def reset(self) -> None:
        """Forget the videos tracked so far."""
        self.current: Optional[VideoTracks] = None
        #: videos finished since the last reset (a video that comes back
        #: would restart its tracks without a word)
        self.done_videos: set = set()

    def video(self, meta: dict) -> VideoTracks:
        """The tracks of the video of a keyframe (``meta`` with ``video_id``,
        ``timestamp``, ``img_shape``); a new video starts afresh.

        Raises:
            ValueError: A missing key, a finished video back, a video going
                back in time or changing its input size.
        """
        for key in ('video_id', 'timestamp'):
            if key not in meta:
                raise ValueError(
                    f'STMixerTracker.predict needs {key!r} in the metainfo of '
                    'every sample (meta_keys of PackActionInputs) to carry '
                    'track queries along a video')
        video, t = str(meta['video_id']), meta['timestamp']
        state = self.current
        if state is None or state.video != video:
            if video in self.done_videos:
                raise ValueError(
                    f'STMixerTracker: video {video!r} came back after '
                    f'video {state.video!r}: track queries need the '
                    'keyframes of a video one after another (a sequential, '
                    'unshuffled test sampler, one process); its tracks '
                    'would restart silently. Call reset_tracks() to run '
                    'the videos again')
            if state is not None:
                self.done_videos.add(state.video)
            state = self.current = VideoTracks(video)
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

    def step(self, state: VideoTracks, last: Dict[str,
                                                  Tensor], num_learned: int,
             meta: dict, head, test_cfg: dict) -> InstanceData:
        """Update ``state`` with a keyframe's outputs; return its detections
        (``InstanceData`` as the decoder's ``predict``, plus ``track_ids``).

        Args:
            state (VideoTracks): From :meth:`video`.
            last (dict[str, Tensor]): Last-stage outputs, learned queries
                first, then the ``state.num_tracks`` carried ones.
            num_learned (int): Number of learned queries.
            meta (dict): The keyframe's metainfo.
            head (STMixerStageHead): The last stage head.
            test_cfg (dict): The parsed test_cfg.
        """
        scores = head.person_scores(last['person_logits'])[0]
        boxes = last['bboxes'][0]
        device = scores.device
        # carried queries: kept, lost (still output) or dropped
        m = state.num_tracks
        track_rows = torch.arange(num_learned, num_learned + m, device=device)
        found = scores[track_rows] >= self.track_thr
        lost = [0 if f else n + 1 for f, n in zip(found.tolist(), state.lost)]
        alive = [n <= self.max_lost for n in lost]
        rows = [int(r) for r, a in zip(track_rows.tolist(), alive) if a]
        ids = [d for d, a in zip(state.ids, alive) if a]
        lost = [n for n, a in zip(lost, alive) if a]
        # learned queries: births
        cand = torch.nonzero(
            scores[:num_learned] >= self.birth_thr, as_tuple=False).squeeze(1)
        cand = cand[scores[cand].argsort(descending=True)]
        taken = boxes[rows] if rows else boxes.new_zeros(0, 4)
        born = []
        for q in cand.tolist():
            if len(taken) and float(
                    bbox_overlaps(boxes[q:q + 1],
                                  taken).max()) >= self.dup_iou_thr:
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
