"""The new-style (pure-Python) configs of ``stmixer_mm/configs/`` are what
``tools/misc/write_new_style_configs.py`` generates from the old-style
configs of ``configs/`` (each config is written once, in the old style),
and they equal them.

- ``--check`` finds no missing, stale or extra file; a stale, extra or
  hand-written file is reported, and the tool overwrites no file it did
  not write;
- the resolved configs (every top-level entry: model, datasets, pipelines,
  optimizer, schedulers, loops, hooks, visualizer, runtime) are equal
  value for value, a class in the new-style file being equal to a type
  string of the old-style file when the string resolves to that class in
  the registries of its scope (``mmdet`` under the model's ``_scope_``,
  ``mmaction``, the configs' default scope, elsewhere). Equal configs
  build the same models: the inference API gives identical detections
  from either file with one checkpoint.

A user's child config in a temporary folder inherits a shipped config with
``with read_base(): from stmixer_mm.configs... import *``, overrides
entries, and mmengine's ``Runner.from_cfg`` trains one iteration on the
tiny synthetic AVA fixture.
"""
import copy
import inspect
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

import stmixer_mm
from stmixer_mm.registry import MODELS
from stmixer_mm.testing import repo_root
from stmixer_mm.testing.registry_names import objects_named

ROOT = Path(repo_root())
OLD_DIR = ROOT / 'configs'
PKG = Path(stmixer_mm.__file__).resolve().parent
NEW_DIR = PKG / 'configs'


def twin_name(old):
    """The new-style twin of an old-style leaf: the same folder and name,
    ``-`` written ``_`` (a module name)."""
    return old.replace('-', '_')


#: every old-style leaf config (``configs/<folder>/<name>.py``, bases
#: excluded) by the path of its new-style twin under stmixer_mm/configs
PAIRS = {
    twin_name(str(p.relative_to(OLD_DIR))): str(p.relative_to(OLD_DIR))
    for p in sorted(OLD_DIR.glob('*/*.py')) if p.parent.name != '_base_'
}
QUICKSTART = {k: v for k, v in PAIRS.items() if k.startswith('quickstart/')}
#: the five official settings whose built models are compared below
OFFICIAL = {
    twin_name(f'stmixer/{old}_ava22-rgb.py'): f'stmixer/{old}_ava22-rgb.py'
    for old in (
        'stmixer_slowonly-r50_k400-pre_8xb2-4x16x1-12e-adamw',
        'stmixer_slowfast-r50_k400-pre_8xb2-8x8x1-12e-adamw',
        'stmixer_slowfast-r101-nl_k600-pre_8xb2-8x8x1-12e-adamw',
        'stmixer_vit-base-p16_videomae-k400-pre_8xb1-16x4x1-12e-adamw',
        'stmixer_vit-base-p16_videomaev2-k710-k400-pre_8xb1-16x4x1-12e-adamw',
    )
}
#: the AVA quick start, the config the tests below inherit from or break
AVA_QUICKSTART = ('quickstart/'
                  'stmixer_r3d_tiny_1xb8_8x2x1_36e_synthetic_ava_rgb.py')


def load_pair(new):
    """(new-style Config, old-style Config) of one shipped setting."""
    return (Config.fromfile(str(NEW_DIR / new)),
            Config.fromfile(str(OLD_DIR / PAIRS[new])))


def entries(cfg):
    """The config's entries; a new-style file's imported names (the classes
    its ``type`` fields name) are not entries."""
    imported = getattr(cfg, '_imported_names', set())
    return {k: cfg[k] for k in cfg.keys() if k not in imported}


