"""One tracker for the offline demo, the online runner and the Inferencer:
the greedy :class:`~.tracker.OnlineTubeTracker` or mmdet's ``ByteTracker``
/ ``OCSORTTracker`` (Kalman filter), chosen by the config's
``tracker=dict(type=...)``. See docs/en/online.md."""
from contextlib import ExitStack, contextmanager
from typing import Dict, List, Mapping, Optional
from unittest import mock

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from stmixer_mm.utils.checks import (ConfigSettingError, check_choice,
                                     check_ints, check_range)
from .greedy_tracker import OnlineTubeTracker, Track

__all__ = [
    'DEFAULT_TRACKER', 'TRACKER_TYPES', 'MMDetTubeTracker', 'build_tracker',
    'tracker_settings', 'track_result'
]

#: the tracker of a config without ``tracker``: mmdet's ByteTracker with
#: its defaults (docs/en/online.md: the measured comparison)
DEFAULT_TRACKER = dict(type='ByteTracker')
#: the greedy tracker's names (``OnlineTubeTracker`` is its class)
GREEDY_TYPES = ('GreedyTracker', 'OnlineTubeTracker')
#: mmdet's trackers that link boxes alone (SORTTracker needs a ReID model
#: and motmetrics)
MMDET_TYPES = ('ByteTracker', 'OCSORTTracker')
TRACKER_TYPES = GREEDY_TYPES + MMDET_TYPES
#: the settings of the greedy tracker (and their defaults)
GREEDY_SETTINGS = dict(link_iou=0.5, max_lost=3, max_shift=0.5)


class _ScipyLap:
    """``lap.lapjv`` on scipy (mmdet's ByteTracker / OCSORTTracker import
    ``lap``, which is not a dependency here; used also where it is
    installed, so that ties are broken the same way): the same extended
    cost matrix
    as lap's (``cost_limit / 2`` for leaving a row or column unassigned),
    solved by ``scipy.optimize.linear_sum_assignment``; the same optimum
    (ties may be broken otherwise)."""

    @staticmethod
    def lapjv(cost, extend_cost=False, cost_limit=np.inf, return_cost=True):
        """Assign rows to columns as ``lap.lapjv``.

        Args:
            cost (np.ndarray): Costs, shape (R, C).
            extend_cost (bool): lap's switch for R != C, always allowed
                here (mmdet's trackers pass True). Defaults to False.
            cost_limit (float): A pair costing more is not assigned.
                Defaults to inf.
            return_cost (bool): Also return the total cost. Defaults to
                True.

        Returns:
            tuple: ``([cost,] x, y)``: x (np.ndarray) shape (R, ), the
            column of each row or -1; y (np.ndarray) shape (C, ), the row
            of each column or -1.
        """
        cost = np.asarray(cost, np.float64)
        # a pair whose cost is not a number (mmdet's IoU of a box of zero
        # area is 0 / 0) is never assigned: it costs more than leaving both
        # unassigned
        bad = ~np.isfinite(cost)
        if bad.any():
            cost = cost.copy()
            cost[bad] = cost_limit + 1.0 if cost_limit < np.inf else 1e12
        rows, cols = cost.shape
        if cost_limit < np.inf:
            full = np.full((rows + cols, rows + cols), cost_limit / 2.0)
            full[rows:, cols:] = 0
        else:
            full = np.zeros((max(rows, cols), ) * 2)
        full[:rows, :cols] = cost
        r, c = linear_sum_assignment(full)
        x, y = np.full(rows, -1), np.full(cols, -1)
        real = (r < rows) & (c < cols)
        x[r[real]], y[c[real]] = c[real], r[real]
        if not return_cost:
            return x, y
        return float(cost[r[real], c[real]].sum()), x, y


