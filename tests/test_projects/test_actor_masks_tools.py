"""Actor masks through the mm tools: the quick-start mask config trained
with ``tools/train.py``, evaluated with ``tools/test.py`` (``AVAMetric``
and ``ActorMaskMetric``) and run by ``tools/demo.py`` (masks drawn, RLE in
the JSON), on a small set of the generator's ``--masks``."""
import glob
import os.path as osp
import sys

import numpy as np
import pytest

from stmixer_mm.apis.results import read_result
from stmixer_mm.testing import repo_root, run_tool
from stmixer_mm.utils.coco_rle import decode_mask

pytestmark = pytest.mark.slow  # trains with the tools

REPO = repo_root()
CFG = osp.join(REPO, 'projects', 'actor_masks', 'configs',
               'stmixer-mask_r3d-tiny_1xb8-8x2x1-12e_synthetic-ava-rgb.py')


def _run(args, cwd):
    """``python *args`` in ``cwd`` (the config's relative data paths),
    as the tools' tests run them."""
    return run_tool([sys.executable, *args], timeout=900, cwd=cwd)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """The set in <tmp>/data/synthetic_ava_masks (the config's relative
    path), one epoch of 3 iterations, validated."""
    root = tmp_path_factory.mktemp('mask_tools')
    _run([
        osp.join(REPO, 'tools/data/generate_synthetic_ava.py'), '--masks',
        '--out-dir', 'data/synthetic_ava_masks', '--num-train-videos', '2',
        '--num-val-videos', '1', '--demo-seconds', '2'
    ], root)
    proc = _run([
        osp.join(REPO, 'tools/train.py'), CFG, '--work-dir', 'work',
        '--cfg-options', 'train_cfg.max_epochs=1', 'train_cfg.val_begin=1',
        'train_cfg.val_interval=1'
    ], root)
    return root, proc


def test_train_and_validate(trained):
    root, proc = trained
    out = proc.stdout + proc.stderr
    assert 's2.loss_mask' in out and 's2.loss_dice' in out
    assert 'actor_mask/mask/AP50' in out and 'mAP/overall' in out


def test_test_tool_reports_mask_and_box_ap(trained):
    root, _ = trained
    ckpt = osp.join(root, 'work', 'epoch_1.pth')
    proc = _run([osp.join(REPO, 'tools/test.py'), CFG, ckpt], root)
    out = proc.stdout + proc.stderr
    for key in ('actor_mask/mask/AP', 'actor_mask/box/AP',
                'actor_mask/mask/AP50', 'mAP/overall'):
        assert key + ':' in out, key


def test_demo_draws_masks_and_writes_them(trained):
    root, _ = trained
    ckpt = osp.join(root, 'work', 'epoch_1.pth')
    video = osp.join(root, 'data', 'synthetic_ava_masks', 'demo', 'demo.mp4')
    _run([
        osp.join(REPO, 'tools/demo.py'), video, CFG, ckpt, '--out-dir', 'out',
        '--stride', '8', '--score-thr', '0', '--person-thr', '0'
    ], root)
    (json_file, ) = glob.glob(osp.join(root, 'out', '*.json'))
    dets = [
        p for k in read_result(json_file)['keyframes'] for p in k['persons']
    ]
    assert dets
    for d in dets:
        m = decode_mask(d['mask'])
        assert m.shape == (128, 192)  # the video's frame size
    assert glob.glob(osp.join(root, 'out', '*.mp4'))
    assert np.isfinite([d['person_score'] for d in dets]).all()
