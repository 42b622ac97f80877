"""The generator settings shared by the two tools
(``stmixer_mm.apps.data_gen.settings``): options built from the settings,
settings picked from keyword arguments."""
import argparse

import pytest

from stmixer_mm.apps.data_gen.settings import (SETTING_NAMES,
                                               SyntheticAVASettings,
                                               add_generator_arguments,
                                               setting_values)


def _parser(names, defaults=None, **helps):
    parser = argparse.ArgumentParser()
    add_generator_arguments(parser, 'data/x', names, defaults
                            or SyntheticAVASettings(), helps)
    return parser


def test_options_are_typed_as_the_settings():
    names = ('fps', 'exclude_prob', 'actor_states', 'jump_phase')
    parser = _parser(names)
    args = parser.parse_args([
        '--fps', '8', '--exclude-prob', '0.5', '--actor-states', 'per_video',
        '--no-demo'
    ])
    assert args.out_dir == 'data/x' and args.no_demo and not args.overwrite
    values = setting_values(args, names)
    assert values == dict(
        fps=8, exclude_prob=0.5, actor_states='per_video', jump_phase='start')
    assert type(values['fps']) is int and type(values['exclude_prob']) is float
    with pytest.raises(SystemExit):  # not one of ACTOR_STATE_MODES
        parser.parse_args(['--actor-states', 'per_frame'])
    with pytest.raises(SystemExit):  # an int setting
        parser.parse_args(['--fps', '8.5'])


def test_defaults_and_help_come_from_the_caller():
    defaults = SyntheticAVASettings(seconds_per_video=2, jump_phase='random')
    parser = _parser(('seconds_per_video', 'jump_phase'),
                     defaults,
                     seconds_per_video='whole seconds')
    args = parser.parse_args([])
    assert args.seconds_per_video == 2 and args.jump_phase == 'random'
    assert 'whole seconds' in parser.format_help()


def test_unknown_setting_is_named():
    with pytest.raises(ValueError, match="'frames' is not a synthetic AVA"):
        _parser(('fps', 'frames'))


def test_from_kwargs_ignores_other_keys():
    s = SyntheticAVASettings.from_kwargs(
        dict(fps=8, write_demo=False, overwrite=True))
    assert s == SyntheticAVASettings(fps=8)
    assert SETTING_NAMES[0] == 'num_train_videos' and 'seed' in SETTING_NAMES
