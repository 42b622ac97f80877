"""The scene model of a synthetic video (actors, states, per-frame geometry,
boxes and AVA labels) and the videos of a split."""
import logging
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.logging import print_log

from stmixer_mm.datasets.ava_dataset import ava_keyframe_file_index
from .actors import (ActorState, class_state, crossing_trajectories,
                     forecast_trajectories, place_actors,
                     place_crossing_actors, sample_forecast_states,
                     sample_states, sample_video_state, trajectories)
from .render import make_background, render_frame
from .settings import CLASSES, LABEL_IDS, SPLITS, SyntheticAVASettings

_SPLIT_CODES = dict(train=1, val=2, demo=3, train_empty=4, val_empty=5)
#: The backgrounds of :class:`EmptyVideo`, in turn.
EMPTY_KINDS = ('scene', 'uniform', 'dark')
#: ``motion='crossing'``: an actor has a (clipped) box at a frame when at
#: least this fraction of its box is inside; hidden actors keep their box.
MIN_VISIBLE = 0.3
#: ``motion='crossing'``: layouts are redrawn up to this many times until
#: every visible run is >= ``fps`` frames (the linking's 15-frame minimum).
MAX_LAYOUT_DRAWS = 200


class SyntheticVideo:
    """One generated video: its actors, their per-frame motion, the frames.

    Frame ``f`` (0-based) is file ``f + start_index``; the keyframe of
    ``ts`` is frame ``fps * (ts - timestamp_start) + key_offset``.
    """

    def __init__(self,
                 video_id: str,
                 settings: SyntheticAVASettings,
                 seconds: int,
                 key_offset: int,
                 timestamp_start: int,
                 rng: np.random.Generator,
                 force_pair: bool,
                 num_actors: Optional[int] = None,
                 exclude_prob: float = 0.0) -> None:
        self._timeline(video_id, settings, seconds, key_offset,
                       timestamp_start)
        self.background = make_background(rng, self.height, self.width)
        if num_actors is None:
            num_actors = int(
                rng.integers(settings.min_actors, settings.max_actors + 1))
        if self.motion == 'crossing':
            self._crossing_scene(rng, num_actors)
        else:
            self._lanes_scene(rng, settings, num_actors, force_pair)
        self.excluded = [
            ts for ts in self.timestamps if rng.random() < exclude_prob
        ]

    def _timeline(self, video_id: str, settings: SyntheticAVASettings,
                  seconds: int, key_offset: int, timestamp_start: int) -> None:
        """Set the video's id, size, ``fps``, ``jump_phase``, ``motion`` and
        its frames, timestamps and keyframes (no random draw).

        Args:
            video_id (str): The video's id.
            settings (SyntheticAVASettings): Give the frame size, ``fps``,
                ``jump_phase`` and ``motion``.
            seconds (int): Length of the video.
            key_offset (int): 0-based frame of the keyframe of
                ``timestamp_start``.
            timestamp_start (int): Timestamp of the first frame.
        """
        self.video_id = video_id
        self.width, self.height = settings.width, settings.height
        self.fps, self.jump_phase = settings.fps, settings.jump_phase
        self.motion = settings.motion
        self.timestamp_start = timestamp_start
        self.key_offset = key_offset
        self.num_frames = self.fps * seconds
        self.timestamps = [timestamp_start + s for s in range(1, seconds)]
        self.keyframes = [self.keyframe_index(ts) for ts in self.timestamps]

    def _lanes_scene(self, rng: np.random.Generator,
                     settings: SyntheticAVASettings, num_actors: int,
                     force_pair: bool) -> None:
        """Actors, states and trajectories of a lanes or forecast video."""
        if force_pair:
            num_actors = max(num_actors, 2)
        self.actors = place_actors(rng, num_actors, force_pair, self.width,
                                   self.height)
        self.slot_of_frame = self._slots()
        if self.motion == 'forecast':
            sample, move = sample_forecast_states, forecast_trajectories
        elif settings.actor_states == 'per_keyframe':
            sample, move = sample_states, trajectories
        else:
            sample, move = sample_video_state, trajectories
        self.states = [
            sample(rng, a, len(self.keyframes)) for a in self.actors
        ]
        self.xs, self.y_offsets = move(rng, self.actors, self.states,
                                       self.slot_of_frame, self.fps,
                                       self.height, self.jump_phase)

    def _crossing_scene(self, rng: np.random.Generator,
                        num_actors: int) -> None:
        """A crossing video, redrawn until every visible run is >= ``fps``
        frames."""
        self.slot_of_frame = np.zeros(self.num_frames, dtype=np.int64)
        for _ in range(MAX_LAYOUT_DRAWS):
            self.actors, classes = place_crossing_actors(
                rng, num_actors, self.width, self.height)
            self.states = [[class_state(rng, cls)] * len(self.keyframes)
                           for cls in classes]
            self.xs, self.y_offsets = crossing_trajectories(
                rng, self.actors, classes, self.num_frames, self.fps,
                self.height, self.jump_phase)
            if all(
                    len(run) >= self.fps for a in range(num_actors)
                    for run in self.visible_runs(a)):
                return
        raise RuntimeError(
            f'{self.video_id}: no crossing layout with tubes of >= {self.fps}'
            f' frames in {MAX_LAYOUT_DRAWS} draws; use longer videos')

    def visible_box(self, a: int,
                    f: int) -> Optional[Tuple[int, int, int, int]]:
        """Actor ``a``'s box at frame ``f`` clipped to the frame, or ``None``
        when less than :data:`MIN_VISIBLE` is inside (crossing only)."""
        box = self.geometry(a, f)[1]
        if self.motion != 'crossing':
            return box
        x1, y1, x2, y2 = box
        cx1, cy1 = max(x1, 0), max(y1, 0)
        cx2, cy2 = min(x2, self.width), min(y2, self.height)
        inside = max(0, cx2 - cx1) * max(0, cy2 - cy1)
        if inside < MIN_VISIBLE * (x2 - x1) * (y2 - y1):
            return None
        return cx1, cy1, cx2, cy2

    def visible_runs(self, a: int) -> List[range]:
        """The runs of consecutive 0-based frames where actor ``a`` has a
        :meth:`visible_box` (one run, the whole video, without crossing)."""
        runs, start = [], None
        for f in range(self.num_frames + 1):
            seen = f < self.num_frames and self.visible_box(a, f) is not None
            if seen and start is None:
                start = f
            elif not seen and start is not None:
                runs.append(range(start, f))
                start = None
        return runs

    def keyframe_index(self, timestamp: int) -> int:
        return self.fps * (timestamp - self.timestamp_start) + self.key_offset

    def _slots(self) -> np.ndarray:
        """Slot ``i`` starts at frame ``keyframe_i - fps // 2 - 1``:
        ``SampleAVAFrames`` takes ``clip_len // 2 * interval`` frames before
        the keyframe, one interval fewer after, and jitters back by up to
        ``interval // 2``; an 8 x 2 clip at 16 fps then lies in one slot."""
        slot = np.zeros(self.num_frames, dtype=np.int64)
        lead = self.fps // 2 + 1
        for i, kf in enumerate(self.keyframes[1:], start=1):
            slot[max(0, kf - lead):] = i
        return slot

    # -- behaviour and labels ----------------------------------------------
    def state(self, a: int, f: int) -> ActorState:
        return self.states[a][self.slot_of_frame[f]]

    def labels(self, a: int, slot: int) -> List[int]:
        """Sorted AVA label ids of actor ``a`` at keyframe ``slot``."""
        st = self.states[a][slot]
        names = [st.posture]
        if st.motion != 'still':
            names.append(st.motion)
        if st.arms_up:
            names.append('raise_arms')
        if st.hold:
            names.append('hold_object')
        if self.actors[a].partner is not None:
            names.append('talk_to')
        return sorted(LABEL_IDS[n] for n in names)

    # -- geometry and drawing ----------------------------------------------
    def geometry(self, a: int, f: int):
        """Parts, box and held object of actor ``a`` in frame ``f``.

        Returns:
            tuple: ``parts`` (list of ``('rect', x1, y1, x2, y2, colour)``
            and ``('circle', cx, cy, r, colour)``, inclusive pixel
            coordinates, drawn with a 1 px outline), ``box`` ``(x1, y1, x2,
            y2)`` in pixel-edge coordinates (x2/y2 exclusive) enclosing the
            person and its outline, and the object rectangle or ``None``.
        """
        actor, st = self.actors[a], self.state(a, f)
        d = actor.dims
        cx = int(round(self.xs[a, f]))
        ground = actor.ground + int(self.y_offsets[a, f])
        crouch = st.posture == 'crouch'
        leg_h = d['leg_h_crouch'] if crouch else d['leg_h']
        leg_w = d['leg_w_crouch'] if crouch else d['leg_w']
        torso_h = d['torso_h_crouch'] if crouch else d['torso_h']
        th, aw, r, hg = (d['torso_half'], d['arm_w'], d['head_r'],
                         d['leg_half_gap'])
        torso_top = ground - leg_h - torso_h + 1
        parts = [
            ('rect', cx - hg - leg_w, ground - leg_h + 1, cx - hg - 1, ground,
             actor.pants),
            ('rect', cx + hg, ground - leg_h + 1, cx + hg + leg_w - 1, ground,
             actor.pants),
            ('rect', cx - th, torso_top, cx + th - 1, ground - leg_h,
             actor.shirt),
        ]
        if st.arms_up:
            ay1, ay2 = torso_top - d['arm_len'] + 1, torso_top + 1
        else:
            ay1, ay2 = torso_top + 1, torso_top + d['arm_len']
        parts += [('rect', cx - th - aw, ay1, cx - th - 1, ay2, actor.shirt),
                  ('rect', cx + th, ay1, cx + th + aw - 1, ay2, actor.shirt)]
        parts.append(('circle', cx, torso_top - r, r, actor.head))
        x1 = min(p[1] - p[3] if p[0] == 'circle' else p[1] for p in parts)
        y1 = min(p[2] - p[3] if p[0] == 'circle' else p[2] for p in parts)
        x2 = max(p[1] + p[3] if p[0] == 'circle' else p[3] for p in parts)
        y2 = max(p[2] + p[3] if p[0] == 'circle' else p[4] for p in parts)
        box = (x1 - 1, y1 - 1, x2 + 2, y2 + 2)  # outline, exclusive ends
        obj = None
        if st.hold:
            s, side = d['object'], actor.object_side
            if st.arms_up:  # held up: above the raised hand
                ax = cx + th + aw // 2 if side > 0 else cx - th - aw + aw // 2
                ox1 = ax - s // 2
                oy1 = ay1 - s + s // 4
            else:  # held low: beside the hand, mostly outside the box
                outer = cx + th + aw - 1 if side > 0 else cx - th - aw
                ox1 = outer - s // 4 if side > 0 else outer + s // 4 - s + 1
                oy1 = ay2 - s // 2
            obj = (ox1, oy1, ox1 + s - 1, oy1 + s - 1)
        return parts, box, obj

    def keyframe_box(self, a: int, slot: int) -> Tuple[int, int, int, int]:
        return self.geometry(a, self.keyframes[slot])[1]

    def render(self,
               f: int,
               actors: Optional[Sequence[int]] = None,
               draw_objects: bool = True,
               background: bool = True) -> np.ndarray:
        """Frame ``f`` as a BGR ``uint8`` image ``[H, W, 3]``."""
        return render_frame(self, f, actors, draw_objects, background)

    def annotation_rows(self) -> List[Tuple]:
        """AVA rows ``(video_id, ts, x1, y1, x2, y2, label, person_id)`` of
        the non-excluded keyframes (crossing: the actors in the frame)."""
        rows = []
        for slot, ts in enumerate(self.timestamps):
            if ts in self.excluded:
                continue
            for a, actor in enumerate(self.actors):
                box = self.visible_box(a, self.keyframes[slot])
                if box is None:  # crossing: out of the frame, no row
                    continue
                x1, y1, x2, y2 = box
                box = (x1 / self.width, y1 / self.height, x2 / self.width,
                       y2 / self.height)
                for label in self.labels(a, slot):
                    rows.append((self.video_id, ts) + box +
                                (label, actor.person_id))
        return rows


