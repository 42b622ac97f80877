import os
import pickle
import sys
import types

import numpy as np
import pytest
import torch

import stmixer_mm  # noqa: F401
from stmixer_mm.utils import compat


def test_mmaction_models_import():
    # the whole point of the packaging fix: this import works
    import mmaction.models  # noqa: F401
    from mmaction.models import ActionDataPreprocessor  # noqa: F401


def test_drn_stub_only_when_folder_missing(monkeypatch, tmp_path):
    # a complete install: the folder exists -> nothing is patched
    pkg = tmp_path / 'mmaction'
    (pkg / 'models' / 'localizers' / 'drn').mkdir(parents=True)
    spec = types.SimpleNamespace(submodule_search_locations=[str(pkg)])
    monkeypatch.setattr(compat.importlib.util, 'find_spec', lambda n: spec)
    assert not compat._mmaction_drn_missing()
    # the defective wheel: localizers/ without drn/ -> the stub is needed
    (pkg / 'models' / 'localizers' / 'drn').rmdir()
    assert compat._mmaction_drn_missing()
    # mmaction2 not installed at all: nothing to patch
    monkeypatch.setattr(compat.importlib.util, 'find_spec', lambda n: None)
    assert not compat._mmaction_drn_missing()


def test_drn_stub_raises_clear_error_and_is_not_reinstalled():
    mod = sys.modules.get('mmaction.models.localizers.drn.drn')
    if 'mmaction2-missing-drn' not in compat.APPLIED_FIXES:
        pytest.skip('mmaction2 installed with the drn folder: no stub used')
    with pytest.raises(ImportError, match='drn'):
        mod.DRN()
    # already in sys.modules -> a second call does nothing
    assert compat.patch_mmaction_packaging() is False


def test_checkpoint_loader_resumes_runner_style_checkpoints(tmp_path):
    from mmengine.runner.checkpoint import _load_checkpoint
    ckpt = dict(
        state_dict={'w': torch.ones(2)},
        message_hub=dict(log_scalars={'loss': np.array([1.0, 2.0])}),
        meta=dict(seed=np.int64(3)))
    path = tmp_path / 'epoch_1.pth'
    torch.save(ckpt, path)
    if tuple(int(v) for v in torch.__version__.split('.')[:2]) >= (2, 6):
        # torch's own default refuses this file: the defect being fixed
        with pytest.raises(pickle.UnpicklingError):
            torch.load(path)
    loaded = _load_checkpoint(str(path), map_location='cpu')
    assert np.array_equal(loaded['message_hub']['log_scalars']['loss'],
                          [1.0, 2.0])
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        _load_checkpoint(str(tmp_path / 'missing.pth'))


def test_ava_ap_of_class_without_ground_truth_is_nan():
    from mmaction.evaluation.functional.ava_evaluation import metrics

    # a class without ground truth: precision and recall are None
    ap = metrics.compute_average_precision(None, None)
    assert np.isnan(ap)
    # other calls are the original computation
    precision = np.array([1.0, 0.5, 2 / 3])
    recall = np.array([0.5, 0.5, 1.0])
    assert metrics.compute_average_precision(precision, recall) == \
        pytest.approx(0.5 * 1.0 + 0.5 * 2 / 3)
    with pytest.raises(ValueError, match='recall must also be None'):
        metrics.compute_average_precision(None, recall)
    if not hasattr(np, 'NAN'):  # numpy 2: the fix is what makes it work
        assert 'mmaction2-ava-ap-numpy2' in compat.APPLIED_FIXES
        original = metrics.compute_average_precision.__wrapped__
        with pytest.raises(AttributeError, match='NAN'):
            original(None, None)


