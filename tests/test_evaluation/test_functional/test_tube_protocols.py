"""TubeMetric's two published protocols: hand-worked cases for each
convention where they differ, and a seeded property test against a plain
loop implementation of each protocol written here from the reference codes'
descriptions (MOC-Detector ``src/ACT.py`` + ``src/ACT_utils``; official
MultiSports ``evaluate_multisports.py`` with mmaction2's ``link_tubes``
linking, each box keeping its own score). No code shared with the package.
"""
import copy
import pickle

import numpy as np
import pytest
import torch

import stmixer_mm  # noqa: F401  (registers TubeMetric)
from stmixer_mm.evaluation.functional.tube_protocols import (
    ap_trapezoid, ap_voc, build_tubes, evaluate, frame_ap_multisports,
    frame_ap_ucf_jhmdb, link_all, tube_iou, video_ap)
from stmixer_mm.registry import METRICS

H, W = 240, 320


def _gt(gttubes, nframes, labels=('a', 'b', 'c'), train=True):
    gt = dict(
        labels=list(labels),
        gttubes=gttubes,
        nframes=nframes,
        test_videos=[list(nframes)],
        resolution={v: (H, W)
                    for v in nframes})
    if train:
        gt['train_videos'] = [[]]
    return gt


def _box_tube(first, last, box):
    return np.array([[f, *box] for f in range(first, last + 1)], np.float64)


def _fd(rows):
    """frame_dets from ``(label, video index, frame, x1, y1, x2, y2,
    score)`` rows."""
    out = {}
    for label, iv, frame, *det in rows:
        per = out.setdefault(label, {}).setdefault(iv, {})
        per[frame] = np.concatenate([
            per.get(frame, np.zeros((0, 5), np.float32)),
            np.array([det], np.float32)
        ])
    return out


# --------------------------------------------------------------------------
# hand-worked: one convention at a time
def test_ap_forms():
    # ranked TP, FP, TP with 2 GT: precision/recall (1, .5) (.5, .5)
    # (2/3, 1)
    pr = np.array([[1, .5], [.5, .5], [2 / 3, 1]])
    # MOC: trapezoids from (recall 0, precision 1)
    moc = np.concatenate([[[1, 0]], pr]).astype(np.float32)
    assert ap_trapezoid(moc) == pytest.approx(.5 * 1 + .5 * (.5 + 2 / 3) / 2)
    # VOC: precision made monotone: .5 x 1 + .5 x 2/3
    assert ap_voc(pr) == pytest.approx(.5 + .5 * 2 / 3)


def test_frame_ap_pixel_inclusive_iou():
    # GT 0..9 x 0..9, detection 0..9 x 0..4: continuous IoU 36/81 = .44,
    # inclusive (10 x 5) / (10 x 10) = .5
    gt = _gt({'v': {
        0: [_box_tube(1, 1, [0, 0, 9, 9])]
    }}, {'v': 1},
             labels=['a'])
    dets = _fd([(0, 0, 1, 0, 0, 9, 4, .9)])
    assert frame_ap_ucf_jhmdb(gt, dets, ['v'])['a'] == 1.0
    assert frame_ap_multisports(gt, dets, ['v'])['a'] == 0.0


def test_frame_ap_matched_gt_removed():
    # two GT boxes on a frame; two identical detections both best on A
    # (IoU .95) and second best on B (IoU .74)
    gt = _gt(
        {
            'v': {
                0: [
                    _box_tube(1, 1, [0, 0, 100, 100]),
                    _box_tube(1, 1, [0, 0, 100, 70])
                ]
            }
        }, {'v': 1},
        labels=['a'])
    dets = _fd([(0, 0, 1, 0, 0, 100, 95, .9), (0, 0, 1, 0, 0, 100, 95, .8)])
    # MOC: the first takes A and removes it, the second takes B
    assert frame_ap_ucf_jhmdb(gt, dets, ['v'])['a'] == 1.0
    # MultiSports: the second's best GT (A) is taken: false positive;
    # recall .5 at precision 1
    assert frame_ap_multisports(gt, dets, ['v'])['a'] == pytest.approx(.5)


