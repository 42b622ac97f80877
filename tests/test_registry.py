"""The plugin's names resolve through mmdet's / mmaction2's / mmengine's
registries, the way configs use them, and importing the plugin is quiet."""
import subprocess
import sys

import mmaction.registry as mmaction_registry
import mmdet.registry as mmdet_registry
import pytest
from mmengine.config import Config
from mmengine.registry import MODEL_WRAPPERS, init_default_scope

import stmixer_mm
from stmixer_mm import testing
from stmixer_mm.utils import compat

TINY_CFG = testing.repo_path(testing.TINY_CFG)

# network parts: mmdet's MODELS (configs build the detector with
# _scope_='mmdet'; from the default scope 'mmaction' they are 'mmdet.X')
MMDET_MODELS = [
    'STMixer', 'STMixerDecoder', 'STMixerStageHead', 'STMixerSamplingMixing',
    'STMixerQueryGenerator', 'STMixerLateralNeck', 'STMixerViTNeck',
    'FrameWiseNeck', 'SequentialNeck', 'ChannelLayerNorm3d',
    'ResNet3dSlowFastMultiLevel', 'AdaptiveMixing'
]


@pytest.mark.parametrize('name', MMDET_MODELS)
def test_model_names_in_mmdet_scope(name):
    cls = mmdet_registry.MODELS.get(name)
    assert cls is not None and cls.__name__ == name
    assert cls.__module__.startswith('stmixer_mm.models.')
    # as a config in the default scope 'mmaction' names it
    assert mmaction_registry.MODELS.get(f'mmdet.{name}') is cls
    # mmaction2's own registry does not hold them
    assert name not in mmaction_registry.MODELS.module_dict


def test_data_names_in_mmaction_scope():
    dataset = mmaction_registry.DATASETS.get('AVAActorDataset')
    transform = mmaction_registry.TRANSFORMS.get('RandomShortSideResize')
    assert dataset is stmixer_mm.datasets.AVAActorDataset
    assert transform is stmixer_mm.datasets.RandomShortSideResize
    # from mmdet's scope, with the prefix
    assert mmdet_registry.DATASETS.get('mmaction.AVAActorDataset') is dataset
    assert mmdet_registry.TRANSFORMS.get(
        'mmaction.RandomShortSideResize') is transform
    assert 'RandomShortSideResize' not in mmdet_registry.TRANSFORMS.module_dict
    assert MODEL_WRAPPERS.get('DeviceAwareDistributedDataParallel') is \
        stmixer_mm.engine.DeviceAwareDistributedDataParallel


def test_tiny_config_builds_through_the_registries():
    cfg = Config.fromfile(TINY_CFG)
    assert cfg.default_scope == 'mmaction'
    assert cfg.custom_imports.imports == ['stmixer_mm']
    init_default_scope(cfg.default_scope)
    model = mmaction_registry.MODELS.build(cfg.model)
    assert type(model) is mmdet_registry.MODELS.get('STMixer')
    parts = {type(m) for m in model.modules()}
    for name in ('STMixerDecoder', 'STMixerStageHead', 'STMixerQueryGenerator',
                 'STMixerLateralNeck', 'AdaptiveMixing'):
        assert mmdet_registry.MODELS.get(name) in parts, name
    assert mmaction_registry.MODELS.get('ResNet3dSlowOnly') in parts
    dataset = mmaction_registry.DATASETS.build(cfg.train_dataloader.dataset)
    assert type(dataset).__name__ == 'AVAActorDataset'
    assert len(dataset) == 4
    resize = type(dataset.pipeline.transforms[2])
    assert resize is stmixer_mm.datasets.RandomShortSideResize


@pytest.mark.slow
def test_import_is_quiet():
    """``import stmixer_mm`` prints nothing (in the tested environment: one
    OpenCV): the compat fixes are logged at debug level only, and listed
    in ``compat.APPLIED_FIXES`` (collect_env prints them). With the
    logger at DEBUG, one line names each fix. The garbage collector,
    paused during the import, runs again after it, and has frozen nothing;
    the command layer (``stmixer_mm.apps.cli``, a program's start) freezes what
    the imports made."""
    code = ('import gc, stmixer_mm; from stmixer_mm.utils import compat; '
            'frozen = gc.get_freeze_count(); import stmixer_mm.apps.cli; '
            'print("FIXES=" + ",".join(compat.APPLIED_FIXES), '
            'gc.isenabled(), frozen, gc.get_freeze_count())')
    for debug in (False, True):
        prefix = ('import logging; from mmengine.logging import MMLogger; '
                  'lg = MMLogger.get_current_instance(); '
                  '[x.setLevel(logging.DEBUG) for x in [lg, *lg.handlers]]; '
                  if debug else '')
        # (Python's default warning filters: what a user sees)
        proc = subprocess.run([sys.executable, '-c', prefix + code],
                              stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE,
                              text=True,
                              timeout=300)
        assert proc.returncode == 0, proc.stderr
        # mmengine's logger writes to stdout
        out = [
            line for line in (proc.stdout + proc.stderr).splitlines()
            if line.strip()
        ]
        fixes = [line for line in out if line.startswith('FIXES=')]
        assert len(fixes) == 1, out
        names, enabled, frozen, cli_frozen = fixes[0].split()
        assert enabled == 'True' and frozen == '0', out
        assert int(cli_frozen) > 100_000, out
        applied = [n for n in names[len('FIXES='):].split(',') if n]
        lines = [line for line in out if not line.startswith('FIXES=')]
        if not debug:
            assert lines == [], lines
            continue
        fix_lines = [line for line in lines if 'compat fix [' in line]
        assert len(fix_lines) == len(applied), lines
        for name, line in zip(applied, fix_lines):
            assert f'stmixer_mm compat fix [{name}]: ' in line
    if compat._mmaction_drn_missing():
        assert 'mmaction2-missing-drn' in applied
        assert any('mmaction/models/localizers/drn' in line
                   for line in fix_lines)