def config_differences(new, old, path='', scope='mmaction'):
    """Where ``new`` and ``old`` differ (config paths), types compared by
    what they build (see the module docstring)."""
    if isinstance(new, dict) and isinstance(old, dict):
        if '_scope_' not in new and old.get('_scope_') == scope:
            # mmengine marks what an old-style file reads from an
            # `mmaction::` base with that scope: the default scope already
            old = {k: v for k, v in old.items() if k != '_scope_'}
        scope = old.get('_scope_', scope)
        out = [
            f'{path}.{k}: only in the ' + ('new' if k in new else 'old') +
            '-style config' for k in sorted(set(new) ^ set(old))
        ]
        for key in sorted(set(new) & set(old)):
            sub = f'{path}.{key}' if path else key
            out += config_differences(new[key], old[key], sub, scope)
        return out
    if inspect.isclass(new) and isinstance(old, str):  # `type`, dataset_type
        if new in objects_named(old, scope):
            return []
        return [f'{path}: {new} is not what {old!r} builds in scope {scope}']
    if isinstance(new, (list, tuple)) and isinstance(old, (list, tuple)):
        if type(new) is not type(old) or len(new) != len(old):
            return [f'{path}: {new!r} != {old!r}']
        return [
            d for i, (a, b) in enumerate(zip(new, old))
            for d in config_differences(a, b, f'{path}[{i}]', scope)
        ]
    if type(new) is not type(old) or new != old:
        return [f'{path}: {new!r} != {old!r}']
    return []


def write_new_style(*args):
    """Run tools/misc/write_new_style_configs.py: (exit status, stderr)."""
    done = subprocess.run(
        [sys.executable, 'tools/misc/write_new_style_configs.py', *args],
        cwd=ROOT,
        capture_output=True,
        text=True)
    return done.returncode, done.stderr


def test_new_style_configs_are_what_the_old_style_ones_generate(tmp_path):
    """``--check`` of a copy of stmixer_mm/configs with one file made stale
    and one added reports those two and nothing else (so every other file
    is what configs/ generates); writing mends the generated file and
    leaves what it did not write."""
    # every old-style leaf has its generated form, and only those (with
    # the bases and each folder's __init__.py)
    shipped = {
        str(p.relative_to(NEW_DIR))
        for p in NEW_DIR.rglob('*.py')
        if '_base_' not in p.parts and p.name != '__init__.py'
    }
    assert shipped == set(PAIRS) and len(PAIRS) >= 38
    assert set(OFFICIAL) <= set(PAIRS) and len(QUICKSTART) == 6
    out = tmp_path / 'configs'
    shutil.copytree(NEW_DIR, out)
    stale = out / AVA_QUICKSTART
    stale.write_text(stale.read_text().replace(
        'model.roi_head.num_stages = 3', 'model.roi_head.num_stages = 4'))
    (out / 'quickstart' / 'mine.py').write_text('x = 1\n')
    status, err = write_new_style('--check', '--out', str(out))
    assert status == 1
    assert err.splitlines()[1:] == [
        f'  stale: {out}/{AVA_QUICKSTART} (from configs/'
        f'{PAIRS[AVA_QUICKSTART]})',
        f'  extra: {out}/quickstart/mine.py (no config of configs/ '
        'generates it)'
    ], err
    assert 'run python tools/misc/write_new_style_configs.py' in err
    other = AVA_QUICKSTART.replace('stmixer_r3d', 'stmixer_fpn_r3d')
    (out / other).write_text('x = 1\n')
    status, err = write_new_style('--out', str(out))
    assert status == 1
    assert f'not generated: {out}/{other}' in err
    assert f'extra: {out}/quickstart/mine.py' in err
    assert (out / 'quickstart' / 'mine.py').read_text() == 'x = 1\n'
    assert (out / other).read_text() == 'x = 1\n'
    assert stale.read_text() == (NEW_DIR / AVA_QUICKSTART).read_text()


@pytest.mark.parametrize('new', sorted(PAIRS))
def test_new_style_config_equals_the_old_style_one(new):
    new_cfg, old_cfg = load_pair(new)
    assert config_differences(entries(new_cfg), entries(old_cfg)) == []
    # the new-style file does name classes, not strings
    assert inspect.isclass(new_cfg.model.type)
    assert inspect.isclass(new_cfg.train_dataloader.dataset.type)


