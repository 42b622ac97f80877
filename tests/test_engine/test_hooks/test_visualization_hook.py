"""ActionDetVisualizationHook in a Runner test loop on the tiny fixture
config: ``--show-dir`` writes one image per sample, ``--interval`` thins
them, and ``trigger_visualization_hook`` sets the hook and visualizer up
like mmdet's ``tools/test.py``."""
import argparse
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from mmengine.visualization import Visualizer

import stmixer_mm  # noqa: F401
from stmixer_mm import testing
from stmixer_mm.apps.runner_utils import trigger_visualization_hook
from stmixer_mm.engine.hooks import keyframe_from_inputs
from stmixer_mm.testing import repo_root

REPO = repo_root()
TINY_CFG = testing.repo_path(testing.TINY_CFG)
NUM_VAL_SAMPLES = 4  # keyframes of tests/data/tiny_ava val.csv


def _args(**kw):
    base = dict(show=False, show_dir=None, wait_time=2.0, interval=None)
    base.update(kw)
    return argparse.Namespace(**base)


def _run_test(tmp_path, name, **kw):
    cfg = Config.fromfile(TINY_CFG)
    cfg.work_dir = str(tmp_path / name)
    # a fresh ManagerMixin instance (a used name returns the old one)
    cfg.visualizer.name = f'hook_test_{name}'
    cfg = trigger_visualization_hook(cfg, _args(**kw))
    runner = Runner.from_cfg(cfg)
    torch.manual_seed(0)
    runner.test()
    return runner


def _images(root):
    return sorted(
        osp.join(r, f) for r, _, files in os.walk(root) for f in files
        if f.endswith(('.jpg', '.png')))


@pytest.mark.slow
def test_show_dir_writes_one_image_per_sample(tmp_path):
    runner = _run_test(tmp_path, 'all', show_dir='vis')
    out = osp.join(runner.work_dir, runner.timestamp, 'vis')
    files = _images(out)
    assert len(files) == NUM_VAL_SAMPLES
    # named after the AVA img_key, e.g. syn_val_000_0901.jpg
    assert all(osp.basename(f).startswith('syn_val_') for f in files)
    img = cv2.imread(files[0])
    # the 64x64 keyframe scaled up (short side 360), side by side, legend
    assert img.shape[0] > 360 and img.shape[1] >= 2 * 360
    # the hook's visualizer knows the label map of the dataset
    vis = Visualizer.get_current_instance()
    assert vis.label_names and 1 in vis.label_names


@pytest.mark.slow
def test_interval_and_backends(tmp_path):
    runner = _run_test(tmp_path, 'every2', show_dir='vis', interval=2)
    assert len(_images(osp.join(runner.work_dir, runner.timestamp,
                                'vis'))) == NUM_VAL_SAMPLES // 2
    # no --show-dir: drawings go to the config's vis backends
    runner = _run_test(tmp_path, 'backend', interval=1)
    vis_image = osp.join(runner.work_dir, runner.timestamp, 'vis_data',
                         'vis_image')
    assert len(_images(vis_image)) == NUM_VAL_SAMPLES


def test_trigger_sets_hook_and_visualizer():
    cfg = Config.fromfile(TINY_CFG)
    # the plugin's default runtime draws with its own visualizer, the hook
    # is there but off until --show / --show-dir
    assert cfg.visualizer.type == 'ActionDetLocalVisualizer'
    assert cfg.default_hooks.visualization.type == \
        'ActionDetVisualizationHook'
    assert cfg.default_hooks.visualization.draw is False
    # a config on mmaction2's runtime (ActionVisualizer draws no boxes, no
    # visualization hook) gets both, with its vis backends
    cfg.visualizer = dict(
        type='ActionVisualizer',
        vis_backends=[
            dict(type='LocalVisBackend'),
            dict(type='TensorboardVisBackend')
        ])
    cfg.default_hooks.pop('visualization')
    backends = cfg.visualizer.vis_backends
    cfg = trigger_visualization_hook(
        cfg, _args(show=True, show_dir='out', wait_time=0.5))
    hook = cfg.default_hooks.visualization
    assert hook.type == 'ActionDetVisualizationHook'
    assert (hook.draw, hook.show, hook.wait_time, hook.test_out_dir,
            hook.interval) == (True, True, 0.5, 'out', 1)
    assert cfg.visualizer.type == 'ActionDetLocalVisualizer'
    assert cfg.visualizer.vis_backends == backends


def test_keyframe_from_inputs():
    clip = torch.zeros(3, 5, 8, 10, dtype=torch.uint8)
    clip[:, 2] = 200  # the middle frame of 5
    clip[0, 2] = 10  # R channel differs: order kept
    img = keyframe_from_inputs(clip, (6, 9))
    assert img.shape == (6, 9, 3) and img.dtype == np.uint8
    assert img[0, 0].tolist() == [10, 200, 200]
    assert keyframe_from_inputs(clip[None]).shape == (8, 10, 3)
    with pytest.raises(ValueError, match=r'\[C, T, H, W\]'):
        keyframe_from_inputs(torch.zeros(7, 2, 8, 8))
    with pytest.raises(ValueError, match='larger'):
        keyframe_from_inputs(clip, (9, 10))
