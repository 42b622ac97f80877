"""The demo's label strings (stmixer_mm/visualization/labels.py) and the
curves read from mmengine's scalars.json (stmixer_mm/apps/json_logs.py)."""
import json
import os

import numpy as np
import pytest

from stmixer_mm.apps.json_logs import load_scalars, plot_training_curves
from stmixer_mm.visualization import format_action_labels


def test_format_action_labels_by_hand():
    scores = np.array([0.9, 0.2, 0.8, 0.5, 0.31], np.float32)
    names = {1: 'stand', 2: 'sit', 3: 'walk', 4: 'wave'}
    # column 0 (background, no name) is skipped; threshold and top-k apply
    assert format_action_labels(
        scores, names) == ['sit 0.80', 'walk 0.50', 'wave 0.31']
    assert format_action_labels(scores, names, topk=1) == ['sit 0.80']
    assert format_action_labels(scores, names, score_thr=0.6) == ['sit 0.80']
    # an id without a name shows the id; a named column 0 is kept
    assert format_action_labels(
        scores, {0: 'bg'}, topk=2) == ['bg 0.90', '2 0.80']


def _write_scalars(folder):
    os.makedirs(folder / 'vis_data')
    path = folder / 'vis_data' / 'scalars.json'
    records = [
        dict(loss=2.0, step=1),
        dict(loss=1.5, step=2), {
            'mAP/overall': 0.25,
            'step': 1
        }
    ]
    path.write_text('\n'.join(json.dumps(r) for r in records) + '\n\n')
    return path, records


def test_load_scalars_file_and_work_dir(tmp_path):
    path, records = _write_scalars(tmp_path / 'run')
    assert load_scalars(str(path)) == records
    assert load_scalars(str(tmp_path / 'run')) == records
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='no scalars.json under'):
        load_scalars(str(tmp_path / 'empty'))
    (tmp_path / 'bad.json').write_text('{"loss": 1}\nnot json\n')
    with pytest.raises(ValueError, match=r'bad.json:2: not a JSON record'):
        load_scalars(str(tmp_path / 'bad.json'))


def test_plot_training_curves_writes_a_png(tmp_path):
    _write_scalars(tmp_path / 'run')
    out = plot_training_curves(
        str(tmp_path / 'run'), str(tmp_path / 'plots' / 'curves.png'))
    with open(out, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    (tmp_path / 'val_only.json').write_text('{"mAP/overall": 0.1, "step": 1}')
    with pytest.raises(ValueError, match='no training loss records'):
        plot_training_curves(
            str(tmp_path / 'val_only.json'), str(tmp_path / 'x.png'))
