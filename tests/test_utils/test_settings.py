"""The pre-run check (stmixer_mm.apps.preflight.check_config): each part of
a config is built cheaply so that its own ``__init__`` refuses a bad value,
named by the part's config path."""
import glob
import os.path as osp
from unittest import mock

import pytest
from mmengine.config import Config

import stmixer_mm  # noqa: F401  (registers the modules)
from stmixer_mm import testing
from stmixer_mm.apis.config_files import load_config
from stmixer_mm.apps.preflight import check_config
from stmixer_mm.testing import repo_root
from stmixer_mm.utils.checks import ConfigSettingError

REPO = repo_root()
TINY_CFG = testing.repo_path(testing.TINY_CFG)
TUBE_CFG = osp.join(REPO, 'configs', 'quickstart',
                    'stmixer_r3d-tiny_1xb8-8x2x1-6e_synthetic-tubes-rgb.py')


def _checked(cfg_file, **options):
    cfg = Config.fromfile(cfg_file)
    cfg.merge_from_dict(options)
    check_config(cfg)


@pytest.mark.parametrize('options, path, message', [
    ({
        'model.test_cfg.rcnn.person_threshold': 1.5
    }, 'model.roi_head', 'person_threshold'),
    ({
        'model.rpn_head.num_queries': 10.0
    }, 'model.rpn_head', 'num_queries'),
    ({
        'model.roi_head.num_stages': 0
    }, 'model.roi_head', 'num_stages'),
    ({
        'test_dataloader.dataset.pipeline.0.clip_len': 2.5
    }, 'test_dataloader.dataset.pipeline[0]',
     'SampleAVAFrames: clip_len must be an int >= 1, got 2.5'),
    ({
        'train_dataloader.dataset.pipeline.3.flip_ratio': 1.5
    }, 'train_dataloader.dataset.pipeline[3]',
     'Flip: flip_ratio must be a number in [0, 1], got 1.5'),
    ({
        'train_dataloader.dataset.pipeline.2.scale_range': [80, 64]
    }, 'train_dataloader.dataset.pipeline[2]',
     'RandomShortSideResize: scale_range must be two ints'),
    ({
        'test_dataloader.dataset.timestamp_end': 800
    }, 'test_dataloader.dataset', 'timestamp_end (800) must be after '
     'timestamp_start (900)'),
    ({
        'train_dataloader.dataset.frame_check': 'none'
    }, 'train_dataloader.dataset', 'AVAActorDataset: frame_check must be'),
    ({
        'val_evaluator.num_classes': '8'
    }, 'val_evaluator', "AVAMetric: num_classes must be an int >= 2, got '8'"),
    ({
        'default_hooks.logger.interval': 'x'
    }, 'default_hooks.logger', 'interval must be an integer'),
    ({
        'custom_hooks': [dict(type='KeepPredictionsHook', max_videos=0)]
    }, 'custom_hooks[0]', 'KeepPredictionsHook: max_videos must be an int'),
    ({
        'visualizer': dict(type='ActionDetLocalVisualizer', topk=0)
    }, 'visualizer', 'ActionDetLocalVisualizer: topk must be an int >= 1'),
])
def test_bad_setting_names_its_config_path(options, path, message, tmp_path):
    with pytest.raises(ConfigSettingError) as e:
        _checked(TINY_CFG, **options)
    assert str(e.value).startswith(f'{path}:'), str(e.value)
    assert message in str(e.value), str(e.value)
    # the project's parts refuse the same value when a user's own script
    # builds them (Runner.from_cfg builds the model; data sets are built
    # when a loop needs them; a AVAActorDataset checks the mmaction2
    # steps of its pipeline); mmaction2's own classes (AVAMetric, a Flip
    # built alone) before a run only: importing stmixer_mm changes none
    section = next(iter(options)).split('.')[0]
    if section not in ('model', 'train_dataloader', 'test_dataloader'):
        return
    cfg = Config.fromfile(TINY_CFG)
    cfg.merge_from_dict(options)
    cfg.work_dir = str(tmp_path)
    with pytest.raises(ValueError) as e:
        _build_part(cfg, section)
    assert next(iter(options)).split('.')[-1] in str(e.value), str(e.value)


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
            match=r'^train_dataloader\.dataset: ValueError: TubeDataset: '
            r'keyframe_stride must be an int >= 1, got 2\.5'):
        _checked(TUBE_CFG, **{'train_dataloader.dataset.keyframe_stride': 2.5})
    with pytest.raises(
            ConfigSettingError,
            match=r"^val_evaluator: ValueError: TubeMetric: missing_videos "
            r"must be one of \('error', 'warn'\), got 'skip'"):
        _checked(TUBE_CFG, **{'val_evaluator.missing_videos': 'skip'})
    with pytest.raises(
            ConfigSettingError,
            match=r"^test_evaluator: .*protocol must be one of \('ucf_jhmdb', "
            r"'multisports'\), got 'moc': use 'ucf_jhmdb' for "):
        _checked(TUBE_CFG, **{'test_evaluator.protocol': 'moc'})
    # the earlier, unpublished protocol is gone: named as removed
    with pytest.raises(
            ConfigSettingError,
            match=r"protocol must be one of \('ucf_jhmdb', "
            r"'multisports'\), got 'hybrid_voc' \('hybrid_voc', this "
            r"project's earlier, unpublished metric, was removed\): use "
            r"'ucf_jhmdb' for JHMDB-21 / UCF101-24 \(MOC's ACT.py\) or "
            r"'multisports' for MultiSports"):
        _checked(TUBE_CFG, **{'val_evaluator.protocol': 'hybrid_voc'})
    # the pipeline reads what use_frames gives each sample
    with pytest.raises(
            ConfigSettingError,
            match=r'^train_dataloader\.dataset: .*pipeline\[\d\] is '
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
            match=r'^test_dataloader\.dataset: .*pipeline\[0\] is '
            'DecordInit, but use_frames=True gives each sample frame folders'):
        check_config(video)


