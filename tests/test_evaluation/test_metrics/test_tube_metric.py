"""TubeMetric on the hand-built case of
``test_functional/test_tube_linking.py`` and as a drop-in for mmaction2's
``MultiSportsMetric``."""
import copy
import pickle

import numpy as np
import pytest
import torch

import stmixer_mm  # noqa: F401  (registers TubeMetric)
from stmixer_mm.registry import METRICS
from ..test_functional.test_tube_linking import _dets

H, W = 240, 320


@pytest.fixture
def ann_file(tmp_path):
    from ..test_functional.test_tube_linking import P, Q, R, _tube
    gt = dict(
        labels=['a', 'b', 'c'],
        gttubes=dict(
            v1={0: [_tube(P), _tube(Q)]}, v2={
                1: [_tube(P)],
                2: [_tube(R)]
            }),
        nframes=dict(v1=20, v2=20),
        train_videos=[[]],
        test_videos=[['v1', 'v2']],
        resolution=dict(v1=(H, W), v2=(H, W)))
    path = tmp_path / 'gt.pkl'
    with open(path, 'wb') as f:
        pickle.dump(gt, f)
    return str(path)


def _samples(background_column=True, mp4=False):
    """One data sample per frame; each detection row of ``_dets`` is a
    box whose only non-zero class score is its own."""
    dets = _dets()
    samples = []
    for iv, video in enumerate(['v1', 'v2']):
        for frame in range(1, 21):
            rows = dets[(dets[:, 0] == iv) & (dets[:, 1] == frame)]
            scores = np.zeros((len(rows), 3 + background_column), np.float32)
            scores[np.arange(len(rows)),
                   rows[:, 2].astype(int) + background_column] = rows[:, 3]
            boxes = rows[:, 4:8] / np.array([W, H, W, H])
            samples.append(
                dict(
                    video_id=video + ('.mp4' if mp4 else ''),
                    timestamp=frame,
                    pred_instances=dict(
                        bboxes=torch.tensor(boxes, dtype=torch.float32),
                        scores=torch.from_numpy(scores))))
    return samples


def test_tube_metric_evaluate_and_inputs(ann_file):
    metric = METRICS.build(
        dict(type='TubeMetric', protocol='multisports', ann_file=ann_file))
    for s in _samples(background_column=False, mp4=True):
        metric.process(None, [s])
    res = metric.evaluate(len(metric.results))
    assert res['mAP/frameAP@0.5'] == pytest.approx(
        100 * (5 / 6 + 0.95 * 19 / 39) / 3, abs=1e-4)
    # default min_length 15 drops the broken tube's parts (b: 0); without
    # 3-D NMS T3 is a duplicate of A1 between two TPs (a: 5/6); c: missed
    assert res['mAP/videoAP@0.2'] == pytest.approx(100 * 5 / 6 / 3)

    bad = _samples()[:1]
    bad[0]['video_id'] = 'v9'
    metric.process(None, bad)
    with pytest.raises(ValueError, match="'v9'.*not in test_videos"):
        metric.compute_metrics(metric.results)
    metric.results.clear()
    bad = _samples()[:1]
    bad[0]['pred_instances']['scores'] = torch.zeros(4, 7)
    metric.process(None, bad)
    with pytest.raises(ValueError, match='7 columns'):
        metric.compute_metrics(metric.results)
    metric.results.clear()
    bad = _samples()[:1]
    bad[0]['pred_instances']['scores'] = torch.zeros(3, 4)
    with pytest.raises(ValueError, match=r'scores \[n, num_classes'):
        metric.process(None, bad)
    bad = _samples()[:1]
    bad[0]['timestamp'] = 21
    metric.process(None, bad)
    with pytest.raises(ValueError, match='outside its frames 1..20'):
        metric.compute_metrics(metric.results)
    with pytest.raises(ValueError, match='score_mode'):
        METRICS.build(
            dict(
                type='TubeMetric',
                protocol='multisports',
                ann_file=ann_file,
                score_mode='max'))
    with pytest.raises(ValueError, match='split=1'):
        METRICS.build(
            dict(
                type='TubeMetric',
                protocol='multisports',
                ann_file=ann_file,
                split=1))


