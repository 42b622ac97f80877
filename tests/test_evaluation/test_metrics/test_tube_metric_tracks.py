"""TubeMetric with a tracking model's ``pred_instances.track_ids``:
``tubes='track_ids'`` and ``identity_metrics=True`` end to end on tiny ACT
pickles; the default (linking) numbers do not change."""
import copy
import pickle

import numpy as np
import pytest
import torch

import stmixer_mm  # noqa: F401  (registers TubeMetric)
from stmixer_mm.registry import METRICS

H, W = 240, 320
LABELS = ['a', 'b', 'c']
NFRAMES = 30


def _scene(seed,
           layout=None,
           jitter=0.0,
           distractors=0,
           trim=0,
           other_classes=False):
    """``(gt, samples)``: per video, GT tubes (classes ``layout[video]``,
    random if None) of >= 15 frames, each in its own horizontal slot; the
    detections are the GT boxes (+- ``jitter`` pixels), one track id per GT
    tube, scored only in their own class (``other_classes``: also in the
    others, lower); ``trim``: up to that many frames at each end of a GT
    tube have no detection; ``distractors`` random boxes per frame (their
    own track ids, one frame each)."""
    rng = np.random.default_rng(seed)
    if layout is None:
        layout = {
            f'v{i}': rng.integers(0, 3, rng.integers(1, 4)).tolist()
            for i in range(2)
        }
    gttubes = {}
    samples = []
    next_id = 1000
    for v, classes in layout.items():
        per_frame = {f: [] for f in range(1, NFRAMES + 1)}
        gttubes[v] = {}
        for j, label in enumerate(classes):
            first = int(rng.integers(1, NFRAMES - 13))
            last = int(rng.integers(first + 14, NFRAMES + 1))
            x0, y0 = 10 + 100 * j, float(rng.integers(0, 150))
            rows = []
            start = first + int(rng.integers(0, trim + 1))
            end = last - int(rng.integers(0, trim + 1))
            for f in range(first, last + 1):
                x = x0 + 10 * np.sin(f / 5)
                box = np.array([x, y0, x + 40, y0 + 60])
                rows.append([f, *box])
                if not start <= f <= end:
                    continue
                det = box + rng.uniform(-jitter, jitter, 4)
                scores = np.zeros(3, np.float32)
                if other_classes:
                    scores[:] = rng.uniform(.05, .5, 3)
                scores[label] = rng.uniform(.3, 1)
                per_frame[f].append((det, scores, 10 * j + 7))
            gttubes[v].setdefault(label, []).append(np.array(rows))
        for f in range(1, NFRAMES + 1):
            for _ in range(distractors):
                x, y = rng.uniform(0, W - 50), rng.uniform(0, H - 70)
                per_frame[f].append(
                    (np.array([x, y, x + 50, y + 70]),
                     rng.uniform(0, .5, 3).astype(np.float32), next_id))
                next_id += 1
            dets = per_frame[f]
            boxes = np.clip(  # normalised, clipped as the heads clip
                np.array([d[0] for d in dets]).reshape(-1, 4) /
                np.array([W, H, W, H]), 0, 1)
            samples.append(
                dict(
                    video_id=v,
                    timestamp=f,
                    pred_instances=dict(
                        bboxes=torch.tensor(boxes, dtype=torch.float32),
                        scores=torch.tensor(
                            np.array([d[1] for d in dets]).reshape(-1, 3)),
                        track_ids=torch.tensor([d[2] for d in dets],
                                               dtype=torch.long))))
    gt = dict(
        labels=LABELS,
        gttubes=gttubes,
        nframes={v: NFRAMES
                 for v in layout},
        train_videos=[[]],
        test_videos=[list(layout)],
        resolution={v: (H, W)
                    for v in layout})
    return gt, samples


def _ann(tmp_path, gt, name='gt.pkl'):
    path = tmp_path / name
    with open(path, 'wb') as f:
        pickle.dump(gt, f)
    return str(path)


def _run(ann, samples, **kwargs):
    metric = METRICS.build(dict(type='TubeMetric', ann_file=ann, **kwargs))
    metric.process(None, copy.deepcopy(samples))
    return metric, metric.compute_metrics(metric.results)


