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
        metrics={f'mAP/{k}': base + i
                 for i, k in enumerate(keys)},
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
