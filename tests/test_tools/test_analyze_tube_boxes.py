"""tools/experiments/analyze_tube_boxes.py (bias and jitter of a tube
model's boxes on known offsets, several dumps side by side) and
rescore_tubelets.py (tubelets smoothed in time, then scored), as a user
runs them on hand-made dumps."""
import ast
import pickle
import re

import numpy as np
import pytest
import torch

ANALYZE = 'experiments/analyze_tube_boxes.py'
GT_BOX = np.array([40.0, 20.0, 60.0, 60.0])  # 20 x 40
SCALE = np.array([200, 100, 200, 100])


def _gt():
    tube = np.array([[f, *GT_BOX] for f in range(1, 11)])
    return dict(
        labels=['walk', 'jump'],  # a tube of label 0
        gttubes=dict(v={0: [tube]}),
        nframes=dict(v=10),
        resolution=dict(v=(100, 200)),
        train_videos=[[]],
        test_videos=[['v']])


def _keyframe_samples(offsets, scores=None):
    """One sample per frame, the box offset by ``offsets[f - 1]`` (and a
    far-away second box), normalised as the model gives them."""
    out = []
    for f, off in enumerate(offsets, start=1):
        boxes = np.stack([GT_BOX + off, [150, 10, 170, 30]]) / SCALE
        pred = dict(bboxes=torch.tensor(boxes))
        if scores is not None:
            pred['scores'] = torch.tensor(scores)
        out.append(dict(video_id='v', timestamp=f, pred_instances=pred))
    return out


def _write(folder, **objects):
    paths = {}
    for name, obj in objects.items():
        paths[name] = folder / f'{name}.pkl'
        paths[name].write_bytes(pickle.dumps(obj))
    return {k: str(v) for k, v in paths.items()}


def _analyse(tools, gt, dumps, *extra, check=True):
    """``{dump name: {statistic: value}}`` of one run over ``dumps``."""
    proc = tools.python_tool(ANALYZE, gt, *dumps.values(), *extra, check=check)
    if not check:
        return proc
    names = {path: name for name, path in dumps.items()}
    stats, current = {}, None
    for line in proc.stdout.splitlines():
        if line.startswith('== '):
            current = stats.setdefault(names[line[3:]], {})
        elif ': ' in line and current is not None:
            key, value = line.split(': ', 1)
            current[key] = ast.literal_eval(value)  # numbers, lists
    assert set(stats) == set(dumps), proc.stdout
    return stats


def test_keyframe_boxes(tools, tmp_path):
    """Bias against jitter of keyframe boxes (no, constant, alternating
    offsets), and the label accuracy of boxes with scores, one run."""
    swing = [np.array([4.0, 0, 4, 0]) * (-1)**f for f in range(10)]
    paths = _write(
        tmp_path,
        gt=_gt(),
        perfect=_keyframe_samples([np.zeros(4)] * 10),
        shifted=_keyframe_samples([np.array([4.0, 0, 4, 0])] * 10),
        jitter=_keyframe_samples(swing),
        scored=_keyframe_samples([np.zeros(4)] * 10, [[0.9, 0.1], [0.2, 0.7]]))
    gt = paths.pop('gt')
    stats = _analyse(tools, gt, paths)
    approx = pytest.approx
    perfect, shifted, jitter = (
        stats[k] for k in ('perfect', 'shifted', 'jitter'))
    assert perfect['frame_iou_median'] == approx(1.0)
    assert perfect['bias_rms_px'] == perfect['jitter_rms_px'] == 0
    # the same 4-px shift on every frame: all bias, IoU 16 / 24
    assert shifted['frame_iou_median'] == approx(16 / 24, abs=1e-3)
    assert shifted['jitter_rms_px'] == approx(0, abs=1e-3)
    assert shifted['bias_rms_px'] == approx(np.sqrt(8), abs=1e-3)
    assert shifted['tubes_at_0_75'] == 0
    assert shifted['tubes_at_0_75_without_bias'] == 1
    assert shifted['tubes_at_0_75_without_jitter'] == 0
    # +-4 px from frame to frame: all jitter
    assert jitter['bias_rms_px'] == approx(0, abs=1e-3)
    assert jitter['jitter_rms_px'] == approx(np.sqrt(8), abs=1e-3)
    assert jitter['tubes_at_0_75_without_jitter'] == 1
    # keyframe boxes have no slots; without scores there is no label
    # accuracy (rather than a 0); with scores (2 labels, no background
    # column) the best box's class is the tube's
    for name in ('perfect', 'shifted', 'jitter'):
        assert 'matched_label_accuracy' not in stats[name]
        assert 'iou_median_by_slot' not in stats[name]
    assert stats['scored']['matched_label_accuracy'] == 1.0
    assert 'iou_median_by_slot' not in stats['scored']


def _tubelet(timestamp, frames, boxes, scores=None):
    pred = dict(tubelet_bboxes=torch.tensor(boxes))
    if scores is not None:
        pred['scores'] = torch.tensor(scores)
    return dict(
        video_id='v',
        timestamp=timestamp,
        tubelet_frames=torch.tensor(frames),
        pred_instances=pred)