@contextmanager
def _scipy_assignment():
    """mmdet's tracker modules solve their assignments with
    :class:`_ScipyLap` / scipy's ``linear_sum_assignment`` inside the
    block, whether ``lap`` / ``motmetrics`` are installed or not (the same
    ids everywhere; ``OCSORTTracker`` derives from ``SORTTracker``, which
    refuses to start without ``motmetrics``); restored after it."""
    # mmdet's trackers: imported only when one is chosen
    from mmdet.models.trackers import (byte_tracker, ocsort_tracker,
                                       sort_tracker)
    patch = {
        (byte_tracker, 'lap'): _ScipyLap,
        (ocsort_tracker, 'lap'): _ScipyLap,
        (sort_tracker, 'motmetrics'): _ScipyLap,
        (sort_tracker, 'linear_sum_assignment'): linear_sum_assignment
    }
    with ExitStack() as stack:  # each restored (or removed) on leaving
        for (module, name), value in patch.items():
            stack.enter_context(
                mock.patch.object(module, name, value, create=True))
        yield


def _config_error(who: str, problem: str) -> ConfigSettingError:
    return ConfigSettingError(
        f'{who}: {problem}; expected tracker=dict(type=...) '
        f'with type one of {list(TRACKER_TYPES)} '
        '(docs/en/online.md)')


def tracker_settings(tracker: Optional[dict] = None,
                     who: str = 'tracker',
                     option_names: Optional[Dict[str, str]] = None,
                     **overrides) -> dict:
    """The tracker config with the options that override it, checked.

    Args:
        tracker (dict, optional): ``dict(type=..., **settings)``; None:
            :data:`DEFAULT_TRACKER`.
        who (str): How errors name the setting (``'tracker'``,
            ``'OnlineRunner: tracker'``). Defaults to ``'tracker'``.
        option_names (dict, optional): How errors name each override
            (``{'link_iou': '--tube-iou'}``). Defaults to None.
        **overrides: ``max_lost`` (any type; mmdet's:
            ``num_frames_retain = max_lost + 1``), ``link_iou`` and
            ``max_shift`` (the greedy tracker's); None: not given.

    Returns:
        dict: A copy with ``type``, the given overrides and the defaults
        of ``link_iou``, ``max_lost``, ``max_shift`` (greedy) or
        ``max_lost`` (mmdet's).

    Raises:
        ConfigSettingError: (a ValueError) No ``type``, an unknown one, or
            an override the type does not take (naming the option).
    """
    if tracker is None:
        tracker = DEFAULT_TRACKER
    if not isinstance(tracker, dict) or 'type' not in tracker:
        raise _config_error(who, f'got {tracker!r}')
    cfg = dict(tracker)
    kind = cfg['type']
    if kind not in TRACKER_TYPES:
        raise _config_error(who, f'unknown type {kind!r}')
    if kind in GREEDY_TYPES:
        cfg = dict(GREEDY_SETTINGS, **cfg)
    else:
        cfg.setdefault('max_lost', GREEDY_SETTINGS['max_lost'])
    for name, value in overrides.items():
        if value is None:
            continue
        if kind in MMDET_TYPES and name != 'max_lost':
            option = (option_names or {}).get(name, name)
            raise ConfigSettingError(
                f'{option} {value} sets the greedy tracker\'s {name}; '
                f'{who}.type={kind!r} has none (its own settings are '
                f'mmdet\'s {kind} arguments in the config\'s tracker, '
                'e.g. --cfg-options tracker.init_track_thr=0.5)')
        cfg[name] = value
    return cfg