def test_tube_metric_bad_ann_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='ACT ground-truth'):
        METRICS.build(
            dict(
                type='TubeMetric',
                protocol='multisports',
                ann_file=str(tmp_path / 'no.pkl')))
    path = tmp_path / 'gt.pkl'
    with open(path, 'wb') as f:
        pickle.dump(dict(labels=['a']), f)
    with pytest.raises(ValueError, match="missing key.*'gttubes'"):
        METRICS.build(
            dict(
                type='TubeMetric', protocol='multisports', ann_file=str(path)))


@pytest.mark.parametrize('protocol', ['multisports', 'ucf_jhmdb'])
@pytest.mark.parametrize('key, value, expected', [
    ('top_k', 0, 'an int >= 1, got 0'),
    ('top_k', 2.5, r'an int >= 1, got 2\.5 \(float\)'),
    ('top_k', True, r'an int >= 1, got True \(bool\)'),
    ('min_length', -3, 'an int >= 0, got -3'),
    ('min_length', '15', r"an int >= 0, got '15' \(str\)"),
    ('link_iou', 1.5, r'a number in \(0, 1\], got 1\.5'),
    ('nms_iou', None, r'a number in \(0, 1\], got None'),
    ('min_score', 1.5, r'a number in \[0, 1\], got 1\.5'),
])
def test_link_cfg_values_refused_when_built(ann_file, protocol, key, value,
                                            expected):
    """Issue 74: top_k=0 linked nothing (video-mAP 0 beside frame-mAP, exit
    0), top_k=2.5 crashed in a slice at evaluation; every link_cfg value is
    checked when the metric is built and by the pre-run config check."""
    from stmixer_mm.apps.preflight import check_config
    cfg = dict(
        type='TubeMetric',
        protocol=protocol,
        ann_file=ann_file,
        link_cfg={key: value})
    with pytest.raises(
            ValueError,
            match=rf'^TubeMetric: link_cfg: {key} must be {expected}'):
        METRICS.build(cfg)
    with pytest.raises(
            ValueError,
            match=rf'^val_evaluator: ValueError: TubeMetric: link_cfg: {key} '
            rf'must be '
            rf'{expected}'):
        check_config(dict(val_evaluator=cfg))


@pytest.mark.parametrize('link_cfg, match', [
    (dict(topk=3), r"TubeMetric: link_cfg keys \['topk'\] do not exist"),
    (dict(nms_3d_iou=0.3), r"keys \['nms_3d_iou'\] do not exist for "
     "protocol 'multisports'"),
    ('top_k=3', r"TubeMetric: link_cfg: expected a dict, got 'top_k=3'"),
])
def test_link_cfg_keys_and_type_refused(ann_file, link_cfg, match):
    from stmixer_mm.apps.preflight import check_config
    cfg = dict(
        type='TubeMetric',
        protocol='multisports',
        ann_file=ann_file,
        link_cfg=link_cfg)
    with pytest.raises(ValueError, match=match):
        METRICS.build(cfg)
    with pytest.raises(ValueError, match='^val_evaluator'):
        check_config(dict(val_evaluator=cfg))


def test_link_cfg_valid_values_still_score(ann_file):
    """min_length=0 keeps every tube (as 1); top_k=1 keeps the best box."""
    metric = METRICS.build(
        dict(
            type='TubeMetric',
            protocol='multisports',
            ann_file=ann_file,
            link_cfg=dict(top_k=1, min_length=0, min_score=0, link_iou=1)))
    assert metric.link_cfg == dict(
        top_k=1, min_length=0, min_score=0, link_iou=1)
    for s in _samples():
        metric.process(None, [s])
    res = metric.evaluate(len(metric.results))
    assert res['mAP/videoAP@0.2'] > 0


