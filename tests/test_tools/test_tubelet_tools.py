"""STMixer-T through the mm tools: the quick-start tubelet config trained
with ``tools/train.py``, tested with ``tools/test.py`` (one clip every 8
frames, tubes from the tubelets) and run by ``tools/demo.py``, offline and
online (a box per frame from each person's tubelet), on a small generated
tube set."""
import glob
import os.path as osp
import sys

import pytest

from stmixer_mm.apis.results import read_result
from stmixer_mm.testing import repo_root, run_tool

pytestmark = pytest.mark.slow  # trains with the tools

REPO = repo_root()
CFG = osp.join(
    REPO, 'configs', 'quickstart',
    'stmixer-tubelet_r3d-tiny_1xb8-8x2x1-6e_synthetic-tubes-rgb.py')


def _run(args, cwd):
    """``python *args`` in ``cwd`` (the config's relative data paths),
    as the tools' tests run them."""
    return run_tool([sys.executable, *args], timeout=900, cwd=cwd)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """<tmp>/data/synthetic_tubes (the config's relative path): 4 training
    and 8 test videos of 2 s; one epoch, validated."""
    root = tmp_path_factory.mktemp('tubelet_tools')
    _run([
        osp.join(REPO, 'tools/data/generate_synthetic_tubes.py'), '--out-dir',
        'data/synthetic_tubes', '--num-train-videos', '4', '--num-val-videos',
        '8'
    ], root)
    proc = _run([
        osp.join(REPO, 'tools/train.py'), CFG, '--work-dir', 'work',
        '--cfg-options', 'train_cfg.max_epochs=1', 'train_cfg.val_begin=1',
        'train_cfg.val_interval=1'
    ], root)
    return root, proc


def test_train_and_validate(trained):
    _, proc = trained
    out = proc.stdout + proc.stderr
    for key in ('s2.loss_bbox', 's2.loss_iou', 's2.loss_action'):
        assert key in out, key
    # 8 test videos of 32 frames: 4 clips each, not 32
    assert '8 videos, 32 clips, tubes from tubelets' in out
    assert 'mAP/videoAP@0.75' in out


def test_test_tool_reports_tube_metrics(trained):
    root, _ = trained
    ckpt = osp.join(root, 'work', 'epoch_1.pth')
    proc = _run([
        osp.join(REPO, 'tools/test.py'), CFG, ckpt, '--cfg-options',
        'test_evaluator.identity_metrics=True',
        'test_evaluator.trackeval_score_thr=0.0'
    ], root)
    out = proc.stdout + proc.stderr
    for key in ('mAP/frameAP@0.5', 'mAP/videoAP@0.5', 'mAP/IDSW/gt',
                'mAP/HOTA', 'mAP/IDF1'):
        assert key + ':' in out, key


@pytest.mark.parametrize('online', [False, True])
def test_demo_draws_a_box_per_frame(trained, online):
    root, _ = trained
    ckpt = osp.join(root, 'work', 'epoch_1.pth')
    video = glob.glob(
        osp.join(root, 'data', 'synthetic_tubes', 'demo', '*.mp4'))[0]
    out_dir = f'out_{online}'
    _run([
        osp.join(REPO, 'tools/demo.py'), video, CFG, ckpt, '--out-dir',
        out_dir, '--stride', '8', '--score-thr', '0', '--person-thr', '0'
    ] + (['--online'] if online else []), root)
    assert glob.glob(osp.join(root, out_dir, '*.mp4'))
    if online:
        (path, ) = glob.glob(osp.join(root, out_dir, '*.jsonl'))
    else:
        (path, ) = glob.glob(osp.join(root, out_dir, '*.json'))
    records = read_result(path)['keyframes']  # the same structure
    persons = [p for r in records for p in r['persons']]
    frames = [r['frame'] for r in records for _ in r['persons']]
    assert persons
    for p, k in zip(persons, frames):
        tub = p['tubelet']
        assert len(tub['frames']) == len(tub['boxes']) == 8
        # the clip's 8 frames, interval 2, around the keyframe (clamped)
        assert tub['frames'] == [max(k + 2 * (i - 4), 0) for i in range(8)]