def build_tracker(tracker: Optional[dict] = None,
                  names: Optional[Dict[int, str]] = None,
                  keep_finished: bool = False,
                  who: str = 'tracker') -> OnlineTubeTracker:
    """The tracker of a config (one per video).

    Args:
        tracker (dict, optional): ``dict(type=..., **settings)``: type
            ``'GreedyTracker'`` (:class:`OnlineTubeTracker`'s
            ``link_iou``, ``max_lost``, ``max_shift``), ``'ByteTracker'``
            or ``'OCSORTTracker'`` (mmdet's arguments, and ``max_lost``);
            None: :data:`DEFAULT_TRACKER`.
        names (dict, optional): ``{column: action name}`` for the track
            summaries. Defaults to None.
        keep_finished (bool): Keep the summaries of finished tracks.
            Defaults to False.
        who (str): How errors name the setting. Defaults to ``'tracker'``.

    Returns:
        OnlineTubeTracker: The greedy tracker or a
        :class:`MMDetTubeTracker`; ``update`` gives the ids.

    Raises:
        ConfigSettingError: (a ValueError) An unknown type or setting, or a
            setting of another type or range (naming the tracker and the
            setting), before any video is read.
    """
    cfg = tracker_settings(tracker, who)
    kind = cfg.pop('type')
    unknown = sorted(set(cfg) - set(GREEDY_SETTINGS))
    if kind in GREEDY_TYPES and unknown:
        raise ConfigSettingError(
            f'{who}: unknown setting {unknown[0]!r} of type={kind!r}; '
            f'expected some of {list(GREEDY_SETTINGS)}')
    cls = OnlineTubeTracker if kind in GREEDY_TYPES else MMDetTubeTracker
    if kind in MMDET_TYPES:
        cfg = dict(kind=kind, **cfg)
    try:  # the classes check their settings, naming the tracker
        return cls(keep_finished=keep_finished, names=names, **cfg)
    except ValueError as e:
        raise ConfigSettingError(f'{who}: {e}') from None


