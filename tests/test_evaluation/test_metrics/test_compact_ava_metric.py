"""``CompactAVAMetric`` gives mmaction2's ``AVAMetric`` numbers exactly
(issue 75: ``AVAMetric`` does not fit AVA v2.2's validation set in 24 GiB)."""
import contextlib
import copy
import io

import numpy as np
import pytest
import torch
from mmaction.registry import METRICS

import stmixer_mm  # noqa: F401
from stmixer_mm.evaluation.functional.ava_frame_map import compact_detections


def _data_set(tmp_path, seed, num_keyframes=60, num_classes=81):
    """A GT csv, a label map, an exclusion file and predictions: the GT
    persons (boxes jittered, their classes often scored high) and two false
    boxes per keyframe, scores with many ties and two keyframes without GT
    (one in exclude_file, one in empty_keyframe_file) predicted."""
    rng = np.random.default_rng(seed)
    gt_rows, samples = [], []
    for k in range(num_keyframes):
        video, ts = f'v{k % 7:02d}', 902 + k
        persons = rng.uniform(0, 0.5, (int(rng.integers(1, 4)), 2))
        boxes = np.concatenate([persons, persons + 0.3], 1)
        truth = []
        for pid, box in enumerate(boxes):
            acts = rng.choice(np.arange(1, num_classes), 3, replace=False)
            truth.append(acts)
            gt_rows += [(video, ts, *box, a, pid) for a in acts]
        pred = np.concatenate([  # normalised: clipped as the heads clip
            np.clip(boxes + rng.normal(0, 0.03, boxes.shape), 0, 1),
            [[.1, .1, .5, .6], [.4, .3, .9, .9]]
        ]).astype(np.float32)
        scores = rng.random((len(pred), num_classes)).astype(np.float32)**4
        for j, acts in enumerate(truth):
            scores[j, acts] = rng.uniform(0.3, 1, len(acts))
        scores[rng.random(scores.shape) < 0.15] = 0.5  # ties
        scores[:, 0] = 0
        samples.append((video, ts, pred, scores))
    # keyframes without GT (ignored)
    samples += [('v99', 905, pred, scores), ('v98', 902, pred, scores)]
    gt = tmp_path / 'gt.csv'
    gt.write_text(''.join(f'{v},{t:04d},{x1:.3f},{y1:.3f},{x2:.3f},{y2:.3f},'
                          f'{a},{p}\n'
                          for v, t, x1, y1, x2, y2, a, p in gt_rows))
    labels = tmp_path / 'labels.pbtxt'
    labels.write_text(''.join(f'item {{\n  name: "a{i}"\n  id: {i}\n}}\n'
                              for i in range(1, num_classes)))
    exclude = tmp_path / 'exclude.csv'
    exclude.write_text('v01,0903\nv02,0911\nv98,0902\n')
    empty = tmp_path / 'empty.csv'
    empty.write_text('v99,0905\n')
    return str(gt), str(labels), str(exclude), str(empty), samples


def _evaluate(metric_type, samples, **kwargs):
    metric = METRICS.build(dict(type=metric_type, **kwargs))
    batch = [
        dict(
            video_id=v,
            timestamp=t,
            pred_instances=dict(
                bboxes=torch.from_numpy(b), scores=torch.from_numpy(s)))
        for v, t, b, s in samples
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        metric.process(None, batch)
        return metric.evaluate(len(batch))


@pytest.mark.parametrize('seed, options', [
    (0, dict()),
    (1, dict(exclude=True)),
    (2, dict(action_thr=0.3)),
    (3, dict(action_thr=-1.0)),
    (4, dict(custom_classes=[3, 5, 7, 11, 20, 64, 70], exclude=True)),
])
def test_equal_to_mmaction2_ava_metric(tmp_path, seed, options):
    gt, labels, exclude, empty, samples = _data_set(tmp_path, seed)
    if not options.get('exclude'):  # v98 902 is an excluded keyframe
        samples = [s for s in samples if s[0] != 'v98']
    kwargs = dict(
        ann_file=gt,
        label_file=labels,
        exclude_file=exclude if options.get('exclude') else None,
        num_classes=81,
        action_thr=options.get('action_thr', 0.002))
    custom = options.get('custom_classes')
    if custom:
        kwargs['custom_classes'] = custom
        kwargs['num_classes'] = len(custom) + 1
        samples = [(v, t, b, s[:, :len(custom) + 1]) for v, t, b, s in samples]
    ours = _evaluate(
        'CompactAVAMetric', samples, empty_keyframe_file=empty, **kwargs)
    theirs = _evaluate('AVAMetric', samples, **kwargs)
    assert ours.keys() == theirs.keys() and len(ours) == 4
    for key in theirs:  # bit for bit, nan where theirs is
        np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)
    assert 0 < theirs['mAP/overall'] < 1