LAYOUT = {'v1': [0, 1], 'v2': [2, 0]}


@pytest.mark.parametrize('protocol', ['ucf_jhmdb', 'multisports'])
def test_gt_as_tracked_detections(tmp_path, protocol):
    gt, samples = _scene(0, LAYOUT)
    ann = _ann(tmp_path, gt)
    metric, res = _run(
        ann,
        samples,
        protocol=protocol,
        tubes='track_ids',
        identity_metrics=True)
    for key in ('frameAP@0.5', 'videoAP@0.2', 'videoAP@0.5', 'videoAP@0.75',
                'videoAP@0.5:0.95'):
        assert res[key] == pytest.approx(100.0), key
    assert res['IDSW/gt'] == 0.0 and res['Frag/gt'] == 0.0
    assert res['coverage'] == pytest.approx(100.0)
    assert metric.identity['num_gt_tubes'] == 4
    assert len(metric.identity['rows']) == 4

    # two class-0 GT tubes side by side; their two tracks exchange ids
    # half-way through the frames both are alive
    layout = {'v1': [0, 0]}
    gt2, s2 = _scene(3, layout)
    tubes = gt2['gttubes']['v1'][0]
    first = max(int(t[0, 0]) for t in tubes)
    last = min(int(t[-1, 0]) for t in tubes)
    assert last - first >= 2  # both tubes alive over a common span
    mid = (first + last) // 2
    for s in s2:
        if s['timestamp'] > mid:
            ids = s['pred_instances']['track_ids']
            s['pred_instances']['track_ids'] = torch.where(
                ids == 7, 17, torch.where(ids == 17, 7, ids))
    ann2 = _ann(tmp_path, gt2, 'swap.pkl')
    _, tracked = _run(
        ann2,
        s2,
        protocol=protocol,
        tubes='track_ids',
        identity_metrics=True,
        link_cfg=dict(min_length=2),
        ignore_labels=['b', 'c'] if protocol == 'ucf_jhmdb' else None)
    # each GT tube is followed by one track, then by the other: 1 switch
    assert tracked['IDSW/gt'] == 1.0 and tracked['Frag/gt'] == 0.0
    assert tracked['coverage'] == pytest.approx(100.0)
    assert tracked['videoAP@0.5'] < 100.0
    _, linked = _run(
        ann2,
        s2,
        protocol=protocol,
        identity_metrics=True,
        link_cfg=dict(min_length=2),
        ignore_labels=['b', 'c'] if protocol == 'ucf_jhmdb' else None)
    # the linking follows the boxes: no switch, every GT tube found
    assert linked['IDSW/gt'] == 0.0 and linked['videoAP@0.5'] == 100.0
    assert linked['frameAP@0.5'] == tracked['frameAP@0.5']


@pytest.mark.parametrize('protocol', ['ucf_jhmdb', 'multisports'])
def test_default_linking_unchanged_with_track_ids(tmp_path, protocol):
    gt, samples = _scene(5, jitter=3.0, distractors=2)
    ann = _ann(tmp_path, gt)
    kwargs = dict(protocol=protocol, link_cfg=dict(min_length=5))
    if protocol == 'ucf_jhmdb':
        present = {c for v in gt['gttubes'].values() for c in v}
        kwargs['ignore_labels'] = [
            name for i, name in enumerate(LABELS) if i not in present
        ]
    without = copy.deepcopy(samples)
    for s in without:
        del s['pred_instances']['track_ids']
    _, base = _run(ann, without, **kwargs)
    _, with_ids = _run(ann, samples, **kwargs)
    assert with_ids == base
    assert 0 < base['videoAP@0.5'] and 0 < base['frameAP@0.5'] < 100
    # identity metrics only add their keys
    _, ident = _run(ann, samples, identity_metrics=True, **kwargs)
    assert {k: ident[k] for k in base} == base
    assert set(ident) - set(base) == {'IDSW/gt', 'Frag/gt', 'coverage'}
    assert 0 < ident['coverage'] <= 100