@pytest.mark.parametrize('new', [AVA_QUICKSTART] + sorted(OFFICIAL)[:1])
def test_dumped_new_style_config_reads_back_the_same(new, tmp_path):
    """The Runner writes the config into the work dir with
    ``Config.dump``: for a new-style config a file whose types are import
    paths (``'stmixer_mm.models.STMixer'``); read back (e.g. by
    tools/test.py on the work dir's copy) it is the same config."""
    new_cfg = Config.fromfile(str(NEW_DIR / new))
    new_cfg.dump(str(tmp_path / 'dumped.py'))
    dumped = Config.fromfile(str(tmp_path / 'dumped.py'))
    assert dumped.model.type == 'stmixer_mm.models.STMixer'
    assert config_differences(entries(new_cfg), entries(dumped)) == []


def test_the_comparison_sees_a_difference():
    new_cfg, old_cfg = load_pair(AVA_QUICKSTART)
    new, old = entries(new_cfg), entries(old_cfg)
    changed = copy.deepcopy(new)
    changed['model']['roi_head']['num_stages'] = 4
    changed['model']['neck']['type'] = new['model']['backbone']['type']
    changed['optim_wrapper']['optimizer']['lr'] = 5e-4 + 1e-9
    changed['val_evaluator']['extra'] = 1
    del changed['default_hooks']['random_state']
    # the same name in another scope builds another class
    wrong_scope = copy.deepcopy(old)
    wrong_scope['model']['_scope_'] = 'mmaction'
    assert sorted(config_differences(changed, old)) == [
        'default_hooks.random_state: only in the old-style config',
        'model.neck.type: ' + str(new['model']['backbone']['type']) +
        " is not what 'STMixerLateralNeck' builds in scope mmdet",
        'model.roi_head.num_stages: 4 != 3',
        'optim_wrapper.optimizer.lr: 0.000500001 != 0.0005',
        'val_evaluator.extra: only in the new-style config',
    ]
    assert any(
        d.startswith('model.roi_head.stage_head.loss_')
        for d in config_differences(new, wrong_scope))


def test_new_style_settings_are_checked():
    """The plugin's setting checks (tools/train.py, tools/test.py, the
    inference API) read a new-style config's classes by name: a bad value
    is refused, naming its config path, as in an old-style config."""
    from stmixer_mm.apps.preflight import check_config
    from stmixer_mm.utils import ConfigSettingError
    for cfg in load_pair(AVA_QUICKSTART):
        check_config(cfg)
        bad = copy.deepcopy(cfg)
        bad.model.test_cfg.rcnn.person_threshold = 7.0
        with pytest.raises(
                ConfigSettingError,
                match=r'STMixerStageHead: model\.test_cfg\.rcnn\.'
                r'person_threshold must be a number in \[0, 1\], got 7\.0'):
            check_config(bad)
        # the model's columns against the dataset's classes (the check
        # compares type names: AVAActorDataset counts a background)
        # a class set in Python (not a lazy import) is read by name too
        bad = copy.deepcopy(cfg)
        bad.model.type = MODELS.get('STMixer')
        bad.model.test_cfg.rcnn.person_threshold = 7.0
        with pytest.raises(ConfigSettingError, match='person_threshold'):
            check_config(bad)
        bad = copy.deepcopy(cfg)
        bad.model.roi_head.stage_head.num_actions = 5
        with pytest.raises(
                ConfigSettingError, match='num_actions=5 but AVAActorDataset'):
            check_config(bad)


# ----------------------------------------------------------------------
# a user's config inheriting from the installed package
# ----------------------------------------------------------------------
TINY_AVA = ROOT / 'tests' / 'data' / 'tiny_ava'
QUICKSTART_MODULE = ('stmixer_mm.configs.quickstart.'
                     'stmixer_r3d_tiny_1xb8_8x2x1_36e_synthetic_ava_rgb')