def test_frame_ap_score_decay_and_classes_without_gt():
    # MOC decays the score of a box overlapping a better one by (1 - IoU)
    # before ranking: the FP duplicate drops below the second TP
    gt = _gt(
        {
            'v': {
                0: [_box_tube(1, 1, [0, 0, 99, 99])]
            },
            'w': {
                0: [_box_tube(1, 1, [0, 0, 99, 99])]
            }
        }, {
            'v': 1,
            'w': 1
        },
        labels=['a', 'b'])
    dets = _fd([(0, 0, 1, 0, 0, 99, 99, .9), (0, 0, 1, 0, 0, 99, 79, .8),
                (0, 1, 1, 0, 0, 99, 99, .7)])
    # decayed .8 x (1 - .8) = .16 < .7: TP, TP, FP -> 1; class b: no GT,
    # no detection: 0, in MOC's mean
    aps = frame_ap_ucf_jhmdb(gt, dets, ['v', 'w'])
    assert aps['a'] == 1.0 and aps['b'] == 0.0
    # MultiSports: no decay: TP, FP, TP -> 1 x .5 + 2/3 x .5; b left out
    aps = frame_ap_multisports(gt, dets, ['v', 'w'])
    assert aps == {'a': pytest.approx(.5 + 1 / 3)}
    # MOC divides by zero for a class without GT but with detections
    with pytest.raises(ValueError, match="class 'b' has no ground truth"):
        frame_ap_ucf_jhmdb(gt, _fd([(1, 0, 1, 0, 0, 9, 9, .5)]), ['v', 'w'])


def test_temporal_iou_inclusive_vs_exclusive():
    g = _box_tube(1, 10, [0, 0, 50, 50])
    d = _box_tube(6, 15, [0, 0, 50, 50]).astype(np.float32)
    # inclusive: 5 shared of 15 frames; exclusive: (10 - 6) / (15 - 1)
    assert tube_iou(g, d, True) == pytest.approx(5 / 15)
    assert tube_iou(g, d, False) == pytest.approx(4 / 14)
    gt = _gt({'v': {0: [g]}}, {'v': 15}, labels=['a'])
    tubes = {0: [('v', np.float32(.9), np.c_[d, np.ones(10)])]}
    assert video_ap(gt, tubes, ['v'], .3, 'ucf_jhmdb')['a'] == 1.0
    assert video_ap(gt, tubes, ['v'], .3, 'multisports')['a'] == 0.0
    # no overlap
    assert tube_iou(g, _box_tube(11, 12, [0, 0, 50, 50]), True) == 0.0


def test_video_ap_matched_gt_removed():
    # two GT tubes; two detected tubes both best on the first
    g1 = _box_tube(1, 10, [0, 0, 100, 100])
    g2 = _box_tube(1, 10, [0, 0, 100, 70])
    d = np.c_[_box_tube(1, 10, [0, 0, 100, 95]), np.ones(10)]
    gt = _gt({'v': {0: [g1, g2]}}, {'v': 10}, labels=['a'])
    tubes = {0: [('v', .9, d), ('v', .8, d)]}
    assert video_ap(gt, tubes, ['v'], .5, 'ucf_jhmdb')['a'] == 1.0
    assert video_ap(gt, tubes, ['v'], .5,
                    'multisports')['a'] == pytest.approx(.5)


def test_linking_decays_and_keeps_overlapping_boxes():
    # per frame two boxes with IoU > .6: MOC's linking decays the second
    # box's score and keeps it (a second tube); MOC's 3-D NMS then removes
    # the second tube, MultiSports keeps it
    a, b = [0, 0, 99, 99], [0, 0, 99, 84]
    frames = {
        f: np.array([a + [.9], b + [.8]], np.float32)
        for f in range(1, 16)
    }
    iou_ab = 85 * 100 / (100 * 100)  # inclusive
    moc = build_tubes(frames, 15, True, np.float32)
    assert len(moc) == 2
    assert moc[0][1] == pytest.approx(.9)
    assert moc[1][1] == pytest.approx(.8 * (1 - iou_ab), rel=1e-6)
    assert np.allclose(moc[1][0][:, 1:5], b)
    gt = _gt({'v': {0: [_box_tube(1, 15, a)]}}, {'v': 15}, labels=['a'])
    fd = {0: {0: frames}}
    assert len(link_all(gt, fd, ['v'], 'ucf_jhmdb')[0]) == 1
    assert len(link_all(gt, fd, ['v'], 'multisports')[0]) == 2


def test_linking_order_and_cutoffs():
    # a tube ends at the first frame without a match; tubes shorter than
    # min_length or with mean score < min_score are dropped
    box = [10, 10, 60, 60]
    frames = {f: np.array([box + [.5]], np.float32) for f in range(1, 21)}
    frames[8] = np.zeros((0, 5), np.float32)
    tubes = build_tubes(frames, 20, True, np.float32, min_length=5)
    assert [(t[0][0, 0], t[0][-1, 0]) for t in tubes] == [(1, 7), (9, 20)]
    assert build_tubes(frames, 20, True, np.float32, min_length=15) == []
    low = {f: np.array([box + [.004]], np.float32) for f in range(1, 21)}
    assert build_tubes(low, 20, False, np.float64) == []