def test_compact_detections_round_as_the_csv():
    """The csv's ``'%.4f'`` of each float32 value, exactly."""
    rng = np.random.default_rng(0)
    boxes = torch.from_numpy(rng.random((50, 4)).astype(np.float32))
    scores = torch.from_numpy(rng.random((50, 5)).astype(np.float32))
    scores[0, 1] = 0.00015  # a half at the 4th decimal in float32
    labels, rows = compact_detections(boxes, scores, 5, thr=0.0)
    assert labels.dtype == np.int16 and rows.dtype == np.float32
    assert labels.tolist() == sorted(labels.tolist())  # class-major
    expected = [
        float(f'{v:.4f}') for c in range(1, 5)
        for b, s in zip(boxes.tolist(), scores[:, c].tolist())
        for v in b + [s]
    ]
    np.testing.assert_array_equal(rows.reshape(-1), np.float32(expected))


@pytest.mark.parametrize(
    'bad, message', [(dict(num_classes=1), 'CompactAVAMetric.*num_classes'),
                     (dict(options=('recall', )), 'options must be')])
def test_bad_arguments_are_named(bad, message):
    with pytest.raises(ValueError, match=message):
        METRICS.build(
            dict(
                type='CompactAVAMetric',
                ann_file='a',
                exclude_file=None,
                label_file='b',
                **bad))


# ----------------------------------------------------------------------
# issue 83: inputs that gave a wrong number with exit 0 are refused


@pytest.fixture
def tiny(tmp_path):
    """Two GT keyframes, one person each (classes 1 and 2 of 3)."""
    gt = tmp_path / 'gt.csv'
    gt.write_text('va,0902,0.1,0.1,0.5,0.5,1,0\n'
                  'vb,0903,0.2,0.2,0.6,0.9,2,0\n')
    labels = tmp_path / 'labels.pbtxt'
    labels.write_text(''.join(f'item {{\n  name: "a{i}"\n  id: {i}\n}}\n'
                              for i in (1, 2, 3)))
    return dict(
        type='CompactAVAMetric',
        ann_file=str(gt),
        label_file=str(labels),
        exclude_file=None,
        num_classes=4)


def _tiny_samples(scale=1.0):
    """The GT boxes, each with its class scored 0.9 (times ``scale``)."""
    out = []
    for video, ts, box, label in (('va', 902, [.1, .1, .5, .5], 1),
                                  ('vb', 903, [.2, .2, .6, .9], 2)):
        scores = torch.zeros(1, 4)
        scores[0, label] = 0.9
        out.append(
            dict(
                video_id=video,
                timestamp=ts,
                pred_instances=dict(
                    bboxes=torch.tensor([box]) * scale, scores=scores)))
    return out


def _run(cfg, samples, **kwargs):
    metric = METRICS.build(dict(cfg, **kwargs))
    metric.process(None, samples)
    with contextlib.redirect_stdout(io.StringIO()):
        return metric.evaluate(max(len(samples), 1))


def test_tiny_perfect_predictions_score_1(tiny):
    assert _run(tiny, _tiny_samples())['mAP/overall'] == 1.0


def test_keyframes_processed_twice_are_refused(tiny):
    """Was 0.5 (each keyframe's second copy a false positive)."""
    with pytest.raises(
            ValueError,
            match=r"^CompactAVAMetric: video 'va' timestamp 902 was "
            r'processed twice \(results 0 and 2\): expected each video and '
            'timestamp once'):
        _run(tiny, _tiny_samples() * 2)


def test_pixel_boxes_are_refused(tiny):
    """Was 0.0 (no pixel box overlaps a normalised GT box)."""
    with pytest.raises(
            ValueError,
            match=r"^CompactAVAMetric: video 'va' timestamp 902: "
            r'pred_instances.bboxes\[0, 0\] = 32.0 is outside \[0, 1\] '
            r'\(pixels\?\)'):
        _run(tiny, _tiny_samples(scale=320))