# The quick-start model on the tiny AVA fixture (tests/data/tiny_ava: 8 fps,
# 3-s videos, 64x64 frames): 4 training keyframes, one batch of 4 = one
# iteration; no validation.
USER_CONFIG = f'''
from mmengine.config import read_base
from mmengine.runner import EpochBasedTrainLoop

with read_base():
    from {QUICKSTART_MODULE} import *

anno = '{TINY_AVA}/annotations'
data = dict(
    fps=8,
    timestamp_end=903,
    label_file=f'{{anno}}/label_map.pbtxt',
    # the quick start's list of the synthetic set's empty keyframes
    empty_keyframe_file=None,
    data_prefix=dict(img='{TINY_AVA}/rawframes'))
train_dataloader.update(
    dict(
        batch_size=4,
        dataset=dict(
            ann_file=f'{{anno}}/train.csv',
            exclude_file=f'{{anno}}/train_excluded_timestamps.csv',
            **data)))
model.roi_head.num_stages = 2
train_cfg = dict(type=EpochBasedTrainLoop, max_epochs=1, val_begin=2)
val_dataloader = val_cfg = val_evaluator = None
test_dataloader = test_cfg = test_evaluator = None
default_hooks.checkpoint.save_best = None
randomness = dict(seed=0)
'''


@pytest.fixture
def configs_of_this_checkout(monkeypatch):
    """mmengine finds ``stmixer_mm.configs.*`` through the *installed*
    distribution's location (``get_installed_path``), which for a checkout
    on ``PYTHONPATH`` (e.g. a git worktree) beside an installed copy is the
    other copy: point it at the imported package, whose files are tested."""
    from mmengine.config import config as config_module
    installed = config_module.get_installed_path

    def this_checkout(package):
        return str(PKG) if package == 'stmixer_mm' else installed(package)

    monkeypatch.setattr(config_module, 'get_installed_path', this_checkout)


def test_user_config_inherits_from_the_package_and_trains(
        tmp_path, configs_of_this_checkout):
    from mmengine.runner import Runner
    path = tmp_path / 'my_stmixer.py'
    path.write_text(USER_CONFIG)
    cfg = Config.fromfile(str(path))
    cfg.work_dir = str(tmp_path / 'work_dir')
    # inherited ...
    quickstart = Config.fromfile(str(NEW_DIR / AVA_QUICKSTART))
    assert cfg.model.neck == quickstart.model.neck
    assert cfg.optim_wrapper == quickstart.optim_wrapper
    assert cfg.train_dataloader.dataset.pipeline == \
        quickstart.train_dataloader.dataset.pipeline
    # ... and overridden, the siblings of an updated field kept
    assert cfg.model.roi_head.num_stages == 2
    assert cfg.model.roi_head.stage_head.hidden_channels == 64
    assert cfg.train_dataloader.dataset.fps == 8
    assert cfg.train_dataloader.dataset.timestamp_start == 900
    assert cfg.default_hooks.checkpoint.max_keep_ckpts == 1

    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 1
    assert type(runner.model).__name__ == 'STMixer'
    assert len(runner.model.roi_head.stages) == 2
    assert (tmp_path / 'work_dir' / 'epoch_1.pth').is_file()


def test_inference_api_reads_a_new_style_config(tmp_path):
    """``init_detector`` / ``inference_detector`` (clip length and frame
    steps read from the test pipeline's types) give the same detections
    with either config and one checkpoint."""
    import numpy as np

    from stmixer_mm.apis import inference_detector, init_detector
    new = AVA_QUICKSTART
    torch.manual_seed(0)
    cfg = Config.fromfile(str(OLD_DIR / PAIRS[new]))
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model)
    model.init_weights()
    checkpoint = tmp_path / 'tiny.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), checkpoint)
    rng = np.random.RandomState(0)
    frames = [
        rng.randint(0, 255, (64, 96, 3)).astype(np.uint8) for _ in range(8)
    ]
    preds = [
        inference_detector(init_detector(str(path), str(checkpoint)),
                           frames).pred_instances
        for path in (NEW_DIR / new, OLD_DIR / PAIRS[new])
    ]
    assert len(preds[1]) > 0
    for key in ('bboxes', 'scores'):
        torch.testing.assert_close(
            preds[0][key], preds[1][key], rtol=0, atol=0)
