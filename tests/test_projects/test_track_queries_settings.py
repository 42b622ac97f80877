"""The settings of projects/track_queries: ``STMixerTracker`` checks its
``track_cfg`` in plain code first in its ``__init__`` (before a run: the
pre-run check builds the model on the meta device), and STMixer's own
checks hold for it as a subclass."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

from stmixer_mm.apps.preflight import check_config
from stmixer_mm.models.detectors import STMixer
from stmixer_mm.testing import repo_root
from stmixer_mm.utils.checks import ConfigSettingError

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


def test_built_rules_of_the_base_hold():
    """STMixer's checks of its built parts run for the tracker too (here:
    the query generator gives no temporal queries the decoder reads), and
    the tracker builds (STMixer's ``__init__`` calls its own ``train``, not
    the tracker's, whose tracks do not exist yet)."""
    from mmengine.registry import init_default_scope

    from stmixer_mm.registry import MODELS
    init_default_scope('mmdet')
    model = Config.fromfile(TRACK_CFG).model
    assert isinstance(MODELS.build(model), STMixer)
    model.rpn_head.with_temporal_queries = False
    with pytest.raises(
            ValueError, match='^STMixer: rpn_head.with_temporal_queries must'):
        MODELS.build(model)


@pytest.mark.parametrize('options, message', [
    ({
        'model.track_cfg.track_thr': 1.5
    },
     'STMixerTracker: track_cfg.track_thr must be a float in [0, 1], got 1.5'),
    ({
        'model.track_cfg.birth_thr': -0.1
    },
     'STMixerTracker: track_cfg.birth_thr must be a float in [0, 1], got -0.1'
     ),
    ({
        'model.track_cfg.dup_iou_thr': '0.7'
    }, "STMixerTracker: track_cfg.dup_iou_thr must be a float in [0, 1], "
     "got '0.7'"),
    ({
        'model.track_cfg.max_lost': -1
    }, 'STMixerTracker: track_cfg.max_lost must be an int >= 0, got -1'),
    ({
        'model.track_cfg.max_lost': 1.0
    }, 'STMixerTracker: track_cfg.max_lost must be an int >= 0, got 1.0'),
    ({
        'model.track_cfg.drop_prob': 1.0
    },
     'STMixerTracker: track_cfg.drop_prob must be a float in [0, 1), got 1.0'),
    ({
        'model.track_cfg.entry_stage': -1
    }, 'STMixerTracker: track_cfg.entry_stage must be an int >= 0, got -1'),
    ({
        'model.track_cfg.num_clips': 1
    }, 'STMixerTracker: track_cfg.num_clips must be an int >= 2, got 1'),
    ({
        'model.track_cfg.trak_thr': 0.4
    }, "STMixerTracker: track_cfg has unknown key(s) ['trak_thr']"),
])
def test_tracker_settings(options, message):
    with pytest.raises(ConfigSettingError) as e:
        _checked(TRACK_CFG, **options)
    assert str(e.value).startswith('model: ValueError: ' + message)


def test_tracker_built_without_check_config_checks_track_cfg():
    from mmengine.registry import init_default_scope

    from stmixer_mm.registry import MODELS
    cfg = Config.fromfile(TRACK_CFG)
    cfg.model.track_cfg['track_thr'] = 1.5
    init_default_scope('mmdet')
    with pytest.raises(
            ValueError,
            match=r'^STMixerTracker: track_cfg\.track_thr must be a float '
            r'in \[0, 1\], got 1\.5'):
        MODELS.build(cfg.model)
