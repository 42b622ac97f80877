"""Tiny end-to-end train + test on generated tube data through the Runner.

The quick-start tube config (tiny model) on 2 + 1 generated videos of 2 s:
a few training iterations, then a test over every frame of the test video
with TubeMetric. Checks the plumbing (dataset -> model -> metric), not the
accuracy (``tools/experiments/benchmark_tubes.py`` measures that).
"""
import math
import os.path as osp

import pytest
from mmengine import load
from mmengine.config import Config
from mmengine.runner import Runner

import stmixer_mm  # noqa: F401
from stmixer_mm.apps.data_gen.synthetic_tubes import generate_synthetic_tubes
from stmixer_mm.testing import repo_root

REPO = repo_root()
CFG = osp.join(REPO, 'configs', 'quickstart',
               'stmixer_r3d-tiny_1xb8-8x2x1-6e_synthetic-tubes-rgb.py')


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('tubes'))
    generate_synthetic_tubes(
        root,
        num_train_videos=2,
        num_val_videos=1,
        seconds_per_video=2,
        write_demo=False)
    return root


def test_train_and_test_through_runner(data, tmp_path):
    cfg = Config.fromfile(CFG)
    ann = osp.join(data, 'annotations', 'tubes_GT.pkl')
    frames = osp.join(data, 'rawframes')
    for loader in (cfg.train_dataloader, cfg.val_dataloader,
                   cfg.test_dataloader):
        loader.dataset.ann_file = ann
        loader.dataset.data_prefix = dict(img=frames)
    cfg.train_dataloader.batch_size = 2
    cfg.train_dataloader.dataset.keyframe_stride = 16  # 4 keyframes
    cfg.val_evaluator.ann_file = ann
    cfg.test_evaluator.ann_file = ann
    # short videos: keep tubes of >= 5 frames so that some are linked
    cfg.test_evaluator.link_cfg = dict(min_length=5)
    # the one test video lacks some classes, which MOC's protocol
    # ('ucf_jhmdb') refuses (it divides by zero): leave them out
    assert cfg.test_evaluator.protocol == 'ucf_jhmdb'
    gt = load(ann)
    present = {
        gt['labels'][label]
        for v in gt['test_videos'][0]
        for label in gt['gttubes'][v]
    }
    absent = [label for label in gt['labels'] if label not in present]
    cfg.val_evaluator.ignore_labels = absent
    cfg.test_evaluator.ignore_labels = absent
    cfg.train_cfg = dict(
        type='EpochBasedTrainLoop', max_epochs=1, val_interval=2)
    cfg.param_scheduler = None
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.work_dir = str(tmp_path)
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert len(runner.train_dataloader.dataset) == 4
    metrics = runner.test()
    # 32 frames of the test video were each evaluated
    assert len(runner.test_dataloader.dataset) == 32
    for key in ('frameAP@0.5', 'videoAP@0.2', 'videoAP@0.5', 'videoAP@0.75',
                'videoAP@0.5:0.95'):
        value = metrics[f'mAP/{key}']
        assert not math.isnan(value) and 0.0 <= value <= 100.0, (key, value)
    assert osp.isfile(osp.join(str(tmp_path), 'epoch_1.pth'))
