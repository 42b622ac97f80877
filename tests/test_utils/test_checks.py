"""Issue 96, point 2: the whole-number arguments of the model classes go
through one check (``utils/checks.check_ints``), so ``True`` and
``8.0`` are refused alike by every class; before, four of them took
``True`` (``isinstance(True, int)``)."""
import pytest

from stmixer_mm.models import (STMixerQueryGenerator, STMixerSamplingMixing,
                               STMixerStageHead)
from stmixer_mm.models.layers import AdaptiveMixing
from stmixer_mm.registry import MODELS
from stmixer_mm.utils.checks import check_ints


def test_check_ints_refuses_bools_floats_and_small_values():
    check_ints('X', a=1, b=5)
    check_ints('X', 0, a=0)
    for value in (True, 2.0, 0, -1, '3', None):
        with pytest.raises(ValueError) as info:
            check_ints('X', a=1, b=value)
        shown = repr(value) if value in (0, -1) and type(value) is int else \
            f'{value!r} ({type(value).__name__})'  # the type if not an int
        assert str(info.value) == f'X: b must be an int >= 1, got {shown}'


@pytest.mark.parametrize('build, message', [
    (lambda: AdaptiveMixing(in_dim=64, in_points=True, num_groups=4),
     'AdaptiveMixing: in_points must be an int >= 1, got True (bool)'),
    (lambda: MODELS.build(
        dict(type=STMixerSamplingMixing, spatial_points=True)),
     'STMixerSamplingMixing: spatial_points must be an int >= 1, got True '
     '(bool)'),
    (lambda: MODELS.build(dict(type=STMixerStageHead, num_actions=True)),
     'STMixerStageHead: num_actions must be an int >= 1, got True (bool)'),
    (lambda: MODELS.build(dict(type=STMixerQueryGenerator, num_queries=True)),
     'STMixerQueryGenerator: num_queries must be an int >= 1, got True '
     '(bool)'),
])
def test_the_model_classes_refuse_true_as_a_count(build, message):
    """(types as classes: whatever default scope an earlier test left)"""
    with pytest.raises(ValueError) as info:
        build()
    assert str(info.value) == message


def test_check_range_reads_the_interval():
    from stmixer_mm.utils.checks import check_range
    check_range('X', '[0, 1)', a=0, b=0.5)
    check_range('X', '(0, inf)', a=1e9)
    for interval, value in (('[0, 1)', 1), ('(0, 1)', 0), ('[0, 1]', 1.5),
                            ('(0, inf)', 0.0), ('[0, 1]', True),
                            ('[0, 1]', '0.5'), ('[0, 1]', float('nan'))):
        with pytest.raises(ValueError) as info:
            check_range('X', interval, a=value)
        shown = f'{value!r} ({type(value).__name__})' if isinstance(
            value, (bool, str)) else repr(value)  # the type if no number
        assert str(info.value) == \
            f'X: a must be a number in {interval}, got {shown}'


def test_check_choice_and_choices_are_strict_about_bools():
    from stmixer_mm.utils.checks import check_choice, check_choices
    check_choice('X', ('a', None), a='a', b=None)
    check_choice('X', (True, False, None), a=None, b=False)
    check_choices('X', ('s', 't'), a=('t', 's'), b=['s'])
    for choices, value in ((('a', None), 'b'), ((0, 1), True), ((True, False),
                                                                1)):
        with pytest.raises(ValueError, match='X: a must be one of '):
            check_choice('X', choices, a=value)
    for value in ((), 's', ['s', 'x'], None):
        with pytest.raises(ValueError) as info:
            check_choices('X', ('s', 't'), a=value)
        assert str(info.value) == ("X: a must be a non-empty list of "
                                   f"('s', 't'), got {value!r}")
