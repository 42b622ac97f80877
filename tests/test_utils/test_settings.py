"""Settings checked at build time, with their config path
(stmixer_mm.utils.settings)."""
import glob
import os.path as osp
from unittest import mock

import pytest
from mmengine.config import Config

import stmixer_mm  # noqa: F401  (registers the modules)
from stmixer_mm import testing
from stmixer_mm.testing import repo_root
from stmixer_mm.utils.settings import (ConfigFileError, ConfigSettingError,
                                       Float, Int, Setting, check_config,
                                       load_config)

REPO = repo_root()
TINY_CFG = testing.repo_path(testing.TINY_CFG)
TUBE_CFG = osp.join(REPO, 'configs', 'quickstart',
                    'stmixer_r3d-tiny_1xb8-8x2x1-6e_synthetic-tubes-rgb.py')


def _checked(cfg_file, **options):
    cfg = Config.fromfile(cfg_file)
    cfg.merge_from_dict(options)
    check_config(cfg)


@pytest.mark.parametrize('options, message', [
    ({
        'model.test_cfg.rcnn.person_threshold': 'high'
    }, "model.test_cfg.rcnn.person_threshold: expected a float in [0, 1], got "
     "'high'"),
    ({
        'model.test_cfg.rcnn.person_threshold': 1.5
    }, 'model.test_cfg.rcnn.person_threshold: expected a float in [0, 1], '
     'got 1.5'),
    ({
        'model.test_cfg.rcnn.num_fallback': -1
    }, 'model.test_cfg.rcnn.num_fallback: expected an int >= 0, got -1'),
    ({
        'model.test_cfg.rcnn.multiply_person_score': 'yes'
    }, 'model.test_cfg.rcnn.multiply_person_score: expected True or False'),
    ({
        'model.rpn_head.num_queries': 10.0
    }, 'model.rpn_head.num_queries: expected an int >= 1, got 10.0'),
    ({
        'model.roi_head.stage_head.sampling_mixing.sampling_cfg.impl': 'cuda'
    }, 'model.roi_head.stage_head.sampling_mixing.sampling_cfg.impl: '
     'expected one of'),
    ({
        'model.roi_head.stage_head.action_branches': ['spatial', 'time']
    }, 'model.roi_head.stage_head.action_branches: item 1: expected one of'),
    ({
        'model.roi_head.num_stages': 0
    }, 'model.roi_head.num_stages: expected an int >= 1, got 0'),
    ({
        'model.roi_head.stage_head.dropout': 1.0
    }, 'model.roi_head.stage_head.dropout: expected a float in [0, 1), got 1'),
    ({
        'test_dataloader.dataset.pipeline.0.clip_len': 2.5
    }, 'test_dataloader.dataset.pipeline[0].clip_len: expected an int >= 1'),
    ({
        'train_dataloader.dataset.pipeline.3.flip_ratio': 1.5
    }, 'train_dataloader.dataset.pipeline[3].flip_ratio: expected a float'),
    ({
        'test_dataloader.dataset.timestamp_end': 800
    }, 'test_dataloader.dataset: timestamp_end (800) must be after '
     'timestamp_start (900)'),
    ({
        'val_evaluator.num_classes': '8'
    }, "val_evaluator.num_classes: expected an int >= 2, got '8'"),
])
def test_bad_setting_names_its_config_path(options, message, tmp_path):
    with pytest.raises(ConfigSettingError) as e:
        _checked(TINY_CFG, **options)
    assert message in str(e.value)
    # the same settings are checked when the part is built from a user's
    # own script (Runner.from_cfg builds the model; datasets and metrics
    # are built when a loop needs them): the same error, its path starting
    # at the part's type; a part of mmaction2's (AVAMetric) is checked
    # before a run only: importing stmixer_mm does not change its __init__
    cfg = Config.fromfile(TINY_CFG)
    cfg.merge_from_dict(options)
    cfg.work_dir = str(tmp_path)
    key = next(iter(options))
    path, detail = message.split(': ', 1)
    section = key.split('.')[0]
    if section == 'val_evaluator':
        from mmaction.evaluation import AVAMetric
        assert cfg[section].type == 'AVAMetric'
        assert not hasattr(AVAMetric.__init__, '_stmixer_checked')
        return
    tail = path[len(section) + len('.dataset' * ('loader' in section)):]
    with pytest.raises(ConfigSettingError) as e:
        _build_part(cfg, section)
    assert f'{tail}: {detail}' in str(e.value), (tail, str(e.value))