def test_ava_metric_with_a_predicted_class_absent_from_gt(tmp_path):
    """End to end through AVAMetric: class 2 is predicted but has no GT."""
    from mmaction.evaluation import AVAMetric
    ann = tmp_path / 'gt.csv'
    ann.write_text('vid,0902,0.1,0.1,0.5,0.9,1,0\n')
    labels = tmp_path / 'labels.pbtxt'
    labels.write_text('item {\n  name: "a"\n  id: 1\n}\n'
                      'item {\n  name: "b"\n  id: 2\n}\n')
    excluded = tmp_path / 'excluded.csv'
    excluded.write_text('')
    metric = AVAMetric(
        ann_file=str(ann),
        exclude_file=str(excluded),
        label_file=str(labels),
        num_classes=3)
    scores = np.zeros((1, 3), dtype=np.float32)
    scores[0, 1] = scores[0, 2] = 0.9
    metric.process([], [
        dict(
            video_id='vid',
            timestamp=902,
            pred_instances=dict(
                bboxes=torch.tensor([[0.1, 0.1, 0.5, 0.9]]),
                scores=torch.from_numpy(scores)))
    ])
    import os
    cwd = os.getcwd()
    os.chdir(tmp_path)  # AVAMetric writes a temporary CSV into the cwd
    try:
        result = metric.compute_metrics(metric.results)
    finally:
        os.chdir(cwd)
    # AVAMetric's prefix 'mAP/' is added by mmengine's Evaluator
    assert result['overall'] == pytest.approx(1.0)


class _Records:
    """Collects what mmengine's current logger emits."""

    def __enter__(self):
        import logging

        from mmengine.logging import MMLogger
        self.logger = MMLogger.get_current_instance()
        self.level = self.logger.level
        self.logger.setLevel(logging.DEBUG)  # the fixes log at debug level
        self.records = []
        self.handler = logging.Handler(level=logging.DEBUG)
        self.handler.emit = self.records.append
        self.logger.addHandler(self.handler)
        return self.records

    def __exit__(self, *exc):
        self.logger.removeHandler(self.handler)
        self.logger.setLevel(self.level)


def _fix_lines(records, name):
    return [r for r in records if f'compat fix [{name}]' in r.getMessage()]


def test_drn_fix_logs_one_debug_line(monkeypatch):
    name = 'mmaction.models.localizers.drn'
    saved = {
        k: sys.modules.pop(k)
        for k in (name, name + '.drn') if k in sys.modules
    }
    monkeypatch.setattr(compat, 'APPLIED_FIXES', [])
    monkeypatch.setattr(compat, '_mmaction_drn_missing', lambda: True)
    try:
        with _Records() as records:
            assert compat.patch_mmaction_packaging() is True
            assert compat.patch_mmaction_packaging() is False  # once
    finally:
        for k in (name, name + '.drn'):
            sys.modules.pop(k, None)
        sys.modules.update(saved)
    lines = _fix_lines(records, 'mmaction2-missing-drn')
    assert len(lines) == 1 and lines[0].levelname == 'DEBUG'
    assert compat.APPLIED_FIXES == ['mmaction2-missing-drn']


def test_compat_fixes_leave_checkpoint_loading_alone(monkeypatch):
    """No fix switches mmengine's checkpoint loading to unrestricted
    unpickling (stmixer_mm.utils.checkpoint_loading loads its checkpoints
    with an allow-list instead)."""
    from mmengine.runner import checkpoint as ckpt
    schemes = dict(ckpt.CheckpointLoader._schemes)
    monkeypatch.setattr(compat, 'APPLIED_FIXES', [])
    compat.apply_compat_fixes()
    assert ckpt.CheckpointLoader._schemes == schemes
    assert not hasattr(compat, 'patch_mmengine_checkpoint_loader')
    assert 'mmengine-resume-weights-only' not in compat.APPLIED_FIXES


def test_ava_numpy2_fix_logs_one_visible_line(monkeypatch):
    from mmaction.evaluation.functional.ava_evaluation import metrics
    if hasattr(np, 'NAN'):
        pytest.skip('numpy 1: the defect is absent')
    wrapped = metrics.compute_average_precision
    monkeypatch.setattr(metrics, 'compute_average_precision',
                        wrapped.__wrapped__)
    monkeypatch.setattr(compat, 'APPLIED_FIXES', [])
    with _Records() as records:
        assert compat.patch_ava_metric_numpy2() is True
        assert compat.patch_ava_metric_numpy2() is False
    assert len(_fix_lines(records, 'mmaction2-ava-ap-numpy2')) == 1


