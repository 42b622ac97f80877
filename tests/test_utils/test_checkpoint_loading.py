"""``stmixer_mm.utils.checkpoint_loading``: the one safe loader.

Runner checkpoints load through an allow-list scoped to each load; a file
holding any other type is refused with its name and the type, and nothing
of it runs; importing stmixer_mm leaves ``torch.load`` as it is; the engine
and the converters find a checkpoint's weights by one rule.
"""
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.runner.checkpoint import _load_checkpoint, load_checkpoint

import stmixer_mm  # noqa: F401  (installs the safe local loader)
from stmixer_mm import testing
from stmixer_mm.engine import CheckpointCheckHook, checkpoint_state_dict
from stmixer_mm.engine.checkpoint import find_state_dict
from stmixer_mm.testing import repo_root
from stmixer_mm.utils.checkpoint_loading import (TRUST_ENV,
                                                 CheckpointFileError,
                                                 load_checkpoint_file)

REPO = repo_root()
TINY_CFG = testing.repo_path(testing.TINY_CFG)


def _write_marker(path):
    """What a malicious checkpoint would do when unpickled."""
    with open(path, 'w') as f:
        f.write('code from the checkpoint ran')
    return 0


class _Payload:
    """An object whose unpickling calls :func:`_write_marker`."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (_write_marker, (self.marker, ))


def _runner_like_checkpoint(path):
    """What a Runner checkpoint holds besides tensors: a message hub with
    ``HistoryBuffer`` s of numpy values, numpy random state, numpy scalars."""
    hub = MessageHub.get_instance('test_checkpoint_loading')
    hub.update_scalar('train/loss', np.float64(0.5))
    hub.update_scalar('train/lr', 0.01)
    hub.update_info('iter', 3)
    model = torch.nn.Linear(2, 3)
    ckpt = dict(
        meta=dict(epoch=1, iter=3, seed=np.int64(0), best=np.float32(0.2)),
        state_dict=model.state_dict(),
        message_hub=hub.state_dict(),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1).state_dict(),
        rng_state=dict(numpy=np.random.get_state()))
    torch.save(ckpt, path)
    return ckpt


def test_runner_like_checkpoint_loads_with_the_allow_list_only(tmp_path):
    path = str(tmp_path / 'runner.pth')
    saved = _runner_like_checkpoint(path)
    before = set(torch.serialization.get_safe_globals())
    # torch's own safe loading refuses it (numpy, HistoryBuffer) ...
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, map_location='cpu', weights_only=True)
    # ... ours reads it, and so does mmengine's loader after the import
    for ckpt in (load_checkpoint_file(path), _load_checkpoint(path, 'cpu')):
        assert ckpt['meta']['seed'] == 0 and ckpt['meta']['iter'] == 3
        hist = ckpt['message_hub']['log_scalars']['train/loss']
        assert hist.mean() == 0.5
        np.testing.assert_array_equal(ckpt['rng_state']['numpy'][1],
                                      saved['rng_state']['numpy'][1])
    # the allow-list was scoped to those loads
    assert set(torch.serialization.get_safe_globals()) == before
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, map_location='cpu', weights_only=True)


@pytest.mark.parametrize('how', ['ours', 'mmengine', 'load_checkpoint'])
def test_arbitrary_object_is_refused_and_does_not_run(tmp_path, how):
    marker = tmp_path / 'marker.txt'
    path = str(tmp_path / 'evil.pth')
    torch.save({'state_dict': {}, 'x': _Payload(str(marker))}, path)
    with pytest.raises(CheckpointFileError) as err:
        if how == 'ours':
            load_checkpoint_file(path)
        elif how == 'mmengine':
            _load_checkpoint(path, map_location='cpu')
        else:
            load_checkpoint(torch.nn.Linear(2, 2), path, map_location='cpu')
    msg = str(err.value)
    assert path in msg and '_write_marker' in msg, msg
    assert 'outside the allow-list' in msg and TRUST_ENV in msg
    assert '--trust-pickle' in msg and 'trust_pickle=True' in msg
    assert not marker.exists()


class _PrivateGetattr:
    """Pickles as ``getattr(HistoryBuffer, '_set_default_statistics')``."""

    def __reduce__(self):
        from mmengine.logging.history_buffer import HistoryBuffer
        return (getattr, (HistoryBuffer, '_set_default_statistics'))


@pytest.mark.parametrize('held, refused', [
    (lambda: np.array(['a', 1], dtype=object), 'numpy.dtypes.ObjectDType'),
    (lambda: np.array(['ab']), 'numpy.dtypes.StrDType'),
    (lambda: np.array(['2020-01-01'], 'datetime64[D]'),
     'numpy.dtypes.DateTime64DType'),
    (_PrivateGetattr, "getattr(HistoryBuffer, '_set_default_statistics')"),
])
@pytest.mark.parametrize('how', ['ours', 'mmengine'])
def test_refusal_names_what_torch_refused(tmp_path, held, refused, how):
    """A refusal that torch reports without a GLOBAL the file lists (a
    class it cannot build, a refused call) names it, not the last line of
    torch's text ("Check the documentation of torch.load ...")."""
    path = str(tmp_path / 'held.pth')
    torch.save({'state_dict': {'w': torch.ones(1)}, 'x': held()}, path)
    with pytest.raises(CheckpointFileError) as err:
        if how == 'ours':
            load_checkpoint_file(path)
        else:
            _load_checkpoint(path, map_location='cpu')
    msg = str(err.value)
    assert msg.startswith(f'{path} is a complete checkpoint, but safe '
                          'loading refuses it: it holds '), msg
    assert refused in msg and TRUST_ENV in msg, msg
    assert 'Check the documentation' not in msg, msg
    assert 'file an issue' not in msg and '\n' not in msg, msg


