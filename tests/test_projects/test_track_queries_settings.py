"""The settings of projects/track_queries: its track_cfg is declared once
and checked at config check and at build, and, as a subclass of STMixer
outside the core, it gets STMixer's ``SETTINGS`` and ``RULES`` along its
MRO (the mechanism any project's subclass relies on)."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

from projects.track_queries.track_queries import (TRACK_CFG_DEFAULTS,
                                                  QueryTracker, STMixerTracker)
from stmixer_mm.models.detectors import STMixer
from stmixer_mm.testing import repo_root
from stmixer_mm.utils.settings import (ConfigSettingError, Int, check_config,
                                       check_settings, settings_of)

REPO = repo_root()
TRACK_CFG = osp.join(REPO, 'projects', 'track_queries', 'configs',
                     'tiny_stmixer-track_tiny-ava.py')


def _checked(cfg_file, **options):
    cfg = Config.fromfile(cfg_file)
    cfg.merge_from_dict(options)
    check_config(cfg)


@pytest.mark.parametrize(
    'path',
    sorted(
        glob.glob(
            osp.join(REPO, 'projects', 'track_queries', 'configs', '*.py'))) +
    [TRACK_CFG])
def test_every_project_config_passes(path):
    check_config(Config.fromfile(path))


def test_track_cfg_keys_are_declared_once():
    from projects.track_queries.track_queries import settings, stmixer_tracker
    assert stmixer_tracker.TRACK_CFG_DEFAULTS is settings.TRACK_CFG_DEFAULTS
    fields = STMixerTracker.SETTINGS['track_cfg'].fields
    assert list(fields) == list(TRACK_CFG_DEFAULTS)


def test_query_tracker_thresholds():
    with pytest.raises(ConfigSettingError, match='birth_thr'):
        QueryTracker(birth_thr=1.2, track_thr=0.4, max_lost=2, dup_iou_thr=.7)
    with pytest.raises(ConfigSettingError, match='dup_iou_thr'):
        QueryTracker(birth_thr=.5, track_thr=0.4, max_lost=2, dup_iou_thr=7)


def test_built_rules_of_the_base_hold(monkeypatch):
    """STMixer's checks of its built parts run for the tracker too."""
    from mmengine.registry import init_default_scope

    from stmixer_mm.registry import MODELS

    def refuse(self):
        raise ValueError('the base checked its built parts')

    monkeypatch.setattr(STMixer, '_check_query_generator', refuse)
    init_default_scope('mmdet')
    with pytest.raises(ValueError, match='the base checked its built parts'):
        MODELS.build(Config.fromfile(TRACK_CFG).model)


@pytest.mark.parametrize(
    'options, message',
    [
        ({
            'model.track_cfg.track_thr': 1.5
        }, 'model.track_cfg.track_thr: expected a float in [0, 1], got 1.5'),
        ({
            'model.track_cfg.birth_thr': -0.1
        }, 'model.track_cfg.birth_thr: expected a float in [0, 1], got -0.1'),
        ({
            'model.track_cfg.dup_iou_thr': '0.7'
        },
         "model.track_cfg.dup_iou_thr: expected a float in [0, 1], got '0.7'"),
        ({
            'model.track_cfg.max_lost': -1
        }, 'model.track_cfg.max_lost: expected an int >= 0, got -1'),
        ({
            'model.track_cfg.max_lost': 1.0
        }, 'model.track_cfg.max_lost: expected an int >= 0, got 1.0'),
        ({
            'model.track_cfg.drop_prob': 1.0
        }, 'model.track_cfg.drop_prob: expected a float in [0, 1), got 1'),
        ({
            'model.track_cfg.entry_stage': -1
        }, 'model.track_cfg.entry_stage: expected an int >= 0, got -1'),
        ({
            'model.track_cfg.num_clips': 1
        }, 'model.track_cfg.num_clips: expected an int >= 2, got 1'),
        ({
            'model.track_cfg.trak_thr': 0.4
        }, "model.track_cfg: unknown key(s) ['trak_thr']"),
        # STMixer's declarations hold for its subclass
        ({
            'model.test_cfg.rcnn.person_threshold': 1.5
        }, 'model.test_cfg.rcnn.person_threshold: expected a float in [0, 1], '
         'got 1.5'),
        ({
            'model.test_cfg.rcnn.num_fallback': -1
        }, 'model.test_cfg.rcnn.num_fallback: expected an int >= 0, got -1'),
    ])