def test_the_pre_run_check_reads_no_annotation_file(tmp_path):
    """Data sets are built with lazy_init=True, metrics that read their
    file with lazy_init=True: a config whose files are not there yet
    passes (the run reads them), a bad value beside them does not."""
    cfg = Config.fromfile(TUBE_CFG)
    missing = str(tmp_path / 'no_such_gt.pkl')
    cfg.train_dataloader.dataset.ann_file = missing
    cfg.val_evaluator.ann_file = missing
    check_config(cfg)
    cfg.val_evaluator.iou_thr = 1.5
    with pytest.raises(
            ConfigSettingError,
            match=r'^val_evaluator: ValueError: TubeMetric: iou_thr must be a '
            r'number in '
            r'\(0, 1\], got 1\.5'):
        check_config(cfg)


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
            match=rf"^model\.backbone: .*{key.split('.')[-1]} must be one of "
            rf'.*got {value!r}'):
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
    assert cfg.default_hooks.class_consistency.type == 'ClassConsistencyHook'
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


@pytest.mark.parametrize(
    'path',
    sorted(glob.glob(osp.join(REPO, 'configs', '*', '*.py'))) + [TINY_CFG])
def test_every_shipped_config_passes(path):
    check_config(Config.fromfile(path))


def test_load_config_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='no such file'):
        load_config(str(tmp_path / 'missing.py'))
    ckpt = tmp_path / 'epoch_1.pth'
    ckpt.write_bytes(b'PK\x03\x04')
    with pytest.raises(
            ConfigSettingError, match=r'epoch_1\.pth: not a config '
            'file'):
        load_config(str(ckpt))
    bad = tmp_path / 'bad.py'
    bad.write_text("model = dict(type='STMixer'\n")
    with pytest.raises(ConfigSettingError, match=r'bad\.py could not be read'):
        load_config(str(bad))