def test_trust_opt_in_really_unpickles(tmp_path, monkeypatch):
    """The payload does run once the file is trusted (so the refusal above
    is what kept it from running)."""
    marker = tmp_path / 'marker.txt'
    path = str(tmp_path / 'evil.pth')
    torch.save({'state_dict': {}, 'x': _Payload(str(marker))}, path)
    assert load_checkpoint_file(path, trust_pickle=True)['x'] == 0
    assert marker.exists()
    marker.unlink()
    other = str(tmp_path / 'other.pth')
    monkeypatch.setenv(TRUST_ENV, other)  # another file: still refused
    with pytest.raises(CheckpointFileError):
        _load_checkpoint(path, map_location='cpu')
    assert not marker.exists()
    monkeypatch.setenv(TRUST_ENV, os.pathsep.join([other, path]))
    assert _load_checkpoint(path, map_location='cpu')['x'] == 0
    assert marker.exists()


def test_history_buffer_getattr_is_restricted():
    from mmengine.logging.history_buffer import HistoryBuffer

    from stmixer_mm.utils.checkpoint_loading import history_buffer_getattr
    assert history_buffer_getattr(HistoryBuffer, 'mean') is \
        HistoryBuffer.mean
    for obj, name in ((HistoryBuffer, '__init__'), (HistoryBuffer, '_x'),
                      (os, 'system'), (HistoryBuffer, 'nonexistent')):
        with pytest.raises(pickle.UnpicklingError, match='allow-list'):
            history_buffer_getattr(obj, name)


_UNCHANGED = r'''
import pickle, sys
import numpy as np, torch
from mmengine.runner import checkpoint as mc
load, globs = torch.load, set(torch.serialization.get_safe_globals())
defaults = torch.load.__defaults__, torch.load.__kwdefaults__
path = sys.argv[1]
torch.save({'a': np.zeros(2), 'w': torch.ones(2)}, path)
tensors = path + '.t'
torch.save({'state_dict': {'w': torch.arange(3)}}, tensors)
plain = mc.CheckpointLoader.load_checkpoint(tensors, map_location='cpu')

import stmixer_mm  # noqa
import stmixer_mm.engine  # noqa

assert torch.load is load
assert (torch.load.__defaults__, torch.load.__kwdefaults__) == defaults
assert set(torch.serialization.get_safe_globals()) == globs, \
    torch.serialization.get_safe_globals()
try:
    torch.load(path)
except pickle.UnpicklingError:
    pass
else:
    raise SystemExit('torch.load now unpickles numpy arrays')
ours = mc.CheckpointLoader.load_checkpoint(tensors, map_location='cpu')
assert list(ours) == list(plain)
assert torch.equal(ours['state_dict']['w'], plain['state_dict']['w'])
print('UNCHANGED')
'''