def test_gt_tube_with_missing_frames():
    g = np.delete(_box_tube(1, 20, [0, 0, 50, 50]), 9, axis=0)  # no frame 10
    gt = _gt({'v': {0: [g]}}, {'v': 20}, labels=['a'])
    box = [0, 0, 50, 50, .9]
    # a detected tube over frames 1..20: the overlap lacks frame 10 in the
    # GT: the references crash (iou3d's assert); a clear error here
    fd = {0: {0: {f: np.array([box], np.float32) for f in range(1, 21)}}}
    for protocol in ('ucf_jhmdb', 'multisports'):
        with pytest.raises(ValueError, match="video 'v'.*tube 0"):
            evaluate(gt, fd, ['v'], protocol)
    # a detected tube that starts on the missing frame: the references
    # crash too (no row for the overlap's first frame)
    fd = {0: {0: {f: np.array([box], np.float32) for f in range(10, 21)}}}
    with pytest.raises(ValueError, match='frame 10 occurs 0 times'):
        evaluate(gt, fd, ['v'], 'ucf_jhmdb', link_cfg=dict(min_length=5))
    # a detected tube inside the annotated part: scored
    fd = {0: {0: {f: np.array([box], np.float32) for f in range(11, 21)}}}
    m, _, _ = evaluate(gt, fd, ['v'], 'ucf_jhmdb', link_cfg=dict(min_length=5))
    # temporal IoU 10 / 20 (inclusive)
    assert m['videoAP@0.5'] == 100.0 and m['videoAP@0.75'] == 0.0


def test_multisports_ignores_its_six_classes_by_default():
    labels = ['a', 'basketball save']
    gt = _gt(
        {
            'v': {
                0: [_box_tube(1, 1, [0, 0, 9, 9])],
                1: [_box_tube(1, 1, [0, 0, 9, 9])]
            }
        }, {'v': 1},
        labels=labels)
    dets = _fd([(0, 0, 1, 0, 0, 9, 9, .9)])
    m, aps, _ = evaluate(gt, dets, ['v'], 'multisports')
    assert list(aps) == ['a'] and m['frameAP@0.5'] == 100.0
    m, aps, _ = evaluate(gt, dets, ['v'], 'ucf_jhmdb')
    assert m['frameAP@0.5'] == 50.0  # MOC: every class in the mean


# --------------------------------------------------------------------------
# TubeMetric: protocol argument, frames, mmaction2's data layout
def _write(tmp_path, gt, name='gt.pkl'):
    path = tmp_path / name
    with open(path, 'wb') as f:
        pickle.dump(gt, f)
    return str(path)


def test_protocol_required_and_checked(tmp_path):
    ann = _write(tmp_path,
                 _gt({'v': {
                     0: [_box_tube(1, 2, [0, 0, 9, 9])]
                 }}, {'v': 2}))
    for bad in (None, 'ACT', 'moc', ''):
        with pytest.raises(ValueError, match='protocol must be one of'):
            METRICS.build(dict(type='TubeMetric', ann_file=ann, protocol=bad))
    with pytest.raises(ValueError, match="det_score_thr.*'ucf_jhmdb'"):
        METRICS.build(
            dict(
                type='TubeMetric',
                ann_file=ann,
                protocol='ucf_jhmdb',
                link_cfg=dict(det_score_thr=.5)))


def _sample(video, frame, boxes_px, scores, mp4=False):
    boxes = np.clip(  # normalised, clipped as the heads clip
        np.asarray(boxes_px, np.float64).reshape(-1, 4) / [W, H, W, H], 0, 1)
    return dict(
        video_id=video + ('.mp4' if mp4 else ''),
        timestamp=frame,
        pred_instances=dict(
            bboxes=torch.tensor(boxes, dtype=torch.float32),
            scores=torch.tensor(np.asarray(scores, np.float32))))


