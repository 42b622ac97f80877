"""The reference forecasts on perfect detections of the forecastable set
(stmixer_mm.benchmarks.forecast, tools/experiments/forecast_references.py).
"""
import pytest

from stmixer_mm.benchmarks.forecast import reference_rows


def test_table():
    title, *rows = reference_rows('forecast', horizons=(8, ))
    assert title[0].startswith('motion=forecast seed=0')
    by_name = {row[1]: row for row in rows}
    assert sorted(by_name) == ['constant_velocity', 'oracle', 'zero_motion']
    # perfect detections at t + h: the oracle is perfect
    assert by_name['oracle'][2] == '100.0'
    # copying the present misses what the precursors announce
    assert float(by_name['zero_motion'][2]) < 90
    assert float(by_name['zero_motion'][5]) < 90  # anticipation mAP


def test_trained_table_reads_each_runs_last_validation(tmp_path):
    """forecast_table: the last validation line with forecast/ metrics of
    each run's json log, as mean (min-max) over the runs; a folder
    without it is refused with its name."""
    import json

    import pytest

    from stmixer_mm.benchmarks.forecast import trained_rows
    dirs = []
    for seed, value in enumerate((10.0, 20.0)):
        folder = tmp_path / f'seed{seed}' / '20261125_000000' / 'vis_data'
        folder.mkdir(parents=True)
        metrics = {'mAP/frameAP@0.5': 50.0 + value}
        for suffix in ('', '_zero_motion', '_constant_velocity', '_oracle'):
            metrics[f'forecast/fmAP@8{suffix}'] = value
            metrics[f'forecast/ADE@8{suffix}'] = value / 10
            metrics[f'forecast/ADE_rel@8{suffix}'] = value / 100
            metrics[f'forecast/antAP@8{suffix}'] = value + 1
        lines = [
            dict(loss=1.0, step=1),
            dict(metrics, step=6),
            dict(loss=0.5, step=7)
        ]
        (folder / '20261125_000000.json').write_text(''.join(
            json.dumps(line) + '\n' for line in lines))
        dirs.append(str(tmp_path / f'seed{seed}'))
    rows = trained_rows(dirs, horizons=(8, ))
    assert rows[0] == [
        'present (t)', 'detections', '65.0 (60.0-70.0)', '-', '-', '-'
    ]
    model = rows[1]
    assert model[:3] == ['8', 'model', '15.0 (10.0-20.0)']
    assert model[3:] == [
        '1.50 (1.00-2.00)', '0.150 (0.100-0.200)', '16.0 (11.0-21.0)'
    ]
    assert rows[4][1] == 'oracle' and rows[4][3:] == ['-', '-', '-']
    with pytest.raises(
            FileNotFoundError, match='missing: no such log file or work dir'):
        trained_rows([str(tmp_path / 'missing')], horizons=(8, ))


def test_probe_scores():
    """benchmarks.forecast_probe: onset mAP ranks class c among the
    persons not doing c now; a forecast equal to the future scores 100 and
    ranks every future class first; the present copied scores less; a
    linear probe finds a future that is linear in its features."""
    import numpy as np

    from stmixer_mm.benchmarks import forecast_probe as probe
    now = np.array([[1, 0], [1, 0], [0, 1], [0, 1], [1, 0], [0, 1]], float)
    future = np.array([[0, 1], [1, 0], [1, 0], [0, 1], [0, 1], [0, 1]], float)
    rows = probe.scores_table(dict(perfect=future, present=now), future, now)
    perfect = [c.strip() for c in rows[0].split('|')[1:-1]]
    present = [c.strip() for c in rows[1].split('|')[1:-1]]
    # anticipation mAP, onset mAP, rank, onset AP of each class
    assert perfect == ['perfect', '100.0', '100.0', '1.00', '100.0', '100.0']
    assert float(present[2]) < 100 and float(present[3]) > 1
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = np.stack([x[:, 0] > 0, x[:, 1] + x[:, 2] > 0], 1).astype(float)
    linear = probe.fit_probe(x, y)
    scores = linear(probe.as_double(x)).detach().numpy()
    assert ((scores > 0) == (y > 0)).mean() > 0.97


def test_probe_refuses_a_model_without_forecast_head(tools, random_checkpoint):
    """benchmarks.forecast_probe: a model without a forecast head is refused
    with a ValueError naming the config."""
    from stmixer_mm.benchmarks import forecast_probe as probe
    with pytest.raises(ValueError, match='has no forecast_head'):
        probe.run_probe(tools.TINY_CFG, random_checkpoint)