def test_frame_map_equals_multisports_metric(ann_file, monkeypatch):
    """Same samples, same ann_file: argmax mode gives mmaction2's
    ``MultiSportsMetric`` frame-mAP (its video part is switched off: it
    crashes under numpy 2)."""
    from mmaction.evaluation.metrics import multisports_metric as mm
    rng = np.random.default_rng(1)
    samples = _samples(background_column=False)
    for s in samples:  # make several classes score on every box
        sc = s['pred_instances']['scores']
        s['pred_instances']['scores'] = sc + torch.from_numpy(
            rng.uniform(0, 0.6, sc.shape).astype(np.float32))
    monkeypatch.setattr(mm, 'link_tubes', lambda *a, **k: None)
    monkeypatch.setattr(mm, 'videoAP', lambda *a, **k: 0.0)
    theirs = mm.MultiSportsMetric(
        ann_file=ann_file,
        metric_options=dict(
            F_mAP=dict(thr=0.5), V_mAP=dict(thr=(), tube_thr=15)),
        verbose=False)
    theirs.process(None, copy.deepcopy(samples))
    expected = theirs.compute_metrics(theirs.results)['frameAP']

    ours = METRICS.build(
        dict(
            type='TubeMetric',
            protocol='multisports',
            ann_file=ann_file,
            score_mode='argmax'))
    ours.process(None, copy.deepcopy(samples))
    got = ours.compute_metrics(ours.results)['frameAP@0.5']
    assert got == pytest.approx(expected, abs=1e-4)
    assert 5 < got < 95
    # per-class mode counts every class of every box: a different number
    per_class = METRICS.build(
        dict(type='TubeMetric', protocol='multisports', ann_file=ann_file))
    per_class.process(None, copy.deepcopy(samples))
    assert per_class.compute_metrics(
        per_class.results)['frameAP@0.5'] != pytest.approx(
            got, abs=1e-3)


def test_tube_metric_refuses_videos_without_predictions(ann_file):
    """Samples of only part of the split (another split, ann_file or a
    subset in the dataset) must not be scored against the whole split."""
    samples = _samples()
    videos = sorted({s['video_id'] for s in samples})
    assert len(videos) > 1
    partial = [s for s in samples if s['video_id'] != videos[0]]
    metric = METRICS.build(
        dict(type='TubeMetric', protocol='multisports', ann_file=ann_file))
    metric.process(None, copy.deepcopy(partial))
    with pytest.raises(ValueError, match='have no prediction'):
        metric.compute_metrics(metric.results)
    # explicit opt-in: scored, the missing video's GT counts as missed
    warn = METRICS.build(
        dict(
            type='TubeMetric',
            protocol='multisports',
            ann_file=ann_file,
            missing_videos='warn'))
    warn.process(None, copy.deepcopy(partial))
    full = METRICS.build(
        dict(type='TubeMetric', protocol='multisports', ann_file=ann_file))
    full.process(None, copy.deepcopy(samples))
    assert warn.compute_metrics(warn.results)['frameAP@0.5'] < \
        full.compute_metrics(full.results)['frameAP@0.5']
    with pytest.raises(ValueError, match='missing_videos'):
        METRICS.build(
            dict(
                type='TubeMetric',
                protocol='multisports',
                ann_file=ann_file,
                missing_videos='no'))


def test_tube_metric_reads_the_gt_through_the_act_loader(tmp_path, ann_file):
    """The metric reads its ground truth with the datasets' ACT loader
    (stmixer_mm/datasets/act_annotations.py, tested in tests/test_datasets/
    test_act_annotations.py), so a wrong file fails the same way."""
    from stmixer_mm.datasets import act_annotations
    from stmixer_mm.evaluation.metrics import tube_metric
    assert tube_metric.load_act_annotations is \
        act_annotations.load_act_annotations
    with open(ann_file, 'rb') as f:
        gt = pickle.load(f)
    gt['labels'] = ['a', 'b', 'a']
    path = tmp_path / 'twice.pkl'
    with open(path, 'wb') as f:
        pickle.dump(gt, f)
    with pytest.raises(ValueError, match=r"\"labels\" names class 'a' twice"):
        METRICS.build(
            dict(type='TubeMetric', protocol='ucf_jhmdb', ann_file=str(path)))