@pytest.mark.parametrize('base', [
    "'{{ fileDirname }}/base/tiny.py'",
    "'{{$STMIXER_TEST_BASE:./base/tiny.py}}'",
    "['./base/tiny.py']",
])
def test_every_base_form_mmengine_reads_is_read(tmp_path, monkeypatch, base):
    """Issue 112: a ``_base_`` with mmengine's substitutions (predefined
    variables, environment variables with a default) reads as
    ``Config.fromfile`` reads it; one that is missing after them is still
    named before the runner."""
    monkeypatch.delenv('STMIXER_TEST_BASE', raising=False)
    (tmp_path / 'base').mkdir()
    (tmp_path / 'base' / 'tiny.py').write_text(f'_base_ = [{TINY_CFG!r}]\n')
    user = tmp_path / 'user.py'
    user.write_text(f'_base_ = {base}\ntrain_cfg = dict(max_epochs=1)\n')
    cfg = load_config(str(user))
    assert cfg.model.type == 'STMixer' and cfg.train_cfg.max_epochs == 1
    (tmp_path / 'base' / 'tiny.py').unlink()
    with pytest.raises(FileNotFoundError) as info:
        load_config(str(user))
    assert f"{tmp_path / 'base' / 'tiny.py'}) does not exist" in \
        str(info.value)


@pytest.mark.parametrize('options, message', [
    ({
        'optim_wrapper.optimizer.type': 'AdamWW'
    }, "optim_wrapper.optimizer.type: 'AdamWW' is not a registered optimizer; "
     "did you mean ['AdamW'"),
    ({
        'optim_wrapper.optimizer.lr': -1e-4
    }, 'optim_wrapper.optimizer.lr must be a finite number >= 0, got -0.0001'),
    ({
        'optim_wrapper.optimizer.lr': float('inf')
    }, 'optim_wrapper.optimizer.lr must be a finite number >= 0, got inf'),
    ({
        'optim_wrapper.optimizer.weight_decay': float('nan')
    }, 'optim_wrapper.optimizer.weight_decay must be a finite number >= 0'),
    ({
        'optim_wrapper.optimizer.fused': 'no'
    }, "optim_wrapper.optimizer.fused must be True, False or None, got 'no'"),
    ({
        'optim_wrapper.optimizer.foreach': 1
    }, 'optim_wrapper.optimizer.foreach must be True, False or None, got 1'),
    ({
        'optim_wrapper.optimizer': dict(type='RMSprop', lr=1e-3, fused=True)
    }, 'optim_wrapper.optimizer.fused: RMSprop takes no fused'),
    ({
        'param_scheduler': [dict(type='LinearLRR', start_factor=0.1)]
    }, "param_scheduler[0].type: 'LinearLRR' is not a registered parameter "
     "scheduler; did you mean ['LinearLR'"),
    ({
        'train_dataloader.batch_size': 0
    }, 'train_dataloader.batch_size must be an int >= 1, got 0'),
    ({
        'val_dataloader.batch_size': 2.0
    }, 'val_dataloader.batch_size must be an int >= 1, got 2.0'),
    ({
        'train_dataloader.num_workers': -1
    }, 'train_dataloader.num_workers must be an int >= 0, got -1'),
    ({
        'train_dataloader.prefetch_factor': 2,
        'train_dataloader.num_workers': 0
    }, "train_dataloader: torch's DataLoader refuses batch_size=2, "
     'num_workers=0, persistent_workers=False, prefetch_factor=2: '
     'prefetch_factor option could only be specified in multiprocessing'),
    ({
        'val_dataloader.persistent_workers': True,
        'val_dataloader.num_workers': 0
    }, "val_dataloader: torch's DataLoader refuses"),
    ({
        'test_dataloader.timeout': -1
    }, 'timeout option should be non-negative'),
    ({
        'train_dataloader.num_workers': 1,
        'train_dataloader.multiprocessing_context': 'spwan'
    }, 'multiprocessing_context option should specify a valid start method'),
    ({
        'train_dataloader.shuffle': True
    }, 'sampler option is mutually exclusive with shuffle'),
])
def test_training_settings_are_checked_before_the_run(options, message):
    """The optimizer, its schedulers and the dataloaders' sizes are checked
    before the runner is built, naming the config path."""
    with pytest.raises(ConfigSettingError) as info:
        _checked(TINY_CFG, **options)
    assert message in str(info.value)


