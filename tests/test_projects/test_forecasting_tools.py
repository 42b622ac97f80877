"""The forecasting project's tables (``projects/forecasting/tools/``) as a
user runs them:
the reference forecasts on perfect detections of the forecastable set
(``forecast_references.py``), the table of trained runs
(``forecast_table.py``) and the probe's refusal of a model without a
forecast head (``forecast_probe.py``)."""
import json
import os.path as osp
import sys


def _tool(tools, name, *args, **kwargs):
    """``python projects/forecasting/tools/<name> *args``."""
    return tools.run([
        sys.executable,
        osp.join(tools.REPO, 'projects', 'forecasting', 'tools', name), *args
    ], **kwargs)


def _markdown_rows(out):
    """The body rows of the markdown table in ``out``, as lists of cells."""
    rows = [[c.strip() for c in line.split('|')[1:-1]]
            for line in out.splitlines() if line.startswith('| ')]
    return rows[2:]  # header and separator


def test_table(tools):
    out = _tool(tools, 'forecast_references.py', '--horizons', '8').stdout
    assert out.splitlines()[0].startswith('motion=forecast seed=0')
    by_name = {row[1]: row for row in _markdown_rows(out)}
    assert sorted(by_name) == ['constant_velocity', 'oracle', 'zero_motion']
    # perfect detections at t + h: the oracle is perfect
    assert by_name['oracle'][2] == '100.0'
    # copying the present misses what the precursors announce
    assert float(by_name['zero_motion'][2]) < 90
    assert float(by_name['zero_motion'][5]) < 90  # anticipation mAP


def test_trained_table_reads_each_runs_last_validation(tools, tmp_path):
    """forecast_table: the last validation line with forecast/ metrics of
    each run's json log, as mean (min-max) over the runs; a folder
    without it is refused with its name."""
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
    rows = _markdown_rows(
        _tool(tools, 'forecast_table.py', *dirs, '--horizons', '8').stdout)
    assert rows[0] == [
        'present (t)', 'detections', '65.0 (60.0-70.0)', '-', '-', '-'
    ]
    model = rows[1]
    assert model[:3] == ['8', 'model', '15.0 (10.0-20.0)']
    assert model[3:] == [
        '1.50 (1.00-2.00)', '0.150 (0.100-0.200)', '16.0 (11.0-21.0)'
    ]
    assert rows[4][1] == 'oracle' and rows[4][3:] == ['-', '-', '-']
    proc = _tool(
        tools,
        'forecast_table.py',
        str(tmp_path / 'missing'),
        '--horizons',
        '8',
        check=False)
    assert proc.returncode == 1 and proc.stdout == ''
    assert 'missing: no such log file or work dir' in proc.stderr
    assert 'Traceback' not in proc.stderr


def test_probe_refuses_a_model_without_forecast_head(tools, random_checkpoint):
    """forecast_probe.py: a model without a forecast head is refused
    naming the config."""
    proc = _tool(
        tools,
        'forecast_probe.py',
        tools.TINY_CFG,
        random_checkpoint,
        check=False)
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    assert f'{tools.TINY_CFG}: the model has no forecast_head' in proc.stderr