def _build_part(cfg, section):
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner

    from stmixer_mm.registry import DATASETS, METRICS
    if section == 'model':
        Runner.from_cfg(cfg)
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    if section.endswith('_dataloader'):
        DATASETS.build(cfg[section].dataset)
    elif section.endswith('_evaluator'):
        METRICS.build(cfg[section])


def test_tube_settings():
    with pytest.raises(
            ConfigSettingError,
            match=r'train_dataloader\.dataset\.keyframe_stride: '
            r'expected an int >= 1, got 2\.5'):
        _checked(TUBE_CFG, **{'train_dataloader.dataset.keyframe_stride': 2.5})
    with pytest.raises(
            ConfigSettingError,
            match=r"val_evaluator\.missing_videos: expected one "
            r"of \['error', 'warn'\], got 'skip'"):
        _checked(TUBE_CFG, **{'val_evaluator.missing_videos': 'skip'})
    with pytest.raises(
            ConfigSettingError,
            match=r"test_evaluator: protocol must be one of \('ucf_jhmdb', "
            r"'multisports'\), got 'moc': use 'ucf_jhmdb' for "):
        _checked(TUBE_CFG, **{'test_evaluator.protocol': 'moc'})
    # the earlier, unpublished protocol is gone: named as removed
    with pytest.raises(
            ConfigSettingError,
            match=r"val_evaluator: protocol must be one of \('ucf_jhmdb', "
            r"'multisports'\), got 'hybrid_voc' \('hybrid_voc', this "
            r"project's earlier, unpublished metric, was removed\): use "
            r"'ucf_jhmdb' for JHMDB-21 / UCF101-24 \(MOC's ACT.py\) or "
            r"'multisports' for MultiSports"):
        _checked(TUBE_CFG, **{'val_evaluator.protocol': 'hybrid_voc'})
    # the pipeline reads what use_frames gives each sample
    with pytest.raises(
            ConfigSettingError,
            match=r'train_dataloader\.dataset: pipeline\[\d\] is '
            r'CheckedRawFrameDecode, but use_frames=False gives each sample '
            'videos; '
            'use DecordInit / DecordDecode'):
        _checked(TUBE_CFG, **{'train_dataloader.dataset.use_frames': False})
    video = Config.fromfile(
        osp.join(
            REPO, 'configs', 'stmixer_tubes',
            'stmixer_vit-base-p16_videomae-k400-pre_8xb1-16x2x1-12e-adamw_'
            'multisports-rgb.py'))
    video.test_dataloader.dataset.use_frames = True
    with pytest.raises(
            ConfigSettingError,
            match=r'test_dataloader\.dataset: pipeline\[0\] is DecordInit, '
            'but use_frames=True gives each sample frame folders'):
        check_config(video)


@pytest.mark.parametrize('cfg_file, key, value', [
    ('configs/stmixer/stmixer_vit-base-p16_videomae-k400-pre_8xb1-16x4x1-'
     '12e-adamw_ava22-rgb.py', 'model.backbone.attn_impl', 'flash'),
    ('configs/stmixer/stmixer_slowonly-r50_k400-pre_8xb2-4x16x1-12e-adamw_'
     'ava22-rgb.py', 'model.backbone.conv3d_impl', 'mkl'),
    ('configs/stmixer/stmixer_slowfast-r50_k400-pre_8xb2-8x8x1-12e-adamw_'
     'ava22-rgb.py', 'model.backbone.conv3d_impl', 'fast'),
])
def test_backbone_fast_path_settings(cfg_file, key, value):
    """The fused-attention / oneDNN switches are checked at build time."""
    root = REPO
    with pytest.raises(
            ConfigSettingError,
            match=f'{key}: expected one of .*got {value!r}'):
        _checked(osp.join(root, cfg_file), **{key: value})