@pytest.mark.parametrize('options, message', [
    ({
        'param_scheduler': [dict(type='LinearLR', begin=2, end=1)]
    }, 'param_scheduler[0]: LinearLR refuses '
     "{'begin': 2, 'end': 1}: end should be larger than begin"),
    ({
        'param_scheduler': [dict(type='LinearLR', ends=1)]
    }, "unexpected keyword argument 'ends'"),
    ({
        'optim_wrapper.accumulative_counts': 0
    }, 'optim_wrapper.accumulative_counts must be an int >= 1'),
    ({
        'default_hooks.checkpoint.interval': 0
    }, 'default_hooks.checkpoint.interval must be an int >= 1 (or -1: no '
     'periodic checkpoint), got 0 (0 saved no checkpoint, silently)'),
    ({
        'train_dataloader.pin_memory': 'yes'
    }, "train_dataloader.pin_memory must be True or False, got 'yes'"),
    ({
        'val_dataloader.persistent_workers': 1
    }, 'val_dataloader.persistent_workers must be True or False, got 1'),
    ({
        'test_dataloader.num_workers': 2,
        'test_dataloader.prefetch_factor': 0
    }, 'test_dataloader.prefetch_factor must be an int >= 1 or None, got 0'),
])
def test_what_mmengine_and_torch_refuse_later_is_refused_before(
        options, message):
    """Settings mmengine or torch refuse only once the runner is built (a
    scheduler ending before it begins, no gradient to accumulate) or take
    silently wrong (no periodic checkpoint, a truthy string)
    are refused before the run; a scheduler is built on a one-parameter
    optimizer of the configured type and refuses in mmengine's words."""
    with pytest.raises(ConfigSettingError) as info:
        _checked(TINY_CFG, **options)
    assert message in str(info.value)


def test_valid_training_settings_pass():
    _checked(
        TINY_CFG, **{
            'optim_wrapper.optimizer.fused': False,
            'train_dataloader.num_workers': 0
        })
    _checked(
        TINY_CFG,
        **{
            'train_dataloader.num_workers':
            2,
            'train_dataloader.prefetch_factor':
            4,
            'train_dataloader.persistent_workers':
            True,
            'train_dataloader.pin_memory':
            True,
            'train_dataloader.timeout':
            30,
            'default_hooks.checkpoint.interval':
            -1,
            'optim_wrapper.accumulative_counts':
            2,
            'param_scheduler': [
                dict(
                    type='LinearLR',
                    start_factor=0.1,
                    by_epoch=True,
                    begin=0,
                    end=1,
                    convert_to_iter_based=True,
                    _scope_='stmixer_mm')  # (as tools write them)
            ],
        })


@pytest.mark.parametrize(
    'options, message',
    [
        ({
            'train_cfg.max_epoch': 2
        }, "train_cfg.max_epoch: EpochBasedTrainLoop takes no 'max_epoch' "
         '(it takes max_epochs, val_begin, val_interval, '
         'dynamic_intervals); did you mean max_epochs?'),
        ({
            'val_cfg.fp61': True
        }, "val_cfg.fp61: ValLoop takes no 'fp61' (it takes fp16)"),
        ({
            'train_dataloader.batch_sizee': 2
        }, "train_dataloader.batch_sizee: neither the Runner nor torch's "
         "DataLoader takes 'batch_sizee'; did you mean batch_size?"),
        ({
            'default_hooks.checkpoint.save_every': 2
        }, "default_hooks.checkpoint.save_every: CheckpointHook takes no "
         "'save_every'"),
        ({
            'optim_wrapper.clip_grad': dict(max_normm=1)
        }, "optim_wrapper.clip_grad.max_normm: clip_grad_norm_ takes no "
         "'max_normm'"),
        (
            {  # the config's max_norm stays when the type is switched
                'optim_wrapper.clip_grad': dict(type='value', clip_value=1)
            },
            "optim_wrapper.clip_grad.max_norm: clip_grad_value_ takes no "
            "'max_norm' (it takes clip_value, foreach)"),
        (
            {  # mmdet's EMA recipe as mmdet's configs write it (issue 112)
                'custom_hooks': [
                    dict(
                        type='EMAHook',
                        ema_type='ExpMomentumEMA',
                        momentum=0.0002,
                        update_buffers=True,
                        priority=49)
                ]
            },
            "custom_hooks[0].ema_type='ExpMomentumEMA' is not in the model "
            "registry of the config's default scope 'mmaction', where "
            "EMAHook builds it; it is mmdet's: write "
            "ema_type='mmdet.ExpMomentumEMA'"),
    ])
