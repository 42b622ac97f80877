"""``tools/experiments/benchmark_tracking.py``: the test subset of an
ACT pickle, ``--aggregate`` over the ``--out`` files (one per variant and
seed are merged by seed) and ``--trackers`` on dumped detections. The
training itself takes an hour and is not run here."""
import json
import pickle

import numpy as np
import pytest

from stmixer_mm.apps.benchmarks.tubes import subset_gt


def _metrics(prefix, base):
    keys = ('frameAP@0.5', 'videoAP@0.2', 'videoAP@0.5', 'videoAP@0.75',
            'IDSW/gt', 'Frag/gt', 'coverage')
    return {f'{prefix}/{k}': base + i for i, k in enumerate(keys)}


def _variant(prefixes, base):
    metrics = {}
    for j, p in enumerate(prefixes):
        metrics.update(_metrics(p, base + 10 * j))
    return dict(
        standard=dict(metrics=metrics),
        crossing=dict(metrics={
            k: v + 1
            for k, v in metrics.items()
        }))


def test_subset_gt_keeps_the_first_test_videos(tmp_path):
    gt = dict(test_videos=[['a', 'b', 'c']], train_videos=[['t']])
    src = tmp_path / 'gt.pkl'
    src.write_bytes(pickle.dumps(gt))
    out = subset_gt(str(src), 2, str(tmp_path / 'sub' / 'gt.pkl'))
    with open(out, 'rb') as f:
        assert pickle.load(f)['test_videos'] == [['a', 'b']]
    out = subset_gt(str(src), 0, str(tmp_path / 'all.pkl'))
    with open(out, 'rb') as f:
        assert pickle.load(f)['test_videos'] == [['a', 'b', 'c']]


def test_aggregate_merges_the_variants_of_a_seed(tools, tmp_path):
    paths = []
    for seed in (0, 1):
        for variant, prefixes in (('linking', ['linking']),
                                  ('tracking', ['tracking', 'linking'])):
            run = dict(
                variants={variant: _variant(prefixes, 50.0 + 2 * seed)},
                args=dict(seed=seed))
            path = tmp_path / f'{variant}{seed}.json'
            path.write_text(json.dumps(run))
            paths.append(str(path))
    out = tools.python_tool('experiments/benchmark_tracking.py', '--aggregate',
                            *paths).stdout
    assert '2 run(s), seeds [0, 1]' in out
    rows = [line for line in out.splitlines() if line.startswith('| ')]
    # header, separator, 3 tube sources x 2 sets
    assert len(rows) == 8
    row = next(
        r for r in rows
        if r.startswith('| standard | keyframe detector + linking'))
    # frameAP: 50 and 52 -> mean 51, std 1
    assert '51.0 +- 1.0 [50.0, 52.0]' in row
    row = next(
        r for r in rows
        if r.startswith('| crossing | track queries, tubes from linking'))
    # the second prefix of the tracking run: base + 10, crossing + 1
    assert '62.0 +- 1.0 [61.0, 63.0]' in row


def test_trackers_count_the_switches_on_dumped_predictions(tools, tmp_path):
    """``--trackers`` (issue 73) on dumped detections (``--predictions``,
    ``--gt``): the person tracks of a tracker on the keyframes of tested
    frames against one GT track per actor. Two actors cross, the second
    scoring highest while they overlap: the greedy tracker swaps their ids
    (one switch per GT track), ByteTracker keeps them; at keyframe stride 2
    only every other frame is tracked and scored; persons below the
    threshold are not tracked."""
    h, w = 100, 200
    a = [[f, 10 + 4 * k, 10, 30 + 4 * k, 60]
         for k, f in enumerate(range(1, 11))]
    b = [[f, 46 - 4 * k, 10, 66 - 4 * k, 60]
         for k, f in enumerate(range(1, 11))]
    gt = dict(
        labels=['walk', 'run'],
        # actor 1's tube is split by a change of class: one identity
        gttubes=dict(v={
            0: [np.array(a), np.array(b[:6])],
            1: [np.array(b[6:])]
        }),
        tube_actors=dict(v={
            0: [0, 1],
            1: [1]
        }),
        nframes=dict(v=10),
        resolution=dict(v=(h, w)),
        train_videos=[[]],
        test_videos=[['v']])
    scale = np.array([w, h, w, h], float)
    predictions = [
        dict(
            video_id='v.mp4',
            timestamp=f,
            pred_instances=dict(
                bboxes=np.array([a[f - 1][1:], b[f - 1][1:]]) / scale,
                person_scores=np.array([0.9, 0.95 if f in (5, 6) else 0.8])))
        for f in range(1, 11)
    ]
    (tmp_path / 'gt.pkl').write_bytes(pickle.dumps(gt))
    (tmp_path / 'preds.pkl').write_bytes(pickle.dumps(predictions))
    out = tmp_path / 'trackers.json'
    printed = tools.python_tool('experiments/benchmark_tracking.py',
                                '--trackers', 'GreedyTracker,ByteTracker',
                                '--keyframe-strides', '1,2', '--person-thr',
                                '0.5,0.99', '--predictions',
                                str(tmp_path / 'preds.pkl'), '--gt',
                                str(tmp_path / 'gt.pkl'), '--work-dir',
                                str(tmp_path / 'work'), '--out',
                                str(out)).stdout
    rows = json.loads(out.read_text())['trackers']['predictions']
    by = {
        (r['tracker']['type'], r['stride'], r['person_thr']): r
        for r in rows
    }
    assert len(by) == len(rows) == 8
    greedy, byte = by['GreedyTracker', 1, 0.5], by['ByteTracker', 1, 0.5]
    assert greedy['gt_tracks'] == byte['gt_tracks'] == 2
    assert greedy['IDSW/gt'] == 1.0 and byte['IDSW/gt'] == 0.0
    assert greedy['coverage'] == byte['coverage'] == 100.0
    assert byte['HOTA'] == pytest.approx(100.0)
    assert greedy['HOTA'] < 90
    assert byte['tracks'] == 2
    # persons below the threshold are not tracked: nothing is covered
    assert by['GreedyTracker', 1, 0.99]['coverage'] == 0.0
    # stride 2: frames 2, 4, ..., 10 tracked, the GT scored on them alone
    half = by['ByteTracker', 2, 0.5]
    assert half['coverage'] == 100.0 and half['tracks'] == 2
    assert '| predictions | ByteTracker | 1 | 0.5 | 0.00 | 0.00 | 100.0 |' \
        in printed
