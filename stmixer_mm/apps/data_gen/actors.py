"""Synthetic actors: look, place, states and motion. Every function draws from
the given random stream in a fixed order: a video is a function of its seed."""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

# BGR (OpenCV); shirts never yellow (the held object's colour, OBJECT_COLOUR)
SHIRTS = ((40, 40, 220), (220, 80, 40), (60, 170, 40), (200, 60, 200),
          (200, 200, 40), (150, 40, 120), (40, 110, 200), (120, 120, 240),
          (230, 150, 90), (90, 200, 140))
PANTS = ((90, 40, 20), (50, 50, 50), (30, 50, 90), (80, 20, 70), (20, 70, 40),
         (110, 90, 70))
SKINS = ((150, 180, 230), (110, 150, 200), (80, 110, 160), (60, 80, 120),
         (170, 200, 240))


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
    facing: int  # +1 right, -1 left
    object_side: int
    partner: Optional[int]
    head: Tuple[int, int, int]
    shirt: Tuple[int, int, int]
    pants: Tuple[int, int, int]
    ground: int = 0  # image row of the soles
    x_lo: float = 0  # range of the body centre
    x_hi: float = 0
    x0: float = 0
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


# -- layout ----------------------------------------------------------------
def place_actors(rng: np.random.Generator, num_actors: int, force_pair: bool,
                 width: int, height: int) -> List[Actor]:
    """``num_actors`` actors in lanes across a ``width`` x ``height`` frame;
    with ``force_pair`` actors 0 and 1 are a talking pair in one lane."""
    scale = height / 128.0
    units = [float(rng.uniform(4.6, 5.6)) * scale for _ in range(num_actors)]
    # groups of actors standing side by side: the pair shares one lane
    groups = [[0, 1]] + [[i] for i in range(2, num_actors)] \
        if force_pair else [[i] for i in range(num_actors)]
    order = rng.permutation(len(groups))
    groups = [groups[i] for i in order]
    weights = np.array([1.7 if len(g) == 2 else 1.0 for g in groups])
    edges = np.concatenate([[0.0], np.cumsum(weights)]) / weights.sum() \
        * width
    margin = 5.0 * scale
    actors: List[Optional[Actor]] = [None] * num_actors
    for g, lo, hi in zip(groups, edges[:-1], edges[1:]):
        if len(g) == 1:
            actors[g[0]] = _single(rng, g[0], units[g[0]], lo, hi, margin,
                                   height)
        else:
            a, b = _pair(rng, g, units, lo, hi, margin, height)
            actors[g[0]], actors[g[1]] = a, b
    return actors


def _actor(rng, pid, unit, facing, object_side, partner=None, ground=0):
    """An actor of random look (drawn after the arguments)."""
    look = [c[rng.integers(len(c))] for c in (SKINS, SHIRTS, PANTS)]
    return Actor(pid, unit, facing, object_side, partner, *look, ground)


def _ground(rng, unit, height):
    top_room = round(10.0 * unit + 1.4 * unit + 2.2 * unit) + 4
    lo = max(int(0.75 * height), top_room)
    return int(rng.integers(lo, height - 2))


def _single(rng, pid, unit, lo, hi, margin, height) -> Actor:
    facing = int(rng.choice([-1, 1]))
    actor = _actor(rng, pid, unit, facing, facing)
    actor.ground = _ground(rng, unit, height)
    reach = actor.object_extent + margin
    x_lo, x_hi = lo + reach, hi - reach
    if x_hi < x_lo:  # lane too narrow to walk: stand in its middle
        x_lo = x_hi = (lo + hi) / 2
    actor.x_lo, actor.x_hi = x_lo, x_hi
    actor.x0 = float(rng.uniform(x_lo, x_hi))
    return actor


def _pair(rng, ids, units, lo, hi, margin, height) -> Tuple[Actor, Actor]:
    gap = int(rng.integers(2, 6))
    ground = _ground(rng, max(units[ids[0]], units[ids[1]]), height)
    left = _actor(rng, ids[0], units[ids[0]], 1, -1, ids[1], ground)
    right = _actor(rng, ids[1], units[ids[1]], -1, 1, ids[0],
                   ground - int(rng.integers(-2, 3)))
    right.ground = min(right.ground, height - 3)
    span = left.object_extent + left.half_extent + gap \
        + right.half_extent + right.object_extent
    free = hi - lo - span
    if free >= 2 * margin:
        start = lo + margin + float(rng.uniform(0, free - 2 * margin))
    else:
        start = lo + max(0.0, free / 2)
    cl = round(start + left.object_extent)
    # boxes span [c - half, c + half): the gap is cr - half_r - (cl + half_l)
    cr = cl + left.half_extent + gap + right.half_extent
    for actor, c in ((left, cl), (right, cr)):
        actor.x_lo = actor.x_hi = actor.x0 = float(c)
    return left, right


