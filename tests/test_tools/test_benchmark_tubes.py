"""``tools/analysis_tools/benchmark_tubes.py --aggregate``: mean and spread
of several runs' ``--out`` files (the training itself takes minutes and is
not run here)."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / 'tools/analysis_tools/benchmark_tubes.py'


def _load():
    spec = importlib.util.spec_from_file_location('benchmark_tubes', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
        args=dict(seed=seed))


def test_aggregate(tmp_path, capsys):
    bench = _load()
    paths = []
    for seed, base in enumerate((70.0, 80.0, 90.0)):
        path = tmp_path / f'seed{seed}.json'
        path.write_text(json.dumps(_run(seed, base)))
        paths.append(str(path))
    bench.main(['--aggregate'] + paths)
    out = capsys.readouterr().out
    assert '3 runs (seeds [0, 1, 2])' in out
    std = np.std([70.0, 80.0, 90.0])
    rows = {
        line.split('|')[1].strip(): [c.strip() for c in line.split('|')[2:5]]
        for line in out.splitlines() if line.startswith('| ') and 'AP' in line
    }
    assert rows['frameAP@0.5'] == [
        f'80.0 +- {std:.1f} [70.0, 90.0]', '11.0 +- 0.8 [10.0, 12.0]',
        '40.0 +- 0.0 [40.0, 40.0]'
    ]
    assert rows['videoAP@0.5'][0] == f'82.0 +- {std:.1f} [72.0, 92.0]'
    assert set(rows) == set(bench.TABLE_KEYS)
    assert 'mean 601 s, 768 iterations' in out


def test_aggregate_rejects_other_json(tmp_path):
    bench = _load()
    path = tmp_path / 'other.json'
    path.write_text(json.dumps(dict(metrics={})))
    with pytest.raises(KeyError, match="other.json: no 'chance'"):
        bench.main(['--aggregate', str(path)])
    run = _run(0, 70.0)
    del run['metrics']['mAP/videoAP@0.75']
    path.write_text(json.dumps(run))
    with pytest.raises(KeyError, match='videoAP@0.75'):
        bench.main(['--aggregate', str(path)])


def test_aggregate_refuses_mixed_protocols(tmp_path):
    """A mean over runs scored under different protocols follows none."""
    bench = _load()
    paths = []
    for seed, protocol in enumerate(('ucf_jhmdb', 'hybrid_voc')):
        run = dict(_run(seed, 80.0), protocol=protocol)
        path = tmp_path / f'seed{seed}.json'
        path.write_text(json.dumps(run))
        paths.append(str(path))
    with pytest.raises(ValueError, match='different TubeMetric protocols'):
        bench.main(['--aggregate'] + paths)


def test_predictions_rescored_under_the_config_protocol(tmp_path, capsys):
    """``--predictions``: a dump is scored with the config's TubeMetric
    (no training, no inference). Perfect boxes and one-hot class scores on
    every test frame give 100 under the config's 'ucf_jhmdb' protocol; the
    chance columns stay far below; --out records the protocol."""
    import pickle

    import torch

    from stmixer_mm.data_gen.synthetic_tubes import generate_synthetic_tubes
    bench = _load()
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
    bench.main([
        '--seed', '0', '--data-dir',
        str(data), '--work-dir',
        str(tmp_path / 'work'), '--predictions',
        str(dump), '--out',
        str(out)
    ] + [f"--{k.replace('_', '-')}={v}" for k, v in size.items()])
    printed = capsys.readouterr().out
    assert 'TubeMetric protocol: ucf_jhmdb' in printed
    result = json.loads(out.read_text())
    assert result['protocol'] == 'ucf_jhmdb'
    assert result['metrics']['mAP/frameAP@0.5'] == pytest.approx(100.0)
    assert result['metrics']['mAP/videoAP@0.5'] == pytest.approx(100.0)
    assert result['chance_model_boxes']['mAP/frameAP@0.5'] < 60.0
    assert result['test_frames'] == len(samples)

    dump.write_bytes(b'not a pickle')
    with pytest.raises(ValueError, match='test_predictions.pkl: cannot read'):
        bench.main([
            '--seed', '0', '--data-dir',
            str(data), '--work-dir',
            str(tmp_path / 'work'), '--predictions',
            str(dump)
        ] + [f"--{k.replace('_', '-')}={v}" for k, v in size.items()])
