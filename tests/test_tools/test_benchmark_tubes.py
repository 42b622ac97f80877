"""``tools/experiments/benchmark_tubes.py --aggregate``: mean and spread
of several runs' ``--out`` files (the training itself takes minutes and is
not run here)."""
import json

import numpy as np
import pytest

TABLE_KEYS = ('frameAP@0.5', 'videoAP@0.2', 'videoAP@0.5', 'videoAP@0.75',
              'videoAP@0.5:0.95')


def _tool(tools, *args, fails=None):
    """Run the tool; with ``fails``, expect a non-zero exit whose error
    output contains ``fails`` and return it."""
    proc = tools.python_tool(
        'experiments/benchmark_tubes.py', *args, check=fails is None)
    if fails is None:
        return proc.stdout
    assert proc.returncode != 0 and fails in proc.stderr, proc.stderr[-2000:]
    return proc.stderr


def _run(seed, base):
    """An --out dict whose values are ``base`` + offsets per metric."""
    keys = ('frameAP@0.5', 'videoAP@0.2', 'videoAP@0.5', 'videoAP@0.75',
            'videoAP@0.5:0.95')
    return dict(
        metrics={
            f'mAP/{k}': base + i
            for i, k in enumerate(keys)
        },
        chance={f'mAP/{k}': 40.0
                for k in keys},
        chance_model_boxes={f'mAP/{k}': 10.0 + seed
                            for k in keys},
        train_seconds=600.0 + seed,
        iterations=768,
        threads=1,
        args=dict(seed=seed))


def test_aggregate(tools, tmp_path):
    paths = []
    for seed, base in enumerate((70.0, 80.0, 90.0)):
        path = tmp_path / f'seed{seed}.json'
        path.write_text(json.dumps(_run(seed, base)))
        paths.append(str(path))
    out = _tool(tools, '--aggregate', *paths, '--stated', '80', '--band', '5')
    assert '3 runs (seeds [0, 1, 2])' in out
    std = np.std([70.0, 80.0, 90.0])
    rows = {
        line.split('|')[1].strip(): [c.strip() for c in line.split('|')[2:5]]
        for line in out.splitlines()
        if line.startswith('| ') and 'AP' in line and 'seed' not in line
    }
    assert rows['frameAP@0.5'] == [
        f'80.0 +- {std:.1f} [70.0, 90.0]', '11.0 +- 0.8 [10.0, 12.0]',
        '40.0 +- 0.0 [40.0, 40.0]'
    ]
    assert rows['videoAP@0.5'][0] == f'82.0 +- {std:.1f} [72.0, 92.0]'
    assert set(rows) == set(TABLE_KEYS)
    assert 'mean 601 s, 768 iterations' in out
    # each run, with its distance from the stated frame-mAP
    assert '| 0 | 1 | 70.0 | 72.0 | -10.0 (outside +-5.0) |' in out
    assert '| 1 | 1 | 80.0 | 82.0 | +0.0 |' in out
    assert '| 2 | 1 | 90.0 | 92.0 | +10.0 (outside +-5.0) |' in out


def test_aggregate_rejects_other_json(tools, tmp_path):
    path = tmp_path / 'other.json'
    path.write_text(json.dumps(dict(metrics={})))
    err = _tool(tools, '--aggregate', str(path), fails="no 'chance'")
    assert 'KeyError' in err and 'other.json' in err
    run = _run(0, 70.0)
    del run['metrics']['mAP/videoAP@0.75']
    path.write_text(json.dumps(run))
    err = _tool(tools, '--aggregate', str(path), fails='videoAP@0.75')
    assert 'KeyError' in err


def test_aggregate_refuses_mixed_protocols(tools, tmp_path):
    """A mean over runs scored under different protocols follows none."""
    paths = []
    for seed, protocol in enumerate(('ucf_jhmdb', 'multisports')):
        run = dict(_run(seed, 80.0), protocol=protocol)
        path = tmp_path / f'seed{seed}.json'
        path.write_text(json.dumps(run))
        paths.append(str(path))
    err = _tool(
        tools, '--aggregate', *paths, fails='different TubeMetric protocols')
    assert 'ValueError' in err


def test_predictions_rescored_under_the_config_protocol(tools, tmp_path):
    """``--predictions``: a dump is scored with the config's TubeMetric
    (no training, no inference). Perfect boxes and one-hot class scores on
    every test frame give 100 under the config's 'ucf_jhmdb' protocol; the
    chance columns stay far below; --out records the protocol."""
    import pickle

    import torch

    from stmixer_mm.apps.data_gen.synthetic_tubes import \
        generate_synthetic_tubes
    data = tmp_path / 'data'
    size = dict(num_train_videos=2, num_val_videos=8, seconds_per_video=2)
    paths = generate_synthetic_tubes(
        str(data), write_demo=False, seed=0, **size)
    with open(paths['tube_gt'], 'rb') as f:
        gt = pickle.load(f)
    num = len(gt['labels'])
    samples = []
    for video in gt['test_videos'][0]:
        h, w = gt['resolution'][video]
        rows = {}
        for label, tubes in gt['gttubes'][video].items():
            for tube in tubes:
                for frame, *box in tube:
                    rows.setdefault(int(frame), []).append((label, box))
        for frame in range(1, gt['nframes'][video] + 1):
            items = rows.get(frame, [])
            boxes = np.array([b for _, b in items], np.float32).reshape(-1, 4)
            scores = np.zeros((len(items), num + 1), np.float32)
            for i, (label, _) in enumerate(items):
                scores[i, label + 1] = 1.0
            samples.append(
                dict(
                    video_id=video,
                    timestamp=frame,
                    pred_instances=dict(
                        bboxes=torch.from_numpy(
                            boxes / np.array([w, h, w, h], np.float32)),
                        scores=torch.from_numpy(scores),
                        person_scores=torch.ones(len(items)))))
    dump = tmp_path / 'test_predictions.pkl'
    with open(dump, 'wb') as f:
        pickle.dump(samples, f)
    out = tmp_path / 'rescored.json'
    sizes = [f"--{k.replace('_', '-')}={v}" for k, v in size.items()]
    printed = _tool(tools, '--seed', '0', '--data-dir', str(data),
                    '--work-dir', str(tmp_path / 'work'), '--predictions',
                    str(dump), '--out', str(out), *sizes)
    assert 'TubeMetric protocol: ucf_jhmdb' in printed
    result = json.loads(out.read_text())
    assert result['protocol'] == 'ucf_jhmdb'
    assert result['metrics']['mAP/frameAP@0.5'] == pytest.approx(100.0)
    assert result['metrics']['mAP/videoAP@0.5'] == pytest.approx(100.0)
    assert result['chance_model_boxes']['mAP/frameAP@0.5'] < 60.0
    assert result['test_frames'] == len(samples)

    dump.write_bytes(b'not a pickle')
    err = _tool(
        tools,
        '--seed',
        '0',
        '--data-dir',
        str(data),
        '--work-dir',
        str(tmp_path / 'work'),
        '--predictions',
        str(dump),
        *sizes,
        fails='test_predictions.pkl: cannot read')
    assert 'ValueError' in err