# -- behaviour -------------------------------------------------------------
def _can_walk(actor: Actor) -> bool:
    return actor.partner is None and actor.x_hi - actor.x_lo >= 8


def _arms_and_hold(rng: np.random.Generator) -> dict:
    return dict(
        arms_up=bool(rng.random() < 0.3), hold=bool(rng.random() < 0.35))


def class_state(rng: np.random.Generator, cls: str) -> ActorState:
    """A state of tube class ``cls`` (:func:`~.scene.state_class`), arms up
    and holding an object at random."""
    return _state_of(cls, **_arms_and_hold(rng))


def _state_of(cls: str, arms_up: bool, hold: bool) -> ActorState:
    return ActorState('crouch' if cls == 'crouch' else 'stand',
                      cls if cls in ('walk', 'jump') else 'still', arms_up,
                      hold)


def sample_states(rng: np.random.Generator, actor: Actor,
                  num_slots: int) -> List[ActorState]:
    """A state per keyframe slot (``actor_states='per_keyframe'``, AVA),
    the previous one kept with probability 0.4."""
    can_walk = _can_walk(actor)
    states, prev = [], None
    for _ in range(num_slots):
        if prev is not None and rng.random() < 0.4:
            states.append(prev)
            continue
        if can_walk:
            motion = rng.choice(['still', 'walk', 'jump'], p=[0.35, 0.4, 0.25])
        else:
            motion = rng.choice(['still', 'jump'], p=[0.6, 0.4])
        posture = 'crouch' if (motion == 'still'
                               and rng.random() < 0.4) else 'stand'
        prev = ActorState(posture, str(motion), **_arms_and_hold(rng))
        states.append(prev)
    return states


def sample_video_state(rng: np.random.Generator, actor: Actor,
                       num_slots: int) -> List[ActorState]:
    """One state for the whole video (``actor_states='per_video'``) per slot.
    Only about half the actors can walk, so they walk with probability 1/2:
    the four classes come out about equally frequent."""
    if _can_walk(actor):
        cls = rng.choice(['walk', 'stand', 'crouch', 'jump'],
                         p=[0.5, 1 / 6, 1 / 6, 1 / 6])
    else:
        cls = rng.choice(['stand', 'crouch', 'jump'])
    return [class_state(rng, str(cls))] * num_slots


def trajectories(rng: np.random.Generator, actors: Sequence[Actor],
                 states: Sequence[Sequence[ActorState]],
                 slot_of_frame: np.ndarray, fps: int, height: int,
                 jump_phase: str) -> Tuple[np.ndarray, np.ndarray]:
    """Per actor and frame, the body centre ``x`` (float) and the soles'
    vertical offset (int, <= 0 in a jump). Walkers slide at ~32 px/s (at
    height 128) and bounce off the lane's ends; jumpers hop twice a second."""
    num_frames = len(slot_of_frame)
    xs, ys, speed, period = _motion_arrays(actors, num_frames, 32.0, fps,
                                           height)
    for a, actor in enumerate(actors):
        x, direction, phase, last = actor.x0, 1, 0, None
        for f in range(num_frames):
            state = states[a][slot_of_frame[f]]
            if state.motion == 'walk':
                if last is None or last.motion != 'walk':
                    direction = int(rng.choice([-1, 1]))
                x, direction = _bounce(actor, x + direction * speed, direction)
                x = min(max(x, actor.x_lo), actor.x_hi)
            if state.motion == 'jump':
                ys[a, f], phase = jump_step(rng, actor, last, phase, period,
                                            jump_phase)
            xs[a, f] = x
            last = state
    return xs, ys


