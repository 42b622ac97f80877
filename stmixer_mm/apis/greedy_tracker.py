"""The greedy tube tracker (``GreedyTracker``): a track id per person as soon
as it is seen (greedy linking as the tube metric's); :mod:`.tracking` builds
it or mmdet's trackers from a config. See docs/en/online.md."""
from typing import Dict, List, Mapping, Optional

import numpy as np

from stmixer_mm.evaluation.functional import box_iou
from stmixer_mm.utils.checks import check_choice, check_ints, check_range

__all__ = ['OnlineTubeTracker', 'Track']


class Track:
    """One person's tube so far: id, last box, scores, action means.

    Args:
        track_id (int): The track's id.
        box (np.ndarray): Its first box, shape (4, ), (x1, y1, x2, y2).
        frame (int): The keyframe of that box.
        score (float): Its person score.
        actions (np.ndarray, optional): Its action scores, shape (C, );
            None: no action means kept.
    """

    __slots__ = ('track_id', 'box', 'first_frame', 'last_frame', 'length',
                 'score_sum', 'lost', 'action_sum')

    def __init__(self, track_id: int, box: np.ndarray, frame: int,
                 score: float, actions: Optional[np.ndarray]) -> None:
        self.track_id = track_id
        self.first_frame = frame
        self.length = 0
        self.score_sum = 0.0
        self.action_sum = None
        self.add(box, frame, score, actions)

    def add(self, box, frame, score, actions) -> None:
        """Continue the track at a keyframe (found again: ``lost`` = 0).

        Args:
            box (np.ndarray): The new last box, shape (4, ), (x1, y1, x2,
                y2).
            frame (int): Its keyframe.
            score (float): Its person score, added to the mean.
            actions (np.ndarray, optional): Its action scores, shape
                (C, ), added to the means; None: not added.
        """
        self.box = np.asarray(box, np.float64)
        self.last_frame = frame
        self.length += 1
        self.score_sum += float(score)
        self.lost = 0
        if actions is not None:
            a = np.asarray(actions, np.float64)
            self.action_sum = a.copy() if self.action_sum is None else \
                self.action_sum + a

    @property
    def mean_score(self) -> float:
        return self.score_sum / self.length

    def summary(self, names: Optional[Dict[int, str]] = None) -> dict:
        out = dict(
            track_id=self.track_id,
            first_frame=self.first_frame,
            last_frame=self.last_frame,
            keyframes=self.length,
            mean_person_score=round(self.mean_score, 4))
        if self.action_sum is not None:
            mean = self.action_sum / self.length
            cols = [c for c in range(len(mean)) if names is None or c in names]
            if cols:
                best = max(cols, key=lambda c: mean[c])
                out.update(
                    action=names[best] if names is not None else best,
                    action_score=round(float(mean[best]), 4))
        return out