def test_tubelet_boxes(tools, tmp_path):
    """--tubelets: the best clip per frame, labels and slots of the best
    boxes, one run."""
    good = np.tile(GT_BOX / SCALE, (1, 5, 1))  # [1 tubelet, 5 frames, 4]
    bad = np.tile((GT_BOX + [10, 0, 10, 0]) / SCALE, (1, 5, 1))
    best_clip = [
        _tubelet(3, np.arange(1, 6), good),
        _tubelet(5, np.arange(4, 9), bad)  # overlaps frames 4, 5
    ]
    # the tubelet on the GT (best class 0 on frames 1-3 through the
    # background column) and a far one with class 1
    near = np.tile(GT_BOX / SCALE, (5, 1))
    near[3:] += np.array([6.0, 0, 6, 0]) / SCALE  # slots 3, 4 off by 6 px
    far = np.tile(np.array([150.0, 10, 170, 30]) / SCALE, (5, 1))
    boxes = np.stack([near, far])
    right = [[0.9, 0.8, 0.1], [0.0, 0.1, 0.7]]
    wrong = [[0.9, 0.1, 0.8], [0.0, 0.1, 0.7]]  # the best box: class 1
    paths = _write(
        tmp_path,
        gt=_gt(),
        best_clip=best_clip,
        right=[_tubelet(3, np.arange(1, 6), boxes, right)],
        wrong=[_tubelet(3, np.arange(1, 6), boxes, wrong)])
    gt = paths.pop('gt')
    stats = _analyse(tools, gt, paths, '--tubelets')
    clip = stats['best_clip']
    assert clip['frames'] == 8  # frames 9, 10 not covered
    # frames 1-5 exact (the good clip wins on 4 and 5), 6-8 off by 10 px
    assert clip['frames_at_0_75'] == pytest.approx(5 / 8, abs=1e-3)
    assert 'matched_label_accuracy' not in clip  # no scores
    right, wrong = stats['right'], stats['wrong']
    assert right['matched_label_accuracy'] == 1.0
    assert right['iou_median_by_slot'][:3] == [1.0, 1.0, 1.0]
    assert right['iou_median_by_slot'][3] == pytest.approx(14 / 26, abs=1e-3)
    # every best box of the wrong class: the same boxes, accuracy 0
    assert wrong == dict(right, matched_label_accuracy=0.0)


def test_refusals(tools, tmp_path):
    """Every dump that cannot be analysed is refused, named, before any
    statistic is printed."""
    samples = _keyframe_samples([np.zeros(4)] * 10)
    tubelets = [
        _tubelet(3, np.arange(1, 6), np.tile(GT_BOX / SCALE, (1, 5, 1)))
    ]
    paths = _write(
        tmp_path,
        gt=_gt(),
        # --tubelets on keyframe predictions
        keyframes=samples,
        other_video=[dict(s, video_id='w') for s in tubelets],
        # predictions that cover no tube give no number
        late=[
            dict(s, timestamp=30, tubelet_frames=torch.arange(30, 35))
            for s in tubelets
        ],
        bad_scores=[
            dict(
                tubelets[0],
                pred_instances=dict(
                    tubelets[0]['pred_instances'], scores=torch.zeros(1, 5)))
        ])
    gt = paths.pop('gt')
    proc = _analyse(tools, gt, paths, '--tubelets', check=False)
    assert proc.returncode == 1 and proc.stdout == ''
    err = proc.stderr
    assert f"{paths['keyframes']}: dumped sample of video 'v' frame 1: no " \
        'tubelet_bboxes' in err
    assert f"{paths['other_video']}: dumped sample of video 'w' frame 3: " \
        'the ground truth has no such video' in err
    assert f"{paths['late']}: no prediction covers" in err
    assert re.search(
        re.escape(paths['bad_scores']) + r'.*scores of shape \(1, 5\), '
        r'expected \[1, 2\] or \[1, 3\]', err)


def test_rescore_smoothed_tubelets(tools, tmp_path):
    """rescore_tubelets.py: a box moving at constant velocity is kept by
    every degree >= 1 (and by degree T' - 1, which interpolates), degree 0
    (the tubelet's mean box) misses its ends; boxes that are not
    ``[n, T', 4]`` are refused."""
    gt = _gt()
    moving = np.array([[f, *(GT_BOX + [2 * f, 0, 2 * f, 0])]
                       for f in range(1, 17)])
    gt.update(
        labels=['walk'], gttubes=dict(v={0: [moving]}), nframes=dict(v=16))
    clips = []
    for start in (1, 9):
        frames = np.arange(start, start + 8)
        boxes = moving[start - 1:start + 7, 1:] / SCALE
        clips.append(
            dict(
                _tubelet(start + 3, frames, boxes[None], [[0.9]]),
                img_shape=(100, 200)))
        clips[-1]['pred_instances']['bboxes'] = torch.tensor(boxes[3:4])
    paths = _write(
        tmp_path,
        gt=gt,
        preds=clips,
        flat=[
            dict(
                c,
                pred_instances=dict(
                    c['pred_instances'], tubelet_bboxes=torch.zeros(1, 4)))
            for c in clips
        ])
    config = tmp_path / 'tubelets.py'
    config.write_text(
        "default_scope = 'mmaction'\n"
        f"test_evaluator = dict(type='TubeMetric', ann_file='{paths['gt']}',"
        " protocol='ucf_jhmdb', tubes='tubelets')\n")
    out = tools.python_tool('experiments/rescore_tubelets.py', str(config),
                            paths['preds'], '--degrees', 'none,7,3,1,0').stdout
    scores = dict(re.findall(r'^degree (\w+): (.*)$', out,
                             re.M))  # degree -> line
    assert list(scores) == ['none', '7', '3', '1', '0']
    assert 'frameAP@0.5 100.00' in scores['none']
    for degree in ('7', '3', '1'):
        assert scores[degree] == scores['none'], degree
    frame_ap = float(scores['0'].split('frameAP@0.5 ')[1].split(',')[0])
    assert frame_ap < 100
    proc = tools.python_tool(
        'experiments/rescore_tubelets.py',
        str(config),
        paths['flat'],
        '--degrees',
        '1',
        check=False)
    assert proc.returncode == 1
    assert "expected [n, T', 4] boxes on T' frames" in proc.stderr
    assert 'Traceback' not in proc.stderr