def _motion_arrays(actors: Sequence[Actor], num_frames: int, px_s: float,
                   fps: int, height: int) -> tuple:
    """The zeroed per actor and frame ``xs`` (float) and ``ys`` (int) of a
    trajectories function, the walking speed in px per frame of ``px_s`` px/s
    at height 128, and the hop period (frames)."""
    num = len(actors)
    xs = np.zeros((num, num_frames))
    ys = np.zeros((num, num_frames), dtype=np.int64)
    return xs, ys, px_s * height / 128.0 / fps, max(2, fps // 2)


def jump_step(rng: np.random.Generator, actor: Actor,
              last: Optional[ActorState], phase: int, period: int,
              jump_phase: str) -> Tuple[int, int]:
    """A jumper's soles offset now and the next frame's phase; a new jump
    starts per ``jump_phase`` (on the ground or at a random phase)."""
    if last is None or last.motion != 'jump':
        phase = 0 if jump_phase == 'start' else int(rng.integers(period))
    return _hop_offset(actor, phase, period), phase + 1


def _hop_offset(actor: Actor, phase: int, period: int) -> int:
    return -round(2.2 * actor.unit * hop(phase % period, period))


def _bounce(actor: Actor, x: float, direction: int) -> Tuple[float, int]:
    """``x`` and the direction after bouncing off the lane's ends."""
    if x > actor.x_hi:
        x, direction = 2 * actor.x_hi - x, -1
    if x < actor.x_lo:
        x, direction = 2 * actor.x_lo - x, 1
    return x, direction


def hop(phase: int, period: int) -> float:
    """Height (0..1) of a hop: a trapezoid rather than a sine, so frames
    sampled every other frame see the whole height (period 8: 0, 0, .5, 1,
    1, 1, .5, 0)."""
    tri = 1.0 - abs(2.0 * phase / period - 1.0)
    return min(1.0, max(0.0, 2.0 * tri - 0.5))


# -- forecastable scenes (motion='forecast') ---------------------------------
#: ``motion='forecast'``: the states that announce a jump and a walk
PRECURSORS = dict(
    jump=ActorState(
        posture='crouch', motion='still', arms_up=True, hold=False),
    walk=ActorState(posture='stand', motion='still', arms_up=True, hold=False))
#: ``motion='forecast'``: a walker's velocity time constant (seconds)
MOMENTUM_S = 0.25


def sample_forecast_states(rng: np.random.Generator, actor: Actor,
                           num_slots: int) -> List[ActorState]:
    """A state per keyframe slot (``motion='forecast'``): a jump or walk
    begins only after its precursor (:data:`PRECURSORS`)."""
    can_walk = _can_walk(actor)
    hold = bool(rng.random() < 0.35)
    plain = {
        c: _state_of(c, False, hold)
        for c in ('stand', 'crouch', 'jump', 'walk')
    }
    states: List[ActorState] = []
    for _ in range(num_slots):
        prev = states[-1] if states else None
        if prev is not None and prev in PRECURSORS.values():
            cls = 'jump' if prev is PRECURSORS['jump'] else 'walk'
            state = plain[cls]
        elif prev is not None and rng.random() < (0.5 if prev.motion != 'still'
                                                  else 0.4):
            state = prev
        else:
            choices = ['stand', 'crouch', 'pre_jump'
                       ] + (['pre_walk'] if can_walk else [])
            pick = str(rng.choice(choices))
            state = PRECURSORS[pick[4:]] if pick.startswith('pre_') \
                else plain[pick]
        states.append(state)
    return states


def forecast_trajectories(rng: np.random.Generator, actors: Sequence[Actor],
                          states: Sequence[Sequence[ActorState]],
                          slot_of_frame: np.ndarray, fps: int, height: int,
                          jump_phase: str) -> Tuple[np.ndarray, np.ndarray]:
    """:func:`trajectories` with momentum (``motion='forecast'``; the rules
    are in docs/en/forecasting.md)."""
    num_frames = len(slot_of_frame)
    xs, ys, speed, period = _motion_arrays(actors, num_frames, 32.0, fps,
                                           height)
    tau = MOMENTUM_S * fps  # frames
    for a, actor in enumerate(actors):
        walking = np.array([
            states[a][slot_of_frame[f]].motion == 'walk'
            for f in range(num_frames)
        ])
        # frames left in the current walk (to slow down before its end)
        left = np.zeros(num_frames, dtype=np.int64)
        for f in range(num_frames - 2, -1, -1):
            left[f] = left[f + 1] + 1 if walking[f] and walking[f + 1] \
                else 0
        pace = [
            speed * float(rng.uniform(0.75, 1.25))
            for _ in range(int(slot_of_frame.max()) + 1)
        ]
        x, v, direction, phase, last = actor.x0, 0.0, 1, 0, None
        for f in range(num_frames):
            state = states[a][slot_of_frame[f]]
            if walking[f]:
                if last is None or last.motion != 'walk':
                    v = 0.0
                    direction = 1 if actor.x_hi - x >= x - actor.x_lo else -1
                end = actor.x_hi if direction > 0 else actor.x_lo
                if abs(end - x) <= abs(v) * tau + 1.0:
                    direction = -direction
                # the walk ends within half a second, inside the video
                stops = left[f] < fps // 2 and f + left[f] < num_frames - 1
                target = 0.0 if stops else direction * pace[slot_of_frame[f]]
                v += (target - v) / tau
                x = min(max(x + v, actor.x_lo), actor.x_hi)
            else:
                v = 0.0
            if state.motion == 'jump':
                ys[a, f], phase = jump_step(rng, actor, last, phase, period,
                                            jump_phase)
            xs[a, f] = x
            last = state
    return xs, ys


# -- crossing scenes (motion='crossing') -------------------------------------
#: crossing walk speed, px/s at height 128 (twice the lanes')
CROSSING_SPEED = 64.0
#: probability that one end of a walker's lane is a frame width out (gone)
GONE_PROB = 0.25
#: Classes of the actors that walkers pass (they stay in place).
STATIC_CLASSES = ('stand', 'crouch', 'jump')
#: probability that actor 1 also walks (towards actor 0)
TWO_WALKERS_PROB = 1 / 3


def place_crossing_actors(rng: np.random.Generator, num_actors: int,
                          width: int,
                          height: int) -> Tuple[List[Actor], List[str]]:
    """``num_actors`` (>= 2) actors on one ground line (+-3 px: who is drawn
    over whom) and their classes. Actor 0 walks; actor 1 walks towards it
    or stays in its way; walkers' lanes reach past both frame edges."""
    scale = height / 128.0
    units = [float(rng.uniform(4.6, 5.6)) * scale for _ in range(num_actors)]
    two_walkers = bool(rng.random() < TWO_WALKERS_PROB)
    classes = ['walk']
    classes.append('walk' if two_walkers else str(rng.choice(STATIC_CLASSES)))
    classes += [str(rng.choice(STATIC_CLASSES)) for _ in range(2, num_actors)]
    ground = _ground(rng, max(units), height)
    actors = []
    for a in range(num_actors):
        facing = int(rng.choice([-1, 1]))
        y = min(ground + int(rng.integers(-3, 4)), height - 2)
        actors.append(_actor(rng, a, units[a], facing, facing, ground=y))
    # walker 0 starts on one side, walker 1 (if any) on the other
    side = int(rng.choice([-1, 1]))  # +1: walker 0 starts left, walks right
    for a, actor in enumerate(actors):
        if classes[a] != 'walk':
            continue
        half = actor.half_extent
        beyond = [float(rng.uniform(4, 24)) * scale for _ in range(2)]
        if rng.random() < GONE_PROB:  # walks on: out of the video
            beyond[int(rng.integers(2))] = float(width)
        actor.x_lo = -half - beyond[0]
        actor.x_hi = width + half + beyond[1]
        frac = float(rng.uniform(0.1, 0.45))
        left = a == 0 and side > 0 or a == 1 and side < 0
        actor.x0 = frac * width if left else (1 - frac) * width
        actor.facing = 1 if left else -1
        actor.object_side = actor.facing
    w0 = actors[0]
    taken = [(w0.x0, w0.half_extent)]
    if classes[1] == 'walk':
        taken.append((actors[1].x0, actors[1].half_extent))
    for a, actor in enumerate(actors):
        if classes[a] == 'walk':
            continue
        half = actor.object_extent
        lo, hi = 0.12 * width, 0.88 * width
        if a == 1:  # in walker 0's way
            if side > 0:
                lo = max(lo, w0.x0 + w0.half_extent + half + 4)
            else:
                hi = min(hi, w0.x0 - w0.half_extent - half - 4)
        x = (lo + hi) / 2
        for _ in range(50):
            x = float(rng.uniform(lo, hi)) if hi > lo else (lo + hi) / 2
            if all(abs(x - c) >= h + half + 10 for c, h in taken):
                break
        actor.x_lo = actor.x_hi = actor.x0 = x
        taken.append((x, half))
    return actors, classes


def crossing_trajectories(rng: np.random.Generator, actors: Sequence[Actor],
                          classes: Sequence[str], num_frames: int, fps: int,
                          height: int,
                          jump_phase: str) -> Tuple[np.ndarray, np.ndarray]:
    """:func:`trajectories` of a crossing scene: walkers start at ``x0``
    facing ``facing`` at :data:`CROSSING_SPEED`, turning at their lane's
    ends (off frame); jumpers hop; the others stay."""
    xs, ys, speed, period = _motion_arrays(actors, num_frames, CROSSING_SPEED,
                                           fps, height)
    for a, actor in enumerate(actors):
        x, direction = actor.x0, actor.facing
        phase = int(rng.integers(period)) \
            if classes[a] == 'jump' and jump_phase != 'start' else 0
        for f in range(num_frames):
            if classes[a] == 'walk':
                if f > 0:
                    x += direction * speed
                x, direction = _bounce(actor, x, direction)
            elif classes[a] == 'jump':
                ys[a, f] = _hop_offset(actor, phase, period)
                phase += 1
            xs[a, f] = x
    return xs, ys