def test_tracker_settings(options, message):
    with pytest.raises(ConfigSettingError) as e:
        _checked(TRACK_CFG, **options)
    assert message in str(e.value)


def test_tracker_track_cfg_declares_every_key():
    """The declared track_cfg is the class's: every key, no other."""
    fields = settings_of(STMixerTracker)['track_cfg'].fields
    assert sorted(fields) == sorted(TRACK_CFG_DEFAULTS)
    for key, value in TRACK_CFG_DEFAULTS.items():
        assert fields[key].problem(value) is None, key


def test_tracker_built_without_check_config_checks_track_cfg():
    from mmengine.registry import init_default_scope

    from stmixer_mm.registry import MODELS
    cfg = Config.fromfile(TRACK_CFG)
    cfg.model.track_cfg['track_thr'] = 1.5
    init_default_scope('mmdet')
    with pytest.raises(
            ConfigSettingError,
            match=r'track_cfg\.track_thr: expected a float in \[0, 1\]'):
        MODELS.build(cfg.model)


def _registered_subclasses():
    """(registered name, class, base) for every class of this project's
    registries with a base that declares ``SETTINGS``."""
    from stmixer_mm.utils.settings import _registries
    out = []
    for registry in _registries():
        for name, cls in registry.module_dict.items():
            if not cls.__module__.startswith(('stmixer_mm.', 'projects.')):
                continue
            out += [(name, cls, base) for base in cls.__mro__[1:]
                    if vars(base).get('SETTINGS')]
    return out


def test_every_subclass_gets_its_bases_declared_checks():
    """Every registered subclass of a class with declared settings is
    checked against them (a value no setting accepts is refused with the
    subclass's config path), unless it declares the setting itself."""
    pairs = _registered_subclasses()
    assert ('STMixerTracker', STMixer) in {(n, b) for n, _, b in pairs}
    for name, cls, base in pairs:
        own = settings_of(cls)
        for field, setting in base.SETTINGS.items():
            if own[field] is not setting:  # overridden along the MRO
                assert any(
                    vars(k).get('SETTINGS', {}).get(field) is own[field]
                    for k in cls.__mro__ if issubclass(k, base))
                continue
            with pytest.raises(
                    ConfigSettingError, match=f'^model\\.{field}: '):
                check_settings(dict(type=name, **{field: object()}), 'model')


def test_rules_hold_for_subclasses(monkeypatch):

    def rule(cfg):
        return 'num_clips_test_only is refused' \
            if 'num_clips_test_only' in cfg else None

    monkeypatch.setattr(STMixer, 'RULES', (rule, ), raising=False)
    with pytest.raises(
            ConfigSettingError, match='model: num_clips_test_only is refused'):
        check_settings(
            dict(type='STMixerTracker', num_clips_test_only=1), 'model')


def test_a_subclass_declaration_overrides_its_base(monkeypatch):
    monkeypatch.setattr(STMixer, 'SETTINGS',
                        dict(STMixer.SETTINGS, num_test_only=Int(min=5)))
    monkeypatch.setattr(
        STMixerTracker, 'SETTINGS',
        dict(STMixerTracker.SETTINGS, num_test_only=Int(min=1)))
    check_settings(dict(type='STMixerTracker', num_test_only=2), 'model')
    with pytest.raises(ConfigSettingError, match='model.num_test_only'):
        check_settings(dict(type='STMixer', num_test_only=2), 'model')