@pytest.mark.parametrize('protocol', ['ucf_jhmdb', 'multisports'])
def test_one_track_per_gt_tube_equals_linking(tmp_path, protocol):
    """Each GT tube detected by exactly one track per frame (over part of
    its frames, jittered, also scored in the wrong classes), no
    distractors: the track tubes are the linked tubes, so the video-mAPs
    (and identity metrics) are equal; 8 seeded scenes."""
    below_100 = 0
    for seed in range(8):
        gt, samples = _scene(
            100 + seed, jitter=2.5, trim=6, other_classes=True)
        ann = _ann(tmp_path, gt, f'gt{seed}.pkl')
        kwargs = dict(
            protocol=protocol,
            identity_metrics=True,
            link_cfg=dict(min_length=8))
        if protocol == 'ucf_jhmdb':
            present = {c for v in gt['gttubes'].values() for c in v}
            kwargs['ignore_labels'] = [
                name for i, name in enumerate(LABELS) if i not in present
            ]
        _, linked = _run(ann, samples, **kwargs)
        _, tracked = _run(ann, samples, tubes='track_ids', **kwargs)
        assert tracked == linked, seed
        assert linked['IDSW/gt'] == 0.0
        below_100 += linked['videoAP@0.5'] < 100
    # not a trivial case: the wrong-class tubes and the trimmed, jittered
    # boxes cost video-mAP in most scenes
    assert below_100 >= 4


def test_track_id_options_checked(tmp_path):
    gt, samples = _scene(0, LAYOUT)
    ann = _ann(tmp_path, gt)
    without = copy.deepcopy(samples)
    del without[3]['pred_instances']['track_ids']
    metric = METRICS.build(
        dict(
            type='TubeMetric',
            ann_file=ann,
            protocol='multisports',
            tubes='track_ids'))
    with pytest.raises(
            ValueError,
            match=r"video 'v1' frame 4: .*the model gives no track ids"):
        metric.process(None, without)
    # results gathered without ids (e.g. processed by another metric)
    metric.results[:] = [r[:4] for r in _processed(ann, samples)]
    with pytest.raises(ValueError, match='gives no track ids'):
        metric.compute_metrics(metric.results)
    with pytest.raises(ValueError, match="score_mode='per_class'"):
        METRICS.build(
            dict(
                type='TubeMetric',
                ann_file=ann,
                protocol='multisports',
                tubes='track_ids',
                score_mode='argmax'))
    with pytest.raises(ValueError, match='tubes must be one of'):
        METRICS.build(
            dict(
                type='TubeMetric',
                ann_file=ann,
                protocol='multisports',
                tubes='tracks'))
    bad = copy.deepcopy(samples[:1])
    bad[0]['pred_instances']['track_ids'] = torch.tensor([1.5, 2.5])
    with pytest.raises(ValueError, match='one integer per box'):
        metric.process(None, bad)


def test_score_thr_drops_ids_with_their_rows(tmp_path):
    """Rows below score_thr leave with their ids: a track whose class score
    falls below it in mid-track has a hole, which is an error (never a
    silently wrong tube)."""
    gt, samples = _scene(0, LAYOUT)
    ann = _ann(tmp_path, gt)
    metric = METRICS.build(
        dict(
            type='TubeMetric',
            ann_file=ann,
            protocol='multisports',
            tubes='track_ids',
            score_thr=.2))
    metric.process(None, copy.deepcopy(samples))
    dets, ids = metric.frame_detections(metric.results, track_ids=True)
    for label, per_video in dets.items():
        for iv, frames in per_video.items():
            for f, d in frames.items():
                assert len(ids[label][iv][f]) == len(d)
    # lower one box of a track in mid-track below the threshold
    tubes = gt['gttubes']['v1'][0][0]
    f = int(tubes[len(tubes) // 2, 0])
    s = next(s for s in samples
             if s['video_id'] == 'v1' and s['timestamp'] == f)
    s['pred_instances']['scores'][0, 0] = .1
    metric.results.clear()
    metric.process(None, copy.deepcopy(samples))
    with pytest.raises(
            ValueError,
            match=rf"video 'v1', class 'a', track id 7: no box at "
            rf'frame\(s\) \[{f}\]'):
        metric.compute_metrics(metric.results)


def _processed(ann, samples):
    metric = METRICS.build(
        dict(type='TubeMetric', ann_file=ann, protocol='multisports'))
    metric.process(None, copy.deepcopy(samples))
    return metric.results