def test_collect_env_lists_versions_and_fixes():
    import subprocess
    out = subprocess.run([sys.executable, '-m', 'stmixer_mm.apps.collect_env'],
                         capture_output=True,
                         text=True,
                         check=True,
                         env={
                             **os.environ, 'OMP_NUM_THREADS': '1'
                         }).stdout
    for key in ('PyTorch:', 'MMEngine:', 'MMCV:', 'MMDetection:', 'MMAction2:',
                'stmixer_mm:'):
        assert key in out
    fixes = [
        ln for ln in out.splitlines()
        if ln.startswith('stmixer_mm compat fixes applied:')
    ]
    assert len(fixes) == 1
    for name in compat.APPLIED_FIXES:  # same environment, same fixes
        assert name in fixes[0]


@pytest.mark.slow
def test_fixes_can_be_turned_off():
    """``STMIXER_MM_DISABLE_FIXES`` names the fixes not applied: with the
    loader fix off, mmengine keeps its own local checkpoint loader; ``all``
    imports on mmaction2's wheel too (the DRN stub is no switchable fix)."""
    import subprocess

    from mmengine.runner.checkpoint import CheckpointLoader

    # none turned off: this process (imported without the variable)
    assert not os.environ.get('STMIXER_MM_DISABLE_FIXES')
    assert 'mmengine-checked-local-loader' in compat.APPLIED_FIXES
    assert getattr(CheckpointLoader._schemes[''], '_stmixer_checked', False)
    code = ('import stmixer_mm; from stmixer_mm.utils import compat; '
            'from mmengine.runner.checkpoint import CheckpointLoader as C; '
            'print(compat.APPLIED_FIXES, '
            "getattr(C._schemes[''], '_stmixer_checked', False))")
    # turned off, in a new interpreter each: mmengine's own loader
    for off in ('mmengine-checked-local-loader', 'all'):
        env = dict(os.environ, STMIXER_MM_DISABLE_FIXES=off)
        out = subprocess.run([sys.executable, '-c', code],
                             capture_output=True,
                             text=True,
                             env=env,
                             check=True).stdout
        assert out.strip().endswith('False'), (off, out)
        assert "'mmengine-checked-local-loader'" not in out, out


def test_drn_is_built_as_the_stub_says():
    """``MODELS.build(dict(type='DRN'))`` (mmaction2's scope, or from
    mmdet's as ``mmaction.DRN``): the stub's error, not a registry
    KeyError."""
    if 'mmaction2-missing-drn' not in compat.APPLIED_FIXES:
        pytest.skip('mmaction2 installed with the drn folder: no stub used')
    from mmaction.registry import MODELS
    from mmdet.registry import MODELS as MMDET_MODELS
    from mmengine.registry import DefaultScope
    for registry, scope, name in ((MODELS, 'mmaction', 'DRN'),
                                  (MMDET_MODELS, 'mmdet', 'mmaction.DRN')):
        with DefaultScope.overwrite_default_scope(scope):
            with pytest.raises(ImportError, match='localizers/drn'):
                registry.build(dict(type=name))


def _import_with(code='', **env):
    """``import stmixer_mm`` (then ``code``) in a fresh interpreter with
    these environment variables, as a user sets them."""
    import subprocess
    return subprocess.run([sys.executable, '-c', 'import stmixer_mm\n' + code],
                          capture_output=True,
                          text=True,
                          timeout=300,
                          env=dict(os.environ, OMP_NUM_THREADS='1', **env))


@pytest.mark.slow
@pytest.mark.parametrize('value, says', [
    ('mmengine-checked-local-loadr',
     'unknown fix name mmengine-checked-local-loadr; expected '),
    ('mmaction2-ava-ap-numpy2, foo,bar', 'unknown fix names bar, foo; '),
    ('mmaction2-missing-drn', 'mmaction2-missing-drn cannot be turned off'),
])
def test_disable_fixes_refuses_names_it_does_not_take(value, says):
    """A misspelt name stops the import, naming it and the names taken
    (not: every fix applied, silently)."""
    proc = _import_with(STMIXER_MM_DISABLE_FIXES=value)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(
        f"ValueError: STMIXER_MM_DISABLE_FIXES={value!r}"), proc.stderr[-2000:]
    assert says in last, last
    for name in compat.SWITCHABLE_FIXES + ('all', ):
        assert name in last, last