def test_import_leaves_torch_load_unchanged(tmp_path):
    """``import stmixer_mm`` adds nothing to torch's process-wide allow-list
    and no default of ``torch.load``; a tensor checkpoint reads the same
    through mmengine's loader before and after."""
    proc = subprocess.run(
        [sys.executable, '-c', _UNCHANGED,
         str(tmp_path / 'np.pth')],
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1'),
        capture_output=True,
        text=True,
        timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'UNCHANGED' in proc.stdout


_NO_CONVERTERS = r'''
import sys
import numpy as np, torch
import stmixer_mm
from stmixer_mm.apis import inference_detector, init_detector
torch.manual_seed(0)
cfg, path = sys.argv[1:3]
model = init_detector(cfg)
torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
model = init_detector(cfg, path)
inference_detector(model, [np.zeros((64, 64, 3), np.uint8)] * 4)
loaded = [m for m in sys.modules
          if m.startswith('stmixer_mm.converters.') and
          m != 'stmixer_mm.converters.official_checkpoints'
          or m.endswith(('checkpoint_converter', 'videomae_converter'))]
print('CONVERTERS=' + ','.join(sorted(loaded)))
'''


def test_runtime_does_not_import_the_converters(tmp_path):
    """Importing stmixer_mm, building the model, loading a checkpoint and
    running it import none of the conversion rules."""
    proc = subprocess.run([
        sys.executable, '-c', _NO_CONVERTERS, TINY_CFG,
        str(tmp_path / 'm.pth')
    ],
                          cwd=REPO,
                          env=dict(
                              os.environ, PYTHONPATH=REPO,
                              OMP_NUM_THREADS='1'),
                          capture_output=True,
                          text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert 'CONVERTERS=\n' in proc.stdout, proc.stdout[-2000:]


# ---------------------------------------------------------------------------
# one rule for a checkpoint's weights
# ---------------------------------------------------------------------------
def test_one_rule_state_dict_before_model():
    from stmixer_mm.apps.converters.pyslowfast import \
        extract_pyslowfast_state_dict
    from stmixer_mm.apps.converters.videomae import extract_videomae_state_dict
    from stmixer_mm.converters.official import extract_state_dict
    ours, theirs = {'w': torch.ones(1)}, {'w': torch.zeros(1)}
    both = {'model': theirs, 'state_dict': ours}
    assert find_state_dict(both) == (ours, 'state_dict')
    assert checkpoint_state_dict(both) == ours
    assert extract_state_dict(both) == (ours, 'state_dict')
    assert extract_videomae_state_dict(both) == (ours, 'state_dict')
    assert extract_pyslowfast_state_dict(both) == (ours, 'state_dict')
    # only 'model' (official files): every reader takes it
    only = {'model': theirs, 'iteration': 3}
    for got in (find_state_dict(only), extract_state_dict(only),
                extract_videomae_state_dict(only),
                extract_pyslowfast_state_dict(only)):
        assert got == (theirs, 'model')
    assert checkpoint_state_dict({'model': {'module.w': 1}}) == {'w': 1}
    # format entries come first: DeepSpeed's module, PySlowFast's blobs
    assert extract_videomae_state_dict({'module': theirs, 'model': ours}) \
        == (theirs, 'module')
    assert extract_pyslowfast_state_dict({'blobs': theirs, 'model': ours}) \
        == (theirs, 'blobs')
    # a bare state dict
    assert find_state_dict(ours) == (ours, '')
    with pytest.raises(KeyError, match="'state_dict' / 'model'"):
        find_state_dict({'w': torch.ones(1), 'epoch': 3})
    with pytest.raises(TypeError):
        find_state_dict([1])


def test_check_hook_makes_mmengine_load_what_it_checked():
    """A ``{'model': ...}`` file: the hook checks those weights and hands
    them to mmengine, which would otherwise load the whole dict (nothing)."""
    from mmengine.runner.checkpoint import _load_checkpoint_to_model

    class _Runner:
        model = torch.nn.Linear(2, 3)
        logger = None

    src = torch.nn.Linear(2, 3)
    checkpoint = {'model': src.state_dict(), 'iteration': 7}
    CheckpointCheckHook().after_load_checkpoint(_Runner, checkpoint)
    _load_checkpoint_to_model(_Runner.model, checkpoint)
    assert torch.equal(_Runner.model.weight, src.weight)
