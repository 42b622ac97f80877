"""mmaction2's own ``tools/test.py --show-dir`` on a stmixer_mm config.

mmaction2 1.2.0's ``tools/test.py`` (``merge_args``) switches the config's
visualization hook on by setting these keys, whatever the hook's type:
``default_hooks.visualization.enable = True``, ``.show = args.show``,
``.wait_time = args.wait_time`` (default 2), ``.out_dir = args.show_dir``
and ``.interval = args.interval`` (default 1); then ``Runner.from_cfg`` and
``runner.test()``. The tests set exactly those keys (no copy of mmaction2's
script is needed) and run the tiny fixture config.
"""
import os
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import stmixer_mm  # noqa: F401
from stmixer_mm import testing
from stmixer_mm.engine.hooks import ActionDetVisualizationHook
from stmixer_mm.testing import repo_root
from stmixer_mm.visualization import ActionDetLocalVisualizer

REPO = repo_root()
TINY_CFG = testing.repo_path(testing.TINY_CFG)
NUM_VAL_SAMPLES = 4  # keyframes of tests/data/tiny_ava val.csv


def mmaction2_merge_args(cfg,
                         show=False,
                         show_dir=None,
                         interval=1,
                         wait_time=2.0):
    """The visualization part of mmaction2 1.2.0 ``tools/test.py``'s
    ``merge_args`` (the keys it sets, with its argument defaults)."""
    assert 'visualization' in cfg.default_hooks
    cfg.default_hooks.visualization.enable = True
    cfg.default_hooks.visualization.show = show
    cfg.default_hooks.visualization.wait_time = wait_time
    cfg.default_hooks.visualization.out_dir = show_dir
    cfg.default_hooks.visualization.interval = interval
    return cfg


def _images(root):
    return sorted(
        osp.join(r, f) for r, _, files in os.walk(root) for f in files
        if f.endswith(('.jpg', '.png')))


def _run(tmp_path, name, **kw):
    cfg = mmaction2_merge_args(Config.fromfile(TINY_CFG), **kw)
    cfg.work_dir = str(tmp_path / name)
    cfg.visualizer.name = f'mmaction_args_{name}'  # a fresh instance
    runner = Runner.from_cfg(cfg)
    torch.manual_seed(0)
    runner.test()
    return runner


@pytest.mark.slow
def test_mmaction2_show_dir(tmp_path, monkeypatch):
    # absolute --show-dir: every test sample drawn there
    out = tmp_path / 'shown'
    runner = _run(tmp_path, 'abs', show_dir=str(out))
    files = _images(str(out))
    assert len(files) == NUM_VAL_SAMPLES
    assert all(osp.basename(f).startswith('syn_val_') for f in files)
    # nothing went to the work dir's vis backends instead
    assert not _images(osp.join(runner.work_dir, runner.timestamp))
    # relative --show-dir and --interval 2: relative to the current
    # directory, as mmaction2's own VisualizationHook writes it
    monkeypatch.chdir(tmp_path)
    _run(tmp_path, 'rel', show_dir='rel_vis', interval=2)
    assert len(_images(str(tmp_path / 'rel_vis'))) == NUM_VAL_SAMPLES // 2


@pytest.fixture
def visualizer():
    """The runner's visualizer, which the hook draws with."""
    return ActionDetLocalVisualizer.get_instance('mmaction_args_unit')


def test_mmaction2_keys_reach_the_hook(visualizer):
    cfg = mmaction2_merge_args(
        Config.fromfile(TINY_CFG),
        show=True,
        show_dir='d',
        interval=3,
        wait_time=0.5)
    kwargs = dict(cfg.default_hooks.visualization)
    assert kwargs.pop('type') == 'ActionDetVisualizationHook'
    hook = ActionDetVisualizationHook(**kwargs)
    assert (hook.draw, hook.show, hook.wait_time, hook.out_dir,
            hook.interval) == (True, True, 0.5, 'd', 3)


def test_enable_decides_and_dirs_exclusive(visualizer):
    assert ActionDetVisualizationHook(draw=True, enable=False).draw is False
    assert ActionDetVisualizationHook(draw=False, enable=True).draw is True
    assert ActionDetVisualizationHook(draw=True).draw is True
    with pytest.raises(ValueError, match='test_out_dir.*out_dir'):
        ActionDetVisualizationHook(test_out_dir='a', out_dir='b')