def test_ucf_jhmdb_needs_every_frame_once(tmp_path):
    ann = _write(tmp_path,
                 _gt({'v': {
                     0: [_box_tube(1, 3, [0, 0, 9, 9])]
                 }}, {'v': 3}))
    samples = [
        _sample('v', f, [[0, 0, 9, 9]], [[.9, .1, .1]]) for f in (1, 3, 3)
    ]
    metric = METRICS.build(
        dict(type='TubeMetric', ann_file=ann, protocol='ucf_jhmdb'))
    metric.process(None, samples)
    with pytest.raises(
            ValueError,
            match=r"^TubeMetric: video 'v' frame 3 was processed twice"):
        metric.compute_metrics(metric.results)
    metric.results = metric.results[:2]
    with pytest.raises(ValueError, match=r"video 'v'.*without one: \[2\]"):
        metric.compute_metrics(metric.results)
    # MultiSports (mmaction2) treats a frame without a sample as empty
    metric = METRICS.build(
        dict(type='TubeMetric', ann_file=ann, protocol='multisports'))
    metric.process(None, samples[:2])
    assert metric.compute_metrics(metric.results)['frameAP@0.5'] == \
        pytest.approx(200 / 3)


def _mmaction2_layout(tmp_path, rng):
    """A fixture of the layout of mmaction2's tests/data/eval_multisports:
    a gt.pkl without train_videos and a list of data-sample dicts (video_id
    with .mp4, img_shape, img_key, timestamp, proposals, gt_instances,
    pred_instances) covering only the annotated frames."""
    labels = ['aerobic push up', 'basketball save', 'football pass', 'x']
    videos = ['aerobic_gymnastics/v_a_c001', 'football/v_b_c002']
    nframes = {videos[0]: 60, videos[1]: 50}
    gttubes = {
        videos[0]: {
            0: [_box_tube(5, 40, [100, 100, 200, 300])],
            2: [_box_tube(20, 59, [400, 80, 520, 330])]
        },
        videos[1]: {
            2: [
                _box_tube(1, 30, [10, 10, 90, 200]),
                _box_tube(25, 50, [600, 100, 700, 400])
            ],
            1: [_box_tube(3, 30, [300, 50, 400, 250])]
        }
    }
    gt = dict(
        labels=labels,
        test_videos=[videos],
        nframes=nframes,
        gttubes=gttubes,
        resolution={v: (720, 1280)
                    for v in videos})
    samples = []
    for v in videos:
        frames = sorted({
            int(f)
            for tubes in gttubes[v].values()
            for t in tubes
            for f in t[:, 0]
        })
        for f in frames:
            alive = [(c, t[t[:, 0] == f][0, 1:5])
                     for c, tubes in gttubes[v].items() for t in tubes
                     if f in t[:, 0]]
            boxes = np.array(
                [b + rng.normal(0, 8, 4) for _, b in alive] +
                [rng.uniform(0, 600, 2).repeat(2) + [0, 0, 90, 150]])
            scores = rng.dirichlet(np.ones(len(labels)) * .5, len(boxes))
            for i, (c, _) in enumerate(alive):  # mostly the right class
                scores[i, c] += (1 + rng.random()) * (rng.random() < .97)
            samples.append(
                dict(
                    video_id=v + '.mp4',
                    img_shape=(256, 455),
                    img_key=f'{v}.mp4,{f:04d}',
                    timestamp=f,
                    proposals=dict(bboxes=torch.zeros(len(boxes), 4)),
                    gt_instances=dict(bboxes=torch.zeros(1, 4)),
                    pred_instances=dict(
                        bboxes=torch.tensor(  # clipped as the heads clip
                            np.clip(boxes / [1280, 720, 1280, 720], 0, 1),
                            dtype=torch.float32),
                        scores=torch.tensor(scores, dtype=torch.float32))))
    ann = _write(tmp_path, gt)
    with open(tmp_path / 'data_samples.pkl', 'wb') as f:
        pickle.dump(samples, f)
    return ann, gt, samples


def test_multisports_reads_mmaction2_layout(tmp_path):
    ann, gt, samples = _mmaction2_layout(tmp_path, np.random.default_rng(3))
    assert 'train_videos' not in gt
    for mode in ('argmax', 'per_class'):
        metric = METRICS.build(
            dict(
                type='TubeMetric',
                ann_file=ann,
                protocol='multisports',
                score_mode=mode,
                video_iou_thrs=(0.2, 0.5)))
        metric.process(None, copy.deepcopy(samples))
        got = metric.compute_metrics(metric.results)
        expected = _ref_metrics(gt, _ref_rows(gt, samples, mode), 'ms',
                                (0.2, 0.5))
        for k, v in expected.items():
            assert got[k] == pytest.approx(v, abs=1e-6), (mode, k)
        assert 10 < got['frameAP@0.5'] < 100
        assert got['videoAP@0.2'] > 0
    # the JHMDB/UCF protocol needs every frame: refused with the video named
    metric = METRICS.build(
        dict(type='TubeMetric', ann_file=ann, protocol='ucf_jhmdb'))
    metric.process(None, copy.deepcopy(samples))
    with pytest.raises(ValueError, match='aerobic_gymnastics/v_a_c001'):
        metric.compute_metrics(metric.results)


