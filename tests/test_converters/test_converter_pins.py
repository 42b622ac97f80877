"""Pinned outputs of the checkpoint converters.

Every converter (official STMixer, PySlowFast Caffe2 / ``.pyth``, VideoMAE)
runs on fixed small inputs (built by the layouts of the converter tests,
seeded) and its converted state dict (key order, names, dtypes, shapes,
sha256 of the values) and report are compared with
``tests/data/converter_pins.json``, which was written by
``python tests/test_utils/test_converter_pins.py --write`` (its path then)
before the converters moved out of ``stmixer_mm.utils``; so a move or a
refactor that changes any output fails here. The official tool's saved file is
pinned as well (its ``meta`` minus the converter's module path and the
package version, which say where the code lives, not what it produced).

The official converter's outputs are compared under the names they had when
the pins were written: since then STMixer took mmdet's ``TwoStageDetector``
names (``rpn_head.*`` was ``query_generator.*``, ``roi_head.*`` was
``decoder.*``; ``stmixer_mm.converters.legacy.LEGACY_PREFIXES``),
and only that documented renaming is undone (:func:`_pinned_names`).
"""
import hashlib
import importlib
import json
import os.path as osp
import pickle
import sys

import numpy as np
import torch

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(osp.dirname(HERE))
PINS = osp.join(REPO, 'tests', 'data', 'converter_pins.json')
_LAYOUTS = dict(
    test_official='stmixer_mm.testing.official_layouts',
    test_pyslowfast='stmixer_mm.testing.backbone_layouts',
    test_videomae='stmixer_mm.testing.backbone_layouts')


def _sibling(name):
    """The layouts of the converter tests (once in the test module
    ``name``): ``stmixer_mm.testing``."""
    mod = importlib.import_module(_LAYOUTS[name])
    return mod


def _pinned_name(name):
    from stmixer_mm.converters.legacy import LEGACY_PREFIXES
    for old, new in LEGACY_PREFIXES:
        if name.startswith(new):
            return old + name[len(new):]
    return name


def _pinned_names(obj):
    """``obj`` (a state dict, a report's dict, a checkpoint's meta) with
    every key and string value in the current names renamed back to the
    pinned ones."""
    if isinstance(obj, dict):
        return {_pinned_names(k): _pinned_names(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_pinned_names(v) for v in obj)
    return _pinned_name(obj) if isinstance(obj, str) else obj


def _tensor_digest(value):
    t = torch.as_tensor(value).detach().cpu().contiguous()
    return [
        str(t.dtype),
        list(t.shape),
        hashlib.sha256(t.numpy().tobytes()).hexdigest()[:16]
    ]


def _sha(obj):
    return hashlib.sha256(json.dumps(obj).encode()).hexdigest()


def _pin(state_dict, report, rename=False):
    """``rename``: compare the names before the rename (see the module
    docstring)."""
    names = _pinned_names if rename else (lambda obj: obj)
    digest = [[names(k), *_tensor_digest(v)] for k, v in state_dict.items()]
    return dict(
        num_tensors=len(state_dict),
        state_dict=_sha(digest),
        report=_sha(names(report.to_dict())),
        summary=report.summary())


def _converters():
    """(official, pyslowfast, videomae) modules of the converters."""
    from stmixer_mm.apps.converters import pyslowfast, videomae
    from stmixer_mm.converters import official
    return official, pyslowfast, videomae


def compute_pins(tmp_dir):
    official_mod, pyslowfast_mod, videomae_mod = _converters()
    t_off = _sibling('test_official')
    t_kin = _sibling('test_pyslowfast')
    t_vm = _sibling('test_videomae')
    pins = {}

    # official STMixer: every backbone, with and without the DDP prefix
    for kind in ('vit', 'slowfast', 'slowfast_nl', 'slowonly'):
        for prefix in ('', 'module.'):
            sd = t_off.official(kind, seed=3, prefix=prefix)
            new, report = official_mod.convert_official_state_dict(
                sd, vit_num_frames=4, vit_img_size=64)
            pins[f'official/{kind}/{prefix or "bare"}'] = _pin(
                new, report, rename=True)

    # PySlowFast: Caffe2 blobs (numpy) and .pyth module names
    for arch, kw in (('slowfast', dict(blocks=(1, 2, 2, 1), width=16)),
                     ('slowonly', dict(blocks=(1, 1, 2, 1), width=16)),
                     ('slowfast',
                      dict(blocks=(1, 1, 2, 1), width=16, nonlocal_s4=(1, )))):
        layout = t_kin.pyslowfast_layout(arch, **kw)
        name = f'{arch}{"_nl" if kw.get("nonlocal_s4") else ""}'
        c2 = osp.join(tmp_dir, f'{name}.pkl')
        t_kin.caffe2_file(c2, layout)
        with open(c2, 'rb') as f:
            blobs = pickle.load(f, encoding='latin1')['blobs']
        new, report = pyslowfast_mod.convert_pyslowfast_state_dict(blobs)
        pins[f'pyslowfast/caffe2/{name}'] = _pin(new, report)
        state = {
            py: torch.full(shape, t_kin.fill(k))
            for k, (py, _, shape) in enumerate(layout)
        }
        new, report = pyslowfast_mod.convert_pyslowfast_state_dict({
            'module.' + k:
            v
            for k, v in state.items()
        })
        pins[f'pyslowfast/pyth/{name}'] = _pin(new, report)

    # VideoMAE: fine-tuned and pre-trained layouts
    for pretrain in (False, True):
        torch.manual_seed(5)
        src = t_vm.videomae_layout(
            64, 2, 256, 16, pretrain=pretrain, device='cpu')
        new, report = videomae_mod.convert_videomae_state_dict(
            src, num_frames=4, img_size=64)
        pins[f'videomae/{"pretrain" if pretrain else "finetune"}'] = _pin(
            new, report)

    # the official tool's file, without --config
    from stmixer_mm.apps.cli import convert_official_checkpoint as tool
    src, dst = osp.join(tmp_dir, 'src.pth'), osp.join(tmp_dir, 'dst.pth')
    torch.save({
        'model': t_off.official('slowfast', seed=4),
        'iteration': 3
    }, src)
    tool.main([src, dst])
    ckpt = torch.load(dst, map_location='cpu', weights_only=True)
    meta = {
        k: v
        for k, v in ckpt['meta'].items()
        if k not in ('converter', 'stmixer_mm_version')
    }
    pins['tool/official/slowfast'] = dict(
        top_level=sorted(ckpt),
        meta=_sha(_pinned_names(meta)),
        state_dict=_sha([[_pinned_name(k), *_tensor_digest(v)]
                         for k, v in ckpt['state_dict'].items()]))
    return pins


def test_converter_outputs_are_pinned(tmp_path):
    with open(PINS) as f:
        expected = json.load(f)
    got = compute_pins(str(tmp_path))
    assert sorted(got) == sorted(expected)
    for case in expected:
        assert got[case] == expected[case], case


if __name__ == '__main__':
    import tempfile
    assert sys.argv[1:] == ['--write'], 'usage: --write'
    np.random.seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        pins = compute_pins(tmp)
    with open(PINS, 'w') as f:
        json.dump(pins, f, indent=1, sort_keys=True)
        f.write('\n')
    print(f'wrote {len(pins)} pins to {PINS}')
