"""A synthetic spatio-temporal action detection data set in the AVA layout.

No AVA data can be downloaded where this project is tested, so the quick
start trains and evaluates on data made here. The output is laid out exactly
like mmaction2's AVA data, so that the unchanged ``AVADataset`` /
``AVAMetric`` read it::

    <out_dir>/
        rawframes/<video_id>/img_00001.jpg ...   (1-based, as AVA)
        annotations/train.csv, val.csv           (AVA rows, no header)
        annotations/train_excluded_timestamps.csv, val_excluded_timestamps.csv
        annotations/label_map.pbtxt              (1-based ids)
        demo/demo.mp4, demo/demo_gt.csv          (a separate clip)
        meta.json                                (settings, classes, splits)

Scenes: a textured background and 1-3 person-like actors (head circle,
torso, legs, arms; outlined, in varied colours) that keep their identity
(``person_id``) for the whole video. Each actor gets, at every keyframe, a
multi-label set of actions from :data:`CLASSES`; what makes each class
visible is in :data:`CLASS_CUES`. Posture and arm classes are visible in one
frame, ``walk`` and ``jump`` only across frames (no leg animation, no ground
line), ``hold_object`` and ``talk_to`` only from pixels outside the person
box (the held object sticks out of the box; the partner is another actor).
``walk`` is direction-free on purpose: the reference pipeline flips clips
horizontally, which would swap a 'walk left' label with 'walk right'.

Timing. Keyframes are whole seconds ``timestamp_start + 1 ..
timestamp_start + seconds_per_video - 1``; the video has
``fps * seconds_per_video`` frames, which is the ``shot_info`` that
``AVADataset`` derives from ``timestamp_end = timestamp_start +
seconds_per_video``. mmaction2 1.2 centres a clip on frame file
``fps * (timestamp - timestamp_start) + 2 * start_index`` (see
:func:`stmixer_mm.datasets.ava_keyframe_file_index`); the boxes of a
timestamp are drawn in exactly that file. Actions change only between
keyframes (``fps // 2 + 1`` frames before each), so a clip of 8 frames x
interval 2 at the default 16 fps, training jitter included, sees one state
per actor. Excluded timestamps are keyframes left unannotated (no csv
rows), listed so that ``AVAMetric`` ignores detections there; they must not
have rows, because ``AVAMetric`` counts every ground-truth row of the csv,
excluded or not, in the recall.

Every video is drawn from its own random stream seeded by ``(seed, split,
attempt, index)``, so the output is a pure function of the settings.
"""
import json
import logging
import os
import os.path as osp
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmengine.logging import print_log
from mmengine.utils import track_iter_progress

from stmixer_mm.datasets.ava_dataset import ava_keyframe_file_index

#: Action classes; the AVA label id of ``CLASSES[i]`` is ``i + 1``.
CLASSES = ('stand', 'crouch', 'walk', 'jump', 'raise_arms', 'hold_object',
           'talk_to')

#: AVA ``label_type`` of each class, written to the label map.
LABEL_TYPES = dict(
    stand='PERSON_MOVEMENT',
    crouch='PERSON_MOVEMENT',
    walk='PERSON_MOVEMENT',
    jump='PERSON_MOVEMENT',
    raise_arms='PERSON_MOVEMENT',
    hold_object='OBJECT_MANIPULATION',
    talk_to='PERSON_INTERACTION')

#: What a model has to see to recognise each class.
CLASS_CUES = dict(
    stand='one frame: upright body, long legs (box about 10 units tall)',
    crouch='one frame: short torso, short wide legs, feet on the same '
    'ground (box about 7 units tall)',
    walk='motion: the body slides sideways by ~32 px/s (scaled with the '
    'frame height); no leg swing, so one frame cannot tell',
    jump='motion: the body bounces up to ~2.2 units, two bounces a '
    'second; no ground line, so one frame cannot tell',
    raise_arms='one frame: both arms point up above the head',
    hold_object='context: a yellow square at one hand, three quarters of '
    'it outside the person box',
    talk_to='context: another actor stands 2-5 px away, facing this one; '
    'other actors are always >= 10 px apart')

LABEL_IDS = {name: i + 1 for i, name in enumerate(CLASSES)}
FILENAME_TMPL = 'img_{:05d}.jpg'
SPLITS = ('train', 'val')
#: Values of :attr:`SyntheticAVASettings.actor_states`.
ACTOR_STATE_MODES = ('per_keyframe', 'per_video')
#: Values of :attr:`SyntheticAVASettings.jump_phase`.
JUMP_PHASES = ('start', 'random')
_SPLIT_CODES = dict(train=1, val=2, demo=3)
GENERATOR_VERSION = 1

# Colours are BGR (OpenCV). Shirts are saturated, never yellow (the held
# object's colour); the background is desaturated.
_SHIRTS = ((40, 40, 220), (220, 80, 40), (60, 170, 40), (200, 60, 200),
           (200, 200, 40), (150, 40, 120), (40, 110, 200), (120, 120, 240),
           (230, 150, 90), (90, 200, 140))