@pytest.mark.parametrize('where', ['all', 'one'])
def test_keyframes_without_ground_truth_are_refused(tiny, where):
    """Was nan (every keyframe ignored by ava_eval); one unknown keyframe
    among known ones was ignored without a word."""
    samples = _tiny_samples()
    for s in samples if where == 'all' else samples[1:]:
        s['video_id'] += '.mp4'
    with pytest.raises(
            ValueError,
            match=r"^CompactAVAMetric: video 'vb.mp4' timestamp 903: a "
            'keyframe in no row of ann_file .*gt.csv: expected the video ids'
            if where == 'one' else r"video 'va.mp4' timestamp 902"):
        _run(tiny, samples)


def test_empty_keyframes_are_allowed_when_listed(tiny, tmp_path):
    samples = _tiny_samples()
    extra = copy.deepcopy(samples[0])
    extra['timestamp'] = 950  # nobody there: a false positive, ignored
    empty = tmp_path / 'empty.csv'
    empty.write_text('va,0950\n')
    assert _run(
        tiny, samples + [extra],
        empty_keyframe_file=str(empty))['mAP/overall'] == 1.0
    with pytest.raises(ValueError, match="'va' timestamp 950: a keyframe"):
        _run(tiny, samples + [extra])
    with pytest.raises(ValueError, match='none of the 1 processed keyframes'):
        _run(tiny, [extra], empty_keyframe_file=str(empty))


def test_an_empty_run_is_refused(tiny):
    """Was nan."""
    with pytest.raises(
            ValueError,
            match='^CompactAVAMetric: no sample was processed, nothing to '
            'score'):
        _run(tiny, [])


@pytest.mark.parametrize('field, index', [('bboxes', [0, 2]),
                                          ('scores', [0, 3])])
def test_non_finite_predictions_are_refused(tiny, field, index):
    """A NaN box gave 0.911 on the equivalence set (it matches nothing)."""
    samples = _tiny_samples()
    samples[1]['pred_instances'][field][tuple(index)] = float('nan')
    with pytest.raises(
            ValueError,
            match=rf"^CompactAVAMetric: video 'vb' timestamp 903: "
            rf'pred_instances.{field}\[{index[0]}, {index[1]}\] = nan is not '
            'finite'):
        _run(tiny, samples)


def test_score_columns_other_than_num_classes_are_refused(tiny):
    samples = _tiny_samples()
    samples[0]['pred_instances']['scores'] = torch.zeros(1, 81)
    with pytest.raises(
            ValueError,
            match=r"video 'va' timestamp 902: expected .*num_classes=4\], "
            r'got \[1, 4\] and \[1, 81\]'):
        _run(tiny, samples)


@pytest.mark.parametrize('custom, num_classes, match', [
    ([], 81, r' must be None or a non-empty list.*got \[\]'),
    (3, 2, '.*got 3'),
    ([1, 0], 3, r'\[1\] = 0 is not an action id'),
    ([1, 2.0], 3, r'.*(\[1\]|item 1).*2\.0'),
    ([2, 2], 3, r' lists class 2 twice \(at 0 and 1\)'),
    ([1, 2], 4, r' has 2 classes but num_classes=4: expected num_classes=3'),
])
def test_bad_custom_classes_are_refused_when_built(tiny, custom, num_classes,
                                                   match):
    """custom_classes=[] ended in a numpy broadcast error at evaluation."""
    with pytest.raises(
            ValueError,
            match=r'^CompactAVAMetric[.:] ?custom_classes' + match):
        METRICS.build(
            dict(tiny, custom_classes=custom, num_classes=num_classes))


def test_custom_classes_outside_the_label_map_are_refused(tiny):
    samples = [
        dict(
            s,
            pred_instances=dict(
                s['pred_instances'],
                scores=s['pred_instances']['scores'][:, :3]))
        for s in _tiny_samples()
    ]
    assert _run(
        tiny, samples, custom_classes=[1, 2],
        num_classes=3)['mAP/overall'] == 1.0
    with pytest.raises(
            ValueError,
            match=r'custom_classes \[7\] are not action ids of the label '
            'map'):
        _run(tiny, samples, custom_classes=[1, 7], num_classes=3)


@pytest.mark.parametrize('thr', [float('nan'), 1.0, '0.1', True])
def test_bad_action_thr_is_refused_when_built(tiny, thr):
    with pytest.raises(ValueError, match=r'^CompactAVAMetric[.:] ?action_thr'):
        METRICS.build(dict(tiny, action_thr=thr))
