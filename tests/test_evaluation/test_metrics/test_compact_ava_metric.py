"""``CompactAVAMetric`` gives mmaction2's ``AVAMetric`` numbers exactly
(issue 75: ``AVAMetric`` does not fit AVA v2.2's validation set in 24 GiB)."""
import contextlib
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
    boxes per keyframe, scores with many ties, some keyframes without GT
    and one keyframe predicted twice."""
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
        pred = np.concatenate([
            boxes + rng.normal(0, 0.03, boxes.shape),
            [[.1, .1, .5, .6], [.4, .3, .9, .9]]
        ]).astype(np.float32)
        scores = rng.random((len(pred), num_classes)).astype(np.float32)**4
        for j, acts in enumerate(truth):
            scores[j, acts] = rng.uniform(0.3, 1, len(acts))
        scores[rng.random(scores.shape) < 0.15] = 0.5  # ties
        scores[:, 0] = 0
        samples.append((video, ts, pred, scores))
    # keyframes without GT (ignored) and one predicted twice
    samples.append(('v99', 905, pred, scores))
    samples.append(samples[3])
    gt = tmp_path / 'gt.csv'
    gt.write_text(''.join(f'{v},{t:04d},{x1:.3f},{y1:.3f},{x2:.3f},{y2:.3f},'
                          f'{a},{p}\n'
                          for v, t, x1, y1, x2, y2, a, p in gt_rows))
    labels = tmp_path / 'labels.pbtxt'
    labels.write_text(''.join(f'item {{\n  name: "a{i}"\n  id: {i}\n}}\n'
                              for i in range(1, num_classes)))
    exclude = tmp_path / 'exclude.csv'
    exclude.write_text('v01,0903\nv02,0911\n')
    return str(gt), str(labels), str(exclude), samples


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
    gt, labels, exclude, samples = _data_set(tmp_path, seed)
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
    ours = _evaluate('CompactAVAMetric', samples, **kwargs)
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
