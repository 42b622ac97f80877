"""The paths of a user of the installed package:

- a config of their own that inherits one of the package's, with
  ``_base_ = 'stmixer_mm::quickstart/...py'`` (mmengine resolves ``pkg::``
  only for the packages it lists; ``import stmixer_mm`` adds itself, and
  the scope mmengine gives the parts of such a base builds them), read by
  ``Config.fromfile`` and trained and tested by ``tools/train.py`` /
  ``tools/test.py``;
- ``tools/train.py --auto-scale-lr`` on a config without ``auto_scale_lr``:
  argparse's error (exit code 2) naming the config and what to add, not a
  ``KeyError`` traceback;
- ``tools/test.py --show`` where no window can open: refused, pointing to
  ``--show-dir`` (mmengine's ``Visualizer.show`` would draw nothing and say
  nothing).
"""
import os
import os.path as osp
import subprocess
import sys
import textwrap

import pytest
from mmengine.config import Config

import stmixer_mm  # noqa: F401  (registers the stmixer_mm:: package)

QUICKSTART = 'quickstart/stmixer_r3d-tiny_1xb8-8x2x1-36e_synthetic-ava-rgb.py'


def _child_config(tmp_path, tools, **extra):
    """A user's config in ``tmp_path`` that inherits the quick-start config
    through ``stmixer_mm::`` and points it at the tiny AVA fixture (1 epoch
    of 2 iterations, 64x64 frames)."""
    root = tools.TINY_DATA
    text = textwrap.dedent(f'''\
        _base_ = 'stmixer_mm::{QUICKSTART}'
        root = {root!r}
        anno = root + '/annotations'
        data = dict(
            label_file=anno + '/label_map.pbtxt',
            fps=8,
            timestamp_start=900,
            timestamp_end=903,
            empty_keyframe_file=None,  # the synthetic set's, not this one's
            data_prefix=dict(img=root + '/rawframes'))
        train_dataloader = dict(
            batch_size=2,
            dataset=dict(
                ann_file=anno + '/train.csv',
                exclude_file=anno + '/train_excluded_timestamps.csv',
                **data))
        val_dataloader = dict(
            dataset=dict(
                ann_file=anno + '/val.csv',
                exclude_file=anno + '/val_excluded_timestamps.csv',
                **data))
        test_dataloader = val_dataloader
        val_evaluator = dict(
            ann_file=anno + '/val.csv',
            label_file=anno + '/label_map.pbtxt',
            exclude_file=anno + '/val_excluded_timestamps.csv')
        test_evaluator = val_evaluator
        train_cfg = dict(max_epochs=1, val_begin=1, val_interval=1)
        default_hooks = dict(logger=dict(interval=1))
        ''')
    for key, value in extra.items():
        text += f'{key} = {value!r}\n'
    path = tmp_path / 'my_stmixer.py'
    path.write_text(text)
    return str(path)


def test_a_user_config_inherits_from_the_package(tmp_path, tools):
    from mmengine.registry import init_default_scope
    from mmengine.utils import get_installed_path

    from stmixer_mm.registry import METRICS
    cfg = Config.fromfile(_child_config(tmp_path, tools))
    # (the installed package's copy: the one mmengine reads, which is this
    # checkout's in the editable environment of tools/setup_env.sh)
    repo = Config.fromfile(
        osp.join(
            get_installed_path('stmixer_mm'), '.mim', 'configs', QUICKSTART))
    # the model is the package's, unchanged (its parts keep their scope)
    assert cfg.model == repo.model and cfg.model._scope_ == 'mmdet'
    assert cfg.default_scope == repo.default_scope == 'mmaction'
    assert cfg.train_dataloader.batch_size == 2
    # mmengine gives the other parts of a `stmixer_mm::` base their
    # package's scope; they build from there as from the configs' own
    assert cfg.val_evaluator._scope_ == 'stmixer_mm'
    init_default_scope('mmaction')
    metric = METRICS.build(cfg.val_evaluator)
    assert type(metric).__name__ == 'AVAMetric'


def test_a_missing_package_config_names_the_path(tmp_path):
    path = tmp_path / 'bad.py'
    path.write_text("_base_ = 'stmixer_mm::quickstart/no_such_config.py'\n")
    with pytest.raises(
            FileNotFoundError,
            match=r'\.mim/configs/quickstart/no_such_config\.py'):
        Config.fromfile(str(path))


@pytest.mark.slow
def test_train_and_test_tools_on_a_user_config(tmp_path, tools):
    cfg = _child_config(tmp_path, tools)
    work = tmp_path / 'work'
    proc = tools.python_tool('train.py', cfg, '--work-dir', str(work))
    assert 'Failed to search registry' not in proc.stdout + proc.stderr
    assert (work / 'epoch_1.pth').is_file()
    proc = tools.python_tool('test.py', cfg, str(work / 'epoch_1.pth'),
                             '--work-dir', str(tmp_path / 'test'))
    assert 'mAP/overall' in proc.stdout + proc.stderr


def test_train_auto_scale_lr_without_the_config_entry(tmp_path, tools):
    cfg = tmp_path / 'no_scale.py'
    cfg.write_text(f'_base_ = {tools.TINY_CFG!r}\n')
    proc = tools.python_tool(
        'train.py',
        str(cfg),
        '--auto-scale-lr',
        '--work-dir',
        str(tmp_path / 'w'),
        check=False)
    assert proc.returncode == 2
    assert 'Traceback' not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith('train.py: error: --auto-scale-lr: the config '
                           f'{cfg} has no `auto_scale_lr.base_batch_size`')
    assert 'auto_scale_lr = dict(enable=False, base_batch_size=N)' in last
    assert '--cfg-options auto_scale_lr.base_batch_size=N' in last
    assert not (tmp_path / 'w').exists()  # nothing was started


def test_test_show_without_a_window_is_refused(tools):
    # no display and matplotlib's non-interactive backend: no window on any
    # machine; refused before the config or the checkpoint is read
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ('DISPLAY', 'WAYLAND_DISPLAY')
    }
    env.update(MPLBACKEND='agg', OMP_NUM_THREADS='1')
    cmd = [
        sys.executable,
        osp.join(tools.REPO, 'tools', 'test.py'), tools.TINY_CFG,
        'no_checkpoint.pth', '--show'
    ]
    proc = subprocess.run(
        cmd, cwd=tools.REPO, env=env, capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith('test.py: error: --show: ')
    assert 'nothing would be shown' in last and '--show-dir DIR' in last


def test_display_problem(monkeypatch):
    import matplotlib

    from stmixer_mm.apps.display import display_problem
    monkeypatch.setattr('sys.platform', 'linux')
    monkeypatch.delenv('DISPLAY', raising=False)
    monkeypatch.delenv('WAYLAND_DISPLAY', raising=False)
    assert 'no display' in display_problem()
    monkeypatch.setenv('DISPLAY', ':0')
    monkeypatch.setattr(matplotlib, 'get_backend', lambda: 'agg')
    assert "backend is 'agg'" in display_problem()
    monkeypatch.setattr(matplotlib, 'get_backend', lambda: 'TkAgg')
    assert display_problem() is None
    # elsewhere there is no DISPLAY to look at, only the backend
    monkeypatch.setattr('sys.platform', 'darwin')
    monkeypatch.delenv('DISPLAY')
    monkeypatch.setattr(matplotlib, 'get_backend', lambda: 'macosx')
    assert display_problem() is None