def test_model_classes_against_data_classes():
    # AVA: num_classes counts the background column
    with pytest.raises(
            ConfigSettingError,
            match=r'num_actions \(6\) and '
            r'train_dataloader\.dataset\.num_classes \(8\)'):
        _checked(TINY_CFG, **{'model.roi_head.stage_head.num_actions': 6})
    # tube data: one column per label of the pickle
    with pytest.raises(
            ConfigSettingError,
            match=r'num_actions \(3\) and '
            r'train_dataloader\.dataset\.num_classes \(4\).*'
            r'needs num_actions=4'):
        _checked(TUBE_CFG, **{'model.roi_head.stage_head.num_actions': 3})
    with pytest.raises(
            ConfigSettingError,
            match='classes names 4 classes '
            'but num_classes is 5'):
        _checked(
            TUBE_CFG, **{
                'model.roi_head.stage_head.num_actions': 5,
                'train_dataloader.dataset.num_classes': 5
            })


def test_model_classes_against_data_classes_in_a_users_script(tmp_path):
    """mmengine's Runner.from_cfg on a shipped config refuses the model /
    data mismatch that check_config refuses (the ClassConsistencyHook of
    the default runtime), before the first iteration, for the same
    reason."""
    from mmengine.runner import Runner
    options = {'model.roi_head.stage_head.num_actions': 8}
    with pytest.raises(ConfigSettingError) as checked:
        _checked(TINY_CFG, **options)
    reason = str(checked.value).split('do not fit: ')[1]
    cfg = Config.fromfile(TINY_CFG)
    cfg.merge_from_dict(options)
    cfg.work_dir = str(tmp_path)
    assert 'ClassConsistencyHook' in [h.type for h in cfg.custom_hooks]
    runner = Runner.from_cfg(cfg)
    with mock.patch.object(runner.model, 'train_step') as train_step, \
            pytest.raises(ConfigSettingError) as built:
        runner.train()
    assert reason in str(built.value)
    assert 'train_dataloader.dataset' in str(built.value)
    train_step.assert_not_called()


def test_rules_on_built_parts_run_whoever_builds_them():
    """The checks of a built model (stages that must agree) are the owning
    class's, in its ``__init__``, and run by MODELS.build as by
    Runner.from_cfg."""
    from stmixer_mm.registry import MODELS
    cfg = Config.fromfile(TINY_CFG)
    head = cfg.model.roi_head.stage_head.to_dict()
    heads = [head, dict(head, num_actions=head['num_actions'] + 1)]
    cfg.model.roi_head.num_stages = 2
    cfg.model.roi_head.stage_head = heads
    with pytest.raises(ValueError, match='the same num_actions'):
        MODELS.build(cfg.model)


def test_types_from_annotations_of_undeclared_settings():
    """An argument nobody declared is still type-checked from the
    ``__init__`` annotation of this project's class."""
    cfg = Config.fromfile(TINY_CFG)
    cfg.model.data_preprocessor.format_shape = 3  # annotated `str`
    with pytest.raises(
            ConfigSettingError,
            match=r'model\.data_preprocessor\.format_shape: '
            r'expected a string, got 3'):
        check_config(cfg)


def test_declaring_a_new_setting_is_one_line(monkeypatch):
    """A class's settings are its ``SETTINGS``: one entry more is checked
    (before a run and when built)."""
    from stmixer_mm.models.necks import STMixerLateralNeck
    cfg = Config.fromfile(TINY_CFG)
    cfg.model.neck['out_channels_test_only'] = 0
    check_config(cfg, build=False)  # not declared: the walk does not see it
    # the build on the meta device does: the neck takes no such argument
    with pytest.raises(ConfigSettingError, match=r'^model\.neck: TypeError'):
        check_config(cfg)
    monkeypatch.setattr(
        STMixerLateralNeck, 'SETTINGS',
        dict(STMixerLateralNeck.SETTINGS, out_channels_test_only=Int(min=1)))
    with pytest.raises(
            ConfigSettingError, match=r'model\.neck\.out_channels_test_only'):
        check_config(cfg)