_PANTS = ((90, 40, 20), (50, 50, 50), (30, 50, 90), (80, 20, 70), (20, 70, 40),
          (110, 90, 70))
_SKINS = ((150, 180, 230), (110, 150, 200), (80, 110, 160), (60, 80, 120),
          (170, 200, 240))
_OBJECT = (0, 230, 255)
_OUTLINE = (20, 20, 20)


@dataclass(frozen=True)
class SyntheticAVASettings:
    """Every parameter of the generator (the output is a function of it)."""
    num_train_videos: int = 16
    num_val_videos: int = 4
    seconds_per_video: int = 12
    fps: int = 16
    width: int = 192
    height: int = 128
    min_actors: int = 1
    max_actors: int = 3
    timestamp_start: int = 900
    start_index: int = 1
    exclude_prob: float = 0.05
    demo_seconds: int = 8
    jpeg_quality: int = 90
    seed: int = 0
    #: ``'per_keyframe'`` (AVA): an actor may change its state at every
    #: keyframe; ``'per_video'`` (the tube benchmarks' trimmed clips, as
    #: JHMDB): each actor keeps one state, hence one tube class, for the
    #: whole video, drawn so that the four tube classes are about balanced.
    actor_states: str = 'per_keyframe'
    #: ``'start'`` (AVA): a jump starts on the ground, so with the same
    #: period every jumper is in the same phase at the same frame;
    #: ``'random'`` (tube data): each jump starts at a random phase.
    jump_phase: str = 'start'

    @property
    def timestamp_end(self) -> int:
        return self.timestamp_start + self.seconds_per_video

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad setting."""

        def need(ok, msg):
            if not ok:
                raise ValueError(f'synthetic AVA settings: {msg}')

        for name in ('num_train_videos', 'num_val_videos', 'seconds_per_video',
                     'fps', 'width', 'height', 'min_actors', 'max_actors',
                     'timestamp_start', 'start_index', 'demo_seconds',
                     'jpeg_quality', 'seed'):
            value = getattr(self, name)
            need(
                isinstance(value,
                           (int, np.integer)) and not isinstance(value, bool),
                f'{name} must be an int, got {value!r}')
        need(self.num_train_videos >= 1, 'num_train_videos must be >= 1')
        need(self.num_val_videos >= 1, 'num_val_videos must be >= 1')
        need(
            self.seconds_per_video >= 2,
            'seconds_per_video must be >= 2 (keyframes are the whole '
            'seconds strictly inside the video)')
        need(self.fps >= 4, 'fps must be >= 4')
        need(
            self.width >= 64 and self.height >= 64,
            f'frames must be at least 64x64, got {self.width}x'
            f'{self.height}')
        need(self.width >= self.height,
             'width must be >= height (actors stand side by side)')
        need(
            1 <= self.min_actors <= self.max_actors <= 3,
            'need 1 <= min_actors <= max_actors <= 3, got '
            f'{self.min_actors}, {self.max_actors}')
        need(self.timestamp_start >= 0, 'timestamp_start must be >= 0')
        need(
            self.start_index in (0, 1),
            'start_index must be 0 or 1 (AVA frames are 1-based)')
        need(0.0 <= self.exclude_prob < 1.0, 'exclude_prob must be in [0, 1)')
        need(self.demo_seconds >= 2, 'demo_seconds must be >= 2')
        need(1 <= self.jpeg_quality <= 100, 'jpeg_quality must be in [1, 100]')
        need(self.seed >= 0, 'seed must be >= 0')
        need(
            self.actor_states in ACTOR_STATE_MODES,
            f'actor_states must be one of {ACTOR_STATE_MODES}, got '
            f'{self.actor_states!r}')
        need(
            self.jump_phase in JUMP_PHASES,
            f'jump_phase must be one of {JUMP_PHASES}, got '
            f'{self.jump_phase!r}')


@dataclass(frozen=True)
class ActorState:
    """What one actor does between two slot boundaries."""
    posture: str  # 'stand' | 'crouch'
    motion: str  # 'still' | 'walk' | 'jump'
    arms_up: bool
    hold: bool


@dataclass
class Actor:
    """An actor's fixed look and place; sizes in pixels."""
    person_id: int
    unit: float
    ground: int  # image row of the soles
    x_lo: float  # range of the body centre
    x_hi: float
    x0: float
    facing: int  # +1 right, -1 left
    object_side: int
    partner: Optional[int]
    head: Tuple[int, int, int]
    shirt: Tuple[int, int, int]
    pants: Tuple[int, int, int]
    dims: Dict[str, int] = field(default_factory=dict)

    def __post_init__(self):
        u = self.unit
        self.dims = dict(
            head_r=max(3, round(1.0 * u)),
            torso_half=max(3, round(1.3 * u)),
            arm_w=max(2, round(0.7 * u)),
            arm_len=round(3.4 * u),
            leg_half_gap=max(1, round(0.25 * u)),
            leg_w=max(2, round(1.0 * u)),
            leg_w_crouch=max(3, round(1.5 * u)),
            leg_h=round(4.0 * u),
            leg_h_crouch=round(1.8 * u),
            torso_h=round(3.8 * u),
            torso_h_crouch=round(3.2 * u),
            object=max(4, round(1.8 * u)))

    @property
    def half_extent(self) -> int:
        """Half width of the body box (arms and outline included)."""
        return self.dims['torso_half'] + self.dims['arm_w'] + 1

    @property
    def object_extent(self) -> int:
        """Distance from the centre to the far edge of a held object."""
        d = self.dims
        return d['torso_half'] + d['arm_w'] + d['object'] - d['object'] // 4


