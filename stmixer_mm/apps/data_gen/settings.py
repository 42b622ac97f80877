"""The classes and settings of the synthetic data set (its output is a pure
function of :class:`SyntheticAVASettings`)."""
import argparse
from dataclasses import dataclass, fields
from typing import Dict, Iterable, Optional

import numpy as np

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
SPLITS = ('train', 'val')
#: Values of :attr:`SyntheticAVASettings.actor_states`.
ACTOR_STATE_MODES = ('per_keyframe', 'per_video')
#: Values of :attr:`SyntheticAVASettings.jump_phase`.
JUMP_PHASES = ('start', 'random')
#: Values of :attr:`SyntheticAVASettings.motion`.
MOTIONS = ('lanes', 'crossing', 'forecast')
_CHOICES = dict(
    actor_states=ACTOR_STATE_MODES, jump_phase=JUMP_PHASES, motion=MOTIONS)


@dataclass(frozen=True)
class SyntheticAVASettings:
    """Every parameter of the generator (the output is a function of it).

    Raises:
        ValueError: When built, naming the first setting out of its range
            or inconsistent with another (``synthetic AVA settings: ...``).
    """
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
    #: ``'per_keyframe'`` (AVA): an actor may change state at every
    #: keyframe; ``'per_video'`` (tube data, as JHMDB's trimmed clips): one
    #: state per actor and video, the four tube classes about balanced.
    actor_states: str = 'per_keyframe'
    #: ``'start'`` (AVA): a jump starts on the ground (every jumper in the
    #: same phase); ``'random'`` (tube data): at a random phase.
    jump_phase: str = 'start'
    #: ``'lanes'``: actors side by side, walkers in their own lane;
    #: ``'crossing'``: walkers cross the others and leave and re-enter the
    #: frame; ``'forecast'``: lanes with precursors and momentum.
    motion: str = 'lanes'
    #: Videos with nobody in them, added to each split after its other
    #: videos (every keyframe of them is an empty keyframe, listed in
    #: ``annotations/<split>_empty_keyframes.csv``); their backgrounds
    #: cycle through a scene, a uniform level (black to white) and a
    #: darkened scene, so that a model learns "nobody" in the dark too.
    num_empty_train_videos: int = 0
    num_empty_val_videos: int = 0

    @classmethod
    def from_kwargs(cls, kwargs: Dict) -> 'SyntheticAVASettings':
        """The settings named in ``kwargs`` (other keys ignored)."""
        return cls(**{k: v for k, v in kwargs.items() if k in SETTING_NAMES})

    @property
    def timestamp_end(self) -> int:
        return self.timestamp_start + self.seconds_per_video

    def __post_init__(self) -> None:
        """Raise ``ValueError`` naming the first bad setting."""

        def need(ok, msg):
            if not ok:
                raise ValueError(f'synthetic AVA settings: {msg}')

        for f in fields(self):
            value = getattr(self, f.name)
            need(
                f.type is not int or isinstance(value, (int, np.integer))
                and not isinstance(value, bool),
                f'{f.name} must be an int, got {value!r}')
        need(self.num_train_videos >= 1, 'num_train_videos must be >= 1')
        need(self.num_val_videos >= 1, 'num_val_videos must be >= 1')
        for split in SPLITS:
            need(
                getattr(self, f'num_empty_{split}_videos') >= 0,
                f'num_empty_{split}_videos must be >= 0')
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
        for name, choices in _CHOICES.items():
            value = getattr(self, name)
            need(value in choices,
                 f'{name} must be one of {choices}, got {value!r}')
        if self.motion == 'crossing':
            need(
                self.actor_states == 'per_video',
                "motion='crossing' needs actor_states='per_video' (one "
                f'class per actor and video), got {self.actor_states!r}')
            need(
                self.min_actors >= 2,
                "motion='crossing' needs min_actors >= 2 (actors cross "
                f'each other), got {self.min_actors}')
        if self.motion == 'forecast':
            need(
                self.actor_states == 'per_keyframe',
                "motion='forecast' needs actor_states='per_keyframe' (the "
                f'states change from slot to slot), got '
                f'{self.actor_states!r}')


#: Names of the fields of :class:`SyntheticAVASettings`, in order.
SETTING_NAMES = tuple(SyntheticAVASettings.__dataclass_fields__)


def add_generator_arguments(parser: argparse.ArgumentParser,
                            out_dir: str,
                            names: Iterable[str],
                            defaults: SyntheticAVASettings,
                            helps: Optional[Dict[str, str]] = None) -> None:
    """The options of a generator tool: ``--out-dir``, ``--<name>`` per
    setting of ``names`` (default from ``defaults``, help from ``helps``),
    ``--no-demo``, ``--overwrite`` and, with ``helps['masks']``, ``--masks``.
    """
    helps = helps or {}
    parser.add_argument('--out-dir', default=out_dir)
    for name in names:
        if name not in SETTING_NAMES:
            raise ValueError(f'{name!r} is not a synthetic AVA setting '
                             f'({", ".join(SETTING_NAMES)})')
        default = getattr(defaults, name)
        kwargs = dict(default=default, help=helps.get(name))
        if name in _CHOICES:
            kwargs['choices'] = _CHOICES[name]
        else:
            kwargs['type'] = type(default)
        parser.add_argument('--' + name.replace('_', '-'), **kwargs)
    parser.add_argument(
        '--no-demo', action='store_true', help='do not write the demo mp4')
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help='replace a set made with other settings: deletes exactly the '
        'files listed in <out-dir>/manifest.txt by the earlier run (and the '
        'folders they leave empty); without a manifest nothing is deleted '
        'and the command stops')
    if 'masks' in helps:
        parser.add_argument(
            '--masks', action='store_true', help=helps['masks'])


def setting_values(args: argparse.Namespace,
                   names: Iterable[str]) -> Dict[str, object]:
    """``{name: args.<name>}`` of the settings ``names``."""
    return {name: getattr(args, name) for name in names}


def generator_kwargs(args: argparse.Namespace,
                     names: Iterable[str]) -> Dict[str, object]:
    """:func:`setting_values` plus the shared options' keyword arguments."""
    return dict(
        setting_values(args, names),
        write_demo=not args.no_demo,
        overwrite=args.overwrite,
        write_masks=args.masks)
