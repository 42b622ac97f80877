"""One pickle policy (issue 35): every pickle stmixer_mm reads goes through
``stmixer_mm/utils/checkpoint_loading.py`` (checked on the sources of
``stmixer_mm/`` and ``tools/``), and a pickle that would run code is
refused at each entry point (ACT ground truth, ``.pkl`` label maps, dumped
predictions, the ``.metadata`` and the items of a sharded checkpoint) with
an error naming the file and the global, before anything from it ran."""
import ast
import builtins
import os.path as osp
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

import stmixer_mm
from stmixer_mm.utils.checkpoint_loading import (TRUST_ENV,
                                                 CheckpointFileError,
                                                 load_pickle)

PKG = Path(stmixer_mm.__file__).resolve().parent
REPO = PKG.parent
#: the one module allowed to unpickle (with its allow-lists)
LOADER = PKG / 'utils' / 'checkpoint_loading.py'
#: the reader of sharded checkpoints: torch's DCP classes made safe (their
#: pickles through LOADER's restricted unpickler)
DCP_READER = PKG / 'engine' / 'dcp_reader.py'

#: modules whose load / loads / Unpickler unpickle without restriction
PICKLE_MODULES = {
    'pickle', '_pickle', 'cPickle', 'dill', 'cloudpickle', 'joblib'
}
UNPICKLING_ATTRS = {'load', 'loads', 'Unpickler', '_Unpickler'}
#: PyTorch's unrestricted readers of a torch.distributed.checkpoint folder
DCP_NAMES = {
    'dcp_to_torch_save', 'FileSystemReader', 'DefaultLoadPlanner',
    '_EmptyStateDictLoadPlanner'
}


def _violations(source: str, where: str) -> list:
    """Where ``source`` unpickles (or lets a library unpickle) without the
    allow-lists of the loader module."""
    tree = ast.parse(source, where)
    aliases = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            aliases |= {(a.asname or a.name)
                        for a in node.names if a.name in PICKLE_MODULES}
    out = []

    def flag(node, what):
        out.append(f'{where}:{node.lineno} {what}')

    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module
                                                 in PICKLE_MODULES):
            for a in node.names:
                if a.name in UNPICKLING_ATTRS:
                    flag(node, f'from {node.module} import {a.name}')
        if isinstance(node, ast.ImportFrom) and node.module and \
                node.module.startswith('torch.distributed.checkpoint'):
            for a in node.names:
                if a.name in DCP_NAMES:
                    flag(node, f'import of {a.name}')
        if isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and \
                    node.value.id in aliases and \
                    node.attr in UNPICKLING_ATTRS:
                flag(node, f'{node.value.id}.{node.attr}')
            if node.attr in DCP_NAMES or node.attr == 'read_pickle':
                flag(node, node.attr)
        if isinstance(node, ast.Name) and node.id in DCP_NAMES:
            flag(node, node.id)
        if isinstance(node, ast.Call):
            kwargs = {k.arg: k.value for k in node.keywords if k.arg}
            for key, bad in (('weights_only', False), ('allow_pickle', True),
                             ('file_format', 'pkl')):
                value = kwargs.get(key)
                if isinstance(value, ast.Constant) and value.value == bad:
                    flag(node, f'{key}={bad!r}')
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr == 'load' and (
                    'checkpoint_id' in kwargs or 'storage_reader' in kwargs
            ) and not (isinstance(kwargs.get('storage_reader'), ast.Call)
                       and getattr(kwargs['storage_reader'].func, 'id',
                                   '') == 'safe_dcp_reader'):
                flag(
                    node, 'torch.distributed.checkpoint load without '
                    'storage_reader=safe_dcp_reader(...)')
    return out


def _sources():
    for top in ('stmixer_mm', 'tools'):
        for path in sorted((REPO / top).rglob('*.py')):
            if path not in (LOADER, DCP_READER):
                yield path


def test_only_the_loader_module_unpickles():
    offenders = []
    for path in _sources():
        offenders += _violations(path.read_text(), str(path.relative_to(REPO)))
    assert not offenders, offenders
    assert len(list(_sources())) > 50


def test_the_source_check_sees_a_violation():
    bad = '\n'.join([
        'import pickle as pk', 'import numpy as np', 'import torch',
        'from mmengine.fileio import load',
        'from torch.distributed.checkpoint.format_utils import '
        'dcp_to_torch_save', 'from pickle import loads',
        'pk.load(open("x", "rb"))', 'pk.Unpickler(f).load()',
        'np.load("x.npy", allow_pickle=True)',
        'torch.load("x.pth", weights_only=False)',
        'load("x.pkl", file_format="pkl")', 'pd.read_pickle("x")',
        'dcp.load(sd, checkpoint_id="folder")',
        'dcp.load(sd, storage_reader=FileSystemReader("folder"))'
    ])
    found = _violations(bad, 'bad.py')
    lines = sorted(int(f.split(' ', 1)[0].split(':')[1]) for f in found)
    assert lines == [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 14], found
    good = ('from stmixer_mm.utils.checkpoint_loading import load_pickle\n'
            'dcp.load(sd, storage_reader=safe_dcp_reader(f))\n'
            'torch.load("x.pth", weights_only=True)\n')
    assert _violations(good, 'good.py') == []
    # the loader and the DCP reader do what the others may not
    assert _violations(LOADER.read_text(), 'loader')
    assert _violations(DCP_READER.read_text(), 'dcp_reader')