# --------------------------------------------------------------------------
# property test: plain loops, written from the references' descriptions
def _ref_rows(gt, samples, score_mode, score_thr=0.0):
    """(video index, frame, label, score, box) per detection: pixel boxes
    rounded to float32 as mmaction2 does, samples by video then frame."""
    videos = gt['test_videos'][0]
    rows = []
    ordered = sorted(
        samples,
        key=lambda s:
        (videos.index(s['video_id'].replace('.mp4', '')), s['timestamp']))
    for s in ordered:
        v = s['video_id'].replace('.mp4', '')
        h, w = gt['resolution'][v]
        boxes = s['pred_instances']['bboxes'].numpy()
        scores = s['pred_instances']['scores'].numpy()
        for b, sc in zip(boxes, scores):
            px = np.array([
                float(b[0]) * w,
                float(b[1]) * h,
                float(b[2]) * w,
                float(b[3]) * h
            ], np.float64).astype(np.float32)
            if score_mode == 'argmax':
                best = 0
                for c in range(len(sc)):
                    if sc[c] > sc[best]:
                        best = c
                rows.append(
                    (videos.index(v), s['timestamp'], best, sc[best], px))
            else:
                for c in range(len(sc)):
                    if sc[c] > score_thr:
                        rows.append(
                            (videos.index(v), s['timestamp'], c, sc[c], px))
    return rows


def _iou(a, b, one):
    iw = min(a[2] + one, b[2] + one) - max(a[0], b[0])
    ih = min(a[3] + one, b[3] + one) - max(a[1], b[1])
    inter = max(iw, 0) * max(ih, 0)
    union = (a[2] - a[0] + one) * (a[3] - a[1] + one) + (b[2] - b[0] + one) \
        * (b[3] - b[1] + one) - inter
    return inter / union if union != 0 else float('nan')


def _decay(dets, thr):
    """[(box, score)] -> same order, scores decayed (MOC soft NMS)."""
    scores = np.array([s for _, s in dets],
                      dets[0][1].dtype if dets else np.float32)
    new = list(scores)
    candidates = list(np.argsort(scores)[::-1])  # the references' tie rule
    while candidates:
        i = candidates.pop(0)
        left = []
        for j in candidates:
            o = _iou(dets[i][0], dets[j][0], 1)
            if o > thr:
                new[j] = scores[j] * (1 - o)
            else:
                left.append(j)
        candidates = left
    return [(b, s) for (b, _), s in zip(dets, new)]


def _ref_frame_ap(gt, rows, moc, ignore):
    videos = gt['test_videos'][0]
    dtype = np.float32 if moc else np.float64
    aps = {}
    for c, label in enumerate(gt['labels']):
        if label in ignore:
            continue
        dets = []
        frames = {}
        for iv, f, cc, s, b in rows:
            if cc == c:
                frames.setdefault((iv, f), []).append(
                    (b.astype(dtype), dtype(s)))
        for key in frames:
            if moc:
                frames[key] = _decay(frames[key], .6)
            dets += [(key, b, s) for b, s in frames[key]]
        gtb = {}
        for iv, v in enumerate(videos):
            for t in gt['gttubes'][v].get(c, []):
                for r in t:
                    gtb.setdefault((iv, int(r[0])),
                                   []).append([float(x) for x in r[1:5]])
        ngt = sum(len(x) for x in gtb.values())
        if ngt == 0:
            if not moc:
                continue
            assert not dets
        used = {k: [False] * len(x) for k, x in gtb.items()}
        order = np.argsort(-np.array([d[2] for d in dets], dtype))
        tp = fp = 0
        pr = [(1.0, 0.0)] if moc else []
        for j in order:
            key, b, _ = dets[j]
            hit = False
            if moc:
                cand = [
                    k for k in range(len(gtb.get(key, []))) if not used[key][k]
                ]
                ious = [
                    _iou(gtb[key][k], b.astype(np.float64), 1) for k in cand
                ]
                if ious:
                    k = cand[int(np.argmax(ious))]
                    if max(ious) >= .5:
                        used[key][k] = hit = True
            elif key in gtb:
                ious = [_iou(g, b, 0) for g in gtb[key]]
                k = int(np.argmax(ious))
                if ious[k] >= .5 and not used[key][k]:
                    used[key][k] = hit = True
            tp += hit
            fp += not hit
            pr.append((tp / (tp + fp), tp / ngt))
        aps[label] = _ref_ap(pr, moc)
    return aps