ENGINE_HOOKS = [
    'RandomStateHook', 'ClassConsistencyHook', 'AVAEvaluationCheckHook',
    'ActionDetVisualizationHook', 'CheckpointCheckHook', 'ResumeCheckHook',
    'LoadFromCheckHook', 'KeepPredictionsHook'
]


@pytest.mark.parametrize('name', ENGINE_HOOKS)
def test_hooks_in_mmengine_root_registry(name):
    """Hooks register through stmixer_mm.registry into mmengine's root
    HOOKS: found from every scope (mmaction2's, mmdet's, none)."""
    from mmengine.registry import HOOKS as ROOT_HOOKS

    from stmixer_mm import registry
    assert registry.HOOKS is ROOT_HOOKS
    cls = ROOT_HOOKS.get(name)
    assert cls is not None and cls.__name__ == name
    assert cls.__module__.startswith('stmixer_mm.engine')
    assert mmaction_registry.HOOKS.get(name) is cls
    assert mmdet_registry.HOOKS.get(name) is cls
    assert mmdet_registry.HOOKS.get(f'mmengine.{name}') is cls


def test_registry_module_reexports_the_parents():
    from mmengine import registry as mmengine_registry

    from stmixer_mm import registry
    assert registry.MODELS is mmdet_registry.MODELS
    assert registry.TASK_UTILS is mmdet_registry.TASK_UTILS
    for name in ('DATASETS', 'TRANSFORMS', 'METRICS', 'VISUALIZERS'):
        assert getattr(registry, name) is getattr(mmaction_registry, name)
    for name in ('HOOKS', 'MODEL_WRAPPERS', 'STRATEGIES', 'FUNCTIONS'):
        assert getattr(registry, name) is getattr(mmengine_registry, name)
    assert registry.MODEL_WRAPPERS.get(
        'DeviceAwareDistributedDataParallel'
    ) is stmixer_mm.engine.DeviceAwareDistributedDataParallel


_HOST_INITS = r'''
import importlib, importlib.util, sys
# the one fix without which mmaction2's models do not import (the PyPI
# wheel lacks localizers/drn), loaded alone: stmixer_mm is not imported yet
spec = importlib.util.spec_from_file_location('_compat', sys.argv[1])
compat = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compat)
compat.patch_mmaction_packaging()
for pkg in ('mmdet', 'mmaction'):
    for sub in ('models', 'datasets', 'evaluation', 'engine',
                'visualization'):
        importlib.import_module(f'{pkg}.{sub}')
from mmengine.registry import Registry

def inits():
    out = {}
    for mod in ('mmengine.registry', 'mmdet.registry', 'mmaction.registry'):
        for name, reg in vars(sys.modules[mod]).items():
            if isinstance(reg, Registry):
                for key, cls in reg.module_dict.items():
                    if isinstance(cls, type):
                        out[f'{mod}.{name}.{key}'] = (cls, cls.__init__)
    return out

before = inits()
import gc
gc.disable()
import stmixer_mm  # noqa
after = inits()
changed = [k for k, (cls, init) in before.items()
           if cls.__init__ is not init]
ours = [k for k, (cls, _) in after.items()
        if cls.__module__.startswith('stmixer_mm.')]
print(len(before), len(ours), gc.isenabled(), 'CHANGED', changed)
'''


@pytest.mark.slow
def test_import_changes_no_host_class():
    """``import stmixer_mm`` registers its parts and wraps no ``__init__``
    of a class that mmengine, mmdet or mmaction2 registered (it wrapped 4
    of mmaction2's: ``Flip``, ``AVADataset``, ``SampleAVAFrames``,
    ``AVAMetric``, whose settings are checked before a run instead), and
    mmaction2's ``Flip`` takes what mmaction2 takes. A garbage collector
    the program turned off stays off."""
    from stmixer_mm.utils import compat
    proc = subprocess.run([sys.executable, '-c', _HOST_INITS, compat.__file__],
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    before, ours, enabled, rest = proc.stdout.split(None, 3)
    assert int(before) > 500 and int(ours) > 50, proc.stdout
    assert enabled == 'False', proc.stdout
    assert rest.strip() == 'CHANGED []', rest
    from mmaction.datasets.transforms import Flip
    assert Flip(flip_ratio=1.5).flip_ratio == 1.5  # mmaction2 accepts it