# ---------------------------------------------------------------------------
# malicious pickles
# ---------------------------------------------------------------------------
class Payload:
    """Unpickled without restriction, it writes ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (builtins.exec, (f'open({self.marker!r}, "w").write("x")', ))


def _refused(err, path, marker):
    msg = str(err.value)
    assert str(path) in msg, msg
    assert 'builtins.exec' in msg, msg
    assert not osp.exists(marker), 'the pickle ran code'


ACT_GT = dict(
    labels=['walk', 'jump'],
    gttubes={'v1': {
        0: [np.array([[1, 0., 0., 9., 9.]], np.float32)]
    }},
    nframes={'v1': 3},
    train_videos=[['v1']],
    test_videos=[['v1']],
    resolution={'v1': (10, 10)})


def _evil_act(tmp_path):
    marker = tmp_path / 'PWNED'
    path = tmp_path / 'evil_GT.pkl'
    path.write_bytes(pickle.dumps(dict(ACT_GT, extra=Payload(marker))))
    return path, marker


def test_load_pickle_refuses_code_and_takes_data(tmp_path, monkeypatch):
    path, marker = _evil_act(tmp_path)
    with pytest.raises(CheckpointFileError) as err:
        load_pickle(str(path), 'numpy', 'ACT file')
    _refused(err, path, marker)
    assert str(err.value).startswith(
        f'{path}: refused to unpickle this ACT file: it asks for the global '
        'builtins.exec, which is outside the allow-list')
    # ordinary data: numpy arrays and scalars, Python 2 protocols, sets
    good = tmp_path / 'good.pkl'
    data = dict(ACT_GT, s={1, 2}, f=np.float64(2.5), c=1j, b=b'\x00\xff')
    for protocol in (2, 4, 5):
        good.write_bytes(pickle.dumps(data, protocol=protocol))
        back = load_pickle(str(good))
        assert back['s'] == {1, 2} and back['f'] == 2.5 and back['c'] == 1j
        assert back['b'] == b'\x00\xff'
        np.testing.assert_array_equal(back['gttubes']['v1'][0],
                                      ACT_GT['gttubes']['v1'][0])
    # tensors only where asked for (dumped predictions)
    preds = tmp_path / 'preds.pkl'
    preds.write_bytes(
        pickle.dumps([dict(pred_instances=dict(bboxes=torch.rand(2, 4)))]))
    with pytest.raises(CheckpointFileError, match='torch'):
        load_pickle(str(preds), 'numpy')
    back = load_pickle(str(preds), 'tensors')
    assert back[0]['pred_instances']['bboxes'].shape == (2, 4)
    # a trusted file is unpickled fully (its code runs)
    monkeypatch.setenv(TRUST_ENV, str(path))
    assert load_pickle(str(path))['labels'] == ['walk', 'jump']
    assert marker.exists()


def test_act_annotations_refuse_code(tmp_path):
    from stmixer_mm.datasets import TubeDataset
    from stmixer_mm.datasets.act_annotations import load_act_annotations
    path, marker = _evil_act(tmp_path)
    with pytest.raises(ValueError) as err:
        load_act_annotations(str(path))
    _refused(err, path, marker)
    with pytest.raises(ValueError) as err:
        TubeDataset(
            ann_file=str(path),
            data_prefix=dict(img=str(tmp_path)),
            pipeline=[],
            test_mode=True)
    _refused(err, path, marker)
    assert 'refused to unpickle' in str(err.value)


def test_label_map_refuses_code(tmp_path):
    from stmixer_mm.apis import load_label_map
    path, marker = _evil_act(tmp_path)
    with pytest.raises(ValueError) as err:
        load_label_map(str(path))
    _refused(err, path, marker)


#: corrupt pickles on which the restricted unpickler raised neither an
#: UnpicklingError nor EOFError / ValueError (found by feeding it random
#: bytes): each is now an UnpicklingError naming the file
CORRUPT_PICKLES = {
    'OverflowError': b'\x80\x04\x8e' + b'\xff' * 7 + b'\x7f',
    'MemoryError': b'\x80\x04\x8e' + (2**60).to_bytes(8, 'little'),
    'TypeError': b'(]]d.',
    'IndexError': b'](K\x01K\x02u.',
    'AttributeError': b'K\x01K\x02a.',
}


@pytest.mark.parametrize('raised', sorted(CORRUPT_PICKLES))
def test_corrupt_pickles_name_the_file(tmp_path, raised):
    from stmixer_mm.apis import load_label_map
    path = tmp_path / 'gt.pkl'
    path.write_bytes(CORRUPT_PICKLES[raised])
    with pytest.raises(pickle.UnpicklingError) as err:
        load_pickle(str(path), what='ACT ground-truth file')
    assert str(
        err.value).startswith(f'{path}: this ACT ground-truth file is corrupt')
    assert f'{raised}: ' in str(err.value)
    with pytest.raises(ValueError, match=f'{path} is not a readable'):
        load_label_map(str(path))


def test_dumped_predictions_refuse_code(tmp_path):
    from stmixer_mm.apps.benchmarks.tubes import load_predictions
    marker = tmp_path / 'PWNED'
    path = tmp_path / 'preds.pkl'
    path.write_bytes(pickle.dumps([dict(pred_instances=Payload(marker))]))
    with pytest.raises(CheckpointFileError) as err:
        load_predictions(str(path))
    _refused(err, path, marker)


# ---------------------------------------------------------------------------
# sharded (torch.distributed.checkpoint) folders
# ---------------------------------------------------------------------------
def _sharded(tmp_path, name='sharded'):
    from stmixer_mm.engine import full_to_sharded
    folder = tmp_path / name
    full_to_sharded(
        dict(
            state_dict={
                'a.weight': torch.arange(12.).view(3, 4),
                'b': torch.ones(5, dtype=torch.int64)
            },
            optimizer=dict(
                state={'a.weight': dict(exp_avg=torch.zeros(3, 4))},
                param_groups=[dict(lr=0.1, params=['a.weight'])]),
            meta=dict(epoch=1)), str(folder))
    return folder


def _convert(folder, dst):
    from stmixer_mm.apps.cli import convert_sharded_checkpoint
    return convert_sharded_checkpoint.main([str(folder), str(dst)])


def test_sharded_metadata_refuses_code(tmp_path):
    folder = _sharded(tmp_path)
    marker = tmp_path / 'PWNED'
    (folder / '.metadata').write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(SystemExit) as err:
        _convert(folder, tmp_path / 'full.pth')
    msg = str(err.value.code)
    assert str(folder / '.metadata') in msg and 'builtins.exec' in msg, msg
    assert not marker.exists()


def test_sharded_items_refuse_code(tmp_path, monkeypatch):
    import torch.distributed.checkpoint as dcp

    from stmixer_mm.engine import sharded_to_full
    folder = _sharded(tmp_path)
    marker = tmp_path / 'PWNED'
    evil = tmp_path / 'evil'
    dcp.save(
        dict(state_dict={'w': torch.ones(2)}, extra=Payload(marker)),
        checkpoint_id=str(evil),
        no_dist=True)
    (evil / 'extra_rank0.pth').write_bytes(
        (folder / 'extra_rank0.pth').read_bytes())
    with pytest.raises(CheckpointFileError) as err:
        sharded_to_full(str(evil))
    assert '__0_0.distcp' in str(err.value), str(err.value)
    assert 'builtins.exec' in str(err.value), str(err.value)
    assert not marker.exists()
    # a folder listed as trusted is unpickled fully (its code runs)
    monkeypatch.setenv(TRUST_ENV, str(evil))
    assert torch.equal(
        sharded_to_full(str(evil))['state_dict']['w'], torch.ones(2))
    assert marker.exists()


def test_sharded_folder_round_trip_and_broken_shards(tmp_path):
    from stmixer_mm.engine import sharded_to_full
    folder = _sharded(tmp_path)
    full = sharded_to_full(str(folder))
    assert torch.equal(full['state_dict']['a.weight'],
                       torch.arange(12.).view(3, 4))
    assert full['optimizer']['param_groups'][0]['lr'] == 0.1
    shard = folder / '__0_0.distcp'
    data = shard.read_bytes()
    # truncated: named, in one line, from the CLI
    shard.write_bytes(data[:len(data) // 2])
    with pytest.raises(SystemExit) as err:
        _convert(folder, tmp_path / 'full.pth')
    msg = str(err.value.code)
    assert str(shard) in msg and 'truncated' in msg, msg
    # same length, garbage inside: named as corrupt
    shard.write_bytes(b'\x00' * len(data))
    with pytest.raises(CheckpointFileError, match='corrupt') as err:
        sharded_to_full(str(folder))
    assert str(shard) in str(err.value)
    # missing shard / metadata
    shard.unlink()
    with pytest.raises(CheckpointFileError, match='missing'):
        sharded_to_full(str(folder))
    (folder / '.metadata').write_bytes(b'\x80\x04')
    with pytest.raises(CheckpointFileError, match='truncated or corrupt'):
        sharded_to_full(str(folder))