class EmptyVideo(SyntheticVideo):
    """A video with nobody in it: every keyframe is an empty keyframe.

    ``kind`` (:data:`EMPTY_KINDS`): ``'scene'`` a background as the other
    videos have; ``'uniform'`` one grey level ``255 u^2`` (``u`` uniform
    in [0, 1): black to white, dark levels more often) with fine grain;
    ``'dark'`` a scene darkened to 5-35 % of its
    brightness. Frames are still (nothing moves).
    """

    def __init__(self, video_id: str, settings: SyntheticAVASettings,
                 key_offset: int, rng: np.random.Generator, kind: str) -> None:
        if kind not in EMPTY_KINDS:
            raise ValueError(
                f'kind must be one of {EMPTY_KINDS}, got {kind!r}')
        self.kind = kind
        self._timeline(video_id, settings, settings.seconds_per_video,
                       key_offset, settings.timestamp_start)
        self.actors, self.states, self.excluded = [], [], []
        shape = (self.height, self.width, 3)
        if kind == 'uniform':
            level = 255 * rng.random()**2 + rng.normal(0, 3, size=shape)
            self.background = np.clip(level, 0, 255).astype(np.uint8)
            return
        scene = make_background(rng, self.height, self.width)
        if kind == 'dark':
            scene = (scene * rng.uniform(0.05, 0.35)).astype(np.uint8)
        self.background = scene


