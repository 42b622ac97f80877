"""Issue 82, point 3: the pre-run check builds the model on the meta device,
so that each part's own ``__init__`` refuses a bad ``--cfg-options`` value
before the run, named by the config path of the part that refused it."""
import pytest
from mmengine.config import Config

from stmixer_mm.apps.preflight import check_config
from stmixer_mm.testing import repo_root
from stmixer_mm.utils.checks import ConfigSettingError

TINY = f'{repo_root()}/tests/data/configs/tiny_stmixer_tiny-ava.py'


@pytest.mark.parametrize('options,path,expected', [
    ({
        'model.roi_head.stage_loss_weights': [1, 1, 1]
    }, 'model.roi_head:',
     'STMixerDecoder: stage_loss_weights must be a list of num_stages=2 '
     'items, got [1, 1, 1]'),
    ({
        'model.roi_head.stage_head.sampling_mixing.num_groups': 3
    }, 'model.roi_head.stage_head',
     'STMixerSamplingMixing: feat_channels must be a multiple of num_groups=3'
     ),
    ({
        'model.data_preprocessor.mean': []
    }, 'model.data_preprocessor:', 'STMixerDataPreprocessor: mean'),
    ({
        'model.rpn_head.num_queries': 10.0
    }, 'model.rpn_head:', 'STMixerQueryGenerator: num_queries must be an '
     'int >= 1, got 10.0'),
    ({
        'model.roi_head.num_stages': 0
    }, 'model.roi_head:', 'STMixerDecoder: num_stages must be an int >= 1, '
     'got 0'),
])
def test_a_part_refusing_its_settings_is_named_before_the_run(
        options, path, expected):
    cfg = Config.fromfile(TINY)
    cfg.merge_from_dict(options)
    with pytest.raises(ConfigSettingError) as err:
        check_config(cfg)
    message = str(err.value)
    assert message.startswith(path), message
    assert expected in message, message


def test_a_good_config_builds_on_the_meta_device():
    check_config(Config.fromfile(TINY))  # no error


def test_without_build_the_part_is_not_built():
    cfg = Config.fromfile(TINY)
    cfg.merge_from_dict({'model.roi_head.stage_loss_weights': [1, 1, 1]})
    check_config(cfg, build=False)  # the walk alone does not see it


def test_parts_after_one_the_meta_device_cannot_build_are_checked():
    """mmaction2's ViT reads tensor values in its ``__init__`` (no meta
    build): the detector's other parts are then built one by one, so a bad
    neck of a ViT config still stops before the run."""
    cfg = Config.fromfile(
        f'{repo_root()}/tests/data/configs/tiny_stmixer_vit_tiny-ava.py')
    check_config(cfg)  # the config itself passes
    cfg.merge_from_dict({'model.neck.in_channels': [32, 32]})
    with pytest.raises(ConfigSettingError, match=r'^model\.neck'):
        check_config(cfg)


@pytest.mark.parametrize('option, message', [
    ({
        'model.roi_head.featmap_strides': [4, 8, 16]
    }, 'STMixer: neck.in_channels must give 3 levels, one per '
     'roi_head.featmap_strides [4, 8, 16], got [8, 16, 32, 64] (4 levels)'),
    ({
        'model.neck.in_channels': [8, 16, 32]
    }, 'STMixer: neck.in_channels must give 4 levels, one per '
     'roi_head.featmap_strides [4, 8, 16, 32], got [8, 16, 32] (3 levels)'),
])
def test_a_neck_giving_other_levels_than_the_decoder_reads_is_refused(
        option, message):
    """The detector compares its neck's number of maps (``num_outs``, also
    mmdet's necks') with the decoder's ``featmap_strides`` when built, so
    the pre-run check refuses it (it failed at the first forward); the
    refusal names the neck's setting the count came from (``in_channels``
    here: what was given) and the strides (what it must match), not a
    ``num_outs`` the user did not touch."""
    cfg = Config.fromfile(TINY)
    cfg.merge_from_dict(option)
    with pytest.raises(ConfigSettingError) as err:
        check_config(cfg)
    assert message in str(err.value) and 'num_outs' not in str(err.value)


def test_the_pre_run_check_leaves_no_mmengine_lock_held():
    """mmengine's ``get_current_instance`` raises with its global lock held
    (a ``VisualizationHook`` built before the runner's visualizer exists):
    the check leaves the lock as it found it, so another thread (the web
    demo's and online runner's workers) can still use mmengine's globals."""
    import threading
    from collections import OrderedDict

    from mmengine.utils import manager
    from mmengine.visualization import Visualizer
    cfg = Config.fromfile(TINY)
    cfg.custom_hooks = [dict(type='ActionDetVisualizationHook', draw=True)]
    with pytest.MonkeyPatch.context() as patch:  # no visualizer made yet
        patch.setattr(Visualizer, '_instance_dict', OrderedDict())
        check_config(cfg, build=False)
    got = []

    def take():
        got.append(manager._lock.acquire(timeout=10))
        if got[-1]:
            manager._lock.release()

    worker = threading.Thread(target=take)
    worker.start()
    worker.join()
    assert got == [True]
