"""The forecasting tube set (``motion='forecast'``): a jump or walk is
announced one keyframe slot ahead by its precursor, walkers move with
momentum, and every tube names its actor."""
import numpy as np
import pytest

from projects.forecasting.forecasting.functional import person_tracks
from stmixer_mm.apps.data_gen import synthetic_tubes as syn_tubes
from stmixer_mm.apps.data_gen.actors import MOMENTUM_S, PRECURSORS
from stmixer_mm.apps.data_gen.scene import build_split
from stmixer_mm.apps.data_gen.settings import SyntheticAVASettings
from stmixer_mm.apps.data_gen.synthetic_tubes import (TUBE_FORECAST_DEFAULTS,
                                                      build_tube_annotations)

SMALL = dict(TUBE_FORECAST_DEFAULTS, num_train_videos=2, num_val_videos=12)


@pytest.fixture(scope='module')
def videos():
    return build_split(SyntheticAVASettings(**SMALL), 'val')[0]


def test_settings():
    with pytest.raises(
            ValueError,
            match="motion='forecast' needs "
            "actor_states='per_keyframe'"):
        SyntheticAVASettings(**dict(SMALL, actor_states='per_video'))
    assert syn_tubes.TUBE_PRESETS['forecast'] is TUBE_FORECAST_DEFAULTS


def test_every_jump_and_walk_is_announced(videos):
    runs = 0
    for v in videos:
        for states in v.states:
            for i, state in enumerate(states):
                # arms up: only the precursors
                assert state.arms_up == (state in PRECURSORS.values())
                if state is PRECURSORS['jump'] and i + 1 < len(states):
                    assert states[i + 1].motion == 'jump'
                if state is PRECURSORS['walk'] and i + 1 < len(states):
                    assert states[i + 1].motion == 'walk'
                starts = state.motion in ('jump', 'walk') and (
                    i == 0 or states[i - 1].motion != state.motion)
                if starts:
                    runs += 1
                    assert i > 0 and states[i - 1] is PRECURSORS[state.motion]
    assert runs >= 10  # the set has both kinds of action to anticipate


def test_walkers_move_with_momentum(videos):
    steps = []
    for v in videos:
        for a, states in enumerate(v.states):
            walking = np.array([
                states[v.slot_of_frame[f]].motion == 'walk'
                for f in range(v.num_frames)
            ])
            x = v.xs[a]
            velocity = np.diff(x)
            # nobody moves sideways unless walking
            assert np.all(velocity[~walking[1:]] == 0)
            # from a stand a walker speeds up: its first step is a quarter
            # of its pace (1 / tau), not the whole
            for f in np.flatnonzero(walking[1:] & ~walking[:-1]) + 1:
                steps.append(abs(x[f] - x[f - 1]))
            both = walking[1:-1] & walking[2:] & walking[:-2]
            accel = np.abs(np.diff(velocity))[both[:len(velocity) - 1]]
            # the velocity moves towards its target by 1 / tau of the gap a
            # frame: at most 2 x pace / tau, when the walker turns (pace at
            # most 1.25 x the lanes' 32 px/s at 128 px height)
            pace = 1.25 * 32.0 * v.height / 128.0 / v.fps
            assert accel.max(initial=0) <= 2 * pace / (MOMENTUM_S * v.fps) \
                + 1e-6
    lanes_pace = 32.0 / 16  # px per frame at 128 px, 16 fps
    assert steps and max(steps) <= 1.25 * lanes_pace / (MOMENTUM_S * 16)


def test_tubes_name_their_actor():
    gt = build_tube_annotations(SyntheticAVASettings(**SMALL))
    assert set(gt['tube_actors']) == set(gt['gttubes'])
    video = gt['test_videos'][0][0]
    tracks = person_tracks(gt, video)
    # one track per actor, a box on every frame (lanes: always in view)
    assert all(len(t) == gt['nframes'][video] for t in tracks)
    changes = sum(
        len({label
             for _, label in t.values()}) > 1 for v in gt['test_videos'][0]
        for t in person_tracks(gt, v))
    assert changes > 0  # persons change class within a video