def empty_videos(settings: SyntheticAVASettings,
                 split: str) -> List[EmptyVideo]:
    """The ``num_empty_<split>_videos`` videos without persons of a split,
    ``syn_<split>_empty_<j>``, kinds :data:`EMPTY_KINDS` in turn (their own
    random stream: the split's other videos do not change)."""
    key_offset = ava_keyframe_file_index(
        settings.timestamp_start, settings.timestamp_start, settings.fps,
        settings.start_index) - settings.start_index
    return [
        EmptyVideo(f'syn_{split}_empty_{j:03d}', settings, key_offset,
                   _rng(settings.seed, f'{split}_empty', 0, j),
                   EMPTY_KINDS[j % len(EMPTY_KINDS)])
        for j in range(getattr(settings, f'num_empty_{split}_videos'))
    ]


def _rng(seed, split, attempt, index) -> np.random.Generator:
    return np.random.default_rng(
        np.random.SeedSequence([seed, _SPLIT_CODES[split], attempt, index]))


def build_split(settings: SyntheticAVASettings,
                split: str) -> Tuple[List[SyntheticVideo], int]:
    """The videos of a split, and the sampling attempt that was kept.

    Redrawn until every class occurs at a non-excluded keyframe (mmaction2
    1.2's ``AVAMetric`` fails under numpy 2 on a class without ground truth);
    ``per_video``: until the rarest class has half (crossing: a third) of the
    commonest's actors.
    """
    if split not in SPLITS:
        raise ValueError(f'split must be one of {SPLITS}, got {split!r}')
    num = getattr(settings, f'num_{split}_videos')
    # the 0-based frame that mmaction2 loads as the keyframe of timestamp_start
    key_offset = ava_keyframe_file_index(
        settings.timestamp_start, settings.timestamp_start, settings.fps,
        settings.start_index) - settings.start_index
    videos: List[SyntheticVideo] = []
    for attempt in range(50):
        videos = [
            SyntheticVideo(
                f'syn_{split}_{i:03d}',
                settings,
                seconds=settings.seconds_per_video,
                key_offset=key_offset,
                timestamp_start=settings.timestamp_start,
                rng=_rng(settings.seed, split, attempt, i),
                force_pair=(i % 2 == 1 or num == 1),
                exclude_prob=settings.exclude_prob) for i in range(num)
        ]
        if settings.actor_states == 'per_video':
            counts = state_class_counts(videos)
            # crossing scenes need walkers: walk is about twice as common
            share = 3 if settings.motion == 'crossing' else 2
            if min(counts.values()) >= max(counts.values()) // share:
                return videos, attempt
        elif not missing_classes(videos):
            return videos, attempt
    if settings.actor_states == 'per_video':
        msg = (f'synthetic tubes: the {split} split stays unbalanced (actors '
               f'per class {state_class_counts(videos)}); use more videos')
    else:
        msg = (f'synthetic AVA: the {split} split misses classes '
               f'{missing_classes(videos)}; use more or longer videos')
    print_log(msg, logger='current', level=logging.WARNING)
    return videos, attempt