def test_late_keys_are_refused_before_the_run(options, message):
    """Issue 97 (the quick start's late values): a key of a section the
    Runner reads only when it builds it (loops, dataloaders, hooks,
    gradient clipping) passed the check before the data step and failed
    after it (or at the first checkpoint); it is refused before the run,
    naming the key and what reads it."""
    with pytest.raises(ConfigSettingError) as info:
        _checked(TINY_CFG, **options)
    assert message in str(info.value)


@pytest.mark.parametrize('options, message', [
    ({
        'param_scheduler': [dict(type='LinearLR', by_epoch='False', end=1)]
    }, "param_scheduler[0].by_epoch must be True or False (as its default "
     "True), got 'False'"),
    ({
        'param_scheduler':
        [dict(type='MultiStepLR', milestones=[1], gamma='x')]
    }, "param_scheduler[0].gamma must be a number (as its default 0.1), got "
     "'x'"),
    ({
        'log_processor': dict(window_sizes=1)
    }, "log_processor.window_sizes: LogProcessor takes no 'window_sizes' (it "
     'takes window_size, by_epoch, custom_cfg, num_digits, log_with_hierarchy,'
     ' mean_pattern); did you mean window_size?'),
    ({
        'log_processor': dict(by_epoch='yes')
    }, "log_processor.by_epoch must be True or False (as its default True), "
     "got 'yes'"),
    ({
        'randomness': dict(seed='0')
    }, "randomness.seed must be an int or None, got '0'"),
    ({
        'randomness': dict(seed=0, deterministic='no')
    }, "randomness.deterministic must be True or False (as its default "
     "False), got 'no'"),
    ({
        'randomness': dict(seed=0, diff_rank=True)
    }, "randomness.diff_rank: Runner.set_randomness takes no 'diff_rank'"),
    ({
        'env_cfg.mp_cfg.mp_start_method': 'fork2'
    }, "env_cfg.mp_cfg.mp_start_method must be one of ['fork', 'spawn', "
     "'forkserver'] (this platform's), got 'fork2'"),
    ({
        'env_cfg.mp_cfg.opencv_num_threads': '4'
    }, "env_cfg.mp_cfg.opencv_num_threads must be an int (as its default 0),"
     " got '4'"),
    ({
        'env_cfg.cudnn_benchmark': 'true'
    }, "env_cfg.cudnn_benchmark must be True or False, got 'true'"),
    ({
        'env_cfg.dist_cfg.timeout': '30m'
    }, "env_cfg.dist_cfg.timeout must be a number of seconds > 0, got '30m'"),
])
def test_runtime_settings_are_refused_before_the_work_dir(options, message):
    """Issue 112: mmengine's runtime settings, read after the work dir is
    made (a string where a bool is meant reads as true, exit 0), are
    refused before the run, naming the setting."""
    with pytest.raises(ConfigSettingError) as info:
        _checked(TINY_CFG, **options)
    assert message in str(info.value)


def test_valid_runtime_settings_pass():
    _checked(
        TINY_CFG, **{
            'param_scheduler':
            [dict(type='LinearLR', by_epoch=False, end=1, start_factor=1)],
            'log_processor':
            dict(window_size=5, by_epoch=True),
            'randomness':
            dict(seed=None, deterministic=False),
            'env_cfg.mp_cfg.mp_start_method':
            'spawn',
            'env_cfg.dist_cfg.timeout':
            1800,
        })


def test_valid_late_keys_pass():
    _checked(
        TINY_CFG, **{
            'train_cfg.max_epochs': 2,
            'default_hooks.checkpoint.interval': 2,
            'default_hooks.checkpoint.max_keep_ckpts': 1,
            'optim_wrapper.clip_grad': dict(max_norm=1.0, norm_type=2),
            'train_dataloader.persistent_workers': False
        })