def _ref_ap(pr, moc):
    if moc:  # trapezoids over float32 precision/recall, summed in float32
        pr = np.array(pr, np.float32)
        return np.sum(
            np.array([(pr[i, 1] - pr[i - 1, 1]) *
                      (pr[i, 0] + pr[i - 1, 0]) * np.float32(.5)
                      for i in range(1, len(pr))], np.float32))
    ap, prev = 0.0, 0.0
    for i, (_, r) in enumerate(pr):
        if r != prev:
            ap += (r - prev) * max(p for p, _ in pr[i:])
            prev = r
    return ap


def _ref_link(frames, nframes, moc, min_length):
    """{frame: [(box, score)]} -> [(tube rows [(frame, box, score)],
    score)]."""
    dtype = np.float32 if moc else np.float64
    one = 1 if moc else 0
    open_, done = [], []

    def mean(t):
        return np.mean(np.array([s for _, _, s in t], dtype))

    for f in range(1, nframes + 1):
        dets = _decay(frames.get(f, []), .6)
        order = np.argsort(np.array([s for _, s in dets], dtype))[::-1]
        dets = [dets[i] for i in order][:10]
        if f > 1:
            open_ = [
                open_[i]
                for i in np.argsort(-np.array([mean(t) for t in open_]))
            ]
            still, ended = [], []
            for t in open_:
                best = None
                for k, (b, s) in enumerate(dets):
                    if _iou(b, t[-1][1], one) >= .5 and (best is None
                                                         or s > dets[best][1]):
                        best = k
                if best is None:
                    ended.append(t)
                else:
                    t.append((f, ) + dets.pop(best))
                    still.append(t)
            done += ended[::-1]
            open_ = still
        open_ += [[(f, b, s)] for b, s in dets]
    out = []
    for t in done + open_:
        if mean(t) >= .005 and len(t) >= min_length:
            out.append((t, mean(t)))
    return out


def _ref_tube_iou(g, t, moc):
    """GT rows [frame x1 y1 x2 y2], detected [(frame, box, score)]."""
    one = 1 if moc else 0
    gs, ge, ts, te = g[0][0], g[-1][0], t[0][0], t[-1][0]
    lo, hi = max(gs, ts), min(ge, te)
    if hi < lo:
        return 0.0
    tiou = (hi - lo + one) / (max(ge, te) - min(gs, ts) + one)
    gb = {int(r[0]): r[1:5] for r in g}
    ious = [
        _iou(gb[f], b.astype(np.float64), one) for f, b, _ in t
        if lo <= f <= hi
    ]
    return float(np.mean(ious)) * tiou


def _ref_video_ap(gt, tubes, thr, moc, ignore):
    videos = gt['test_videos'][0]
    aps = {}
    for c, label in enumerate(gt['labels']):
        if label in ignore:
            continue
        dets = tubes[c]
        gtt = {
            v: [np.asarray(g) for g in gt['gttubes'][v].get(c, [])]
            for v in videos
        }
        ngt = sum(len(x) for x in gtt.values())
        if ngt == 0:
            if not moc:
                continue
            assert not dets
        used = {v: [False] * len(x) for v, x in gtt.items()}
        tp = fp = 0
        pr = [(1.0, 0.0)] if moc else []
        for j in np.argsort(-np.array([d[2] for d in dets])):
            v, t, _ = dets[j]
            hit = False
            cand = [k for k in range(len(gtt[v])) if not (moc and used[v][k])]
            ious = [_ref_tube_iou(gtt[v][k], t, moc) for k in cand]
            if ious:
                k = cand[int(np.argmax(ious))]
                if ious[int(np.argmax(ious))] >= thr and not used[v][k]:
                    used[v][k] = hit = True
            tp += hit
            fp += not hit
            pr.append((tp / (tp + fp), tp / ngt))
        aps[label] = _ref_ap(pr, moc)
    return aps