def test_float_accepts_ints_but_not_bools():
    assert Float(0, 1).problem(1) is None
    assert Float(0, 1).problem(True) is not None
    assert Int().problem(True) is not None
    assert Float().problem(float('nan')) is not None


@pytest.mark.parametrize(
    'path',
    sorted(glob.glob(osp.join(REPO, 'configs', '*', '*.py'))) + [TINY_CFG])
def test_every_shipped_config_passes(path):
    check_config(Config.fromfile(path))


def test_load_config_names_the_file(tmp_path):
    with pytest.raises(ConfigFileError, match='no such file'):
        load_config(str(tmp_path / 'missing.py'))
    ckpt = tmp_path / 'epoch_1.pth'
    ckpt.write_bytes(b'PK\x03\x04')
    with pytest.raises(
            ConfigFileError, match=r'epoch_1\.pth: not a config '
            'file'):
        load_config(str(ckpt))
    bad = tmp_path / 'bad.py'
    bad.write_text("model = dict(type='STMixer'\n")
    with pytest.raises(ConfigFileError, match=r'bad\.py could not be read'):
        load_config(str(bad))


def _own_refusal(error: Exception, cls: type, arg: str) -> bool:
    """Whether ``error`` is the class's own plain check refusing ``arg``
    (issue 82: a message naming the class and the argument)."""
    return str(error).startswith(f'{cls.__name__}: ') and arg in str(error)


def test_every_part_checks_its_own_settings_at_build(monkeypatch):
    """No mechanism wraps a class: each registered part of the project that
    defines ``__init__`` checks its own arguments (``check_arguments(ItsClass,
    locals())``, or plain code whose message starts with the class name and
    names the argument) before any other work, so a part built from a user's
    script refuses a setting its checks refuse (a new part without it would
    go unchecked when built): given a check that refuses its first argument,
    building it raises naming the class and that argument."""
    import inspect

    from stmixer_mm.utils import settings
    from stmixer_mm.utils.settings import _registries
    real_checks_of, missing, seen = settings.checks_of, [], 0
    for registry in _registries():
        for name, cls in list(registry.module_dict.items()):
            if not isinstance(cls, type) or not cls.__module__.startswith(
                    'stmixer_mm.') or '__init__' not in vars(cls):
                continue
            assert not hasattr(cls.__init__, '__wrapped__'), name
            seen += 1
            params = [
                p for p in inspect.signature(cls.__init__).parameters.values()
                if p.name != 'self' and p.kind not in (p.VAR_POSITIONAL,
                                                       p.VAR_KEYWORD)
            ]
            takes_kwargs = any(
                p.kind is p.VAR_KEYWORD
                for p in inspect.signature(cls.__init__).parameters.values())
            if not params and not takes_kwargs:
                continue  # no argument to check
            arg = params[0].name if params else 'setting_test_only'
            kwargs = {p.name: None for p in params if p.default is p.empty}
            kwargs[arg] = object()
            refused = Setting(lambda value: 'refused by the test')

            def checks_of(kind, cls=cls, arg=arg, refused=refused):
                if kind is cls:
                    return {arg: refused}, []
                return real_checks_of(kind)

            monkeypatch.setattr(settings, 'checks_of', checks_of)
            try:
                cls.__init__(cls.__new__(cls), **kwargs)
            except ConfigSettingError as e:
                if str(e) == f'{cls.__name__}.{arg}: refused by the test':
                    continue
                if _own_refusal(e, cls, arg):
                    continue
            except (ValueError, TypeError) as e:
                if _own_refusal(e, cls, arg):
                    continue
            except Exception:
                pass
            missing.append(name)
    monkeypatch.setattr(settings, 'checks_of', real_checks_of)
    assert seen > 30 and not missing, missing