class OnlineTubeTracker:
    """Incremental person linking over keyframes (``GreedyTracker`` in a
    config's ``tracker``).

    Args:
        link_iou (float): IoU in [0, 1] with a track's last box to
            continue it.
        max_lost (int): keyframes (>= 0) a track may miss and still
            continue.
        max_shift (float): a lost track also takes a person whose centre is
            within ``max_shift * sqrt(w * h)`` (>= 0) of its last box's
            (size within a factor 2).
        keep_finished (bool): keep the summaries of finished tracks.
        names (dict, optional): ``{column: action name}`` for the summaries.

    Raises:
        ValueError: A setting of another type or out of its range, naming
            the tracker and the setting.
    """

    #: the tracker's name in messages
    kind = 'GreedyTracker'

    def __init__(self,
                 link_iou: float = 0.5,
                 max_lost: int = 3,
                 max_shift: float = 0.5,
                 keep_finished: bool = False,
                 names: Optional[Dict[int, str]] = None) -> None:
        who = self.kind
        check_range(who, '[0, 1]', link_iou=link_iou)
        check_ints(who, 0, max_lost=max_lost)
        check_range(who, '[0, inf)', max_shift=max_shift)
        check_choice(who, (True, False), keep_finished=keep_finished)
        if names is not None and not isinstance(names, Mapping):
            raise ValueError(f'{who}: names must be a dict {{column: action '
                             f'name}} or None, got {names!r}')
        self.link_iou = link_iou
        self.max_lost = max_lost
        self.max_shift = max_shift
        self.keep_finished = keep_finished
        self.names = names
        self.tracks: List[Track] = []  # visible or lost, not finished
        self.finished: List[dict] = []
        self.next_id = 0
        self.last_frame: Optional[int] = None

    def _near(self, track: Track, boxes: np.ndarray) -> np.ndarray:
        """Boxes near the lost track's last box."""
        b = track.box
        size = np.sqrt(max((b[2] - b[0]) * (b[3] - b[1]), 1e-12))
        c = (b[:2] + b[2:]) / 2
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        dist = np.linalg.norm(centres - c, axis=1)
        sizes = np.sqrt(
            np.clip((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]),
                    1e-12, None))
        ratio = sizes / size
        return (dist <= self.max_shift * size) & (ratio >= 0.5) & \
            (ratio <= 2.0)

    def update(self,
               frame: int,
               boxes: np.ndarray,
               person_scores: np.ndarray,
               action_scores: Optional[np.ndarray] = None,
               track_ids: Optional[np.ndarray] = None) -> List[int]:
        """Link one keyframe's persons; return their track ids (in order).

        Args:
            frame (int): the keyframe (ascending over calls).
            boxes (np.ndarray): ``[n, 4]`` xyxy.
            person_scores (np.ndarray): ``[n]``.
            action_scores (np.ndarray, optional): ``[n, C]``, mean per track.
            track_ids (np.ndarray, optional): a model's own ids (track
                queries): no linking; tracks missed are lost as above.

        Returns:
            list[int]: The track id of each box, in order; a box that
            continues no track starts one (a new id). With ``track_ids``:
            those ids.

        Raises:
            ValueError: ``frame`` not after the last one, or ``boxes``,
                ``person_scores`` / ``track_ids`` of other lengths, or
                repeated ``track_ids``.
        """
        boxes, scores = self._next_keyframe(frame, boxes, person_scores,
                                            np.float64)
        if track_ids is not None:
            return self._update_given(frame, boxes, scores, action_scores,
                                      track_ids)
        ids = [-1] * len(boxes)
        free = np.ones(len(boxes), dtype=bool)

        def take(track: Track, valid: np.ndarray) -> bool:
            valid = np.flatnonzero(valid & free)
            if not valid.size:
                return False
            i = int(valid[np.argmax(scores[valid])])
            free[i] = False
            ids[i] = track.track_id
            track.add(boxes[i], frame, scores[i],
                      None if action_scores is None else action_scores[i])
            return True

        visible = sorted((t for t in self.tracks if t.lost == 0),
                         key=lambda t: t.mean_score,
                         reverse=True)
        lost = sorted((t for t in self.tracks if t.lost > 0),
                      key=lambda t: (t.lost, -t.mean_score))
        for t in visible + lost:
            if not (len(boxes)
                    and take(t, (box_iou(boxes, t.box) >= self.link_iou)
                             | (t.lost > 0 and self._near(t, boxes)))):
                t.lost += 1
        self._finish_lost()
        for i in np.flatnonzero(free):
            t = Track(self.next_id, boxes[i], frame, scores[i],
                      None if action_scores is None else action_scores[i])
            self.next_id += 1
            self.tracks.append(t)
            ids[i] = t.track_id
        return ids

    def _next_keyframe(self, frame: int, boxes, person_scores, dtype) -> tuple:
        """Check that ``frame`` comes after the last keyframe (then it is
        the last) and that ``boxes`` and ``person_scores`` have one length.

        Args:
            frame (int): The keyframe.
            boxes (np.ndarray): Its boxes, (n, 4) as any array-like.
            person_scores (np.ndarray): Their scores, (n, ).
            dtype (type): The dtype of the arrays returned.

        Returns:
            tuple[np.ndarray, np.ndarray]: ``boxes`` shape (n, 4) and
            ``person_scores`` shape (n, ), of ``dtype``.

        Raises:
            ValueError: ``frame`` not after the last one, or other lengths.
        """
        if self.last_frame is not None and frame <= self.last_frame:
            raise ValueError(f'keyframes must be ascending: got {frame} '
                             f'after {self.last_frame}')
        self.last_frame = frame
        boxes = np.asarray(boxes, dtype).reshape(-1, 4)
        scores = np.asarray(person_scores, dtype).reshape(-1)
        if len(scores) != len(boxes):
            raise ValueError(f'{len(boxes)} boxes but {len(scores)} person '
                             'scores')
        return boxes, scores

    def _end_keyframe(self, ids: List[int]) -> List[int]:
        """A keyframe linked: the tracks not among ``ids`` are missed once
        more, those missed too long finished.

        Args:
            ids (list[int]): The track ids of the keyframe's boxes.

        Returns:
            list[int]: ``ids``.
        """
        seen = set(ids)
        for t in self.tracks:
            if t.track_id not in seen:
                t.lost += 1
        self._finish_lost()
        return ids

    def _finish_lost(self) -> None:
        kept = []
        for t in self.tracks:
            if t.lost > self.max_lost:
                if self.keep_finished:
                    self.finished.append(t.summary(self.names))
            else:
                kept.append(t)
        self.tracks = kept

    def _update_given(self, frame: int, boxes: np.ndarray, scores: np.ndarray,
                      action_scores: Optional[np.ndarray],
                      track_ids) -> List[int]:
        ids = [int(i) for i in np.asarray(track_ids).reshape(-1)]
        if len(ids) != len(boxes):
            raise ValueError(f'{len(boxes)} boxes but {len(ids)} track ids')
        if len(set(ids)) != len(ids):
            raise ValueError(f'keyframe {frame}: repeated track ids {ids}')
        by_id = {t.track_id: t for t in self.tracks}
        for i, tid in enumerate(ids):
            actions = None if action_scores is None else action_scores[i]
            if tid in by_id:
                by_id[tid].add(boxes[i], frame, scores[i], actions)
            else:
                self.tracks.append(
                    Track(tid, boxes[i], frame, scores[i], actions))
        self.next_id = max([self.next_id] + [i + 1 for i in ids])
        return self._end_keyframe(ids)