class SyntheticVideo:
    """One generated video: its actors, their per-frame motion, the frames.

    Frame ``f`` (0-based) is written as file ``f + start_index``; the
    keyframe of timestamp ``ts`` is frame ``fps * (ts - timestamp_start) +
    key_offset``.
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
        self.video_id = video_id
        self.width = settings.width
        self.height = settings.height
        self.fps = settings.fps
        self.jump_phase = settings.jump_phase
        self.seconds = seconds
        self.timestamp_start = timestamp_start
        self.key_offset = key_offset
        self.num_frames = self.fps * seconds
        self.timestamps = [timestamp_start + s for s in range(1, seconds)]
        self.keyframes = [self.keyframe_index(ts) for ts in self.timestamps]
        self.background = _make_background(rng, self.height, self.width)
        if num_actors is None:
            num_actors = int(
                rng.integers(settings.min_actors, settings.max_actors + 1))
        if force_pair:
            num_actors = max(num_actors, 2)
        self.actors = self._place_actors(rng, num_actors, force_pair)
        self.slot_of_frame = self._slots()
        sample = self._sample_states \
            if settings.actor_states == 'per_keyframe' \
            else self._sample_video_state
        self.states = [sample(rng, a) for a in self.actors]
        self.xs, self.y_offsets = self._trajectories(rng)
        self.excluded = [
            ts for ts in self.timestamps if rng.random() < exclude_prob
        ]

    # -- layout ------------------------------------------------------------
    def keyframe_index(self, timestamp: int) -> int:
        return self.fps * (timestamp - self.timestamp_start) + self.key_offset

    def _place_actors(self, rng, num_actors, force_pair) -> List[Actor]:
        scale = self.height / 128.0
        units = [
            float(rng.uniform(4.6, 5.6)) * scale for _ in range(num_actors)
        ]
        pair = (0, 1) if force_pair else None
        # groups of actors standing side by side: the pair shares one lane
        groups = [[0, 1]] + [[i] for i in range(2, num_actors)] \
            if pair else [[i] for i in range(num_actors)]
        order = rng.permutation(len(groups))
        groups = [groups[i] for i in order]
        weights = np.array([1.7 if len(g) == 2 else 1.0 for g in groups])
        edges = np.concatenate([[0.0], np.cumsum(weights)]) / weights.sum() \
            * self.width
        margin = 5.0 * scale
        actors: List[Optional[Actor]] = [None] * num_actors
        for g, lo, hi in zip(groups, edges[:-1], edges[1:]):
            if len(g) == 1:
                actors[g[0]] = self._single(rng, g[0], units[g[0]], lo, hi,
                                            margin)
            else:
                a, b = self._pair(rng, g, units, lo, hi, margin)
                actors[g[0]], actors[g[1]] = a, b
        return actors

    def _look(self, rng):
        return dict(
            head=_SKINS[rng.integers(len(_SKINS))],
            shirt=_SHIRTS[rng.integers(len(_SHIRTS))],
            pants=_PANTS[rng.integers(len(_PANTS))])

    def _ground(self, rng, unit):
        top_room = round(10.0 * unit + 1.4 * unit + 2.2 * unit) + 4
        lo = max(int(0.75 * self.height), top_room)
        return int(rng.integers(lo, self.height - 2))

    def _single(self, rng, pid, unit, lo, hi, margin) -> Actor:
        facing = int(rng.choice([-1, 1]))
        actor = Actor(
            person_id=pid,
            unit=unit,
            ground=0,
            x_lo=0,
            x_hi=0,
            x0=0,
            facing=facing,
            object_side=facing,
            partner=None,
            **self._look(rng))
        actor.ground = self._ground(rng, unit)
        reach = actor.object_extent + margin
        x_lo, x_hi = lo + reach, hi - reach
        if x_hi < x_lo:  # lane too narrow to walk: stand in its middle
            x_lo = x_hi = (lo + hi) / 2
        actor.x_lo, actor.x_hi = x_lo, x_hi
        actor.x0 = float(rng.uniform(x_lo, x_hi))
        return actor

    def _pair(self, rng, ids, units, lo, hi, margin) -> Tuple[Actor, Actor]:
        gap = int(rng.integers(2, 6))
        ground = self._ground(rng, max(units[ids[0]], units[ids[1]]))
        left = Actor(
            person_id=ids[0],
            unit=units[ids[0]],
            ground=ground,
            x_lo=0,
            x_hi=0,
            x0=0,
            facing=1,
            object_side=-1,
            partner=ids[1],
            **self._look(rng))
        right = Actor(
            person_id=ids[1],
            unit=units[ids[1]],
            ground=ground - int(rng.integers(-2, 3)),
            x_lo=0,
            x_hi=0,
            x0=0,
            facing=-1,
            object_side=1,
            partner=ids[0],
            **self._look(rng))
        right.ground = min(right.ground, self.height - 3)
        span = left.object_extent + left.half_extent + gap \
            + right.half_extent + right.object_extent
        free = hi - lo - span
        if free >= 2 * margin:
            start = lo + margin + float(rng.uniform(0, free - 2 * margin))
        else:
            start = lo + max(0.0, free / 2)
        cl = round(start + left.object_extent)
        # the boxes span [c - half_extent, c + half_extent), so the gap
        # between them is cr - half_r - (cl + half_l)
        cr = cl + left.half_extent + gap + right.half_extent
        for actor, c in ((left, cl), (right, cr)):
            actor.x_lo = actor.x_hi = actor.x0 = float(c)
        return left, right

    def _slots(self) -> np.ndarray:
        """Slot ``i`` (the state of keyframe ``i``) starts at frame
        ``keyframe_i - fps // 2 - 1``: ``SampleAVAFrames`` takes
        ``clip_len // 2 * interval`` frames before the keyframe but one
        interval fewer after it, and its training jitter moves frames back
        by up to ``interval // 2``; an 8 x 2 clip at 16 fps (frames kf - 9
        .. kf + 6) then lies in one slot."""
        slot = np.zeros(self.num_frames, dtype=np.int64)
        lead = self.fps // 2 + 1
        for i, kf in enumerate(self.keyframes[1:], start=1):
            slot[max(0, kf - lead):] = i
        return slot

    # -- behaviour ---------------------------------------------------------
    def _sample_states(self, rng, actor: Actor) -> List[ActorState]:
        can_walk = actor.partner is None and actor.x_hi - actor.x_lo >= 8
        states, prev = [], None
        for _ in self.keyframes:
            if prev is not None and rng.random() < 0.4:
                states.append(prev)
                continue
            if can_walk:
                motion = rng.choice(['still', 'walk', 'jump'],
                                    p=[0.35, 0.4, 0.25])
            else:
                motion = rng.choice(['still', 'jump'], p=[0.6, 0.4])
            posture = 'crouch' if (motion == 'still'
                                   and rng.random() < 0.4) else 'stand'
            prev = ActorState(
                posture=posture,
                motion=str(motion),
                arms_up=bool(rng.random() < 0.3),
                hold=bool(rng.random() < 0.35))
            states.append(prev)
        return states

    def _sample_video_state(self, rng, actor: Actor) -> List[ActorState]:
        """One state for the whole video (``actor_states='per_video'``).

        The tube class (``walk`` / ``jump`` from the motion, else the
        posture ``stand`` / ``crouch``) is drawn so that the four classes
        are about equally frequent: only actors without a partner can walk
        (they have a lane), and about half of the actors have one, so a
        walker walks with probability 1/2 and every other choice is
        uniform. Arms and held object are drawn as in ``'per_keyframe'``.
        """
        if actor.partner is None and actor.x_hi - actor.x_lo >= 8:
            cls = rng.choice(['walk', 'stand', 'crouch', 'jump'],
                             p=[0.5, 1 / 6, 1 / 6, 1 / 6])
        else:
            cls = rng.choice(['stand', 'crouch', 'jump'])
        motion = str(cls) if cls in ('walk', 'jump') else 'still'
        state = ActorState(
            posture='crouch' if cls == 'crouch' else 'stand',
            motion=motion,
            arms_up=bool(rng.random() < 0.3),
            hold=bool(rng.random() < 0.35))
        return [state] * len(self.keyframes)

    def _trajectories(self, rng) -> Tuple[np.ndarray, np.ndarray]:
        num = len(self.actors)
        xs = np.zeros((num, self.num_frames))
        ys = np.zeros((num, self.num_frames), dtype=np.int64)
        speed = 32.0 * self.height / 128.0 / self.fps
        period = max(2, self.fps // 2)
        for a, actor in enumerate(self.actors):
            x, direction, phase, last = actor.x0, 1, 0, None
            for f in range(self.num_frames):
                state = self.states[a][self.slot_of_frame[f]]
                if state.motion == 'walk':
                    if last is None or last.motion != 'walk':
                        direction = int(rng.choice([-1, 1]))
                    x += direction * speed
                    if x > actor.x_hi:
                        x, direction = 2 * actor.x_hi - x, -1
                    if x < actor.x_lo:
                        x, direction = 2 * actor.x_lo - x, 1
                    x = min(max(x, actor.x_lo), actor.x_hi)
                if state.motion == 'jump':
                    if last is None or last.motion != 'jump':
                        phase = 0 if self.jump_phase == 'start' else int(
                            rng.integers(period))
                    ys[a, f] = -round(
                        2.2 * actor.unit * _hop(phase % period, period))
                    phase += 1
                xs[a, f] = x
                last = state
        return xs, ys

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

    # -- drawing -----------------------------------------------------------
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
        if background:
            img = self.background.copy()
        else:
            img = np.zeros_like(self.background)
        ids = range(len(self.actors)) if actors is None else actors
        for a in sorted(ids, key=lambda i: self.actors[i].ground):
            parts, _, obj = self.geometry(a, f)
            for p in parts:  # outlines first, then fills
                _draw(img, p, outline=True)
            for p in parts:
                _draw(img, p, outline=False)
            eye_r = max(1, self.actors[a].dims['head_r'] // 3)
            head = parts[-1]
            ex = head[1] + self.actors[a].facing * (head[3] // 2)
            cv2.circle(img, (ex, head[2] - 1), eye_r, _OUTLINE, -1)
            if draw_objects and obj is not None:
                cv2.rectangle(img, (obj[0] - 1, obj[1] - 1),
                              (obj[2] + 1, obj[3] + 1), _OUTLINE, -1)
                cv2.rectangle(img, obj[:2], obj[2:], _OBJECT, -1)
        return img

    def annotation_rows(self) -> List[Tuple]:
        """AVA rows ``(video_id, ts, x1, y1, x2, y2, label, person_id)`` of
        the keyframes that are not excluded."""
        rows = []
        for slot, ts in enumerate(self.timestamps):
            if ts in self.excluded:
                continue
            for a, actor in enumerate(self.actors):
                x1, y1, x2, y2 = self.keyframe_box(a, slot)
                box = (x1 / self.width, y1 / self.height, x2 / self.width,
                       y2 / self.height)
                for label in self.labels(a, slot):
                    rows.append((self.video_id, ts) + box +
                                (label, actor.person_id))
        return rows


def _hop(phase: int, period: int) -> float:
    """Height (0..1) of a hop: on the ground, up, hanging, down.

    A trapezoid rather than a sine, so that frames sampled every other
    frame see the whole height whatever the phase (period 8: 0, 0, .5, 1,
    1, 1, .5, 0).
    """
    tri = 1.0 - abs(2.0 * phase / period - 1.0)
    return min(1.0, max(0.0, 2.0 * tri - 0.5))


def _draw(img, part, outline):
    colour = _OUTLINE if outline else part[-1]
    grow = 1 if outline else 0
    if part[0] == 'rect':
        _, x1, y1, x2, y2, _ = part
        cv2.rectangle(img, (x1 - grow, y1 - grow), (x2 + grow, y2 + grow),
                      colour, -1)
    else:
        _, cx, cy, r, _ = part
        cv2.circle(img, (cx, cy), r + grow, colour, -1)


def _make_background(rng, height, width) -> np.ndarray:
    """Muted wall and floor, low-frequency blotches, fine grain, props."""
    hsv = np.array(
        [[[rng.integers(0, 180),
           rng.integers(10, 50),
           rng.integers(110, 170)]]],
        dtype=np.uint8)
    wall = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)
    hsv[0, 0, 2] = max(60, int(hsv[0, 0, 2]) - int(rng.integers(25, 50)))
    floor = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)
    horizon = int(rng.uniform(0.45, 0.6) * height)
    img = np.empty((height, width, 3), np.float32)
    img[:horizon] = wall
    img[horizon:] = floor
    grid = (height // 16 + 2, width // 16 + 2)
    coarse = rng.normal(0, 11, size=grid + (1, )) \
        + rng.normal(0, 4, size=grid + (3, ))
    img += cv2.resize(
        coarse.astype(np.float32), (width, height),
        interpolation=cv2.INTER_CUBIC)
    img += rng.normal(0, 4, size=img.shape).astype(np.float32)
    for _ in range(int(rng.integers(0, 3))):  # furniture: headless blocks
        w = int(rng.integers(width // 12, width // 5))
        h = int(rng.integers(height // 8, height // 3))
        x = int(rng.integers(0, width - w))
        y = int(rng.integers(max(0, horizon - h), horizon))
        tone = wall + rng.normal(0, 18, size=3)
        img[y:y + h, x:x + w] = 0.6 * img[y:y + h, x:x + w] + 0.4 * tone
    return np.clip(img, 0, 255).astype(np.uint8)


def _rng(seed, split, attempt, index) -> np.random.Generator:
    return np.random.default_rng(
        np.random.SeedSequence([seed, _SPLIT_CODES[split], attempt, index]))


def build_split(settings: SyntheticAVASettings,
                split: str) -> Tuple[List[SyntheticVideo], int]:
    """The videos of a split, and the sampling attempt that was kept.

    Every second video holds a talking pair (the only one when the split has
    a single video). Splits are redrawn (attempt 1, 2, ...) until every
    class occurs at a non-excluded keyframe, because ``AVAMetric`` of
    mmaction2 1.2 fails under numpy 2 on a class that is predicted but has
    no ground truth. With ``actor_states='per_video'`` (tube data) they are
    redrawn instead until the actors per :func:`state_class` are balanced:
    the rarest class has at least half (rounded down) of the actors of the
    commonest.
    """
    if split not in SPLITS:
        raise ValueError(f'split must be one of {SPLITS}, got {split!r}')
    settings.validate()
    num = (
        settings.num_train_videos
        if split == 'train' else settings.num_val_videos)
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
            if min(counts.values()) >= max(counts.values()) // 2:
                return videos, attempt
        elif not missing_classes(videos):
            return videos, attempt
    if settings.actor_states == 'per_video':
        print_log(f'synthetic tubes: the {split} split stays unbalanced '
                  f'(actors per class {state_class_counts(videos)}); '
                  'use more videos', logger='current', level=logging.WARNING)
    else:
        print_log(f'synthetic AVA: the {split} split misses classes '
                  f'{missing_classes(videos)}; use more or longer videos',
                  logger='current', level=logging.WARNING)
    return videos, attempt


def build_demo(settings: SyntheticAVASettings) -> SyntheticVideo:
    """The demo clip: 3 actors with a talking pair; the keyframe of second
    ``t`` is mp4 frame ``fps * t`` (0-based, timestamps start at 0)."""
    settings.validate()
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


def state_class_counts(
        videos: Sequence[SyntheticVideo]) -> Dict[str, int]:
    """Actors per :func:`state_class` of their first state, over
    ``videos``: ``{stand, crouch, walk, jump: count}``."""
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


def _write_rows(path, rows):
    with open(path, 'w') as f:
        for vid, ts, x1, y1, x2, y2, label, pid in rows:
            f.write(f'{vid},{ts:04d},{x1:.3f},{y1:.3f},{x2:.3f},{y2:.3f},'
                    f'{label},{pid}\n')


def write_label_map(path: str) -> None:
    """An AVA label map (``label {name, label_id, label_type}``)."""
    with open(path, 'w') as f:
        for name in CLASSES:
            f.write(f'label {{\n  name: "{name}"\n  label_id: '
                    f'{LABEL_IDS[name]}\n  label_type: {LABEL_TYPES[name]}'
                    '\n}\n')


def write_video_frames(video: SyntheticVideo, frame_dir: str, start_index: int,
                       jpeg_quality: int) -> None:
    os.makedirs(frame_dir, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality]
    for f in range(video.num_frames):
        path = osp.join(frame_dir, FILENAME_TMPL.format(f + start_index))
        if not cv2.imwrite(path, video.render(f), params):
            raise OSError(f'could not write frame {path}')


def write_demo_video(video: SyntheticVideo, path: str) -> int:
    """Write ``video`` as mp4 ('mp4v'); check it reads back frame by frame.

    Returns:
        int: the number of frames read back.
    """
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), video.fps,
                             (video.width, video.height))
    if not writer.isOpened():
        raise RuntimeError(
            f'OpenCV cannot open an mp4v VideoWriter for {path}; this '
            'OpenCV build lacks an MPEG-4 encoder')
    for f in range(video.num_frames):
        writer.write(video.render(f))
    writer.release()
    read = count_video_frames(path)
    if read != video.num_frames:
        raise RuntimeError(f'{path}: wrote {video.num_frames} frames but '
                           f'cv2.VideoCapture reads back {read}')
    return read


def count_video_frames(path: str) -> int:
    """Frames that ``cv2.VideoCapture`` decodes from ``path``."""
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise RuntimeError(f'cv2.VideoCapture cannot open {path}')
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


def _paths(root: str) -> Dict[str, str]:
    ann = osp.join(root, 'annotations')
    return dict(
        root=root,
        rawframes=osp.join(root, 'rawframes'),
        annotations=ann,
        train_ann=osp.join(ann, 'train.csv'),
        val_ann=osp.join(ann, 'val.csv'),
        train_exclude=osp.join(ann, 'train_excluded_timestamps.csv'),
        val_exclude=osp.join(ann, 'val_excluded_timestamps.csv'),
        label_map=osp.join(ann, 'label_map.pbtxt'),
        demo_video=osp.join(root, 'demo', 'demo.mp4'),
        demo_ann=osp.join(root, 'demo', 'demo_gt.csv'),
        meta=osp.join(root, 'meta.json'))


MANIFEST = 'manifest.txt'


def _file_states(out_dir: str) -> Dict[str, Tuple[int, int, int]]:
    """``{relative path: (inode, size, mtime_ns)}`` of the files under
    ``out_dir``."""
    states = {}
    for root, _, names in os.walk(out_dir):
        for name in names:
            full = osp.join(root, name)
            st = os.stat(full)
            states[osp.relpath(full, out_dir)] = (st.st_ino, st.st_size,
                                                  st.st_mtime_ns)
    return states


def _write_manifest(out_dir: str,
                    before: Dict[str, Tuple[int, int, int]]) -> str:
    """List (relative paths, one a line) the files under ``out_dir`` that
    are new or changed since ``before`` (:func:`_file_states` taken before
    the first write), the manifest included: what ``overwrite`` may delete
    later."""
    path = osp.join(out_dir, MANIFEST)
    with open(path, 'w'):
        pass  # the manifest lists itself
    files = [
        rel for rel, state in _file_states(out_dir).items()
        if before.get(rel) != state
    ]
    with open(path, 'w') as f:
        f.write(''.join(f'{rel}\n' for rel in sorted(files)))
    return path


def _remove_generated(out_dir: str) -> int:
    """Delete the files listed in ``out_dir``'s manifest, then the folders
    they leave empty; anything else stays. Returns the number removed."""
    path = osp.join(out_dir, MANIFEST)
    if not osp.isfile(path):
        raise FileExistsError(
            f'{out_dir} has no {MANIFEST} (a set written by an older '
            'generator, an interrupted run or other data), so which files '
            'the generator wrote is unknown and nothing is deleted; remove '
            'rawframes/, annotations/, demo/ and meta.json yourself, or '
            'pick another --out-dir')
    root = osp.realpath(out_dir)
    with open(path) as f:
        rels = [line.rstrip('\n') for line in f if line.strip()]
    folders, removed = set(), 0
    for rel in rels:
        full = osp.realpath(osp.join(root, rel))
        if not full.startswith(root + os.sep):
            raise ValueError(f'{path}: {rel!r} is outside {out_dir}')
        if osp.isfile(full) or osp.islink(full):
            os.remove(full)
            removed += 1
        parent = osp.dirname(full)
        while parent != root and parent.startswith(root + os.sep):
            folders.add(parent)
            parent = osp.dirname(parent)
    if osp.exists(path):
        os.remove(path)
    for folder in sorted(folders, key=len, reverse=True):
        if osp.isdir(folder) and not os.listdir(folder):
            os.rmdir(folder)
    return removed


def generate_synthetic_ava(out_dir: str,
                           num_train_videos: int = 16,
                           num_val_videos: int = 4,
                           seconds_per_video: int = 12,
                           fps: int = 16,
                           width: int = 192,
                           height: int = 128,
                           min_actors: int = 1,
                           max_actors: int = 3,
                           timestamp_start: int = 900,
                           start_index: int = 1,
                           exclude_prob: float = 0.05,
                           demo_seconds: int = 8,
                           write_demo: bool = True,
                           jpeg_quality: int = 90,
                           seed: int = 0,
                           overwrite: bool = False,
                           actor_states: str = 'per_keyframe',
                           jump_phase: str = 'start') -> Dict[str, str]:
    """Generate the synthetic AVA-format data set under ``out_dir``.

    The defaults are the quick-start size (16 + 4 videos of 12 s, 11
    keyframes each, 192x128 at 16 fps). Configure ``AVADataset`` with
    ``fps=fps``, ``timestamp_start=timestamp_start``, ``timestamp_end =
    timestamp_start + seconds_per_video``, ``start_index=start_index`` and
    ``num_classes=len(CLASSES) + 1`` (``configs/_base_/datasets/
    synthetic_ava.py`` matches the defaults).

    If ``out_dir/meta.json`` exists and records the same settings, nothing
    is regenerated. With other settings a ``FileExistsError`` is raised
    unless ``overwrite``. Every run lists the files it wrote in
    ``out_dir/manifest.txt``; ``overwrite`` deletes exactly those (and the
    folders they leave empty), so files of others in ``rawframes/``,
    ``annotations/``, ``demo/`` or ``out_dir`` stay (new files of the same
    names replace them). Without a manifest nothing is deleted: the call
    raises ``FileExistsError``.

    ``actor_states='per_video'`` keeps every actor in one state for the
    whole video (the tube data, :mod:`stmixer_mm.data_gen.synthetic_tubes`);
    the default ``'per_keyframe'`` is the AVA set. ``jump_phase='random'``
    starts every jump at a random phase of the hop (the tube data).

    Returns:
        dict: paths ``root``, ``rawframes``, ``annotations``, ``train_ann``,
        ``val_ann``, ``train_exclude``, ``val_exclude``, ``label_map``,
        ``meta`` and, with ``write_demo``, ``demo_video`` and ``demo_ann``.
    """
    settings = SyntheticAVASettings(
        num_train_videos=num_train_videos,
        num_val_videos=num_val_videos,
        seconds_per_video=seconds_per_video,
        fps=fps,
        width=width,
        height=height,
        min_actors=min_actors,
        max_actors=max_actors,
        timestamp_start=timestamp_start,
        start_index=start_index,
        exclude_prob=exclude_prob,
        demo_seconds=demo_seconds,
        jpeg_quality=jpeg_quality,
        seed=seed,
        actor_states=actor_states,
        jump_phase=jump_phase)
    settings.validate()
    paths = _paths(out_dir)
    if not write_demo:
        paths.pop('demo_video')
        paths.pop('demo_ann')
    wanted = dict(
        asdict(settings),
        write_demo=write_demo,
        generator_version=GENERATOR_VERSION)
    if actor_states == 'per_keyframe':
        # recorded only when not the default, so that meta.json of an AVA
        # set (and the reuse check of sets made before the field existed)
        # stays as it was
        wanted.pop('actor_states')
    if jump_phase == 'start':
        wanted.pop('jump_phase')  # the same, for sets made before it
    owned = [
        paths['rawframes'], paths['annotations'],
        osp.join(out_dir, 'demo'), paths['meta']
    ]
    if osp.exists(paths['meta']) and not overwrite:
        with open(paths['meta']) as f:
            have = json.load(f).get('settings')
        if have == wanted:
            return paths
        raise FileExistsError(
            f'{out_dir} holds a synthetic AVA set made with other settings '
            f'({paths["meta"]}); pass overwrite=True (--overwrite) to '
            'replace it')
    if not overwrite and any(osp.exists(p) for p in owned):
        raise FileExistsError(
            f'{out_dir} has rawframes/, annotations/ or demo/ but no '
            'meta.json (an interrupted run or other data); pass '
            'overwrite=True (--overwrite) to replace them')
    if any(osp.exists(p) for p in owned):
        _remove_generated(out_dir)  # overwrite: only what the manifest lists
    before = _file_states(out_dir) if osp.isdir(out_dir) else {}

    os.makedirs(paths['annotations'], exist_ok=True)
    write_label_map(paths['label_map'])
    splits, stats = {}, {}
    for split in SPLITS:
        videos, attempt = build_split(settings, split)
        rows, excluded = [], []
        # mmengine's progress bar (one tick per video written)
        for v in track_iter_progress(videos):
            write_video_frames(v, osp.join(paths['rawframes'], v.video_id),
                               settings.start_index, settings.jpeg_quality)
            rows += v.annotation_rows()
            excluded += [(v.video_id, ts) for ts in v.excluded]
        _write_rows(paths[f'{split}_ann'], rows)
        with open(paths[f'{split}_exclude'], 'w') as f:
            for vid, ts in excluded:
                f.write(f'{vid},{ts:04d}\n')
        splits[split] = [v.video_id for v in videos]
        stats[split] = dict(
            videos=len(videos),
            keyframes=sum(len(v.timestamps) - len(v.excluded) for v in videos),
            excluded_keyframes=len(excluded),
            boxes=sum((len(v.timestamps) - len(v.excluded)) * len(v.actors)
                      for v in videos),
            label_rows=len(rows),
            per_class={
                c: sum(1 for r in rows if r[6] == LABEL_IDS[c])
                for c in CLASSES
            },
            attempt=attempt)
    demo_info = None
    if write_demo:
        demo_info = dict(
            video='demo/demo.mp4',
            annotations='demo/demo_gt.csv',
            keyframe='mp4 frame fps * timestamp (0-based)',
            frames=settings.fps * settings.demo_seconds)
        demo = build_demo(settings)
        write_demo_video(demo, paths['demo_video'])
        _write_rows(paths['demo_ann'], demo.annotation_rows())
    meta = dict(
        settings=wanted,
        classes=list(CLASSES),
        class_cues=CLASS_CUES,
        num_classes=len(CLASSES) + 1,
        fps=settings.fps,
        timestamp_start=settings.timestamp_start,
        timestamp_end=settings.timestamp_end,
        start_index=settings.start_index,
        filename_tmpl=FILENAME_TMPL,
        frames_per_video=settings.fps * settings.seconds_per_video,
        frame_size_wh=[settings.width, settings.height],
        keyframe_file_index='fps * (timestamp - timestamp_start) + '
        '2 * start_index  (mmaction2 1.2 SampleAVAFrames + RawFrameDecode)',
        demo=demo_info,
        splits=splits,
        stats=stats)
    with open(paths['meta'], 'w') as f:
        json.dump(meta, f, indent=1)
    _write_manifest(out_dir, before)
    return paths
