"""Settings checked at build time, with their config path
(stmixer_mm.utils.settings)."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

import stmixer_mm  # noqa: F401  (registers the modules)
from stmixer_mm.utils.settings import (ConfigFileError, ConfigSettingError,
                                       Float, Int, check_config,
                                       declare_settings, load_config)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_CFG = osp.join(REPO, 'tests', 'data', 'configs',
                    'tiny_stmixer_tiny-ava.py')
TUBE_CFG = osp.join(REPO, 'configs', 'quickstart',
                    'stmixer_r3d-tiny_1xb8-8x2x1-6e_synthetic-tubes-rgb.py')


def _checked(cfg_file, **options):
    cfg = Config.fromfile(cfg_file)
    cfg.merge_from_dict(options)
    check_config(cfg)


@pytest.mark.parametrize('options, message', [
    ({
        'model.test_cfg.person_threshold': 'high'
    }, "model.test_cfg.person_threshold: expected a float in [0, 1], got "
     "'high'"),
    ({
        'model.test_cfg.person_threshold': 1.5
    }, 'model.test_cfg.person_threshold: expected a float in [0, 1], got 1.5'),
    ({
        'model.test_cfg.num_fallback': -1
    }, 'model.test_cfg.num_fallback: expected an int >= 0, got -1'),
    ({
        'model.test_cfg.multiply_person_score': 'yes'
    }, 'model.test_cfg.multiply_person_score: expected True or False'),
    ({
        'model.query_generator.num_queries': 10.0
    }, 'model.query_generator.num_queries: expected an int >= 1, got 10.0'),
    ({
        'model.decoder.stage_head.sampling_mixing.sampling_cfg.impl': 'cuda'
    }, 'model.decoder.stage_head.sampling_mixing.sampling_cfg.impl: '
     'expected one of'),
    ({
        'model.decoder.stage_head.action_branches': ['spatial', 'time']
    }, 'model.decoder.stage_head.action_branches: item 1: expected one of'),
    ({
        'model.decoder.num_stages': 0
    }, 'model.decoder.num_stages: expected an int >= 1, got 0'),
    ({
        'model.decoder.stage_head.dropout': 1.0
    }, 'model.decoder.stage_head.dropout: expected a float in [0, 1), got 1'),
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
def test_bad_setting_names_its_config_path(options, message):
    with pytest.raises(ConfigSettingError) as e:
        _checked(TINY_CFG, **options)
    assert message in str(e.value)


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
            match=r"test_evaluator\.protocol: expected one of \['ucf_jhmdb', "
            r"'multisports', 'hybrid_voc'\], got 'moc'"):
        _checked(TUBE_CFG, **{'test_evaluator.protocol': 'moc'})


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
    root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
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
        _checked(TINY_CFG, **{'model.decoder.stage_head.num_actions': 6})
    # tube data: one column per label of the pickle
    with pytest.raises(
            ConfigSettingError,
            match=r'num_actions \(3\) and '
            r'train_dataloader\.dataset\.num_classes \(4\).*'
            r'needs num_actions=4'):
        _checked(TUBE_CFG, **{'model.decoder.stage_head.num_actions': 3})
    with pytest.raises(
            ConfigSettingError,
            match='classes names 4 classes '
            'but num_classes is 5'):
        _checked(
            TUBE_CFG, **{
                'model.decoder.stage_head.num_actions': 5,
                'train_dataloader.dataset.num_classes': 5
            })


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


def test_declaring_a_new_setting_is_one_line():
    cfg = Config.fromfile(TINY_CFG)
    cfg.model.neck['out_channels_test_only'] = 0
    check_config(cfg)  # not declared: not checked
    declare_settings('STMixerLateralNeck', out_channels_test_only=Int(min=1))
    try:
        with pytest.raises(
                ConfigSettingError,
                match=r'model\.neck\.out_channels_test_only'):
            check_config(cfg)
    finally:
        from stmixer_mm.utils.settings import _DECLARED
        _DECLARED['STMixerLateralNeck'].pop('out_channels_test_only')


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