def _ref_metrics(gt, rows, which, thrs, min_length=15):
    moc = which == 'moc'
    ignore = () if moc else ('aerobic kick jump', 'aerobic off axis jump',
                             'aerobic butterfly jump', 'aerobic balance turn',
                             'basketball save', 'basketball jump ball')
    dtype = np.float32 if moc else np.float64
    videos = gt['test_videos'][0]

    def mean(aps):
        return np.mean(100 * np.array(list(aps.values())))

    out = {'frameAP@0.5': mean(_ref_frame_ap(gt, rows, moc, ignore))}
    tubes = {c: [] for c in range(len(gt['labels']))}
    for c in tubes:
        for iv, v in enumerate(videos):
            frames = {}
            for jv, f, cc, s, b in rows:
                if jv == iv and cc == c:
                    frames.setdefault(f, []).append(
                        (b.astype(dtype), dtype(s)))
            linked = _ref_link(frames, gt['nframes'][v], moc, min_length)
            if moc:  # 3-D NMS at 0.3, best first
                keep = []
                for i in np.argsort([s for _, s in linked])[::-1]:
                    if all(
                            _ref_tube_iou(
                                np.array([[f, *b] for f, b, _ in linked[k][0]
                                          ]), linked[i][0], True) <= .3
                            for k in keep):
                        keep.append(i)
                linked = [linked[i] for i in keep]
            tubes[c] += [(v, t, s) for t, s in linked]
    for thr in thrs:
        out[f'videoAP@{thr:g}'] = mean(
            _ref_video_ap(gt, tubes, thr, moc, ignore))
    return out