class MMDetTubeTracker(OnlineTubeTracker):
    """mmdet's ``ByteTracker`` / ``OCSORTTracker`` over keyframes, with
    :class:`OnlineTubeTracker`'s interface: the keyframe count is the frame
    id, mmdet's ids are mapped back to the detections (renumbered from 0 in
    order of appearance); a detection mmdet leaves without an id (a low
    score) gets an id of its own; the summaries average the actions per id.

    Args:
        kind (str): ``'ByteTracker'`` or ``'OCSORTTracker'``.
        max_lost (int): Keyframes a track may miss and continue
            (``num_frames_retain = max_lost + 1``). Defaults to 3.
        keep_finished (bool): Keep the summaries of finished tracks.
            Defaults to False.
        names (dict, optional): ``{column: action name}`` for the
            summaries. Defaults to None.
        **kwargs: mmdet's arguments: ``init_track_thr``,
            ``weight_iou_with_det_scores``, ``num_tentatives``, ``motion``
            (defaults to ``dict(type='KalmanFilter')``) and ByteTracker's
            ``obj_score_thrs`` / ``match_iou_thrs`` or OCSORTTracker's
            ``obj_score_thr``, ``match_iou_thr``, ``vel_consist_weight``,
            ``vel_delta_t``; mmdet's defaults where not given.

    Raises:
        ValueError: Another setting (or one this adapter does not take:
            ``num_frames_retain``, ``momentums``, ``reid``), or one of
            another type or range (thresholds in [0, 1], frame counts ints
            >= 1, dicts of thresholds with exactly their keys), naming the
            tracker and the setting: ``'ByteTracker: init_track_thr must be
            a number in [0, 1], got 1.5'``.
    """

    def __init__(self,
                 kind: str,
                 max_lost: int = 3,
                 keep_finished: bool = False,
                 names: Optional[Dict[int, str]] = None,
                 **kwargs) -> None:
        check_choice('MMDetTubeTracker', MMDET_TYPES, kind=kind)
        self.kind = kind
        super().__init__(
            max_lost=max_lost, keep_finished=keep_finished, names=names)
        # mmdet's arguments that its tracker does not take (or that this
        # adapter does not: num_frames_retain, momentums, reid), or of
        # another type or range: thresholds in [0, 1], frame counts ints
        # >= 1, dicts of thresholds with exactly their keys
        who = kind
        if 'num_frames_retain' in kwargs:
            raise ValueError(f'{who}: num_frames_retain is max_lost + 1: set '
                             'max_lost')
        known = [
            'motion', 'init_track_thr', 'weight_iou_with_det_scores',
            'num_tentatives'
        ]
        known += ['obj_score_thrs', 'match_iou_thrs'] if who == 'ByteTracker' \
            else ['obj_score_thr', 'match_iou_thr', 'vel_consist_weight',
                  'vel_delta_t']
        unknown = [k for k in kwargs if k not in known]
        if unknown:
            known = sorted(known + ['max_lost'])
            raise ValueError(f'{who}: unknown setting {unknown[0]!r}; '
                             f'expected some of {known}')
        for name in ('init_track_thr', 'obj_score_thr', 'match_iou_thr'):
            if name in kwargs:
                check_range(who, '[0, 1]', **{name: kwargs[name]})
        for name in ('num_tentatives', 'vel_delta_t'):
            if name in kwargs:
                check_ints(who, **{name: kwargs[name]})
        if 'vel_consist_weight' in kwargs:
            check_range(
                who,
                '[0, inf)',
                vel_consist_weight=kwargs['vel_consist_weight'])
        if 'weight_iou_with_det_scores' in kwargs:
            check_choice(
                who, (True, False),
                weight_iou_with_det_scores=kwargs['weight_iou_with_det_scores']
            )
        for name, keys in (('obj_score_thrs', ('high', 'low')),
                           ('match_iou_thrs', ('high', 'low', 'tentative'))):
            if name not in kwargs:
                continue
            value = kwargs[name]
            if not isinstance(value, Mapping):
                raise ValueError(f'{who}: {name} must be a dict with the keys '
                                 f'{list(keys)}, got {value!r}')
            missing = [k for k in keys if k not in value]
            unknown = [k for k in value if k not in keys]
            if missing or unknown:
                why = f'missing {missing}' if missing else f'unknown {unknown}'
                raise ValueError(
                    f'{who}: {name} must have the keys {list(keys)} '
                    f'(thresholds in [0, 1]): {why}, got {value!r}')
            check_range(who, '[0, 1]',
                        **{f'{name}.{key}': value[key]
                           for key in keys})
            if name == 'obj_score_thrs' and value['low'] > value['high']:
                raise ValueError(f'{who}: obj_score_thrs.low must be <= '
                                 f'obj_score_thrs.high, got {dict(value)}')
        motion = kwargs.setdefault('motion', dict(type='KalmanFilter'))
        if not isinstance(motion, dict) or 'type' not in motion:
            raise ValueError(f'{who}: motion must be a dict with a type '
                             f"(dict(type='KalmanFilter')), got {motion!r}")
        # mmdet's registry and trackers: imported only when one is chosen
        from mmdet.registry import MODELS
        from mmengine.registry import DefaultScope
        try:
            with DefaultScope.overwrite_default_scope('mmdet'), \
                    _scipy_assignment():
                self.mmdet = MODELS.build(
                    dict(type=kind, num_frames_retain=max_lost + 1, **kwargs))
        except (KeyError, TypeError, ValueError, AssertionError) as e:
            # every other setting is checked above
            raise ValueError(f'{kind}: motion={kwargs["motion"]!r} cannot be '
                             f'built: {e}') from None
        self.count = 0  # keyframes seen: mmdet's frame id
        self.ours: Dict[int, int] = {}  # mmdet id -> track id
        self.mm_of: Dict[int, Optional[int]] = {}  # track id -> mmdet id

    def update(self,
               frame: int,
               boxes: np.ndarray,
               person_scores: np.ndarray,
               action_scores: Optional[np.ndarray] = None,
               track_ids: Optional[np.ndarray] = None) -> List[int]:
        """Track one keyframe's persons; return their ids (in order).

        Args:
            frame (int): The keyframe (ascending over calls).
            boxes (np.ndarray): Shape (n, 4), (x1, y1, x2, y2).
            person_scores (np.ndarray): Shape (n, ).
            action_scores (np.ndarray, optional): Shape (n, C), averaged
                per track. Defaults to None.
            track_ids (np.ndarray, optional): A model's own ids: taken as
                they are (as :class:`OnlineTubeTracker`). Defaults to None.

        Returns:
            list[int]: The track id of each box, in order.

        Raises:
            ValueError: ``frame`` not after the last one, or ``boxes`` and
                ``person_scores`` of other lengths.
        """
        if track_ids is not None:
            return super().update(frame, boxes, person_scores, action_scores,
                                  track_ids)
        boxes, scores = self._next_keyframe(frame, boxes, person_scores,
                                            np.float32)
        mm_ids = self._track(boxes, scores)
        ids = []
        by_id = {t.track_id: t for t in self.tracks}
        for i, mm in enumerate(mm_ids):
            actions = None if action_scores is None else action_scores[i]
            tid = self.ours.get(mm) if mm is not None else None
            if tid is None:
                tid = self.next_id
                self.next_id += 1
                self.mm_of[tid] = mm
                if mm is not None:
                    self.ours[mm] = tid
                by_id[tid] = Track(tid, boxes[i], frame, scores[i], actions)
                self.tracks.append(by_id[tid])
            else:
                by_id[tid].add(boxes[i], frame, scores[i], actions)
            ids.append(tid)
        return self._end_keyframe(ids)

    def _track(self, boxes: np.ndarray, scores: np.ndarray) -> List:
        """mmdet's id of each box (None: left without one)."""
        # mmdet's data sample: imported with the tracker
        from mmdet.structures import DetDataSample
        from mmengine.structures import InstanceData
        sample = DetDataSample(metainfo=dict(frame_id=self.count))
        sample.pred_instances = InstanceData(
            bboxes=torch.from_numpy(boxes),
            scores=torch.from_numpy(scores),
            labels=torch.zeros(len(boxes), dtype=torch.long))
        self.count += 1
        with _scipy_assignment():
            out = self.mmdet.track(sample)
        mm_ids: List = [None] * len(boxes)
        got = out.bboxes.numpy().reshape(-1, 4)
        got_scores = out.scores.numpy().reshape(-1)
        for row, score, mm in zip(got, got_scores, out.instances_id.tolist()):
            hits = [
                i for i in range(len(boxes)) if mm_ids[i] is None
                and scores[i] == score and np.array_equal(boxes[i], row)
            ]  # (mmdet gives back rows of its input)
            mm_ids[hits[0]] = int(mm)
        return mm_ids

    def _finish_lost(self) -> None:
        """Finish the tracks mmdet no longer holds (and those it never
        held, once missed)."""
        kept = []
        for t in self.tracks:
            if t.track_id in self.mm_of:  # else a model's own id
                mm = self.mm_of[t.track_id]
                done = t.lost > 0 and (mm is None
                                       or mm not in self.mmdet.tracks)
            else:
                done = t.lost > self.max_lost
            if not done:
                kept.append(t)
                continue
            if self.keep_finished:
                self.finished.append(t.summary(self.names))
            mm = self.mm_of.pop(t.track_id, None)
            self.ours.pop(mm, None)
        self.tracks = kept


def track_result(tracker: OnlineTubeTracker, result) -> List[int]:
    """Give one keyframe's kept persons their track ids.

    Args:
        tracker (OnlineTubeTracker): The video's tracker
            (:func:`build_tracker`).
        result (KeyframeResult): The keyframe's persons (a model's own
            ``track_ids`` are kept); ``pred_instances.track_ids`` is set to
            the ids, so the records and the drawing carry them.

    Returns:
        list[int]: The track id of each person, in order.
    """
    ids = tracker.update(
        result.frame,
        result.bboxes,
        result.person_scores,
        result.scores,
        track_ids=result.track_ids)
    pred = getattr(result.data_sample, 'pred_instances', None)
    if pred is not None:
        pred.track_ids = torch.as_tensor(ids, dtype=torch.long)
    return ids