@pytest.mark.parametrize('protocol', ['ucf_jhmdb', 'multisports'])
def test_non_finite_predictions_are_refused(tmp_path, protocol):
    """A NaN box matches nothing and a NaN score sorts anywhere: a wrong AP
    with exit 0; the sample, field and index are named."""
    from stmixer_mm.evaluation.metrics import TubeMetric
    gt = dict(
        labels=['a'],
        gttubes=dict(v={0: [np.array([[1, 0, 0, 4, 4]], np.float32)]}),
        nframes=dict(v=1),
        train_videos=[[]],
        test_videos=[['v']],
        resolution=dict(v=(8, 8)))
    ann = tmp_path / 'GT.pkl'
    ann.write_bytes(pickle.dumps(gt))
    for field, value in (('bboxes', [[0, 0, np.nan,
                                      1]]), ('scores', [[np.inf]])):
        pred = dict(bboxes=np.array([[0, 0, .5, .5]]), scores=np.array([[.9]]))
        pred[field] = np.array(value)
        metric = TubeMetric(ann_file=str(ann), protocol=protocol)
        with pytest.raises(
                ValueError,
                match=rf"video 'v' frame 1: pred_instances.{field}\[0, 0\]"
                if field == 'scores' else
                r"video 'v' frame 1: pred_instances.bboxes\[0, 2\] = nan "
                'is not finite'):
            metric.process(
                None, [dict(video_id='v', timestamp=1, pred_instances=pred)])


# ----------------------------------------------------------------------
# issue 83: inputs that gave a wrong number with exit 0 are refused


def _build(ann_file, protocol, **kwargs):
    return METRICS.build(
        dict(
            type='TubeMetric', protocol=protocol, ann_file=ann_file, **kwargs))


@pytest.mark.parametrize('protocol', ['ucf_jhmdb', 'multisports'])
def test_frames_processed_twice_are_refused(ann_file, protocol):
    """'multisports' gave frame-mAP 54.2 instead of 100 (every frame's
    second copy a false positive); 'ucf_jhmdb' refused it already."""
    metric = _build(ann_file, protocol)
    metric.process(None, _samples() + _samples())
    with pytest.raises(
            ValueError,
            match=r"^TubeMetric: video 'v1' frame 1 was processed twice "
            r'\(results 0 and 40\): expected each video and '
            'frame once'):
        metric.evaluate(80)


@pytest.mark.parametrize('protocol', ['ucf_jhmdb', 'multisports'])
def test_pixel_boxes_are_refused(ann_file, protocol):
    """Gave frame-mAP 0 and video-mAP 0 (the boxes scaled twice)."""
    samples = _samples()
    for s in samples:
        s['pred_instances']['bboxes'] *= torch.tensor([W, H, W, H])
    metric = _build(ann_file, protocol)
    with pytest.raises(
            ValueError,
            match=r"^video 'v1' frame 1: pred_instances.bboxes\[0, 0\] = "
            r'\d+\.\d+ is outside \[0, 1\] \(pixels\?\)'):
        metric.process(None, samples)


@pytest.mark.parametrize('protocol', ['ucf_jhmdb', 'multisports'])
@pytest.mark.parametrize('key, value, match', [
    ('video_id', 'v1_renamed', "video 'v1_renamed' frame 1: not in "
     'test_videos\\[0\\]'),
    ('timestamp', 0, "video 'v1' frame 0: outside its frames 1..20"),
])
def test_frames_of_no_ground_truth_are_refused(ann_file, protocol, key, value,
                                               match):
    samples = _samples()
    samples[0][key] = value
    metric = _build(ann_file, protocol, missing_videos='warn')
    metric.process(None, samples)
    with pytest.raises(ValueError, match='^TubeMetric: ' + match):
        metric.evaluate(len(samples))


@pytest.mark.parametrize('protocol', ['ucf_jhmdb', 'multisports'])
@pytest.mark.parametrize('tubes', ['linking', 'tubelets'])
def test_an_empty_run_is_refused(ann_file, protocol, tubes):
    """With missing_videos='warn' nothing processed scored 0 / 0."""
    metric = _build(ann_file, protocol, missing_videos='warn', tubes=tubes)
    with pytest.raises(
            ValueError,
            match='^TubeMetric: no sample was processed, nothing to score'):
        metric.evaluate(1)