def _random_case(rng):
    labels = ['a', 'b', 'c']
    videos = [f'x/v{i}' for i in range(int(rng.integers(1, 3)))]
    nframes = {v: int(rng.integers(6, 13)) for v in videos}
    gttubes = {v: {} for v in videos}
    for c in range(3):  # every class somewhere (MOC divides by zero else)
        for _ in range(int(rng.integers(1, 3))):
            v = videos[int(rng.integers(len(videos)))]
            n = nframes[v]
            s = int(rng.integers(1, n // 2 + 1))
            e = int(rng.integers(s + 1, n + 1))
            xy = rng.uniform(0, 150, 2)
            gttubes[v].setdefault(c, []).append(
                np.array([[f, *(xy + f), *(xy + f + [60, 80])]
                          for f in range(s, e + 1)]))
    gt = _gt(gttubes, nframes, labels)
    samples = []
    for v in videos:
        for f in range(1, nframes[v] + 1):
            boxes = [
                t[t[:, 0] == f][0, 1:5] + rng.normal(0, 6, 4)
                for ts in gttubes[v].values() for t in ts if f in t[:, 0]
            ]
            boxes += [
                rng.uniform(0, 150, 2).repeat(2) + [0, 0, 50, 60]
                for _ in range(int(rng.integers(0, 3)))
            ]
            scores = rng.random((len(boxes), 3))
            if boxes and rng.random() < .3:  # an exact duplicate
                boxes.append(boxes[0])
                scores = np.concatenate([scores, scores[:1]])
            if rng.random() < .3:  # ties across frames
                scores = np.round(scores, 1)
            samples.append(_sample(v, f, np.reshape(boxes, (-1, 4)), scores))
    return gt, samples


@pytest.mark.parametrize('protocol', ['ucf_jhmdb', 'multisports'])
def test_protocols_match_plain_implementation(tmp_path, protocol):
    rng = np.random.default_rng(2024 if protocol == 'ucf_jhmdb' else 7)
    nonzero = 0
    for case in range(100):
        gt, samples = _random_case(rng)
        ann = _write(tmp_path, gt)
        mode = 'argmax' if case % 3 == 0 else 'per_class'
        metric = METRICS.build(
            dict(
                type='TubeMetric',
                ann_file=ann,
                protocol=protocol,
                score_mode=mode,
                video_iou_thrs=(0.2, 0.5),
                video_map_range=False,
                link_cfg=dict(min_length=3)))
        metric.process(None, samples)
        got = metric.compute_metrics(metric.results)
        expected = _ref_metrics(
            gt,
            _ref_rows(gt, samples, mode),
            'moc' if protocol == 'ucf_jhmdb' else 'ms', (0.2, 0.5),
            min_length=3)
        assert set(got) == set(expected)
        for k, v in expected.items():
            assert got[k] == pytest.approx(float(v), abs=1e-6), (case, k)
        nonzero += got['videoAP@0.5'] > 0
    assert nonzero > 30  # the cases exercise matching tubes


def test_moc_decay_keeps_no_second_copy_of_unchanged_frames():
    """Issue 75: the decayed detections of ``'ucf_jhmdb'`` share the arrays
    of frames whose scores the decay leaves alone (one box, or no overlap
    above 0.6), which halved the evaluation's peak memory at UCF101-24
    size; frames it changes get their own decayed copy."""
    from stmixer_mm.evaluation.functional.protocol_utils import soft_decay
    from stmixer_mm.evaluation.functional.tube_protocols import (
        _decayed, _decayed_frames)
    one = np.array([[0, 0, 10, 10, .9]], np.float32)
    apart = np.array([[0, 0, 10, 10, .9], [50, 50, 60, 60, .8]], np.float32)
    overlap = np.array([[0, 0, 10, 10, .9], [0, 0, 10, 11, .8]], np.float32)
    assert _decayed(one) is one and _decayed(apart) is apart
    got = _decayed(overlap)
    assert got is not overlap and got[1, 4] < overlap[1, 4]
    np.testing.assert_array_equal(got, soft_decay(overlap, 0.6))
    np.testing.assert_array_equal(overlap[:, 4], np.float32([.9, .8]))
    assert _decayed([[0, 0, 10, 10, .5]]).dtype == np.float32
    # a video's frames of a class: the same dict when no frame changes
    frames = {1: one, 2: apart}
    assert _decayed_frames(frames) is frames
    mixed = _decayed_frames({1: one, 2: overlap})
    assert mixed[1] is one and mixed[2] is not overlap
    # packed frames: the same object, or one new rows array
    from stmixer_mm.evaluation.functional.protocol_utils import PackedFrames
    empty = np.zeros((0, 5), np.float32)
    packed = PackedFrames.pack({2: apart, 1: one}.items(), empty)
    assert _decayed_frames(packed) is packed
    packed = PackedFrames.pack({1: one, 2: overlap}.items(), empty)
    got = _decayed_frames(packed)
    assert got is not packed and got.rows is not packed.rows
    np.testing.assert_array_equal(got[1], one)
    np.testing.assert_array_equal(got[2], soft_decay(overlap, 0.6))
    np.testing.assert_array_equal(packed[2], overlap)  # left as it was


def test_packed_frames_is_the_frame_dict():
    """Issue 75: :class:`PackedFrames` reads as ``{frame: rows}`` (frame
    order, ``get``, ``in``, ``len``) with one array for all its rows."""
    from stmixer_mm.evaluation.functional.protocol_utils import PackedFrames
    rng = np.random.default_rng(0)
    frames = {
        f: rng.random((int(rng.integers(1, 4)), 5)).astype(np.float32)
        for f in (7, 3, 12, 4)
    }
    packed = PackedFrames.pack(frames.items(), np.zeros((0, 5), np.float32))
    assert list(packed) == sorted(frames) and len(packed) == 4
    assert [f for f, _ in packed.items()] == sorted(frames)
    for f, rows in packed.items():
        np.testing.assert_array_equal(rows, frames[f])
        np.testing.assert_array_equal(packed[f], frames[f])
        assert rows.base is packed.rows  # a view, no copy
    assert 3 in packed and 5 not in packed and 'x' not in packed
    assert packed.get(5) is None and dict(packed).keys() == frames.keys()
    with pytest.raises(KeyError):
        packed[100]
    none = PackedFrames.pack([], np.zeros(0, np.int64))
    assert len(none) == 0 and list(none.items()) == []


def test_metric_keeps_its_own_arrays_not_the_model_tensors(tmp_path):
    """Issue 75: ``TubeMetric.process`` copies boxes and scores into plain
    arrays, so the metric holds no model output tensor (nor a batch tensor
    a prediction may be a view of): 78 -> 30 MiB held at 1/4 UCF101-24."""
    gt = _gt({'x/v': {
        0: [np.array([[1, 10, 10, 50, 50.]])]
    }}, {'x/v': 1},
             labels=('a', ))
    metric = METRICS.build(
        dict(
            type='TubeMetric',
            ann_file=_write(tmp_path, gt),
            protocol='ucf_jhmdb'))
    batch = torch.rand(4, 1, 5)  # the predictions: views of one tensor
    sample = _sample('x/v', 1, [[10, 10, 50, 50]], [[.9]])
    sample['pred_instances'].update(
        bboxes=batch[0, :, :4], scores=batch[0, :, 4:])
    metric.process(None, [sample])
    _, _, bboxes, scores, _ = metric.results[0]
    for kept, given in ((bboxes, batch[0, :, :4]), (scores, batch[0, :, 4:])):
        assert kept.base is None and kept.dtype == np.float32
        np.testing.assert_array_equal(kept, given.numpy())
    batch += 1  # the model's buffers change: what was kept does not
    assert bboxes.max() < 1