def build_demo(settings: SyntheticAVASettings) -> SyntheticVideo:
    """The demo clip: 3 actors with a talking pair; the keyframe of second
    ``t`` is mp4 frame ``fps * t`` (0-based, timestamps start at 0)."""
    return SyntheticVideo(
        'syn_demo',
        settings,
        seconds=settings.demo_seconds,
        key_offset=0,
        timestamp_start=0,
        rng=_rng(settings.seed, 'demo', 0, 0),
        force_pair=True,
        num_actors=3)


def state_class(state: ActorState) -> str:
    """The one class of a state: its motion ``walk`` / ``jump``, else its
    posture ``stand`` / ``crouch`` (the tube data's classes)."""
    return state.motion if state.motion != 'still' else state.posture


def state_class_counts(videos: Sequence[SyntheticVideo]) -> Dict[str, int]:
    """Actors per :func:`state_class` of their first state."""
    counts = dict.fromkeys(('stand', 'crouch', 'walk', 'jump'), 0)
    for v in videos:
        for states in v.states:
            counts[state_class(states[0])] += 1
    return counts


def missing_classes(videos: Sequence[SyntheticVideo]) -> List[str]:
    seen = set()
    for v in videos:
        for slot, ts in enumerate(v.timestamps):
            if ts in v.excluded:
                continue
            for a in range(len(v.actors)):
                seen.update(v.labels(a, slot))
    return [c for c in CLASSES if LABEL_IDS[c] not in seen]
