"""``docs/en/custom_dataset.md`` runs as written.

Every ``bash`` block of the tutorial is run, command by command and in the
page's order, in a fresh folder that holds only links to the repository's
``tools/`` and ``configs/`` (as a user's checkout would), each ``python
tools/...`` line as :func:`stmixer_mm.testing.run_tool` runs a tool (a
command line of ``stmixer_mm.apps.cli`` in the test's interpreter, another
script in a new one; one thread). Its ``python`` block runs too. Then
the outputs each step promises are checked: the three exports import to
the same AVA rows, the doctor passes, the checkpoints name their classes,
the test prints a mAP, the fine-tuning log maps the classes by name, the
demo and the inferencer write their files.

The page trains 36 epochs; here its two trainings stop after
:data:`EPOCHS` (``--cfg-options train_cfg.max_epochs``, the later commands
read that epoch's checkpoint): every step and file is checked, not the
model's quality, and the suite stays within its time.
"""
import json
import os
import os.path as osp
import re
import shlex
import sys

import pytest

from stmixer_mm.testing import repo_root, run_tool

REPO = repo_root()
DOC = osp.join(REPO, 'docs', 'en', 'custom_dataset.md')
BLOCK = re.compile(r'^```(\w+)\n(.*?)^```', re.M | re.S)
#: the epochs each training of the page runs here (the page: 36)
EPOCHS = 1


def shortened(command):
    """``command`` of the page with its training stopped after
    :data:`EPOCHS` and its checkpoint path that epoch's."""
    command = command.replace('epoch_36.pth', f'epoch_{EPOCHS}.pth')
    if ' tools/train.py ' not in f' {command} ':
        return command
    if '--cfg-options' in command:
        return f'{command} train_cfg.max_epochs={EPOCHS}'
    return f'{command} --cfg-options train_cfg.max_epochs={EPOCHS}'


def doc_blocks(lang):
    with open(DOC, encoding='utf-8') as f:
        text = f.read()
    return [body for kind, body in BLOCK.findall(text) if kind == lang]


def doc_commands():
    """The shell commands of the page, continuation lines joined."""
    commands = []
    for body in doc_blocks('bash'):
        body = body.replace('\\\n', ' ')
        commands += [
            line.strip() for line in body.splitlines()
            if line.strip() and not line.strip().startswith('#')
        ]
    return commands


def test_tutorial_has_every_step():
    tools = [shlex.split(c)[1] for c in doc_commands()]
    assert tools == [
        'tools/data/generate_annotation_exports.py',
        'tools/data/import_annotations.py',
        'tools/analysis_tools/check_dataset.py', 'tools/train.py',
        'tools/test.py', 'tools/data/import_annotations.py', 'tools/train.py',
        'tools/demo.py'
    ]
    for tool in tools:
        assert osp.isfile(osp.join(REPO, tool)), tool
    # what :func:`shortened` rewrites: the test, the fine-tuning, the demo
    assert sum('epoch_36.pth' in c for c in doc_commands()) == 3


@pytest.fixture(scope='module')
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp('tutorial')
    for name in ('tools', 'configs'):
        os.symlink(osp.join(REPO, name), root / name)
    return root


def _run(cmd, root):
    """``cmd``, a ``python ...`` line of the page, run from ``root``; its
    output (stdout, then stderr)."""
    python, *args = shlex.split(cmd)
    assert python == 'python', cmd
    proc = run_tool([sys.executable, *args], cwd=root, timeout=900)
    return proc.stdout + proc.stderr


@pytest.fixture(scope='module')
def tutorial(workspace):
    """Run every command of the page; their outputs by index."""
    return workspace, [
        _run(shortened(cmd), workspace) for cmd in doc_commands()
    ]


def _rows(path):
    with open(path) as f:
        return sorted(f.read().splitlines())


def test_the_three_exports_import_alike(tutorial):
    root, _ = tutorial
    cmd = doc_commands()[1]
    assert ' cvat ' in cmd
    ann = root / 'data' / 'my_set' / 'annotations'
    for fmt, src in (('label-studio', 'data/my_videos/label_studio.json'),
                     ('csv', 'data/my_videos/annotations.csv')):
        out = f'data/my_set_{fmt}'
        other = cmd.replace(' cvat data/my_videos/cvat ',
                            f' {fmt} {src} ').replace('--out-dir data/my_set ',
                                                      f'--out-dir {out} ')
        _run(other, root)
        for split in ('train.csv', 'val.csv', 'label_map.pbtxt'):
            assert _rows(root / out / 'annotations' / split) == _rows(
                ann / split), (fmt, split)


def test_doctor_and_training(tutorial):
    root, outs = tutorial
    assert 'ERROR' not in outs[2]
    grids = list((root / 'outputs' / 'my_set_check').glob('grid_*.jpg'))
    assert grids
    import torch
    ckpt = torch.load(
        root / 'work_dirs' / 'my_set' / f'epoch_{EPOCHS}.pth',
        map_location='cpu',
        weights_only=False)
    summary = json.loads(
        (root / 'data' / 'my_set' / 'import_summary.json').read_text())
    names = sorted(summary['classes'], key=summary['classes'].get)
    assert list(ckpt['meta']['dataset_meta']['classes']) == names


def test_test_prints_map(tutorial):
    _, outs = tutorial
    match = re.search(r'mAP/overall: (\S+)', outs[4])
    assert match, outs[4][-2000:]
    assert 0.0 <= float(match.group(1)) <= 1.0


def test_finetuning_maps_classes_by_name(tutorial):
    root, outs = tutorial
    log = outs[6]
    assert 'mapped by name' in log, log[-3000:]
    ckpts = list((root / 'work_dirs' / 'my_tubes').glob('epoch_*.pth'))
    assert ckpts


def test_demo_and_inferencer_write_their_files(tutorial):
    root, _ = tutorial
    demo = root / 'outputs' / 'my_set_demo'
    assert any(p.suffix == '.mp4' for p in demo.iterdir())
    assert any(p.suffix == '.json' for p in demo.iterdir())
    (code, ) = doc_blocks('python')
    script = root / 'api_example.py'
    script.write_text(code.replace('epoch_36.pth', f'epoch_{EPOCHS}.pth'))
    _run(f'python {script.name}', root)
    api = root / 'outputs' / 'my_set_api'
    assert (api / 'vis' / 'syn_train_005.mp4').is_file()
    preds = json.loads((api / 'preds' / 'syn_train_005.json').read_text())
    assert preds