_LOADS = r'''
import argparse, sys, torch
from mmengine.runner.checkpoint import CheckpointLoader
from stmixer_mm.utils import compat
torch.save({'state_dict': {}, 'ns': argparse.Namespace(a=1)}, sys.argv[1])
ckpt = CheckpointLoader.load_checkpoint(sys.argv[1], map_location='cpu')
print('FIXES=' + ','.join(compat.APPLIED_FIXES), 'LOADED', ckpt['ns'])
'''


@pytest.mark.slow
def test_loader_fix_only_where_torch_refuses_by_default(tmp_path):
    """Where ``torch.load``'s default unpickles in full (torch < 2.6, here
    its default put back before the import), mmengine's loader is left as
    it is: the fix is for the default that refuses."""
    path = str(tmp_path / 'ns.pth')
    code = ('import functools, sys, torch\n'
            'torch.load = functools.partial(torch.load, weights_only=False)'
            '\nimport stmixer_mm\n' + _LOADS)
    import subprocess
    proc = subprocess.run([sys.executable, '-c', code, path],
                          capture_output=True,
                          text=True,
                          timeout=300,
                          env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert proc.returncode == 0, proc.stderr[-3000:]
    fixes = proc.stdout.split('FIXES=')[1].split()[0]
    assert compat.LOADER_FIX not in fixes, proc.stdout
    assert 'LOADED Namespace(a=1)' in proc.stdout
    assert 'WARNING' not in proc.stdout + proc.stderr


@pytest.mark.slow
def test_torch_force_no_weights_only_load_is_honoured(tmp_path):
    """``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` (torch's switch to full
    unpickling by default): mmengine's loader reads as torch was told, and
    a warning says so (it was overridden without a word)."""
    path = str(tmp_path / 'ns.pth')
    proc = _import_with(
        _LOADS.replace('sys.argv[1]', repr(path)),
        TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD='1')
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    assert 'LOADED Namespace(a=1)' in out
    assert compat.LOADER_FIX not in out.split('FIXES=')[1].split()[0]
    warnings = [ln for ln in out.splitlines() if 'WARNING' in ln]
    assert len(warnings) == 1, out
    assert 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD is set' in warnings[0]
    assert 'can run code' in warnings[0]


def test_torch_force_no_weights_only_load_set_later(tmp_path, monkeypatch):
    """The variable set after the import: the installed loader hands the
    file to mmengine's own (full unpickling), warning once."""
    import argparse

    from mmengine.runner.checkpoint import CheckpointLoader

    from stmixer_mm.utils.checkpoint_loading import CheckpointFileError
    if compat.LOADER_FIX not in compat.APPLIED_FIXES:
        pytest.skip("torch's default load does not refuse: no loader fix")
    path = str(tmp_path / 'ns.pth')
    torch.save({'state_dict': {}, 'ns': argparse.Namespace(a=1)}, path)
    with pytest.raises(CheckpointFileError, match='argparse.Namespace'):
        CheckpointLoader.load_checkpoint(path, map_location='cpu')
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    with _Records() as records:
        for _ in range(2):
            ckpt = CheckpointLoader.load_checkpoint(path, map_location='cpu')
            assert ckpt['ns'] == argparse.Namespace(a=1)
    warned = [
        r for r in records
        if 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD is set' in r.getMessage()
    ]
    assert len(warned) == 1 and warned[0].levelname == 'WARNING'


def test_collect_env_refuses_an_unknown_flag(capsys):
    from stmixer_mm.apps.collect_env import main
    with pytest.raises(SystemExit) as err:
        main(['--nosuch'])
    assert err.value.code == 2
    assert 'unrecognized arguments: --nosuch' in capsys.readouterr().err
